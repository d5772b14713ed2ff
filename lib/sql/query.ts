/**
 * User queries over a lake.
 *
 * Before a SQL text runs, `prepareQuery`:
 * 1. finds the JIT views it reads (lib/sql/references.ts) and materializes exactly those
 *    instances (lib/views/jit.ts): a global name means every process, a
 *    `view_instance('<view set>', '<process>')` call one process;
 * 2. snapshots the catalog tables into the in-memory database (they are small), so the catalog
 *    is attached only for an instant and the query itself holds no lock on the lake: another
 *    tracelake process can ingest or materialize while a long query runs;
 * 3. defines the views the SQL sees: the catalog views, `raw_events`, the global views over
 *    the current partition files, one view per requested instance (schema `tl_vi`) behind the
 *    `view_instance` table macro, and `list_partitions()`, `list_view_sets()`.
 * Partition files are immutable and retired files are deleted only after a grace period
 * (lib/partitions/partitions.ts), so the file lists stay valid for the query's life.
 */

import { join } from "node:path";
import type { DuckDBResult } from "@duckdb/node-api";
import { resultRows } from "../duck/chunk_rows.ts";
import { type Engine, sqlString } from "../duck/engine.ts";
import { messageOf, SqlError } from "../errors.ts";
import type { Lake } from "../lake/lake.ts";
import { resolveProcessRef } from "../lake/process_refs.ts";
import { RAW_EVENTS_COLUMNS, rawEventsEmptySql } from "../lake/raw_block.ts";
import { type JitOptions, type JitReport, type JitRequest, materializeInstances } from "../views/jit.ts";
import { VIEW_SETS, viewSetByName } from "../views/registry.ts";
import { emptySelect, hex, schemaHash, type ViewSet } from "../views/view_set.ts";
import { defineCompareViews, resolveCompareCalls } from "./compare_traces.ts";
import { checkPreparedType, guardEngine, guardedRoot, guardStatements, lexStatements } from "./guard.ts";
import { IMPORT_STATS_COLUMNS, importStatsSelect } from "./import_stats.ts";
import { addPerfettoReferences, definePerfettoChunks } from "./perfetto_chunks.ts";
import { addPerfettoViewReferences, PERFETTO_VIEWS, perfettoViewStatements } from "./perfetto_views.ts";
import { findReferences } from "./references.ts";
import {
  defineRetireFunctions,
  type RetirementSummary,
  runScalarRetirement,
  runTableRetirements,
  type TableRetirements,
} from "./retire_functions.ts";
import { SPAN_DEFINITIONS } from "./span_functions.ts";
import { explainSqlError } from "./suggest.ts";
import { filesByTraceSelect, type TraceOfFiles, timeColumnNames, timeColumnsSql } from "./time_columns.ts";
import { TRACES_DESCRIPTION, TRACES_SELECT, traceStartsSql } from "./traces.ts";

/** Catalog views a query sees, with what they hold (for `.tables`, completion and the README). */
export const CATALOG_VIEWS: Record<string, string> = {
  processes:
    "one row per process: process_id, exe (process name), source_pid (as the source wrote it), properties (JSON), start_time, insert_time, source_file, trace_format, ingest_id, pid (source_pid as BIGINT; NULL when not an integer)",
  streams:
    "one row per stream: stream_id, process_id, tags (cpu = one thread, log, metrics), properties (thread-name, thread-id), insert_time",
  blocks:
    "one row per raw block (a Parquet blob): block_id, stream_id, process_id, begin_time, end_time, nb_objects, payload_size, file_path, insert_time",
  ingests:
    "one row per ingested source: ingest_id, source, sizes, content_hash, format, counts, summary (JSON), properties (trace metadata), insert_time",
  lakehouse_partitions:
    "one row per live partition (micromegas's columns): view_set_name, view_instance_id, insert and event ranges, file_path, file_size, file_schema_hash, source_data_hash, num_rows",
  temporary_files: "retired files awaiting deletion by gc: file_path, file_size, expiration",
  traces: TRACES_DESCRIPTION,
};

