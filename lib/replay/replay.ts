/**
 * Strategy-routed replay (DESIGN.md "Replay"): the rows of a JIT view stream in event-time
 * order out of DuckDB (in file order when no window and no pacing needs the order:
 * plan.ts sourceInTimeOrder), chunk by chunk, through a router to N workers (lib/replay/worker.ts),
 * each folding its rows into partial aggregation state; a merge stage combines the partials
 * and closes a window once the minimum watermark over all workers passes its end; DuckDB
 * then applies the select list, HAVING, ORDER BY and LIMIT to the merged groups, so the
 * output is what DuckDB computes over the same rows in one batch.
 *
 * Data path: DuckDB evaluates every group key and aggregate argument (expressions included)
 * in the source query, plus the event time and, when routing needs it, a hash of the source
 * partition column. Values that are not numbers or timestamps are replaced by ids of a
 * dictionary DuckDB builds first (sorted in DuckDB's order, VARCHAR through an ENUM), so every
 * column reaches JS as a typed array. The router reads the chunk vectors, computes each row's
 * partition, and transfers per-worker Float64Array columns (bounded queues); workers hold
 * state only for their rows; partial states come back when windows close and at the end.
 */
import type { DuckDBDataChunk } from "@duckdb/node-api";
import type { Engine } from "../duck/engine.ts";
import { messageOf, SqlError, UserError } from "../errors.ts";
import type { JitOptions } from "../views/jit.ts";
import type { Strategy } from "./analyze.ts";
import { ColumnReader, newBatch, type RawVector, selectBatch, sliceBatch } from "./batch.ts";
import { ADD_GROUPS, Finalizer, type FinalRows, groupCount, type MergeWindow } from "./finalize.ts";
import { dictTable, type ReplayPlan, sourceInTimeOrder, sourceSql, workerPlan } from "./plan.ts";
import { WorkerChannel, WorkerPool } from "./pool.ts";
import { type Batch, type Group, keyHash, keyOfValues, mergeAcc, newAcc, type Partial, rowHash } from "./state.ts";

export { ColumnReader, newBatch } from "./batch.ts";
export { planReplay, type ReplayPlan, sourceInTimeOrder, sourceSql, workerPlan } from "./plan.ts";

/** What `replay` does with window results. */
export type EmitMode = "final" | "changes";

/** Options of a replay. */
export interface ReplayOptions {
  /** Worker count N (1–64). */
  partitions: number;
  /** A strategy, or "auto" to choose from the query. */
  strategy: Strategy | "auto";
  /** final: one result at the end; changes: each window's rows as it closes. */
  emit: EmitMode;
  /** Pace against event time: 10 = ten times real time; null = as fast as possible. */
  speed: number | null;
  /** Workers to use (the first N); default: a pool spawned for this replay. */
  pool?: WorkerPool;
  /** Unacknowledged batches per worker (default 4). */
  queueCapacity?: number;
  /** Rows per routed batch (default 8192). */
  batchRows?: number;
  /** Groups of closed windows handed to DuckDB at a time (default ADD_GROUPS): --emit final's batches, --emit changes' most per load. */
  handOverGroups?: number;
  /** JIT progress callbacks. */
  jit?: JitOptions;
}

/**
 * A block of result rows, read by `read` (or by running `sql`) while `onRows` runs: the groups'
 * table is replaced by the next block and dropped at the end.
 */
export interface ReplayRows {
  /** The final result's SELECT, on the replay's engine (a query's whole result); null for a window (read it with `read`). */
  sql: string | null;
  /** The block's columns (DuckDB's type names) and rows with JSON-friendly values (BIGINT/HUGEINT and timestamps as strings): the final result's by running `sql`, a window's as read with the windows that closed with it. */
  read: FinalRows["read"];
  /** For --emit changes: the window's start (as DuckDB prints it; "NULL" for a NULL window key); null for the final result. */
  window: string | null;
  /** Rows routed when this block was emitted (shows windows closing mid-stream). */
  routedRows: number;
}

