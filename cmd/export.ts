/**
 * `tracelake export perfetto --process P [--trace T] [--all] [--begin T] [--end T] [--spans thread|async|both]
 * [--no-logs] [--no-counters] [--no-flows] [--no-args] -o FILE|-`: parses the options, runs the
 * export (lib/sql/export_perfetto.ts: a file, `.gz` → gzip, or stdout) and prints its one-line
 * summary on stderr. A closed stdout (EPIPE, e.g. `| head -c 100`) ends it with exit code 0.
 *
 * The REPL's `.export perfetto ...` runs the same export on its own engine with the same options
 * (`EXPORT_PERFETTO_OPTIONS` of lib/perfetto/options.ts, parsed by cmd/export_options.ts).
 */
import { ExitCode, UserError } from "../lib/errors.ts";
import { type ExportSummary, exportPerfetto } from "../lib/sql/export_perfetto.ts";
import { bytes, count, type GlobalOptions, jitProgress, openLake, stopOnInterrupt } from "./common.ts";
import { EXPORT_ENGINE_THREADS, type ExportPerfettoOptions } from "./export_options.ts";

/** Extensions that name another format than a Perfetto trace, with the format's name. */
const OTHER_FORMATS: Record<string, string> = {
  ".json": "JSON",
  ".ndjson": "NDJSON",
  ".jsonl": "NDJSON",
  ".csv": "CSV",
  ".parquet": "Parquet",
  ".txt": "text",
  ".html": "HTML",
  ".md": "Markdown",
  ".duckdb": "DuckDB",
};

/**
 * Refuses an output file whose name says another format (`-o trace.json`, `x.csv.gz`): the
 * export writes Perfetto protobuf (gzipped for `.gz`), which a reader of that name would choke on.
 * @throws UserError (exit 2) naming the file and what to call it.
 */
export function checkTraceFileName(output: string): void {
  const base = output.toLowerCase().replace(/\.gz$/, "");
  const ext = base.slice(base.lastIndexOf("."));
  const other = base.includes(".") ? OTHER_FORMATS[ext] : undefined;
  if (other)
    throw new UserError(
      `${output} names a ${other} file, but export perfetto writes a Perfetto protobuf trace; name it .pftrace (or .pftrace.gz)`,
      ExitCode.usage,
    );
}

/** Runs the command; returns the exit code. */
export async function exportPerfettoCommand(opts: ExportPerfettoOptions, g: GlobalOptions): Promise<number> {
  if (opts.output && opts.output !== "-") checkTraceFileName(opts.output);
  const { engine, lake } = await openLake(g, false, { threads: EXPORT_ENGINE_THREADS });
  // Ctrl-C: interrupts the running statement, and the export stops at its next chunk (the rows
  // stream on cursors of their own, which the interrupt does not reach).
  const stop = stopOnInterrupt(engine, true);
  const progress = jitProgress();
  let done = false;
  try {
    const s = await exportPerfetto(engine, lake, opts, 1, {
      onProgress: progress.onProgress,
      cancelled: () => stop.aborted,
    });
    process.stderr.write(exportSummaryLine(s));
    done = true;
    return ExitCode.ok;
  } finally {
    progress.stop();
    // The process exits next: after an export that ended, with the catalog detached, DuckDB's
    // instance is left to the exit (Engine.closeForExit); any other way out closes it.
    if (done && lake.attachedMode === null) engine.closeForExit();
    else engine.close();
  }
}

/**
 * The one-line summary of an export, for stderr: packets, bytes, time, what was written.
 * @returns the line with its newline, or "" when the reader of stdout went away (EPIPE).
 */
export function exportSummaryLine(s: ExportSummary): string {
  if (s.closedEarly) return "";
  const st = s.stats;
  return (
    `${s.output === "-" ? "stdout" : s.output}: ${count(st.packets)} packets, ${bytes(st.bytes)}${s.gzip ? " before gzip" : ""} in ${s.seconds.toFixed(2)} s; ` +
    `${count(st.threadSlices)} thread slices (${count(st.overlapSlices)} on overlap tracks), ${count(st.asyncSlices)} async slices, ` +
    `${count(st.counters)} counter values, ${count(st.logs)} logs, ${count(st.flowPoints)} flow points; ${count(s.processes)} process(es)\n`
  );
}
