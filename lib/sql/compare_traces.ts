/**
 * `compare_traces(a, b [, view])`: two traces (lib/lake/traces.ts: name, trace_id or unique
 * prefix) side by side, one row per slice name: count, total, self, p50 and p90 duration in each
 * and their differences (b - a), ordered by the largest change of total time. `tracelake diff A B`
 * prints it. Durations are BIGINT ns over the spans that ended (`dur >= 0`; an unclosed span's
 * dur is -1, lib/sql/time_columns.ts). p50/p90 are nearest-rank percentiles (DuckDB's
 * quantile_disc: the value at rank ceil(n·q)). Self = dur minus the dur of the span's direct
 * children (same process, `parent` = the span's `id`), or the view's own `self_dur` when it has one.
 *
 * Like view_instance, the call is resolved before the statement runs (lib/sql/query.ts): its
 * literal arguments name the traces, whose processes' partitions are materialized, and a view per
 * call (schema `tl_cmp`, named by the MD5 of its arguments) holds the comparison; the
 * `compare_traces` table macro reads it.
 */
import { type Engine, sqlString } from "../duck/engine.ts";
import { SqlError } from "../errors.ts";
import { resolveTrace, type TraceRef } from "../lake/traces.ts";
import { VIEW_SETS, viewSetByName } from "../views/registry.ts";
import type { ViewSet } from "../views/view_set.ts";
import type { References } from "./references.ts";
import { timeColumnNames } from "./time_columns.ts";

/** The view compared when the call names none. */
export const DEFAULT_COMPARE_VIEW = "thread_spans";

/** One compare_traces call of a statement, resolved against the catalog. */
export interface CompareCall {
  /** The arguments as written: a, b, view. */
  a: string;
  b: string;
  view: string;
  viewSet: ViewSet;
  traceA: TraceRef;
  traceB: TraceRef;
  /** The processes of each trace (process_id). */
  processesA: string[];
  processesB: string[];
}

/** Column names of `vs`'s rows as a query sees them (materialized and added at read time). */
function columnsOf(vs: ViewSet): Set<string> {
  return new Set([...vs.columns.map((c) => c.name), ...timeColumnNames(vs)]);
}

/**
 * Resolves the compare_traces calls of a statement: their literal arguments, the traces and
 * their processes. The catalog must be attached.
 * @returns one entry per distinct call (empty when the statement makes none).
 * @throws SqlError when an argument is not a literal, a trace is unknown or ambiguous, or the
 *   view has no `name` and `dur` columns.
 */
export async function resolveCompareCalls(engine: Engine, refs: References): Promise<CompareCall[]> {
  const out: CompareCall[] = [];
  for (const f of refs.functions) {
    if (f.name !== "compare_traces") continue;
    const texts = f.args?.map((x) => x.text) ?? null;
    if (texts === null || texts.length < 2 || texts.length > 3 || texts.some((t) => t === null)) {
      throw new SqlError(
        "compare_traces takes two or three literal strings: compare_traces('run1', 'run2' [, 'thread_spans']) (trace names, trace_ids or unique prefixes; tracelake traces lists them)",
      );
    }
    const [a, b, view = DEFAULT_COMPARE_VIEW] = texts as string[];
    if (out.some((c) => c.a === a && c.b === b && c.view === view)) continue;
    const vs = viewSetByName(view as string);
    const cols = vs ? columnsOf(vs) : new Set<string>();
    if (!vs || !cols.has("name") || !cols.has("dur")) {
      const ok = VIEW_SETS.filter((v) => columnsOf(v).has("name") && columnsOf(v).has("dur")).map((v) => v.name);
      throw new SqlError(
        `compare_traces: cannot compare '${view}' (it needs name and dur columns); use ${ok.join(", ")}`,
      );
    }
    const err = (m: string) => new SqlError(m);
    const traceA = await resolveTrace(engine, a as string, "compare_traces", err);
    const traceB = await resolveTrace(engine, b as string, "compare_traces", err);
    const procs = async (t: TraceRef): Promise<string[]> =>
      (
        await engine.rows<{ p: string }>(
          "SELECT process_id AS p FROM lake.processes WHERE ingest_id = $id ORDER BY process_id",
          { id: t.traceId },
        )
      ).map((r) => r.p);
    out.push({
      a: a as string,
      b: b as string,
      view: view as string,
      viewSet: vs,
      traceA,
      traceB,
      processesA: await procs(traceA),
      processesB: await procs(traceB),
    });
  }
  return out;
}

/**
 * The view behind one call: named by the MD5 of `a:b:view` (UTF-8), as the macro computes it
 * (no trace reference or view name holds a ':').
 */
function compareView(a: string, b: string, view: string): string {
  return `memory.tl_cmp.c_${new Bun.CryptoHasher("md5").update(`${a}:${b}:${view}`).digest("hex")}`;
}

/**
 * Per name aggregates of one trace's rows (`rows`: a SELECT over the view with its added
 * columns): n, total, self, p50, p90 (ns).
 */
