/**
 * Queries about the lake and the session's catalog, for the commands that list them
 * (`partitions`, `info`, and the REPL's `.tables`, `.schema`, `.processes`, `.partitions`): the
 * SQL lives here, the commands print what it returns.
 */
import { type Engine, sqlIdent, sqlString } from "../duck/engine.ts";
import { Lake } from "../lake/lake.ts";
import { processMatchSql, splitTraceRef } from "../lake/process_refs.ts";
import { traceMatchSql } from "../lake/traces.ts";
import { VIEW_SETS } from "../views/registry.ts";
import { emptySelect, hex, schemaHash } from "../views/view_set.ts";
import type { Column } from "./format.ts";
import { addPerfettoViewReferences, PERFETTO_VIEWS, perfettoViewStatements } from "./perfetto_views.ts";
import { openQuerySession, prepareQuery, QUERY_VIEWS } from "./query.ts";
import { SPAN_DEFINITIONS } from "./span_functions.ts";
import { timeColumnsSql } from "./time_columns.ts";

/** A small result: its columns and its rows (values as `printResult` takes them). */
export interface Rows {
  columns: Column[];
  rows: unknown[][];
}

/** Filters of `partitionsSql`. */
export interface PartitionFilter {
  /** View set names (any of them). */
  view?: string[];
  /** Process selectors as view_instance takes them: process_id, a prefix of 4+ chars, exe, `pid:<pid>`, `TRACE:` before any. */
  process?: string[];
  /** Only partitions whose schema hash is not their view set's current one. */
  incompatible?: boolean;
}

/**
 * The query behind `partitions` (and the REPL's `.partitions`): live partitions with process
 * name and schema status, filtered by view set names and process selectors (as view_instance
 * takes them); with `incompatible`, the rows of list_incompatible_partitions() instead.
 * Values reach the SQL as quoted literals (sqlString).
 * @returns one SELECT statement, to run through prepareQuery (it reads list_partitions()).
 */
export function partitionsSql(opts: PartitionFilter): string {
  const where: string[] = [];
  if (opts.view && opts.view.length > 0) where.push(`p.view_set_name IN (${opts.view.map(sqlString).join(", ")})`);
  if (opts.process && opts.process.length > 0) {
    const match = opts.process
      .map((x) => {
        const plain = processMatchSql("r", sqlString(x));
        const split = splitTraceRef(x);
        if (!split) return plain;
        const [t, q] = split.map(sqlString) as [string, string];
        return `(${plain} OR (r.ingest_id IN (SELECT ingest_id FROM ingests WHERE ${traceMatchSql("ingest_id", "name", t)}) AND ${processMatchSql("r", q)}))`;
      })
      .join(" OR ");
    where.push(`(${match})`);
  }
  const filter = where.length > 0 ? `WHERE ${where.join(" AND ")}` : "";
  if (opts.incompatible) {
    return `SELECT p.view_set_name, p.view_instance_id, r.exe, p.begin_insert_time, p.end_insert_time,
        p.num_rows, p.file_size, p.incompatible_schema_hash, p.current_schema_hash, p.file_path
      FROM list_incompatible_partitions() p LEFT JOIN processes r ON r.process_id = p.view_instance_id
      ${filter}
      ORDER BY p.view_set_name, r.exe, p.view_instance_id, p.begin_insert_time`;
  }
  return `SELECT p.view_set_name, p.view_instance_id, r.exe, p.begin_insert_time, p.end_insert_time,
      p.min_event_time, p.max_event_time, p.num_rows, p.file_size,
      p.file_schema_hash = v.current_schema_hash AS current, hex(p.source_data_hash)[1:16] AS source_data_hash,
      p.file_path, p.updated
    FROM list_partitions() p LEFT JOIN processes r ON r.process_id = p.view_instance_id
    LEFT JOIN list_view_sets() v USING (view_set_name)
    ${filter}
    ORDER BY p.view_set_name, r.exe, p.view_instance_id, p.begin_insert_time`;
}

/** The REPL's `.processes`: one row per process with its threads and events, oldest first. */
export const PROCESSES_SQL = `SELECT p.process_id, p.exe, p.source_pid, p.start_time,
    count(DISTINCT s.stream_id) FILTER (WHERE list_contains(s.tags, 'cpu')) AS threads,
    coalesce(sum(b.nb_objects), 0)::BIGINT AS events, p.source_file
  FROM processes p LEFT JOIN streams s USING (process_id) LEFT JOIN blocks b USING (stream_id)
  GROUP BY ALL ORDER BY min(p.insert_time), p.process_id`;

