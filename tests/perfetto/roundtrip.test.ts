/**
 * Perfetto round trip (issue 8): ingest the Chromium, Node and span edge-case fixtures (and the
 * Chromium startup recorded as Perfetto protobuf) into lake A, `tracelake export perfetto --all`
 * to a .pftrace, ingest that file into lake B, and compare the views of B with those of A,
 * process by process and thread by thread. Lake A's views are
 * the oracle. What the trace format cannot carry is asserted as the exact difference it makes:
 *
 * - a thread span with `anomaly = 'overlap'` (X events that overlap without nesting), or at
 *   depth 512 or more (trace_processor's kMaxDepth), is written on a "<thread> (overlapping)"
 *   child track of its thread; a slice on a non-thread track is an async slice for the importer,
 *   so in B it is a begin/end pair in `async_events` on the same thread instead of a thread span;
 * - a thread span A closes only at the end of its stream (`anomaly = 'unclosed'`) is written
 *   with that end, so B has it as an ordinary closed span (same begin and duration);
 * - async: an `end` row with no begin (`anomaly = 'unmatched'`) is not exported; async spans go
 *   on process-scoped tracks, so their `async_id`, nesting and thread are not kept (compared:
 *   event type, name, time);
 * - counters are process-scoped tracks: the measure's thread is not kept; log levels NULL in A
 *   are written as INFO (4); a pid/tid that is not an integer in 1..2^30-1 (0, missing) gets a
 *   synthetic id ≥ 2^30, and a process without a name is named `process <process_id of A>`.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Engine } from "../../lib/duck/engine.ts";
import { Lake } from "../../lib/lake/lake.ts";
import { prepareQuery } from "../../lib/sql/query.ts";
import { BUN, cli, ROOT, tempDir } from "../helpers.ts";
import { LINT } from "./decode.ts";

/** Chrome JSON (Chromium, Node, span edge cases) and the Chromium startup as Perfetto protobuf. */
const FIXTURES = [
  "fixtures/chromium_startup.json.gz",
  "fixtures/node_trace.json.gz",
  "fixtures/span_edge_cases.json",
  "fixtures/chromium_startup.pftrace.gz",
];
const SYNTHETIC = 2 ** 30;
/** Spans at this depth or deeper go to an overlap track (lib/perfetto/export.ts MAX_DEPTH). */
const MAX_DEPTH = 512;
/** The thread spans of A that B has as async spans (see the file comment). */
const MOVED = `(anomaly = 'overlap' OR depth >= ${MAX_DEPTH})`;

/** A Chrome JSON trace with a stack 600 deep and zero-duration spans at equal times. */
function deepTrace(): unknown[] {
  const ev: unknown[] = [{ ph: "M", pid: 7, tid: 7, name: "process_name", args: { name: "deep" } }];
  for (let d = 0; d < 600; d++) ev.push({ ph: "B", pid: 7, tid: 7, ts: 1000 + d, name: `deep${d % 7}`, cat: "c" });
  for (let d = 599; d >= 0; d--) ev.push({ ph: "E", pid: 7, tid: 7, ts: 5000 - d });
  ev.push({ ph: "X", pid: 7, tid: 8, ts: 10_000, dur: 10, name: "a", cat: "c" });
  ev.push({ ph: "X", pid: 7, tid: 8, ts: 10_010, dur: 0, name: "zero", cat: "c" });
  ev.push({ ph: "X", pid: 7, tid: 8, ts: 10_010, dur: 5, name: "b", cat: "c" });
  return ev;
}

let dir: string;
let trace: string;
const sides: Record<"a" | "b", { engine: Engine; lake: Lake }> = {} as never;

/** Runs `sql` over a lake's views (materialized just in time). */
async function q<T>(side: "a" | "b", sql: string): Promise<T[]> {
  const { engine, lake } = sides[side];
  await prepareQuery(engine, lake, sql);
  return engine.rows<T>(sql);
}

/** A pid or tid as the exporter writes it: the source integer when in 1..2^30-1, else "synthetic". */
const idKey = (s: string | null): string => {
  const n = s !== null && /^[0-9]{1,10}$/.test(s) ? Number(s) : 0;
  return n > 0 && n < SYNTHETIC ? String(n) : "synthetic";
};

