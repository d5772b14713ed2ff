/**
 * The SQL table function `perfetto_trace_chunks(process_id, span_types, begin, end)` →
 * (chunk_id INTEGER, chunk_data BLOB): the Perfetto trace of one process in chunks whose
 * concatenation in chunk_id order is a valid trace (micromegas's function,
 * reference/micromegas.md §6.1, with tracelake's exporter: lib/perfetto/export.ts).
 *
 * DuckDB's JS table functions cannot run queries, so the trace is produced before the
 * statement runs: `prepareQuery` (lib/sql/query.ts) finds the calls in the statement's AST,
 * asks for the view instances they read (`addPerfettoReferences`), then
 * `definePerfettoChunks` writes each call's chunks into a memory table and defines the
 * `perfetto_trace_chunks` table macro, which picks the table by its arguments. The arguments
 * must therefore be constants: a process (process_id, unique prefix, `pid:<pid>` or name),
 * 'thread' | 'async' | 'both', and NULL (no bound) or a timestamp (a string or a TIMESTAMP
 * literal) for begin and end. The chunks are held by DuckDB (in memory, spilling to its temp
 * directory), unlike the CLI export, which streams.
 */

import { duckApi } from "../duck/api.ts";
import { type Engine, sqlIdent } from "../duck/engine.ts";
import { SqlError } from "../errors.ts";
import type { Lake } from "../lake/lake.ts";
import { perfettoChunks, type SpanTypes, viewSetsFor } from "../perfetto/export.ts";
import type { FunctionArgument, References } from "./references.ts";

/** One perfetto_trace_chunks call with constant arguments. */
export interface PerfettoChunksCall {
  /** The process argument as written. */
  process: string;
  spans: SpanTypes;
  /** begin / end as written (text of a timestamp), or null. */
  begin: string | null;
  end: string | null;
  /** The types begin / end are cast to in the statement (VARCHAR when not cast). */
  beginType: string;
  endType: string;
}

const FN = "perfetto_trace_chunks";
const FLAGS = { logs: true, counters: true, flows: true };

/** Types a begin/end literal may be cast to (`TIMESTAMP '…'` is a CAST in DuckDB's AST), by AST type id. */
const TIME_TYPES: Record<string, string> = {
  TIMESTAMP: "TIMESTAMP",
  TIMESTAMP_NS: "TIMESTAMP_NS",
  TIMESTAMP_MS: "TIMESTAMP_MS",
  TIMESTAMP_S: "TIMESTAMP_S",
  "TIMESTAMP WITH TIME ZONE": "TIMESTAMPTZ",
  DATE: "DATE",
  VARCHAR: "VARCHAR",
};

/** The SQL type a begin/end argument is cast to in the statement, or VARCHAR for a plain string. */
function castType(arg: FunctionArgument, what: string): string {
  if (arg.castType === null) return "VARCHAR";
  const t = TIME_TYPES[arg.castType];
  if (!t) throw new SqlError(`${FN}: the ${what} argument must be NULL or a timestamp literal`);
  return t;
}

/** The constant text of an argument: a constant, a cast of one, or NULL (null). */
function constant(arg: FunctionArgument, what: string): string | null {
  if (arg.kind === "expression") {
    throw new SqlError(
      `${FN}: the ${what} argument must be a constant (tracelake builds the trace before the query runs); write it as a literal, e.g. ${FN}('<process_id>', 'both', NULL, NULL)`,
    );
  }
  return arg.text;
}

/**
 * Finds the perfetto_trace_chunks calls of a statement and adds the view instances and catalog
 * tables they read to `refs`, so that prepareQuery materializes and defines them.
 * @throws SqlError when a call has the wrong number of arguments, non-constant arguments or an
 *   unknown span_types.
 */
