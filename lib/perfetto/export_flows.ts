/**
 * Flows of a Perfetto export: reads the flow events (Chrome v1 `s`/`t`/`f`, v2 `bind_id`, Perfetto
 * flow ids as imported) of a process from its raw blocks and binds each to the thread span or log
 * entry that carries it in the exported trace, as trace_processor binds them.
 */
import { join } from "node:path";
import { ChunkCursor } from "../duck/cursor.ts";
import type { Engine } from "../duck/engine.ts";
import { sqlString } from "../duck/engine.ts";
import { spanKey, vi, windowSql } from "./export_sql.ts";
import type { Ctx, FlowIds, FlowKind, FlowPoint, FlowV2, PerfettoExportOptions, ProcState } from "./export_state.ts";

/** A flow v1 event (`s`/`t`/`f`) of one stream: time (ns), binds to the next slice, id, phase. */
interface FlowV1 {
  stream_id: string;
  t: bigint;
  next: boolean;
  fid: bigint;
  ph: string;
}

const U64_MAX = (1n << 64n) - 1n;

const PH_V1 = ["s", "t", "f"];

/**
 * The flow v1 events (`s`/`t`/`f`) in the raw blocks `list` (SQL list of paths), by stream and
 * time. Read through a ChunkCursor (typed arrays; the stream's text decoded once per stream, by
 * its hash): a row-object read (engine.rows) cost 232 ms of CPU for the 17K flow events of the
 * Browser process of fixtures/chromium_startup.json.gz, the query itself 13 ms.
 */
async function loadFlowsV1(engine: Engine, list: string): Promise<FlowV1[]> {
  const out: FlowV1[] = [];
  const streams = new Map<number, string>();
  const cur = await ChunkCursor.open(
    engine,
    `SELECT (hash(stream_id) >> 11)::DOUBLE AS sk, epoch_ns(time) AS t,
            (ph = 'f' AND coalesce(bp, '') <> 'e')::TINYINT AS next, hash(id, cat, name) AS fid,
            (CASE ph WHEN 's' THEN 0 WHEN 't' THEN 1 ELSE 2 END)::TINYINT AS p, stream_id
     FROM (SELECT split_part(filename, '/', -2) AS stream_id, * FROM read_parquet([${list}], filename = true)
           WHERE ph IN ('s', 't', 'f'))
     ORDER BY stream_id, time`,
  );
  try {
    while (await cur.next()) {
      const skA = cur.num<Float64Array>(0);
      const tA = cur.num<BigInt64Array>(1);
      const nA = cur.num<Int8Array>(2);
      const fA = cur.num<BigInt64Array>(3) as unknown as BigUint64Array;
      const pA = cur.num<Int8Array>(4);
      for (let i = 0; i < cur.rowCount; i++) {
        const sk = skA[i] as number;
        let stream_id = streams.get(sk);
        if (stream_id === undefined) {
          stream_id = cur.text(5, i) ?? "";
          streams.set(sk, stream_id);
        }
        out.push({
          stream_id,
          t: tA[i] as bigint,
          next: nA[i] === 1,
          fid: fA[i] as bigint,
          ph: PH_V1[pA[i] as number] as string,
        });
      }
    }
  } finally {
    cur.close();
  }
  return out;
}

/**
 * A flow v2 id as a 64-bit flow id: a decimal or `0x` hex integer below 2^64 (Perfetto's
 * flow_ids as the importer stores them, Chrome's numeric `bind_id`) is itself, so ids survive
 * Perfetto → lake → Perfetto; any other text is `hashed` (DuckDB's hash of the text).
 */
function flowIdV2(text: string, hashed: bigint): bigint {
  if (/^(?:[0-9]{1,20}|0[xX][0-9a-fA-F]{1,16})$/.test(text)) {
    const v = BigInt(text);
    if (v <= U64_MAX) return v;
  }
  return hashed;
}

/** Texts of a JSON array of ids (`args.flow_ids` written by the Perfetto importer), or null. */
function idTexts(json: string | null): string[] | null {
  if (json === null) return null;
  try {
    const a: unknown = JSON.parse(json);
    if (!Array.isArray(a)) return null;
    return a.map((x) => String(x));
  } catch {
    return null;
  }
}

/**
 * Flow v2 events in the raw blocks `list` (SQL list of paths): events of the phases `phases`
 * (SQL list) with `bind_id` and `flow_out`/`flow_in` (Chrome JSON; Perfetto TrackEvent
 * flow_ids/terminating_flow_ids as the importer stores them), kept by `where` (SQL AND-clauses)
 * and sorted by `order` (SQL, after stream_id when `perStream`). As trace_processor
 * (reference/perfetto.md §5 "flow v2": out = begin, in = end, both = step), `flow_out` ids go
 * into flow_ids (a flow starts or continues there) and `flow_in`-only ids into
 * terminating_flow_ids. Several ids (Perfetto import): `args.flow_ids` and
 * `args.terminating_flow_ids`, when they start with `bind_id`. `chromeJson`: the events have
 * Chrome JSON semantics (their `kind`); otherwise they are Perfetto flow ids as imported (`P`).
 */
