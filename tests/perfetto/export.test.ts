/**
 * Perfetto export: every trace written here is decoded with protobufjs from our own .proto
 * subset (tests/perfetto/decode.ts) and compared with the views it comes from, and checked with
 * the shared pftrace-lint (trace_processor's rules) in --strict mode.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Engine } from "../../lib/duck/engine.ts";
import { ingest } from "../../lib/ingest/ingest.ts";
import { Lake } from "../../lib/lake/lake.ts";
import {
  emptyStats,
  type PerfettoExportOptions,
  type PerfettoExportStats,
  perfettoChunks,
  perfettoPrepareSql,
} from "../../lib/perfetto/export.ts";
import { prepareQuery } from "../../lib/sql/query.ts";
import { BUN, cli, ROOT, tempDir } from "../helpers.ts";
import { type Decoded, decodeTrace, LINT, threadOf } from "./decode.ts";

/** A hand-made trace with the cases the exporter must lay out without losing anything. */
function edgeTrace(): unknown[] {
  const ev: unknown[] = [
    { ph: "M", pid: 7, tid: 7, name: "process_name", args: { name: "../../etc/passwd'; DROP TABLE x; --" } },
    { ph: "M", pid: 7, tid: 8, name: "thread_name", args: { name: "ワーカー 🚀" } },
  ];
  // Deep nesting beyond trace_processor's 512 levels.
  for (let d = 0; d < 600; d++) ev.push({ ph: "B", pid: 7, tid: 7, ts: 1000 + d, name: `deep${d % 7}`, cat: "c" });
  for (let d = 599; d >= 0; d--) ev.push({ ph: "E", pid: 7, tid: 7, ts: 5000 - d });
  // Back-to-back spans with equal timestamps, zero-duration spans, unicode and SQL-like names.
  ev.push({ ph: "X", pid: 7, tid: 8, ts: 10_000, dur: 10, name: "a", cat: "c" });
  ev.push({ ph: "X", pid: 7, tid: 8, ts: 10_010, dur: 10, name: "b", cat: "c" });
  ev.push({ ph: "X", pid: 7, tid: 8, ts: 10_020, dur: 0, name: "zero", cat: "c" });
  ev.push({ ph: "X", pid: 7, tid: 8, ts: 10_020, dur: 5, name: "日本語 ✓", cat: "c", args: { q: "'; --" } });
  // Overlapping X events that do not nest (three levels of overlap).
  ev.push({ ph: "X", pid: 7, tid: 8, ts: 20_000, dur: 100, name: "o1", cat: "c" });
  ev.push({ ph: "X", pid: 7, tid: 8, ts: 20_050, dur: 100, name: "o2", cat: "c" });
  ev.push({ ph: "X", pid: 7, tid: 8, ts: 20_060, dur: 100, name: "o3", cat: "c" });
  ev.push({ ph: "X", pid: 7, tid: 8, ts: 20_070, dur: 10, name: "inner", cat: "c" });
  // Overlapping async spans (different ids), one nested pair (same id), an instant.
  for (let k = 0; k < 5; k++) {
    ev.push({ ph: "b", pid: 7, tid: 7, ts: 30_000 + k * 10, name: "req", cat: "net", id: `0x${k}` });
    ev.push({ ph: "e", pid: 7, tid: 7, ts: 30_100 + k * 10, name: "req", cat: "net", id: `0x${k}` });
  }
  ev.push({ ph: "b", pid: 7, tid: 7, ts: 31_000, name: "outer", cat: "net", id: "0x9" });
  ev.push({ ph: "b", pid: 7, tid: 7, ts: 31_010, name: "inner", cat: "net", id: "0x9" });
  ev.push({ ph: "n", pid: 7, tid: 7, ts: 31_015, name: "mark", cat: "net", id: "0x9" });
  ev.push({ ph: "e", pid: 7, tid: 7, ts: 31_020, name: "inner", cat: "net", id: "0x9" });
  ev.push({ ph: "e", pid: 7, tid: 7, ts: 31_100, name: "outer", cat: "net", id: "0x9" });
  // Counters (two keys), logs, a flow between threads.
  for (let k = 0; k < 4; k++)
    ev.push({ ph: "C", pid: 7, tid: 7, ts: 40_000 + k, name: "mem", args: { heap: k, rss: 2 * k } });
  ev.push({ ph: "i", pid: 7, tid: 8, ts: 40_500, name: "hello\nworld", cat: "log", s: "t" });
  ev.push({ ph: "X", pid: 7, tid: 7, ts: 50_000, dur: 100, name: "send", cat: "c" });
  ev.push({ ph: "s", pid: 7, tid: 7, ts: 50_010, name: "msg", cat: "flow", id: 42 });
  ev.push({ ph: "X", pid: 7, tid: 8, ts: 50_200, dur: 100, name: "recv", cat: "c" });
  ev.push({ ph: "f", pid: 7, tid: 8, ts: 50_210, name: "msg", cat: "flow", id: 42, bp: "e" });
  // An empty process: metadata only.
  ev.push({ ph: "M", pid: 99, tid: 99, name: "process_name", args: { name: "empty" } });
  return ev;
}

