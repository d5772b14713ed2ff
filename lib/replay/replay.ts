/**
 * Strategy-routed replay (DESIGN.md "Replay"): the rows of a JIT view stream in event-time
 * order out of DuckDB, chunk by chunk, through a router to N workers (lib/replay/worker.ts),
 * each folding its rows into partial aggregation state; a merge stage combines the partials
 * and closes a window once the minimum watermark over all workers passes its end; DuckDB
 * then applies the select list, HAVING, ORDER BY and LIMIT to the merged groups, so the
 * output is what DuckDB computes over the same rows in one batch.
 *
 * Data path: DuckDB evaluates every group key and aggregate argument (expressions included)
 * in the source query, plus the event time and hashes of the source partition columns; the
 * router reads those columns from the chunk vectors (typed arrays for numbers), computes each
 * row's partition, and posts per-worker column slices; workers hold state only for their
 * rows; partial states come back when windows close and at the end.
 */
import type { DuckDBDataChunk, DuckDBVector } from "@duckdb/node-api";
import { messageOf, SqlError, UserError } from "../errors.ts";
import type { Lake } from "../lake/lake.ts";
import { type Engine, sqlIdent } from "../sql/engine.ts";
import { prepareQuery } from "../sql/query.ts";
import type { JitOptions } from "../views/jit.ts";
import {
  type AstNode,
  analyzeQuery,
  canonical,
  chooseStrategy,
  nodeSql,
  type QueryAnalysis,
  type Strategy,
  type StrategyChoice,
  selectNode,
  validateStrategy,
} from "./analyze.ts";
import { WorkerChannel, type WorkerPool } from "./pool.ts";
import {
  type AggSpec,
  type ArgKind,
  finalValue,
  type Group,
  groupKey,
  keyHash,
  mergeAcc,
  newAcc,
  type Partial,
  type WorkerPlan,
} from "./state.ts";

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
  /** JIT progress callbacks. */
  jit?: JitOptions;
}

