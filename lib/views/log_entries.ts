/**
 * `log_entries`: one row per Chrome instant event (`i`, `I`, `R`) or log record (`L`: Perfetto
 * LogMessage, OTLP log record, JSON-lines log line; lib/ingest/blocks/raw_rows.ts), from the process's
 * `log` stream. Columns follow micromegas's log_entries (reference/micromegas.md §2 "Columns"):
 * level is micromegas's scale (1 fatal … 4 info … 6 trace); Chrome instants carry no level, so
 * they are 4 (info); a log record's level is in its `s` column. target = category, msg = event
 * name (the message of a log record), properties = args.
 */
import { processColumn, SRC } from "./source.ts";
import { materializeSql, materializeSqlMany, SQL_MANY_MAX_EVENTS, type SqlTransform } from "./source_many.ts";
import { type MaterializeInput, type MaterializeResult, processBlockColumns, type ViewSet } from "./view_set.ts";

/**
 * The log entries of the blocks in time (then input) order, with `px`, their process's index;
 * TRANSFORM.project adds the process's columns after the sort (source.ts processColumn).
 */
const TRANSFORM: SqlTransform = {
  events: `SELECT e.px, e.stream_id, e.block_id, e.insert_time, e.time, e.cat AS target,
      CASE WHEN e.ph = 'L' THEN coalesce(TRY_CAST(e.s AS INTEGER), 4) ELSE 4 END::INTEGER AS level,
      e.name AS msg, e.args AS properties, TRY_CAST(e.tid AS BIGINT) AS tid, e.tid AS tid_text,
      CASE WHEN e.ph = 'L' THEN NULL ELSE e.s END AS scope, e.ph AS phase
    FROM ${SRC} e
    WHERE e.ph IN ('i', 'I', 'R', 'L')
    ORDER BY e.time, e.seq, e.bix`,
  project: `SELECT ${processColumn("process_id", "$px")} AS process_id, e.stream_id, e.block_id, e.insert_time,
    ${processColumn("exe", "$px")} AS exe, ${processColumn("username", "$px")} AS username,
    ${processColumn("computer", "$px")} AS computer,
    e.time, e.target, e.level, e.msg, e.properties, ${processColumn("process_properties", "$px")} AS process_properties,
    e.tid, e.tid_text, e.scope, e.phase
  FROM $events e`,
};

/** The log_entries view set. */
export const logEntries: ViewSet = {
  name: "log_entries",
  description: "log entries: Chrome instant events (i, I, R) and log records (L) of a process, one row each",
  streamTag: "log",
  version: 2,
  sliceMicros: 3_600_000_000,
  transformText: `${TRANSFORM.events}\n${TRANSFORM.project}`,
  columns: [
    ...processBlockColumns("the process's log stream"),
    { name: "time", type: "TIMESTAMP_NS", description: "event time (ns, the trace's clock)" },
    { name: "target", type: "VARCHAR", description: "category (cat)" },
    {
      name: "level",
      type: "INTEGER",
      description: "1 fatal, 2 error, 3 warn, 4 info, 5 debug, 6 trace; 4 for Chrome instants",
    },
    { name: "msg", type: "VARCHAR", description: "event name, or a log record's message" },
    { name: "properties", type: "JSON", description: "event args" },
    { name: "process_properties", type: "JSON", description: "processes.properties" },
    { name: "tid", type: "BIGINT", description: "source thread id, when it is an integer (README: tid and tid_text)" },
    { name: "tid_text", type: "VARCHAR", description: "source thread id as the source wrote it" },
    {
      name: "scope",
      type: "VARCHAR",
      description: "instant scope s: g global, p process, t thread (NULL = t; NULL for log records)",
    },
    { name: "phase", type: "VARCHAR", description: "source phase: i, I or R; L for a log record" },
  ],
  materialize: (input: MaterializeInput): Promise<MaterializeResult> => materializeSql(input, TRANSFORM),
  materializeMany: (inputs: MaterializeInput[]): Promise<MaterializeResult[]> => materializeSqlMany(inputs, TRANSFORM),
  manyMaxEvents: SQL_MANY_MAX_EVENTS,
};
