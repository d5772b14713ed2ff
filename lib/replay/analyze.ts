/**
 * Query analysis for replay: what a SELECT groups by, which aggregates it computes, its
 * time window, filter, HAVING and ORDER BY/LIMIT, read from DuckDB's own parse tree
 * (`json_serialize_sql`, shapes in reference/velostream.md §11), and which routing
 * strategies it admits.
 *
 * The parser does not bind: GROUP BY aliases, positions (`GROUP BY 1`) and `GROUP BY ALL`
 * are resolved here against the select list. Expression keys (`time_bucket(...)`,
 * `lower(name)`) are kept whole: DuckDB evaluates them in the source query, so nothing is
 * dropped (velostream kept only bare columns).
 */

import type { Engine } from "../duck/engine.ts";
import { SqlError, UserError } from "../errors.ts";
import { RAW_EVENTS_COLUMNS } from "../lake/raw_block.ts";
import { viewSetByName } from "../views/registry.ts";
import { DUCKDB_AGGREGATES } from "./aggregate_names.ts";

/** Routing strategies (velostream's names, reference/velostream.md §3). */
export const STRATEGIES = ["always_hash", "smart_repartition", "round_robin", "sticky_partition", "fan_in"] as const;

/** A routing strategy. */
export type Strategy = (typeof STRATEGIES)[number];

/** Aggregates replay computes as mergeable partial states. */
export type AggregateKind = "count_star" | "count" | "count_distinct" | "sum" | "min" | "max" | "avg";

/** A node of DuckDB's serialized parse tree (loosely typed: we read a few fields). */
export type AstNode = Record<string, unknown>;

/** One GROUP BY key, resolved. */
export interface GroupKey {
  /** The expression as SQL (DuckDB's own rendering). */
  sql: string;
  /** How the GROUP BY item was written: the expression, an alias, a position, or ALL. */
  writtenAs: string;
  /** Alias of the matching select item, if any. */
  alias: string | null;
  /** 1-based position of the matching select item, if any. */
  position: number | null;
  /** The column name when the key is a bare column reference. */
  column: string | null;
  /** Set when the key is `time_bucket(<fixed width>, <event time column>)`: a tumbling window. */
  window: { widthSql: string } | null;
  /** The expression node (query_location and alias cleared). */
  node: AstNode;
}

/** One aggregate call of the select list, HAVING or ORDER BY. */
export interface Aggregate {
  kind: AggregateKind;
  /** The call as SQL, e.g. `sum(duration)`. */
  sql: string;
  /** The argument as SQL; null for count(*). */
  argSql: string | null;
  /** The argument node; null for count(*). */
  arg: AstNode | null;
  /** The call node (query_location and alias cleared), to find it again. */
  node: AstNode;
}

/** The source of the rows: a JIT view. */
export interface ReplaySource {
  /** View set name, e.g. `thread_spans`. */
  view: string;
  /** The FROM clause as SQL (a view name or a view_instance call). */
  fromSql: string;
  /** Event-time column the rows stream in order of (TIMESTAMP_NS). */
  eventTime: string;
  /** Columns the source is partitioned by: one partition per process and stream. */
  partitionColumns: ["process_id", "stream_id"];
}

/** What the analysis found. */
export interface QueryAnalysis {
  source: ReplaySource;
  /** The WHERE clause as SQL, or null. */
  where: string | null;
  keys: GroupKey[];
  /** Index in `keys` of the tumbling window key, or null. */
  windowKey: number | null;
  aggregates: Aggregate[];
  having: string | null;
  orderBy: string | null;
  limit: string | null;
  /** Notes for --explain (e.g. a time_bucket that is not a closing window, and why). */
  notes: string[];
  /** The parsed SELECT node, for building the final projection. */
  node: AstNode;
}

/** A strategy decision: the strategy, why, and the keys it routes on. */
export interface StrategyChoice {
  strategy: Strategy;
  reason: string;
  /** What a row's partition is computed from, in words (for --explain). */
  routeOn: string;
  /** For always_hash: indexes in `keys` of the keys hashed. */
  hashKeys: number[];
  /** For smart_repartition: which source partition column routes. */
  sourceColumn: "process_id" | "stream_id" | null;
}

