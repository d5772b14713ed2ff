/**
 * The span sources of a Perfetto export: thread spans as slices on their thread track (and
 * overlap lanes for spans that cannot nest there), async spans on pooled child tracks of their
 * process, each read in time order from its view instance.
 */
import { ChunkCursor } from "../duck/cursor.ts";
import { type Engine, sqlString } from "../duck/engine.ts";
import { argsCol, key53, rel, vi, windowSql } from "./export_sql.ts";
import { type Ctx, type PerfettoExportOptions, type ProcState, SOURCE_RANK, type Source } from "./export_state.ts";
import { INSTANT, SLICE_BEGIN } from "./packets.ts";
import { bigintWords } from "./span_flows.ts";

/**
 * Deepest slice stack trace_processor keeps on a track (kMaxDepth = 512 in
 * src/trace_processor/importers/common/slice_tracker.h; reference/perfetto.md §3): deeper
 * spans go to an overlap lane, where they start a new stack.
 */
const MAX_DEPTH = 512;

/**
 * Thread spans of a process's threads, in begin order, each on its thread's track or one of
 * that thread's overlap lanes: one query for all the threads (a query per thread scanned the
 * whole partition once per thread: 117 scans for the sample's --all export).
 * @param threads the process's cpu streams as threadStreams gives them: [stream_id, thread
 *   track uuid, label]; not empty.
 * @throws Error from DuckDB, or when the rows are not in begin order.
 */
