/**
 * Span trees at query time (issue 24 item 3): the table functions `children(id)`,
 * `descendants(id)`, `ancestors(id)` and `heaviest_path(id)` over thread_spans, trace_processor's
 * `ancestor_slice(id)` and `descendant_slice(id)` over slice, and the `async_spans` view (one
 * row per async span, over async_events). Defined (as DuckDB table macros and a view in schema
 * main) only when a statement names them, through the same mechanism as the Perfetto-shaped
 * views (lib/sql/perfetto_views.ts addPerfettoViewReferences).
 *
 * Span ids are unique across the lake (thread_spans: lib/views/thread_spans.ts spanIdSql;
 * async spans: lib/views/async_events.ts asyncSpanIdSql), so each function takes one id.
 */
import { asyncSpanIdSql } from "../views/async_events.ts";

/** One query-time definition: what it reads (view names, as perfetto_views.ts NEEDS) and its statement. */
export interface SpanDefinition {
  needs: readonly string[];
  /** The CREATE statement (schema main). */
  sql: string;
  /** What it returns, for the README and `.tables`. */
  description: string;
}

/** The argument's name in the macros (not a column name of the views they read). */
const ARG = "tl_span_arg";

/** The recursive walk down from span ARG over `rel` (id, parent, ...): its descendants with their level (1 = children). */
const walkDown = (rel: string, parentCol: string): string => `WITH RECURSIVE tl_down(id, tl_level) AS (
    SELECT id, 1 FROM ${rel} WHERE ${parentCol} = ${ARG}
    UNION ALL SELECT c.id, d.tl_level + 1 FROM tl_down d JOIN ${rel} c ON c.${parentCol} = d.id)`;

/** The recursive walk up from span ARG over `rel`: its ancestors. */
const walkUp = (rel: string, parentCol: string): string => `WITH RECURSIVE tl_up(id, parent) AS (
    SELECT id, ${parentCol} FROM ${rel} WHERE id = ${ARG}
    UNION ALL SELECT p.id, p.${parentCol} FROM tl_up u JOIN ${rel} p ON p.id = u.parent)`;

/** The table functions and views of this file, by name. */
export const SPAN_DEFINITIONS: Record<string, SpanDefinition> = {
  // slice's (id, parent_id), computed once per statement (slice is a union over several views).
  tl_sf_slice_tree: {
    needs: ["slice"],
    description: "",
    sql: "CREATE OR REPLACE TEMP TABLE tl_sf_slice_tree AS SELECT id, parent_id FROM main.slice",
  },
  children: {
    needs: ["thread_spans"],
    description: "children(id): the thread_spans rows whose parent is span `id`, by begin",
    sql: `CREATE OR REPLACE MACRO main.children(${ARG}) AS TABLE
      SELECT * FROM main.thread_spans WHERE parent = ${ARG} ORDER BY "begin", id`,
  },
  descendants: {
    needs: ["thread_spans"],
    description: "descendants(id): the thread_spans rows under span `id` (not itself), by begin and depth",
    sql: `CREATE OR REPLACE MACRO main.descendants(${ARG}) AS TABLE
      ${walkDown("main.thread_spans", "parent")}
      SELECT * FROM main.thread_spans WHERE id IN (SELECT id FROM tl_down) ORDER BY "begin", depth, id`,
  },
  ancestors: {
    needs: ["thread_spans"],
    description: "ancestors(id): the thread_spans rows enclosing span `id` (not itself), the top-level one first",
    sql: `CREATE OR REPLACE MACRO main.ancestors(${ARG}) AS TABLE
      ${walkUp("main.thread_spans", "parent")}
      SELECT * FROM main.thread_spans WHERE id IN (SELECT id FROM tl_up WHERE id <> ${ARG}) ORDER BY depth`,
  },
  heaviest_path: {
    needs: ["thread_spans"],
    description:
      "heaviest_path(id): span `id` and, level by level, its child with the largest duration (ties: the earlier), down to a leaf",
    sql: `CREATE OR REPLACE MACRO main.heaviest_path(${ARG}) AS TABLE
      WITH RECURSIVE tl_path(id) AS (
        SELECT id FROM main.thread_spans WHERE id = ${ARG}
        UNION ALL SELECT (SELECT arg_min(c.id, (-c.duration, c."begin", c.id)) FROM main.thread_spans c WHERE c.parent = h.id)
        FROM tl_path h WHERE h.id IS NOT NULL)
      SELECT * FROM main.thread_spans WHERE id IN (SELECT id FROM tl_path) ORDER BY depth`,
  },
  ancestor_slice: {
    needs: ["tl_sf_slice_tree", "slice"],
    description: "trace_processor's ancestor_slice(id): the slice rows enclosing slice `id` (not itself), by depth",
    sql: `CREATE OR REPLACE MACRO main.ancestor_slice(${ARG}) AS TABLE
      ${walkUp("temp.tl_sf_slice_tree", "parent_id")}
      SELECT * FROM main.slice WHERE id IN (SELECT id FROM tl_up WHERE id <> ${ARG}) ORDER BY depth`,
  },
  descendant_slice: {
    needs: ["tl_sf_slice_tree", "slice"],
    description:
      "trace_processor's descendant_slice(id): the slice rows under slice `id` (not itself), by ts and depth",
    sql: `CREATE OR REPLACE MACRO main.descendant_slice(${ARG}) AS TABLE
      ${walkDown("temp.tl_sf_slice_tree", "parent_id")}
      SELECT * FROM main.slice WHERE id IN (SELECT id FROM tl_down) ORDER BY ts, depth, id`,
  },
  async_spans: {
    needs: ["async_events"],
    description:
      "async_spans: one row per async span (a begin with its end): id, parent (-1 at top), begin, end, dur (-1 never ended), duration, name, depth, properties, end_properties and async_events' other columns of the begin",
    sql: `CREATE OR REPLACE VIEW main.async_spans AS
      SELECT ${asyncSpanIdSql("b.process_id", "b.span_id")} AS id,
        CASE WHEN b.parent_span_id >= 0 THEN ${asyncSpanIdSql("b.process_id", "b.parent_span_id")} ELSE -1 END AS parent,
        b."time" AS "begin", e."time" AS "end",
        b.dur, CASE WHEN b.dur >= 0 THEN b.dur END AS duration,
        b.* EXCLUDE ("time", event_type, dur), e.properties AS end_properties
      FROM main.async_events b LEFT JOIN main.async_events e
        ON e.process_id = b.process_id AND e.span_id = b.span_id AND e.event_type = 'end' AND e.anomaly IS NULL
      WHERE b.event_type = 'begin'`,
  },
};

/** The names of SPAN_DEFINITIONS that are table functions (a statement calls them). */
export const SPAN_FUNCTION_NAMES = [
  "children",
  "descendants",
  "ancestors",
  "heaviest_path",
  "ancestor_slice",
  "descendant_slice",
] as const;
