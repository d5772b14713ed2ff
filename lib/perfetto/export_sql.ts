/**
 * The SQL of a Perfetto export: which views it reads, the text that prepares their instances,
 * and the fragments its queries are built from (view instances, interning keys, relative times,
 * args, time windows, the key that matches an instant to its flow ends), plus the base-time query.
 */
import type { Engine } from "../duck/engine.ts";
import { sqlString } from "../duck/engine.ts";
import type { ExportProcess, PerfettoExportOptions } from "./export_state.ts";

/** The view sets an export with these options reads (for JIT preparation). */
export function viewSetsFor(o: Pick<PerfettoExportOptions, "spans" | "logs" | "counters" | "flows">): string[] {
  const v: string[] = [];
  if (o.spans !== "async" || o.flows) v.push("thread_spans");
  if (o.spans !== "thread") v.push("async_events");
  if (o.counters) v.push("measures");
  if (o.logs) v.push("log_entries");
  if (o.flows) v.push("flows");
  return v;
}

/** `view_instance(...)` SQL for a view set of a process. */
export function vi(viewSet: string, p: ExportProcess): string {
  return `view_instance(${sqlString(viewSet)}, ${sqlString(p.instanceKey)})`;
}

/** A 53-bit hash of a text column for interning keys (-1 for NULL or ''), exact as DOUBLE. */
export const key53 = (col: string) =>
  `CASE WHEN ${col} IS NULL OR ${col} = '' THEN -1 ELSE (hash(${col}) >> 11)::DOUBLE END`;
/** Time relative to the export's base, as DOUBLE ns. */
export const rel = (col: string, base: bigint) => `(epoch_ns(${col}) - ${base})::DOUBLE`;
/** args JSON unless empty. */
export const argsCol = (col: string, on: boolean) =>
  on ? `CASE WHEN ${col} IS NULL OR ${col}::VARCHAR IN ('{}', 'null') THEN NULL ELSE ${col}::VARCHAR END` : "NULL";

/** The earliest time of the exported rows (ns), the base of relative times. */
export async function baseTime(engine: Engine, o: PerfettoExportOptions, views: string[]): Promise<bigint> {
  const parts: string[] = [];
  const col: Record<string, string> = {
    thread_spans: '"begin"',
    async_events: "time",
    measures: "time",
    log_entries: "time",
  };
  for (const p of o.processes) {
    for (const v of views.filter((x) => x in col)) parts.push(`SELECT min(epoch_ns(${col[v]})) AS t FROM ${vi(v, p)}`);
  }
  if (parts.length === 0) return 0n;
  const r = await engine.rows<{ t: bigint | null }>(`SELECT min(t) AS t FROM (${parts.join(" UNION ALL ")})`);
  const t = r[0]?.t ?? null;
  if (t !== null) return t;
  return o.beginNs ?? 0n;
}

/**
 * The key an exported instant (a log entry) is matched to the flows view's instant ends by,
 * beside its time: hash of its name and tid, as BIGINT. Arguments are column expressions
 * (log_entries: msg, tid_text; flows: in_name, in_tid or out_name, out_tid).
 */
export function instantKey(name: string, tid: string): string {
  return `(hash(${name}, ${tid}) >> 1)::BIGINT`;
}

/** AND-clauses keeping rows of [begin, end] overlapping the window. */
export function windowSql(o: PerfettoExportOptions, beginCol: string, endCol: string): string {
  let s = "";
  if (o.beginNs !== null) s += ` AND epoch_ns(${endCol}) >= ${o.beginNs}`;
  if (o.endNs !== null) s += ` AND epoch_ns(${beginCol}) <= ${o.endNs}`;
  return s;
}

/**
 * A SQL text that references every view instance an export reads, for `prepareQuery` to
 * materialize and define (plus the catalog views the exporter reads: processes, streams,
 * blocks). The instance key of each process is its process_id. `flowProcessIds`: further
 * processes whose `flows` instances are read (PerfettoExportOptions.flowProcesses).
 */
export function perfettoPrepareSql(
  processIds: string[],
  o: Pick<PerfettoExportOptions, "spans" | "logs" | "counters" | "flows">,
  flowProcessIds: string[] = [],
): string {
  const parts = ["SELECT 1 FROM processes, streams, blocks"];
  for (const id of processIds) {
    for (const v of viewSetsFor(o)) parts.push(`SELECT 1 FROM view_instance(${sqlString(v)}, ${sqlString(id)})`);
  }
  if (o.flows) {
    for (const id of flowProcessIds.filter((x) => !processIds.includes(x))) {
      parts.push(`SELECT 1 FROM view_instance('flows', ${sqlString(id)})`);
    }
  }
  return parts.join(" UNION ALL ");
}