export async function threadSpansSource(
  engine: Engine,
  ctx: Ctx,
  ps: ProcState,
  threads: [string, number, string][],
  base: bigint,
  o: PerfettoExportOptions,
): Promise<Source> {
  // sx: the row's index in `threads`. Within a thread, (begin, depth, end) is the order the
  // slices nest in: at an equal begin the parent (smaller depth) first, and of two siblings the
  // zero-length one, which ends where the other begins. The partition is written in that order
  // (lib/views/thread_spans.ts: begin, stream_id, depth, end, span number; `threads` is in stream_id
  // order), so the rows stream from it unsorted: an ORDER BY here made DuckDB hold every
  // process's sorted slices at once (the merge below opens all sources first), 40% of the time
  // and ~90 MB of an --all export of the real 33.5 MB protobuf trace. The order is checked
  // (outOfOrder). Stream ids are ids tracelake made.
  const ids = `[${threads.map(([streamId]) => sqlString(streamId)).join(", ")}]`;
  const cur = await ChunkCursor.start(
    engine,
    `SELECT ${rel('"begin"', base)} AS b, ${rel('"end"', base)} AS e, ${key53("name")} AS nk, ${key53("target")} AS ck,
       (coalesce(anomaly, '') = 'overlap')::TINYINT AS ov, id, name, target, ${argsCol("properties", ctx.args)} AS args,
       (list_position(${ids}, stream_id) - 1)::DOUBLE AS sx
     FROM ${vi("thread_spans", ps.p)} WHERE list_contains(${ids}, stream_id) ${windowSql(o, '"begin"', '"end"')}`,
  );
  const tw = ctx.tw;
  const stats = ctx.stats;
  const flows = ps.flows;
  const flowLists = ps.flowLists;
  const hasFlows = flows.size > 0;
  // Per thread, lanes: 0 = the thread track; 1.. = overlap child tracks. Each lane is a stack of
  // end times.
  const laneUuid: number[][] = threads.map(([, uuid]) => [uuid]);
  const laneStack: number[][][] = threads.map(() => [[]]);
  let i = 0;
  let bA: Float64Array = new Float64Array(0);
  let eA = bA;
  let nkA = bA;
  let ckA = bA;
  /** The span ids' 32-bit words (span_flows.ts bigintWords). */
  let idW: Int32Array = new Int32Array(0);
  let sxA = bA;
  let ovA: Int8Array = new Int8Array(0);
  let last = Number.NEGATIVE_INFINITY;
  const fits = (stack: number[], b: number, e: number): boolean => {
    while (stack.length > 0 && (stack[stack.length - 1] as number) <= b) stack.pop();
    if (stack.length >= MAX_DEPTH) return false;
    return stack.length === 0 || (stack[stack.length - 1] as number) >= e;
  };
  const src: Source = {
    t: Number.POSITIVE_INFINITY,
    rank: SOURCE_RANK.threadSpans,
    step(): boolean {
      const b = bA[i] as number;
      const e = eA[i] as number;
      const sx = sxA[i] as number;
      const uuids = laneUuid[sx] as number[];
      const stacks = laneStack[sx] as number[][];
      let lane = -1;
      const overlap = ovA[i] === 1;
      if (!overlap && fits(stacks[0] as number[], b, e)) lane = 0;
      else {
        for (let k = 1; k < uuids.length; k++) {
          if (fits(stacks[k] as number[], b, e)) {
            lane = k;
            break;
          }
        }
        if (lane < 0) {
          lane = uuids.length;
          const u = ctx.uuid();
          const [, threadUuid, label] = threads[sx] as [string, number, string];
          tw.childTrack(b, u, threadUuid, `${label} (overlapping)`);
          uuids.push(u);
          stacks.push([]);
        }
        stats.overlapSlices++;
      }
      (stacks[lane] as number[]).push(e);
      const track = uuids[lane] as number;
      const row = i;
      const nameIid = ctx.name(nkA[row] as number, cur, 6, row);
      const catIid = ctx.category(ckA[row] as number, cur, 7, row);
      const args = ctx.args && cur.textBytes(8, row) ? ctx.ref(cur) : null;
      let fe = -1;
      if (hasFlows) {
        fe = flows.get(idW[2 * row] as number, idW[2 * row + 1] as number);
        if (fe >= 0) {
          const n = flowLists.count(fe);
          stats.flowPoints += n;
          if (n === 0) fe = -1;
        }
      }
      tw.slice(SLICE_BEGIN, b, track, nameIid, catIid, args, fe >= 0 ? flowLists : null, fe);
      ctx.ends.push(e, track);
      stats.threadSlices++;
      i++;
      if (i < cur.rowCount) {
        const nb = bA[i] as number;
        if (nb < b) throw outOfOrder("thread_spans", ps, nb, b);
        src.t = nb;
        return true;
      }
      last = b;
      return false;
    },
    async refill(): Promise<void> {
      i = 0;
      if (!(await cur.next())) {
        src.t = Number.POSITIVE_INFINITY;
        return;
      }
      bA = cur.num<Float64Array>(0);
      eA = cur.num<Float64Array>(1);
      nkA = cur.num<Float64Array>(2);
      ckA = cur.num<Float64Array>(3);
      ovA = cur.num<Int8Array>(4);
      idW = bigintWords(cur.num<BigInt64Array>(5));
      sxA = cur.num<Float64Array>(9);
      const t = bA[0] as number;
      if (t < last) throw outOfOrder("thread_spans", ps, t, last);
      src.t = t;
    },
    close: () => cur.close(),
  };
  return src;
}

/** The error for a view whose rows are not in time order (an old partition). */
export function outOfOrder(view: string, ps: ProcState, t: number, prev: number): Error {
  return new Error(
    `${view} of process ${ps.p.processId} is not in time order (${t} ns after ${prev} ns from the export's base); run 'tracelake materialize --process ${ps.p.processId}' and retry`,
  );
}

const EV_BEGIN = 0;
const EV_END = 1;
const EV_INSTANT = 2;
const EV_STEP = 3;

