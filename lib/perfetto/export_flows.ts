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
import { bigintWords, type FlowIds, InstantFlowMap } from "./span_flows.ts";

const U64_MAX = (1n << 64n) - 1n;

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
 * Reads the `flows` rows that touch the exported processes `procs` (from the instances of
 * `o.flowProcesses`, default `o.processes`) and fills each process's `flows` (flow ids by
 * thread span id) and `logFlows` (by instant, in time order). Ends on slice ENDs (Perfetto
 * SLICE_END flow ids) are not exported.
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
export async function loadFlows(engine: Engine, ctx: Ctx, procs: ProcState[], o: PerfettoExportOptions): Promise<void> {
  if (procs.length === 0) return;
  const from = (o.flowProcesses ?? o.processes).map((p) => `SELECT * FROM ${vi("flows", p)}`).join(" UNION ALL ");
  const cur = await ChunkCursor.open(
    engine,
    `SELECT flow_id, version::TINYINT, ${endSql("out")}, ${endSql("in")}, coalesce(in_step, false)::TINYINT
     FROM (${from})
     WHERE list_contains($procs::JSON::VARCHAR[], out_process_id) OR list_contains($procs::JSON::VARCHAR[], in_process_id)
     ORDER BY flow_id, version, time, out_time, in_id, out_id`,
    { procs: JSON.stringify(procs.map((p) => p.p.processId)) },
  );
  const instants = procs.map(() => new InstantFlowMap());
  const sink: FlowIds = { ids: [], term: [] };
  /**
   * The FlowIds of an end, or `sink` for an end that is not exported: its process index, kind,
   * span id and for an instant its key and time, from the end's vectors `e` at row i.
   */
  const ids = (pi: number, kind: number, e: EndColumns, i: number): FlowIds => {
    const ps = procs[pi - 1];
    if (ps === undefined || kind === E_NONE) return sink;
    if (kind === E_SPAN_END) {
      ctx.stats.flowsUnbound++;
      return sink;
    }
    if (kind === E_SPAN) return ps.flows.add(e.id[2 * i] as number, e.id[2 * i + 1] as number);
    return (instants[pi - 1] as InstantFlowMap).add(e.tW, e.keyW, e.t, e.key, i);
  };
  // The current flow (id and version) and, for Chrome JSON, its state as trace_processor will
  // read it from the export: its current slice, whether it was closed, the extra ids drawn.
  let flow = -1n;
  let version = -1;
  let current: FlowIds | null = null;
  let closed = false;
  let extra = 0;
  try {
    while (await cur.next()) {
      const fA = cur.num<BigUint64Array>(0);
      const vA = cur.num<Int8Array>(1);
      const col = (k: number): EndColumns => {
        const key = cur.num<BigInt64Array>(k + 3);
        const t = cur.num<BigInt64Array>(k + 4);
        return {
          p: cur.num<Int32Array>(k),
          kind: cur.num<Int8Array>(k + 1),
          id: bigintWords(cur.num<BigInt64Array>(k + 2)),
          key,
          keyW: bigintWords(key),
          t,
          tW: bigintWords(t),
        };
      };
      const out = col(2);
      const inn = col(7);
      const stepA = cur.num<Int8Array>(12);
      for (let i = 0; i < cur.rowCount; i++) {
        const f = fA[i] as bigint;
        const v = vA[i] as number;
        if (f !== flow || v !== version) {
          flow = f;
          version = v;
          current = null;
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
          if (ok !== E_NONE) addOnce(src.ids, f);
          if (ik !== E_NONE) addOnce(step ? dst.ids : dst.term, f);
          continue;
        }
        if (ok === E_NONE || ik === E_NONE) {
          if ((ok === E_NONE ? ip : op) !== 0) ctx.stats.flowsUnbound++;
          continue;
        }
        if (current === null) {
          // The flow's first edge: it begins on its source.
          src.ids.push(f);
          current = src;
          closed = false;
        }
        if (current === src && !closed) {
          if (step) {
            dst.ids.push(f);
            current = dst;
          } else {
            dst.term.push(f);
            closed = true;
          }
          continue;
        }
        // The edge leaves a slice that is no longer (or not) the flow's live one: an id of its own.
        const y = edgeId(f, ++extra);
        src.ids.push(y);
        dst.term.push(y);
        if (step && closed) {
          // The flow continues from here: it begins again on this slice.
          dst.ids.push(f);
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
 * One end's vectors of a chunk (endSql's columns): process index, kind, span id (as
 * bigintWords), instant key and time (as vectors and words).
 */
interface EndColumns {
  p: Int32Array;
  kind: Int8Array;
  id: Int32Array;
  key: BigInt64Array;
  keyW: Int32Array;
  t: BigInt64Array;
  tW: Int32Array;
}

/** Appends `x` to `a` unless it is there. */
function addOnce(a: bigint[], x: bigint): void {
  if (!a.includes(x)) a.push(x);
}

/** The `n`th extra flow id of flow `id` (n ≥ 1): a splitmix64 mix, distinct from real ids in practice. */
function edgeId(id: bigint, n: number): bigint {
  let z = (id + BigInt(n) * 0x9e3779b97f4a7c15n) & U64_MAX;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & U64_MAX;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & U64_MAX;
  return z ^ (z >> 31n);
}