async function loadFlowsV2(
  engine: Engine,
  list: string,
  phases: string,
  where: string,
  order: string,
  chromeJson: boolean,
): Promise<FlowV2[]> {
  const rows = await engine.rows<{
    stream_id: string;
    t: bigint;
    k: bigint;
    bind_id: string;
    hid: bigint;
    fin: boolean;
    fout: boolean;
    many_out: string | null;
    many_in: string | null;
  }>(
    `SELECT split_part(filename, '/', -2) AS stream_id, epoch_ns(time) AS t, ${spanKey("name", "cat", "ph", "dur")} AS k,
            bind_id, hash(bind_id) AS hid, coalesce(flow_in, false) AS fin, coalesce(flow_out, false) AS fout,
            CASE WHEN contains(args::VARCHAR, '"flow_ids"') THEN json_extract(args, '$.flow_ids')::VARCHAR END AS many_out,
            CASE WHEN contains(args::VARCHAR, '"terminating_flow_ids"') THEN json_extract(args, '$.terminating_flow_ids')::VARCHAR END AS many_in
     FROM read_parquet([${list}], filename = true)
     WHERE bind_id IS NOT NULL AND ph IN (${phases}) AND (flow_in OR flow_out) ${where}
     ORDER BY ${order}`,
  );
  const out: FlowV2[] = [];
  for (const r of rows) {
    const id = flowIdV2(r.bind_id, r.hid);
    let ids: bigint[] = [];
    let term: bigint[] = [];
    const manyOut = idTexts(r.many_out);
    const manyIn = idTexts(r.many_in);
    if ((manyOut !== null || manyIn !== null) && (manyOut ?? manyIn ?? [])[0] === r.bind_id) {
      // The importer writes these as decimal texts; the first is bind_id, whose hash we have.
      const conv = (x: string): bigint => flowIdV2(x, r.hid);
      ids = (manyOut ?? []).map(conv);
      term = (manyIn ?? []).map(conv);
    } else if (r.fout) ids = [id];
    else term = [id];
    const kind: FlowKind =
      !chromeJson || ids.length + term.length !== 1 || manyOut !== null || manyIn !== null
        ? "P"
        : r.fout
          ? r.fin
            ? "S"
            : "B"
          : "E";
    out.push({ stream_id: r.stream_id, t: r.t, k: r.k, ids, term, kind });
  }
  return out;
}

/** Row ranges [from, to) of each stream_id in rows sorted by stream_id. */
function streamRanges(rows: readonly { stream_id: string }[]): Map<string, [number, number]> {
  const m = new Map<string, [number, number]>();
  for (let a = 0; a < rows.length; ) {
    const s = (rows[a] as { stream_id: string }).stream_id;
    let z = a;
    while (z < rows.length && (rows[z] as { stream_id: string }).stream_id === s) z++;
    m.set(s, [a, z]);
    a = z;
  }
  return m;
}

/**
 * Flow points of a process bound to its thread spans, as trace_processor binds them
 * (reference/perfetto.md §5). Flow v1 (Chrome's `s`/`t`/`f`): `s` and `t` bind to the enclosing
 * slice on their thread (the innermost span with begin ≤ t ≤ end), `f` to the enclosing slice
 * with `bp: "e"`, else to the next slice that begins on the thread at or after it; the flow id
 * is a 64-bit hash of (id, cat, name), Chrome's flow key. Flow v2 (`bind_id` with
 * `flow_out`/`flow_in` on a B or X event, see `loadFlowsV2`): on the span that event begins,
 * found by its thread, begin time, name, category, phase and X duration (spans alike in all of
 * these are taken in the order thread_spans takes their events). One linear pass over the spans
 * of the threads that have flow events (in the partition's begin order), with a stack of open
 * spans; memory: one entry per flow event of the process (not per span).
 */