/** A block of result rows. */
export interface ReplayRows {
  columns: { name: string; type: string }[];
  /** Rows with JSON-friendly values (BIGINT/HUGEINT and timestamps as strings). */
  rows: unknown[][];
  /** For --emit changes: the window's start (as DuckDB prints it); null for the final result. */
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
  /** Main thread: waiting on DuckDB for chunks and reading their vectors, ms. */
  sourceMs: number;
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

/** A planned replay: analysis, strategy, and the SQL it runs. */
export interface ReplayPlan {
  analysis: QueryAnalysis;
  choice: StrategyChoice;
  partitions: number;
  /** The source query (ordered by event time). */
  sourceSql: string;
  keyKinds: ArgKind[];
  keyTypes: string[];
  argKinds: ArgKind[];
  argTypes: string[];
  /** Per aggregate: its column among the args, and DuckDB's result type. */
  aggCols: number[];
  aggTypes: string[];
  widthNs: bigint;
  /** The user's output column names (DuckDB's). */
  outputNames: string[];
}

const INT_TYPES = new Set(["TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER"]);
const FLOAT_TYPES = new Set(["DOUBLE", "FLOAT"]);
const TIME_TYPES = new Set([
  "TIMESTAMP",
  "TIMESTAMP_NS",
  "TIMESTAMP_MS",
  "TIMESTAMP_S",
  "TIMESTAMP WITH TIME ZONE",
  "DATE",
]);
const TEXT_TYPES = /^(VARCHAR|BOOLEAN|UUID|JSON|DECIMAL\(\d+,\d+\)|HUGEINT|UBIGINT|UHUGEINT|INTERVAL|TIME|BLOB)$/;

function kindOf(type: string): ArgKind | "time" | null {
  if (INT_TYPES.has(type)) return "i64";
  if (FLOAT_TYPES.has(type)) return "f64";
  if (TIME_TYPES.has(type)) return "time";
  if (TEXT_TYPES.test(type)) return "str";
  return null;
}

function toTransfer(col: string, type: string): string {
  const k = kindOf(type);
  if (k === "i64") return `CAST(${col} AS BIGINT)`;
  if (k === "f64") return `CAST(${col} AS DOUBLE)`;
  if (k === "time") return `epoch_ns(${col})`;
  return `CAST(${col} AS VARCHAR)`;
}

/** SQL turning a transfer value stored as text (or DOUBLE) back into `type`. */
function fromTransfer(col: string, type: string): string {
  const k = kindOf(type);
  if (k === "time") {
    if (type === "TIMESTAMP_NS") return `make_timestamp_ns(CAST(${col} AS BIGINT))`;
    return `CAST(make_timestamp(CAST(${col} AS BIGINT) // 1000) AS ${type})`;
  }
  return `CAST(${col} AS ${type})`;
}

/**
 * Plans a replay: analyzes `sql`, picks or validates the strategy, JIT-materializes the view
 * (prepareQuery), and binds the source query's types. No row moves.
 * @throws UserError for unsupported queries, refused strategies or types replay cannot
 *   carry; SqlError when DuckDB cannot bind the query.
 */
export async function planReplay(
  engine: Engine,
  lake: Lake,
  sql: string,
  opts: Pick<ReplayOptions, "partitions" | "strategy" | "jit">,
): Promise<ReplayPlan> {
  const analysis = await analyzeQuery(engine, sql);
  const choice =
    opts.strategy === "auto" ? chooseStrategy(analysis, opts.partitions) : validateStrategy(analysis, opts.strategy);
  await prepareQuery(engine, lake, sql, opts.jit ?? {});
  const node = analysis.node;
  const describe = async (q: string): Promise<{ column_name: string; column_type: string }[]> => {
    try {
      return await engine.rows(`DESCRIBE ${q}`);
    } catch (e) {
      throw new SqlError(messageOf(e));
    }
  };
  const outputNames = (await describe(sql)).map((r) => r.column_name);
  // Distinct aggregate arguments.
  const args: AstNode[] = [];
  const aggCols = analysis.aggregates.map((a) => {
    if (!a.arg) return -1;
    const c = canonical(a.arg);
    let i = args.findIndex((x) => canonical(x) === c);
    if (i < 0) {
      args.push(a.arg);
      i = args.length - 1;
    }
    return i;
  });
  const from = node.from_table as AstNode;
  const where = (node.where_clause as AstNode | null) ?? null;
  const col = (name: string, alias: string): AstNode => ({
    class: "COLUMN_REF",
    type: "COLUMN_REF",
    alias,
    query_location: 0,
    column_names: [name],
  });
  const inner = await nodeSql(
    engine,
    selectNode(
      [
        ...analysis.keys.map((k, i) => ({ ...k.node, alias: `k${i}` })),
        ...args.map((a, i) => ({ ...a, alias: `a${i}` })),
        col(analysis.source.eventTime, "__t"),
        col("process_id", "__proc"),
        col("stream_id", "__stream"),
      ],
      from,
      where,
    ),
  );
  const types = await describe(inner);
  const keyTypes = analysis.keys.map((_, i) => types[i]?.column_type ?? "");
  const argTypes = args.map((_, i) => types[analysis.keys.length + i]?.column_type ?? "");
  for (const [i, t] of keyTypes.entries()) {
    if (kindOf(t) === null) {
      throw new UserError(
        `replay cannot carry GROUP BY key ${analysis.keys[i]?.sql} of type ${t}; group by a scalar (cast it to VARCHAR)`,
      );
    }
  }
  const aggTypes =
    analysis.aggregates.length === 0
      ? []
      : (
          await describe(
            await nodeSql(
              engine,
              selectNode(
                analysis.aggregates.map((a, j) => ({ ...a.node, alias: `g${j}` })),
                from,
                where,
              ),
            ),
          )
        ).map((r) => r.column_type);
  for (const [j, a] of analysis.aggregates.entries()) {
    const t = argTypes[aggCols[j] as number] ?? "";
    const k = a.arg ? kindOf(t) : "i64";
    if ((a.kind === "sum" || a.kind === "avg") && k !== "i64" && k !== "f64") {
      throw new UserError(
        `replay cannot merge ${a.sql}: its argument is ${t}; sum and avg take integer or DOUBLE arguments (cast it, e.g. ${a.argSql}::DOUBLE)`,
      );
    }
    if (
      (a.kind === "min" || a.kind === "max") &&
      k !== "i64" &&
      k !== "f64" &&
      k !== "time" &&
      t !== "VARCHAR" &&
      t !== "BOOLEAN"
    ) {
      throw new UserError(
        `replay cannot merge ${a.sql}: min and max take numbers, timestamps, VARCHAR or BOOLEAN, not ${t}`,
      );
    }
    if ((a.kind === "count" || a.kind === "count_distinct") && k === null) {
      throw new UserError(`replay cannot carry the argument of ${a.sql} (type ${t})`);
    }
  }
  const sel = [
    ...keyTypes.map((t, i) => `${toTransfer(`k${i}`, t)} AS k${i}`),
    ...argTypes.map((t, i) => `${toTransfer(`a${i}`, t)} AS a${i}`),
    "epoch_ns(__t) AS __t",
    "hash(__proc) AS __ph",
    "hash(__stream) AS __sh",
  ];
  const sourceSql = `SELECT ${sel.join(", ")} FROM (${inner}) ORDER BY __t`;
  let widthNs = 0n;
  const wk = analysis.windowKey;
  if (wk !== null) {
    const w = analysis.keys[wk]?.window?.widthSql as string;
    const r = await engine.rows<{ w: bigint }>(
      `SELECT epoch_ns(TIMESTAMP_NS '2000-01-01' + (${w})::INTERVAL) - epoch_ns(TIMESTAMP_NS '2000-01-01') AS w`,
    );
    widthNs = r[0]?.w ?? 0n;
    if (widthNs <= 0n) throw new UserError(`replay: window width ${w} must be positive`);
  }
  return {
    analysis,
    choice,
    partitions: opts.partitions,
    sourceSql,
    keyKinds: keyTypes.map((t) => {
      const k = kindOf(t);
      return k === "time" ? "i64" : (k as ArgKind);
    }),
    keyTypes,
    argKinds: argTypes.map((t) => {
      const k = kindOf(t);
      return k === "time" ? "i64" : ((k ?? "str") as ArgKind);
    }),
    argTypes,
    aggCols,
    aggTypes,
    widthNs,
    outputNames,
  };
}

/** The plan a worker runs for `p`. */
function workerPlan(p: ReplayPlan): WorkerPlan {
  const nKeys = p.analysis.keys.length;
  return {
    nKeys,
    windowKey: p.analysis.windowKey ?? -1,
    widthNs: p.widthNs,
    aggs: p.analysis.aggregates.map(
      (a, j): AggSpec => ({
        kind: a.kind,
        col: a.arg ? nKeys + (p.aggCols[j] as number) : -1,
        argKind: a.arg ? (p.argKinds[p.aggCols[j] as number] as ArgKind) : "i64",
      }),
    ),
  };
}

interface RawVector {
  items: BigInt64Array | BigUint64Array | Float64Array;
  validity: { itemValid(i: number): boolean };
}

/** Reads one vector as transfer values. */
function readVector(v: DuckDBVector, kind: ArgKind, n: number, out: unknown[], at: number): void {
  if (kind === "str") {
    for (let i = 0; i < n; i++) out[at + i] = v.getItem(i);
    return;
  }
  const r = v as unknown as RawVector;
  if (kind === "f64") {
    const a = r.items as Float64Array;
    for (let i = 0; i < n; i++) out[at + i] = r.validity.itemValid(i) ? a[i] : null;
    return;
  }
  const a = r.items as BigInt64Array;
  const w = new Int32Array(a.buffer, a.byteOffset, n * 2);
  for (let i = 0; i < n; i++) {
    if (!r.validity.itemValid(i)) {
      out[at + i] = null;
      continue;
    }
    const hi = w[2 * i + 1] as number;
    out[at + i] = hi >= -2097152 && hi < 2097152 ? hi * 4294967296 + ((w[2 * i] as number) >>> 0) : a[i];
  }
}

/** A window being merged. */
interface MergeWindow {
  start: number | bigint | null;
  groups: Map<string, Group>;
}

/**
 * Runs a planned replay: streams the source, routes, aggregates on the workers, merges, and
 * calls `onRows` with each window's rows (emit changes) or the final result (emit final).
 * @throws Error from DuckDB or a worker; UserError for bad options.
 */
export async function runReplay(
  engine: Engine,
  plan: ReplayPlan,
  opts: ReplayOptions,
  onRows: (r: ReplayRows) => Promise<void>,
): Promise<ReplayStats> {
  const N = plan.partitions;
  const own = opts.pool ? null : (await import("./pool.ts")).WorkerPool.create(N);
  const pool = (opts.pool ?? own) as WorkerPool;
  if (pool.size < N) throw new UserError(`replay: the worker pool has ${pool.size} workers, ${N} needed`);
  const wp = workerPlan(plan);
  const nKeys = wp.nKeys;
  const nArgs = plan.argKinds.length;
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
    sourceMs: 0,
    routeMs: 0,
    backpressureMs: 0,
    aggregateMs: new Array(N).fill(0),
    mergeMs: 0,
    windowsClosed: 0,
  };

