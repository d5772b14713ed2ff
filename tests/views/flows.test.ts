/**
 * The `flows` view's binding rules on hand-made Chrome JSON traces, one rule per test. The
 * expected edges are written down from trace_processor's rules (flow_tracker.cc,
 * slice_tracker.cc, json_trace_parser_impl.cc); where trace_processor_shell runs, its `flow`
 * table on the same input is checked to be those edges too.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cli, ROOT, tempDir } from "../helpers.ts";

const TP =
  [join(ROOT, "../shared/tools/trace_processor_shell"), join(ROOT, "../../shared/tools/trace_processor_shell")].find(
    existsSync,
  ) ?? "";
const tpRuns = TP !== "" && Bun.spawnSync([TP, "--version"], { stdout: "pipe", stderr: "pipe" }).exitCode === 0;

type Ev = Record<string, unknown>;

let dir: string;
let n = 0;

beforeAll(() => {
  dir = tempDir("tl-flows-");
  writeFileSync(
    join(dir, "edges.sql"),
    "SELECT o.name || '>' || i.name AS e FROM flow f JOIN slice o ON f.slice_out = o.id JOIN slice i ON f.slice_in = i.id;",
  );
});

/** Ingests `events` into a new lake; returns the lake and the trace file. */
function load(events: Ev[]): { lake: string; file: string } {
  const file = join(dir, `t${++n}.json`);
  writeFileSync(file, JSON.stringify({ traceEvents: events }));
  const lake = join(dir, `lake${n}`);
  const r = cli(lake, ["ingest", file]);
  expect(r.code).toBe(0);
  return { lake, file };
}

/** Rows of a query as objects. */
function query<T>(lake: string, sql: string): T[] {
  const r = cli(lake, ["query", "--format", "json", sql]);
  expect(r.stderr).toBe("");
  return JSON.parse(r.stdout) as T[];
}

/** The view's edges (both ends) as "out>in" names, sorted. */
function edges(lake: string): string[] {
  return query<{ e: string }>(
    lake,
    "SELECT out_name || '>' || in_name AS e FROM flows WHERE out_name IS NOT NULL AND in_name IS NOT NULL",
  )
    .map((x) => x.e)
    .sort();
}

/** Checks the view's edges of `events` and, where it runs, trace_processor's. */
function expectEdges(events: Ev[], want: string[]): string {
  const { lake, file } = load(events);
  expect(edges(lake)).toEqual([...want].sort());
  if (tpRuns) {
    const r = Bun.spawnSync([TP, "-q", join(dir, "edges.sql"), file], { stdout: "pipe", stderr: "pipe" });
    expect(r.exitCode).toBe(0);
    const tp = r.stdout
      .toString()
      .trim()
      .split("\n")
      .slice(1)
      .map((l) => l.replaceAll('"', ""))
      .sort();
    expect(tp).toEqual([...want].sort());
  }
  return lake;
}

const X = (tid: number, ts: number, dur: number, name: string, extra: Ev = {}): Ev => ({
  ph: "X",
  pid: 1,
  tid,
  ts,
  dur,
  name,
  cat: "c",
  ...extra,
});
const flow = (ph: string, tid: number, ts: number, id: number, extra: Ev = {}): Ev => ({
  ph,
  pid: 1,
  tid,
  ts,
  id,
  name: "fl",
  cat: "c",
  ...extra,
});

