/**
 * `tracelake partitions [--view V]... [--process P]... [--incompatible]`: lists live partitions
 * (the `lakehouse_partitions` rows), with the process name and whether each has the view set's
 * current schema hash; with --incompatible, only the others (list_incompatible_partitions()).
 * Output as `query` prints it; the SQL is lib/sql/catalog.ts's `partitionsSql`.
 */
import { partitionsSql } from "../lib/sql/catalog.ts";
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
