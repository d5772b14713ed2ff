/**
 * trace_processor's table names over tracelake's views: `slice`, `thread`, `process`,
 * `thread_track`, `counter`, `counter_track`, `flow` and `args`, shaped like trace_processor's tables
 * (Perfetto v58, https://perfetto.dev/docs/analysis/sql-tables: same column names, in the same
 * order, same units: ts and dur in ns), defined at query time over every trace of the lake, so
 * that a query from Perfetto's documentation runs unchanged. Nothing here is materialized: each
 * is a SQL view over the JIT views (thread_spans, async_events, log_entries, measures, flows) and the
 * catalog snapshot (processes, streams, blocks); a query naming one of them materializes the JIT views it
 * reads (PERFETTO_VIEWS[...].needs), no more.
 *
 * Ids (README "Perfetto's tables"):
 * - `upid`: 1, 2, ... over the lake's processes in ingest order (insert_time, then process_id);
 *   `utid`: the same over the threads (cpu streams). Stable while traces are only added.
 * - `slice.id` of a thread span = its thread_spans.id (lib/views/thread_spans.ts spanIdSql), of an
 *   async span its async_spans.id (lib/views/async_events.ts asyncSpanIdSql); `flow.slice_out` and
 *   `slice_in` are those ids (an instant end: the thread instant's id).
 * - Other `slice.id`s, `track_id`s, `counter.id`, `args.id`: 63-bit hashes of what identifies the row in
 *   the lake (a track: its stream or key; an
 *   instant or a counter value: its partition file and row), the same in every reference to the
 *   view within a query (self-joins on `id`/`parent_id` work) and unique across the lake but for
 *   a hash collision (probability about n²/2^64: 5e-8 for a million slices).
 * - `arg_set_id` = the slice's id when the slice has args (one set per slice; trace_processor
 *   shares a set between slices with identical args).
 * What `slice` holds, as trace_processor makes slices of a Chrome trace (reference/perfetto.md §5):
 * thread spans (B/E, X; `dur = -1` for a span that never ended), thread-scoped instants and log
 * records (dur 0, on the thread's track, depth and parent from the spans open around them), async
 * spans and their instants (b/e/n, S/F: one track per async key), and process- and global-scoped
 * instants (one track per process, one per trace).
 * The span-tree functions and async_spans (lib/sql/span_functions.ts) are defined through the
 * same mechanism (addPerfettoViewReferences, perfettoViewStatements).
 */

import { asyncSpanIdSql } from "../views/async_events.ts";
import { SPAN_DEFINITIONS, SPAN_FUNCTION_NAMES } from "./span_functions.ts";

/** One Perfetto-shaped view: its name, what it holds, what it reads and its SELECT. */
export interface PerfettoView {
  name: string;
  /** What it holds and its columns (for `.tables`, QUERY_VIEWS and the README). */
  description: string;
  /** Views and catalog tables its SELECT reads (JIT view set names, `streams`, other Perfetto views). */
  needs: readonly string[];
  /** The view's SELECT over the session's views and the `tl_pv_*` helper views. */
  select: string;
}

/** A 63-bit id from DuckDB's hash of SQL expressions (DuckDB's hash is UBIGINT; the top bit is dropped). */
const hid = (...parts: string[]): string => `(hash(${parts.join(", ")}) >> 1)::BIGINT`;

/** The thread track of a cpu stream (thread_track.id, slice.track_id). */
const threadTrack = (stream: string): string => hid("'thread_track'", stream);

/** An async span's slice id = its async_spans id (lib/views/async_events.ts asyncSpanIdSql). */
const asyncId = asyncSpanIdSql;