/** Counters of a replay. */
export interface ReplayStats {
  strategy: Strategy;
  partitions: number;
  rows: number;
  /** Wall time of the streaming part (first row to last merge), ms. */
  wallMs: number;
  rowsPerSecond: number;
  /** Rows routed to each partition. */
  rowsPerPartition: number[];
  /** max / mean of rowsPerPartition (1 = even). */
  skew: number;
  /** Building the dictionaries of non-numeric columns (one DuckDB pass over the view), ms. */
  dictionaryMs: number;
  /** Main thread: waiting on DuckDB for chunks (the first one waits for the sort by event time) and reading their vectors, ms. */
  sourceMs: number;
  /** Main thread: posting batches to the workers (buffers are transferred), ms. */
  sendMs: number;
  /** Main thread: computing partitions and slicing batches, ms. */
  routeMs: number;
  /** Main thread: waiting on full worker queues (backpressure), ms. */
  backpressureMs: number;
  /** Each worker's time folding rows into state, ms. */
  aggregateMs: number[];
  /** Main thread: merging partials and running the final projection, ms. */
  mergeMs: number;
  /** Windows closed (0 without a window key). */
  windowsClosed: number;
}

/**
 * Runs a planned replay: builds the dictionaries, streams the source, routes, aggregates on
 * the workers, merges, and calls `onRows` with each window's rows (emit changes) or the final
 * result (emit final).
 * @throws Error from DuckDB or a worker; UserError for bad options.
 */
