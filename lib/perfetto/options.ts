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
  ["--trace <t>", "every process of this trace: name, trace_id or unique prefix (repeatable)", true],
  ["--all", "every process of the lake"],
  [
    "--begin <t>",
    "keep what ends at or after this time: 100ms, 1.5s, +250us (from the trace's start), or absolute (ns integer or timestamp)",
  ],
  ["--end <t>", "keep what begins at or before this time (as --begin)"],
  ["--spans <kind>", "thread, async or both (default both)"],
  ["--no-logs", "leave out log entries"],
  ["--no-counters", "leave out measures"],
  ["--no-flows", "leave out flows"],
  ["--no-args", "leave out span and log args (debug annotations)"],
  ["-o, --output <file>", "output file (.pftrace, .pftrace.gz) or - for stdout"],
];

/** ns per unit of a relative time (`--begin 100ms`). */
const UNIT_NS: Record<string, bigint> = { ns: 1n, us: 1_000n, µs: 1_000n, ms: 1_000_000n, s: 1_000_000_000n };

/**
 * Reads a time relative to the trace's start, as `--begin`/`--end` take it: a non-negative
 * decimal number with a unit (ns, us or µs, ms, s), optionally after `+`: `100ms`, `1.5s`,
 * `+250us`. Exact: decimals are read as text, not through a float.
 * @returns ns after the start, or null when `text` is not of that form (an absolute time, or
 *   invalid; the caller decides). A fraction finer than 1 ns is truncated.
 */
export function parseRelativeTime(text: string): bigint | null {
  const m = /^\+?([0-9]+)(?:\.([0-9]+))?\s*(ns|us|µs|ms|s)$/.exec(text.trim());
  if (!m) return null;
  const unit = UNIT_NS[m[3] as string] as bigint;
  const frac = m[2] ?? "";
  const scale = 10n ** BigInt(frac.length);
  return BigInt(m[1] as string) * unit + (frac === "" ? 0n : (BigInt(frac) * unit) / scale);
}