/** Process key in A: `name|pid` as the exporter names it. */
interface Proc {
  process_id: string;
  exe: string | null;
  source_pid: string | null;
}
const procKeyA = (p: Proc) => `${p.exe ?? `process ${p.process_id}`}|${idKey(p.source_pid)}`;
const procKeyB = (p: Proc) => `${p.exe}|${idKey(p.source_pid)}`;

/** Groups `key → sorted list of rows` (a multiset per key). */
function multisets(rows: [string, string][]): Record<string, string[]> {
  const m: Record<string, string[]> = {};
  for (const [k, v] of rows) {
    m[k] ??= [];
    m[k].push(v);
  }
  for (const v of Object.values(m)) v.sort();
  return m;
}

let procA: Proc[];
let procB: Proc[];

beforeAll(async () => {
  dir = tempDir("tl-roundtrip-");
  const a = join(dir, "a");
  const b = join(dir, "b");
  const deep = join(dir, "deep.json");
  writeFileSync(deep, JSON.stringify(deepTrace()));
  for (const f of [...FIXTURES.map((f) => join(ROOT, f)), deep]) expect(cli(a, ["ingest", f]).code).toBe(0);
  trace = join(dir, "all.pftrace");
  const ex = cli(a, ["export", "perfetto", "--all", "-o", trace]);
  expect(ex.stderr).toContain("packets");
  expect(ex.code).toBe(0);
  const ing = cli(b, ["ingest", trace]);
  expect(ing.stderr).toBe("");
  expect(ing.code).toBe(0);
  for (const [side, path] of [
    ["a", a],
    ["b", b],
  ] as const) {
    const engine = await Engine.open({ threads: 2 });
    sides[side] = { engine, lake: await Lake.open(engine, path, { create: false }) };
  }
  const procs = "SELECT process_id, exe, source_pid FROM processes";
  procA = await q<Proc>("a", procs);
  procB = await q<Proc>("b", procs);
}, 180_000);

afterAll(() => {
  for (const s of Object.values(sides)) s.engine.close();
});

/** `process_id → process key` of a side. */
function keys(side: "a" | "b"): Map<string, string> {
  return side === "a"
    ? new Map(procA.map((p) => [p.process_id, procKeyA(p)]))
    : new Map(procB.map((p) => [p.process_id, procKeyB(p)]));
}

