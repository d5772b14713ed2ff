/**
 * Flows of a Perfetto export: reads the flow edges of the exported processes from the `flows`
 * view (lib/views/flows.ts, which binds them as trace_processor does) and puts flow ids on the
 * thread slices and instants they join, so that trace_processor, reading the exported
 * TrackEvents, draws the same edges.
 */
import { ChunkCursor } from "../duck/cursor.ts";
import type { Engine } from "../duck/engine.ts";
import { instantKey, vi } from "./export_sql.ts";
import type { Ctx, PerfettoExportOptions, ProcState } from "./export_state.ts";
import { bigintWords, FLOW_IDS, InstantFlowMap, TERMINATING_FLOW_IDS } from "./span_flows.ts";

const U64_MAX = (1n << 64n) - 1n;
const TWO32 = 4294967296;

/** The handle of an end that is not exported (`loadFlows`), and of no current slice. */
const SINK = -1;
const NONE = -2;

/** An extra flow id (`edgeId`) and its two words. */
const EDGE = new BigUint64Array(1);
const EDGE_W = new Int32Array(EDGE.buffer);

/** End kinds as the query codes them. */
const E_SPAN = 0;
const E_SPAN_END = 1;
const E_INSTANT = 2;
const E_NONE = 3;

/** One end's columns: process index in `procs` (1 based; 0 = not exported), kind, span id, instant key, time. */
const endSql = (e: "out" | "in") =>
  `coalesce(list_position($procs::JSON::VARCHAR[], ${e}_process_id), 0)::INTEGER,
   (CASE ${e}_kind WHEN 'span' THEN ${E_SPAN} WHEN 'span_end' THEN ${E_SPAN_END} WHEN 'instant' THEN ${E_INSTANT} ELSE ${E_NONE} END)::TINYINT,
   coalesce(${e}_id, -1)::BIGINT,
   CASE WHEN ${e}_kind = 'instant' THEN ${instantKey(`${e}_name`, `${e}_tid`)} ELSE 0 END::BIGINT,
   coalesce(epoch_ns(${e}_time), 0)::BIGINT`;

/**
 * Starts the query of the `flows` rows that touch the exported processes `o.processes` (from
 * the instances of `o.flowProcesses`, default `o.processes`), in the order loadFlows reads
 * them; null when no process is exported. It sorts every such edge before its first row: the
 * export starts it before its other preparations.
 */
export async function startFlows(engine: Engine, o: PerfettoExportOptions): Promise<ChunkCursor | null> {
  if (o.processes.length === 0) return null;
  const from = (o.flowProcesses ?? o.processes).map((p) => `SELECT * FROM ${vi("flows", p)}`).join(" UNION ALL ");
  return ChunkCursor.start(
    engine,
    `SELECT flow_id, version::TINYINT, ${endSql("out")}, ${endSql("in")}, coalesce(in_step, false)::TINYINT
     FROM (${from})
     WHERE list_contains($procs::JSON::VARCHAR[], out_process_id) OR list_contains($procs::JSON::VARCHAR[], in_process_id)
     ORDER BY flow_id, version, time, out_time, in_id, out_id`,
    { procs: JSON.stringify(o.processes.map((p) => p.processId)) },
  );
}

/**
 * Reads the rows of `cur` (startFlows, for the processes `procs` describes, in the same order),
 * fills each process's `flows` (flow ids by thread span id) and `logFlows` (by instant, in time
 * order), and closes `cur`. Ends on slice ENDs (Perfetto SLICE_END flow ids) are not exported.
 *
 * Flow ids: Perfetto-imported processes keep their flow ids in their roles (out end and a step:
 * flow_ids; an end: terminating_flow_ids), loose ends included, so a trace comes back with the
 * ids it had. Chrome JSON processes get the edges of the view re-encoded for TrackEvent, where
 * terminating_flow_ids closes a flow while trace_processor's JSON importer ends a flow without
 * closing it (one slice can flow into several): per flow, in arrival order, the first edges
 * from the flow's current slice keep the flow id, and each further edge from a slice that is no
 * longer (or not yet) the flow's current one gets an id of its own (`edgeId`) on its source's
 * flow_ids and its target's terminating_flow_ids. Their loose ends draw nothing and are not
 * written. Memory: one entry per flow end of the exported processes.
 * @throws Error from DuckDB.
 */