function aggregateSql(vs: ViewSet, rows: string): string {
  const cols = columnsOf(vs);
  let spans: string;
  if (cols.has("self_dur")) {
    spans = `SELECT name, dur, self_dur AS self FROM (${rows}) WHERE dur >= 0`;
  } else if (cols.has("id") && cols.has("parent") && cols.has("process_id")) {
    spans = `SELECT s.name, s.dur, s.dur - coalesce(k.kids, 0) AS self
      FROM (SELECT process_id, id, name, dur FROM (${rows}) WHERE dur >= 0) s
      LEFT JOIN (SELECT process_id, parent AS id, sum(dur) AS kids FROM (${rows}) WHERE dur >= 0 AND parent >= 0 GROUP BY ALL) k
        USING (process_id, id)`;
  } else {
    spans = `SELECT name, dur, NULL::BIGINT AS self FROM (${rows}) WHERE dur >= 0`;
  }
  return `SELECT name, count(*) AS n, sum(dur)::BIGINT AS total, sum(self)::BIGINT AS self,
      quantile_disc(dur, 0.5)::BIGINT AS p50, quantile_disc(dur, 0.9)::BIGINT AS p90
    FROM (${spans}) GROUP BY name`;
}

/**
 * The comparison of two row sources (each a SELECT over `vs` of one trace): the columns of the
 * file comment, `_a`/`_b` for each trace, `_diff` = b - a (a name absent from a trace counts 0
 * spans and 0 ns; its percentiles are NULL).
 */
export function compareSelect(vs: ViewSet, rowsA: string, rowsB: string): string {
  const z = (c: string) => `coalesce(${c}, 0)`;
  return `WITH a AS (${aggregateSql(vs, rowsA)}), b AS (${aggregateSql(vs, rowsB)})
    SELECT coalesce(a.name, b.name) AS name,
      ${z("a.n")} AS count_a, ${z("b.n")} AS count_b, ${z("b.n")} - ${z("a.n")} AS count_diff,
      ${z("a.total")} AS total_a, ${z("b.total")} AS total_b, ${z("b.total")} - ${z("a.total")} AS total_diff,
      a.self AS self_a, b.self AS self_b, coalesce(b.self, 0) - coalesce(a.self, 0) AS self_diff,
      a.p50 AS p50_a, b.p50 AS p50_b, b.p50 - a.p50 AS p50_diff,
      a.p90 AS p90_a, b.p90 AS p90_b, b.p90 - a.p90 AS p90_diff
    FROM a FULL OUTER JOIN b ON a.name IS NOT DISTINCT FROM b.name
    ORDER BY abs(total_diff) DESC, abs(count_diff) DESC, name`;
}

/**
 * Defines the views of the resolved calls and the `compare_traces` table macro (two and three
 * arguments). `select(vs, processId)` gives the SELECT over one process's rows (with the added
 * columns); a trace's rows are those of its processes.
 */
export async function defineCompareViews(
  engine: Engine,
  calls: CompareCall[],
  select: (vs: ViewSet, processId: string) => Promise<string>,
): Promise<void> {
  // The schema goes with the macro's statement when no view needs it first (one call less).
  const schema = "CREATE SCHEMA IF NOT EXISTS memory.tl_cmp";
  if (calls.length > 0) await engine.run(schema);
  for (const c of calls) {
    const rows = async (procs: string[]): Promise<string> =>
      procs.length === 0
        ? `SELECT * FROM (${await select(c.viewSet, "")}) WHERE false`
        : (await Promise.all(procs.map((p) => select(c.viewSet, p)))).map((s) => `(${s})`).join(" UNION ALL ");
    await engine.run(
      `CREATE OR REPLACE VIEW ${compareView(c.a, c.b, c.view)} AS ${compareSelect(c.viewSet, await rows(c.processesA), await rows(c.processesB))}`,
    );
  }
  const name = (view: string) =>
    `query_table('memory.tl_cmp.c_' || md5(a::VARCHAR || ':' || b::VARCHAR || ':' || ${view}))`;
  await engine.run(
    `${calls.length > 0 ? "" : `${schema};\n`}CREATE OR REPLACE MACRO compare_traces(a, b) AS TABLE (SELECT * FROM ${name(sqlString(DEFAULT_COMPARE_VIEW))}),
       (a, b, view_name) AS TABLE (SELECT * FROM ${name("view_name::VARCHAR")})`,
  );
}

/**
 * The query behind `tracelake diff A B [--view V]`: compare_traces with durations in ms (3
 * decimals) for reading.
 */
export function diffSql(a: string, b: string, view: string = DEFAULT_COMPARE_VIEW): string {
  const ms = (c: string) => `round(${c} / 1e6, 3) AS ${c}_ms`;
  return `SELECT name, count_a, count_b, count_diff, ${["total_a", "total_b", "total_diff", "self_a", "self_b", "self_diff", "p50_a", "p50_b", "p50_diff", "p90_a", "p90_b", "p90_diff"].map(ms).join(", ")}
    FROM compare_traces(${sqlString(a)}, ${sqlString(b)}, ${sqlString(view)})
    ORDER BY abs(total_diff) DESC, abs(count_diff) DESC, name`;
}