/** Helper views (schema main, `tl_pv_` prefix, hidden from `.tables` and `.schema`). */
const HELPERS: Record<string, { needs: readonly string[]; select: string }> = {
  // Processes numbered in ingest order.
  tl_pv_process: {
    needs: [],
    select: `SELECT row_number() OVER (ORDER BY insert_time, process_id)::BIGINT AS upid, * FROM processes`,
  },
  // One thread per cpu stream with events (a stream of a thread named by metadata only, e.g.
  // Chrome's tid 0 of a process, has no blocks; trace_processor makes no thread of it),
  // numbered in ingest order.
  tl_pv_thread: {
    needs: ["streams", "blocks", "tl_pv_process"],
    select: `SELECT row_number() OVER (ORDER BY s.insert_time, p.upid, s.stream_id)::BIGINT AS utid,
        s.stream_id, s.process_id, p.upid, p.ingest_id, TRY_CAST(p.source_pid AS BIGINT) AS pid,
        s.properties->>'thread-id' AS tid_text, TRY_CAST(s.properties->>'thread-id' AS BIGINT) AS tid,
        s.properties->>'thread-name' AS thread_name, ${threadTrack("s.stream_id")} AS track_id
      FROM streams s JOIN tl_pv_process p USING (process_id)
      WHERE list_contains(s.tags, 'cpu') AND s.stream_id IN (SELECT stream_id FROM blocks)`,
  },
  // Thread-scoped instants and log records, each with its thread's cpu stream and track.
  tl_pv_thread_instant: {
    needs: ["tl_pv_log_entries", "tl_pv_thread"],
    select: `SELECT l.*, t.stream_id AS cpu_stream,
        coalesce(t.track_id, ${hid("'thread_track'", "l.process_id", "l.tid_text")}) AS track_id,
        ${hid("'instant'", "l.tl_file", "l.file_row_number")} AS id
      FROM tl_pv_log_entries l LEFT JOIN tl_pv_thread t ON t.process_id = l.process_id AND t.tid_text = l.tid_text
      WHERE l.scope = 't' OR l.phase = 'L'`,
  },
  // Where a thread instant goes: the stack of its thread just before it is set by the last span
  // edge before it. After the begin of span c, the instant is c's child (depth c.depth + 1);
  // after the end of span e, it is a child of e's parent (depth e.depth). At equal times ends
  // come first, then begins, then the instant (trace_processor's order: checked against it on
  // both samples, tests/sql/perfetto_views_tp.test.ts), begins the shallower first and ends the
  // deeper first: `edge` orders them all, and the slice view finds an instant's edge with one
  // ASOF join (`edge` <= the instant's ((ts * 4 + 2) << 16)). A span never ended has no end edge.
  tl_pv_span_edge: {
    needs: ["thread_spans"],
    select: `SELECT stream_id, ((epoch_ns("begin")::HUGEINT * 4 + 1) << 16) + least(depth, 65535) AS edge,
        process_id, id AS parent, depth::BIGINT + 1 AS depth FROM thread_spans
      UNION ALL
      SELECT stream_id, ((epoch_ns("end")::HUGEINT * 4) << 16) + 65535 - least(depth, 65535),
        process_id, parent, depth::BIGINT FROM thread_spans WHERE anomaly IS DISTINCT FROM 'unclosed'`,
  },
};

