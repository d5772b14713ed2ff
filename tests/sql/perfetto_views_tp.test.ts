/**
 * The Perfetto-shaped views (lib/sql/perfetto_views.ts) against trace_processor itself (issue 24
 * item 4): the same SQL runs through `trace_processor_shell -q` (Perfetto v58.2) and through
 * `tracelake query` on the same file, for both real samples, and the rows must agree as
 * multisets. Each query folds a row into one text (`a || '|' || b ...`, which SQLite and DuckDB
 * both read), and ids are compared through what they name: a slice's parent by its name and ts,
 * a thread by its pid and tid.
 *
 * What differs, asserted as such:
 * - thread-track instants (dur 0): the same rows, but for the depth and parent of some (67 of
 *   22,432 on the JSON sample, 127 of 22,131 on the protobuf one): trace_processor nests an
 *   instant inside another instant of the same ts, and puts some Perfetto instants on a child
 *   track of the thread (depth 0); tracelake nests an instant in the spans open around it only.
 * - async slices: the same on the JSON sample; on the protobuf one 18 of 2,042 differ in dur:
 *   Chromium's `Scheduler::Running` spans begin on one thread (category `gpu`) and end on another
 *   with no category; async_events keys a span by (category, id, ...), so the end is unmatched and
 *   the span left unclosed (dur -1, or paired with a later end); trace_processor pairs by track.
 *   trace_processor's pftrace `thread_merged_track_event` tracks (child tracks of a thread, e.g.
 *   LongTaskTracker) are async spans in tracelake, so the thread-track comparison keeps
 *   trace_processor's own thread tracks (types thread_execution and thread_track_event).
 * - args: the same on the JSON sample; not compared on the protobuf one (see the test).
 * - flows: the same edges between thread-track slices (on the protobuf sample, trace_processor's
 *   16 edges to async slices are not in tracelake's flows, as README "What `flows` does" says).
 * - counters: trace_processor makes a `thread_time` counter track per thread from the thread
 *   times of track events; tracelake keeps those times on the slices (thread_ts, thread_dur).
 * Skipped where trace_processor_shell cannot run (it needs Debian's libprotobuf32).
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cli, ROOT, tempDir } from "../helpers.ts";

const TP = process.env.TRACE_PROCESSOR_SHELL ?? "/work/shared/tools/trace_processor_shell";
const tpRuns = existsSync(TP) && Bun.spawnSync([TP, "--version"]).exitCode === 0;
const SAMPLES = join(ROOT, "fixtures");

/** Thread-track slices with their thread, process and parent (by name and ts). */
const THREAD_SLICES = `SELECT p.pid || '|' || t.tid || '|' || s.ts || '|' || s.dur || '|' || coalesce(s.category, '') || '|'
  || s.name || '|' || s.depth || '|' || coalesce(pa.name, '') || '|' || coalesce(CAST(pa.ts AS TEXT), '') AS r
FROM slice s JOIN thread_track tt ON s.track_id = tt.id JOIN thread t USING (utid) JOIN process p USING (upid)
LEFT JOIN slice pa ON pa.id = s.parent_id
WHERE tt.type IN ('thread_execution', 'thread_track_event')`;

/** Slices on other tracks (async spans and instants, process and global instants). */
const OTHER_SLICES = `SELECT s.ts || '|' || s.dur || '|' || s.name AS r
FROM slice s WHERE s.track_id NOT IN (SELECT id FROM thread_track WHERE type IN ('thread_execution', 'thread_track_event'))`;

/** Every thread of a process (trace_processor's pid 0 rows, its placeholder and swapper, aside). */
const THREADS = `SELECT p.pid || '|' || t.tid || '|' || coalesce(t.name, '') AS r
FROM thread t JOIN process p USING (upid) WHERE p.pid > 0`;

/**
 * Flow edges between thread-track slices, each end by its thread, ts and name (flow joined to
 * slice, thread_track and thread: the ids must agree between the four tables).
 */
const FLOWS = `SELECT t1.tid || '|' || so.ts || '|' || so.name || '|' || t2.tid || '|' || si.ts || '|' || si.name AS r
FROM flow f JOIN slice so ON so.id = f.slice_out JOIN slice si ON si.id = f.slice_in
JOIN thread_track k1 ON k1.id = so.track_id JOIN thread t1 ON t1.utid = k1.utid
JOIN thread_track k2 ON k2.id = si.track_id JOIN thread t2 ON t2.utid = k2.utid
WHERE k1.type IN ('thread_execution', 'thread_track_event') AND k2.type IN ('thread_execution', 'thread_track_event')`;