  // Merge stage.
  const merging = new Map<string, MergeWindow>();
  const watermarks: (bigint | null)[] = new Array(N).fill(null);
  const ready: MergeWindow[] = [];
  let mergeMs = 0;
  const mergePartials = (parts: Partial[]): void => {
    for (const p of parts) {
      let w = merging.get(p.window);
      if (!w) {
        w = { start: p.start, groups: new Map() };
        merging.set(p.window, w);
      }
      for (const g of p.groups) {
        const k = keyOf(g.keys);
        const have = w.groups.get(k);
        if (have) mergeAcc(have.acc, g.acc, aggs);
        else w.groups.set(k, g);
      }
    }
  };
  const closeWindows = (): void => {
    let min: bigint | null = null;
    for (const w of watermarks) {
      if (w === null) return;
      if (min === null || w < min) min = w;
    }
    if (min === null) return;
    const closing: [string, MergeWindow][] = [];
    for (const [k, w] of merging) {
      if (w.start !== null && BigInt(w.start) + plan.widthNs <= min) closing.push([k, w]);
    }
    closing.sort((a, b) => (BigInt(a[1].start as number) < BigInt(b[1].start as number) ? -1 : 1));
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
  for (const c of channels) c.start(wp);

  const final = new Finalizer(engine, plan, aggs);
  const emitted: MergeWindow[] = [];
  const drain = async (): Promise<void> => {
    while (ready.length > 0) {
      const w = ready.shift() as MergeWindow;
      stats.windowsClosed++;
      if (opts.emit === "changes") {
        const t0 = performance.now();
        const r = await final.rows([w], false);
        mergeMs += performance.now() - t0;
        await onRows({ columns: r.columns, rows: r.rows, window: String(r.windowLabel), routedRows: stats.rows });
      } else emitted.push(w);
    }
  };

  const conn = await engine.connect();
  const tStart = performance.now();
  try {
    let result: Awaited<ReturnType<typeof conn.stream>>;
    try {
      result = await conn.stream(plan.sourceSql);
    } catch (e) {
      throw new SqlError(messageOf(e));
    }
    const nCols = nKeys + nArgs;
    const kinds = [...plan.keyKinds, ...plan.argKinds];
    const batchRows = opts.batchRows ?? 8192;
    const strategy = choice.strategy;
    const hashKeys = choice.hashKeys;
    const bySource = choice.sourceColumn === "process_id" ? nCols + 1 : nCols + 2;
    let rr = 0;
    let eof = false;
    let t0Event: bigint | null = null;
    // Every row with an earlier event time has been routed (rows arrive ordered by it).
    let watermark: bigint | null = null;
    const tPace = performance.now();
    const dispatch = async (
      cols: unknown[][],
      srcHash: number[],
      n: number,
      watermark: bigint | null,
    ): Promise<void> => {
      const t = performance.now();
      const part = new Uint16Array(n);
      if (strategy === "round_robin") {
        for (let i = 0; i < n; i++) {
          part[i] = rr;
          rr = rr + 1 === N ? 0 : rr + 1;
        }
      } else if (strategy === "always_hash") {
        for (let i = 0; i < n; i++) part[i] = Math.floor((keyHash(cols, i, hashKeys) * N) / 4294967296);
      } else if (strategy !== "fan_in") {
        for (let i = 0; i < n; i++) part[i] = (srcHash[i] as number) % N;
      }
      const counts = new Array<number>(N).fill(0);
      for (let i = 0; i < n; i++) counts[part[i] as number] = (counts[part[i] as number] as number) + 1;
      const batches: unknown[][][] = [];
      for (let p = 0; p < N; p++) {
        if (counts[p] === n) batches.push(cols);
        else if (counts[p] === 0) batches.push([]);
        else {
          const slice: unknown[][] = [];
          for (let c = 0; c < nCols; c++) {
            const src = cols[c] as unknown[];
            const dst = new Array(counts[p]);
            let k = 0;
            for (let i = 0; i < n; i++) if (part[i] === p) dst[k++] = src[i];
            slice.push(dst);
          }
          batches.push(slice);
        }
      }
      stats.routeMs += performance.now() - t;
      stats.rows += n;
      for (let p = 0; p < N; p++) {
        const cnt = counts[p] as number;
        stats.rowsPerPartition[p] = (stats.rowsPerPartition[p] as number) + cnt;
        // Without windows, watermark-only batches are useless; with windows they keep an
        // idle partition from stalling the minimum watermark.
        if (cnt > 0 || windowed) await (channels[p] as WorkerChannel).send(batches[p] as unknown[][], cnt, watermark);
      }
    };
    while (!eof) {
      // Read up to batchRows rows.
      const t = performance.now();
      const cols: unknown[][] = Array.from({ length: nCols }, () => []);
      const srcHash: number[] = [];
      let n = 0;
      let firstT: bigint | null = null;
      let times = new BigInt64Array(4096);
      let tValid = new Uint8Array(4096);
      while (n < batchRows) {
        const chunk: DuckDBDataChunk | null = await result.fetchChunk();
        if (!chunk || chunk.rowCount === 0) {
          eof = true;
          break;
        }
        const m = chunk.rowCount;
        for (let c = 0; c < nCols; c++)
          readVector(chunk.getColumnVector(c), kinds[c] as ArgKind, m, cols[c] as unknown[], n);
        const tv = chunk.getColumnVector(nCols) as unknown as RawVector;
        const ta = tv.items as BigInt64Array;
        if (n + m > times.length) {
          const t2 = new BigInt64Array(Math.max(2 * times.length, n + m));
          t2.set(times);
          times = t2;
          const v2 = new Uint8Array(t2.length);
          v2.set(tValid);
          tValid = v2;
        }
        times.set(ta.subarray(0, m), n);
        for (let i = 0; i < m; i++) tValid[n + i] = tv.validity.itemValid(i) ? 1 : 0;
        if (firstT === null && tv.validity.itemValid(0)) firstT = ta[0] as bigint;
        if (strategy === "sticky_partition" || strategy === "smart_repartition") {
          const hv = chunk.getColumnVector(
            strategy === "sticky_partition" ? nCols + 2 : bySource,
          ) as unknown as RawVector;
          const h = hv.items as BigUint64Array;
          const w = new Uint32Array(h.buffer, h.byteOffset, m * 2);
          for (let i = 0; i < m; i++) srcHash.push(w[2 * i] as number);
        }
        n += m;
      }
      stats.sourceMs += performance.now() - t;
      if (n === 0 && eof) break;
      // Pacing against event time.
      if (opts.speed !== null && firstT !== null) {
        if (t0Event === null) t0Event = firstT;
        const due = Number(firstT - t0Event) / 1e6 / opts.speed;
        const ahead = due - (performance.now() - tPace);
        if (ahead > 1) await new Promise((r) => setTimeout(r, ahead));
      }
      // Route in batches of batchRows, each with the watermark of its last row.
      for (let s0 = 0; s0 < n; s0 += batchRows) {
        const e0 = Math.min(n, s0 + batchRows);
        let wm: bigint | null = watermark;
        for (let i = e0 - 1; i >= s0; i--) {
          if (tValid[i]) {
            wm = times[i] as bigint;
            break;
          }
        }
        watermark = wm;
        const whole = s0 === 0 && e0 === n;
        await dispatch(
          whole ? cols : cols.map((c) => c.slice(s0, e0)),
          whole ? srcHash : srcHash.slice(s0, e0),
          e0 - s0,
          wm,
        );
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
      watermarks.fill(null);
      const rest = [...merging.values()].sort((a, b) => {
        if (a.start === null) return 1;
        if (b.start === null) return -1;
        return BigInt(a.start) < BigInt(b.start) ? -1 : 1;
      });
      merging.clear();
      ready.push(...rest);
      await drain();
    } else {
      const all = merging.get("") ?? { start: null, groups: new Map<string, Group>() };
      if (nKeys === 0 && all.groups.size === 0) all.groups.set("", { keys: [], acc: newAcc(aggs) });
      emitted.push(all);
    }
    if (opts.emit === "final" || !windowed) {
      const t1 = performance.now();
      const r = await final.rows(emitted, true);
      mergeMs += performance.now() - t1;
      await onRows({ columns: r.columns, rows: r.rows, window: null, routedRows: stats.rows });
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

function keyOf(keys: unknown[]): string {
  return groupKey(
    keys.map((k) => [k]),
    0,
    0,
    keys.length,
  );
}

/**
 * Turns merged groups into the user's result: loads them into a temp table, casts the
 * transfer values back to DuckDB's types, and runs the user's select list, HAVING, ORDER BY
 * and LIMIT over them (the parse tree with keys and aggregates replaced by those columns).
 */
class Finalizer {
  private sql: { withLimit: string; noLimit: string } | null = null;
  private created = false;

  constructor(
    private readonly engine: Engine,
    private readonly plan: ReplayPlan,
    private readonly aggs: AggSpec[],
  ) {}

  private async prepare(): Promise<{ withLimit: string; noLimit: string }> {
    if (this.sql) return this.sql;
    const p = this.plan;
    const a = p.analysis;
    const cols = [
      ...a.keys.map((_, i) => `k${i} VARCHAR`),
      ...a.aggregates.map((g, j) => `g${j} ${this.storedType(j, g.kind)}`),
    ];
    await this.engine.run(
      `CREATE OR REPLACE TEMP TABLE tl_replay_groups (${cols.length > 0 ? cols.join(", ") : "dummy INTEGER"})`,
    );
    const typed = [
      ...p.keyTypes.map((t, i) => `${fromTransfer(`k${i}`, t)} AS __k${i}`),
      ...a.aggregates.map((g, j) => {
        const t = p.aggTypes[j] as string;
        const stored = this.storedType(j, g.kind);
        return `${stored === "VARCHAR" && (g.kind === "min" || g.kind === "max") ? fromTransfer(`g${j}`, t) : `CAST(g${j} AS ${t})`} AS __g${j}`;
      }),
    ];
    await this.engine.run(
      `CREATE OR REPLACE TEMP VIEW tl_replay_result AS SELECT ${typed.length > 0 ? typed.join(", ") : "1 AS dummy"} FROM tl_replay_groups`,
    );
    this.created = true;
    // Rewrite the user's SELECT over the typed columns.
    const keyCanon = a.keys.map((k) => canonical(k.node));
    const aggCanon = a.aggregates.map((g) => canonical(g.node));
    const ref = (name: string): AstNode => ({
      class: "COLUMN_REF",
      type: "COLUMN_REF",
      alias: "",
      query_location: 0,
      column_names: [name],
    });
    const rewrite = (n: unknown): unknown => {
      if (Array.isArray(n)) return n.map(rewrite);
      if (!n || typeof n !== "object") return n;
      const node = n as AstNode;
      if (typeof node.class === "string") {
        const c = canonical({ ...node, alias: "" });
        const ki = keyCanon.indexOf(c);
        if (ki >= 0) return { ...ref(`__k${ki}`), alias: node.alias ?? "" };
        const gi = aggCanon.indexOf(c);
        if (gi >= 0) return { ...ref(`__g${gi}`), alias: node.alias ?? "" };
      }
      const out: AstNode = {};
      for (const [k, v] of Object.entries(node)) out[k] = rewrite(v);
      return out;
    };
    const node = a.node;
    const selectList = (node.select_list as AstNode[]).map((s, i) => ({
      ...(rewrite(s) as AstNode),
      alias: p.outputNames[i] ?? "",
    }));
    const from: AstNode = {
      type: "BASE_TABLE",
      alias: "",
      sample: null,
      query_location: 0,
      schema_name: "",
      table_name: "tl_replay_result",
      column_name_alias: [],
      catalog_name: "",
      at_clause: null,
    };
    const having = node.having ? (rewrite(node.having) as AstNode) : null;
    const mods = (node.modifiers as AstNode[]).map((m) => rewrite(m) as AstNode);
    const base = selectNode(selectList, from, having);
    const withLimit = await nodeSql(this.engine, { ...base, modifiers: mods });
    const noLimit = await nodeSql(this.engine, {
      ...base,
      modifiers: mods.filter((m) => m.type === "ORDER_MODIFIER"),
    });
    this.sql = { withLimit, noLimit };
    return this.sql;
  }

  private storedType(j: number, kind: string): string {
    const p = this.plan;
    if (kind === "count" || kind === "count_star" || kind === "count_distinct") return "BIGINT";
    if (kind === "avg") return "DOUBLE";
    const argKind = p.argKinds[p.aggCols[j] as number];
    if (kind === "sum") return argKind === "f64" ? "DOUBLE" : "VARCHAR";
    return argKind === "f64" ? "DOUBLE" : "VARCHAR";
  }

  async rows(
    windows: MergeWindow[],
    withLimit: boolean,
  ): Promise<{ columns: { name: string; type: string }[]; rows: unknown[][]; windowLabel: string | null }> {
    const sql = await this.prepare();
    const a = this.plan.analysis;
    await this.engine.run("DELETE FROM tl_replay_groups");
    const rows: (string | bigint | number | null)[][] = [];
    for (const w of windows) {
      for (const g of w.groups.values()) {
        const row: (string | bigint | number | null)[] = g.keys.map((k) => (k === null ? null : String(k)));
        for (let j = 0; j < a.aggregates.length; j++) {
          const v = finalValue(g.acc, this.aggs, j);
          const stored = this.storedType(j, a.aggregates[j]?.kind ?? "");
          if (v === null || v === undefined) row.push(null);
          else if (stored === "BIGINT") row.push(BigInt(v as number));
          else if (stored === "DOUBLE") row.push(Number(v));
          else row.push(String(v));
        }
        if (row.length === 0) row.push(null);
        rows.push(row);
      }
    }
    if (rows.length > 0) await this.engine.append("tl_replay_groups", rows);
    let reader: Awaited<ReturnType<Engine["read"]>>;
    try {
      reader = await this.engine.read(withLimit ? sql.withLimit : sql.noLimit);
    } catch (e) {
      throw new SqlError(messageOf(e));
    }
    const columns = reader.columnNames().map((name, i) => ({ name, type: reader.columnTypes()[i]?.toString() ?? "" }));
    let windowLabel: string | null = null;
    const wk = a.windowKey;
    if (windows.length === 1 && wk !== null) {
      const start = windows[0]?.start;
      if (start !== null && start !== undefined) {
        const r = await this.engine.rowsJson<{ s: string }>(
          `SELECT ${fromTransfer(`'${String(start)}'`, this.plan.keyTypes[wk] as string)}::VARCHAR AS s`,
        );
        windowLabel = r[0]?.s ?? null;
      }
    }
    return { columns, rows: reader.getRowsJson() as unknown[][], windowLabel };
  }

  async drop(): Promise<void> {
    if (!this.created) return;
    await this.engine.run("DROP VIEW IF EXISTS tl_replay_result").catch(() => undefined);
    await this.engine.run("DROP TABLE IF EXISTS tl_replay_groups").catch(() => undefined);
  }
}

/** `sqlIdent` re-exported for the explain text. */
export { sqlIdent };