/** Every view a query sees (catalog views, raw_events and the JIT views), with what it holds. */
export const QUERY_VIEWS: Record<string, string> = {
  ...CATALOG_VIEWS,
  import_stats: `what each ingest left out and why, one row per (ingest, reason code, phase, dest): ${IMPORT_STATS_COLUMNS.map(([c]) => c).join(", ")}`,
  raw_events: `every raw event in the blocks: ${RAW_EVENTS_COLUMNS.join(", ")} (time TIMESTAMP_NS; dur, thread_time, thread_dur ns; args JSON)`,
  ...Object.fromEntries(
    VIEW_SETS.map((v) => [
      v.name,
      `${v.description}; every process (materialized on use); trace_id, ${timeColumnNames(v).slice(1).join(", ")} BIGINT ns`,
    ]),
  ),
  ...Object.fromEntries(PERFETTO_VIEWS.map((v) => [v.name, v.description])),
  async_spans: SPAN_DEFINITIONS.async_spans?.description ?? "",
};

/** raw_events of a lake without blocks: no rows, the columns of lib/lake/raw_block.ts. */
const RAW_EMPTY = rawEventsEmptySql();

/** Snapshot table of a catalog table. */
const snap = (name: string) => `memory.main.tl_cat_${name}`;

/** Options of prepareQuery: the JIT's, and whether to define every SQL function. */
export interface PrepareOptions extends JitOptions {
  /**
   * Define the retirement functions even when the text does not name them (a session that
   * runs later statements without preparing them, e.g. the REPL's completion source).
   */
  defineAll?: boolean;
}

/** Names of the retirement functions (a text naming none of them does not need them defined). */
const RETIRE_NAMES = /retire_|list_incompatible_partitions/i;

/** What preparing a SQL text did. */
export interface PrepareResult {
  /** The JIT report (null when no JIT view was referenced). */
  jit: JitReport | null;
  /** What the statement's retirement functions did (null when it calls none). */
  retirement: RetirementSummary | null;
}

/**
 * Prepares `sql` to run: materializes the JIT instances it reads, snapshots the catalog and
 * defines every view and macro (see the file comment). Call it before each `runStatements`;
 * the catalog is not attached when it returns (whether or not it was on entry).
 * When the statement calls retirement functions (lib/sql/retire_functions.ts), the table ones
 * run here, and a statement calling the scalar ones runs here once (its first pass), so that
 * the retirement is applied before the caller runs it.
 * @throws SqlError when the text would write the lake (lib/sql/guard.ts), a view_instance call names an unknown view set or process, a
 *   retirement function is misused, or the statement fails in its first pass;
 *   LakeError when the catalog is busy past its timeout.
 */
export async function prepareQuery(
  engine: Engine,
  lake: Lake,
  sql: string,
  jitOptions: PrepareOptions = {},
): Promise<PrepareResult> {
  try {
    return await prepare(engine, lake, sql, jitOptions);
  } finally {
    await lake.detach(engine);
  }
}

/**
 * prepareQuery's steps. The catalog, attached read-only by the caller (Lake.open's
 * keepAttached) or here at the first step that reads it, stays attached from step to step
 * (one ATTACH for a query whose views are current) until the snapshot is taken; steps that
 * write it (retirement, the JIT's commit) attach it for writing and leave it detached.
 */
