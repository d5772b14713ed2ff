/**
 * Track allocation of a Perfetto export: process and thread track descriptors, with the pid/tid
 * each gets (the source's when it is a usable integer, else a synthetic one).
 */
import type { Engine } from "../duck/engine.ts";
import type { Ctx, PerfettoExportOptions, ProcState } from "./export_state.ts";
import { FlowLists, InstantFlowMap, SpanFlows } from "./span_flows.ts";

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
  for (const p of o.processes) {
    const r = await engine.rows<{ exe: string | null; source_pid: string | null; trace_format: string | null }>(
      "SELECT exe, source_pid, trace_format FROM main.processes WHERE process_id = $p",
      { p: p.processId },
    );
    const row = r[0] ?? { exe: null, source_pid: null, trace_format: null };
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
      logFlows: new InstantFlowMap(flowLists).inTimeOrder(),
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

/** The cpu streams of a process that have spans: [stream_id, thread track uuid, label]. */
export async function threadStreams(engine: Engine, ctx: Ctx, ps: ProcState): Promise<[string, number, string][]> {
  const rows = await engine.rows<{ stream_id: string; tid: string | null; name: string | null }>(
    `SELECT stream_id, json_extract_string(properties, '$."thread-id"') AS tid,
            json_extract_string(properties, '$."thread-name"') AS name
     FROM main.streams WHERE process_id = $p AND list_contains(tags, 'cpu') ORDER BY stream_id`,
    { p: ps.p.processId },
  );
  return rows.map((r) => [r.stream_id, threadTrack(ctx, ps, r.tid, r.name), r.name ?? r.tid ?? r.stream_id]);
}
