/**
 * `tracelake diff A B [--view V]`: two traces side by side, one row per slice name (count, total,
 * self, p50, p90 in each and b - a, durations in ms), largest change first: `compare_traces`
 * (lib/sql/compare_traces.ts), printed as `query` prints it.
 */
import { diffSql } from "../lib/sql/compare_traces.ts";
import type { GlobalOptions } from "./common.ts";
import { type QueryCommandOptions, queryCommand } from "./query.ts";

/** Options of `diff`. */
export interface DiffCommandOptions extends QueryCommandOptions {
  /** The view compared (default thread_spans). */
  view?: string;
}

/** Runs the command; returns the exit code. */
export async function diffCommand(a: string, b: string, opts: DiffCommandOptions, g: GlobalOptions): Promise<number> {
  return queryCommand(diffSql(a, b, opts.view), opts, g);
}