let dir: string;
let engine: Engine;
let lake: Lake;
let processes: { process_id: string; exe: string | null }[];

beforeAll(async () => {
  dir = tempDir("tl-perfetto-");
  const edge = join(dir, "edge.json");
  writeFileSync(edge, JSON.stringify(edgeTrace()));
  engine = await Engine.open({ threads: 2 });
  lake = await Lake.open(engine, join(dir, "lake"));
  for (const f of [
    "fixtures/chromium_startup.json.gz",
    "fixtures/node_trace.json.gz",
    "fixtures/span_edge_cases.json",
    "fixtures/edge_cases.json",
  ]) {
    await ingest(engine, lake, join(ROOT, f));
  }
  await ingest(engine, lake, edge);
  await lake.attach(engine, "read");
  processes = await engine.rows("SELECT process_id, exe FROM lake.processes ORDER BY insert_time");
  await lake.detach(engine);
}, 120_000);

afterAll(() => engine.close());

const FLAGS = { spans: "both", logs: true, counters: true, flows: true } as const;

/** Exports processes through the library into a file; returns its bytes, decoding and stats. */
async function exportTo(
  ids: string[],
  name: string,
  extra: Partial<PerfettoExportOptions> = {},
): Promise<{ file: string; d: Decoded; stats: PerfettoExportStats; chunks: Uint8Array[] }> {
  const opts: PerfettoExportOptions = {
    ...FLAGS,
    processes: ids.map((processId) => ({ processId, instanceKey: processId })),
    lakeRoot: lake.root,
    beginNs: null,
    endNs: null,
    chunkBytes: 8192,
    ...extra,
  };
  await prepareQuery(
    engine,
    lake,
    perfettoPrepareSql(
      ids,
      opts,
      (opts.flowProcesses ?? []).map((p) => p.processId),
    ),
  );
  const stats = emptyStats();
  const chunks: Uint8Array[] = [];
  for await (const c of perfettoChunks(engine, opts, stats)) chunks.push(c);
  const file = join(dir, `${name}.pftrace`);
  writeFileSync(file, Buffer.concat(chunks));
  return { file, d: decodeTrace(readFileSync(file)), stats, chunks };
}

/** The parts of pftrace-lint's JSON stats the tests read. */
interface LintStats {
  slices: {
    complete: { total?: number };
    misplaced_end: { total: number };
    depth_dropped: { total: number };
    unmatched_end: { total: number };
  };
  logs: { events: number };
  counters: { events: number };
}

/** pftrace-lint --strict --json on a file. */
function lint(file: string): { exit: number; errors: unknown[]; stats: LintStats } {
  const p = Bun.spawnSync([BUN, LINT, "--strict", "--json", file]);
  const j = JSON.parse(p.stdout.toString());
  return { exit: p.exitCode ?? -1, errors: j.errors, stats: j.stats };
}

const key = (tid: string | null, name: string | null): string => {
  const n = tid !== null && /^[0-9]+$/.test(tid) ? Number(tid) : 0;
  return n > 0 && n < 2 ** 30 ? `tid ${n}` : `name ${name ?? `thread ${tid}`}`;
};

