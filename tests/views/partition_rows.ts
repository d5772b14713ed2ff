/**
 * The rows of a view set's partition files, in file order, as text (DuckDB's VARCHAR of each
 * row), by process: how the materializeMany tests compare a batch's files with the
 * one-process build's.
 */
import { join } from "node:path";
import { type Engine, sqlString } from "../../lib/duck/engine.ts";

/**
 * Every partition file of view set `vs` listed by `list_partitions()` (a prepared session),
 * read in file order: process_id → the rows as text.
 */
export async function partitionRows(engine: Engine, root: string, vs: string): Promise<Map<string, string[]>> {
  const parts = await engine.rows<{ id: string; f: string }>(
    "SELECT view_instance_id AS id, file_path AS f FROM list_partitions() WHERE view_set_name = $vs AND file_path IS NOT NULL",
    { vs },
  );
  const out = new Map<string, string[]>();
  for (const p of parts) {
    const rows = await engine.rows<{ r: string }>(
      `SELECT t::VARCHAR AS r FROM read_parquet(${sqlString(join(root, p.f))}) t`,
    );
    out.set(
      p.id,
      rows.map((r) => r.r),
    );
  }
  return out;
}