const PROCESSES = `SELECT p.pid || '|' || coalesce(p.name, '') AS r FROM process p WHERE p.pid > 0`;

const COUNTERS = `SELECT ct.name || '|' || c.ts || '|' || printf('%.3f', c.value) AS r
FROM counter c JOIN counter_track ct ON c.track_id = ct.id WHERE ct.name <> 'thread_time'`;

/**
 * Each slice's args; reals to 12 significant digits (trace_processor's JSON reader is 1 ulp off
 * the nearest double for some decimals: 16.548 reads as 16.548000000000002), and quotes dropped
 * (trace_processor does not escape them in its CSV). Integers above 2^63 (ids, a delay: 28 on the JSON
 * sample) are left out: trace_processor reads them as negative reals (their 64 bits as a signed
 * integer), tracelake as `uint` (TP's type for them); UINT64_ARGS compares them by those bits.
 */
const ARGS = `SELECT s.ts || '|' || s.name || '|' || a.key || '|' || a.value_type || '|'
  || CASE WHEN a.value_type = 'real' THEN printf('%.12g', a.real_value) ELSE replace(coalesce(a.display_value, ''), '"', '') END AS r
FROM slice s JOIN args a USING (arg_set_id)
WHERE a.value_type <> 'uint' AND NOT (a.value_type = 'real' AND a.real_value < 0 AND a.real_value = round(a.real_value))`;

/** The args ARGS leaves out, with their int64 bits: a uint's int_value, trace_processor's real. */
const UINT64_ARGS = `SELECT s.ts || '|' || a.key || '|' || printf('%.6g', coalesce(a.real_value, a.int_value)) AS r
FROM slice s JOIN args a USING (arg_set_id)
WHERE a.value_type = 'uint' OR (a.value_type = 'real' AND a.real_value < 0 AND a.real_value = round(a.real_value))`;

