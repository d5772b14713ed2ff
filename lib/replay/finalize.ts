/**
 * The last step of a replay: merged groups become the user's result rows. They are loaded into
 * a temp table, carried values turned back into DuckDB's types (i64 offsets + base, dictionary
 * ids joined to their values), and DuckDB runs the user's select list, HAVING, ORDER BY and
 * LIMIT over them: the parse tree with keys and aggregates replaced by those columns.
 */

import { resultRows } from "../duck/chunk_rows.ts";
import type { Engine } from "../duck/engine.ts";
import { type LookupFunction, LookupFunctions } from "../duck/lookup_functions.ts";
import { messageOf, SqlError } from "../errors.ts";
import { type AstNode, canonical, nodeSql, selectNode } from "./analyze.ts";
import type { ColumnReader } from "./batch.ts";
import { dictTable, enumType, fromI64, type ReplayPlan } from "./plan.ts";
import { type AggSpec, finalValue, type Group, valueCount } from "./state.ts";

/**
 * Groups handed to DuckDB column by column: `INSERT INTO tl_replay_groups SELECT ... FROM
 * range(n)` reads the values through two lookup functions (lib/duck/lookup_functions.ts), a
 * vector of 2048 values per JS call, instead of an appender's call per value (on the 153 MB
 * Chromium JSON trace's README query, 199,046 groups of 8 columns: about 3 s of appender calls
 * and BigInts). Each stored column is one to three Float64Array slots of `values` (an integer
 * wider than 2^53 as two limbs, high * 2^48 + low, each exact in a double; an integer sum's or
 * average's count of values beside them, see Carry) and a NULL flag. `pos` of a lookup = slot *
 * rows + row.
 */
export interface GroupSlice {
  rows: number;
  values: Float64Array[];
  nulls: Uint8Array[];
}

/** Base of the two limbs of an integer carried as doubles (low limb in [0, 2^48)). */
const LIMB = 2 ** 48;
/** The widest integer the two limbs carry exactly (|high| < 2^53). */
const MAX_LIMBS = 2n ** 101n;
/** Groups loaded per INSERT: bounds the slice's arrays and keeps `pos` within INTEGER. */
const SLICE_ROWS = 65_536;
/**
 * Groups of closed windows --emit final gathers before handing them to `add` (one INSERT); the
 * replay collects its garbage after each hand-over (replay.ts). A quarter of SLICE_ROWS: on the
 * README's 10 ms windows over the 208 MB Chromium JSON trace (260K groups; compiled, 9
 * alternating runs) the peak was 262 MB (254-270) against 284 (271-300) with SLICE_ROWS, for
 * 1.86 against 1.65 s (16 hand-overs and collections instead of 4). 8,192 gave 253 MB for
 * +0.5 s; collecting only every 65,536 groups kept the peak at 279 MB.
 */
export const ADD_GROUPS = SLICE_ROWS / 4;

/**
 * A lookup of `pos` = column * rows + row in the columns `pick` takes from the slice (exported
 * for its test).
 */
export function sliceLookup(
  name: string,
  returns: "DOUBLE" | "TINYINT",
  pick: (s: GroupSlice) => (Float64Array | Uint8Array)[],
): LookupFunction<GroupSlice> {
  return {
    name,
    returns,
    fill(s, pos, n, out) {
      const o = out[0] as Float64Array | Int8Array;
      const cols = pick(s);
      // range(n) hands each vector consecutive rows, so a vector's positions are usually one run
      // within one column: copied at once (a loop of a division and a remainder per value was
      // 240 ms of the windowed README example's 259K groups x 13 lookups).
      const first = pos[0] as number;
      const col = Math.floor(first / s.rows);
      const at = first - col * s.rows;
      let run = n > 0 && at + n <= s.rows;
      for (let i = 1; run && i < n; i++) run = pos[i] === first + i;
      if (run) {
        o.set((cols[col] as Float64Array | Uint8Array).subarray(at, at + n));
        return;
      }
      for (let i = 0; i < n; i++) {
        const p = pos[i] as number;
        o[i] = (cols[Math.floor(p / s.rows)] as Float64Array | Uint8Array)[p % s.rows] as number;
      }
    },
  };
}

const LOAD = new LookupFunctions<GroupSlice>("replay's result", [
  sliceLookup("tl_replay_value", "DOUBLE", (s) => s.values),
  sliceLookup("tl_replay_null", "TINYINT", (s) => s.nulls),
]);

/**
 * How a stored column travels: one double, an integer as two limbs (HUGEINT), or the sum of an
 * integer column's offsets as two limbs plus the count of values, from which SQL makes the sum
 * (`sumOffsets`: + count × base, HUGEINT) or the average (`avgOffsets`: that / count, DOUBLE).
 */