/** The Perfetto-shaped views, in an order where each one's needs come first. */
export const PERFETTO_VIEWS: readonly PerfettoView[] = [
  {
    name: "process",
    description:
      "trace_processor's process table: upid, id, pid, name, start_ts, end_ts, parent_upid, uid, android_appid, android_user_id, cmdline, arg_set_id, machine_id; one row per process of every trace",
    needs: ["tl_pv_process"],
    select: `SELECT upid, upid AS id, TRY_CAST(source_pid AS BIGINT) AS pid, exe AS name, epoch_ns(start_time) AS start_ts,
        NULL::BIGINT AS end_ts, NULL::BIGINT AS parent_upid, NULL::BIGINT AS uid, NULL::BIGINT AS android_appid,
        NULL::BIGINT AS android_user_id, NULL::VARCHAR AS cmdline, NULL::BIGINT AS arg_set_id, NULL::BIGINT AS machine_id
      FROM tl_pv_process`,
  },
  {
    name: "thread",
    description:
      "trace_processor's thread table: utid, id, tid, name, start_ts, end_ts, upid, is_main_thread, is_idle, machine_id, arg_set_id; one row per thread (a cpu stream with events)",
    needs: ["tl_pv_thread"],
    select: `SELECT utid, utid AS id, tid, thread_name AS name, NULL::BIGINT AS start_ts, NULL::BIGINT AS end_ts, upid,
        tid = pid AS is_main_thread, false AS is_idle, NULL::BIGINT AS machine_id, NULL::BIGINT AS arg_set_id
      FROM tl_pv_thread`,
  },
  {
    name: "thread_track",
    description:
      "trace_processor's thread_track table: id, name, type, parent_id, source_arg_set_id, machine_id, utid; one track per thread (type 'thread_execution')",
    needs: ["tl_pv_thread"],
    select: `SELECT track_id AS id, NULL::VARCHAR AS name, 'thread_execution' AS type, NULL::BIGINT AS parent_id,
        NULL::BIGINT AS source_arg_set_id, NULL::BIGINT AS machine_id, utid
      FROM tl_pv_thread`,
  },
  {
    name: "slice",
    description:
      "trace_processor's slice table: id, ts, dur (ns; -1 = never ended), track_id, category, name, depth, parent_id, arg_set_id, thread_ts, thread_dur, thread_instruction_count, thread_instruction_delta, cat, slice_id; thread spans, thread instants, async spans and instants of every trace",
    needs: [
      "thread_spans",
      "async_events",
      "tl_pv_log_entries",
      "tl_pv_process",
      "tl_pv_thread_instant",
      "tl_pv_span_edge",
    ],
    select: `SELECT id, ts, dur, track_id, category, name, depth, parent_id, arg_set_id, thread_ts, thread_dur,
        NULL::BIGINT AS thread_instruction_count, NULL::BIGINT AS thread_instruction_delta, category AS cat, id AS slice_id
      FROM (
      SELECT id, epoch_ns("begin") AS ts,
        CASE WHEN anomaly = 'unclosed' THEN -1 ELSE duration END AS dur, ${threadTrack("stream_id")} AS track_id,
        target AS category, name, depth::BIGINT AS depth,
        CASE WHEN parent >= 0 THEN parent END AS parent_id,
        CASE WHEN properties IS NOT NULL AND properties <> '{}' THEN id END AS arg_set_id,
        thread_time AS thread_ts, thread_duration AS thread_dur
      FROM thread_spans
      UNION ALL BY NAME
      SELECT i.id, epoch_ns(i.time) AS ts, 0 AS dur, i.track_id, i.target AS category,
        CASE WHEN i.phase = 'L' THEN coalesce(i.properties->>'event_name', i.msg) ELSE i.msg END AS name,
        coalesce(e.depth, 0) AS depth, CASE WHEN e.parent >= 0 THEN e.parent END AS parent_id,
        CASE WHEN i.properties IS NOT NULL AND i.properties <> '{}' THEN i.id END AS arg_set_id,
        NULL::BIGINT AS thread_ts, NULL::BIGINT AS thread_dur
      FROM tl_pv_thread_instant i ASOF LEFT JOIN tl_pv_span_edge e
        ON e.stream_id = i.cpu_stream AND e.edge <= ((epoch_ns(i.time)::HUGEINT * 4 + 2) << 16)
      UNION ALL BY NAME
      SELECT ${asyncId("b.process_id", "b.span_id")} AS id, epoch_ns(b.time) AS ts,
        coalesce(b.dur, -1) AS dur,
        ${hid("'async_track'", "b.process_id", "b.target", "b.async_id", "b.id_scope", "b.scope")} AS track_id,
        b.target AS category, b.name, b.depth::BIGINT AS depth,
        CASE WHEN b.parent_span_id >= 0 THEN ${asyncId("b.process_id", "b.parent_span_id")} END AS parent_id,
        CASE WHEN b.properties IS NOT NULL AND b.properties <> '{}' THEN ${asyncId("b.process_id", "b.span_id")} END AS arg_set_id,
        NULL::BIGINT AS thread_ts, NULL::BIGINT AS thread_dur
      FROM async_events b
      WHERE b.event_type IN ('begin', 'instant')
      UNION ALL BY NAME
      SELECT ${hid("'instant'", "l.tl_file", "l.file_row_number")} AS id, epoch_ns(l.time) AS ts, 0 AS dur,
        CASE l.scope WHEN 'g' THEN ${hid("'global_instant_track'", "p.ingest_id")} ELSE ${hid("'process_instant_track'", "l.process_id")} END AS track_id,
        l.target AS category, l.msg AS name, 0::BIGINT AS depth, NULL::BIGINT AS parent_id,
        CASE WHEN l.properties IS NOT NULL AND l.properties <> '{}' THEN ${hid("'instant'", "l.tl_file", "l.file_row_number")} END AS arg_set_id,
        NULL::BIGINT AS thread_ts, NULL::BIGINT AS thread_dur
      FROM tl_pv_log_entries l JOIN tl_pv_process p USING (process_id)
      WHERE l.scope IN ('p', 'g') AND l.phase <> 'L')`,
  },
  {
    name: "counter_track",
    description:
      "trace_processor's counter_track table: id, name, parent_id, type, dimension_arg_set_id, source_arg_set_id, machine_id, unit, description; one track per (process, thread, counter name) of measures",
    needs: ["measures"],
    select: `SELECT ${hid("'counter_track'", "process_id", "tid_text", "name")} AS id, name, NULL::BIGINT AS parent_id,
        CASE WHEN tid_text IS NULL THEN 'process_counter' ELSE 'thread_counter' END AS type,
        NULL::BIGINT AS dimension_arg_set_id, NULL::BIGINT AS source_arg_set_id, NULL::BIGINT AS machine_id,
        any_value(unit) AS unit, NULL::VARCHAR AS description
      FROM measures GROUP BY process_id, tid_text, name`,
  },
  {
    name: "counter",
    description:
      "trace_processor's counter table: id, ts (ns), track_id, value, arg_set_id; one row per measure (counter value)",
    needs: ["tl_pv_measures"],
    select: `SELECT ${hid("'counter'", "tl_file", "file_row_number")} AS id, epoch_ns(time) AS ts,
        ${hid("'counter_track'", "process_id", "tid_text", "name")} AS track_id, value, NULL::BIGINT AS arg_set_id
      FROM tl_pv_measures`,
  },
  {
    name: "flow",
    description:
      "trace_processor's flow table: id, slice_out, slice_in, trace_id, arg_set_id; one row per edge of the flows view with both ends (slice ids as slice has them)",
    needs: ["tl_pv_flows", "tl_pv_thread_instant"],
    select: `WITH inst AS (
        SELECT process_id, tid_text, time, msg, min(id) AS id FROM tl_pv_thread_instant GROUP BY ALL)
      SELECT ${hid("'flow'", "f.tl_file", "f.file_row_number")} AS id,
        coalesce(f.out_id, o.id) AS slice_out, coalesce(f.in_id, i.id) AS slice_in,
        (f.flow_id::HUGEINT - CASE WHEN f.flow_id > 9223372036854775807 THEN 18446744073709551616 ELSE 0 END)::BIGINT AS trace_id,
        NULL::BIGINT AS arg_set_id
      FROM tl_pv_flows f
      LEFT JOIN inst o ON f.out_kind = 'instant' AND o.process_id = f.out_process_id AND o.tid_text = f.out_tid
        AND o.time = f.out_time AND o.msg = f.out_name
      LEFT JOIN inst i ON f.in_kind = 'instant' AND i.process_id = f.in_process_id AND i.tid_text = f.in_tid
        AND i.time = f.in_time AND i.msg = f.in_name
      WHERE f.out_process_id IS NOT NULL AND f.in_process_id IS NOT NULL`,
  },
  {
    name: "args",
    description:
      "trace_processor's args table: id, arg_set_id, flat_key, key, int_value, string_value, real_value, value_type, display_value; one row per leaf of a slice's args (key 'args.<path>'; an integer above 2^63 is a 'uint' whose int_value holds its 64 bits)",
    needs: ["thread_spans", "async_events", "tl_pv_log_entries"],
    select: `WITH a AS (
        SELECT id AS arg_set_id, properties FROM thread_spans WHERE properties <> '{}'
        UNION ALL SELECT ${asyncId("process_id", "span_id")}, properties FROM async_events
          WHERE event_type IN ('begin', 'instant') AND properties <> '{}'
        UNION ALL SELECT ${hid("'instant'", "tl_file", "file_row_number")}, properties FROM tl_pv_log_entries
          WHERE (scope IN ('t', 'p', 'g') OR phase = 'L') AND properties <> '{}')
      SELECT ${hid("'arg'", "a.arg_set_id", "j.fullkey")} AS id, a.arg_set_id,
        'args' || regexp_replace(substr(j.fullkey, 2), '\\[[0-9]+\\]', '', 'g') AS flat_key,
        'args' || substr(j.fullkey, 2) AS key,
        CASE WHEN j.type = 'BIGINT' THEN TRY_CAST(j.atom AS BIGINT)
          WHEN j.type = 'UBIGINT' THEN (TRY_CAST(j.atom AS HUGEINT) - CASE WHEN TRY_CAST(j.atom AS HUGEINT) > 9223372036854775807 THEN 18446744073709551616 ELSE 0 END)::BIGINT
          END AS int_value,
        CASE WHEN j.type = 'VARCHAR' THEN j.atom->>'$' END AS string_value,
        CASE WHEN j.type = 'DOUBLE' THEN TRY_CAST(j.atom AS DOUBLE) END AS real_value,
        CASE WHEN j.type = 'UBIGINT' AND TRY_CAST(j.atom AS HUGEINT) > 9223372036854775807 THEN 'uint' ELSE CASE j.type WHEN 'BIGINT' THEN 'int' WHEN 'UBIGINT' THEN 'int' WHEN 'DOUBLE' THEN 'real'
          WHEN 'VARCHAR' THEN 'string' WHEN 'BOOLEAN' THEN 'bool' ELSE 'null' END END AS value_type,
        CASE WHEN j.type = 'VARCHAR' THEN j.atom->>'$' WHEN j.type = 'NULL' THEN NULL ELSE j.atom::VARCHAR END AS display_value
      FROM a, json_tree(a.properties) j
      WHERE j.type NOT IN ('OBJECT', 'ARRAY')`,
  },
];