/** Checks a decoded export of one process against its views, and lints it. */
async function checkAgainstViews(processId: string, name: string): Promise<void> {
  const { file, d, stats } = await exportTo([processId], name);
  const vi = (v: string) => `view_instance('${v}', '${processId}')`;
  // Thread spans, per thread: (name, begin, duration, args JSON) multisets.
  const spans = await engine.rows<{
    tid: string | null;
    tn: string | null;
    name: string | null;
    b: bigint;
    dur: bigint;
    args: string;
  }>(
    `SELECT tid_text AS tid, thread_name AS tn, name, epoch_ns("begin") AS b, duration AS dur,
       CASE WHEN properties IS NULL OR properties::VARCHAR IN ('{}', 'null') THEN '' ELSE properties::VARCHAR END AS args
     FROM ${vi("thread_spans")}`,
  );
  const want = new Map<string, string[]>();
  for (const s of spans) {
    const k = key(s.tid, s.tn);
    want.set(k, [...(want.get(k) ?? []), `${s.name ?? ""}|${s.b}|${s.dur}|${s.args}`]);
  }
  const got = new Map<string, string[]>();
  for (const s of d.slices) {
    const th = threadOf(d, s.track);
    if (!th) continue;
    const k = th.tid !== null && th.tid < 2 ** 30 ? `tid ${th.tid}` : `name ${th.name}`;
    got.set(k, [...(got.get(k) ?? []), `${s.name}|${s.ts}|${s.dur}|${s.args}`]);
  }
  for (const m of [want, got]) for (const v of m.values()) v.sort();
  expect(Object.fromEntries(got)).toEqual(Object.fromEntries(want));
  expect(stats.threadSlices).toBe(spans.length);
  // Async spans: one slice per begin row, complete when the span has an end row.
  const asy = await engine.rows<{ begins: bigint; ended: bigint; instants: bigint }>(
    `SELECT count(*) FILTER (event_type = 'begin') AS begins,
            count(*) FILTER (event_type = 'begin' AND anomaly IS NULL) AS ended,
            count(*) FILTER (event_type IN ('instant', 'step')) AS instants FROM ${vi("async_events")}`,
  );
  const asyncSlices = d.slices.filter((s) => !threadOf(d, s.track));
  expect(asyncSlices.length).toBe(Number(asy[0]?.begins));
  expect(asyncSlices.filter((s) => s.dur !== null).length).toBe(Number(asy[0]?.ended));
  expect(d.instants.filter((i) => !threadOf(d, i.track)).length).toBe(Number(asy[0]?.instants));
  // Counters: one value per measures row, one track per name.
  const m = await engine.rows<{ n: bigint; names: bigint }>(
    `SELECT count(*) AS n, count(DISTINCT name) AS names FROM ${vi("measures")}`,
  );
  expect(d.counters.length).toBe(Number(m[0]?.n));
  expect([...d.tracks.values()].filter((t) => t.kind === "counter").length).toBe(Number(m[0]?.names));
  // Logs: one LogMessage per log_entries row, on a thread track, with the message as body.
  const logs = await engine.rows<{ msg: string | null }>(`SELECT msg FROM ${vi("log_entries")}`);
  expect(d.logs.map((l) => l.body).sort()).toEqual(logs.map((l) => l.msg ?? "").sort());
  for (const l of d.logs) expect(threadOf(d, l.track)).not.toBeNull();
  // The first packet clears the incremental state and needs it (flags 3).
  expect(d.firstPacketFlags).toBe(3);
  // trace_processor's rules: no errors, and its slice/log/counter counts equal ours.
  const l = lint(file);
  expect(l.errors).toEqual([]);
  expect(l.exit).toBe(0);
  expect(l.stats.slices.complete.total ?? 0).toBe(d.slices.filter((s) => s.dur !== null).length);
  expect(l.stats.slices.misplaced_end.total).toBe(0);
  expect(l.stats.slices.depth_dropped.total).toBe(0);
  expect(l.stats.slices.unmatched_end.total).toBe(0);
  expect(l.stats.logs.events).toBe(logs.length);
  expect(l.stats.counters.events).toBe(Number(m[0]?.n));
}

