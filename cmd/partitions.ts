/**
 * `tracelake partitions [--view V]... [--process P]... [--incompatible]`: lists live partitions
 * (the `lakehouse_partitions` rows), with the process name and whether each has the view set's
 * current schema hash; with --incompatible, only the others (list_incompatible_partitions()).
 * Output as `query` prints it.
 */
import { sqlString } from "../lib/duck/engine.ts";
import type { GlobalOptions } from "./common.ts";
import { type QueryCommandOptions, queryCommand } from "./query.ts";

/** Options of `partitions`. */
export interface PartitionsCommandOptions extends QueryCommandOptions {
  view?: string[];
  process?: string[];
  /** Only partitions whose schema hash is not their view set's current one. */
  incompatible?: boolean;
}

/** Runs the command; returns the exit code. */
export async function partitionsCommand(opts: PartitionsCommandOptions, g: GlobalOptions): Promise<number> {
  return queryCommand(partitionsSql(opts), opts, g);
}

/**
 * The query behind `partitions` (and the REPL's `.partitions`): live partitions with process
 * name and schema status, filtered by view set names and process selectors (as view_instance
 * takes them); with `incompatible`, the rows of list_incompatible_partitions() instead.
 */
export function partitionsSql(opts: { view?: string[]; process?: string[]; incompatible?: boolean }): string {
  const where: string[] = [];
  if (opts.view && opts.view.length > 0) where.push(`p.view_set_name IN (${opts.view.map(sqlString).join(", ")})`);
  if (opts.process && opts.process.length > 0) {
    const match = opts.process
      .map((x) => {
        const s = sqlString(x);
        return `(r.process_id = ${s} OR (length(${s}) >= 4 AND starts_with(r.process_id, ${s})) OR r.exe = ${s} OR 'pid:' || r.source_pid = ${s})`;
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