/**
 * trace_processor's `EXTRACT_ARG(arg_set_id, key)`: the arg's display_value (VARCHAR: cast it for
 * arithmetic), NULL when the set has no such key. Defined when a statement calls it.
 */
const EXTRACT_ARG = `CREATE OR REPLACE MACRO main.extract_arg(tl_set, tl_key) AS
  (SELECT any_value(a.display_value) FROM main.args a WHERE a.arg_set_id = tl_set AND a.key = tl_key)`;

/** JIT view sets whose rows the helpers read with their file and row (`tl_pv_<view set>`). */
export const ROW_ID_VIEW_SETS = ["log_entries", "measures", "flows"] as const;

/** What each Perfetto view and helper reads, by name. */
const NEEDS: Record<string, readonly string[]> = {
  ...Object.fromEntries(Object.entries(HELPERS).map(([k, v]) => [k, v.needs])),
  ...Object.fromEntries(PERFETTO_VIEWS.map((v) => [v.name, v.needs])),
  tl_pv_log_entries: ["log_entries"],
  tl_pv_measures: ["measures"],
  tl_pv_flows: ["flows"],
  extract_arg: ["args"],
  ...Object.fromEntries(Object.entries(SPAN_DEFINITIONS).map(([k, v]) => [k, v.needs])),
};

