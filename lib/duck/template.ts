/**
 * SQL templates with `$name` placeholders, for the transforms whose SQL embeds literal values
 * (lists, paths) where DuckDB takes no parameter (lib/views/thread_spans.ts, async_events.ts).
 */

/**
 * Replaces each `$name` (lowercase letters and `_`) of `template` by `values[name]` in one pass,
 * so that text put in (paths, thread names) is never read as a placeholder; a `$name` without a
 * value (e.g. a JSON path `'$.src_file'`) is left as it is.
 * @param values SQL text for each placeholder (already quoted: see engine.ts sqlString).
 */
export function fillTemplate(template: string, values: Record<string, string>): string {
  return template.replace(/\$([a-z_]+)\b/g, (m, k: string) => values[k] ?? m);
}