async function prepare(engine: Engine, lake: Lake, sql: string, jitOptions: PrepareOptions): Promise<PrepareResult> {
  // The write guard (lib/sql/guard.ts), before any of the text runs (runScalarRetirement below
  // runs it once); runStatements checks again, statement by statement.
  guardStatements(sql, lake.root);
  guardEngine(engine, lake.root);
  const refs = await findReferences(engine, sql);
  const retirements = await runTableRetirements(engine, lake, refs, jitOptions.retiredGraceMs);
  const perfettoCalls = addPerfettoReferences(refs);
  // slice, thread, ...: what they read joins the references (lib/sql/perfetto_views.ts).
  const perfettoViews = addPerfettoViewReferences(
    refs.tables,
    refs.functions.map((f) => f.name),
  );
  await lake.attach(engine, "read");
  const globals = VIEW_SETS.filter((v) => refs.tables.has(v.name));
  // Resolve view_instance arguments against the catalog.
  const instanceViews: { viewSet: ViewSet; literal: string; processId: string }[] = [];
  if (refs.instances.length > 0) {
    // Each process named once (an export names each of its processes once per view set), and
    // an exact process_id without a query of its own: resolveProcess would return it as is.
    const ids = new Set(
      (await engine.rows<{ p: string }>("SELECT process_id AS p FROM lake.processes")).map((r) => r.p),
    );
    const resolved = new Map<string, string>();
    for (const ref of refs.instances) {
      const vs = viewSetByName(ref.viewSetName);
      if (!vs) {
        throw new SqlError(
          `view_instance: unknown view set '${ref.viewSetName}'; use one of ${VIEW_SETS.map((v) => v.name).join(", ")}`,
        );
      }
      let processId = resolved.get(ref.instance);
      if (processId === undefined) {
        processId = ids.has(ref.instance) ? ref.instance : await resolveProcess(engine, ref.instance);
        resolved.set(ref.instance, processId);
      }
      instanceViews.push({ viewSet: vs, literal: ref.instance, processId });
    }
  }
  // compare_traces(a, b [, view]) calls: their traces' processes (lib/sql/compare_traces.ts).
  const compares = await resolveCompareCalls(engine, refs);
  const requests: JitRequest[] = globals.map((viewSet) => ({ viewSet, processIds: null }));
  for (const vs of VIEW_SETS) {
    if (globals.includes(vs)) continue;
    const ids = [
      ...new Set([
        ...instanceViews.filter((i) => i.viewSet === vs).map((i) => i.processId),
        ...compares.filter((c) => c.viewSet === vs).flatMap((c) => [...c.processesA, ...c.processesB]),
      ]),
    ];
    if (ids.length > 0) requests.push({ viewSet: vs, processIds: ids });
  }
  const jit = requests.length > 0 ? await materializeInstances(engine, lake, requests, jitOptions) : null;
  // Catalog tables the SQL reads (a superset when the text scan was used), plus what the
  // views below are built from.
  const tables = Object.keys(CATALOG_VIEWS).filter(
    (t) =>
      refs.tables.has(t) ||
      t === "lakehouse_partitions" ||
      t === "processes" ||
      (t === "blocks" && refs.tables.has("raw_events")) ||
      (t === "ingests" && refs.tables.has("import_stats")),
  );
  await snapshotCatalog(engine, lake, tables);
  await lake.detach(engine);
  // The retirement functions take a dozen statements to define: only when the text names one.
  const retire = jitOptions.defineAll === true || RETIRE_NAMES.test(sql);
  const partitionFiles = new PartitionFiles(engine);
  await defineViews(
    engine,
    lake,
    partitionFiles,
    tables,
    refs.tables.has("raw_events"),
    globals,
    instanceViews,
    retire ? retirements : null,
    perfettoViews,
  );
  await defineCompareViews(engine, compares, (vs, id) => partitionsSelect(lake, partitionFiles, vs, id));
  await definePerfettoChunks(engine, lake, perfettoCalls, (arg) => {
    return (instanceViews.find((i) => i.literal === arg) as { processId: string }).processId;
  });
  const batch = await runScalarRetirement(engine, lake, sql, refs, jitOptions.retiredGraceMs);
  const summary = retirements.summary;
  if (batch) {
    summary.requests = batch.messages.length;
    summary.retired += batch.committed ? batch.retired.length : 0;
    summary.bytesQueued += batch.committed ? batch.bytesQueued : 0;
    if (batch.failures > 0) summary.rolledBack = batch.messages.find((m) => m.startsWith("ERROR")) ?? "rolled back";
  }
  const used = batch !== null || retirements.incompatible.size > 0 || retirements.ranges.size > 0;
  return { jit, retirement: used ? summary : null };
}