/** What a lake holds (`tracelake info`); sizes in bytes. */
export interface LakeContents {
  catalogVersion: number;
  ingests: number;
  processes: number;
  streams: number;
  blocks: number;
  /** Rows of every block. */
  events: number;
  /** Bytes of every block file. */
  blobBytes: number;
}

/**
 * Counts what the lake's catalog holds, attaching it read-only for the time of the query.
 * @throws the catalog's errors (locked, not a lake).
 */
export async function lakeContents(engine: Engine, lake: Lake): Promise<LakeContents> {
  await lake.attach(engine, "read");
  try {
    const catalogVersion = await Lake.version(engine);
    const r = await engine.rows<Record<string, bigint | null>>(`SELECT
      (SELECT count(*) FROM lake.ingests) AS ingests,
      (SELECT count(*) FROM lake.processes) AS processes,
      (SELECT count(*) FROM lake.streams) AS streams,
      (SELECT count(*) FROM lake.blocks) AS blocks,
      (SELECT coalesce(sum(nb_objects), 0) FROM lake.blocks) AS events,
      (SELECT coalesce(sum(payload_size), 0) FROM lake.blocks) AS blob_bytes`);
    const x = r[0] ?? {};
    const n = (k: string): number => Number(x[k] ?? 0);
    return {
      catalogVersion,
      ingests: n("ingests"),
      processes: n("processes"),
      streams: n("streams"),
      blocks: n("blocks"),
      events: n("events"),
      blobBytes: n("blob_bytes"),
    };
  } finally {
    await lake.detach(engine);
  }
}

/** Processes in the session's `processes` view (openQuerySession or prepareQuery defined it). */
export async function countProcesses(engine: Engine): Promise<number> {
  const r = await engine.rows<{ n: bigint }>("SELECT count(*) AS n FROM processes");
  return Number(r[0]?.n ?? 0);
}

/**
 * Opens a REPL session's catalog: the catalog views and raw_events (openQuerySession), and a
 * placeholder for each JIT view so completion and `.schema` know its columns; a statement that
 * names a JIT view replaces the placeholder with the real view (prepareQuery) before it runs.
 * The placeholder has the view's columns but fails when read (DESCRIBE and completion only bind
 * it), so a statement that reaches a view by a name prepareQuery cannot see
 * (`query_table('thread_' || 'spans')`) gets an error, not an empty result. The Perfetto-shaped
 * views (lib/sql/perfetto_views.ts) are defined over the placeholders, with the same effect.
 */
export async function openSessionCatalog(engine: Engine, lake: Lake): Promise<void> {
  await openQuerySession(engine, lake);
  for (const vs of VIEW_SETS) {
    const msg = sqlString(
      `${vs.name} was not materialized for this statement because the statement does not name it; write ${vs.name} (or view_instance('${vs.name}', ...)) in the statement itself`,
    );
    await engine.run(
      `CREATE VIEW IF NOT EXISTS memory.main.${vs.name} AS SELECT t.* FROM (SELECT 1) one
       LEFT JOIN (SELECT *${timeColumnsSql(vs)} FROM (${emptySelect(vs)})) t ON true WHERE error(${msg}) IS NULL`,
    );
  }
  // Not ancestor_slice/descendant_slice: their helper table reads slice when defined.
  const names = addPerfettoViewReferences(new Set([...PERFETTO_VIEWS.map((v) => v.name), "async_spans"]), [
    "extract_arg",
    "children",
    "descendants",
    "ancestors",
    "heaviest_path",
  ]);
  const rowSelect = async (name: string): Promise<string> =>
    `SELECT *, NULL::VARCHAR AS tl_file, NULL::BIGINT AS file_row_number FROM memory.main.${name}`;
  for (const statement of await perfettoViewStatements(names, rowSelect)) {
    await engine.run(
      statement
        .replace("CREATE OR REPLACE VIEW", "CREATE VIEW IF NOT EXISTS")
        .replace("CREATE OR REPLACE MACRO", "CREATE MACRO IF NOT EXISTS"),
    );
  }
}

/**
 * `.tables`: every view and table of the session with its row count (JIT views: rows in current
 * partitions, NULL until every process has them) and what it holds; the user's own tables and
 * views last. Refreshes the catalog snapshot (prepareQuery) first.
 * @returns columns name, kind, rows (BIGINT as text, or null), description.
 */