describe("export perfetto: round trip against the views", () => {
  test("every process of the Chromium, Node and edge-case fixtures", async () => {
    for (const [k, p] of processes.entries()) await checkAgainstViews(p.process_id, `p${k}`);
  }, 600_000);

  test("overlapping X spans go to overlap child tracks of their thread; deep stacks stay ≤ 512", async () => {
    const p = processes.find((x) => x.exe?.startsWith("../../etc"));
    expect(p).toBeDefined();
    const { d, stats } = await exportTo([p?.process_id as string], "edge");
    const overlapTracks = [...d.tracks.values()].filter((t) => t.kind === "custom" && threadOf(d, t.uuid));
    expect(overlapTracks.length).toBeGreaterThan(0);
    expect(stats.overlapSlices).toBeGreaterThan(0);
    // Nothing improperly nested on any track: every slice lies within the one below it.
    const byTrack = new Map<string, { ts: bigint; end: bigint }[]>();
    for (const s of d.slices) {
      const list = byTrack.get(s.track) ?? [];
      list.push({ ts: s.ts, end: s.ts + (s.dur ?? 0n) });
      byTrack.set(s.track, list);
    }
    for (const list of byTrack.values()) {
      const stack: bigint[] = [];
      for (const s of list) {
        while (
          stack.length > 0 &&
          (stack[stack.length - 1] as bigint) <= s.ts &&
          !(s.end === s.ts && stack[stack.length - 1] === s.ts)
        )
          stack.pop();
        if (stack.length > 0) expect(s.end).toBeLessThanOrEqual(stack[stack.length - 1] as bigint);
        stack.push(s.end);
        expect(stack.length).toBeLessThanOrEqual(512);
      }
    }
    // Five overlapping async requests: five tracks named "req", reused by nothing overlapping.
    const req = [...d.tracks.values()].filter((t) => t.kind === "custom" && t.name === "req");
    expect(req.length).toBe(5);
    // The flow joins "send" and "recv".
    const send = d.slices.find((s) => s.name === "send");
    const recv = d.slices.find((s) => s.name === "recv");
    expect(send?.flows.length).toBe(1);
    expect(recv?.flows).toEqual(send?.flows as string[]);
  }, 60_000);

  test("flows of the Chromium trace are bound to slices (every flow event accounted for)", async () => {
    const ids = processes.filter((p) => p.exe === "Browser").map((p) => p.process_id);
    // Edges leaving the Browser live in the flows instances of the processes they arrive in:
    // the other processes of its ingest (as `tracelake export perfetto` passes them).
    await lake.attach(engine, "read");
    const mates = await engine.rows<{ p: string }>(
      `SELECT process_id AS p FROM lake.processes WHERE ingest_id = (SELECT ingest_id FROM lake.processes WHERE process_id = '${ids[0]}')`,
    );
    await lake.detach(engine);
    const flowProcesses = mates.map((m) => ({ processId: m.p, instanceKey: m.p }));
    const { d, stats } = await exportTo(ids, "browser", { flowProcesses });
    await lake.attach(engine, "read");
    await lake.detach(engine);
    const raw = await engine.rows<{ n: bigint }>(
      `SELECT count(*) AS n FROM read_parquet([${(
        await engine.rows<{ f: string }>(`SELECT file_path AS f FROM main.blocks WHERE process_id = '${ids[0]}'`)
      )
        .map((r) => `'${join(lake.root, r.f)}'`)
        .join(", ")}]) WHERE ph IN ('s', 't', 'f')`,
    );
    // Flow ids on slices and on instants (trace_processor binds a v1 flow event to the top of
    // its thread's slice stack, which is often an instant).
    const refs = d.slices.reduce((n, s) => n + s.flows.length, 0) + d.logs.reduce((n, l) => n + l.flows.length, 0);
    expect(refs).toBe(stats.flowPoints);
    expect(stats.flowPoints + stats.flowsUnbound).toBe(Number(raw[0]?.n));
    expect(stats.flowPoints).toBeGreaterThan(0.9 * Number(raw[0]?.n));
  }, 60_000);

  test("several processes in one trace, small chunks concatenate to one valid trace", async () => {
    const ids = processes.slice(0, 4).map((p) => p.process_id);
    const { file, d, chunks } = await exportTo(ids, "multi");
    expect(chunks.length).toBeGreaterThan(1);
    for (const c of chunks.slice(0, -1)) expect(c.length).toBeLessThan(8192 + 65536);
    expect([...d.tracks.values()].filter((t) => t.kind === "process").length).toBe(4);
    const pids = [...d.tracks.values()].filter((t) => t.kind === "process").map((t) => t.pid);
    expect(new Set(pids).size).toBe(4);
    expect(lint(file).errors).toEqual([]);
  }, 60_000);

  test("a time window keeps the spans overlapping it", async () => {
    const p = processes.find((x) => x.exe === "node") as { process_id: string };
    const vi = `view_instance('thread_spans', '${p.process_id}')`;
    await prepareQuery(engine, lake, perfettoPrepareSql([p.process_id], FLAGS));
    const r = await engine.rows<{ lo: bigint; hi: bigint }>(
      `SELECT epoch_ns(quantile_disc("begin", 0.3)) AS lo, epoch_ns(quantile_disc("begin", 0.6)) AS hi FROM ${vi}`,
    );
    const { lo, hi } = r[0] as { lo: bigint; hi: bigint };
    const want = await engine.rows<{ n: bigint }>(
      `SELECT count(*) AS n FROM ${vi} WHERE epoch_ns("end") >= ${lo} AND epoch_ns("begin") <= ${hi}`,
    );
    const { file, d } = await exportTo([p.process_id], "window", { beginNs: lo, endNs: hi, spans: "thread" });
    expect(d.slices.length).toBe(Number(want[0]?.n));
    expect(lint(file).errors).toEqual([]);
  }, 60_000);
});