/** Event-time column of each view a replay can read (DESIGN.md "Replay"). */
export const EVENT_TIME: Record<string, string> = {
  thread_spans: "begin",
  async_events: "time",
  log_entries: "time",
  measures: "time",
  raw_events: "time",
};

const SUPPORTED = "count(*), count(x), count(DISTINCT x), sum, min, max and avg";

/**
 * Parses `sql` with DuckDB (`json_serialize_sql`) and returns the SELECT node.
 * @throws SqlError with DuckDB's parser message; UserError for more than one statement.
 */
export async function parseSelect(engine: Engine, sql: string): Promise<AstNode> {
  const r = await engine.rows<{ j: string }>("SELECT json_serialize_sql($sql::VARCHAR) AS j", { sql });
  const parsed = parseLossless(r[0]?.j ?? "null") as {
    error: boolean;
    error_message?: string;
    statements?: { node: AstNode }[];
  };
  if (parsed.error) {
    throw new SqlError(
      `replay: ${parsed.error_message ?? "cannot parse the query"} (replay takes one SELECT statement)`,
    );
  }
  if (!parsed.statements || parsed.statements.length !== 1) {
    throw new UserError("replay takes exactly one SELECT statement");
  }
  return (parsed.statements[0] as { node: AstNode }).node;
}

/**
 * Marks a number of DuckDB's serialized parse tree that JavaScript's number would change: a
 * DOUBLE constant (`1000000.0`, `1e300`: its type follows from the token, and DuckDB's
 * deserializer refuses `1000000` where it expects a double) or an integer beyond 2^53 (the u64
 * halves of a HUGEINT, `query_location`'s 2^64-1). Such tokens are kept as strings with this
 * prefix, and written back as the same token by stringifyLossless.
 */
const RAW_NUMBER = "\u0000tl-number:";

/**
 * JSON.parse of DuckDB's serialized parse tree, keeping the exact text of every number that a
 * JavaScript number would not give back unchanged (see RAW_NUMBER); other numbers are numbers.
 */
export function parseLossless(text: string): unknown {
  let out = "";
  let last = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 34 /* " */) {
      for (i++; i < text.length && text.charCodeAt(i) !== 34; i++) if (text.charCodeAt(i) === 92) i++;
      continue;
    }
    if (c === 45 /* - */ || (c >= 48 && c <= 57)) {
      let j = i + 1;
      while (j < text.length && /[0-9.eE+-]/.test(text[j] as string)) j++;
      const token = text.slice(i, j);
      if (/[.eE]/.test(token) || !Number.isSafeInteger(Number(token))) {
        out += `${text.slice(last, i)}${JSON.stringify(RAW_NUMBER + token)}`;
        last = j;
      }
      i = j - 1;
    }
  }
  return JSON.parse(out + text.slice(last));
}

/** JSON.stringify that writes parseLossless's kept numbers back as their original tokens. */
export function stringifyLossless(value: unknown): string {
  const marker = JSON.stringify(RAW_NUMBER).slice(0, -1);
  return JSON.stringify(value).replace(
    new RegExp(`${marker.replace(/[\\^$.*+?()[\]{}|]/g, "\\$&")}([-0-9.eE+]+)"`, "g"),
    "$1",
  );
}

/** Renders a parse-tree SELECT node back to SQL with DuckDB (`json_deserialize_sql`). */
export async function nodeSql(engine: Engine, node: AstNode): Promise<string> {
  const json = stringifyLossless({ error: false, statements: [{ node, named_param_map: [] }] });
  const r = await engine.rows<{ s: string }>("SELECT json_deserialize_sql($j::JSON) AS s", { j: json });
  return r[0]?.s ?? "";
}

/** A SELECT node with only `selectList` over `from` (an EMPTY from by default). */
export function selectNode(selectList: AstNode[], from?: AstNode, where?: AstNode | null): AstNode {
  return {
    type: "SELECT_NODE",
    modifiers: [],
    cte_map: { map: [] },
    select_list: selectList,
    from_table: from ?? { type: "EMPTY", alias: "", sample: null, query_location: 0 },
    where_clause: where ?? null,
    group_expressions: [],
    group_sets: [],
    aggregate_handling: "STANDARD_HANDLING",
    having: null,
    sample: null,
    qualify: null,
  };
}