export async function runReplay(
  engine: Engine,
  plan: ReplayPlan,
  opts: ReplayOptions,
  onRows: (r: ReplayRows) => Promise<void>,
): Promise<ReplayStats> {
  const N = plan.partitions;
  const own = opts.pool ? null : WorkerPool.create(N);
  const pool = (opts.pool ?? own) as WorkerPool;
  if (pool.size < N) throw new UserError(`replay: the worker pool has ${pool.size} workers, ${N} needed`);
  const wp = workerPlan(plan);
  const nKeys = wp.nKeys;
  const kinds = [...plan.keyKinds, ...plan.argKinds];
  const nCols = kinds.length;
  const aggs = wp.aggs;
  const choice = plan.choice;
  const windowed = wp.windowKey >= 0;
  const stats: ReplayStats = {
    strategy: choice.strategy,
    partitions: N,
    rows: 0,
    wallMs: 0,
    rowsPerSecond: 0,
    rowsPerPartition: new Array(N).fill(0),
    skew: 1,
    dictionaryMs: 0,
    sourceMs: 0,
    sendMs: 0,
    routeMs: 0,
    backpressureMs: 0,
    aggregateMs: new Array(N).fill(0),
    mergeMs: 0,
    windowsClosed: 0,
  };
  const reader = new ColumnReader(kinds);
  const final = new Finalizer(engine, plan, aggs, reader);

  // Merge stage.
  const merging = new Map<unknown, MergeWindow>();
  const watermarks: (bigint | null)[] = new Array(N).fill(null);
  const ready: MergeWindow[] = [];
  let mergeMs = 0;
  const mergePartials = (parts: Partial[]): void => {
    for (const p of parts) {
      if (N === 1) {
        // One partition: its worker sends each window once, whole (when its watermark passes
        // the window's end, or at the end), so there is nothing to merge and no key to build
        // (keyOfValues and the Map were ~1 s of the README's windowed example, 199,046 groups):
        // the window keeps the array the worker sent.
        merging.set(p.window, { start: p.start, groups: p.groups });
        continue;
      }
      let byKey = merging.get(p.window)?.groups as Map<unknown, Group> | undefined;
      if (!byKey) {
        byKey = new Map();
        merging.set(p.window, { start: p.start, groups: byKey });
      }
      for (const g of p.groups) {
        const k = keyOfValues(g.keys);
        const have = byKey.get(k);
        if (have) mergeAcc(have.acc, g.acc, aggs);
        else byKey.set(k, g);
      }
    }
  };
  const byStart = (a: MergeWindow, b: MergeWindow): number => {
    if (a.start === null) return b.start === null ? 0 : 1;
    if (b.start === null) return -1;
    return a.start < b.start ? -1 : a.start > b.start ? 1 : 0;
  };
  const closeWindows = (): void => {
    let min: bigint | null = null;
    for (const w of watermarks) {
      if (w === null) return;
      if (min === null || w < min) min = w;
    }
    if (min === null) return;
    const closing: [unknown, MergeWindow][] = [];
    for (const [k, w] of merging) {
      if (w.start !== null && BigInt(w.start) + plan.widthNs <= min) closing.push([k, w]);
    }
    closing.sort((a, b) => byStart(a[1], b[1]));
    for (const [k, w] of closing) {
      merging.delete(k);
      ready.push(w);
    }
  };
  const channels = pool.workers.slice(0, N).map(
    (worker, i) =>
      new WorkerChannel(worker, opts.queueCapacity ?? 4, (m) => {
        const t0 = performance.now();
        watermarks[i] = m.watermark;
        mergePartials(m.closed);
        if (windowed) closeWindows();
        mergeMs += performance.now() - t0;
      }),
  );

  // --emit final: closed windows go to DuckDB about ADD_GROUPS groups at a time and their JS
  // objects are dropped, so memory holds the open windows, not the whole result (the README's
  // windowed example on the 153 MB Chromium JSON trace: 199,046 groups, 420 MB peak before).
  let pending: MergeWindow[] = [];
  let pendingGroups = 0;
  const handOver = async (collect: boolean): Promise<void> => {
    if (pending.length === 0) return;
    const t0 = performance.now();
    await final.add(pending);
    pending = [];
    pendingGroups = 0;
    // The groups just loaded, and the windows cloned from the workers before them, are garbage
    // now: a full collection each ADD_GROUPS groups (16 in the README's windowed example on the
    // 208 MB Chromium JSON trace, 260K groups), about 15-20 ms each. With the workers' small
    // heap (pool.ts) and hand-overs of 65,536 groups: 324 MB peak without it, 313 with one (a
    // probe collecting before `pending` was dropped; 7 alternating runs), 280 as here (7 runs;
    // 360 before either); see ADD_GROUPS for 16,384. Not after the last load (`collect` false):
    // the result is read next.
    if (collect) Bun.gc(true);
    mergeMs += performance.now() - t0;
  };
  const limit = opts.handOverGroups ?? ADD_GROUPS;
  const drain = async (): Promise<void> => {
    if (opts.emit === "changes") {
      // The windows that closed together are loaded and read in one go (Finalizer.windowRows),
      // then handed to onRows one by one, in time order.
      while (ready.length > 0) {
        // At most about handOverGroups groups per load (and at least one window).
        let take = 0;
        for (let groups = 0; take < ready.length; take++) {
          groups += groupCount(ready[take] as MergeWindow);
          if (take > 0 && groups > limit) break;
        }
        const ws = ready.splice(0, take);
        stats.windowsClosed += ws.length;
        const t0 = performance.now();
        const blocks = await final.windowRows(ws);
        mergeMs += performance.now() - t0;
        for (const b of blocks) {
          const rows = { columns: b.columns, rows: b.rows };
          await onRows({ sql: null, read: async () => rows, window: b.label, routedRows: stats.rows });
        }
      }
      return;
    }
    while (ready.length > 0) {
      const w = ready.shift() as MergeWindow;
      stats.windowsClosed++;
      pending.push(w);
      pendingGroups += groupCount(w);
      if (pendingGroups >= limit) await handOver(true);
    }
  };

  const conn = await engine.connect();
  const tStart = performance.now();
  try {
    // Dictionaries of the columns carried as ids (built by DuckDB, sorted in its order).
    const tDict = performance.now();
    for (const [c, statements] of plan.dictSql.entries()) {
      if (!statements) continue;
      final.dictionaries.add(c);
      for (const sql of statements) {
        try {
          await engine.run(sql);
        } catch (e) {
          throw new SqlError(messageOf(e));
        }
      }
    }
    const dictHash: (Uint32Array | null)[] = new Array(nCols).fill(null);
    if (choice.strategy === "always_hash") {
      for (const c of choice.hashKeys) {
        if (kinds[c] !== "dict") continue;
        const vals = await engine.rows<{ s: string }>(
          `SELECT CAST(v AS VARCHAR) AS s FROM ${dictTable(c)} ORDER BY id`,
        );
        dictHash[c] = Uint32Array.from(vals, (r) => keyHash([r.s]));
      }
    }
    stats.dictionaryMs = performance.now() - tDict;
    for (const c of channels) c.start(wp);
    let result: Awaited<ReturnType<typeof conn.stream>>;
    const tStream = performance.now();
    try {
      result = await conn.stream(sourceSql(plan, sourceInTimeOrder(plan, opts.speed)));
    } catch (e) {
      throw new SqlError(messageOf(e));
    }
    stats.sourceMs += performance.now() - tStream;
    const batchRows = opts.batchRows ?? 8192;
    const strategy = choice.strategy;
    const hashKeys = choice.hashKeys;
    const srcCol = nCols + 1;
    const wkCol = wp.windowKey;
    let rr = 0;
    let eof = false;
    let t0Event: bigint | null = null;
    // Every row with an earlier event time has been routed (rows arrive ordered by it when a
    // window or the pacing reads it: sourceInTimeOrder).
    let watermark: bigint | null = null;
    const tPace = performance.now();
    const dispatch = async (b: Batch, srcHash: Uint32Array, n: number, wm: bigint | null): Promise<void> => {
      const t = performance.now();
      const part = new Uint16Array(n);
      if (strategy === "round_robin") {
        for (let i = 0; i < n; i++) {
          part[i] = rr;
          rr = rr + 1 === N ? 0 : rr + 1;
        }
      } else if (strategy === "always_hash") {
        // Contiguous ranges of the hash space per partition.
        for (let i = 0; i < n; i++) part[i] = Math.floor((rowHash(b, i, hashKeys, dictHash) * N) / 4294967296);
      } else if (strategy !== "fan_in") {
        for (let i = 0; i < n; i++) part[i] = (srcHash[i] as number) % N;
      }
      const counts = new Array<number>(N).fill(0);
      for (let i = 0; i < n; i++) counts[part[i] as number] = (counts[part[i] as number] as number) + 1;
      const batches: (Batch | null)[] = [];
      for (let p = 0; p < N; p++) {
        const cnt = counts[p] as number;
        batches.push(cnt === n ? b : cnt === 0 ? null : selectBatch(b, part, n, p, cnt));
      }
      stats.routeMs += performance.now() - t;
      stats.rows += n;
      // The watermark as an offset of the window key column.
      const wmOff = wm !== null && wkCol >= 0 ? wm - reader.base(wkCol) : null;
      const tSend = performance.now();
      for (let p = 0; p < N; p++) {
        const cnt = counts[p] as number;
        stats.rowsPerPartition[p] = (stats.rowsPerPartition[p] as number) + cnt;
        // Without windows, watermark-only batches are useless; with windows they keep an
        // idle partition from stalling the minimum watermark.
        if (cnt > 0 || windowed) {
          await (channels[p] as WorkerChannel).send(batches[p] ?? newBatch(nCols, 0), cnt, wmOff);
        }
      }
      stats.sendMs += performance.now() - tSend;
    };
    while (!eof) {
      // Read about batchRows rows (whole DuckDB chunks).
      const t = performance.now();
      let cap = Math.max(batchRows, 2048);
      let b = newBatch(nCols, cap);
      let srcHash = new Uint32Array(cap);
      let times = new BigInt64Array(cap);
      let tValid = new Uint8Array(cap);
      let n = 0;
      while (n < batchRows) {
        const chunk: DuckDBDataChunk | null = await result.fetchChunk();
        if (!chunk || chunk.rowCount === 0) {
          eof = true;
          break;
        }
        const m = chunk.rowCount;
        if (n + m > cap) {
          cap = Math.max(2 * cap, n + m);
          const nb = newBatch(nCols, cap);
          for (let c = 0; c < nCols; c++) {
            (nb.vals[c] as Float64Array).set(b.vals[c] as Float64Array);
            const v = b.valid[c];
            if (v) {
              const nv = new Uint8Array(cap).fill(1);
              nv.set(v);
              nb.valid[c] = nv;
            }
            nb.wide[c] = b.wide[c] ?? null;
          }
          b = nb;
          const s2 = new Uint32Array(cap);
          s2.set(srcHash);
          srcHash = s2;
          const t2 = new BigInt64Array(cap);
          t2.set(times);
          times = t2;
          const v2 = new Uint8Array(cap);
          v2.set(tValid);
          tValid = v2;
        }
        for (let c = 0; c < nCols; c++) reader.read(chunk.getColumnVector(c), c, m, b, n);
        const tv = chunk.getColumnVector(nCols) as unknown as RawVector;
        times.set((tv.items as BigInt64Array).subarray(0, m), n);
        const tb = tv.validity.data ? new Uint32Array(tv.validity.data.buffer, tv.validity.data.byteOffset) : null;
        for (let i = 0; i < m; i++) tValid[n + i] = tb ? ((tb[i >>> 5] as number) >>> (i & 31)) & 1 : 1;
        if (strategy === "sticky_partition" || strategy === "smart_repartition") {
          const h = (chunk.getColumnVector(srcCol) as unknown as RawVector).items as BigUint64Array;
          const w = new Uint32Array(h.buffer, h.byteOffset, m * 2);
          for (let i = 0; i < m; i++) srcHash[n + i] = w[2 * i] as number;
        }
        n += m;
      }
      stats.sourceMs += performance.now() - t;
      if (n === 0) break;
      // Route in batches of batchRows, each with the watermark of its last row.
      for (let s0 = 0; s0 < n; s0 += batchRows) {
        const e0 = Math.min(n, s0 + batchRows);
        // Pacing: a batch leaves when the wall clock reaches its first event time / speed.
        if (opts.speed !== null && tValid[s0]) {
          const first = times[s0] as bigint;
          if (t0Event === null) t0Event = first;
          const ahead = Number(first - t0Event) / 1e6 / opts.speed - (performance.now() - tPace);
          if (ahead > 1) await new Promise((r) => setTimeout(r, ahead));
        }
        for (let i = e0 - 1; i >= s0; i--) {
          if (tValid[i]) {
            watermark = times[i] as bigint;
            break;
          }
        }
        const whole = s0 === 0 && e0 === cap;
        await dispatch(whole ? b : sliceBatch(b, s0, e0), srcHash.subarray(s0, e0), e0 - s0, watermark);
        await drain();
      }
    }
    // End: every worker flushes its remaining windows.
    const dones = await Promise.all(channels.map((c) => c.end()));
    const t = performance.now();
    for (const [i, d] of dones.entries()) {
      stats.aggregateMs[i] = d.busyMs;
      mergePartials(d.closed);
    }
    mergeMs += performance.now() - t;
    if (windowed) {
      const rest = [...merging.values()].sort(byStart);
      merging.clear();
      ready.push(...rest);
      await drain();
    } else {
      const all = merging.get("") ?? { start: null, groups: [] };
      // A global aggregate over no rows still has its one row (count 0, sum NULL).
      if (nKeys === 0 && groupCount(all) === 0) all.groups = [{ keys: [], acc: newAcc(aggs) }];
      pending.push(all);
    }
    if (opts.emit === "final" || !windowed) {
      await handOver(false);
      const t1 = performance.now();
      const r = await final.result();
      mergeMs += performance.now() - t1;
      await onRows({ sql: r.sql, read: r.read, window: null, routedRows: stats.rows });
    }
  } finally {
    for (const c of channels) stats.backpressureMs += c.waitMs;
    conn.closeSync();
    own?.close();
    await final.drop();
  }
  stats.mergeMs = mergeMs;
  stats.wallMs = performance.now() - tStart;
  stats.rowsPerSecond = stats.rows / Math.max(stats.wallMs / 1000, 1e-9);
  const mean = stats.rows / N;
  stats.skew = mean > 0 ? Math.max(...stats.rowsPerPartition) / mean : 1;
  return stats;
}