/** The values of a one-column CSV with a header (RFC 4180: a quoted value may hold newlines and `""`). */
function column(text: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < text.length) {
    let v = "";
    if (text[i] === '"') {
      i++;
      for (;;) {
        const q = text.indexOf('"', i);
        if (q < 0) throw new Error("unterminated quoted CSV value");
        v += text.slice(i, q);
        if (text[q + 1] === '"') {
          v += '"';
          i = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
    }
    const nl = text.indexOf("\n", i);
    const end = nl < 0 ? text.length : nl;
    v += text.slice(i, end).replace(/\r$/, "");
    out.push(v);
    i = end + 1;
  }
  return out.slice(1);
}

/** Rows of `sql` from trace_processor on `trace`. */
function tp(trace: string, sql: string): string[] {
  const q = join(tempDir(), "q.sql");
  writeFileSync(q, sql);
  const r = Bun.spawnSync([TP, "-q", q, trace], { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`trace_processor_shell failed: ${r.stderr.toString()}`);
  return column(r.stdout.toString());
}

/** Rows of `sql` from tracelake on `lake`. */
function ours(lake: string, sql: string): string[] {
  const r = cli(lake, ["query", "-f", "csv", sql]);
  if (r.code !== 0) throw new Error(r.stderr);
  return column(r.stdout);
}

/** What one multiset has more than the other: [only in a, only in b], each sorted. */
function difference(a: string[], b: string[]): [string[], string[]] {
  const count = new Map<string, number>();
  for (const x of a) count.set(x, (count.get(x) ?? 0) + 1);
  for (const x of b) count.set(x, (count.get(x) ?? 0) - 1);
  const onlyA: string[] = [];
  const onlyB: string[] = [];
  for (const [k, n] of count) {
    for (let i = 0; i < n; i++) onlyA.push(k);
    for (let i = 0; i < -n; i++) onlyB.push(k);
  }
  return [onlyA.sort(), onlyB.sort()];
}

/**
 * Thread-track rows with depth and parent dropped for instants (dur 0): trace_processor nests an
 * instant inside an instant of the same ts before it, and places some Perfetto instants on a
 * thread's child track (depth 0); tracelake nests instants only in the spans open around them.
 */
const fold = (rows: string[]): string[] =>
  rows.map((r) => {
    const f = r.split("|");
    return f[3] === "0" ? f.slice(0, 6).join("|") : r;
  });

/** Instants whose depth or parent differ, at most (of ~22,000 instants per sample). */
const INSTANT_NESTING_DIFFERENCES = 150;

/** Async slices whose end tracelake does not pair (see the file comment), per sample. */
const ASYNC_UNPAIRED: Record<string, number> = { "chromium_startup.json.gz": 0, "chromium_startup.pftrace.gz": 18 };

for (const name of ["chromium_startup.json.gz", "chromium_startup.pftrace.gz"]) {
  describe.skipIf(!tpRuns)(`Perfetto views against trace_processor: ${name}`, () => {
    const trace = join(SAMPLES, name);
    let lake = "";
    beforeAll(() => {
      lake = join(tempDir(), "lake");
      const r = cli(lake, ["ingest", trace]);
      if (r.code !== 0) throw new Error(r.stderr);
    });

    test("thread slices: the same rows; instants the same but for some depths", () => {
      const a = tp(trace, THREAD_SLICES);
      const b = ours(lake, THREAD_SLICES);
      expect(a.length).toBeGreaterThan(100_000);
      expect(b.length).toBe(a.length);
      expect(difference(fold(a), fold(b))).toEqual([[], []]);
      const [onlyTp, onlyOurs] = difference(a, b);
      expect(onlyTp.length).toBe(onlyOurs.length);
      expect(onlyTp.length).toBeLessThanOrEqual(INSTANT_NESTING_DIFFERENCES);
      for (const r of [...onlyTp, ...onlyOurs]) expect(r.split("|")[3]).toBe("0");
    }, 300_000);

    test("other slices (async spans and instants, process and global instants)", () => {
      const a = tp(trace, OTHER_SLICES);
      const b = ours(lake, OTHER_SLICES);
      expect(a.length).toBeGreaterThan(1000);
      expect(b.length).toBe(a.length);
      const [onlyTp, onlyOurs] = difference(a, b);
      // The only difference: the dur of async spans whose end tracelake does not pair as
      // trace_processor does (left unpaired: dur -1, or paired with a later end).
      expect(onlyOurs.length).toBe(ASYNC_UNPAIRED[name] as number);
      expect(onlyTp.length).toBe(onlyOurs.length);
      const key = (r: string) => {
        const [ts, , n] = r.split("|");
        return `${ts}|${n}`;
      };
      expect(onlyOurs.filter((r) => r.split("|")[1] === "-1").length).toBeGreaterThanOrEqual(onlyOurs.length - 2);
      expect(onlyOurs.map(key).sort()).toEqual(onlyTp.map(key).sort());
    }, 300_000);

    // Perfetto protobuf args differ: trace_processor names debug annotations `debug.<name>` and
    // decodes TrackEvent's typed fields (task.posted_from..., chrome_*), which tracelake does not
    // import; its args are `args.<name>`.
    test.skipIf(name.includes("pftrace"))(
      "args of every slice: the same rows",
      () => {
        const a = tp(trace, ARGS);
        expect(a.length).toBeGreaterThan(200_000);
        expect(difference(a, ours(lake, ARGS))).toEqual([[], []]);
        const u = tp(trace, UINT64_ARGS);
        expect(u.length).toBe(28);
        expect(difference(u, ours(lake, UINT64_ARGS))).toEqual([[], []]);
      },
      300_000,
    );

    test.skipIf(name.includes("pftrace"))(
      "EXTRACT_ARG: the same values",
      () => {
        const sql = `SELECT s.ts || '|' || s.name || '|' || EXTRACT_ARG(s.arg_set_id, 'args.src_file') || ':'
        || EXTRACT_ARG(s.arg_set_id, 'args.src_line') AS r FROM slice s WHERE s.name = 'ThreadControllerImpl::RunTask'`;
        const a = tp(trace, sql);
        expect(a.length).toBeGreaterThan(5000);
        expect(difference(a, ours(lake, sql))).toEqual([[], []]);
      },
      300_000,
    );

    for (const [what, sql, min] of [
      ["threads", THREADS, 100],
      ["processes", PROCESSES, 9],
      ["counters", COUNTERS, name.includes("pftrace") ? 400 : 0],
      ["flows", FLOWS, 17_000],
    ] as const) {
      test(`${what}: the same rows`, () => {
        const a = tp(trace, sql);
        expect(a.length).toBeGreaterThanOrEqual(min);
        expect(difference(a, ours(lake, sql))).toEqual([[], []]);
      }, 300_000);
    }
  });
}
