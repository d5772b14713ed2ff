/**
 * A lake whose file system fills up during an ingest: one clear sentence, exit code 73, and the
 * lake as it was (catalog rows, staging directory). Needs a small tmpfs, so root (as in CI);
 * skipped otherwise.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { BUN, cli, ROOT, snapshot, tempDir } from "../helpers.ts";

const dir = tempDir("tl-full-");
const mnt = join(dir, "mnt");
mkdirSync(mnt);
// 6 MiB: the catalog and a small ingest fit, a 64 MiB generated trace's blocks do not.
const mounted =
  process.getuid?.() === 0 && Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", mnt]).exitCode === 0;

describe.skipIf(!mounted)("a full disk during an ingest", () => {
  const lake = join(mnt, "lake");
  const big = join(dir, "big.json");
  beforeAll(() => {
    const g = Bun.spawnSync([BUN, join(ROOT, "bench/gen_chrome_trace.ts"), big, "64"]);
    expect(g.exitCode).toBe(0);
  });
  afterAll(() => {
    Bun.spawnSync(["umount", mnt]);
  });

  test("ENOSPC: one sentence naming the input, exit 73, the lake and its earlier ingest untouched", async () => {
    const first = cli(lake, ["ingest", join(ROOT, "fixtures/edge_cases.json")]);
    expect(first.code).toBe(0);
    const before = await snapshot(lake);
    const r = cli(lake, ["ingest", big]);
    expect(r.code).toBe(73);
    expect(r.stderr).toContain(`no space left to write the blocks of ${big} in ${lake}`);
    expect(r.stderr).toContain("nothing of it was committed to the lake");
    expect(r.stderr.trim().split("\n").length).toBe(1);
    expect(await snapshot(lake)).toEqual(before);
    expect(readdirSync(join(lake, "tmp"))).toEqual([]);
    const q = cli(lake, ["query", "--format", "csv", "SELECT count(*) AS n FROM thread_spans"]);
    expect(q.code).toBe(0);
  });
});
