/**
 * `measures`: one row per (Chrome counter event `C`, numeric args key), and one per measure
 * (`V`: a Perfetto counter value, an OTLP metric data point; lib/ingest/blocks/raw_rows.ts, name = the
 * measure's name, value and unit from its args), from the process's `metrics` stream. Columns follow micromegas's measures (reference/micromegas.md §2). The
 * name is trace_processor's counter track name: `"<event name> <key>"`, or
 * `"<event name> id: <id> <key>"` when the event has an id (reference/perfetto.md §5, `C`).
 * Values are numbers as DOUBLE (JSON true/false count as 1/0) or strings read by THE rule of
 * counter_value.ts (trace_processor's strtod: "050" is 50, "nan" NaN); a key whose value is
 * anything else (a string the rule rejects, object, array, null) gives no row, and the Chrome
 * importer counted it (chrome.counter_value_invalid).
 */
import { registerCounterValue } from "./counter_value.ts";
import { processColumn, SRC } from "./source.ts";
import { materializeSql, materializeSqlMany, SQL_MANY_MAX_EVENTS, type SqlTransform } from "./source_many.ts";
import { type MaterializeInput, type MaterializeResult, processBlockColumns, type ViewSet } from "./view_set.ts";

/**
 * The measures of the blocks in time (then input, then key) order, with `px`, their process's
 * index; TRANSFORM.project adds the process's columns after the sort (source.ts processColumn).
 */
const TRANSFORM: SqlTransform = {
  events: `WITH c AS (
    SELECT e.px, e.stream_id, e.block_id, e.insert_time, e.time, e.cat, e.name, e.id, e.tid, e.bix, e.seq,
      unnest(map_entries(TRY_CAST(e.args AS MAP(VARCHAR, JSON)))) AS kv
    FROM ${SRC} e WHERE e.ph = 'C'
  ), v AS (
    SELECT *, kv.key AS key,
      CASE WHEN json_type(kv.value) = 'VARCHAR' THEN tl_counter_value(kv.value->>'$')
           ELSE TRY_CAST(kv.value AS DOUBLE) END AS value FROM c
  ), m AS (
    SELECT v.px, v.stream_id, v.block_id, v.insert_time, v.time, v.cat AS target,
      v.name || CASE WHEN v.id IS NOT NULL THEN ' id: ' || v.id ELSE '' END || ' ' || v.key AS name,
      NULL::VARCHAR AS unit, v.value,
      json_object('counter', v.name, 'key', v.key, 'id', v.id) AS properties,
      v.tid, v.name AS counter, v.key, v.bix, v.seq
    FROM v WHERE v.value IS NOT NULL
    UNION ALL
    SELECT e.px, e.stream_id, e.block_id, e.insert_time, e.time, e.cat AS target, e.name,
      e.args->>'$.unit' AS unit, TRY_CAST(e.args->>'$.value' AS DOUBLE) AS value,
      e.args AS properties, e.tid, e.name AS counter, NULL AS key, e.bix, e.seq
    FROM ${SRC} e
    WHERE e.ph = 'V' AND TRY_CAST(e.args->>'$.value' AS DOUBLE) IS NOT NULL
  )
  SELECT * FROM m ORDER BY m.time, m.seq, m.bix, m.key`,
  project: `SELECT ${processColumn("process_id", "$px")} AS process_id, m.stream_id, m.block_id, m.insert_time,
    ${processColumn("exe", "$px")} AS exe, ${processColumn("username", "$px")} AS username,
    ${processColumn("computer", "$px")} AS computer,
    m.time, m.target, m.name, m.unit, m.value, m.properties, ${processColumn("process_properties", "$px")} AS process_properties,
    TRY_CAST(m.tid AS BIGINT) AS tid, m.tid AS tid_text, m.counter, m.key
  FROM $events m`,
};

/** The measures view set. */
export const measures: ViewSet = {
  name: "measures",
  description: "measures: one row per Chrome counter (C) event and numeric args key, and per measure (V)",
  streamTag: "metrics",
  version: 3,
  sliceMicros: 3_600_000_000,
  transformText: `${TRANSFORM.events}\n${TRANSFORM.project}`,
  columns: [
    ...processBlockColumns("the process's metrics stream"),
    { name: "time", type: "TIMESTAMP_NS", description: "sample time (ns, the trace's clock)" },
    { name: "target", type: "VARCHAR", description: "category (cat)" },
    { name: "name", type: "VARCHAR", description: "counter track name: '<event name> <key>' (trace_processor's)" },
    { name: "unit", type: "VARCHAR", description: "unit; NULL for Chrome counters (they have none)" },
    { name: "value", type: "DOUBLE", description: "the value" },
    { name: "properties", type: "JSON", description: "{counter, key, id} for C; the measure's args for V" },
    { name: "process_properties", type: "JSON", description: "processes.properties" },
    { name: "tid", type: "BIGINT", description: "source thread id, when it is an integer (README: tid and tid_text)" },
    { name: "tid_text", type: "VARCHAR", description: "source thread id as the source wrote it" },
    { name: "counter", type: "VARCHAR", description: "event name" },
    { name: "key", type: "VARCHAR", description: "args key (NULL for V)" },
  ],
  async materialize(input: MaterializeInput): Promise<MaterializeResult> {
    await registerCounterValue(input.engine);
    return materializeSql(input, TRANSFORM);
  },
  async materializeMany(inputs: MaterializeInput[]): Promise<MaterializeResult[]> {
    await registerCounterValue((inputs[0] as MaterializeInput).engine);
    return materializeSqlMany(inputs, TRANSFORM);
  },
  manyMaxEvents: SQL_MANY_MAX_EVENTS,
};