/**
 * Adds to `tables` (the names a SQL text references, lower case; lib/sql/references.ts) what
 * the Perfetto views among them read, transitively: JIT view set names, catalog tables and
 * helper views, so that prepareQuery materializes and defines exactly those; and what
 * `extract_arg` reads when `functions` (the names of the functions the text calls, lower case)
 * has it.
 * @returns the Perfetto views, helpers and macros to define, in definition order (empty when
 *   the text names none).
 */
export function addPerfettoViewReferences(tables: Set<string>, functions: readonly string[] = []): string[] {
  const wanted = new Set<string>();
  const visit = (name: string): void => {
    if (wanted.has(name)) return;
    const needs = NEEDS[name];
    if (!needs) {
      tables.add(name);
      return;
    }
    wanted.add(name);
    for (const n of needs) visit(n);
  };
  for (const v of PERFETTO_VIEWS) if (tables.has(v.name)) visit(v.name);
  if (tables.has("async_spans")) visit("async_spans");
  if (functions.includes("extract_arg")) visit("extract_arg");
  for (const f of SPAN_FUNCTION_NAMES) if (functions.includes(f)) visit(f);
  const order = [
    "tl_pv_log_entries",
    "tl_pv_measures",
    "tl_pv_flows",
    ...Object.keys(HELPERS),
    ...PERFETTO_VIEWS.map((v) => v.name),
    "extract_arg",
    ...Object.keys(SPAN_DEFINITIONS),
  ];
  return order.filter((n) => wanted.has(n));
}

/**
 * The SQL statements that define `names` (addPerfettoViewReferences's list) in schema main,
 * in order (views, and the extract_arg macro). `rowSelect(viewSet)` gives the SELECT of a view set's current rows with two more
 * columns, `tl_file` (the partition file) and `file_row_number` (the row in it), for the
 * `tl_pv_<view set>` helpers.
 */
export async function perfettoViewStatements(
  names: readonly string[],
  rowSelect: (viewSet: (typeof ROW_ID_VIEW_SETS)[number]) => Promise<string>,
): Promise<string[]> {
  const out: string[] = [];
  for (const name of names) {
    if (name === "extract_arg") {
      out.push(EXTRACT_ARG);
      continue;
    }
    const span = SPAN_DEFINITIONS[name];
    if (span) {
      out.push(span.sql);
      continue;
    }
    const vs = ROW_ID_VIEW_SETS.find((v) => `tl_pv_${v}` === name);
    const select = vs
      ? await rowSelect(vs)
      : (HELPERS[name]?.select ?? PERFETTO_VIEWS.find((v) => v.name === name)?.select);
    if (select === undefined) throw new Error(`perfettoViewStatements: unknown view ${name}`);
    out.push(`CREATE OR REPLACE VIEW main.${name} AS ${select}`);
  }
  return out;
}
