/**
 * The event sources of a Perfetto export: measures as counter values on one counter track per
 * name, log entries as INSTANTs with a LogMessage on their thread's track (with their flow v2
 * points), each read in time order from its view instance.
 */
import { ChunkCursor } from "../duck/cursor.ts";
import type { Engine } from "../duck/engine.ts";
import { outOfOrder } from "./export_spans.ts";
import { argsCol, instantKey, key53, rel, vi, windowSql } from "./export_sql.ts";
import { type Ctx, type PerfettoExportOptions, type ProcState, SOURCE_RANK, type Source } from "./export_state.ts";
import { threadTrack } from "./export_tracks.ts";
import type { LogPriority } from "./packets.ts";
import { bigintWords } from "./span_flows.ts";

/**
 * A time-ordered source of rank `rank` over a query of a view instance (its first column t),
 * calling `row(i)` per row. `view` names the process's instance (`log_entries`, `measures`): when
 * it reads in time order (ExportProcess.inTimeOrder), `sql` is taken as it is and the order is
 * checked; otherwise `ORDER BY time` is added.
 * @throws Error (from refill or step) when the unsorted rows are not in time order.
 */
async function simpleSource(
  engine: Engine,
  ps: ProcState,
  view: string,
  sql: string,
  rank: number,
  row: (cur: ChunkCursor, i: number, t: number) => void,
): Promise<Source> {
  const ordered = ps.p.inTimeOrder?.has(view) ?? false;
  const cur = await ChunkCursor.start(engine, ordered ? sql : `${sql} ORDER BY time`);
  let i = 0;
  let tA: Float64Array = new Float64Array(0);
  let last = Number.NEGATIVE_INFINITY;
  const src: Source = {
    t: Number.POSITIVE_INFINITY,
    rank,
    step(): boolean {
      row(cur, i, tA[i] as number);
      i++;
      if (i < cur.rowCount) {
        const t = tA[i] as number;
        if (t < src.t) throw outOfOrder(view, ps, t, src.t);
        src.t = t;
        return true;
      }
      last = src.t;
      return false;
    },
    async refill(): Promise<void> {
      i = 0;
      if (!(await cur.next())) {
        src.t = Number.POSITIVE_INFINITY;
        return;
      }
      tA = cur.num<Float64Array>(0);
      const t = tA[0] as number;
      if (t < last) throw outOfOrder(view, ps, t, last);
      src.t = t;
    },
    close: () => cur.close(),
  };
  return src;
}

/** Measures: one counter track per name under the process. */
export async function counterSource(
  engine: Engine,
  ctx: Ctx,
  ps: ProcState,
  base: bigint,
  o: PerfettoExportOptions,
): Promise<Source> {
  const tracks = new Map<string, number>();
  return simpleSource(
    engine,
    ps,
    "measures",
    `SELECT ${rel("time", base)} AS t, value, name, unit FROM ${vi("measures", ps.p)}
     WHERE true ${windowSql(o, "time", "time")}`,
    SOURCE_RANK.counters,
    (cur, i, t) => {
      const name = cur.text(2, i) ?? "";
      let u = tracks.get(name);
      if (u === undefined) {
        u = ctx.uuid();
        ctx.tw.counterTrack(t, u, ps.uuid, name || "counter", cur.text(3, i));
        tracks.set(name, u);
      }
      ctx.tw.counter(t, u, (cur.num<Float64Array>(1)[i] as number) ?? 0);
      ctx.stats.counters++;
    },
  );
}

/** micromegas levels (1 fatal … 6 trace) → LogMessage.Priority. */
const PRIO: Record<number, LogPriority> = { 1: 7, 2: 6, 3: 5, 4: 4, 5: 3, 6: 2 };

/** Log entries: INSTANT + LogMessage on their thread's track (a thread track is made if needed). */
export async function logSource(
  engine: Engine,
  ctx: Ctx,
  ps: ProcState,
  base: bigint,
  o: PerfettoExportOptions,
): Promise<Source> {
  // Flow ids of the entries' instants (the flows view's instant ends), matched in the one
  // time-ordered pass: an entry takes the first unused one at its time with its key (name, tid).
  const lf = ps.logFlows;
  const lfT = new Float64Array(lf.n);
  for (let q = 0; q < lf.n; q++) lfT[q] = Number((lf.time[q] as bigint) - base);
  const used = new Uint8Array(lf.n);
  let g = 0;
  /** The FlowLists entry of the first unused instant at time t with the key (kLo, kHi), or -1. */
  const flowsAt = (t: number, kLo: number, kHi: number): number => {
    for (; g < lf.n && (lfT[g] as number) < t; g++) if (used[g] === 0) ctx.stats.flowsUnbound++;
    for (let q = g; q < lf.n && lfT[q] === t; q++) {
      if (used[q] === 0 && lf.keyLo[q] === kLo && lf.keyHi[q] === kHi) {
        used[q] = 1;
        return lf.entry[q] as number;
      }
    }
    return -1;
  };
  const flowLists = ps.flowLists;
  const trackByTid = new Map<number, number>();
  const src = await simpleSource(
    engine,
    ps,
    "log_entries",
    `SELECT ${rel("time", base)} AS t, coalesce(level, 4)::INTEGER AS level, ${key53("msg")} AS nk, ${key53("target")} AS ck,
       tid_text AS tid, msg, target, ${argsCol("properties", ctx.args)} AS args,
       ${lf.n > 0 ? instantKey("msg", "tid_text") : "0::BIGINT"} AS k, ${key53("tid_text")} AS tk
     FROM ${vi("log_entries", ps.p)} WHERE true ${windowSql(o, "time", "time")}`,
    SOURCE_RANK.logs,
    (cur, i, t) => {
      // Texts are decoded only when new: the thread by the tid's hash, the body by the message's.
      const tk = cur.num<Float64Array>(9)[i] as number;
      let track = trackByTid.get(tk);
      if (track === undefined) {
        track = threadTrack(ctx, ps, cur.text(4, i), null);
        trackByTid.set(tk, track);
      }
      const nk = cur.num<Float64Array>(2)[i] as number;
      const msg = ctx.body(nk, cur, 5, i);
      const nameIid = ctx.name(nk, cur, 5, i);
      const catIid = ctx.category(cur.num<Float64Array>(3)[i] as number, cur, 6, i);
      const prio = PRIO[cur.num<Int32Array>(1)[i] as number] ?? 4;
      let fe = -1;
      if (g < lf.n) {
        const kW = bigintWords(cur.num<BigInt64Array>(8));
        fe = flowsAt(t, kW[2 * i] as number, kW[2 * i + 1] as number);
        if (fe >= 0) {
          const n = flowLists.count(fe);
          ctx.stats.flowPoints += n;
          if (n === 0) fe = -1;
        }
      }
      ctx.tw.log(
        t,
        track,
        nameIid,
        catIid,
        msg,
        prio,
        ctx.args && cur.textBytes(7, i) ? ctx.ref(cur) : null,
        fe >= 0 ? flowLists : null,
        fe,
      );
      ctx.stats.logs++;
    },
  );
  const close = src.close;
  src.close = () => {
    for (; g < lf.n; g++) if (used[g] === 0) ctx.stats.flowsUnbound++;
    close();
  };
  return src;
}