export async function listTables(engine: Engine, lake: Lake): Promise<Rows> {
  await prepareQuery(
    engine,
    lake,
    "SELECT * FROM traces, processes, streams, blocks, ingests, lakehouse_partitions, temporary_files",
  );
  const one = async (sql: string): Promise<bigint> =>
    ((await engine.rows<{ n: bigint | null }>(sql))[0]?.n ?? 0n) as bigint;
  const nProcesses = await one("SELECT count(*) AS n FROM processes");
  const rows: unknown[][] = [];
  for (const [name, what] of Object.entries(QUERY_VIEWS)) {
    const vs = VIEW_SETS.find((v) => v.name === name);
    if (vs) {
      const r = await engine.rows<{ n: bigint | null; k: bigint }>(
        `SELECT sum(num_rows)::BIGINT AS n, count(DISTINCT view_instance_id) AS k FROM lakehouse_partitions
         WHERE view_set_name = $1 AND file_schema_hash = unhex($2)`,
        [vs.name, hex(schemaHash(vs))],
      );
      const k = r[0]?.k ?? 0n;
      // Rows are known only once every process's partitions are current (NULL until then).
      const n = k >= nProcesses ? String(r[0]?.n ?? 0) : null;
      rows.push([name, "JIT view", n, `materialized for ${k} of ${nProcesses} processes; ${what}`]);
    } else if (PERFETTO_VIEWS.some((v) => v.name === name)) {
      rows.push([name, "Perfetto view", null, `trace_processor's name, over the JIT views; ${what}`]);
    } else if (name in SPAN_DEFINITIONS) {
      rows.push([name, "view", null, `over the JIT views; ${what}`]);
    } else if (name === "raw_events") {
      rows.push([name, "view", String(await one("SELECT sum(nb_objects)::BIGINT AS n FROM blocks")), what]);
    } else {
      rows.push([name, "catalog view", String(await one(`SELECT count(*) AS n FROM ${sqlIdent(name)}`)), what]);
    }
  }
  const user = await engine.rows<{ name: string; kind: string }>(
    `SELECT table_name AS name, 'table' AS kind FROM duckdb_tables() WHERE database_name = 'memory' AND schema_name = 'main' AND NOT internal AND NOT starts_with(table_name, 'tl_')
     UNION ALL SELECT view_name, 'view' FROM duckdb_views() WHERE database_name = 'memory' AND schema_name = 'main' AND NOT internal AND NOT starts_with(view_name, 'tl_')
     ORDER BY 1`,
  );
  for (const u of user) {
    if (u.name in QUERY_VIEWS) continue;
    const n = await one(`SELECT count(*) AS n FROM ${sqlIdent(u.name)}`).catch(() => null);
    rows.push([u.name, `your ${u.kind}`, n === null ? null : String(n), ""]);
  }
  const columns = [
    { name: "name", type: "VARCHAR" },
    { name: "kind", type: "VARCHAR" },
    { name: "rows", type: "BIGINT" },
    { name: "description", type: "VARCHAR" },
  ];
  return { columns, rows };
}

/**
 * `.schema NAME`: the columns of a view or table, read from the session's definition without
 * running prepareQuery (a JIT view's placeholder has its columns, so nothing is materialized).
 * @returns columns column_name, column_type, null.
 * @throws SqlError from DuckDB when there is no such relation.
 */
export async function describeRelation(engine: Engine, name: string): Promise<Rows> {
  const rows = await engine.rowsJson<{ column_name: string; column_type: string; null: string }>(
    `SELECT column_name, column_type, "null" FROM (DESCRIBE ${sqlIdent(name)})`,
  );
  const columns = [
    { name: "column_name", type: "VARCHAR" },
    { name: "column_type", type: "VARCHAR" },
    { name: "null", type: "VARCHAR" },
  ];
  return { columns, rows: rows.map((r) => [r.column_name, r.column_type, r.null]) };
}

/**
 * `.schema` without a name: every view and table of the session (tracelake's internal `tl_`
 * ones aside) with its columns, by name.
 * @returns one entry per relation; `columns` is `name type, name type, ...` in column order.
 */
export async function listSchemas(engine: Engine): Promise<{ name: string; columns: string }[]> {
  const rows = await engine.rows<{ t: string; cols: string }>(
    `SELECT table_name AS t, string_agg(column_name || ' ' || data_type, ', ' ORDER BY column_index) AS cols
     FROM duckdb_columns() WHERE database_name = 'memory' AND schema_name = 'main' AND NOT internal
       AND NOT starts_with(table_name, 'tl_')
     GROUP BY table_name ORDER BY table_name`,
  );
  return rows.map((r) => ({ name: r.t, columns: r.cols }));
}