type Carry = "double" | "bigint" | "limbs" | "sumOffsets" | "avgOffsets";

/** The user's projection over the loaded groups (Finalizer.result): the final result. */
export interface FinalRows {
  /** One SELECT statement, runnable on the replay's engine until `drop`. */
  sql: string;
  /**
   * Runs `sql` and returns its columns (DuckDB's type names) and rows with JSON-friendly values
   * (BIGINT/HUGEINT and timestamps as strings).
   * @throws SqlError from DuckDB.
   */
  read(): Promise<{ columns: { name: string; type: string }[]; rows: unknown[][] }>;
}

/** Columns (DuckDB's type names) and rows with JSON-friendly values (BIGINT/HUGEINT and timestamps as strings). */
export interface ReadRows {
  columns: { name: string; type: string }[];
  rows: unknown[][];
}

/** One window's result (Finalizer.windowRows): its start as DuckDB prints it, its rows. */
export interface WindowRows extends ReadRows {
  label: string;
}

/**
 * Runs `sql` on `engine` and reads the whole result as ReadRows.
 * @throws SqlError from DuckDB.
 */
async function readRows(engine: Engine, sql: string): Promise<ReadRows> {
  try {
    const result = await engine.conn.stream(sql);
    const columns = result.columnNames().map((name, i) => ({ name, type: result.columnTypes()[i]?.toString() ?? "" }));
    const rows: unknown[][] = [];
    for await (const chunk of resultRows(result)) for (const r of chunk) rows.push(r);
    return { columns, rows };
  } catch (e) {
    throw new SqlError(messageOf(e));
  }
}

/**
 * A window being merged: its start (offset of the window key column) and groups: by key while
 * several workers' partials merge, or as the one worker sent them (nothing to merge: no key
 * string and no Map entry per group).
 */
export interface MergeWindow {
  start: number | bigint | null;
  groups: Map<unknown, Group> | Group[];
}

/** The number of groups of a window. */
export function groupCount(w: MergeWindow): number {
  return Array.isArray(w.groups) ? w.groups.length : w.groups.size;
}

/**
 * Turns merged groups into the user's result: loads them into a temp table, turns carried
 * values back into DuckDB's types (i64 offsets + base, dictionary ids joined to their values),
 * and runs the user's select list, HAVING, ORDER BY and LIMIT over them (the parse tree with
 * keys and aggregates replaced by those columns).
 */
export class Finalizer {
  private sql: { final: string; windows: string } | null = null;
  private created = false;
  /** The value and NULL columns `load` fills (sliceFor), reused from load to load. */
  private slice: GroupSlice | null = null;
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
  private keyCarry(i: number): Carry {
    const k = this.plan.keyKinds[i];
    return k === "f64" ? "double" : k === "dict" ? "bigint" : "limbs";
  }

  private aggCarry(j: number): Carry {
    const g = this.aggs[j] as AggSpec;
    if (g.kind === "count" || g.kind === "count_star" || g.kind === "count_distinct") return "bigint";
    if (g.argKind === "f64") return "double";
    if (g.argKind === "dict") return "bigint";
    if (g.kind === "avg") return "avgOffsets";
    return g.kind === "sum" ? "sumOffsets" : "limbs";
  }

  /** The SQL type of a stored column: i64 values (offsets with their base, a sum) as HUGEINT. */
  private static stored(c: Carry): string {
    return c === "double" || c === "avgOffsets" ? "DOUBLE" : c === "bigint" ? "BIGINT" : "HUGEINT";
  }

  private async prepare(): Promise<{ final: string; windows: string }> {
    if (this.sql) return this.sql;
    const p = this.plan;
    const a = p.analysis;
    const nKeys = a.keys.length;
    const cols = [
      ...a.keys.map((_, i) => `k${i} ${Finalizer.stored(this.keyCarry(i))}`),
      ...a.aggregates.map((_, j) => `g${j} ${Finalizer.stored(this.aggCarry(j))}`),
    ];
    // wi: the group's window, by its index in the windows of one `windowRows` call.
    await this.engine.run(`CREATE OR REPLACE TEMP TABLE tl_replay_groups (${[...cols, "wi INTEGER"].join(", ")})`);
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
      `CREATE OR REPLACE TEMP VIEW tl_replay_result AS SELECT ${[...typed, "g.wi AS __wi"].join(", ")} FROM tl_replay_groups g ${joins.join(" ")}`,
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
    const final = await nodeSql(this.engine, { ...selectNode(selectList, from, having), modifiers: mods });
    // Windows closed together: __wi appended to the select list (so positional ORDER BY terms
    // keep their meaning), without LIMIT (--emit changes does not apply it). Rows are split by
    // __wi; restricted to one window, the query's order is that window's order.
    const windows = await nodeSql(this.engine, {
      ...selectNode([...selectList, { ...ref("__wi"), alias: "__wi" }], from, having),
      modifiers: mods.filter((m) => m.type === "ORDER_MODIFIER"),
    });
    this.sql = { final, windows };
    return this.sql;
  }