/**
 * Resolves the second argument of view_instance to a process_id: the id itself, a unique
 * prefix of it (at least 4 characters), `pid:<source pid>` or a process name (exe), or one of
 * these after `TRACE:` (lib/lake/process_refs.ts), when exactly one process matches. The
 * catalog must be attached.
 * @throws SqlError naming the candidates when none or several match.
 */
export async function resolveProcess(engine: Engine, text: string, context = "view_instance"): Promise<string> {
  return resolveProcessRef(engine, text, context, (m) => new SqlError(m));
}

/**
 * Prepares a session for SQL that reads no JIT view: every catalog view and raw_events.
 * @throws LakeError when the catalog is busy past its timeout.
 */
export async function openQuerySession(engine: Engine, lake: Lake): Promise<void> {
  await prepareQuery(engine, lake, `SELECT * FROM raw_events, ${Object.keys(CATALOG_VIEWS).join(", ")}`, {
    defineAll: true,
  });
}

/** Copies the catalog tables into the in-memory database (attaching the catalog read-only if it is not). */
async function snapshotCatalog(engine: Engine, lake: Lake, tables: string[]): Promise<void> {
  await lake.attach(engine, "read");
  // One call for all (each call is a round trip to DuckDB's thread, ~1 ms).
  const copies = tables.map((name) => {
    const select = name === "traces" ? TRACES_SELECT : `SELECT * FROM lake.${name}`;
    return `CREATE OR REPLACE TABLE ${snap(name)} AS ${select}`;
  });
  if (copies.length > 0) await engine.run(copies.join(";\n"));
}

