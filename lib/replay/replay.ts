/**
 * Strategy-routed replay (DESIGN.md "Replay"): the rows of a JIT view stream in event-time
 * order out of DuckDB, chunk by chunk, through a router to N workers (lib/replay/worker.ts),
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
import type { DuckDBDataChunk, DuckDBVector } from "@duckdb/node-api";
import { messageOf, SqlError, UserError } from "../errors.ts";
import type { Lake } from "../lake/lake.ts";
import type { Engine } from "../sql/engine.ts";
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
  type Batch,
  finalValue,
  type Group,
  keyHash,
  keyOfValues,
  mergeAcc,
  newAcc,
  type Partial,
  rowHash,
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

/** A planned replay: analysis, strategy, and the SQL it runs. */
export interface ReplayPlan {
  analysis: QueryAnalysis;
  choice: StrategyChoice;
  partitions: number;
  /** Select list of the source query: the transfer columns c0.. (see `sourceSql`). */
  sourceSelect: string[];
  /** FROM clause of the source query. */
  sourceFrom: string;
  /** Per transfer column (keys, then arguments): the statements building its dictionary, or null. */
  dictSql: (string[] | null)[];
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

/** How a column of DuckDB type `type` is carried: integers and times as i64, doubles as f64, the rest as dictionary ids. */
function kindOf(type: string): ArgKind | "time" {
  if (INT_TYPES.has(type)) return "i64";
  if (FLOAT_TYPES.has(type)) return "f64";
  if (TIME_TYPES.has(type)) return "time";
  return "dict";
}

/** The dictionary table of transfer column `c`. */
const dictTable = (c: number): string => `memory.main.tl_replay_dict_${c}`;

/** The ENUM type of a VARCHAR transfer column `c` (its codes are the dictionary ids). */
const enumType = (c: number): string => `tl_replay_enum_${c}`;

/**
 * The source query of a plan: the transfer columns, the event time (epoch ns) and, for the
 * strategies that route by source partition, a hash of the partition column; ordered by event
 * time. Only what routing needs is selected: every column widens DuckDB's sort.
 */
export function sourceSql(plan: ReplayPlan): string {
  const c = plan.choice;
  const extra = ["epoch_ns(s.__t) AS __t"];
  if (c.strategy === "sticky_partition" || c.strategy === "smart_repartition") {
    extra.push(`hash(s.${c.sourceColumn === "process_id" ? "__proc" : "__stream"}) AS __src`);
  }
  return `SELECT ${[...plan.sourceSelect, ...extra].join(", ")} FROM ${plan.sourceFrom} ORDER BY __t`;
}

/** SQL turning an i64 value stored as text (base added) back into `type`. */
function fromI64(col: string, type: string): string {
  if (kindOf(type) === "time") {
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
  }
  const keyKinds = keyTypes.map((t) => kindOf(t));
  const argKinds = argTypes.map((t) => kindOf(t));
  const kinds = [...keyKinds, ...argKinds];
  const names = [...keyTypes.map((_, i) => `k${i}`), ...argTypes.map((_, i) => `a${i}`)];
  // VARCHAR columns become ENUM codes (a cast, no join: DuckDB sorts the narrow codes); other
  // non-numeric types are joined to their dictionary table.
  const isEnum = (c: number): boolean => kinds[c] === "dict" && [...keyTypes, ...argTypes][c] === "VARCHAR";
  const sel = kinds.map((k, c) => {
    const n = names[c] as string;
    if (k === "i64") return `CAST(s.${n} AS BIGINT) AS c${c}`;
    if (k === "time") return `epoch_ns(s.${n}) AS c${c}`;
    if (k === "f64") return `CAST(s.${n} AS DOUBLE) AS c${c}`;
    if (isEnum(c)) return `CAST(enum_code(CAST(s.${n} AS ${enumType(c)})) AS BIGINT) AS c${c}`;
    return `d${c}.id AS c${c}`;
  });
  const joins = kinds
    .map((k, c) => (k === "dict" && !isEnum(c) ? ` LEFT JOIN ${dictTable(c)} d${c} ON s.${names[c]} = d${c}.v` : ""))
    .join("");
  const dictSql = kinds.map((k, c) => {
    if (k !== "dict") return null;
    const table = `CREATE OR REPLACE TABLE ${dictTable(c)} AS SELECT v, (row_number() OVER (ORDER BY v) - 1)::BIGINT AS id FROM (SELECT DISTINCT ${names[c]} AS v FROM (${inner}) WHERE ${names[c]} IS NOT NULL)`;
    if (!isEnum(c)) return [table];
    return [
      table,
      `DROP TYPE IF EXISTS ${enumType(c)}`,
      `CREATE TYPE ${enumType(c)} AS ENUM (SELECT v FROM ${dictTable(c)} ORDER BY id)`,
    ];
  });
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
  const carry = (k: ArgKind | "time"): ArgKind => (k === "time" ? "i64" : k);
  return {
    analysis,
    choice,
    partitions: opts.partitions,
    sourceSelect: sel,
    sourceFrom: `(${inner}) s${joins}`,
    dictSql,
    keyKinds: keyKinds.map(carry),
    keyTypes,
    argKinds: argKinds.map(carry),
    argTypes,
    aggCols,
    aggTypes,
    widthNs,
    outputNames,
  };
}

/** The plan a worker runs for `p` (also what a single-threaded fold needs). */
export function workerPlan(p: ReplayPlan): WorkerPlan {
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
  validity: { data: BigUint64Array | null };
}

/** Column readers: DuckDB vectors → the numeric batch form (lib/replay/state.ts). */
export class ColumnReader {
  /** Per column: base of i64 offsets as [hi, lo] 32-bit halves (set by the first value). */
  private readonly baseHi: Float64Array;
  private readonly baseLo: Float64Array;
  private readonly baseSet: Uint8Array;