  /** A carried i64 value with its column's base added, as text. */
  private i64Text(v: number | bigint, c: number): string {
    const base = this.reader.base(c);
    if (base === 0n) return String(v);
    return String(BigInt(v) + base);
  }

  /**
   * The user's projection (without LIMIT) over each of `windows` alone, for --emit changes: the
   * windows' groups replace those loaded before and are read in one statement, and each
   * window's rows are those of its own query, in its order. Each window comes with its start as
   * DuckDB prints it ("NULL" for a NULL window key). One call per batch of windows that close
   * together: a load and a read per window were ~9 ms, 18 s for the 2,026 windows of the
   * README's windowed example on a 190 MB Chromium JSON trace.
   * @throws SqlError from DuckDB, or when an integer sum exceeds ±2^101 (the two limbs).
   */
  async windowRows(windows: MergeWindow[]): Promise<WindowRows[]> {
    const sql = await this.prepare();
    await this.engine.run("DELETE FROM tl_replay_groups");
    await this.load(windows);
    const labels = await this.windowLabels(windows);
    const { columns, rows } = await readRows(this.engine, sql.windows);
    const out: WindowRows[] = windows.map((_, i) => ({
      label: labels[i] ?? "NULL",
      columns: columns.slice(0, -1),
      rows: [],
    }));
    const wi = columns.length - 1;
    for (const row of rows) (out[Number(row[wi])] as WindowRows).rows.push(row.slice(0, wi));
    return out;
  }

  /** The starts of `windows` as DuckDB prints their type (null for a NULL start), in one statement. */
  private async windowLabels(windows: MergeWindow[]): Promise<(string | null)[]> {
    const p = this.plan;
    const wk = p.analysis.windowKey;
    const values: string[] = [];
    for (const [i, w] of windows.entries()) {
      if (wk !== null && w.start !== null) values.push(`(${i}, '${this.i64Text(w.start, wk)}')`);
    }
    const labels: (string | null)[] = windows.map(() => null);
    if (wk === null || values.length === 0) return labels;
    const r = await this.engine.rowsJson<{ i: number; s: string }>(
      `SELECT i, ${fromI64("v", p.keyTypes[wk] as string)}::VARCHAR AS s FROM (VALUES ${values.join(", ")}) t(i, v)`,
    );
    for (const { i, s } of r) labels[Number(i)] = s;
    return labels;
  }

  /**
   * Adds the groups of `windows` to those loaded (--emit final hands the closed windows over
   * in batches of about ADD_GROUPS groups, and drops them).
   * @throws as `rows`.
   */
  async add(windows: MergeWindow[]): Promise<void> {
    await this.prepare();
    await this.load(windows);
  }

  /**
   * The user's projection over the loaded groups (the final result): its SQL, runnable on the
   * engine until `drop`, and a reader of its rows.
   * @throws SqlError from DuckDB.
   */
  async result(): Promise<FinalRows> {
    const select = (await this.prepare()).final;
    const engine = this.engine;
    return { sql: select, read: () => readRows(engine, select) };
  }

