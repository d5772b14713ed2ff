/**
 * The environment variables cmd/ reads and passes down to lib/ as options (lib/ reads none):
 * TRACELAKE_INGEST_WORKERS and TRACELAKE_WASM become ingest options, TRACELAKE_TEST_PAUSE a pause
 * hook that stops only at its point (after writing its marker file).
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { testPauseHook } from "../../cmd/common.ts";
import { envIngestOptions } from "../../cmd/ingest.ts";
import { tempDir } from "../helpers.ts";

describe("environment → options", () => {
  test("TRACELAKE_INGEST_WORKERS and TRACELAKE_WASM become ingest options; unset means the defaults", () => {
    expect(envIngestOptions({})).toEqual({});
    expect(envIngestOptions({ TRACELAKE_INGEST_WORKERS: "", TRACELAKE_WASM: "1" })).toEqual({});
    expect(envIngestOptions({ TRACELAKE_INGEST_WORKERS: "1", TRACELAKE_WASM: "0" })).toEqual({
      workers: 1,
      wasm: false,
    });
    expect(envIngestOptions({ TRACELAKE_INGEST_WORKERS: "-3" })).toEqual({ workers: 0 });
    expect(envIngestOptions({ TRACELAKE_INGEST_WORKERS: "x" })).toEqual({ workers: 0 });
  });

  test("TRACELAKE_TEST_PAUSE: no hook when unset; the hook passes other points and stops at its own", async () => {
    expect(testPauseHook({})).toBeUndefined();
    const marker = join(tempDir("tl-pause-"), "paused");
    const hook = testPauseHook({ TRACELAKE_TEST_PAUSE: `retire-before-commit:${marker}` });
    if (!hook) throw new Error("no hook");
    await hook("gc-after-first-delete");
    expect(existsSync(marker)).toBe(false);
    let returned = false;
    void hook("retire-before-commit").then(() => {
      returned = true;
    });
    await Bun.sleep(50);
    expect(readFileSync(marker, "utf8")).toBe("retire-before-commit");
    expect(returned).toBe(false);
  });
});