export function addPerfettoReferences(refs: References): PerfettoChunksCall[] {
  const calls: PerfettoChunksCall[] = [];
  for (const f of refs.functions) {
    if (f.name !== FN || f.kind === "scalar") continue;
    if (f.args === null) {
      throw new SqlError(
        `${FN} works in SELECT statements only (tracelake must read its arguments before the statement runs); run the SELECT on its own`,
      );
    }
    const [a0, a1, a2, a3] = f.args;
    if (f.args.length !== 4 || !a0 || !a1 || !a2 || !a3) {
      throw new SqlError(`${FN} takes 4 arguments (process_id, span_types, begin, end); got ${f.args.length}`);
    }
    const process = constant(a0, "first (process_id)");
    if (process === null) throw new SqlError(`${FN}: the first argument (process_id) must not be NULL`);
    const spans = constant(a1, "second (span_types)");
    if (spans !== "thread" && spans !== "async" && spans !== "both") {
      throw new SqlError(`${FN}: span_types must be 'thread', 'async' or 'both', given: ${spans}`);
    }
    const call = {
      process,
      spans: spans as SpanTypes,
      begin: constant(a2, "third (begin)"),
      end: constant(a3, "fourth (end)"),
      beginType: castType(a2, "third (begin)"),
      endType: castType(a3, "fourth (end)"),
    };
    calls.push(call);
    for (const v of viewSetsFor({ ...FLAGS, spans: call.spans }))
      refs.instances.push({ viewSetName: v, instance: process });
  }
  if (calls.length > 0) for (const t of ["processes", "streams", "blocks"]) refs.tables.add(t);
  return calls;
}

/** The macro's key of a call (hex, so safe in a name), computed by DuckDB from the same arguments. */
const key = (p: string, s: string, b: string, e: string) =>
  `md5(${p}::VARCHAR || '|' || ${s}::VARCHAR || '|' || coalesce(CAST(epoch_ns(CAST(${b} AS TIMESTAMP_NS)) AS VARCHAR), '') || '|' || coalesce(CAST(epoch_ns(CAST(${e} AS TIMESTAMP_NS)) AS VARCHAR), ''))`;

/**
 * Writes the chunks of each call into `memory.tl_pf."<key>"` and (re)defines the
 * `perfetto_trace_chunks` macro. `resolved` maps a call's process argument to its process_id
 * (prepareQuery's resolution of the view_instance references added above).
 * @throws SqlError when begin/end is not a timestamp; Error from the exporter.
 */
export async function definePerfettoChunks(
  engine: Engine,
  lake: Lake,
  calls: PerfettoChunksCall[],
  resolved: (processArg: string) => string,
): Promise<void> {
  // The schema goes with the macro's statement when no table needs it first (one call less).
  const schema = "CREATE SCHEMA IF NOT EXISTS memory.tl_pf";
  if (calls.length > 0) await engine.run(schema);
  for (const c of calls) {
    let k: string;
    let b: bigint | null;
    let e: bigint | null;
    try {
      const r = await engine.rows<{ k: string; b: bigint | null; e: bigint | null }>(
        `SELECT ${key("p", "s", "b", "e")} AS k, epoch_ns(CAST(b AS TIMESTAMP_NS)) AS b, epoch_ns(CAST(e AS TIMESTAMP_NS)) AS e
         FROM (SELECT $p::VARCHAR AS p, $s::VARCHAR AS s, CAST($b::VARCHAR AS ${c.beginType}) AS b, CAST($e::VARCHAR AS ${c.endType}) AS e)`,
        { p: c.process, s: c.spans, b: c.begin, e: c.end },
      );
      k = (r[0] as { k: string }).k;
      b = r[0]?.b ?? null;
      e = r[0]?.e ?? null;
    } catch {
      throw new SqlError(
        `${FN}: begin '${c.begin}' or end '${c.end}' is not a timestamp; pass NULL or e.g. TIMESTAMP '2026-01-02 03:04:05'`,
      );
    }
    const table = `memory.tl_pf.${sqlIdent(k)}`;
    await engine.run(`CREATE OR REPLACE TABLE ${table} (chunk_id INTEGER, chunk_data BLOB)`);
    const { blobValue } = await duckApi();
    const processId = resolved(c.process);
    let id = 0;
    for await (const chunk of perfettoChunks(engine, {
      ...FLAGS,
      spans: c.spans,
      processes: [{ processId, instanceKey: c.process }],
      lakeRoot: lake.root,
      beginNs: b,
      endNs: e,
      // The rows users get: 64 KiB each, as before the export's default grew.
      chunkBytes: 64 * 1024,
    })) {
      await engine.run(`INSERT INTO ${table} VALUES ($i, $d)`, { i: id++, d: blobValue(chunk) });
    }
  }
  await engine.run(
    `${calls.length > 0 ? "" : `${schema};\n`}CREATE OR REPLACE MACRO perfetto_trace_chunks(process_id, span_types, "begin", "end") AS TABLE
       SELECT chunk_id, chunk_data FROM query_table(
         'memory.tl_pf."' || ${key("process_id", "span_types", '"begin"', '"end"')} || '"')
       ORDER BY chunk_id`,
  );
}
