/**
 * The last step of a replay: merged groups become the user's result rows. They are loaded into
 * a temp table, carried values turned back into DuckDB's types (i64 offsets + base, dictionary
 * ids joined to their values), and DuckDB runs the user's select list, HAVING, ORDER BY and
 * LIMIT over them: the parse tree with keys and aggregates replaced by those columns.
 */

import type { Engine } from "../duck/engine.ts";
import { messageOf, SqlError } from "../errors.ts";
import { type AstNode, canonical, nodeSql, selectNode } from "./analyze.ts";
import type { ColumnReader } from "./batch.ts";
import { dictTable, enumType, fromI64, type ReplayPlan } from "./plan.ts";
import { type AggSpec, finalValue, type Group } from "./state.ts";

/** A window being merged: its start (offset of the window key column) and groups. */
export interface MergeWindow {
  start: number | bigint | null;
  groups: Map<unknown, Group>;
}

/**
 * Turns merged groups into the user's result: loads them into a temp table, turns carried
 * values back into DuckDB's types (i64 offsets + base, dictionary ids joined to their values),
 * and runs the user's select list, HAVING, ORDER BY and LIMIT over them (the parse tree with
 * keys and aggregates replaced by those columns).
 */
export class Finalizer {
  private sql: { withLimit: string; noLimit: string } | null = null;
  private created = false;
  /** Transfer columns whose dictionary table exists. */
  readonly dictionaries = new Set<number>();

  /**
   * @param aggs the worker plan's aggregates; @param reader the replay's column reader (bases).
   */
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
    for (const c of this.dictionaries) {
      await this.engine.run(`DROP TYPE IF EXISTS ${enumType(c)}`).catch(() => undefined);
      await this.engine.run(`DROP TABLE IF EXISTS ${dictTable(c)}`).catch(() => undefined);
    }
    if (!this.created) return;
    await this.engine.run("DROP VIEW IF EXISTS tl_replay_result").catch(() => undefined);
    await this.engine.run("DROP TABLE IF EXISTS tl_replay_groups").catch(() => undefined);
  }
}
