/**
 * Seeded mutation fuzzing of the JSON formats and of gzip (issue 19, "Fuzzing in the test
 * suite"): OTLP JSON, JSON-lines, Chrome JSON and gzip streams of each go through the whole
 * ingest (sniffing, importer, commit); every case must end within a time limit, either imported
 * or rejected with an InputError (exit 65), and a rejected case must leave the lake exactly as it
 * was. (Perfetto protobuf has its own: tests/ingest/perfetto_fuzz.test.ts.) The cases run in a
 * child process (hardening_fuzz_child.ts) that reports each one as it starts and ends, so a hang
 * is caught and named. TRACELAKE_FUZZ_CASES and TRACELAKE_FUZZ_SEED run more cases or another
 * seed; the default keeps each format to a few seconds in CI.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { type FuzzOutcome, runFuzzChild } from "./fuzz_runner.ts";
import { tempDir } from "./helpers.ts";

const CHILD = join(import.meta.dir, "hardening_fuzz_child.ts");
/** Time limit of one case once started (a case takes tens of ms; the margin is for a loaded CI machine). */
const CASE_LIMIT_MS = 10_000;
const CASES = Number(process.env.TRACELAKE_FUZZ_CASES ?? 24);
const SEED = Number(process.env.TRACELAKE_FUZZ_SEED ?? 19);

/** Runs the child for one format, putting a time limit on every case. */
function runCases(format: string): Promise<FuzzOutcome> {
  return runFuzzChild(CHILD, [format, String(SEED), String(CASES), join(tempDir(), "lake")], CASE_LIMIT_MS);
}

describe("seeded mutation fuzzing: every case ends in time, imported or rejected (exit 65), the lake intact", () => {
  for (const format of ["otlp_json", "jsonl", "chrome_json", "gzip"]) {
    test(
      format,
      async () => {
        const t0 = performance.now();
        const r = await runCases(format);
        expect(r.hung).toBeNull();
        expect(r.crashes).toEqual([]);
        expect(r.imported + r.rejected.length).toBe(CASES);
        // The mutations must reach both outcomes, or the fuzzer tests nothing (JSON-lines skips
        // and counts a bad line instead of refusing the file, so it may never refuse one).
        expect(r.imported).toBeGreaterThan(0);
        if (format !== "jsonl") expect(r.rejected.length).toBeGreaterThan(0);
        // Every rejection is a sentence that names the input.
        for (const m of r.rejected) expect(m).toMatch(/case-\d+/);
        console.log(
          `${format}: ${CASES} cases in ${((performance.now() - t0) / 1000).toFixed(1)} s, ${r.imported} imported, ${r.rejected.length} rejected`,
        );
      },
      CASES * CASE_LIMIT_MS,
    );
  }
});
