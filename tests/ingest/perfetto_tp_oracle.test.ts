/**
 * Perfetto protobuf slices per thread against trace_processor (issue 23 item 0), on the real
 * Chromium protobuf fixture (and on TRACELAKE_PROTO_TRACE, e.g. a trace made with
 * `FORMAT=proto make_chromium_trace.sh OUT 20`, when set). The oracle is trace_processor_shell
 * (Perfetto v58.2): per (pid, tid), the slices of the thread's tracks. Ours: per (pid, tid),
 * `thread_spans` + the thread-scoped instants of `log_entries` (scope 't') + the `L` log records
 * (trace_processor makes each LogMessage event a slice as well as a log row).
 *
 * trace_processor's `thread_merged_track_event` tracks (child tracks of a thread track, e.g.
 * Chromium's LongTaskTracker and AnimationFrame) hold their own slice stacks; tracelake keeps
 * them in `async_events` on that thread (one stack per thread in `thread_spans`), so they are
 * compared apart: every such slice must be an async begin or instant on the same thread.
 * Skipped where trace_processor_shell cannot run (it needs Debian's libprotobuf32).
 */
import { describe, expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cli, ROOT, tempDir } from "../helpers.ts";

const TP = process.env.TRACE_PROCESSOR_SHELL ?? "/work/shared/tools/trace_processor_shell";
const tpRuns = existsSync(TP) && Bun.spawnSync([TP, "--version"]).exitCode === 0;

const TP_SQL = `SELECT p.pid AS pid, t.tid AS tid,
  sum(tt.type <> 'thread_merged_track_event') AS own, sum(tt.type = 'thread_merged_track_event') AS merged
FROM slice s JOIN thread_track tt ON s.track_id = tt.id JOIN thread t USING (utid) LEFT JOIN process p USING (upid)
GROUP BY 1, 2`;

const OUR_SQL = `WITH s AS (SELECT process_id, tid::VARCHAR AS tid, count(*) AS n FROM thread_spans GROUP BY ALL),
 l AS (SELECT process_id, tid::VARCHAR AS tid, count(*) AS n FROM log_entries WHERE scope = 't' OR phase = 'L' GROUP BY ALL),
 a AS (SELECT process_id, tid::VARCHAR AS tid, count(*) AS n FROM async_events WHERE event_type IN ('begin', 'instant') GROUP BY ALL)
SELECT p.source_pid AS pid, tid, coalesce(s.n, 0) + coalesce(l.n, 0) AS own, coalesce(a.n, 0) AS async
FROM s FULL JOIN l USING (process_id, tid) FULL JOIN a USING (process_id, tid) JOIN processes p USING (process_id)`;

/** Rows of a CSV with a header (no quoted commas: pids, tids and counts). */
function csv(text: string): Record<string, string>[] {
  const [head, ...lines] = text.trim().split("\n");
  const cols = (head ?? "").split(",").map((c) => c.replaceAll('"', ""));
  return lines.map((l) => Object.fromEntries(l.split(",").map((v, i) => [cols[i], v.replaceAll('"', "")])));
}

/** Per "pid/tid": [own-track slices, thread-child-track slices] from trace_processor. */
function tpCounts(trace: string): Map<string, [number, number]> {
  const dir = tempDir();
  const q = join(dir, "q.sql");
  writeFileSync(q, TP_SQL);
  const r = Bun.spawnSync([TP, "-q", q, trace], { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`trace_processor_shell failed: ${r.stderr.toString()}`);
  return new Map(csv(r.stdout.toString()).map((x) => [`${x.pid}/${x.tid}`, [Number(x.own), Number(x.merged)]]));
}

/** Per "pid/tid": [thread spans + thread instants + log records, async begins and instants] in tracelake. */
function ourCounts(trace: string): Map<string, [number, number]> {
  const lake = join(tempDir(), "lake");
  const ing = cli(lake, ["ingest", trace]);
  if (ing.code !== 0) throw new Error(ing.stderr);
  const r = cli(lake, ["query", "-f", "csv", OUR_SQL]);
  if (r.code !== 0) throw new Error(r.stderr);
  return new Map(csv(r.stdout).map((x) => [`${x.pid}/${x.tid}`, [Number(x.own), Number(x.async)]]));
}

function compare(trace: string): void {
  const tp = tpCounts(trace);
  const ours = ourCounts(trace);
  expect(tp.size).toBeGreaterThan(10);
  // Every thread of either side with its slice count on the thread's own tracks (0 when absent).
  const own = (m: Map<string, [number, number]>, k: string): number => m.get(k)?.[0] ?? 0;
  const keys = [...new Set([...tp.keys(), ...ours.keys()])].filter((k) => own(tp, k) + own(ours, k) > 0).sort();
  const diff = keys
    .filter((k) => own(tp, k) !== own(ours, k))
    .map((k) => `${k}: tp ${own(tp, k)}, ours ${own(ours, k)}`);
  expect(diff).toEqual([]);
  for (const [k, [, merged]] of tp) {
    if (merged > 0) expect(ours.get(k)?.[1] ?? 0).toBeGreaterThanOrEqual(merged);
  }
}

describe.skipIf(!tpRuns)("Perfetto protobuf: slices per thread as trace_processor counts them", () => {
  test("the Chromium protobuf fixture: every thread", () => {
    compare(join(ROOT, "fixtures", "chromium_startup.pftrace.gz"));
  }, 600_000);

  const big = process.env.TRACELAKE_PROTO_TRACE;
  test.skipIf(!big)(
    `TRACELAKE_PROTO_TRACE (${big ?? "unset"}): every thread`,
    () => {
      compare(big as string);
    },
    1_800_000,
  );
});
