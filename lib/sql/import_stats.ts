/**
 * The `import_stats` view: what each ingest left out and why, one row per (ingest, skip reason
 * code, phase or packet type, destination), from the counts the ingest recorded in
 * `ingests.summary.phases` (lib/ingest/model.ts PhaseCount: the same rows `tracelake ingest`
 * prints). trace_processor's `stats` table answers the same question for its importer.
 */

/** The view's columns, with what they hold (README "import_stats"). */
export const IMPORT_STATS_COLUMNS: readonly [string, string][] = [
  ["ingest_id", "the ingest (ingests.ingest_id)"],
  ["source", "the ingested file (ingests.source)"],
  ["format", "its format"],
  ["code", "the stable skip reason code (README 'Skip reasons'); NULL for a reason without one"],
  ["phase", "the Chrome phase, Perfetto packet or event type, OTLP or JSON-lines record kind"],
  ["dest", "skipped (the event is not imported) or dropped (part of an imported event, e.g. a counter value)"],
  ["severity", "info (by design), warning (event lacking what its kind needs), error (damaged input)"],
  ["description", "the reason in one line"],
  ["count", "events (or values, for dest = 'dropped') left out (BIGINT)"],
  ["examples", "the first few: LIST of {seq (position in the source), name}; NULL when the importer keeps none"],
];

/** The JSON shape of one count in `ingests.summary.phases`, for from_json. */
const PHASE_SHAPE = JSON.stringify([
  {
    ph: "VARCHAR",
    dest: "VARCHAR",
    reason: "VARCHAR",
    code: "VARCHAR",
    severity: "VARCHAR",
    count: "BIGINT",
    examples: [{ seq: "BIGINT", name: "VARCHAR" }],
  },
]);

/**
 * The SELECT of the view over `ingests` (a relation with the ingests table's columns), ordered
 * by ingest time, then severity (error first), then count (largest first).
 */
export function importStatsSelect(ingests: string): string {
  return `SELECT ingest_id, source, format, p.code AS code, p.ph AS phase, p.dest AS dest,
      p.severity AS severity, p.reason AS description, p.count AS count, p.examples AS examples
    FROM (
      SELECT ingest_id, source, format, insert_time,
        unnest(from_json(summary->'$.phases', '${PHASE_SHAPE}')) AS p
      FROM ${ingests}
    )
    WHERE p.reason IS NOT NULL
    ORDER BY insert_time, CASE p.severity WHEN 'error' THEN 0 WHEN 'warning' THEN 1 WHEN 'info' THEN 2 ELSE 3 END,
      p.count DESC, p.code, p.ph`;
}