async function defineViews(
  engine: Engine,
  lake: Lake,
  partitionFiles: PartitionFiles,
  tables: string[],
  rawEvents: boolean,
  globals: ViewSet[],
  instances: { viewSet: ViewSet; literal: string; processId: string }[],
  retirements: TableRetirements | null,
  perfettoViews: readonly string[],
): Promise<void> {
  // The statements go to DuckDB in as few calls as possible (each call is a round trip to its
  // thread, ~1 ms): collected in `out`, run before anything that reads what they define.
  const out: string[] = ["USE memory.main"];
  const flush = async (): Promise<void> => {
    if (out.length > 0) await engine.run(out.splice(0).join(";\n"));
  };
  for (const name of tables) {
    // processes: `pid`, the source's pid as an integer (NULL when it is not one), beside the text.
    const extra = name === "processes" ? ", TRY_CAST(source_pid AS BIGINT) AS pid" : "";
    out.push(`CREATE OR REPLACE VIEW main.${name} AS SELECT *${extra} FROM ${snap(name)}`);
  }
  if (tables.includes("ingests"))
    out.push(`CREATE OR REPLACE VIEW main.import_stats AS ${importStatsSelect(snap("ingests"))}`);
  // raw_events: all blobs, with their ids read back from the path blobs/<process>/<stream>/<block>.parquet
  // (ids tracelake generated).
  const files = rawEvents
    ? await engine.rows<{ f: string }>(`SELECT file_path AS f FROM ${snap("blocks")} ORDER BY insert_time`)
    : [];
  if (files.length === 0) {
    out.push(`CREATE OR REPLACE VIEW main.raw_events AS ${RAW_EMPTY}`);
  } else {
    const list = files.map((r) => sqlString(join(lake.root, r.f))).join(", ");
    out.push(`CREATE OR REPLACE VIEW main.raw_events AS
      SELECT p[-3] AS process_id, p[-2] AS stream_id, replace(p[-1], '.parquet', '') AS block_id, * EXCLUDE (filename, p)
      FROM (SELECT *, string_split(filename, '/') AS p FROM read_parquet([${list}], filename = true, union_by_name = true))`);
  }
  // list_view_sets() and list_partitions().
  const vsRows = VIEW_SETS.map(
    (vs) =>
      `(${sqlString(vs.name)}, unhex('${hex(schemaHash(vs))}'), ${sqlString(vs.columns.map((c) => `${c.name} ${c.type}`).join(", "))}, true, true, '${vs.streamTag}', ${sqlString(vs.description)})`,
  );
  out.push(`CREATE OR REPLACE TABLE memory.main.tl_view_sets AS SELECT * FROM (VALUES ${vsRows.join(", ")})
    t(view_set_name, current_schema_hash, schema, has_view_maker, global_instance_available, stream_tag, description)`);
  out.push("CREATE OR REPLACE MACRO list_view_sets() AS TABLE SELECT * FROM memory.main.tl_view_sets");
  out.push(
    `CREATE OR REPLACE MACRO list_partitions() AS TABLE SELECT * FROM ${snap("lakehouse_partitions")} ORDER BY view_set_name, view_instance_id, begin_insert_time`,
  );
  // Global views over the current partitions (materialized above for every process).
  for (const vs of globals) {
    out.push(`CREATE OR REPLACE VIEW main.${vs.name} AS ${await partitionsSelect(lake, partitionFiles, vs, null)}`);
  }
  out.push("CREATE SCHEMA IF NOT EXISTS memory.tl_vi");
  for (const i of instances) {
    out.push(
      `CREATE OR REPLACE VIEW ${instanceView(i.viewSet.name, i.literal)} AS ${await partitionsSelect(lake, partitionFiles, i.viewSet, i.processId)}`,
    );
  }
  const rowSelect = (name: string) =>
    partitionsSelect(lake, partitionFiles, viewSetByName(name) as ViewSet, null, true);
  out.push(...(await perfettoViewStatements(perfettoViews, rowSelect)));
  if (retirements) {
    await flush();
    await defineRetireFunctions(engine, snap("lakehouse_partitions"), retirements);
  }
  out.push(
    `CREATE OR REPLACE MACRO view_instance(view_set_name, view_instance_id) AS TABLE
       SELECT * FROM query_table('memory.tl_vi.vi_' || md5(view_set_name::VARCHAR || ':' || view_instance_id::VARCHAR))`,
  );
  await flush();
}

/**
 * The view behind `view_instance(view_set, literal)`: named by the MD5 of `view_set:literal`
 * (UTF-8), as the macro computes it, so that no quote in a process name reaches query_table's
 * name parsing (which takes no escaped quotes).
 */
function instanceView(viewSet: string, literal: string): string {
  return `memory.tl_vi.vi_${new Bun.CryptoHasher("md5").update(`${viewSet}:${literal}`).digest("hex")}`;
}

/**
 * A SELECT over the current partition files of `vs` (one process, or all when null): the
 * materialized columns and the time columns (lib/sql/time_columns.ts); with `rowIds`, the
 * materialized columns and each row's file (`tl_file`) and position in it (`file_row_number`).
 */
