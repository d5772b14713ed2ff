/**
 * `tracelake traces [-f FORMAT]`: lists the lake's traces (the `traces` view, one row per ingest),
 * output as `query` prints it; `tracelake traces --rename TRACE NAME` renames one
 * (lib/lake/traces.ts).
 */
import { ExitCode, escapeControl, UserError } from "../lib/errors.ts";
import { renameTrace } from "../lib/lake/traces.ts";
import { LIST_TRACES_SQL } from "../lib/sql/traces.ts";
import { type GlobalOptions, openLake } from "./common.ts";
import { type QueryCommandOptions, queryCommand } from "./query.ts";

/** Options of `traces`. */
export interface TracesCommandOptions extends QueryCommandOptions {
  /** TRACE NAME: the trace (trace_id, unique prefix or name) and its new name. */
  rename?: string[];
}

/** Runs the command; returns the exit code. */
export async function tracesCommand(opts: TracesCommandOptions, g: GlobalOptions): Promise<number> {
  if (opts.rename === undefined) return queryCommand(LIST_TRACES_SQL, opts, g);
  if (opts.rename.length !== 2) {
    throw new UserError(`--rename takes two values, TRACE NAME, got ${opts.rename.length}`, ExitCode.usage);
  }
  const [text, name] = opts.rename as [string, string];
  const { engine, lake } = await openLake(g, false);
  try {
    const r = await renameTrace(engine, lake, text, name);
    process.stdout.write(
      `renamed trace ${r.trace.traceId}: ${escapeControl(r.trace.name)} → ${escapeControl(r.name)}\n`,
    );
    return ExitCode.ok;
  } finally {
    engine.close();
  }
}
