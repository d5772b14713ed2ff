/**
 * Better hints in DuckDB's error messages for the names people type: DuckDB suggests the
 * closest name among the tables defined in the session, but a query session defines only the
 * views its text references, so a misspelt `thread_span` or Perfetto's `slices` got "Did you mean
 * pg_tablespace?". The hint is rewritten from tracelake's own view names (Perfetto-shaped ones
 * included), and from the trace_processor table names tracelake does not define (their
 * counterparts are named), and a parser error at the keywords `begin`/`end`
 * (thread_spans' columns) says to quote them.
 */

/**
 * Perfetto trace_processor table names (https://perfetto.dev/docs/analysis/sql-tables) that
 * tracelake does not define under that name, and what holds the same things. The ones it
 * defines (`slice`, `thread`, `process`, `thread_track`, `counter`, `counter_track`, `flow`, `args`:
 * lib/sql/perfetto_views.ts) are among the view names, so a near miss (`slices`) gets them.
 */
export const PERFETTO_COUNTERPARTS: Record<string, string> = {
  thread_slice: "slice (thread slices: JOIN thread_track ON slice.track_id = thread_track.id) or thread_spans",
  track: "thread_track (thread slices), counter_track (counters); other slice tracks are async tracks",
  process_track: "none: async slices are the slice rows whose track_id is not a thread_track's; async_events",
  process_counter_track: "counter_track (type 'process_counter')",
  thread_counter_track: "counter_track (type 'thread_counter')",
  instant: "log_entries (and the dur 0 rows of slice)",
  android_logs: "log_entries",
  log: "log_entries",
  logs: "log_entries",
  stats: "import_stats",
};

/** Levenshtein distance between two short strings. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(
        (prev[j] as number) + 1,
        (cur[j - 1] as number) + 1,
        (prev[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    prev = cur;
  }
  return prev[b.length] as number;
}

/**
 * Rewrites DuckDB's error message `message` for a query over tracelake's views:
 * - "Table with name X does not exist! Did you mean "Y"?": the hint names Perfetto's
 *   counterpart of X, or the closest of `views` (at most a third of X's letters off; the first
 *   in `views` order among equals, so tracelake's own views before the Perfetto-shaped ones), or lists
 *   the views;
 * - a parser error at or near "begin" or "end": says that they are SQL keywords to quote.
 * Other messages are returned unchanged.
 * @param views the view names a query can read (lib/sql/query.ts QUERY_VIEWS).
 */
export function explainSqlError(message: string, views: readonly string[]): string {
  const missing = /Table with name ([^\s!]+) does not exist!(\nDid you mean "[^"\n]*"\?)?/.exec(message);
  if (missing) {
    const name = (missing[1] as string).toLowerCase();
    const bare = name.includes(".") ? (name.split(".").pop() as string) : name;
    let hint: string;
    const perfetto = PERFETTO_COUNTERPARTS[bare];
    if (perfetto) {
      hint = `${bare} is trace_processor's table; tracelake's is ${perfetto}`;
    } else {
      const best = views.map((v) => ({ v, d: distance(bare, v) })).sort((x, y) => x.d - y.d)[0];
      hint =
        best && best.d <= Math.max(1, Math.floor(bare.length / 3))
          ? `Did you mean "${best.v}"?`
          : `tracelake's views: ${views.join(", ")}`;
    }
    const at = (missing.index as number) + missing[0].length;
    return `${message.slice(0, missing.index)}Table with name ${missing[1]} does not exist!\n${hint}${message.slice(at)}`;
  }
  if (/Parser Error: syntax error at or near "(end|begin)"/i.test(message)) {
    return `${message}\nbegin and end are SQL keywords: quote the columns ("begin", "end"), e.g. SELECT name, "begin", "end" FROM thread_spans, or use ts and dur (BIGINT ns)`;
  }
  return message;
}