/** Renders one expression node to SQL. */
export async function exprSql(engine: Engine, expr: AstNode): Promise<string> {
  const s = await nodeSql(engine, selectNode([{ ...expr, alias: "" }]));
  return s.replace(/^SELECT /, "");
}

/** A node as JSON without query_location and with its own alias cleared, for structural comparison. */
export function canonical(node: unknown): string {
  const top = node && typeof node === "object" && !Array.isArray(node) ? { ...(node as AstNode), alias: "" } : node;
  return JSON.stringify(top, (k, v) => (k === "query_location" ? undefined : v));
}

function clean(node: AstNode): AstNode {
  return JSON.parse(JSON.stringify({ ...node, alias: "" })) as AstNode;
}

const isColumnRef = (n: AstNode, name?: string): boolean =>
  n.class === "COLUMN_REF" &&
  Array.isArray(n.column_names) &&
  (n.column_names as string[]).length === 1 &&
  (name === undefined || String((n.column_names as string[])[0]).toLowerCase() === name);

/** Walks every object in a tree. */
function visit(node: unknown, f: (n: AstNode) => boolean | undefined): void {
  if (Array.isArray(node)) {
    for (const n of node) visit(n, f);
    return;
  }
  if (!node || typeof node !== "object") return;
  if (f(node as AstNode) === false) return;
  for (const v of Object.values(node)) if (v && typeof v === "object") visit(v, f);
}

function containsAggregate(node: unknown, aggs: ReadonlySet<string>): boolean {
  let found = false;
  visit(node, (n) => {
    if ((n.class === "FUNCTION" && aggs.has(String(n.function_name).toLowerCase())) || n.class === "WINDOW") {
      found = true;
      return false;
    }
    return undefined;
  });
  return found;
}

/**
 * Analyzes a replay query. Accepted: one SELECT over one event view (`thread_spans`,
 * `async_events`, `log_entries`, `measures`, `raw_events`, or `view_instance('<view>', ...)`),
 * with an optional WHERE, GROUP BY (expressions, aliases, positions, ALL), the aggregates
 * count, sum, min, max, avg and count(DISTINCT), HAVING, ORDER BY and LIMIT.
 * @throws UserError naming what is not supported (joins, subqueries, CTEs, set operations,
 *   window functions, QUALIFY, DISTINCT, grouping sets, other aggregates, FILTER, queries
 *   without aggregation).
 */