describe("perfetto_trace_chunks in SQL", () => {
  test("chunks concatenated in chunk_id order are the same valid trace as the export", async () => {
    const p = processes.find((x) => x.exe === "node") as { process_id: string };
    const sql = `SELECT chunk_id, chunk_data FROM perfetto_trace_chunks('node', 'both', NULL, NULL) ORDER BY chunk_id`;
    await prepareQuery(engine, lake, sql);
    const rows = await engine.rows<{ chunk_id: number; chunk_data: Uint8Array }>(sql);
    expect(rows.map((r) => r.chunk_id)).toEqual(rows.map((_, i) => i));
    const file = join(dir, "sql.pftrace");
    writeFileSync(file, Buffer.concat(rows.map((r) => r.chunk_data)));
    const viaSql = decodeTrace(readFileSync(file));
    const { d } = await exportTo([p.process_id], "sql-ref");
    expect(viaSql.slices.length).toBe(d.slices.length);
    expect(viaSql.logs.length).toBe(d.logs.length);
    expect(lint(file).errors).toEqual([]);
    // A window as TIMESTAMP literals, and thread spans only.
    const r = await engine.rows<{ b: string }>(
      `SELECT strftime(make_timestamp_ns(epoch_ns(min("begin")) + (epoch_ns(max("end")) - epoch_ns(min("begin"))) // 2), '%Y-%m-%d %H:%M:%S.%n') AS b
       FROM view_instance('thread_spans', '${p.process_id}')`,
    );
    const half = `SELECT chunk_data FROM perfetto_trace_chunks('${p.process_id.slice(0, 8)}', 'thread', TIMESTAMP '${r[0]?.b}', NULL) ORDER BY chunk_id`;
    await prepareQuery(engine, lake, half);
    const part = decodeTrace(
      Buffer.concat((await engine.rows<{ chunk_data: Uint8Array }>(half)).map((x) => x.chunk_data)),
    );
    expect(part.slices.length).toBeGreaterThan(0);
    expect(part.slices.length).toBeLessThan(d.slices.filter((s) => threadOf(d, s.track)).length);
  }, 60_000);

  test("non-constant arguments and a bad span_types are clear errors", async () => {
    await expect(
      prepareQuery(engine, lake, "SELECT * FROM perfetto_trace_chunks((SELECT 'node'), 'both', NULL, NULL)"),
    ).rejects.toThrow("must be a constant");
    await expect(
      prepareQuery(engine, lake, "SELECT * FROM perfetto_trace_chunks('node', 'all', NULL, NULL)"),
    ).rejects.toThrow("span_types must be 'thread', 'async' or 'both'");
    await expect(
      prepareQuery(engine, lake, "CREATE TABLE t AS SELECT * FROM perfetto_trace_chunks('node', 'both', NULL, NULL)"),
    ).rejects.toThrow("SELECT statements only");
  });
});