  /**
   * Loads the groups of `windows` into tl_replay_groups (see GroupSlice): each key and aggregate
   * as DuckDB's type for it, i64 values with their column's base added.
   */
  private async load(windows: MergeWindow[]): Promise<void> {
    const p = this.plan;
    const nKeys = p.analysis.keys.length;
    const carries: Carry[] = [
      ...p.analysis.keys.map((_, i) => this.keyCarry(i)),
      ...this.aggs.map((_, j) => this.aggCarry(j)),
    ];
    // The base added in SQL to each i64 column: a key's, a min/max's offsets take their
    // column's once; a sum's or avg's offsets, once per value (count × base).
    const bases: bigint[] = carries.map((c, k) => {
      if (c === "double" || c === "bigint") return 0n;
      return k < nKeys ? this.reader.base(k) : this.reader.base((this.aggs[k - nKeys] as AggSpec).col);
    });
    // Slots per column: one value; two limbs; two limbs and the count of values.
    const slotOf: number[] = [];
    let slots = 0;
    for (const c of carries) {
      slotOf.push(slots);
      slots += c === "limbs" ? 2 : c === "sumOffsets" || c === "avgOffsets" ? 3 : 1;
    }
    let total = 0;
    for (const w of windows) total += groupCount(w);
    // The last value slot holds each group's window index (column wi).
    const slice = this.sliceFor(Math.min(total, SLICE_ROWS), slots + 1, carries.length);
    const wiValues = slice.values[slots] as Float64Array;
    const put = (k: number, row: number, v: unknown): void => {
      const c = carries[k] as Carry;
      const values = slice.values;
      const at = slotOf[k] as number;
      if (v === null || v === undefined) {
        (slice.nulls[k] as Uint8Array)[row] = 1;
        return;
      }
      (slice.nulls[k] as Uint8Array)[row] = 0;
      if (c === "double" || c === "bigint") {
        (values[at] as Float64Array)[row] = Number(v);
        return;
      }
      let hi: number;
      let lo: number;
      if (typeof v === "bigint") {
        if (v >= MAX_LIMBS || v <= -MAX_LIMBS) {
          throw new SqlError(
            `replay: an integer result (${v}) is wider than replay carries (±2^101); run the query with tracelake query`,
          );
        }
        hi = Number(v >> 48n);
        lo = Number(v & 0xffffffffffffn);
      } else {
        hi = Math.floor((v as number) / LIMB);
        lo = (v as number) - hi * LIMB;
      }
      (values[at] as Float64Array)[row] = hi;
      (values[at + 1] as Float64Array)[row] = lo;
    };
    let n = 0;
    const flush = async (): Promise<void> => {
      if (n === 0) return;
      const at = (slot: number): string => `(${slot * slice.rows} + i)::INTEGER`;
      const exprs = carries.map((c, k) => {
        const slot = slotOf[k] as number;
        const limbs = `CAST(tl_replay_value(${at(slot)}) AS HUGEINT) * ${LIMB} + CAST(tl_replay_value(${at(slot + 1)}) AS HUGEINT)`;
        const count = `CAST(tl_replay_value(${at(slot + 2)}) AS HUGEINT)`;
        const value =
          c === "double"
            ? `tl_replay_value(${at(slot)})`
            : c === "bigint"
              ? `CAST(tl_replay_value(${at(slot)}) AS BIGINT)`
              : c === "limbs"
                ? `${limbs} + ${bases[k]}`
                : c === "sumOffsets"
                  ? `${limbs} + ${count} * ${bases[k]}`
                  : `CAST(${limbs} + ${count} * ${bases[k]} AS DOUBLE) / ${count}`;
        return `CASE WHEN tl_replay_null(${at(k)}) = 1 THEN NULL ELSE ${value} END`;
      });
      exprs.push(`CAST(tl_replay_value(${at(slots)}) AS INTEGER)`);
      const select = exprs.join(", ");
      await LOAD.run(this.engine, slice, () =>
        this.engine.run(`INSERT INTO tl_replay_groups SELECT ${select} FROM range(${n}) r(i)`),
      );
      n = 0;
    };
    for (const [wi, w] of windows.entries()) {
      for (const g of w.groups.values()) {
        wiValues[n] = wi;
        for (let i = 0; i < nKeys; i++) put(i, n, g.keys[i] ?? null);
        for (let j = 0; j < this.aggs.length; j++) {
          const k = nKeys + j;
          put(k, n, finalValue(g.acc, this.aggs, j));
          const c = carries[k] as Carry;
          if (c === "sumOffsets" || c === "avgOffsets") {
            (slice.values[(slotOf[k] as number) + 2] as Float64Array)[n] = valueCount(g.acc, j);
          }
        }
        if (++n === slice.rows) await flush();
      }
    }
    await flush();
  }

  /**
   * A slice of at least `rows` rows (1 to SLICE_ROWS) with `slots` value and `flags` NULL
   * columns: the last one when it is large enough, else a new one (kept for the next load).
   * --emit changes loads each window on its own (2,026 windows of about 130 groups in the
   * README's windowed example on the 153 MB trace): a slice of SLICE_ROWS rows per load was
   * 3.7 MB allocated and zeroed per window, 7.5 GB in all, most of that run's 18 s.
   */
  private sliceFor(rows: number, slots: number, flags: number): GroupSlice {
    const s = this.slice;
    if (s !== null && s.rows >= rows) return s;
    // Grow by doubling (at least 256 rows) so that windows of growing size reallocate rarely.
    const n = Math.min(SLICE_ROWS, Math.max(256, rows, 2 * (s?.rows ?? 0)));
    this.slice = {
      rows: n,
      values: Array.from({ length: slots }, () => new Float64Array(n)),
      nulls: Array.from({ length: flags }, () => new Uint8Array(n)),
    };
    return this.slice;
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