export async function analyzeQuery(engine: Engine, sql: string): Promise<QueryAnalysis> {
  const node = await parseSelect(engine, sql);
  const refuse = (what: string): never => {
    throw new UserError(`replay cannot run this query: ${what}`);
  };
  if (node.type !== "SELECT_NODE") refuse("set operations (UNION, EXCEPT, INTERSECT) are not supported");
  if (((node.cte_map as { map?: unknown[] })?.map ?? []).length > 0) refuse("WITH (CTEs) is not supported");
  if (node.qualify) refuse("QUALIFY is not supported");
  if (node.sample) refuse("USING SAMPLE is not supported");
  const from = node.from_table as AstNode;
  let view: string | null = null;
  if (from.type === "BASE_TABLE" && !from.schema_name && !from.catalog_name) {
    view = String(from.table_name).toLowerCase();
  } else if (from.type === "TABLE_FUNCTION") {
    const f = from.function as AstNode;
    const args = (f.children ?? []) as AstNode[];
    const a0 = args[0] as AstNode | undefined;
    if (
      String(f.function_name).toLowerCase() === "view_instance" &&
      args.length === 2 &&
      a0?.class === "CONSTANT" &&
      typeof (a0.value as { value?: unknown }).value === "string"
    ) {
      view = String((a0.value as { value: string }).value).toLowerCase();
    }
  } else if (from.type === "JOIN") refuse("joins are not supported (replay reads one view)");
  else if (from.type === "SUBQUERY") refuse("subqueries in FROM are not supported (replay reads one view)");
  if (view === null || !(view in EVENT_TIME)) {
    refuse(
      `FROM must name one event view (${Object.keys(EVENT_TIME).join(", ")}) or view_instance('<view>', '<process>')`,
    );
  }
  const eventTime = EVENT_TIME[view as string] as string;
  let subquery = false;
  visit(node, (n) => {
    if (n.class === "SUBQUERY") subquery = true;
    return undefined;
  });
  if (subquery) refuse("subqueries are not supported");
  for (const m of (node.modifiers ?? []) as AstNode[]) {
    if (m.type === "DISTINCT_MODIFIER") refuse("SELECT DISTINCT is not supported");
  }
  const aggNames = DUCKDB_AGGREGATES;
  const selectList = node.select_list as AstNode[];
  visit(node, (n) => {
    if (n.class === "WINDOW") refuse(`window function ${String(n.function_name)}() OVER (...) is not supported`);
    return undefined;
  });
  for (const s of selectList) if (s.class === "STAR") refuse("SELECT * is not supported with aggregation");

  // Group keys.
  const groupSets = node.group_sets as number[][];
  if (groupSets.length > 1) refuse("GROUPING SETS, ROLLUP and CUBE are not supported");
  const keys: GroupKey[] = [];
  const aliasOf = (i: number): string | null => (selectList[i]?.alias ? String(selectList[i]?.alias) : null);
  const addKey = async (expr: AstNode, writtenAs: string, position: number | null): Promise<void> => {
    const e = clean(expr);
    if (containsAggregate(e, aggNames)) refuse(`GROUP BY ${writtenAs} contains an aggregate`);
    if (keys.some((k) => canonical(k.node) === canonical(e))) return;
    const pos = position ?? (selectList.findIndex((s) => canonical(clean(s)) === canonical(e)) + 1 || null);
    const column = isColumnRef(e) ? String((e.column_names as string[])[0]).toLowerCase() : null;
    keys.push({
      sql: await exprSql(engine, e),
      writtenAs,
      alias: pos ? aliasOf(pos - 1) : null,
      position: pos,
      column,
      window: null,
      node: e,
    });
  };
  if (node.aggregate_handling === "FORCE_AGGREGATES") {
    for (const [i, s] of selectList.entries()) {
      if (!containsAggregate(s, aggNames)) await addKey(s, "ALL", i + 1);
    }
  } else {
    for (const g of (node.group_expressions ?? []) as AstNode[]) {
      const gv = g.value as { type?: { id?: string }; value?: unknown } | undefined;
      if (g.class === "CONSTANT" && gv && typeof gv.value === "number" && Number.isInteger(gv.value)) {
        const k = gv.value;
        if (k < 1 || k > selectList.length) refuse(`GROUP BY ${k}: the select list has ${selectList.length} items`);
        await addKey(selectList[k - 1] as AstNode, String(k), k);
      } else if (isColumnRef(g)) {
        const name = String((g.column_names as string[])[0]);
        const idx = selectList.findIndex((s) => String(s.alias ?? "").toLowerCase() === name.toLowerCase());
        // DuckDB binds a GROUP BY name to a column of the view first, then to a select alias.
        if (
          idx >= 0 &&
          !isColumnRef(selectList[idx] as AstNode, name.toLowerCase()) &&
          !isViewColumn(view as string, name)
        ) {
          await addKey(selectList[idx] as AstNode, name, idx + 1);
        } else await addKey(g, name, null);
      } else await addKey(g, await exprSql(engine, clean(g)), null);
    }
  }

  // Aggregates in the select list, HAVING and ORDER BY.
  const aggregates: Aggregate[] = [];
  const orderMod = ((node.modifiers ?? []) as AstNode[]).find((m) => m.type === "ORDER_MODIFIER");
  const limitMod = ((node.modifiers ?? []) as AstNode[]).find((m) => m.type === "LIMIT_MODIFIER");
  const collect = async (tree: unknown): Promise<void> => {
    const calls: AstNode[] = [];
    visit(tree, (n) => {
      if (n.class === "FUNCTION" && aggNames.has(String(n.function_name).toLowerCase())) {
        calls.push(n);
        return false;
      }
      return undefined;
    });
    for (const c of calls) {
      const e = clean(c);
      if (aggregates.some((a) => canonical(a.node) === canonical(e))) continue;
      const name = String(e.function_name).toLowerCase();
      const shown = await exprSql(engine, e);
      const children = (e.children ?? []) as AstNode[];
      if (e.filter) refuse(`${shown}: FILTER (WHERE ...) on an aggregate is not supported; put the condition in WHERE`);
      if (((e.order_bys as { orders?: unknown[] })?.orders ?? []).length > 0) {
        refuse(`${shown}: ORDER BY inside an aggregate is not supported`);
      }
      let kind: AggregateKind = "count_star";
      if (name === "count_star") kind = "count_star";
      else if (name === "count" && children.length === 1) kind = e.distinct ? "count_distinct" : "count";
      else if (["sum", "min", "max", "avg", "mean"].includes(name) && children.length === 1) {
        if (e.distinct) refuse(`${shown}: DISTINCT is only supported in count(DISTINCT x)`);
        kind = name === "mean" ? "avg" : (name as AggregateKind);
      } else {
        refuse(`aggregate ${shown} is not supported (replay merges partial states of ${SUPPORTED})`);
      }
      if (children.some((ch) => containsAggregate(ch, aggNames))) refuse(`${shown}: nested aggregates`);
      const arg = children[0] ? clean(children[0]) : null;
      if (arg?.class === "STAR") kind = "count_star";
      aggregates.push({
        kind: kind as AggregateKind,
        sql: shown,
        argSql: arg && arg.class !== "STAR" ? await exprSql(engine, arg) : null,
        arg: arg && arg.class !== "STAR" ? arg : null,
        node: e,
      });
    }
  };
  await collect(selectList);
  await collect(node.having);
  if (orderMod) await collect(orderMod.orders);
  if (aggregates.length === 0 && keys.length === 0) {
    refuse(`the query has no GROUP BY and no aggregate; replay runs aggregations (${SUPPORTED}); use tracelake query`);
  }

  // Tumbling windows: time_bucket(<interval without months or days>, <event time>).
  const notes: string[] = [];
  let windowKey: number | null = null;
  for (const [i, k] of keys.entries()) {
    const n = k.node;
    if (n.class !== "FUNCTION" || String(n.function_name).toLowerCase() !== "time_bucket") continue;
    const ch = (n.children ?? []) as AstNode[];
    if (ch.length !== 2 || !isColumnRef(ch[1] as AstNode, eventTime)) {
      notes.push(`${k.sql} is a plain key, not a closing window: only time_bucket(<width>, ${eventTime}) closes`);
      continue;
    }
    const widthSql = await exprSql(engine, ch[0] as AstNode);
    let parts: { m: bigint; d: bigint } | undefined;
    try {
      parts = (
        await engine.rows<{ m: bigint; d: bigint }>(
          `SELECT datepart('year', w) * 12 + datepart('month', w) AS m, datepart('day', w) AS d FROM (SELECT (${widthSql})::INTERVAL AS w)`,
        )
      )[0];
    } catch {
      parts = undefined;
    }
    if (!parts || parts.m !== 0n || parts.d !== 0n) {
      notes.push(`${k.sql} is a plain key, not a closing window: its width is not a fixed interval below one day`);
      continue;
    }
    if (windowKey !== null) {
      notes.push(`${k.sql} is a plain key: only one window key closes`);
      continue;
    }
    k.window = { widthSql };
    windowKey = i;
  }

  // A constant select item: renders a FROM clause or modifiers through DuckDB on their own.
  const one = selectNode([
    {
      class: "CONSTANT",
      type: "VALUE_CONSTANT",
      alias: "",
      query_location: 0,
      value: { type: { id: "INTEGER", type_info: null }, is_null: false, value: 1 },
    },
  ]);
  return {
    source: {
      view: view as string,
      fromSql: (await nodeSql(engine, { ...one, from_table: from })).replace(/^SELECT 1 FROM /, ""),
      eventTime,
      partitionColumns: ["process_id", "stream_id"],
    },
    where: node.where_clause ? await exprSql(engine, node.where_clause as AstNode) : null,
    keys,
    windowKey,
    aggregates,
    having: node.having ? await exprSql(engine, node.having as AstNode) : null,
    orderBy: orderMod
      ? (await nodeSql(engine, { ...one, modifiers: [orderMod] })).replace(/^SELECT 1 ORDER BY /, "")
      : null,
    limit: limitMod ? (await nodeSql(engine, { ...one, modifiers: [limitMod] })).replace(/^SELECT 1 /, "") : null,
    notes,
    node,
  };
}

