/**
 * The `flows` view against trace_processor (Perfetto v58.2, `trace_processor_shell`): on the
 * Chromium samples (one run, Chrome JSON and Perfetto protobuf), every edge of the view with
 * both ends equals trace_processor's `flow` table (slice_out, slice_in) on thread tracks,
 * compared as multisets of (out ts, out name, out tid, in ts, in name, in tid); and the Perfetto
 * export of the lake, read back by trace_processor, has those edges too. Skipped where
 * trace_processor_shell does not run (it needs Debian's libprotobuf32).
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cli, ROOT, tempDir } from "../helpers.ts";

// ../shared from the main checkout, ../../shared from a worktree under wt/.
const TP =
  [join(ROOT, "../shared/tools/trace_processor_shell"), join(ROOT, "../../shared/tools/trace_processor_shell")].find(
    existsSync,
  ) ?? "";
const tpRuns = TP !== "" && Bun.spawnSync([TP, "--version"], { stdout: "pipe", stderr: "pipe" }).exitCode === 0;
if (!tpRuns) console.warn("trace_processor_shell does not run here (needs libprotobuf32): flows oracle tests skipped");

/** trace_processor's edges between thread-track slices (its own thread tracks, not async ones). */
const TP_SQL = `SELECT so.ts || '|' || so.name || '|' || t1.tid || '|' || si.ts || '|' || si.name || '|' || t2.tid AS e
FROM flow f JOIN slice so ON so.id = f.slice_out JOIN slice si ON si.id = f.slice_in
JOIN thread_track k1 ON k1.id = so.track_id JOIN thread t1 ON t1.utid = k1.utid
JOIN thread_track k2 ON k2.id = si.track_id JOIN thread t2 ON t2.utid = k2.utid
WHERE k1.type IN ('thread_execution', 'thread_track_event') AND k2.type IN ('thread_execution', 'thread_track_event');`;

/** The view's edges (both ends), in TP_SQL's form; `where` adds a condition. */
const viewSql = (where = "") =>
  `SELECT epoch_ns(out_time) || '|' || out_name || '|' || out_tid || '|' || epoch_ns(in_time) || '|' || in_name || '|' || in_tid AS e
   FROM flows WHERE out_process_id IS NOT NULL AND in_process_id IS NOT NULL ${where}`;

let dir: string;
let sqlFile: string;

beforeAll(() => {
  dir = tempDir("tl-flows-oracle-");
  sqlFile = join(dir, "flow.sql");
  writeFileSync(sqlFile, TP_SQL);
});

/** trace_processor's edges of a trace, sorted. */
function tpEdges(trace: string): string[] {
  const r = Bun.spawnSync([TP, "-q", sqlFile, trace], { stdout: "pipe", stderr: "pipe" });
  expect(r.exitCode).toBe(0);
  return r.stdout
    .toString()
    .trim()
    .split("\n")
    .slice(1)
    .map((l) => JSON.parse(l) as string)
    .sort();
}

/** The view's edges, sorted. */
function ourEdges(lake: string, where = ""): string[] {
  const r = cli(lake, ["query", "--format", "json", viewSql(where)]);
  expect(r.code).toBe(0);
  return (JSON.parse(r.stdout) as { e: string }[]).map((x) => x.e).sort();
}

describe.skipIf(!tpRuns)("flows against trace_processor", () => {
  test("Chrome JSON sample: every edge as trace_processor binds it, and again after export", () => {
    const src = join(ROOT, "fixtures/chromium_startup.json.gz");
    const lake = join(dir, "json");
    expect(cli(lake, ["ingest", src]).code).toBe(0);
    const want = tpEdges(src);
    expect(want.length).toBeGreaterThan(17_000);
    expect(ourEdges(lake)).toEqual(want);
    // Exported (every process) and read back by trace_processor: the same edges.
    const out = join(dir, "json.pftrace");
    expect(cli(lake, ["export", "perfetto", "--all", "-o", out]).code).toBe(0);
    expect(tpEdges(out)).toEqual(want);
  }, 300_000);

  test("Perfetto protobuf sample: every thread-track edge, and again after export", () => {
    const src = join(ROOT, "fixtures/chromium_startup.pftrace.gz");
    const lake = join(dir, "pf");
    expect(cli(lake, ["ingest", src]).code).toBe(0);
    const want = tpEdges(src);
    expect(want.length).toBeGreaterThan(21_000);
    expect(ourEdges(lake)).toEqual(want);
    // The export carries every edge but those bound through a slice's END event (not exported).
    const out = join(dir, "pf.pftrace");
    expect(cli(lake, ["export", "perfetto", "--all", "-o", out]).code).toBe(0);
    const exported = ourEdges(lake, "AND out_kind <> 'span_end' AND in_kind <> 'span_end'");
    expect(exported.length).toBeGreaterThan(21_000);
    expect(tpEdges(out)).toEqual(exported);
  }, 300_000);
});