describe("flows view: binding rules", () => {
  test("a flow event binds to the top of its thread's slice stack, even a slice that has ended", () => {
    // "a" ended at 110; no slice began on thread 1 before the `s` at 120, so "a" is still on
    // trace_processor's stack (an X is popped only when a later slice begins).
    expectEdges(
      [
        X(1, 100, 10, "a"),
        flow("s", 1, 120, 1),
        X(1, 130, 10, "later"),
        X(2, 200, 50, "b"),
        flow("f", 2, 210, 1, { bp: "e" }),
      ],
      ["a>b"],
    );
  });

  test("an instant on the stack is the slice a flow event binds to", () => {
    expectEdges(
      [
        X(1, 0, 1000, "outer"),
        { ph: "I", pid: 1, tid: 1, ts: 100, name: "inst", cat: "c", s: "t" },
        flow("s", 1, 100, 2),
        X(2, 300, 10, "b"),
        flow("f", 2, 305, 2, { bp: "e" }),
      ],
      ["inst>b"],
    );
  });

  test("at equal times a flow event comes after the slices that begin then", () => {
    // The `f` is written before "dst", at its begin time: it binds to "dst", not to "before".
    expectEdges(
      [
        X(1, 400, 10, "src"),
        flow("s", 1, 405, 3),
        X(2, 100, 10, "before"),
        flow("f", 2, 500, 3, { bp: "e" }),
        X(2, 500, 10, "dst"),
      ],
      ["src>dst"],
    );
  });

  test("an f without bp waits for the next slice on its thread; the source is the flow's slice then", () => {
    // s in a1; f (no bp) on thread 2 at 1050; a step in c1 at 1070 moves the flow to c1; the
    // next slice of thread 2, b1 at 1200, takes the pending end: c1 → b1, not a1 → b1.
    expectEdges(
      [
        X(1, 1000, 100, "a1"),
        flow("s", 1, 1010, 4),
        flow("f", 2, 1050, 4),
        X(3, 1060, 100, "c1"),
        flow("t", 3, 1070, 4),
        X(2, 1200, 10, "b1"),
      ],
      ["a1>c1", "c1>b1"],
    );
  });

  test("one source flows into several slices; a step ends one edge and starts the next (v1 and v2)", () => {
    expectEdges(
      [
        X(1, 100, 10, "src", { bind_id: "0x40", flow_out: true }),
        X(2, 200, 10, "in1", { bind_id: "0x40", flow_in: true }),
        X(2, 300, 10, "in2", { bind_id: "0x40", flow_in: true }),
        X(3, 400, 10, "mid", { bind_id: "0x40", flow_in: true, flow_out: true }),
        X(2, 500, 10, "in3", { bind_id: "0x40", flow_in: true }),
        X(1, 1000, 100, "v1src"),
        flow("s", 1, 1010, 7),
        X(2, 1200, 10, "v1a"),
        flow("f", 2, 1205, 7, { bp: "e" }),
        X(3, 1300, 10, "v1b"),
        flow("f", 3, 1305, 7, { bp: "e" }),
        X(2, 1400, 10, "v1step"),
        flow("t", 2, 1405, 7),
        X(3, 1500, 10, "v1c"),
        flow("f", 3, 1505, 7, { bp: "e" }),
      ],
      ["src>in1", "src>in2", "src>mid", "mid>in3", "v1src>v1a", "v1src>v1b", "v1src>v1step", "v1step>v1c"],
    );
  });

  test("a flow of many steps is followed in time order, whatever the order of its events in the file", () => {
    // 40 slices on two threads, each with one operation of flow 11 (s, then t..., then f), the
    // events written last to first: the edges chain s0 > s1 > ... > s39.
    const events: Ev[] = [];
    for (let i = 0; i < 40; i++) {
      const ts = 100 + 100 * i;
      const ph = i === 0 ? "s" : i === 39 ? "f" : "t";
      events.push(X(1 + (i % 2), ts, 10, `s${i}`), flow(ph, 1 + (i % 2), ts + 5, 11, ph === "f" ? { bp: "e" } : {}));
    }
    events.reverse();
    expectEdges(
      events,
      Array.from({ length: 39 }, (_, i) => `s${i}>s${i + 1}`),
    );
  });

  test("flow names, categories and text ids with quotes, backslashes and control characters come through as written", () => {
    const name = 'fl"\\\u0000\n\u001f😀';
    const cat = "c\tat\u2028";
    const lake = expectEdges(
      [
        X(1, 100, 10, "a"),
        flow("s", 1, 105, 42, { name, cat }),
        X(2, 200, 10, "b"),
        flow("f", 2, 205, 42, { name, cat, bp: "e" }),
      ],
      ["a>b"],
    );
    expect(query(lake, "SELECT flow_name, flow_target FROM flows WHERE in_name IS NOT NULL")).toEqual([
      { flow_name: name, flow_target: cat },
    ]);
    // A text bind_id (trace_processor draws no edge for it: README "What flows does").
    const bind = 'id "\\ \u0001';
    const { lake: textIds } = load([
      X(1, 300, 10, "c", { bind_id: bind, flow_out: true }),
      X(2, 400, 10, "d", { bind_id: bind, flow_in: true }),
    ]);
    expect(edges(textIds)).toEqual(["c>d"]);
  });

  test("an edge goes from the slice that began first", () => {
    // The flow starts in "late" (450) and ends in "early" (300, still open): early → late.
    expectEdges(
      [X(1, 450, 150, "late"), flow("s", 1, 500, 5), X(2, 300, 400, "early"), flow("f", 2, 520, 5, { bp: "e" })],
      ["early>late"],
    );
  });

  test("an instant stays on its own process's thread when another process has a thread of its tid", () => {
    // Both processes are small, so they are bound in one batch (lib/views/flows.ts bindBatches),
    // and both have a thread 3: each instant is on its own process's thread 3, the top of its
    // stack when the flow event at its time comes (a flow event binds to the top slice).
    const i = (pid: number, ts: number, name: string): Ev => ({ ph: "i", s: "t", pid, tid: 3, ts, name, cat: "c" });
    const lake = expectEdges(
      [
        { ...X(3, 100, 200, "a7"), pid: 7 },
        i(7, 200, "i7"),
        { ...flow("s", 3, 200, 1), pid: 7 },
        { ...X(3, 400, 200, "b8"), pid: 8 },
        i(8, 500, "i8"),
        { ...flow("f", 3, 500, 1, { bp: "e" }), pid: 8 },
      ],
      ["i7>i8"],
    );
    expect(
      query<Record<string, unknown>>(
        lake,
        "SELECT out_kind, out_tid, in_kind, in_tid, out_process_id <> in_process_id AS across FROM flows",
      ),
    ).toEqual([{ out_kind: "instant", out_tid: "3", in_kind: "instant", in_tid: "3", across: true }]);
  });

  test("an instant's end names its thread (tid and name): a thread with spans, and one with only instants", () => {
    // Chrome JSON instants carrying a bind_id (README "What flows does": kept, where
    // trace_processor's JSON importer ignores them, so no comparison with it here). Thread 9
    // has no span; its instant still comes first on it, where the binding takes up a thread.
    const { lake } = load([
      { ph: "M", pid: 1, tid: 9, name: "thread_name", args: { name: "loner" } },
      { ph: "M", pid: 1, tid: 4, name: "thread_name", args: { name: "busy" } },
      { ph: "i", s: "t", pid: 1, tid: 9, ts: 100, name: "lone", cat: "c", bind_id: "0x7", flow_out: true },
      X(2, 200, 10, "dst1", { bind_id: "0x7", flow_in: true }),
      X(4, 250, 100, "around"),
      { ph: "i", s: "t", pid: 1, tid: 4, ts: 300, name: "inner", cat: "c", bind_id: "0x8", flow_out: true },
      X(2, 400, 10, "dst2", { bind_id: "0x8", flow_in: true }),
    ]);
    expect(
      query<Record<string, unknown>>(
        lake,
        "SELECT out_kind, out_name, out_tid, out_thread_name, in_name, in_tid FROM flows ORDER BY time",
      ),
    ).toEqual([
      { out_kind: "instant", out_name: "lone", out_tid: "9", out_thread_name: "loner", in_name: "dst1", in_tid: "2" },
      { out_kind: "instant", out_name: "inner", out_tid: "4", out_thread_name: "busy", in_name: "dst2", in_tid: "2" },
    ]);
  });

  test("edges between processes name both processes and live in the instance they arrive in; loose ends are kept", () => {
    const { lake } = load([
      { ph: "M", pid: 7, tid: 1, name: "process_name", args: { name: "p7" } },
      { ph: "M", pid: 8, tid: 2, name: "process_name", args: { name: "p8" } },
      { ...X(1, 100, 50, "from7"), pid: 7 },
      { ...flow("s", 1, 110, 6), pid: 7 },
      { ...flow("s", 1, 120, 9), pid: 7 },
      { ...X(2, 200, 50, "to8"), pid: 8 },
      { ...flow("f", 2, 210, 6, { bp: "e" }), pid: 8 },
    ]);
    const procs = query<{ process_id: string; exe: string }>(
      lake,
      "SELECT process_id, exe FROM processes ORDER BY exe",
    );
    const [p7, p8] = procs.map((p) => p.process_id);
    const rows = query<Record<string, unknown>>(
      lake,
      `SELECT process_id, out_process_id, out_name, out_tid, out_kind, in_process_id, in_name, in_tid, in_kind, in_step,
         version, flow_name, flow_target,
         out_id = (SELECT id FROM thread_spans WHERE name = 'from7') AS out_is_span,
         in_id = (SELECT id FROM thread_spans WHERE name = 'to8') AS in_is_span
       FROM flows ORDER BY time`,
    );
    expect(rows).toEqual([
      {
        process_id: p7,
        out_process_id: p7,
        out_name: "from7",
        out_tid: "1",
        out_kind: "span",
        in_process_id: null,
        in_name: null,
        in_tid: null,
        in_kind: null,
        in_step: null,
        version: 1,
        flow_name: "fl",
        flow_target: "c",
        out_is_span: true,
        in_is_span: null,
      },
      {
        process_id: p8,
        out_process_id: p7,
        out_name: "from7",
        out_tid: "1",
        out_kind: "span",
        in_process_id: p8,
        in_name: "to8",
        in_tid: "2",
        in_kind: "span",
        in_step: false,
        version: 1,
        flow_name: "fl",
        flow_target: "c",
        out_is_span: true,
        in_is_span: true,
      },
    ]);
    // Each process's instance holds its rows only.
    const inst = (p: string | undefined) =>
      query<{ n: number }>(lake, `SELECT count(*)::INTEGER AS n FROM view_instance('flows', '${p}')`)[0]?.n;
    expect(inst(p7)).toBe(1);
    expect(inst(p8)).toBe(1);
  });
});
