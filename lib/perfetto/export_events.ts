/**
 * The event sources of a Perfetto export: measures as counter values on one counter track per
 * name, log entries as INSTANTs with a LogMessage on their thread's track (with their flow v2
 * points), each read in time order from its view instance.
 */
import { ChunkCursor } from "../duck/cursor.ts";
import type { Engine } from "../duck/engine.ts";
import { argsCol, instantKey, key53, rel, vi, windowSql } from "./export_sql.ts";
import { type Ctx, type PerfettoExportOptions, type ProcState, SOURCE_RANK, type Source } from "./export_state.ts";
import { threadTrack } from "./export_tracks.ts";
import type { LogPriority } from "./packets.ts";
import type { InstantFlows } from "./span_flows.ts";

/** A simple time-ordered source over a query (t first column) of rank `rank`, calling `row(i)` per row. */
async function simpleSource(
  engine: Engine,
  sql: string,
  rank: number,
  row: (cur: ChunkCursor, i: number, t: number) => void,
): Promise<Source> {
  const cur = await ChunkCursor.start(engine, sql);
  let i = 0;
  let tA: Float64Array = new Float64Array(0);
  const src: Source = {
    t: Number.POSITIVE_INFINITY,
    rank,
    step(): boolean {
      row(cur, i, tA[i] as number);
      i++;
      if (i < cur.rowCount) {
        src.t = tA[i] as number;
        return true;
      }
      return false;
    },
    async refill(): Promise<void> {
      i = 0;
      if (!(await cur.next())) {
        src.t = Number.POSITIVE_INFINITY;
        return;
      }
      tA = cur.num<Float64Array>(0);
      src.t = tA[0] as number;
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
    `SELECT ${rel("time", base)} AS t, value, name, unit FROM ${vi("measures", ps.p)}
     WHERE true ${windowSql(o, "time", "time")} ORDER BY time`,
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
  const lfT = Float64Array.from(lf, (f) => Number(f.t - base));
  const used = new Uint8Array(lf.length);
  let g = 0;
  const flowsAt = (t: number, k: bigint): InstantFlows | null => {
    for (; g < lf.length && (lfT[g] as number) < t; g++) if (used[g] === 0) ctx.stats.flowsUnbound++;
    for (let q = g; q < lf.length && lfT[q] === t; q++) {
      if (used[q] === 0 && (lf[q] as InstantFlows).k === k) {
        used[q] = 1;
        return lf[q] as InstantFlows;
      }
    }
    return null;
  };
  const trackByTid = new Map<number, number>();
  const src = await simpleSource(
    engine,
    `SELECT ${rel("time", base)} AS t, coalesce(level, 4)::INTEGER AS level, ${key53("msg")} AS nk, ${key53("target")} AS ck,
       tid_text AS tid, msg, target, ${argsCol("properties", ctx.args)} AS args,
       ${lf.length > 0 ? instantKey("msg", "tid_text") : "0::BIGINT"} AS k, ${key53("tid_text")} AS tk
     FROM ${vi("log_entries", ps.p)} WHERE true ${windowSql(o, "time", "time")} ORDER BY time`,
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
      const f = g < lf.length ? flowsAt(t, cur.num<BigInt64Array>(8)[i] as bigint) : null;
      if (f) ctx.stats.flowPoints += f.ids.length + f.term.length;
      ctx.tw.log(
        t,
        track,
        nameIid,
        catIid,
        msg,
        prio,
        ctx.args && cur.textBytes(7, i) ? ctx.ref(cur) : null,
        f && f.ids.length > 0 ? f.ids : null,
        f && f.term.length > 0 ? f.term : null,
      );
      ctx.stats.logs++;
    },
  );
  const close = src.close;
  src.close = () => {
    for (; g < lf.length; g++) if (used[g] === 0) ctx.stats.flowsUnbound++;
    close();
  };
  return src;
}
