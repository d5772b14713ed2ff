/**
 * Naming one process on the command line (`--process`) or in SQL (`view_instance(view, P)`): its
 * process_id, a unique prefix of it (4+ characters), `pid:<source pid>` or its name (exe), and
 * any of these after a trace and a colon, `TRACE:PROCESS` (TRACE as lib/lake/traces.ts resolves
 * it: name, trace_id or a unique prefix), so that "Browser of run 2" is `run2:Browser`. The
 * catalog must be attached (as `lake`).
 */
import type { Engine } from "../duck/engine.ts";
import { matchTraces } from "./traces.ts";

/** A process a reference matched. */
export interface ProcessMatch {
  process_id: string;
  exe: string | null;
  source_pid: string | null;
  /** The name of its trace (null when its ingest row is gone). */
  trace_name: string | null;
}

/**
 * The SQL condition "the process row `p` (an alias of a processes table) matches the plain
 * reference `t`" (a VARCHAR expression): process_id, a prefix of it (4+ characters),
 * `pid:<source pid>` or exe. One copy of the rule, for resolveProcessRef and the `partitions
 * --process` filter (lib/sql/catalog.ts).
 */
export function processMatchSql(p: string, t: string): string {
  return `(${p}.process_id = ${t} OR (length(${t}) >= 4 AND starts_with(${p}.process_id, ${t}))
        OR (starts_with(${t}, 'pid:') AND ${p}.source_pid = substr(${t}, 5)) OR ${p}.exe = ${t})`;
}

/**
 * Splits a `TRACE:PROCESS` reference: [trace, process], or null for a plain one (no `:`, or the
 * `pid:` form).
 */
export function splitTraceRef(text: string): [string, string] | null {
  const colon = text.indexOf(":");
  if (colon <= 0 || text.startsWith("pid:")) return null;
  return [text.slice(0, colon), text.slice(colon + 1)];
}

/** The processes matching `text` as one of the plain forms, within `traceIds` (null: all). */
async function plainMatches(engine: Engine, text: string, traceIds: string[] | null): Promise<ProcessMatch[]> {
  return engine.rows<ProcessMatch>(
    `SELECT p.process_id, p.exe, p.source_pid, i.name AS trace_name
     FROM lake.processes p LEFT JOIN lake.ingests i ON i.ingest_id = p.ingest_id
     WHERE ${processMatchSql("p", "$t")}
       AND ($all OR list_contains(from_json($ids::VARCHAR, '["VARCHAR"]'), p.ingest_id))
     ORDER BY p.insert_time, p.process_id`,
    { t: text, all: traceIds === null, ids: JSON.stringify(traceIds ?? []) },
  );
}

/**
 * The one process `text` names (see the file comment): an exact process_id wins; else a
 * `TRACE:PROCESS` form whose TRACE names a trace is resolved within it when that finds a
 * process (`pid:N` is a plain form, never a trace named pid); else the plain forms over the
 * whole lake (a process name may hold a ':').
 * @param makeError builds the error to throw, from a message naming the candidates.
 * @returns the process_id.
 * @throws makeError's error when no process or several match (the candidates with their traces).
 */
export async function resolveProcessRef(
  engine: Engine,
  text: string,
  context: string,
  makeError: (message: string) => Error,
): Promise<string> {
  let rows = await plainMatches(engine, text, null);
  const exact = rows.find((r) => r.process_id === text);
  if (exact) return exact.process_id;
  const split = splitTraceRef(text);
  if (split) {
    const traces = await matchTraces(engine, split[0]);
    // A process name may hold a ':' ("Service: network.mojom.NetworkService"): the plain
    // matches stand when the trace-scoped reading finds nothing.
    const scoped =
      traces.length > 0
        ? await plainMatches(
            engine,
            split[1],
            traces.map((t) => t.traceId),
          )
        : [];
    if (scoped.length > 0) rows = scoped;
  }
  if (rows.length === 1) return (rows[0] as ProcessMatch).process_id;
  if (rows.length === 0) {
    throw makeError(
      `${context}: no process matches '${text}'; pass a process_id, a unique prefix, 'pid:<pid>' or a process name, optionally after a trace and a colon (TRACE:Browser) (SELECT process_id, exe, source_pid FROM processes; tracelake traces)`,
    );
  }
  const list = rows
    .slice(0, 10)
    .map((r) => `${r.process_id} (${r.exe ?? "unnamed"}, pid ${r.source_pid ?? "?"}, trace ${r.trace_name ?? "?"})`)
    .join(", ");
  throw makeError(
    `${context}: '${text}' matches ${rows.length} processes: ${list}; pass a process_id, or TRACE:${text} with one of the traces`,
  );
}
