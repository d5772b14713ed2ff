/**
 * `tracelake query "SQL"`: runs SQL over the lake and prints the result as a table, CSV, JSON
 * or NDJSON, or writes it to a file with `-o` (format from the extension, via DuckDB's COPY).
 */
import { ExitCode, UserError } from "../lib/errors.ts";
import { copyResultTo } from "../lib/sql/copy_to.ts";
import { OUTPUT_FORMATS, type OutputFormat } from "../lib/sql/format.ts";
import { prepareQuery, runStatements } from "../lib/sql/query.ts";
import { bytes, count, type GlobalOptions, graceMs, jitProgress, openLake, stopOnInterrupt } from "./common.ts";
import { printResult, Stdout } from "./output.ts";

/** Options of `query`. */
export interface QueryCommandOptions {
  format?: string;
  output?: string;
  maxRows?: string;
}

/** Runs the command; returns the exit code. */
export async function queryCommand(sql: string, opts: QueryCommandOptions, g: GlobalOptions): Promise<number> {
  const format = (opts.format ?? (process.stdout.isTTY ? "table" : "csv")) as OutputFormat;
  if (!OUTPUT_FORMATS.includes(format)) {
    throw new UserError(`unknown --format ${opts.format}; use one of ${OUTPUT_FORMATS.join(", ")}`);
  }
  const maxRows = opts.maxRows ? Number(opts.maxRows) : 100;
  if (!Number.isInteger(maxRows) || maxRows < 0)
    throw new UserError(`--max-rows must be a whole number, got ${opts.maxRows}`);
  const retiredGraceMs = graceMs();
  const { engine, lake } = await openLake(g, false, {}, true);
  stopOnInterrupt(engine, true);
  try {
    const progress = jitProgress();
    let prepared: Awaited<ReturnType<typeof prepareQuery>>;
    try {
      prepared = await prepareQuery(engine, lake, sql, { onProgress: progress.onProgress, retiredGraceMs });
    } finally {
      progress.stop();
    }
    // Retirement functions: say on stderr what the statement retired (the rows say it per call).
    const rt = prepared.retirement;
    let code: number = ExitCode.ok;
    if (rt) {
      if (rt.rolledBack !== null) {
        process.stderr.write(
          `retirement rolled back, nothing retired by the retire_partition_by_* calls: ${rt.rolledBack}\n`,
        );
        code = ExitCode.sql;
      }
      if (rt.retired > 0 || rt.rolledBack === null) {
        process.stderr.write(
          `retired ${count(rt.retired)} partition${rt.retired === 1 ? "" : "s"}; ${bytes(rt.bytesQueued)} of files queued for deletion by gc after the grace period\n`,
        );
      }
    }
    if (opts.output) {
      const n = await copyResultTo(engine, lake, sql, opts.output);
      process.stderr.write(`wrote ${count(n)} rows to ${opts.output}\n`);
      return code;
    }
    const out = new Stdout();
    for await (const st of runStatements(engine, sql)) {
      if (st.empty) {
        for await (const _ of st.chunks()) {
          // drain
        }
        continue;
      }
      await printResult(out, format, st.columns, st.chunks(), { maxRows });
      if (out.closed) break;
    }
    return code;
  } finally {
    engine.close();
  }
}
