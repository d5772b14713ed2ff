/**
 * Planning a replay: binds the analyzed query's source (JIT-materializing the view), decides
 * how each group key and aggregate argument is carried to the workers (integers and times as
 * i64 offsets, doubles as f64, everything else as ids of a dictionary DuckDB builds: VARCHAR
 * through an ENUM, other types through a join), and writes the source query. No row moves.
 */

import type { Engine } from "../duck/engine.ts";
import { messageOf, SqlError, UserError } from "../errors.ts";
import type { Lake } from "../lake/lake.ts";
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
import type { AggSpec, ArgKind, WorkerPlan } from "./state.ts";

/** What planning needs: worker count, strategy, JIT progress callbacks. */
export interface PlanOptions {
  /** Worker count N (1–64). */
  partitions: number;
  /** A strategy, or "auto" to choose from the query. */
  strategy: Strategy | "auto";
  jit?: JitOptions;
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
export const dictTable = (c: number): string => `memory.main.tl_replay_dict_${c}`;

/** The ENUM type of a VARCHAR transfer column `c` (its codes are the dictionary ids). */
export const enumType = (c: number): string => `tl_replay_enum_${c}`;

/**
 * The source query of a plan: the transfer columns, the event time (epoch ns) and, for the
 * strategies that route by source partition, a hash of the partition column. Only what routing
 * needs is selected: every column widens DuckDB's sort.
 * @param ordered true: ordered by event time (sourceInTimeOrder); false: in the view's file
 *   order, with no sort.
 */
export function sourceSql(plan: ReplayPlan, ordered: boolean): string {
  const c = plan.choice;
  const extra = ["epoch_ns(s.__t) AS __t"];
  if (c.strategy === "sticky_partition" || c.strategy === "smart_repartition") {
    extra.push(`hash(s.${c.sourceColumn === "process_id" ? "__proc" : "__stream"}) AS __src`);
  }
  return `SELECT ${[...plan.sourceSelect, ...extra].join(", ")} FROM ${plan.sourceFrom}${ordered ? " ORDER BY __t" : ""}`;
}

/**
 * Whether a replay's source must come in event-time order: when the query has a window (its
 * watermarks close windows) or the replay is paced (`speed`: a factor; null: as fast as
 * possible). Otherwise no row's place in the stream changes the result (every aggregate is
 * count, count(DISTINCT), min, max, or an integer sum or avg summed exactly; double sums and
 * averages differ in the last digits from any other order of addition, the query's own
 * included, README "replay"), and the source skips DuckDB's sort of every row: the README's
 * GROUP BY name over the 174 MB real Chromium JSON trace's 529,175 spans, compiled binary, 7
 * alternating runs: 747 -> 688 ms, 183 -> 159 MB.
 */
export function sourceInTimeOrder(plan: ReplayPlan, speed: number | null): boolean {
  return plan.analysis.windowKey !== null || speed !== null;
}

/** SQL turning an i64 value (base added, as text) in column `col` back into DuckDB type `type`. */
export function fromI64(col: string, type: string): string {
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
export async function planReplay(engine: Engine, lake: Lake, sql: string, opts: PlanOptions): Promise<ReplayPlan> {
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
