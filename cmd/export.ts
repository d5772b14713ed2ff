/**
 * `tracelake export perfetto --process P [--all] [--begin T] [--end T] [--spans thread|async|both]
 * [--no-logs] [--no-counters] [--no-flows] [--no-args] -o FILE|-`: parses the options, runs the
 * export (lib/sql/export_perfetto.ts: a file, `.gz` → gzip, or stdout) and prints its one-line
 * summary on stderr. A closed stdout (EPIPE, e.g. `| head -c 100`) ends it with exit code 0.
 *
 * The REPL's `.export perfetto ...` runs the same export on its own engine with the same options
 * (`EXPORT_PERFETTO_OPTIONS` of lib/perfetto/export.ts, parsed by `parseExportPerfettoArgs`).
 */
import { Command } from "commander";
import { ExitCode, UserError } from "../lib/errors.ts";
import { EXPORT_PERFETTO_OPTIONS } from "../lib/perfetto/export.ts";
import { type ExportPerfettoOptions, type ExportSummary, exportPerfetto } from "../lib/sql/export_perfetto.ts";
import { bytes, count, type GlobalOptions, jitProgress, openLake } from "./common.ts";

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

/** Adds the `export perfetto` options (EXPORT_PERFETTO_OPTIONS) to a commander command; returns it. */
export function addExportPerfettoOptions(cmd: Command): Command {
  for (const [flags, help, repeatable] of EXPORT_PERFETTO_OPTIONS) {
    if (repeatable) cmd.option(flags, help, collect);
    else cmd.option(flags, help);
  }
  return cmd;
}

/**
 * Parses the words after `.export perfetto` in the REPL with the CLI's options.
 * @param args the words (already unquoted).
 * @returns the options.
 * @throws UserError with commander's message (unknown option, missing value, stray argument).
 */
export function parseExportPerfettoArgs(args: string[]): ExportPerfettoOptions {
  const cmd = addExportPerfettoOptions(new Command("perfetto"))
    .exitOverride()
    .configureOutput({ writeErr: () => undefined, writeOut: () => undefined })
    .allowExcessArguments(false);
  try {
    cmd.parse(args, { from: "user" });
  } catch (e) {
    const msg = (e as Error).message.replace(/^error: /, "");
    throw new UserError(`.export perfetto: ${msg} (options: ${EXPORT_PERFETTO_OPTIONS.map((o) => o[0]).join(", ")})`);
  }
  return cmd.opts<ExportPerfettoOptions>();
}

/** Runs the command; returns the exit code. */
export async function exportPerfettoCommand(opts: ExportPerfettoOptions, g: GlobalOptions): Promise<number> {
  const { engine, lake } = await openLake(g, false);
  const progress = jitProgress();
  try {
    const s = await exportPerfetto(engine, lake, opts, process.stdout, { onProgress: progress.onProgress });
    process.stderr.write(exportSummaryLine(s));
    return ExitCode.ok;
  } finally {
    progress.stop();
    engine.close();
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
