/**
 * Issue 19, bug 5: Ctrl-C (SIGINT) during ingest, materialize, export and gc stops the command
 * with "interrupted; nothing was committed" (or what was), exit 130, and leaves the catalog as it
 * was and no staging, temporary or orphan files (`tracelake check --grace 0` is the judge, with a
 * catalog snapshot read by DuckDB). A killed export's `out.tmp-<pid>` is removed by the next
 * export. The input is a generated Chrome JSON trace (labelled as such), large enough (~40 MB)
 * that each operation is still running when the signal comes.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUN, cli, ROOT, snapshot, tempDir } from "./helpers.ts";

const T = 180_000;

/** Generated Chrome JSON: `n` complete events over 8 threads of one process (~90 bytes each). */
function generatedTrace(path: string, n: number): void {
  const parts: string[] = ['{"traceEvents":[\n'];
  for (let i = 0; i < n; i++) {
    parts.push(
      `{"ph":"X","pid":7,"tid":${i % 8},"ts":${i * 2},"dur":1,"name":"generated_${i % 97}","cat":"gen","args":{"i":${i}}}${i + 1 < n ? "," : ""}\n`,
    );
  }
  parts.push("]}\n");
  writeFileSync(path, parts.join(""));
}

/**
 * Runs the CLI, sends SIGINT once `ready()` holds (polled every 5 ms) and returns how it ended and
 * how long it took to exit after the signal.
 */
async function interrupt(
  lake: string,
  args: string[],
  ready: () => boolean,
  env: Record<string, string> = {},
): Promise<{ code: number; stderr: string; ms: number; stdout: string }> {
  const p = Bun.spawn([BUN, join(ROOT, "main.ts"), "--lake", lake, ...args], {
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, NO_COLOR: "1", ...env },
  });
  const deadline = Date.now() + 60_000;
  while (!ready() && Date.now() < deadline && p.exitCode === null) await Bun.sleep(5);
  const t0 = performance.now();
  p.kill("SIGINT");
  const code = await p.exited;
  const ms = performance.now() - t0;
  return { code, ms, stderr: await new Response(p.stderr).text(), stdout: await new Response(p.stdout).text() };
}

const list = (d: string): string[] => (existsSync(d) ? readdirSync(d) : []);

/** The lake is whole: no orphan, no staging (any age), every named file intact. */
function expectWhole(lake: string): void {
  const r = cli(lake, ["check", "--grace", "0", "--json"]);
  expect(JSON.parse(r.stdout).problems).toEqual([]);
  expect(r.code).toBe(0);
}

describe("Ctrl-C stops cleanly", () => {
  const dir = tempDir();
  const trace = join(dir, "generated.json");
  const lake = join(dir, "lake");
  beforeAll(() => {
    generatedTrace(trace, 450_000);
    expect(cli(lake, ["ingest", join(ROOT, "fixtures/edge_cases.json")]).code).toBe(0);
  }, T);

  test(
    "ingest: exit 130, the sentence, nothing committed, no staging",
    async () => {
      const before = await snapshot(lake);
      const r = await interrupt(lake, ["ingest", trace], () => list(join(lake, "tmp")).length > 0);
      expect(r.stderr).toMatch(/interrupted; nothing (of it )?was (committed|written to the lake)/);
      expect(r.code).toBe(130);
      expect(list(join(lake, "tmp"))).toEqual([]);
      expect(await snapshot(lake)).toEqual(before);
      expectWhole(lake);
      console.log(`ingest stopped ${r.ms.toFixed(0)} ms after SIGINT`);
      expect(r.ms).toBeLessThan(2000); // the target is 0.5 s; CI machines are shared
    },
    T,
  );

  test(
    "materialize and export: exit 130, nothing committed, no partition or temporary file left",
    async () => {
      expect(cli(lake, ["ingest", trace]).code).toBe(0);
      const before = await snapshot(lake);
      const m = await interrupt(lake, ["materialize"], () =>
        list(join(lake, "views")).some((v) => list(join(lake, "views", v)).length > 0),
      );
      expect(m.stderr).toContain("interrupted; nothing was committed");
      expect(m.code).toBe(130);
      expect(await snapshot(lake)).toEqual(before);
      expectWhole(lake);
      console.log(`materialize stopped ${m.ms.toFixed(0)} ms after SIGINT`);
      expect(m.ms).toBeLessThan(2000);

      expect(cli(lake, ["materialize"]).code).toBe(0);
      const out = join(dir, "out.pftrace");
      const e = await interrupt(lake, ["export", "perfetto", "--all", "-o", out], () =>
        list(dir).some((n) => n.startsWith("out.pftrace.tmp-")),
      );
      expect(e.stderr).toContain("interrupted");
      expect(e.code).toBe(130);
      expect(list(dir).filter((n) => n.startsWith("out.pftrace"))).toEqual([]);
      console.log(`export stopped ${e.ms.toFixed(0)} ms after SIGINT`);
      expect(e.ms).toBeLessThan(2000);
    },
    T,
  );

  test(
    "gc: stops before its next deletion and says what it did",
    async () => {
      // Two orphans in views/; gc pauses after deleting the first (test hook), then gets Ctrl-C.
      for (const n of ["a", "b"]) writeFileSync(join(lake, "views", `orphan-${n}.parquet`), "x");
      const marker = join(dir, "gc.marker");
      const r = await interrupt(lake, ["gc", "--grace", "0"], () => existsSync(marker), {
        TRACELAKE_TEST_PAUSE: `gc-after-first-delete:${marker}`,
      });
      expect(r.stderr).toContain("gc interrupted; 1 unneeded file(s) were deleted and nothing was committed");
      expect(r.code).toBe(130);
      expect(list(join(lake, "views")).filter((n) => n.startsWith("orphan-"))).toHaveLength(1);
      expect(cli(lake, ["gc", "--grace", "0"]).code).toBe(0);
      expectWhole(lake);
    },
    T,
  );
});

describe("a killed export's temporary file", () => {
  test(
    "is removed by the next export to the same file (a live process's is kept)",
    () => {
      const dir = tempDir();
      const lake = join(dir, "lake");
      expect(cli(lake, ["ingest", join(ROOT, "fixtures/edge_cases.json")]).code).toBe(0);
      const dead = Bun.spawnSync(["true"]).pid;
      writeFileSync(join(dir, `out.pftrace.tmp-${dead}`), "partial");
      writeFileSync(join(dir, `out.pftrace.tmp-${process.pid}`), "another export, running");
      writeFileSync(join(dir, "other.pftrace.tmp-1"), "not ours");
      const r = cli(lake, ["export", "perfetto", "--all", "-o", join(dir, "out.pftrace")]);
      expect(r.code).toBe(0);
      expect(list(dir).sort()).toEqual(
        ["lake", "other.pftrace.tmp-1", "out.pftrace", `out.pftrace.tmp-${process.pid}`].sort(),
      );
    },
    T,
  );
});