async function partitionsSelect(
  lake: Lake,
  partitionFiles: PartitionFiles,
  vs: ViewSet,
  processId: string | null,
  rowIds = false,
): Promise<string> {
  const all = await partitionFiles.of(vs);
  const files = processId === null ? all : all.filter((r) => r.id === processId);
  if (files.length === 0) {
    const extra = rowIds ? ", NULL::VARCHAR AS tl_file, NULL::BIGINT AS file_row_number" : timeColumnsSql(vs);
    return `SELECT *${extra} FROM (${emptySelect(vs)})`;
  }
  const path = (f: string) => sqlString(join(lake.root, f));
  if (rowIds) {
    const list = files.map((r) => path(r.f)).join(", ");
    return `SELECT * FROM read_parquet([${list}], filename = 'tl_file', file_row_number = true)`;
  }
  // One read_parquet per trace, with its trace_id and start (lib/sql/time_columns.ts).
  const groups = new Map<string | null, { trace: TraceOfFiles | null; files: string[] }>();
  for (const r of files) {
    let g = groups.get(r.trace_id);
    if (!g) {
      g = { trace: r.trace_id === null ? null : { traceId: r.trace_id, startTs: r.start_ts }, files: [] };
      groups.set(r.trace_id, g);
    }
    g.files.push(path(r.f));
  }
  return filesByTraceSelect(vs, [...groups.values()]);
}

/** A current partition file of a view set: its path, instance (process_id) and trace. */
interface PartitionFile {
  f: string;
  id: string;
  trace_id: string | null;
  start_ts: bigint | null;
}

/**
 * The order of an instance's partition files in its view (after trace and instance):
 * PartitionFiles reads them in it, instancesInTimeOrder judges the order of rows by it.
 */
const INSTANCE_FILE_ORDER = "begin_insert_time, file_path";

/**
 * The current partition files of each view set, read from the catalog snapshot once per
 * prepare, for every view set in one query (not one per view instance: an export of 10
 * processes defines 50 instances; nor one per view set: five queries one after another took
 * ~60 ms of a warm export's prepare here, one takes ~12), in the views' file order: trace,
 * instance, begin insert time, path.
 */
class PartitionFiles {
  private byViewSet: Promise<Map<string, PartitionFile[]>> | null = null;

  constructor(private readonly engine: Engine) {}

  /** The files of every instance of `vs` whose schema hash is the current one. */
  async of(vs: ViewSet): Promise<PartitionFile[]> {
    this.byViewSet ??= this.load();
    return (await this.byViewSet).get(vs.name) ?? [];
  }

  /** Every view set's current files, by view set name. */
  private async load(): Promise<Map<string, PartitionFile[]>> {
    const current = VIEW_SETS.map((vs) => `${vs.name}:${hex(schemaHash(vs))}`);
    const rows = await this.engine.rows<PartitionFile & { vs: string }>(
      `SELECT p.view_set_name AS vs, p.file_path AS f, p.view_instance_id AS id, t.trace_id, t.start_ts
         FROM ${snap("lakehouse_partitions")} p
         LEFT JOIN ${snap("processes")} r ON r.process_id = p.view_instance_id
         LEFT JOIN (${traceStartsSql(snap("processes"))}) t ON t.trace_id = r.ingest_id
       WHERE list_contains($current::JSON::VARCHAR[], view_set_name || ':' || lower(hex(file_schema_hash)))
         AND file_path IS NOT NULL
       ORDER BY view_set_name, t.trace_id, view_instance_id, ${INSTANCE_FILE_ORDER}`,
      { current: JSON.stringify(current) },
    );
    const by = new Map<string, PartitionFile[]>();
    for (const { vs, ...file } of rows) {
      const list = by.get(vs);
      if (list) list.push(file);
      else by.set(vs, [file]);
    }
    return by;
  }
}

/**
 * The instances of `vs` whose rows, as their view reads them (partitionsSelect: the files in
 * begin insert time, then path order, each file's rows in its own order), come in event time
 * order: every file is written in time order (the view set's transform sorts by time; the caller
 * knows which do), so this holds when each file's event range begins at or after the end of the
 * file before it. A reader such as the Perfetto export then streams them without sorting.
 * @param partitions the table of partitions (lakehouse_partitions' columns); default: the
 *   catalog snapshot of the last prepareQuery, which must have defined `vs`.
 * @returns the process ids (view_instance_id) of those instances.
 */
