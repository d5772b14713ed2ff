/**
 * Flow v2 in the Perfetto export: `bind_id` with `flow_out`/`flow_in` on B/X events (Chrome
 * JSON; Perfetto TrackEvent flow_ids/terminating_flow_ids as the importer stores them) become
 * flow_ids / terminating_flow_ids on the slice their event begins. Oracles: the input pftrace
 * decoded with protobufjs (tests/perfetto/decode.ts), the hand-written events, pftrace-lint.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUN, cli, ROOT, tempDir } from "../helpers.ts";
import { type Decoded, decodePackets, decodeTrace, LINT, type Slice } from "./decode.ts";

type Obj = Record<string, unknown>;

/** pftrace-lint --strict --json: exit code, error count, flow stats. */
function lint(file: string): { exit: number; errors: number; flows: { ids: number; references: number } } {
  const p = Bun.spawnSync([BUN, LINT, "--strict", "--json", file]);
  const j = JSON.parse(p.stdout.toString());
  return { exit: p.exitCode ?? -1, errors: j.errors.length, flows: j.stats.flows };
}

/**
 * Flow ids of the TrackEvents of a trace by event type (1 SLICE_BEGIN, 3 INSTANT) and role
 * (`out` = flow_ids, `term` = terminating_flow_ids), as "type:role:id" texts; `defaultTrack`
 * keeps only events without track_uuid (on their sequence's default track).
 */
function flowRefs(bytes: Uint8Array, defaultTrack: boolean): string[] {
  const refs: string[] = [];
  for (const p of decodePackets(bytes)) {
    const te = p.track_event as Obj | undefined;
    if (!te || (defaultTrack && te.track_uuid !== undefined)) continue;
    const type = Number(te.type);
    if (type !== 1 && type !== 3) continue;
    for (const f of (te.flow_ids as string[] | undefined) ?? []) refs.push(`${type}:out:${f}`);
    for (const f of (te.terminating_flow_ids as string[] | undefined) ?? []) refs.push(`${type}:term:${f}`);
  }
  return refs;
}

/** Sorted multiset of a list of id texts, as "id×n" entries. */
function multiset(ids: string[]): string[] {
  const m = new Map<string, number>();
  for (const x of ids) m.set(x, (m.get(x) ?? 0) + 1);
  return [...m].map(([k, n]) => `${k}×${n}`).sort();
}

let dir: string;

beforeAll(() => {
  dir = tempDir("tl-flows2-");
});