export async function loadFlows(
  engine: Engine,
  ctx: Ctx,
  ps: ProcState,
  o: PerfettoExportOptions,
): Promise<Map<number, FlowIds>> {
  const map = new Map<number, FlowIds>();
  const files = await engine.rows<{ f: string }>(
    `SELECT b.file_path AS f FROM main.blocks b JOIN main.streams s USING (stream_id)
     WHERE b.process_id = $p AND list_contains(s.tags, 'cpu')`,
    { p: ps.p.processId },
  );
  if (files.length === 0) return map;
  const list = files.map((r) => sqlString(join(o.lakeRoot, r.f))).join(", ");
  const flows = await loadFlowsV1(engine, list);
  // Ordered as thread_spans takes a thread's events.
  const flowsV2 = await loadFlowsV2(
    engine,
    list,
    "'B', 'X'",
    o.endNs !== null ? `AND epoch_ns(time) <= ${o.endNs}` : "",
    "stream_id, time, (ph = 'X'), CASE WHEN ph = 'X' THEN -dur END, filename, seq",
    ps.chromeJson,
  );
  const entry = (span: number): FlowIds => {
    let e = map.get(span);
    if (!e) {
      e = { ids: [], term: [] };
      map.set(span, e);
    }
    return e;
  };
  const bind = (span: number, f: FlowV1): void => {
    const e = entry(span);
    (f.ph === "f" ? e.term : e.ids).push(f.fid);
    ctx.flowPoints.push({ t: f.t, id: f.fid, kind: f.ph === "s" ? "B" : f.ph === "t" ? "S" : "E", on: e });
  };
  const bindV2 = (span: number, g: FlowV2): void => {
    const e = entry(span);
    for (const x of g.ids) e.ids.push(x);
    for (const x of g.term) e.term.push(x);
    if (g.kind !== "P") ctx.flowPoints.push({ t: g.t, id: (g.ids[0] ?? g.term[0]) as bigint, kind: g.kind, on: e });
  };
  // With a time window, v2 events of spans outside it have no span here: not "unbound".
  const windowed = o.beginNs !== null || o.endNs !== null;
  const r1 = streamRanges(flows);
  const r2 = streamRanges(flowsV2);
  const streams = [...new Set([...r1.keys(), ...r2.keys()])].sort();
  for (const stream of streams) {
    // This stream's flows (by time) against its spans (by begin).
    const [a1, z1] = r1.get(stream) ?? [0, 0];
    const fs = flows.slice(a1, z1);
    const [a2, z2] = r2.get(stream) ?? [0, 0];
    const gs = flowsV2.slice(a2, z2);
    const used = new Uint8Array(gs.length);
    let j = 0;
    let g = 0;
    const stackEnd: bigint[] = [];
    const stackId: number[] = [];
    const enclose = (t: bigint): number => {
      while (stackEnd.length > 0 && (stackEnd[stackEnd.length - 1] as bigint) < t) {
        stackEnd.pop();
        stackId.pop();
      }
      return stackId.length > 0 ? (stackId[stackId.length - 1] as number) : -1;
    };
    const pendingNext: FlowV1[] = [];
    const cur = await ChunkCursor.open(
      engine,
      `SELECT epoch_ns("begin") AS b, epoch_ns("end") AS e, id,
         ${gs.length > 0 ? spanKey("name", "target", "phase", "duration") : "0::BIGINT"} AS k
       FROM ${vi("thread_spans", ps.p)}
       WHERE stream_id = $s ${windowSql(o, '"begin"', '"end"')}`,
      { s: stream },
    );
    try {
      while (await cur.next()) {
        const bA = cur.num<BigInt64Array>(0);
        const eA = cur.num<BigInt64Array>(1);
        const idA = cur.num<BigInt64Array>(2);
        const kA = cur.num<BigInt64Array>(3);
        for (let i = 0; i < cur.rowCount; i++) {
          const b = bA[i] as bigint;
          const id = Number(idA[i]);
          // Flow events before this span's begin: enclosing ones bind to the open stack.
          while (j < fs.length && (fs[j] as FlowV1).t < b) {
            const f = fs[j++] as FlowV1;
            if (f.next) pendingNext.push(f);
            else {
              const s = enclose(f.t);
              if (s >= 0) bind(s, f);
              else ctx.stats.flowsUnbound++;
            }
          }
          // "Next slice" flows at or before this begin bind to this span.
          while (j < fs.length && (fs[j] as FlowV1).t === b && (fs[j] as FlowV1).next) {
            pendingNext.push(fs[j++] as FlowV1);
          }
          for (const f of pendingNext) bind(id, f);
          pendingNext.length = 0;
          // Flow v2: this span's own begin event, among those at its begin time.
          if (g < gs.length) {
            for (; g < gs.length && (gs[g] as FlowV2).t < b; g++) {
              if (used[g] === 0 && !windowed) ctx.stats.flowsUnbound++;
            }
            const k = kA[i] as bigint;
            for (let q = g; q < gs.length && (gs[q] as FlowV2).t === b; q++) {
              if (used[q] === 0 && (gs[q] as FlowV2).k === k) {
                used[q] = 1;
                bindV2(id, gs[q] as FlowV2);
                break;
              }
            }
          }
          enclose(b);
          stackEnd.push(eA[i] as bigint);
          stackId.push(id);
        }
      }
    } finally {
      cur.close();
    }
    for (; j < fs.length; j++) {
      const f = fs[j] as FlowV1;
      if (f.next) ctx.stats.flowsUnbound++;
      else {
        const s = enclose(f.t);
        if (s >= 0) bind(s, f);
        else ctx.stats.flowsUnbound++;
      }
    }
    ctx.stats.flowsUnbound += pendingNext.length;
    for (; g < gs.length; g++) if (used[g] === 0 && !windowed) ctx.stats.flowsUnbound++;
  }
  return map;
}

