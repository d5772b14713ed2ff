/**
 * `query -o FILE`: one SELECT written to a file by DuckDB's COPY, in the format its extension
 * names (.parquet, .csv with a header, .json as one array, .ndjson/.jsonl one object a line).
 * The COPY goes through the write guard (lib/sql/guard.ts) like any statement a user runs, so
 * the file cannot be inside the lake.
 */
import { resolve } from "node:path";
import { type Engine, sqlString } from "../duck/engine.ts";
import { ExitCode, messageOf, SqlError, UserError } from "../errors.ts";
import type { Lake } from "../lake/lake.ts";
import { guardStatements } from "./guard.ts";
import { QUERY_VIEWS } from "./query.ts";
import { explainSqlError } from "./suggest.ts";

/** DuckDB COPY options by output file extension (lower case, with the dot). */
export const COPY_FORMATS: Record<string, string> = {
  ".parquet": "FORMAT parquet",
  ".csv": "FORMAT csv, HEADER true",
  ".json": "FORMAT json, ARRAY true",
  ".ndjson": "FORMAT json",
  ".jsonl": "FORMAT json",
};

/** The format a file name's extension names (COPY_FORMATS; `.jsonl` is ndjson), or null. */
export function fileFormat(path: string): "parquet" | "csv" | "json" | "ndjson" | null {
  const dot = path.lastIndexOf(".");
  if (dot < 0) return null;
  const ext = path.slice(dot).toLowerCase();
  if (!COPY_FORMATS[ext]) return null;
  return ext === ".jsonl" ? "ndjson" : (ext.slice(1) as "parquet" | "csv" | "json" | "ndjson");
}

/**
 * Checks that results may be written to `path` (not inside the lake), by the write guard's rule
 * for `COPY ... TO` (lib/sql/guard.ts), for a file tracelake writes itself.
 * @throws SqlError (the guard's sentence) when the path is refused.
 */
export function checkOutputPath(lake: Lake, path: string): void {
  guardStatements(`COPY (SELECT 1) TO ${sqlString(resolve(path))} (FORMAT csv)`, lake.root);
}

/**
 * Writes the result of `sql` (one statement) to `path`.
 * @param ext the format as a file extension (`.csv`...), when the path has none (`/dev/stdout`);
 *   default: the path's extension.
 * @returns the number of rows written.
 * @throws UserError when the extension names no format, the text holds several statements, or
 *   the path is refused by the guard; UserError with exit code 1 (SQL) when DuckDB fails.
 */
export async function copyResultTo(
  engine: Engine,
  lake: Lake,
  sql: string,
  path: string,
  ext = path.slice(path.lastIndexOf(".")).toLowerCase(),
): Promise<number> {
  const copy = COPY_FORMATS[ext];
  if (!copy || !ext.startsWith(".")) {
    throw new UserError(`cannot tell the output format of ${path}; use a .parquet, .csv, .json or .ndjson file name`);
  }
  const body = sql.trim().replace(/;+\s*$/, "");
  if (body.includes(";")) throw new UserError("-o takes a single SELECT statement");
  // A device (/dev/stdout) is written in place: DuckDB's default for an existing file is to
  // write `<path>.tmp` and rename it over the path, which for /dev/stdout (stdout redirected to a
  // regular file) replaced the /dev/stdout symlink itself with a regular file, as root.
  const inPlace = resolve(path).startsWith("/dev/") ? ", USE_TMP_FILE false" : "";
  const statement = `COPY (${body}) TO ${sqlString(resolve(path))} (${copy}${inPlace})`;
  guardStatements(statement, lake.root);
  // The user's statement prepared alone first: its error names their SQL (LINE 1 and the caret
  // under it, tracelake's views), not the COPY around it.
  try {
    await engine.conn.prepare(body);
  } catch (e) {
    throw new SqlError(explainSqlError(messageOf(e), Object.keys(QUERY_VIEWS)));
  }
  try {
    const n = await engine.rows<{ Count: bigint }>(statement);
    return Number(n[0]?.Count ?? 0);
  } catch (e) {
    throw new UserError(messageOf(e), ExitCode.sql);
  }
}