export async function loadFlows(cur: ChunkCursor, ctx: Ctx, procs: ProcState[]): Promise<void> {
  const instants = procs.map((ps) => new InstantFlowMap(ps.flowLists));
  /**
   * An end's handle: process index (1 based) * 2^32 + its FlowLists entry, or SINK for an end
   * that is not exported (its ids are dropped), from its process index, kind, span id and for
   * an instant its key and time, in the end's vectors `e` at row i.
   */
  const ids = (pi: number, kind: number, e: EndColumns, i: number): number => {
    const ps = procs[pi - 1];
    if (ps === undefined || kind === E_NONE) return SINK;
    if (kind === E_SPAN_END) {
      ctx.stats.flowsUnbound++;
      return SINK;
    }
    if (kind === E_SPAN) return pi * TWO32 + ps.flows.add(e.id[2 * i] as number, e.id[2 * i + 1] as number);
    return pi * TWO32 + (instants[pi - 1] as InstantFlowMap).add(e.tW, e.keyW, i);
  };
  /** Appends the id (lo, hi) to list `l` of the end `h` (nothing for SINK); `once`: unless there. */
  const push = (h: number, l: number, lo: number, hi: number, once: boolean): void => {
    if (h === SINK) return;
    const pi = Math.floor(h / TWO32);
    const lists = (procs[pi - 1] as ProcState).flowLists;
    if (once) lists.pushOnce(h - pi * TWO32, l, lo, hi);
    else lists.push(h - pi * TWO32, l, lo, hi);
  };
  // The current flow (id words and version) and, for Chrome JSON, its state as trace_processor
  // will read it from the export: its current slice (an end handle, NONE before the flow's first
  // edge), whether it was closed, the extra ids drawn.
  let flowLo = 0;
  let flowHi = 0;
  let version = -1;
  let current = NONE;
  let closed = false;
  let extra = 0;
  try {
    while (await cur.next()) {
      const fA = cur.num<BigUint64Array>(0);
      const fW = bigintWords(fA);
      const vA = cur.num<Int8Array>(1);
      const col = (k: number): EndColumns => ({
        p: cur.num<Int32Array>(k),
        kind: cur.num<Int8Array>(k + 1),
        id: bigintWords(cur.num<BigInt64Array>(k + 2)),
        keyW: bigintWords(cur.num<BigInt64Array>(k + 3)),
        tW: bigintWords(cur.num<BigInt64Array>(k + 4)),
      });
      const out = col(2);
      const inn = col(7);
      const stepA = cur.num<Int8Array>(12);
      for (let i = 0; i < cur.rowCount; i++) {
        const fLo = fW[2 * i] as number;
        const fHi = fW[2 * i + 1] as number;
        const v = vA[i] as number;
        if (fLo !== flowLo || fHi !== flowHi || v !== version) {
          flowLo = fLo;
          flowHi = fHi;
          version = v;
          current = NONE;
          closed = false;
          extra = 0;
        }
        const op = out.p[i] as number;
        const ip = inn.p[i] as number;
        const ok = out.kind[i] as number;
        const ik = inn.kind[i] as number;
        const src = ids(op, ok, out, i);
        const dst = ids(ip, ik, inn, i);
        const step = stepA[i] === 1;
        const json = (procs[(ip || op) - 1] as ProcState).chromeJson;
        if (!json) {
          // Perfetto flow ids, in their roles.
          if (ok !== E_NONE) push(src, FLOW_IDS, fLo, fHi, true);
          if (ik !== E_NONE) push(dst, step ? FLOW_IDS : TERMINATING_FLOW_IDS, fLo, fHi, true);
          continue;
        }
        if (ok === E_NONE || ik === E_NONE) {
          if ((ok === E_NONE ? ip : op) !== 0) ctx.stats.flowsUnbound++;
          continue;
        }
        if (current === NONE) {
          // The flow's first edge: it begins on its source.
          push(src, FLOW_IDS, fLo, fHi, false);
          current = src;
          closed = false;
        }
        if (current === src && !closed) {
          if (step) {
            push(dst, FLOW_IDS, fLo, fHi, false);
            current = dst;
          } else {
            push(dst, TERMINATING_FLOW_IDS, fLo, fHi, false);
            closed = true;
          }
          continue;
        }
        // The edge leaves a slice that is no longer (or not) the flow's live one: an id of its own.
        EDGE[0] = edgeId(fA[i] as bigint, ++extra);
        push(src, FLOW_IDS, EDGE_W[0] as number, EDGE_W[1] as number, false);
        push(dst, TERMINATING_FLOW_IDS, EDGE_W[0] as number, EDGE_W[1] as number, false);
        if (step && closed) {
          // The flow continues from here: it begins again on this slice.
          push(dst, FLOW_IDS, fLo, fHi, false);
          current = dst;
          closed = false;
        }
      }
    }
  } finally {
    cur.close();
  }
  procs.forEach((ps, i) => {
    ps.logFlows = (instants[i] as InstantFlowMap).inTimeOrder();
  });
}

/**
 * One end's vectors of a chunk (endSql's columns): process index, kind, and the span id,
 * instant key and time as bigintWords.
 */
interface EndColumns {
  p: Int32Array;
  kind: Int8Array;
  id: Int32Array;
  keyW: Int32Array;
  tW: Int32Array;
}

/** The `n`th extra flow id of flow `id` (n ≥ 1): a splitmix64 mix, distinct from real ids in practice. */
function edgeId(id: bigint, n: number): bigint {
  let z = (id + BigInt(n) * 0x9e3779b97f4a7c15n) & U64_MAX;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & U64_MAX;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & U64_MAX;
  return z ^ (z >> 31n);
}