/** True when `name` is a column of `view` (DuckDB binds a GROUP BY name to a column before an alias). */
function isViewColumn(view: string, name: string): boolean {
  const cols = view === "raw_events" ? RAW_EVENTS_COLUMNS : (viewSetByName(view)?.columns.map((c) => c.name) ?? []);
  return cols.includes(name.toLowerCase());
}

/**
 * Chooses a strategy for `a` on `partitions` workers, with the reason.
 * - one partition → fan_in;
 * - a bare process_id or stream_id key → smart_repartition (the source is partitioned by it);
 * - entity keys → always_hash on them (windows of a key stay in one partition);
 * - only a window key, or a global aggregate → round_robin with merged partial states
 *   (hashing the window would send each window to one partition at a time, as rows arrive
 *   in time order).
 */
export function chooseStrategy(a: QueryAnalysis, partitions: number): StrategyChoice {
  if (partitions === 1) return validateStrategy(a, "fan_in", "one partition: nothing to route");
  const src = sourceKey(a);
  if (src) {
    return validateStrategy(
      a,
      "smart_repartition",
      `GROUP BY includes ${src}, which the source is already partitioned by: rows route by their source partition, no re-hashing`,
    );
  }
  const entity = a.keys.filter((_, i) => i !== a.windowKey);
  if (entity.length > 0) {
    return validateStrategy(
      a,
      "always_hash",
      `GROUP BY ${entity.map((k) => k.sql).join(", ")}: hashing the key keeps each group (and all its windows) in one partition`,
    );
  }
  return validateStrategy(
    a,
    "round_robin",
    a.windowKey !== null
      ? "the only key is the time window: hashing it would feed one partition at a time (rows arrive in time order), so rows are spread evenly and partial states merged per window"
      : "global aggregate: rows are spread evenly and the partial states merged",
  );
}

