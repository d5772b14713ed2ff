/**
 * The `traces` view: one row per trace (= ingest, lib/lake/traces.ts), with its time range read
 * from the catalog's block begin/end times (no view is materialized for it). Queries see a
 * snapshot of it, taken with the other catalog tables (lib/sql/query.ts); `tracelake traces`
 * prints it.
 */

/** What the `traces` view holds (for `.tables`, completion and the README). */
export const TRACES_DESCRIPTION =
  "one row per trace (= one ingest): trace_id, name, source, format, start_time, end_time (TIMESTAMP_NS, the trace's clock), start_ts, end_ts, duration (BIGINT ns), processes, threads, events, insert_time";

/**
 * The start of each trace, as (trace_id, start_ts BIGINT ns), from a processes table (`lake.processes`
 * or a snapshot of it): the earliest of its processes' `start_time`, which the ingest sets to the
 * least `begin_time` of the process's blocks, i.e. the trace's earliest event. One copy of the
 * rule: the `traces` view's start and the base of `rel_ts` (lib/sql/time_columns.ts).
 */
export function traceStartsSql(processes: string): string {
  return `SELECT ingest_id AS trace_id, epoch_ns(min(start_time)) AS start_ts FROM ${processes} GROUP BY ingest_id`;
}

/**
 * SELECT of the `traces` view over the catalog attached as `lake`. start_ts is the earliest event
 * of the trace (traceStartsSql), end_time/end_ts the latest event end (the greatest
 * `blocks.end_time` of its processes): both NULL for a trace without events. duration = end_ts -
 * start_ts (ns). events = events imported (ingests.nb_events).
 */
export const TRACES_SELECT = `SELECT i.ingest_id AS trace_id, coalesce(i.name, i.ingest_id) AS name, i.source, i.format,
    make_timestamp_ns(st.start_ts) AS start_time, t.end_time, st.start_ts, epoch_ns(t.end_time) AS end_ts,
    epoch_ns(t.end_time) - st.start_ts AS duration,
    coalesce(p.processes, 0)::BIGINT AS processes, coalesce(p.threads, 0)::BIGINT AS threads,
    i.nb_events AS events, i.insert_time
  FROM lake.ingests i
  LEFT JOIN (${traceStartsSql("lake.processes")}) st ON st.trace_id = i.ingest_id
  LEFT JOIN (SELECT pr.ingest_id, max(b.end_time) AS end_time
             FROM lake.blocks b JOIN lake.processes pr USING (process_id) GROUP BY pr.ingest_id) t
    ON t.ingest_id = i.ingest_id
  LEFT JOIN (SELECT pr.ingest_id, count(DISTINCT pr.process_id) AS processes,
                    count(s.stream_id) FILTER (WHERE list_contains(s.tags, 'cpu')) AS threads
             FROM lake.processes pr LEFT JOIN lake.streams s USING (process_id) GROUP BY pr.ingest_id) p
    ON p.ingest_id = i.ingest_id
  ORDER BY i.insert_time, i.ingest_id`;

/** The query behind `tracelake traces`: the `traces` view, oldest first. */
export const LIST_TRACES_SQL = "SELECT * FROM traces ORDER BY insert_time, trace_id";
