/**
 * Better hints in DuckDB's error messages for the names people type: DuckDB suggests the
 * closest name among the tables defined in the session, but a query session defines only the
 * views its text references, so a misspelt `thread_span` or Perfetto's `slice` got "Did you mean
 * pg_tablespace?". The hint is rewritten from tracelake's own view names (and from Perfetto's
 * table names, whose counterparts are named), and a parser error at the keywords `begin`/`end`
 * (thread_spans' columns) says to quote them.
 */

/**
 * Perfetto trace_processor table names (https://perfetto.dev/docs/analysis/sql-tables) and the
 * tracelake view that holds the same things.
 */
export const PERFETTO_COUNTERPARTS: Record<string, string> = {
  slice: "thread_spans (thread slices; async slices are in async_events)",
  slices: "thread_spans",
  thread_slice: "thread_spans",
  thread: "streams (one cpu stream per thread: properties->>'thread-name', properties->>'thread-id')",
  process: "processes",
  counter: "measures",
  counter_track: "measures",
  thread_track: "streams",
  track: "streams",
  flow: "raw_events (ph s/t/f and bind_id/flow_in/flow_out)",
  args: "the properties column of each view (JSON)",
  instant: "log_entries",
  android_logs: "log_entries",
  log: "log_entries",
  logs: "log_entries",
  stats: "ingests (summary)",
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
 *   counterpart of X, or the closest of `views` (at most a third of X's letters off), or lists
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
      const best = views
        .map((v) => ({ v, d: distance(bare, v) }))
        .sort((x, y) => x.d - y.d || x.v.localeCompare(y.v))[0];
      hint =
        best && best.d <= Math.max(1, Math.floor(bare.length / 3))
          ? `Did you mean "${best.v}"?`
          : `tracelake's views: ${views.join(", ")}`;
    }
    const at = (missing.index as number) + missing[0].length;
    return `${message.slice(0, missing.index)}Table with name ${missing[1]} does not exist!\n${hint}${message.slice(at)}`;
  }
  if (/Parser Error: syntax error at or near "(end|begin)"/i.test(message)) {
    return `${message}\nbegin and end are SQL keywords: quote the columns ("begin", "end"), e.g. SELECT name, "begin", "end" FROM thread_spans`;
  }
  return message;
}
