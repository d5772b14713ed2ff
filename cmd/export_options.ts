/**
 * The options of `export perfetto` for commander: declared on the CLI's command (main.ts) and
 * parsed from the words of the REPL's `.export perfetto` (cmd/repl.ts). Light on purpose: main.ts
 * imports it at start-up, before any command runs.
 */
import { Command } from "commander";
import { UserError } from "../lib/errors.ts";
import { EXPORT_PERFETTO_OPTIONS } from "../lib/perfetto/options.ts";
import type { ExportPerfettoOptions } from "../lib/sql/export_perfetto.ts";

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

/**
 * DuckDB threads of the commands that export (`export perfetto`, `open`): one. Once the views
 * are current an export's queries are small and the JS encoder is the bottleneck, and the
 * exporter runs on one thread anyway (lib/perfetto/export.ts); the JIT's partition writes get
 * every core (Engine.withDefaultThreads). Opening DuckDB so spares the two relaunches of its
 * threads around the export (setting one thread, then the default back: ~45 ms here) and the
 * second thread's own costs: `export perfetto --process Browser` of the Chromium JSON sample,
 * warm, compiled, 11 alternating runs, 857 -> 782 ms end to end, 0.39 -> 0.31 s by the
 * export's own figure; `--all` 1096 -> 1017 ms, 0.59 -> 0.54 s; peak RSS +3 MB (medians), the
 * same on the large real traces. main.ts starts the command's engine with it.
 */
export const EXPORT_ENGINE_THREADS = 1;

/**
 * Adds the `export perfetto` options (EXPORT_PERFETTO_OPTIONS) to a commander command; returns it.
 * @param withOutput false for a command that chooses the output itself (`open`): no `-o`.
 */
export function addExportPerfettoOptions(cmd: Command, withOutput = true): Command {
  for (const [flags, help, repeatable] of EXPORT_PERFETTO_OPTIONS) {
    if (!withOutput && flags.startsWith("-o,")) continue;
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

/** Options of `export perfetto` (defined with the export, lib/sql/export_perfetto.ts; a type only, erased at run time). */
export type { ExportPerfettoOptions };
