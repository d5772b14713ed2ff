/**
 * Track allocation of a Perfetto export: process and thread track descriptors, with the pid/tid
 * each gets (the source's when it is a usable integer, else a synthetic one).
 */
import type { Engine } from "../duck/engine.ts";
import type { Ctx, PerfettoExportOptions, ProcState } from "./export_state.ts";
import { FlowLists, noInstantFlows, SpanFlows } from "./span_flows.ts";

/** First synthetic pid/tid, above any real one (for ids missing, not integers, 0 or reused). */
export const SYNTHETIC_BASE = 1 << 30;

/** A non-negative int32 pid/tid from source text, or null when it is not one. */
function intId(s: string | null): number | null {
  if (s === null || !/^[0-9]{1,10}$/.test(s)) return null;
  const n = Number(s);
  return n > 0 && n < SYNTHETIC_BASE ? n : null;
}

/** Writes process descriptors and returns per-process state. */
export async function describeProcesses(engine: Engine, ctx: Ctx, o: PerfettoExportOptions): Promise<ProcState[]> {
  const out: ProcState[] = [];
  const usedPids = new Set<number>();
  let synthetic = SYNTHETIC_BASE;
  type Row = { process_id: string; exe: string | null; source_pid: string | null; trace_format: string | null };
  // One query for all the processes (in the options' order below).
  const rows = await engine.rows<Row>(
    "SELECT process_id, exe, source_pid, trace_format FROM main.processes WHERE list_contains($ids::JSON::VARCHAR[], process_id)",
    { ids: JSON.stringify(o.processes.map((p) => p.processId)) },
  );
  const byId = new Map(rows.map((r) => [r.process_id, r]));
  for (const p of o.processes) {
    const row = byId.get(p.processId) ?? { exe: null, source_pid: null, trace_format: null };
    let pid = intId(row.source_pid);
    if (pid === null || usedPids.has(pid)) pid = synthetic++;
    usedPids.add(pid);
    const uuid = ctx.uuid();
    ctx.tw.processTrack(0, uuid, pid, row.exe ?? `process ${p.processId}`);
    const flowLists = new FlowLists();
    out.push({
      p,
      uuid,
      pid,
      chromeJson: row.trace_format === "chrome_json",
      threadByTid: new Map(),
      usedTids: new Set(),
      flowLists,
      flows: new SpanFlows(flowLists),
      logFlows: noInstantFlows(),
    });
  }
  return out;
}

/** Thread track uuid for a source tid of a process, writing its descriptor when new. */
export function threadTrack(ctx: Ctx, ps: ProcState, tid: string | null, name: string | null): number {
  const k = tid ?? "";
  const known = ps.threadByTid.get(k);
  if (known !== undefined) return known;
  let n = intId(tid);
  if (n === null || ps.usedTids.has(n)) {
    n = SYNTHETIC_BASE + ps.usedTids.size;
    while (ps.usedTids.has(n)) n++;
  }
  ps.usedTids.add(n);
  const uuid = ctx.uuid();
  ctx.tw.threadTrack(ctx.now, uuid, ps.pid, n, name ?? (tid !== null ? `thread ${tid}` : null));
  ps.threadByTid.set(k, uuid);
  return uuid;
}

/** A cpu stream of a process, as threadStreams reads it: its id, source tid and thread name. */
export interface StreamRow {
  stream_id: string;
  tid: string | null;
  name: string | null;
}

/**
 * The cpu streams of the exported processes, by process_id, each process's in stream_id order:
 * one query for all (each process's own query waited behind the sources' queries already
 * started).
 */
export async function streamRows(engine: Engine, procs: ProcState[]): Promise<Map<string, StreamRow[]>> {
  const rows = await engine.rows<StreamRow & { process_id: string }>(
    `SELECT process_id, stream_id, json_extract_string(properties, '$."thread-id"') AS tid,
            json_extract_string(properties, '$."thread-name"') AS name
     FROM main.streams WHERE list_contains($ids::JSON::VARCHAR[], process_id) AND list_contains(tags, 'cpu')
     ORDER BY process_id, stream_id`,
    { ids: JSON.stringify(procs.map((ps) => ps.p.processId)) },
  );
  const by = new Map<string, StreamRow[]>();
  for (const r of rows) {
    const l = by.get(r.process_id);
    if (l) l.push(r);
    else by.set(r.process_id, [r]);
  }
  return by;
}

/**
 * The thread tracks of a process's cpu streams (`rows`, from streamRows), in stream_id order:
 * [stream_id, track uuid, label], writing each new thread's descriptor.
 */
export function threadStreams(ctx: Ctx, ps: ProcState, rows: StreamRow[]): [string, number, string][] {
  return rows.map((r) => [r.stream_id, threadTrack(ctx, ps, r.tid, r.name), r.name ?? r.tid ?? r.stream_id]);
}