describe("flow v2 export", () => {
  test("Perfetto → lake → Perfetto keeps the flow ids of thread slices and instants", () => {
    const lake = join(dir, "pf");
    const ing = cli(lake, ["ingest", join(ROOT, "fixtures/chromium_startup.pftrace.gz")]);
    expect(ing.code).toBe(0);
    const out = join(dir, "pf.pftrace");
    const exp = cli(lake, ["export", "perfetto", "--all", "-o", out]);
    expect(exp.code).toBe(0);

    // Input, decoded independently: flow ids on SLICE_BEGIN and INSTANT events of the sequences'
    // default (thread) tracks, which is where Chromium writes its thread slices and instants
    // (no track_uuid). Not exported: ids on SLICE_END (32) and on async tracks (27).
    const input = flowRefs(readFileSync(join(ROOT, "fixtures/chromium_startup.pftrace.gz")), true);
    expect(input.filter((r) => r.startsWith("1:")).length).toBeGreaterThan(20_000);
    expect(input.filter((r) => r.startsWith("3:")).length).toBeGreaterThan(20_000);

    // Output: the same ids (kept as they are), in the same roles, on the same kinds of events.
    const output = flowRefs(readFileSync(out), false);
    expect(output.length).toBe(input.length);
    expect(multiset(output)).toEqual(multiset(input));
    const d: Decoded = decodeTrace(readFileSync(out));
    expect(d.slices.flatMap((s) => s.flows).length).toBe(output.filter((r) => r.startsWith("1:")).length);
    expect(exp.stderr).toContain(`${output.length.toLocaleString("en-US")} flow points`);

    const l = lint(out);
    expect(l.errors).toBe(0);
    expect(l.exit).toBe(0);
    expect(l.flows.ids).toBeGreaterThan(0);
    expect(l.flows.references).toBe(output.length);
  }, 180_000);

  test("Chrome JSON bind_id/flow_out/flow_in land on exactly their slices, across threads", () => {
    const ev = [
      { ph: "M", pid: 5, tid: 1, name: "thread_name", args: { name: "main" } },
      { ph: "M", pid: 5, tid: 2, name: "thread_name", args: { name: "worker" } },
      // Thread 1: the flow 0x10 starts on "send" (not on its child), 0x20 on the child "inner"
      // that begins with its parent "outer" (Chrome writes the child first), "text-id" on "post".
      { ph: "X", pid: 5, tid: 1, ts: 110, dur: 10, name: "child", cat: "c" },
      { ph: "X", pid: 5, tid: 1, ts: 100, dur: 50, name: "send", cat: "c", bind_id: "0x10", flow_out: true },
      { ph: "X", pid: 5, tid: 1, ts: 200, dur: 10, name: "inner", cat: "c", bind_id: "0x20", flow_out: true },
      { ph: "X", pid: 5, tid: 1, ts: 200, dur: 100, name: "outer", cat: "c" },
      { ph: "B", pid: 5, tid: 1, ts: 400, name: "post", cat: "c", bind_id: "text-id", flow_out: true },
      { ph: "E", pid: 5, tid: 1, ts: 410 },
      // Thread 2: 0x10 continues on "step" (in and out) and ends on the B-span "recv";
      // 0x20 ends on "done"; "text-id" ends on "got".
      {
        ph: "X",
        pid: 5,
        tid: 2,
        ts: 300,
        dur: 20,
        name: "step",
        cat: "c",
        bind_id: "0x10",
        flow_in: true,
        flow_out: true,
      },
      { ph: "B", pid: 5, tid: 2, ts: 500, name: "recv", cat: "c", bind_id: "0x10", flow_in: true },
      { ph: "X", pid: 5, tid: 2, ts: 505, dur: 5, name: "recv-child", cat: "c" },
      { ph: "E", pid: 5, tid: 2, ts: 550 },
      { ph: "X", pid: 5, tid: 2, ts: 600, dur: 5, name: "done", cat: "c", bind_id: "0x20", flow_in: true },
      { ph: "X", pid: 5, tid: 2, ts: 700, dur: 5, name: "got", cat: "c", bind_id: "text-id", flow_in: true },
      // 0x30 from "ping" to an instant on thread 2 (with a flowless instant at the same time).
      { ph: "X", pid: 5, tid: 1, ts: 800, dur: 5, name: "ping", cat: "c", bind_id: "0x30", flow_out: true },
      { ph: "i", pid: 5, tid: 2, ts: 900, name: "other", cat: "c", s: "t" },
      { ph: "i", pid: 5, tid: 2, ts: 900, name: "pong", cat: "c", s: "t", bind_id: "0x30", flow_in: true },
    ];
    const file = join(dir, "v2.json");
    writeFileSync(file, JSON.stringify({ traceEvents: ev }));
    const lake = join(dir, "json");
    expect(cli(lake, ["ingest", file]).code).toBe(0);
    const out = join(dir, "v2.pftrace");
    expect(cli(lake, ["export", "perfetto", "--all", "-o", out]).code).toBe(0);
    const d = decodeTrace(readFileSync(out));
    const by = new Map<string, Slice>(d.slices.map((s) => [s.name, s]));
    const flows = (name: string) => {
      const s = by.get(name);
      return { out: s?.flowIds, term: s?.terminatingFlowIds };
    };
    // Numeric bind_ids are the flow ids themselves (0x10 = 16, 0x20 = 32).
    expect(flows("send")).toEqual({ out: ["16"], term: [] });
    expect(flows("step")).toEqual({ out: ["16"], term: [] });
    expect(flows("recv")).toEqual({ out: [], term: ["16"] });
    expect(flows("inner")).toEqual({ out: ["32"], term: [] });
    expect(flows("done")).toEqual({ out: [], term: ["32"] });
    const post = flows("post");
    expect(post.out?.length).toBe(1);
    expect(flows("got")).toEqual({ out: [], term: post.out });
    expect(flows("ping")).toEqual({ out: ["48"], term: [] });
    const bytes = readFileSync(out);
    expect(flowRefs(bytes, false).filter((r) => r.startsWith("3:"))).toEqual(["3:term:48"]);
    expect(d.logs.filter((x) => x.flows.length > 0).map((x) => [x.body, x.flows])).toEqual([["pong", ["48"]]]);
    for (const name of ["child", "outer", "recv-child"]) expect(flows(name)).toEqual({ out: [], term: [] });
    // The flow's slices sit on two different thread tracks.
    expect(by.get("send")?.track).not.toBe(by.get("recv")?.track);
    const l = lint(out);
    expect(l.errors).toBe(0);
    expect(l.flows).toEqual({ ...l.flows, ids: 4, references: 9 });

    // --no-flows leaves them out.
    const bare = join(dir, "bare.pftrace");
    expect(cli(lake, ["export", "perfetto", "--all", "--no-flows", "-o", bare]).code).toBe(0);
    expect(decodeTrace(readFileSync(bare)).slices.flatMap((s) => s.flows)).toEqual([]);
  }, 60_000);

  test("one source flowing into several slices keeps every edge (issue 23 item 6)", async () => {
    // trace_processor's JSON importer ends a v2 `flow_in` and a v1 `f` without closing the
    // flow: "src" → in1, in2, in3; "v1src" → v1a, v1b, v1step (a `t` after two `f`s), then
    // v1step → v1c. EDGES is trace_processor v58.2's `flow` table for this input, written down.
    const ev = [
      { ph: "X", pid: 5, tid: 1, ts: 100, dur: 10, name: "src", cat: "c", bind_id: "0x40", flow_out: true },
      { ph: "X", pid: 5, tid: 2, ts: 200, dur: 10, name: "in1", cat: "c", bind_id: "0x40", flow_in: true },
      { ph: "X", pid: 5, tid: 2, ts: 300, dur: 10, name: "in2", cat: "c", bind_id: "0x40", flow_in: true },
      { ph: "X", pid: 5, tid: 3, ts: 400, dur: 10, name: "in3", cat: "c", bind_id: "0x40", flow_in: true },
      { ph: "X", pid: 5, tid: 1, ts: 1000, dur: 100, name: "v1src", cat: "c" },
      { ph: "s", pid: 5, tid: 1, ts: 1010, id: 7, name: "fl", cat: "c" },
      { ph: "X", pid: 5, tid: 2, ts: 1200, dur: 10, name: "v1a", cat: "c" },
      { ph: "f", pid: 5, tid: 2, ts: 1205, id: 7, name: "fl", cat: "c", bp: "e" },
      { ph: "X", pid: 5, tid: 3, ts: 1300, dur: 10, name: "v1b", cat: "c" },
      { ph: "f", pid: 5, tid: 3, ts: 1305, id: 7, name: "fl", cat: "c", bp: "e" },
      { ph: "X", pid: 5, tid: 2, ts: 1400, dur: 10, name: "v1step", cat: "c" },
      { ph: "t", pid: 5, tid: 2, ts: 1405, id: 7, name: "fl", cat: "c" },
      { ph: "X", pid: 5, tid: 3, ts: 1500, dur: 10, name: "v1c", cat: "c" },
      { ph: "f", pid: 5, tid: 3, ts: 1505, id: 7, name: "fl", cat: "c", bp: "e" },
    ];
    const EDGES = ["src>in1", "src>in2", "src>in3", "v1src>v1a", "v1src>v1b", "v1src>v1step", "v1step>v1c"];
    const file = join(dir, "fan.json");
    writeFileSync(file, JSON.stringify({ traceEvents: ev }));
    const lake = join(dir, "fan");
    expect(cli(lake, ["ingest", file]).code).toBe(0);
    const out = join(dir, "fan.pftrace");
    const exp = cli(lake, ["export", "perfetto", "--all", "-o", out]);
    expect(exp.code).toBe(0);
    expect(lint(out).errors).toBe(0);
    // Edges of the exported trace as TrackEvent defines flow ids (track_event.proto): a flow id
    // in flow_ids draws an edge from the flow's last slice when active, then continues from
    // this one; in terminating_flow_ids it draws the edge and ends the flow. Slices in file order.
    const last = new Map<string, string>();
    const edges: string[] = [];
    for (const sl of decodeTrace(readFileSync(out)).slices) {
      for (const f of sl.flowIds) {
        const from = last.get(f);
        if (from !== undefined) edges.push(`${from}>${sl.name}`);
        last.set(f, sl.name);
      }
      for (const f of sl.terminatingFlowIds) {
        const from = last.get(f);
        if (from !== undefined) edges.push(`${from}>${sl.name}`);
        last.delete(f);
      }
    }
    expect(edges.sort()).toEqual(EDGES);

    // trace_processor itself, on the source JSON and on our export, when it runs here.
    // ../shared from the main checkout, ../../shared from a worktree under wt/.
    const TP =
      [
        join(ROOT, "../shared/tools/trace_processor_shell"),
        join(ROOT, "../../shared/tools/trace_processor_shell"),
      ].find(existsSync) ?? "";
    const probe = TP ? Bun.spawnSync([TP, "--version"], { stdout: "pipe", stderr: "pipe" }) : null;
    if (!probe || probe.exitCode !== 0) {
      console.warn(
        "trace_processor_shell does not run here (needs libprotobuf32): compared with its recorded edges only",
      );
      return;
    }
    const sql = join(dir, "flow.sql");
    await Bun.write(
      sql,
      "SELECT o.name || '>' || i.name AS e FROM flow f JOIN slice o ON f.slice_out = o.id JOIN slice i ON f.slice_in = i.id ORDER BY e;",
    );
    const tpEdges = (trace: string): string[] => {
      const r = Bun.spawnSync([TP, "-q", sql, trace], { stdout: "pipe", stderr: "pipe" });
      expect(r.exitCode).toBe(0);
      return r.stdout
        .toString()
        .trim()
        .split("\n")
        .slice(1)
        .map((l) => l.replaceAll('"', ""));
    };
    expect(tpEdges(file)).toEqual(EDGES);
    expect(tpEdges(out)).toEqual(EDGES);
  }, 60_000);
});
