/**
 * The options of `tracelake export perfetto`, as data: one table for the CLI, the REPL's
 * `.export perfetto` and its Tab completion. A module of its own so that the CLI can declare
 * them without loading the exporter.
 */

/**
 * The options of `tracelake export perfetto` as [commander flags, description, repeatable]: one
 * table for the CLI (cmd/export.ts, main.ts) and the REPL's `.export perfetto` (its parsing in
 * cmd/export.ts and Tab completion in lib/repl/complete.ts).
 */
export const EXPORT_PERFETTO_OPTIONS: readonly (readonly [string, string, boolean?])[] = [
  ["--process <p>", "process_id, unique id prefix, pid:<pid> or process name (repeatable)", true],
  ["--all", "every process of the lake"],
  ["--begin <t>", "keep what ends at or after this time (ns integer or timestamp)"],
  ["--end <t>", "keep what begins at or before this time (ns integer or timestamp)"],
  ["--spans <kind>", "thread, async or both (default both)"],
  ["--no-logs", "leave out log entries"],
  ["--no-counters", "leave out measures"],
  ["--no-flows", "leave out flows"],
  ["--no-args", "leave out span and log args (debug annotations)"],
  ["-o, --output <file>", "output file (.pftrace, .pftrace.gz) or - for stdout"],
];