  /** @param kinds how each transfer column is carried (ReplayPlan keyKinds then argKinds). */
  constructor(private readonly kinds: ArgKind[]) {
    this.baseHi = new Float64Array(kinds.length);
    this.baseLo = new Float64Array(kinds.length);
    this.baseSet = new Uint8Array(kinds.length);
    // Dictionary ids are small: no offset.
    kinds.forEach((k, c) => {
      if (k === "dict") this.baseSet[c] = 1;
    });
  }

  /** The base of column `c` (0 when unset or not i64). */
  base(c: number): bigint {
    if (!this.baseSet[c]) return 0n;
    return (BigInt(this.baseHi[c] as number) << 32n) + BigInt(this.baseLo[c] as number);
  }

  /**
   * Appends `m` rows of vector `v` (column `c`) at row `at` of `b`.
   */
  read(v: DuckDBVector, c: number, m: number, b: Batch, at: number): void {
    const r = v as unknown as RawVector;
    const out = b.vals[c] as Float64Array;
    const vd = r.validity.data;
    let validBits: Uint32Array | null = null;
    if (vd) {
      validBits = new Uint32Array(vd.buffer, vd.byteOffset, Math.ceil(m / 32));
      let all = true;
      for (let w = 0; w < m >>> 5; w++) if (validBits[w] !== 0xffffffff) all = false;
      for (let i = m & ~31; i < m; i++) if ((((validBits[i >>> 5] as number) >>> (i & 31)) & 1) === 0) all = false;
      if (all) validBits = null;
    }
    if (validBits) {
      let valid = b.valid[c];
      if (!valid) {
        valid = new Uint8Array(out.length).fill(1);
        b.valid[c] = valid;
      }
      for (let i = 0; i < m; i++) valid[at + i] = ((validBits[i >>> 5] as number) >>> (i & 31)) & 1;
    }
    if (this.kinds[c] === "f64") {
      out.set((r.items as Float64Array).subarray(0, m), at);
      return;
    }
    const items = r.items as BigInt64Array;
    const w32 = new Int32Array(items.buffer, items.byteOffset, m * 2);
    if (!this.baseSet[c]) {
      for (let i = 0; i < m; i++) {
        if (validBits && (((validBits[i >>> 5] as number) >>> (i & 31)) & 1) === 0) continue;
        this.baseHi[c] = w32[2 * i + 1] as number;
        this.baseLo[c] = (w32[2 * i] as number) >>> 0;
        this.baseSet[c] = 1;
        break;
      }
    }
    const bh = this.baseHi[c] as number;
    const bl = this.baseLo[c] as number;
    for (let i = 0; i < m; i++) {
      const dh = (w32[2 * i + 1] as number) - bh;
      if (dh > -1048576 && dh < 1048576) out[at + i] = dh * 4294967296 + (((w32[2 * i] as number) >>> 0) - bl);
      else {
        // Out of a double's exact range from the base: carry the exact offset on the side.
        out[at + i] = Number.NaN;
        let wide = b.wide[c];
        if (!wide) {
          wide = new Map();
          b.wide[c] = wide;
        }
        wide.set(at + i, (items[i] as bigint) - this.base(c));
      }
    }
  }
}

/** An empty batch of `n` rows and `cols` columns. */
export function newBatch(cols: number, n: number): Batch {
  return {
    vals: Array.from({ length: cols }, () => new Float64Array(n)),
    valid: new Array(cols).fill(null),
    wide: new Array(cols).fill(null),
  };
}

/** Rows [s, e) of `b` as a new batch. */
function sliceBatch(b: Batch, s: number, e: number): Batch {
  return {
    vals: b.vals.map((v) => v.slice(s, e)),
    valid: b.valid.map((v) => (v ? v.slice(s, e) : null)),
    wide: b.wide.map((w) => {
      if (!w) return null;
      const out = new Map<number, bigint>();
      for (const [i, x] of w) if (i >= s && i < e) out.set(i - s, x);
      return out.size > 0 ? out : null;
    }),
  };
}

/** The rows of `b` whose partition is `p`, as a new batch of `count` rows. */
function selectBatch(b: Batch, part: Uint16Array, n: number, p: number, count: number): Batch {
  const out = newBatch(b.vals.length, count);
  for (let c = 0; c < b.vals.length; c++) {
    const src = b.vals[c] as Float64Array;
    const dst = out.vals[c] as Float64Array;
    let k = 0;
    for (let i = 0; i < n; i++) if (part[i] === p) dst[k++] = src[i] as number;
    const v = b.valid[c];
    if (v) {
      const dv = new Uint8Array(count);
      k = 0;
      for (let i = 0; i < n; i++) if (part[i] === p) dv[k++] = v[i] as number;
      out.valid[c] = dv;
    }
    const w = b.wide[c];
    if (w) {
      const dw = new Map<number, bigint>();
      k = 0;
      for (let i = 0; i < n; i++) {
        if (part[i] !== p) continue;
        const x = w.get(i);
        if (x !== undefined) dw.set(k, x);
        k++;
      }
      out.wide[c] = dw.size > 0 ? dw : null;
    }
  }
  return out;
}

/** A window being merged. */
interface MergeWindow {
  start: number | bigint | null;
  groups: Map<unknown, Group>;
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
  const own = opts.pool ? null : (await import("./pool.ts")).WorkerPool.create(N);
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
      let w = merging.get(p.window);
      if (!w) {
        w = { start: p.start, groups: new Map() };
        merging.set(p.window, w);
      }
      for (const g of p.groups) {
        const k = keyOfValues(g.keys);
        const have = w.groups.get(k);
        if (have) mergeAcc(have.acc, g.acc, aggs);
        else w.groups.set(k, g);
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

  const emitted: MergeWindow[] = [];
  const drain = async (): Promise<void> => {
    while (ready.length > 0) {
      const w = ready.shift() as MergeWindow;
      stats.windowsClosed++;
      if (opts.emit === "changes") {
        const t0 = performance.now();
        const r = await final.rows([w], false);
        mergeMs += performance.now() - t0;
        await onRows({ columns: r.columns, rows: r.rows, window: r.windowLabel, routedRows: stats.rows });
      } else emitted.push(w);
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
      result = await conn.stream(sourceSql(plan));
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
    // Every row with an earlier event time has been routed (rows arrive ordered by it).
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
      const all = merging.get("") ?? { start: null, groups: new Map<unknown, Group>() };
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

/**
 * Turns merged groups into the user's result: loads them into a temp table, turns carried
 * values back into DuckDB's types (i64 offsets + base, dictionary ids joined to their values),
 * and runs the user's select list, HAVING, ORDER BY and LIMIT over them (the parse tree with
 * keys and aggregates replaced by those columns).
 */
class Finalizer {
  private sql: { withLimit: string; noLimit: string } | null = null;
  private created = false;
  /** Transfer columns whose dictionary table exists. */
  readonly dictionaries = new Set<number>();

  constructor(
    private readonly engine: Engine,
    private readonly plan: ReplayPlan,
    private readonly aggs: AggSpec[],
    private readonly reader: ColumnReader,
  ) {}

  /** Stored column type of key i / aggregate j in tl_replay_groups. */
  private keyStored(i: number): string {
    const k = this.plan.keyKinds[i];
    return k === "f64" ? "DOUBLE" : k === "dict" ? "BIGINT" : "VARCHAR";
  }

  private aggStored(j: number): string {
    const g = this.aggs[j] as AggSpec;
    if (g.kind === "count" || g.kind === "count_star" || g.kind === "count_distinct") return "BIGINT";
    if (g.kind === "avg") return "DOUBLE";
    if (g.argKind === "f64") return "DOUBLE";
    if (g.argKind === "dict") return "BIGINT";
    return "VARCHAR";
  }

  private async prepare(): Promise<{ withLimit: string; noLimit: string }> {
    if (this.sql) return this.sql;
    const p = this.plan;
    const a = p.analysis;
    const nKeys = a.keys.length;
    const cols = [
      ...a.keys.map((_, i) => `k${i} ${this.keyStored(i)}`),
      ...a.aggregates.map((_, j) => `g${j} ${this.aggStored(j)}`),
    ];
    await this.engine.run(
      `CREATE OR REPLACE TEMP TABLE tl_replay_groups (${cols.length > 0 ? cols.join(", ") : "dummy INTEGER"})`,
    );
    const joins: string[] = [];
    const typed = [
      ...p.keyTypes.map((t, i) => {
        const k = p.keyKinds[i];
        if (k === "dict") {
          joins.push(`LEFT JOIN ${dictTable(i)} dk${i} ON g.k${i} = dk${i}.id`);
          return `dk${i}.v AS __k${i}`;
        }
        return `${k === "f64" ? `CAST(g.k${i} AS ${t})` : fromI64(`g.k${i}`, t)} AS __k${i}`;
      }),
      ...a.aggregates.map((g, j) => {
        const t = p.aggTypes[j] as string;
        const spec = this.aggs[j] as AggSpec;
        if ((g.kind === "min" || g.kind === "max") && spec.argKind === "dict") {
          joins.push(`LEFT JOIN ${dictTable(spec.col)} dg${j} ON g.g${j} = dg${j}.id`);
          return `dg${j}.v AS __g${j}`;
        }
        if ((g.kind === "min" || g.kind === "max") && spec.argKind === "i64") {
          return `${fromI64(`g.g${j}`, p.argTypes[spec.col - nKeys] as string)} AS __g${j}`;
        }
        return `CAST(g.g${j} AS ${t}) AS __g${j}`;
      }),
    ];
    await this.engine.run(
      `CREATE OR REPLACE TEMP VIEW tl_replay_result AS SELECT ${typed.length > 0 ? typed.join(", ") : "1 AS dummy"} FROM tl_replay_groups g ${joins.join(" ")}`,
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

  /** A carried i64 value with its column's base added, as text. */
  private i64Text(v: number | bigint, c: number): string {
    const base = this.reader.base(c);
    if (base === 0n) return String(v);
    return String(BigInt(v) + base);
  }

  /**
   * Runs the user's projection over the groups of `windows`; `withLimit` false drops LIMIT
   * (one window of --emit changes).
   * @throws SqlError from DuckDB.
   */
  async rows(
    windows: MergeWindow[],
    withLimit: boolean,
  ): Promise<{ columns: { name: string; type: string }[]; rows: unknown[][]; windowLabel: string | null }> {
    const sql = await this.prepare();
    const p = this.plan;
    const nKeys = p.analysis.keys.length;
    await this.engine.run("DELETE FROM tl_replay_groups");
    const rows: (string | bigint | number | null)[][] = [];
    for (const w of windows) {
      for (const g of w.groups.values()) {
        const row: (string | bigint | number | null)[] = [];
        for (let i = 0; i < nKeys; i++) {
          const v = g.keys[i] ?? null;
          const k = p.keyKinds[i];
          if (v === null) row.push(null);
          else if (k === "f64") row.push(v as number);
          else if (k === "dict") row.push(BigInt(v));
          else row.push(this.i64Text(v, i));
        }
        for (let j = 0; j < this.aggs.length; j++) {
          const spec = this.aggs[j] as AggSpec;
          const v = finalValue(g.acc, this.aggs, j, spec.argKind === "i64" ? this.reader.base(spec.col) : 0n);
          const stored = this.aggStored(j);
          if (v === null || v === undefined) row.push(null);
          else if (stored === "BIGINT") row.push(BigInt(v as number));
          else if (stored === "DOUBLE") row.push(Number(v));
          else if ((spec.kind === "min" || spec.kind === "max") && spec.argKind === "i64") {
            row.push(this.i64Text(v as number | bigint, spec.col));
          } else row.push(String(v));
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
    const wk = p.analysis.windowKey;
    const start = windows.length === 1 ? windows[0]?.start : null;
    if (wk !== null && start !== null && start !== undefined) {
      const r = await this.engine.rowsJson<{ s: string }>(
        `SELECT ${fromI64(`'${this.i64Text(start, wk)}'`, p.keyTypes[wk] as string)}::VARCHAR AS s`,
      );
      windowLabel = r[0]?.s ?? null;
    }
    return { columns, rows: reader.getRowsJson() as unknown[][], windowLabel };
  }

  /** Drops the temp table, view and dictionaries. */
  async drop(): Promise<void> {
    for (const c of this.dictionaries)
      await this.engine.run(`DROP TABLE IF EXISTS ${dictTable(c)}`).catch(() => undefined);
    if (!this.created) return;
    await this.engine.run("DROP VIEW IF EXISTS tl_replay_result").catch(() => undefined);
    await this.engine.run("DROP TABLE IF EXISTS tl_replay_groups").catch(() => undefined);
  }
}