/**
 * Flow v2 events of a process's log entries (instants `i`/`I`/`R` and log records `L` with
 * `bind_id`, e.g. Perfetto INSTANT events with flow ids), in time order, for `logSource`: on
 * the INSTANT their entry becomes (trace_processor makes a thread instant a 0-duration slice
 * and binds its flows to it). Memory: one entry per such event.
 */
export async function loadLogFlows(
  engine: Engine,
  ctx: Ctx,
  ps: ProcState,
  o: PerfettoExportOptions,
): Promise<FlowV2[]> {
  const files = await engine.rows<{ f: string }>(
    `SELECT b.file_path AS f FROM main.blocks b JOIN main.streams s USING (stream_id)
     WHERE b.process_id = $p AND list_contains(s.tags, 'log')`,
    { p: ps.p.processId },
  );
  if (files.length === 0) return [];
  const list = files.map((r) => sqlString(join(o.lakeRoot, r.f))).join(", ");
  let where = "";
  if (o.beginNs !== null) where += ` AND epoch_ns(time) >= ${o.beginNs}`;
  if (o.endNs !== null) where += ` AND epoch_ns(time) <= ${o.endNs}`;
  const flows = await loadFlowsV2(engine, list, "'i', 'I', 'R', 'L'", where, "time, filename, seq", ps.chromeJson);
  for (const g of flows) {
    if (g.kind !== "P") ctx.flowPoints.push({ t: g.t, id: (g.ids[0] ?? g.term[0]) as bigint, kind: g.kind, on: g });
  }
  return flows;
}

/** The `n`th extra flow id of flow `id` (n ≥ 1): a splitmix64 mix, distinct from real ids in practice. */
function edgeId(id: bigint, n: number): bigint {
  let z = (id + BigInt(n) * 0x9e3779b97f4a7c15n) & U64_MAX;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & U64_MAX;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & U64_MAX;
  return z ^ (z >> 31n);
}

/** Removes the first `x` of `a` (if any). */
function removeOne(a: bigint[], x: bigint): void {
  const i = a.indexOf(x);
  if (i >= 0) a.splice(i, 1);
}

/**
 * Rewrites the flow ids of the bound flow events `points` (of every exported process) so that
 * trace_processor, reading the exported TrackEvents, draws the edges it draws from the source
 * JSON. In the JSON importer (flow_tracker.cc) an end (`E`) draws an edge from the flow's slice
 * without closing the flow, so one slice can flow into several; a TrackEvent's
 * terminating_flow_ids close it, and its flow_ids end an active flow and begin it again. So the
 * first end after a flow's slice keeps the flow id; each further end, and a step after an end,
 * gets an extra id of its own (`edgeId`) added to the flow's slice's flow_ids, one per edge. A
 * begin while the flow is active and a step without a begin draw nothing in the JSON importer:
 * their flow_ids entry is dropped. Points are taken per flow id in time order (ties: in load
 * order). Mutates the `on` id lists; `P` points (Perfetto flow ids) are left as they are.
 */
export function encodeFlowEdges(points: FlowPoint[]): void {
  const order = points.map((_, i) => i);
  order.sort((a, b) => {
    const p = points[a] as FlowPoint;
    const q = points[b] as FlowPoint;
    if (p.id !== q.id) return p.id < q.id ? -1 : 1;
    if (p.t !== q.t) return p.t < q.t ? -1 : 1;
    return a - b;
  });
  let id = -1n;
  let src: FlowIds | null = null;
  let closed = false;
  let extra = 0;
  for (const i of order) {
    const p = points[i] as FlowPoint;
    if (p.id !== id) {
      id = p.id;
      src = null;
      closed = false;
      extra = 0;
    }
    if (p.kind === "B") {
      if (src !== null) removeOne(p.on.ids, id);
      else {
        src = p.on;
        closed = false;
      }
    } else if (p.kind === "S") {
      if (src === null) removeOne(p.on.ids, id);
      else {
        if (closed) {
          const y = edgeId(id, ++extra);
          src.ids.push(y);
          p.on.term.push(y);
        }
        src = p.on;
        closed = false;
      }
    } else if (p.kind === "E" && src !== null) {
      if (closed) {
        const y = edgeId(id, ++extra);
        src.ids.push(y);
        const k = p.on.term.indexOf(id);
        if (k >= 0) p.on.term[k] = y;
        else p.on.term.push(y);
      } else closed = true;
    }
  }
}
