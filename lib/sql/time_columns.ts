/**
 * Columns added to tracelake's event views at query time, after the materialized columns, so
 * that the partition files (and their schema hashes) stay as they are (issue 24 items 1-2):
 * - `trace_id`: the trace (= ingest, lib/lake/traces.ts) the row's process belongs to; a
 *   partition holds one process, so it is a constant per file group (no join per row);
 * - `rel_ts`: ns since the start of that trace (its earliest event, the `traces` view's
 *   `start_ts`: what the Perfetto UI shows as 0), BIGINT;
 * - trace_processor's `ts` (BIGINT ns on the trace's clock, = epoch_ns of the view's
 *   TIMESTAMP_NS time) on every JIT view, and `dur` (BIGINT ns) on thread_spans. `dur` follows
 *   trace_processor: -1 for a span that never ended (anomaly 'unclosed'), whose
 *   close-at-thread-end length stays in `duration`.
 * Order: materialized columns, trace_id, rel_ts, ts, dur.
 */
import { sqlString } from "../duck/engine.ts";
import type { ViewSet } from "../views/view_set.ts";

/** Per view set: its time column (TIMESTAMP_NS), and the extra columns as `expression AS name`. */
const EXTRA: Record<string, { time: string; columns: readonly [string, string][] }> = {
  thread_spans: {
    time: '"begin"',
    columns: [
      ['epoch_ns("begin")', "ts"],
      ["CASE WHEN anomaly = 'unclosed' THEN -1 ELSE duration END", "dur"],
    ],
  },
  async_events: { time: "time", columns: [["epoch_ns(time)", "ts"]] },
  log_entries: { time: "time", columns: [["epoch_ns(time)", "ts"]] },
  measures: { time: "time", columns: [["epoch_ns(time)", "ts"]] },
  flows: { time: "time", columns: [["epoch_ns(time)", "ts"]] },
};

/** The trace of a group of partition files: its id and its start (ns on the trace's clock). */
export interface TraceOfFiles {
  traceId: string;
  /** The `traces` view's start_ts (BIGINT ns); null when the trace has no events. */
  startTs: bigint | null;
}

/** Every extra column of `vs` as [expression, name], given its trace (null: unknown, NULLs). */
function extraColumns(vs: ViewSet, trace: TraceOfFiles | null): [string, string][] {
  const x = EXTRA[vs.name];
  const out: [string, string][] = [
    [trace === null ? "NULL::VARCHAR" : sqlString(trace.traceId), "trace_id"],
    [
      x && trace !== null && trace.startTs !== null ? `epoch_ns(${x.time}) - ${trace.startTs}::BIGINT` : "NULL::BIGINT",
      "rel_ts",
    ],
  ];
  return [...out, ...(x?.columns ?? [])];
}

/**
 * The `, expr AS name` list to append to a SELECT * over `vs`'s rows of one trace (`trace`; null
 * when unknown: trace_id and rel_ts are NULL): the columns of the file comment, those whose name
 * is not already a column of the view set (a view set that materializes its own `ts` keeps it).
 */
export function timeColumnsSql(vs: ViewSet, trace: TraceOfFiles | null = null): string {
  const have = new Set(vs.columns.map((c) => c.name));
  return extraColumns(vs, trace)
    .filter(([, name]) => !have.has(name))
    .map(([expr, name]) => `, ${expr} AS ${name}`)
    .join("");
}

/** Names of the columns added to `vs` (for the README, `.tables` and completion). */
export function timeColumnNames(vs: ViewSet): string[] {
  const have = new Set(vs.columns.map((c) => c.name));
  return extraColumns(vs, null)
    .map(([, name]) => name)
    .filter((n) => !have.has(n));
}

/**
 * A SELECT over partition files of `vs` with the added columns: one `read_parquet` per trace,
 * joined by UNION ALL (each with its trace's constants).
 * @param groups the files (quoted SQL string literals, absolute paths) of each trace; a group
 *   whose trace is unknown (a process without an ingest row) has trace null. Not empty.
 */
export function filesByTraceSelect(vs: ViewSet, groups: { trace: TraceOfFiles | null; files: string[] }[]): string {
  return groups
    .map((g) => `SELECT *${timeColumnsSql(vs, g.trace)} FROM read_parquet([${g.files.join(", ")}])`)
    .join("\nUNION ALL ");
}
