/**
 * trace_processor's time columns on tracelake's event views (issue 24 item 2): `ts` (BIGINT ns
 * on the trace's clock, = epoch_ns of the view's TIMESTAMP_NS time) on every JIT view, and `dur`
 * (BIGINT ns) on thread_spans, added at query time after the materialized columns, so that the
 * partition files (and their schema hashes) stay as they are. `dur` follows trace_processor:
 * -1 for a span that never ended (anomaly 'unclosed'), whose close-at-thread-end length stays in
 * `duration`.
 */
import type { ViewSet } from "../views/view_set.ts";

/** Per view set: the extra columns as `expression AS name` (name the view's time column). */
const EXTRA: Record<string, readonly [string, string][]> = {
  thread_spans: [
    ['epoch_ns("begin")', "ts"],
    ["CASE WHEN anomaly = 'unclosed' THEN -1 ELSE duration END", "dur"],
  ],
  async_events: [["epoch_ns(time)", "ts"]],
  log_entries: [["epoch_ns(time)", "ts"]],
  measures: [["epoch_ns(time)", "ts"]],
};

/**
 * The `, expr AS name` list to append to a SELECT * over `vs`'s rows: the time columns of the
 * file comment, those whose name is not already a column of the view set (a view set that
 * materializes its own `ts` keeps it). Empty for a view set without time columns.
 */
export function timeColumnsSql(vs: ViewSet): string {
  const have = new Set(vs.columns.map((c) => c.name));
  return (EXTRA[vs.name] ?? [])
    .filter(([, name]) => !have.has(name))
    .map(([expr, name]) => `, ${expr} AS ${name}`)
    .join("");
}

/** Names and descriptions of the time columns added to `vs` (for the README and completion). */
export function timeColumnNames(vs: ViewSet): string[] {
  const have = new Set(vs.columns.map((c) => c.name));
  return (EXTRA[vs.name] ?? []).map(([, name]) => name).filter((n) => !have.has(n));
}
