/**
 * User queries over a lake. The catalog is attached read-only, and the catalog tables are
 * exposed as views in DuckDB's in-memory database under their micromegas names, so that a
 * query can read but never modify the catalog.
 */

import { join } from "node:path";
import type { DuckDBResult } from "@duckdb/node-api";
import { messageOf, SqlError } from "../errors.ts";
import type { Lake } from "../lake/lake.ts";
import { type Engine, sqlString } from "./engine.ts";

/** Views a query sees, with what they hold (for `.tables`, completion and the README). */
export const CATALOG_VIEWS: Record<string, string> = {
  processes:
    "one row per process: process_id, exe (process name), source_pid, properties (JSON), start_time, insert_time, source_file, trace_format, ingest_id",
  streams:
    "one row per stream: stream_id, process_id, tags (cpu = one thread, log, metrics), properties (thread-name, thread-id), insert_time",
  blocks:
    "one row per raw block (a Parquet blob): block_id, stream_id, process_id, begin_time, end_time, nb_objects, payload_size, file_path, insert_time",
  ingests:
    "one row per ingested source: ingest_id, source, sizes, content_hash, format, counts, summary (JSON), properties (trace metadata), insert_time",
};

/** Every view a query sees (catalog views plus raw_events), with what it holds. */
export const QUERY_VIEWS: Record<string, string> = {
  ...CATALOG_VIEWS,
  raw_events:
    "every raw event in the blocks: process_id, stream_id, block_id, seq, ph, time, dur (ns), thread_time, thread_dur (ns), tid, name, cat, id, id_scope, scope, s, bp, bind_id, flow_in, flow_out, args (JSON)",
};

/** Columns of raw blocks (schema version 1, written by lib/ingest/chrome_json.ts), for an empty lake. */
const RAW_EMPTY = `SELECT NULL::VARCHAR AS process_id, NULL::VARCHAR AS stream_id, NULL::VARCHAR AS block_id,
  NULL::BIGINT AS seq, NULL::VARCHAR AS ph, NULL::TIMESTAMP_NS AS time, NULL::BIGINT AS dur,
  NULL::BIGINT AS thread_time, NULL::BIGINT AS thread_dur, NULL::VARCHAR AS tid, NULL::VARCHAR AS name,
  NULL::VARCHAR AS cat, NULL::VARCHAR AS id, NULL::VARCHAR AS id_scope, NULL::VARCHAR AS scope,
  NULL::VARCHAR AS s, NULL::VARCHAR AS bp, NULL::VARCHAR AS bind_id, NULL::BOOLEAN AS flow_in,
  NULL::BOOLEAN AS flow_out, NULL::JSON AS args WHERE false`;

/**
 * Attaches the lake's catalog read-only and creates the views of `CATALOG_VIEWS`.
 * @throws LakeError when the catalog cannot be attached.
 */
export async function openQuerySession(engine: Engine, lake: Lake): Promise<void> {
  await lake.attach(engine, "read");
  for (const name of Object.keys(CATALOG_VIEWS)) {
    await engine.run(`CREATE OR REPLACE VIEW main.${name} AS SELECT * FROM lake.${name}`);
  }
  // raw_events: all blobs, with their ids read back from the path blobs/<process>/<stream>/<block>.parquet
  // (ids tracelake generated). The file list is fixed when the session opens.
  const files = await engine.rows<{ f: string }>("SELECT file_path AS f FROM lake.blocks ORDER BY insert_time");
  if (files.length === 0) {
    await engine.run(`CREATE OR REPLACE VIEW main.raw_events AS ${RAW_EMPTY}`);
  } else {
    const list = files.map((r) => sqlString(join(lake.root, r.f))).join(", ");
    await engine.run(`CREATE OR REPLACE VIEW main.raw_events AS
      SELECT p[-3] AS process_id, p[-2] AS stream_id, replace(p[-1], '.parquet', '') AS block_id, * EXCLUDE (filename, p)
      FROM (SELECT *, string_split(filename, '/') AS p FROM read_parquet([${list}], filename = true, union_by_name = true))`);
  }
  await engine.run("USE memory.main");
}

/** One statement's streaming result. */
export interface StatementResult {
  /** Column names and DuckDB type names. */
  columns: { name: string; type: string }[];
  /** Rows in chunks, values in JSON-friendly form (BIGINT and timestamps as strings). */
  chunks(): AsyncIterable<unknown[][]>;
  /** True for statements that return no rows (DDL, SET...). */
  empty: boolean;
}

/**
 * Runs `sql` (one or more statements separated by `;`) and yields each statement's result in
 * order. Results stream: rows are pulled from DuckDB chunk by chunk as the caller reads them.
 * @throws SqlError with DuckDB's message when a statement fails to parse or run.
 */
export async function* runStatements(engine: Engine, sql: string): AsyncGenerator<StatementResult> {
  let count: number;
  let extracted: Awaited<ReturnType<typeof engine.conn.extractStatements>>;
  try {
    extracted = await engine.conn.extractStatements(sql);
    count = extracted.count;
  } catch (e) {
    throw new SqlError(messageOf(e));
  }
  for (let i = 0; i < count; i++) {
    let result: DuckDBResult;
    try {
      const prepared = await extracted.prepare(i);
      result = await prepared.stream();
    } catch (e) {
      throw new SqlError(messageOf(e));
    }
    const names = result.deduplicatedColumnNames();
    const types = result.columnTypes().map((t) => t.toString());
    const columns = names.map((name, k) => ({ name, type: types[k] ?? "" }));
    // duckdb_result_type: 3 = QUERY_RESULT (duckdb.h); DDL and SET return nothing to show.
    const empty = Number(result.returnType) !== 3;
    yield {
      columns,
      empty,
      chunks: async function* () {
        try {
          for await (const rows of result.yieldRowsJson()) yield rows as unknown[][];
        } catch (e) {
          throw new SqlError(messageOf(e));
        }
      },
    };
  }
}