function sourceKey(a: QueryAnalysis): "process_id" | "stream_id" | null {
  if (a.keys.some((k) => k.column === "stream_id")) return "stream_id";
  if (a.keys.some((k) => k.column === "process_id")) return "process_id";
  return null;
}

/**
 * Checks an explicitly requested strategy against the query, before any row moves.
 * @throws UserError with the reason when the pair is refused: smart_repartition without a
 *   process_id/stream_id key (the source is not partitioned by the GROUP BY), always_hash
 *   without a key (hashing nothing sends every row to one partition).
 */
export function validateStrategy(a: QueryAnalysis, strategy: Strategy, reason = "requested"): StrategyChoice {
  const entity = a.keys.map((_, i) => i).filter((i) => i !== a.windowKey);
  switch (strategy) {
    case "fan_in":
      return { strategy, reason, routeOn: "nothing: every row to partition 0", hashKeys: [], sourceColumn: null };
    case "round_robin":
      return {
        strategy,
        reason,
        routeOn: "row order (each row to the next partition); partial states merged",
        hashKeys: [],
        sourceColumn: null,
      };
    case "sticky_partition":
      return {
        strategy,
        reason,
        routeOn: "the row's source partition (stream_id): source affinity; partial states merged",
        hashKeys: [],
        sourceColumn: "stream_id",
      };
    case "smart_repartition": {
      const src = sourceKey(a);
      if (!src) {
        throw new UserError(
          `--strategy smart_repartition refused: the source is partitioned by process_id and stream_id, and the GROUP BY (${a.keys.map((k) => k.sql).join(", ") || "none"}) includes neither as a bare column; use always_hash, round_robin or auto`,
        );
      }
      return {
        strategy,
        reason,
        routeOn: `the source partition's ${src} (no hashing)`,
        hashKeys: [],
        sourceColumn: src,
      };
    }
    case "always_hash": {
      if (a.keys.length === 0) {
        throw new UserError(
          "--strategy always_hash refused: a global aggregate has no GROUP BY key to hash (every row would go to one partition); use round_robin, fan_in or auto",
        );
      }
      const hashKeys = entity.length > 0 ? entity : a.keys.map((_, i) => i);
      return {
        strategy,
        reason,
        routeOn: `hash of (${hashKeys.map((i) => a.keys[i]?.sql).join(", ")}), type-tagged and length-prefixed`,
        hashKeys,
        sourceColumn: null,
      };
    }
  }
}