describe("export perfetto: command", () => {
  let lakeDir: string;
  beforeAll(() => {
    lakeDir = tempDir("tl-perfetto-cli-");
    expect(cli(lakeDir, ["ingest", join(ROOT, "fixtures/chromium_startup.json.gz")]).code).toBe(0);
    writeFileSync(join(lakeDir, "..", "empty.json"), "");
  }, 60_000);

  test("-o FILE.pftrace.gz writes a gzip trace that lints clean", () => {
    const out = join(dir, "cli.pftrace.gz");
    const r = cli(lakeDir, ["export", "perfetto", "--process", "Browser", "-o", out]);
    expect(r.stderr).toContain("packets");
    expect(r.code).toBe(0);
    const bytes = readFileSync(out);
    expect([bytes[0], bytes[1]]).toEqual([0x1f, 0x8b]);
    expect(decodeTrace(bytes).slices.length).toBeGreaterThan(1000);
    expect(lint(out).errors).toEqual([]);
  }, 60_000);

  test("-o - writes the trace to stdout; a closed stdout ends cleanly with exit 0", () => {
    const r = Bun.spawnSync(
      [
        "bash",
        "-c",
        `"${BUN}" "${join(ROOT, "main.ts")}" --lake "${lakeDir}" export perfetto --all -o - | head -c 100 > /dev/null; echo "\${PIPESTATUS[0]}"`,
      ],
      { env: { ...process.env, NO_COLOR: "1" } },
    );
    expect(r.stdout.toString().trim()).toBe("0");
    expect(r.stderr.toString()).not.toContain("error");
    // The export stopped when head went away: no summary of a finished export (Bun's
    // process.stdout reported no EPIPE, so every packet was still produced and counted).
    expect(r.stderr.toString()).not.toContain("packets");
    const full = Bun.spawnSync([
      BUN,
      join(ROOT, "main.ts"),
      "--lake",
      lakeDir,
      "export",
      "perfetto",
      "--process",
      "GPU Process",
      "-o",
      "-",
    ]);
    expect(full.exitCode).toBe(0);
    expect(full.stdout[0]).toBe(0x0a);
    expect(decodeTrace(new Uint8Array(full.stdout)).slices.length).toBeGreaterThan(0);
  }, 60_000);

  test("an ambiguous or unknown --process is an error listing candidates, and writes no file", () => {
    const out = join(dir, "bad.pftrace");
    const amb = cli(lakeDir, ["export", "perfetto", "--process", "Renderer", "-o", out]);
    expect(amb.code).not.toBe(0);
    expect(amb.stderr).toContain("matches 4 processes");
    expect(amb.stderr).toContain("Renderer");
    const none = cli(lakeDir, ["export", "perfetto", "--process", "no-such-thing", "-o", out]);
    expect(none.code).not.toBe(0);
    expect(none.stderr).toContain("no process matches 'no-such-thing'");
    const noP = cli(lakeDir, ["export", "perfetto", "-o", out]);
    expect(noP.code).not.toBe(0);
    expect(noP.stderr).toContain("--process");
    const badSpans = cli(lakeDir, ["export", "perfetto", "--all", "--spans", "x", "-o", out]);
    expect(badSpans.code).not.toBe(0);
    const badTime = cli(lakeDir, ["export", "perfetto", "--all", "--begin", "yesterday-ish", "-o", out]);
    expect(badTime.code).not.toBe(0);
    expect(badTime.stderr).toContain("--begin");
    expect(() => readFileSync(out)).toThrow();
  }, 60_000);
});

describe("export perfetto: empty process", () => {
  test("a process with no events gives a valid trace with its process track only", async () => {
    const p = processes.find((x) => x.exe === "empty");
    expect(p).toBeDefined();
    const { file, d } = await exportTo([p?.process_id as string], "empty");
    expect(d.slices.length).toBe(0);
    expect([...d.tracks.values()].filter((t) => t.kind === "process").length).toBe(1);
    expect(d.counters.length + d.logs.length + d.instants.length).toBe(0);
    const l = lint(file);
    expect(l.errors).toEqual([]);
    expect(l.exit).toBe(0);
  }, 60_000);
});