/** Async events of a process in time order; each open span on its own pooled child track. */
export async function asyncSource(
  engine: Engine,
  ctx: Ctx,
  ps: ProcState,
  base: bigint,
  o: PerfettoExportOptions,
): Promise<Source> {
  const v = vi("async_events", ps.p);
  let where = "";
  if (o.beginNs !== null || o.endNs !== null) {
    // Spans overlapping the window (an unclosed span runs to the end of the trace).
    where = `WHERE span_id IN (SELECT span_id FROM ${v} GROUP BY span_id HAVING true
      ${o.endNs !== null ? `AND min(epoch_ns(time)) <= ${o.endNs}` : ""}
      ${o.beginNs !== null ? `AND (max(epoch_ns(time)) >= ${o.beginNs} OR bool_or(anomaly = 'unclosed'))` : ""})`;
  }
  const cur = await ChunkCursor.start(
    engine,
    `SELECT ${rel("time", base)} AS t,
       (CASE event_type WHEN 'begin' THEN ${EV_BEGIN} WHEN 'end' THEN ${EV_END} WHEN 'instant' THEN ${EV_INSTANT} ELSE ${EV_STEP} END)::TINYINT AS k,
       span_id::DOUBLE AS span, parent_span_id::DOUBLE AS parent, ${key53("name")} AS nk, ${key53("target")} AS ck,
       (coalesce(anomaly, '') = 'unclosed')::TINYINT AS unclosed, name, target, ${argsCol("properties", ctx.args)} AS args
     FROM ${v} ${where}`,
  );
  const tw = ctx.tw;
  const stats = ctx.stats;
  /** Free lanes by group (span name key). */
  const free = new Map<number, number[]>();
  const laneGroup = new Map<number, number>();
  const open = new Map<number, number>();
  const lane = (nk: number, row: number, t: number): number => {
    let pool = free.get(nk);
    if (!pool) {
      pool = [];
      free.set(nk, pool);
    }
    const u = pool.pop();
    if (u !== undefined) return u;
    const n = ctx.uuid();
    tw.childTrack(t, n, ps.uuid, cur.text(7, row) ?? "async");
    laneGroup.set(n, nk);
    return n;
  };
  const release = (u: number): void => {
    (free.get(laneGroup.get(u) as number) as number[]).push(u);
  };
  let i = 0;
  let tA: Float64Array = new Float64Array(0);
  let spanA = tA;
  let parentA = tA;
  let nkA = tA;
  let ckA = tA;
  let kA: Int8Array = new Int8Array(0);
  let unA = kA;
  let last = Number.NEGATIVE_INFINITY;
  const src: Source = {
    t: Number.POSITIVE_INFINITY,
    rank: SOURCE_RANK.asyncSpans,
    step(): boolean {
      const row = i;
      const t = tA[row] as number;
      const k = kA[row] as number;
      const span = spanA[row] as number;
      const nk = nkA[row] as number;
      if (k === EV_END) {
        const u = open.get(span);
        if (u === undefined) stats.asyncSkipped++;
        else {
          tw.sliceEnd(t, u);
          open.delete(span);
          release(u);
        }
      } else {
        const nameIid = ctx.name(nk, cur, 7, row);
        const catIid = ctx.category(ckA[row] as number, cur, 8, row);
        const args = ctx.args && cur.textBytes(9, row) ? ctx.ref(cur) : null;
        if (k === EV_BEGIN) {
          const u = lane(nk, row, t);
          tw.slice(SLICE_BEGIN, t, u, nameIid, catIid, args, null, -1);
          stats.asyncSlices++;
          if (unA[row] === 1) stats.asyncUnclosed++;
          open.set(span, u);
        } else {
          // Instant: on its parent span's track; step: on its span's track; else a free lane.
          const owner = open.get(k === EV_INSTANT ? (parentA[row] as number) : span);
          let u = owner;
          if (u === undefined) {
            u = lane(nk, row, t);
            release(u);
          }
          tw.slice(INSTANT, t, u, nameIid, catIid, args, null, -1);
          stats.asyncInstants++;
        }
      }
      i++;
      if (i < cur.rowCount) {
        const nt = tA[i] as number;
        if (nt < t) throw outOfOrder("async_events", ps, nt, t);
        src.t = nt;
        return true;
      }
      last = t;
      return false;
    },
    async refill(): Promise<void> {
      i = 0;
      if (!(await cur.next())) {
        src.t = Number.POSITIVE_INFINITY;
        return;
      }
      tA = cur.num<Float64Array>(0);
      kA = cur.num<Int8Array>(1);
      spanA = cur.num<Float64Array>(2);
      parentA = cur.num<Float64Array>(3);
      nkA = cur.num<Float64Array>(4);
      ckA = cur.num<Float64Array>(5);
      unA = cur.num<Int8Array>(6);
      const t = tA[0] as number;
      if (t < last) throw outOfOrder("async_events", ps, t, last);
      src.t = t;
    },
    close: () => cur.close(),
  };
  return src;
}