export async function instancesInTimeOrder(
  engine: Engine,
  vs: ViewSet,
  partitions = snap("lakehouse_partitions"),
): Promise<Set<string>> {
  const rows = await engine.rows<{ id: string }>(
    `SELECT view_instance_id AS id FROM (
       SELECT view_instance_id, min_event_time AS lo,
         lag(max_event_time) OVER (PARTITION BY view_instance_id ORDER BY ${INSTANCE_FILE_ORDER}) AS prev_hi
       FROM ${partitions}
       WHERE view_set_name = $vs AND file_schema_hash = unhex($h) AND file_path IS NOT NULL)
     GROUP BY view_instance_id HAVING bool_and(prev_hi IS NULL OR lo >= prev_hi)`,
    { vs: vs.name, h: hex(schemaHash(vs)) },
  );
  return new Set(rows.map((r) => r.id));
}

/** One statement's streaming result. */
export interface StatementResult {
  /** Column names and DuckDB type names. */
  columns: { name: string; type: string }[];
  /**
   * Rows in chunks (DuckDB's, up to 2048 rows), values in JSON-friendly form (BIGINT and
   * timestamps as strings). With `convert`, the chunks after the first `convert` rows are only
   * counted: each comes as an array of its length with no entries (a table showing 100 rows of
   * 580K converted them all to count them: 7.7 s, against 0.6 s now).
   */
  chunks(convert?: number): AsyncIterable<unknown[][]>;
  /** True for statements that return no rows (DDL, SET...). */
  empty: boolean;
}

/**
 * Runs `sql` (one or more statements separated by `;`) and yields each statement's result in
 * order. Results stream: rows are pulled from DuckDB chunk by chunk as the caller reads them.
 * On an engine prepared for a lake (prepareQuery), statements that would write the lake are
 * refused before any runs, and each prepared statement's type is checked (lib/sql/guard.ts).
 * @throws SqlError with DuckDB's message when a statement fails to parse or run, the guard's
 *   sentence when it is refused, or when `sql` holds no statement (empty, or only whitespace,
 *   comments and `;`: DuckDB's statement extraction fails on it with "Error in native callback").
 */
export async function* runStatements(engine: Engine, sql: string): AsyncGenerator<StatementResult> {
  if (lexStatements(sql).length === 0)
    throw new SqlError("no SQL statement: the text is empty, or only comments and ';'");
  let count: number;
  let extracted: Awaited<ReturnType<typeof engine.conn.extractStatements>>;
  const root = guardedRoot(engine);
  const kinds = root === undefined ? null : guardStatements(sql, root);
  try {
    extracted = await engine.conn.extractStatements(sql);
    count = extracted.count;
  } catch (e) {
    throw new SqlError(explainSqlError(messageOf(e), Object.keys(QUERY_VIEWS)));
  }
  for (let i = 0; i < count; i++) {
    let result: DuckDBResult;
    try {
      const prepared = await extracted.prepare(i);
      if (kinds) checkPreparedType(Number(prepared.statementType), i, count, kinds);
      result = await prepared.stream();
    } catch (e) {
      throw new SqlError(explainSqlError(messageOf(e), Object.keys(QUERY_VIEWS)));
    }
    const names = result.deduplicatedColumnNames();
    // A JSON column's type is VARCHAR with the alias JSON: keep the alias (JSON output parses it).
    const types = result.columnTypes().map((t, k) => result.columnLogicalType(k).alias ?? t.toString());
    const columns = names.map((name, k) => ({ name, type: types[k] ?? "" }));
    // duckdb_result_type: 3 = QUERY_RESULT (duckdb.h); DDL and SET return nothing to show.
    const empty = Number(result.returnType) !== 3;
    yield {
      columns,
      empty,
      chunks: async function* (convert = Number.POSITIVE_INFINITY) {
        try {
          yield* resultRows(result, convert);
        } catch (e) {
          throw new SqlError(explainSqlError(messageOf(e), Object.keys(QUERY_VIEWS)));
        }
      },
    };
  }
}