describe("perfetto round trip: export lake A, import into lake B", () => {
  test("the trace passes pftrace-lint --strict", () => {
    const p = Bun.spawnSync([BUN, LINT, "--strict", "--quiet", trace]);
    expect(p.stdout.toString()).toContain(", 0 errors");
    expect(p.exitCode).toBe(0);
  });

  test("same processes (names and pids, synthetic where A's pid is not an integer ≥ 1)", () => {
    expect(procB.map(procKeyB).sort()).toEqual(procA.map(procKeyA).sort());
    // The edge-case fixture has a process with pid 0 and no name: both are made up on export.
    expect(procA.some((p) => p.source_pid === "0" && p.exe === null)).toBe(true);
  });

  test("thread spans: per thread the same (name, begin, duration) multiset, minus overlap and too deep spans", async () => {
    const sql = `SELECT process_id AS p, tid_text AS tid, thread_name AS tn, name, epoch_ns("begin")::VARCHAR AS b,
                   duration::VARCHAR AS d, anomaly, ${MOVED} AS moved FROM thread_spans`;
    type Row = {
      p: string;
      tid: string | null;
      tn: string | null;
      name: string | null;
      b: string;
      d: string;
      anomaly: string | null;
      moved: boolean;
    };
    const a = await q<Row>("a", sql);
    const b = await q<Row>("b", sql);
    const thread = (side: "a" | "b", r: Row) => {
      const t = idKey(r.tid);
      return `${keys(side).get(r.p)} / ${t === "synthetic" ? `name ${r.tn ?? `thread ${r.tid}`}` : `tid ${t}`}`;
    };
    const row = (r: Row) => `${r.name ?? ""}|${r.b}|${r.d}`;
    const overlap = a.filter((r) => r.moved);
    const want = multisets(a.filter((r) => !r.moved).map((r) => [thread("a", r), row(r)]));
    const got = multisets(b.map((r) => [thread("b", r), row(r)]));
    expect(got).toEqual(want);
    // The fixtures hold both kinds of span the format changes (else this test proves less).
    expect(a.filter((r) => r.anomaly === "overlap").length).toBeGreaterThan(0);
    expect(overlap.length).toBe(a.filter((r) => r.anomaly === "overlap").length + 600 - MAX_DEPTH);
    expect(a.filter((r) => r.anomaly === "unclosed").length).toBeGreaterThan(0);
    // Unclosed spans of A come back closed, at the end A gave them.
    expect(b.filter((r) => r.anomaly !== null)).toEqual([]);
    expect(b.length).toBe(a.length - overlap.length);
  });

  test("async events: A's minus unmatched ends, plus A's overlap and too deep thread spans as begin/end pairs", async () => {
    type Row = { p: string; tid: string | null; type: string; name: string | null; t: string; anomaly: string | null };
    const a = await q<Row>(
      "a",
      `SELECT process_id AS p, tid_text AS tid, event_type AS type, name, epoch_ns(time)::VARCHAR AS t, anomaly FROM async_events`,
    );
    const b = await q<Row>(
      "b",
      `SELECT process_id AS p, tid_text AS tid, event_type AS type, name, epoch_ns(time)::VARCHAR AS t, anomaly FROM async_events`,
    );
    const overlap = await q<{ p: string; tid: string; name: string; b: string; e: string }>(
      "a",
      `SELECT process_id AS p, tid_text AS tid, name, epoch_ns("begin")::VARCHAR AS b, epoch_ns("end")::VARCHAR AS e
       FROM thread_spans WHERE ${MOVED}`,
    );
    const unmatched = a.filter((r) => r.anomaly === "unmatched");
    expect(unmatched.length).toBeGreaterThan(0);
    const row = (r: Pick<Row, "type" | "name" | "t" | "anomaly">) =>
      `${r.type}|${r.name ?? ""}|${r.t}|${r.anomaly === "unclosed" ? "unclosed" : ""}`;
    const want = multisets([
      ...a
        .filter((r) => r.anomaly !== "unmatched")
        .map((r): [string, string] => [keys("a").get(r.p) as string, row(r)]),
      ...overlap.flatMap((o): [string, string][] => [
        [keys("a").get(o.p) as string, row({ type: "begin", name: o.name, t: o.b, anomaly: null })],
        [keys("a").get(o.p) as string, row({ type: "end", name: o.name, t: o.e, anomaly: null })],
      ]),
    ]);
    const got = multisets(b.map((r) => [keys("b").get(r.p) as string, row(r)]));
    expect(got).toEqual(want);
    // The overlap spans stay on their thread (the overlap track is a child of the thread track).
    for (const o of overlap) {
      const hit = b.filter((r) => r.name === o.name && r.t === o.b && r.type === "begin");
      expect(hit.map((r) => r.tid)).toEqual([o.tid]);
    }
  });

  test("measures: per process the same (time, name, unit, value) multiset", async () => {
    const sql = `SELECT process_id AS p, epoch_ns(time)::VARCHAR || '|' || name || '|' || coalesce(unit, '') || '|' || value AS v FROM measures`;
    const a = await q<{ p: string; v: string }>("a", sql);
    const b = await q<{ p: string; v: string }>("b", sql);
    expect(a.length).toBeGreaterThan(0);
    expect(multisets(b.map((r) => [keys("b").get(r.p) as string, r.v]))).toEqual(
      multisets(a.map((r) => [keys("a").get(r.p) as string, r.v])),
    );
  });

  test("log entries: per process the same (time, level, message, target, thread) multiset", async () => {
    type Row = {
      p: string;
      tid: string | null;
      t: string;
      level: number | null;
      msg: string | null;
      target: string | null;
    };
    const sql =
      "SELECT process_id AS p, tid_text AS tid, epoch_ns(time)::VARCHAR AS t, level, msg, target FROM log_entries";
    const a = await q<Row>("a", sql);
    const b = await q<Row>("b", sql);
    expect(a.length).toBeGreaterThan(20_000);
    const row = (r: Row, level: number | null) => `${r.t}|${level}|${r.msg ?? ""}|${r.target ?? ""}|${idKey(r.tid)}`;
    expect(multisets(b.map((r) => [keys("b").get(r.p) as string, row(r, r.level)]))).toEqual(
      multisets(a.map((r) => [keys("a").get(r.p) as string, row(r, r.level ?? 4)])),
    );
  });
});
