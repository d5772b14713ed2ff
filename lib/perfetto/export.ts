/**
 * The streaming Perfetto exporter (DESIGN.md "Perfetto export"): reads the thread spans, async
 * events, measures and log entries of one or more processes from their JIT view instances
 * through DuckDB streaming results, merges them in time order and yields framed TracePackets in
 * chunks of about `chunkBytes`. Memory is bounded by the chunk size, one DuckDB chunk per open
 * cursor, the open spans (stack depth, concurrent async spans), the interning tables (capped,
 * lib/perfetto/packets.ts) and the flow points of the process (see `loadFlows`); not by the
 * number of spans.
 *
 * Trace layout (README "export perfetto"):
 * - one process track per process, one thread track per `cpu` stream (pid/tid from the source;
 *   a synthetic id when missing, not an integer, 0 or duplicated);
 * - thread spans as SLICE_BEGIN/SLICE_END on their thread track. A span that cannot nest there
 *   (thread_spans `anomaly = 'overlap'`: X events that overlap without nesting, which
 *   trace_processor would move to an overflow track) goes to a child track of the thread named
 *   "<thread> (overlapping)", one per concurrently overlapping level, so no track ever holds
 *   improperly nested slices;
 * - async spans on child tracks of the process: each open span gets its own track, taken from a
 *   pool per span name (the track's name, so the UI groups them) and returned when the span
 *   ends; async instants and steps go on their span's track;
 * - measures as COUNTER events, one counter track per measure name under the process;
 * - log entries as INSTANT events with a LogMessage (interned body, priority from level) on
 *   their thread's track;
 * - Chrome flow events (`s`/`t`/`f`) as flow_ids / terminating_flow_ids on the thread slice
 *   they bind to; flow v2 (`bind_id` with `flow_out`/`flow_in` on a B/X event) on the slice
 *   that event begins, or on the INSTANT of the log entry it is.
 * Events are written in time order; at equal timestamps SLICE_ENDs come first.
 */
import { join } from "node:path";
import { ChunkCursor } from "../duck/cursor.ts";
import type { Engine } from "../duck/engine.ts";
import { sqlString } from "../duck/engine.ts";
import { type ByteRange, INSTANT, type LogPriority, SLICE_BEGIN, TraceWriter } from "./packets.ts";

export { EXPORT_PERFETTO_OPTIONS } from "./options.ts";

/** Which spans to export. */
export type SpanTypes = "thread" | "async" | "both";

/** One process to export: its process_id and the key of its view instances (see prepare). */
export interface ExportProcess {
  processId: string;
  /** Second argument of view_instance() under which prepareQuery defined its instances. */
  instanceKey: string;
}

/** What to export. Times are ns since the epoch of the trace's clock (TIMESTAMP_NS values). */
export interface PerfettoExportOptions {
  processes: ExportProcess[];
  /** The lake directory (raw block paths in `blocks` are relative to it; for flows). */
  lakeRoot: string;
  spans: SpanTypes;
  /** Keep spans that end at or after this time, events at or after it (null: no bound). */
  beginNs: bigint | null;
  /** Keep spans that begin at or before this time, events at or before it (null: no bound). */
  endNs: bigint | null;
  logs: boolean;
  counters: boolean;
  flows: boolean;
  /** Span and log args as a debug annotation `args` (default true). */
  args?: boolean;
  /** Target chunk size in bytes (default 64 KiB); a chunk exceeds it by at most one packet. */
  chunkBytes?: number;
}

/** Counts of what the export wrote, filled while the chunks are produced. */
export interface PerfettoExportStats {
  packets: number;
  bytes: number;
  chunks: number;
  threadSlices: number;
  /** Thread slices put on an overlap child track. */
  overlapSlices: number;
  asyncSlices: number;
  /** Async spans begun and never ended (written as a SLICE_BEGIN only). */
  asyncUnclosed: number;
  asyncInstants: number;
  /** async_events rows not written: unmatched ends, ends whose begin is outside the window. */
  asyncSkipped: number;
  counters: number;
  logs: number;
  /** Flow ids written on slices (flow_ids plus terminating_flow_ids). */
  flowPoints: number;
  /** Flow events whose slice was not found (no enclosing or following span on the thread). */
  flowsUnbound: number;
  tracks: number;
}

/** A new zeroed stats object. */
export function emptyStats(): PerfettoExportStats {
  return {
    packets: 0,
    bytes: 0,
    chunks: 0,
    threadSlices: 0,
    overlapSlices: 0,
    asyncSlices: 0,
    asyncUnclosed: 0,
    asyncInstants: 0,
    asyncSkipped: 0,
    counters: 0,
    logs: 0,
    flowPoints: 0,
    flowsUnbound: 0,
    tracks: 0,
  };
}

/** The view sets an export with these options reads (for JIT preparation). */
export function viewSetsFor(o: Pick<PerfettoExportOptions, "spans" | "logs" | "counters" | "flows">): string[] {
  const v: string[] = [];
  if (o.spans !== "async" || o.flows) v.push("thread_spans");
  if (o.spans !== "thread") v.push("async_events");
  if (o.counters) v.push("measures");
  if (o.logs) v.push("log_entries");
  return v;
}

/** `view_instance(...)` SQL for a view set of a process. */
function vi(viewSet: string, p: ExportProcess): string {
  return `view_instance(${sqlString(viewSet)}, ${sqlString(p.instanceKey)})`;
}

/** A row source merged by time: `t` is the current row's time (rel ns), Infinity when done. */
interface Source {
  t: number;
  /** Writes the current row and advances; returns false when the chunk is used up. */
  step(): boolean;
  /** Loads the next chunk (sets t = Infinity at the end). */
  refill(): Promise<void>;
  close(): void;
}

const CHUNK_DEFAULT = 64 * 1024;
/**
 * Deepest slice stack trace_processor keeps on a track (kMaxDepth = 512 in
 * src/trace_processor/importers/common/slice_tracker.h; reference/perfetto.md §3): deeper
 * spans go to an overlap lane, where they start a new stack.
 */
const MAX_DEPTH = 512;
const SYNTHETIC_BASE = 1 << 30;

/** Min-heap of pending thread-slice ENDs: (time, LIFO order) → track uuid, in typed arrays. */
class EndQueue {
  size = 0;
  private t = new Float64Array(1024);
  private o = new Float64Array(1024);
  private u = new Float64Array(1024);
  private seq = 0;
  /** Time of the earliest END (Infinity when empty). */
  get minTime(): number {
    return this.size > 0 ? (this.t[0] as number) : Number.POSITIVE_INFINITY;
  }
  /** Track of the earliest END. */
  get minTrack(): number {
    return this.u[0] as number;
  }
  push(time: number, track: number): void {
    if (this.size === this.t.length) {
      const g = (a: Float64Array) => {
        const b = new Float64Array(a.length * 2);
        b.set(a);
        return b;
      };
      this.t = g(this.t);
      this.o = g(this.o);
      this.u = g(this.u);
    }
    // Later pushes first at equal times: an inner slice ends before its parent.
    const ord = -this.seq++;
    let i = this.size++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pt = this.t[p] as number;
      if (pt < time || (pt === time && (this.o[p] as number) <= ord)) break;
      this.t[i] = pt;
      this.o[i] = this.o[p] as number;
      this.u[i] = this.u[p] as number;
      i = p;
    }
    this.t[i] = time;
    this.o[i] = ord;
    this.u[i] = track;
  }
  pop(): void {
    const n = --this.size;
    if (n === 0) return;
    const lt = this.t[n] as number;
    const lo = this.o[n] as number;
    const lu = this.u[n] as number;
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n) {
        const a = this.t[c] as number;
        const b = this.t[c + 1] as number;
        if (b < a || (b === a && (this.o[c + 1] as number) < (this.o[c] as number))) c++;
      }
      const ct = this.t[c] as number;
      if (lt < ct || (lt === ct && lo <= (this.o[c] as number))) break;
      this.t[i] = ct;
      this.o[i] = this.o[c] as number;
      this.u[i] = this.u[c] as number;
      i = c;
    }
    this.t[i] = lt;
    this.o[i] = lo;
    this.u[i] = lu;
  }
}

/** Shared state of one export. */
class Ctx {
  readonly tw = new TraceWriter(1);
  readonly ends = new EndQueue();
  nextUuid = 1;
  /** Time of the row being written (for descriptors created on the fly). */
  now = 0;
  constructor(
    readonly stats: PerfettoExportStats,
    readonly args: boolean,
  ) {}
  /** One reused ByteRange (no allocation per row). */
  private readonly range: ByteRange = { buf: new Uint8Array(0), off: 0, len: 0 };
  /** The bytes the cursor's last textBytes call found, as the reused ByteRange. */
  ref(cur: ChunkCursor): ByteRange {
    this.range.buf = cur.refBuf;
    this.range.off = cur.refOff;
    this.range.len = cur.refLen;
    return this.range;
  }
  uuid(): number {
    this.stats.tracks++;
    return this.nextUuid++;
  }
  /**
   * iid of an event name (0 for none) by hash key (-1 = no name); the text (column k, row i of
   * `cur`) is read only when the key is new.
   */
  name(key: number, cur: ChunkCursor, k: number, i: number): number {
    if (key < 0) return 0;
    const iid = this.tw.nameIid(key);
    if (iid !== 0) return iid;
    const s = cur.text(k, i);
    return s ? this.tw.addName(key, s) : 0;
  }
  /** iid of a category, as `name`. */
  category(key: number, cur: ChunkCursor, k: number, i: number): number {
    if (key < 0) return 0;
    const iid = this.tw.categoryIid(key);
    if (iid !== 0) return iid;
    const s = cur.text(k, i);
    return s ? this.tw.addCategory(key, s) : 0;
  }
}

/** A 53-bit hash of a text column for interning keys (-1 for NULL or ''), exact as DOUBLE. */
const key53 = (col: string) => `CASE WHEN ${col} IS NULL OR ${col} = '' THEN -1 ELSE (hash(${col}) >> 11)::DOUBLE END`;
/** Time relative to the export's base, as DOUBLE ns. */
const rel = (col: string, base: bigint) => `(epoch_ns(${col}) - ${base})::DOUBLE`;
/** args JSON unless empty. */
const argsCol = (col: string, on: boolean) =>
  on ? `CASE WHEN ${col} IS NULL OR ${col}::VARCHAR IN ('{}', 'null') THEN NULL ELSE ${col}::VARCHAR END` : "NULL";

/** Per-process state: tracks by thread. */
interface ProcState {
  p: ExportProcess;
  uuid: number;
  pid: number;
  /** Thread track uuid by source tid (text). */
  threadByTid: Map<string, number>;
  usedTids: Set<number>;
  /** Flow ids to attach to a thread span's BEGIN, by span id. */
  flows: Map<number, { ids: bigint[]; term: bigint[] }>;
  /** Flow v2 events of the log entries, in time order (see `loadLogFlows`). */
  logFlows: FlowV2[];
}

/**
 * Produces the trace as chunks of framed TracePackets (each chunk ≤ chunkBytes plus one
 * packet); their concatenation is a valid `.pftrace`. The views of every process must have been
 * prepared with `prepareQuery` (see `perfettoPrepareSql`). Stops cleanly when the consumer
 * stops pulling (cursors and connections are closed by the generator's `finally`).
 * @param stats filled as chunks are produced.
 * @throws Error when DuckDB fails, or when a view's rows are not in time order (a partition
 *   written by an older tracelake; re-materialize it).
 */
export async function* perfettoChunks(
  engine: Engine,
  options: PerfettoExportOptions,
  stats: PerfettoExportStats = emptyStats(),
): AsyncGenerator<Uint8Array> {
  const ctx = new Ctx(stats, options.args ?? true);
  const tw = ctx.tw;
  const chunkBytes = options.chunkBytes ?? CHUNK_DEFAULT;
  const views = viewSetsFor(options);
  const base = await baseTime(engine, options, views);
  tw.setBase(base);
  const sources: Source[] = [];
  // One DuckDB thread while exporting: a parallel scan feeding an order-preserving streaming
  // result reads row groups ahead and buffers them, in each of the per-thread queries at once
  // (bench/perfetto, peak RSS growth from 1M to 10M spans: 103 MB with 2 threads, 60 MB with
  // 1, and no slower, since the JS encoder is the bottleneck). Restored afterwards.
  const threads = (await engine.rows<{ t: string }>("SELECT current_setting('threads')::VARCHAR AS t"))[0]?.t;
  await engine.run("SET threads = 1");
  try {
    // Descriptors of processes and threads first, then the row sources.
    const procs = await describeProcesses(engine, ctx, options);
    for (const ps of procs) {
      if (options.flows && options.spans !== "async") ps.flows = await loadFlows(engine, ctx, ps, options);
      if (options.flows && options.logs) ps.logFlows = await loadLogFlows(engine, ps, options);
      if (options.spans !== "async") {
        for (const [streamId, threadUuid, label] of await threadStreams(engine, ctx, ps)) {
          sources.push(await threadSpanSource(engine, ctx, ps, streamId, threadUuid, label, base, options));
        }
      }
      if (options.spans !== "thread") sources.push(await asyncSource(engine, ctx, ps, base, options));
      if (options.counters) sources.push(await counterSource(engine, ctx, ps, base, options));
      if (options.logs) sources.push(await logSource(engine, ctx, ps, base, options));
    }
    for (const s of sources) await s.refill();
    // Merge: a binary heap of sources by current time. Ties between sources are in any order:
    // they write to different tracks, or (logs and spans of one thread) either order nests.
    const heap = sources.filter((s) => s.t !== Number.POSITIVE_INFINITY);
    const less = (a: Source, b: Source) => a.t < b.t;
    const siftDown = (i0: number): void => {
      let i = i0;
      const n = heap.length;
      const x = heap[i] as Source;
      for (;;) {
        let c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && less(heap[c + 1] as Source, heap[c] as Source)) c++;
        if (!less(heap[c] as Source, x)) break;
        heap[i] = heap[c] as Source;
        i = c;
      }
      heap[i] = x;
    };
    for (let i = (heap.length >> 1) - 1; i >= 0; i--) siftDown(i);
    const ends = ctx.ends;
    const out = tw.out;
    for (;;) {
      const top = heap[0];
      const t = top ? top.t : Number.POSITIVE_INFINITY;
      // ENDs at or before t first (END before BEGIN at equal timestamps).
      while (ends.size > 0 && ends.minTime <= t) {
        tw.sliceEnd(ends.minTime, ends.minTrack);
        ends.pop();
      }
      if (!top) break;
      ctx.now = t;
      if (!top.step()) await top.refill();
      if (top.t === Number.POSITIVE_INFINITY) {
        top.close();
        const last = heap.pop() as Source;
        if (heap.length > 0 && last !== top) {
          heap[0] = last;
          siftDown(0);
        }
      } else siftDown(0);
      if (out.pos >= chunkBytes) {
        stats.packets = tw.packets;
        yield take(ctx);
      }
    }
    stats.packets = tw.packets;
    if (out.pos > 0) yield take(ctx);
  } finally {
    for (const s of sources) s.close();
    if (threads) await engine.run(`SET threads = ${Number(threads)}`);
  }
}

function take(ctx: Ctx): Uint8Array {
  const out = ctx.tw.out;
  const chunk = out.buf.slice(0, out.pos);
  out.reset();
  ctx.stats.bytes += chunk.length;
  ctx.stats.chunks++;
  return chunk;
}

/** The earliest time of the exported rows (ns), the base of relative times. */
async function baseTime(engine: Engine, o: PerfettoExportOptions, views: string[]): Promise<bigint> {
  const parts: string[] = [];
  const col: Record<string, string> = {
    thread_spans: '"begin"',
    async_events: "time",
    measures: "time",
    log_entries: "time",
  };
  for (const p of o.processes) {
    for (const v of views) parts.push(`SELECT min(epoch_ns(${col[v]})) AS t FROM ${vi(v, p)}`);
  }
  if (parts.length === 0) return 0n;
  const r = await engine.rows<{ t: bigint | null }>(`SELECT min(t) AS t FROM (${parts.join(" UNION ALL ")})`);
  const t = r[0]?.t ?? null;
  if (t !== null) return t;
  return o.beginNs ?? 0n;
}

/** A non-negative int32 pid/tid from source text, or null when it is not one. */
function intId(s: string | null): number | null {
  if (s === null || !/^[0-9]{1,10}$/.test(s)) return null;
  const n = Number(s);
  return n > 0 && n < SYNTHETIC_BASE ? n : null;
}

/** Writes process descriptors and returns per-process state. */
async function describeProcesses(engine: Engine, ctx: Ctx, o: PerfettoExportOptions): Promise<ProcState[]> {
  const out: ProcState[] = [];
  const usedPids = new Set<number>();
  let synthetic = SYNTHETIC_BASE;
  for (const p of o.processes) {
    const r = await engine.rows<{ exe: string | null; source_pid: string | null }>(
      "SELECT exe, source_pid FROM main.processes WHERE process_id = $p",
      { p: p.processId },
    );
    const row = r[0] ?? { exe: null, source_pid: null };
    let pid = intId(row.source_pid);
    if (pid === null || usedPids.has(pid)) pid = synthetic++;
    usedPids.add(pid);
    const uuid = ctx.uuid();
    ctx.tw.processTrack(0, uuid, pid, row.exe ?? `process ${p.processId}`);
    out.push({ p, uuid, pid, threadByTid: new Map(), usedTids: new Set(), flows: new Map(), logFlows: [] });
  }
  return out;
}

/** Thread track uuid for a source tid of a process, writing its descriptor when new. */
function threadTrack(ctx: Ctx, ps: ProcState, tid: string | null, name: string | null): number {
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
async function threadStreams(engine: Engine, ctx: Ctx, ps: ProcState): Promise<[string, number, string][]> {
  const rows = await engine.rows<{ stream_id: string; tid: string | null; name: string | null }>(
    `SELECT stream_id, json_extract_string(properties, '$."thread-id"') AS tid,
            json_extract_string(properties, '$."thread-name"') AS name
     FROM main.streams WHERE process_id = $p AND list_contains(tags, 'cpu') ORDER BY stream_id`,
    { p: ps.p.processId },
  );
  return rows.map((r) => [r.stream_id, threadTrack(ctx, ps, r.tid, r.name), r.name ?? r.tid ?? r.stream_id]);
}

/** A flow v1 event (`s`/`t`/`f`) of one stream: time (ns), binds to the next slice, id, phase. */
interface FlowV1 {
  stream_id: string;
  t: bigint;
  next: boolean;
  fid: bigint;
  ph: string;
}

/**
 * A flow v2 begin event (B/X with `bind_id`) of one stream: time (ns), `k` = the key its span
 * is found by (hash of name, category, phase and X duration, shifted into BIGINT), the flow
 * ids it starts or continues (`ids`) and ends (`term`).
 */
interface FlowV2 {
  stream_id: string;
  t: bigint;
  k: bigint;
  ids: bigint[];
  term: bigint[];
}

const U64_MAX = (1n << 64n) - 1n;

/**
 * A flow v2 id as a 64-bit flow id: a decimal or `0x` hex integer below 2^64 (Perfetto's
 * flow_ids as the importer stores them, Chrome's numeric `bind_id`) is itself, so ids survive
 * Perfetto → lake → Perfetto; any other text is `hashed` (DuckDB's hash of the text).
 */
function flowIdV2(text: string, hashed: bigint): bigint {
  if (/^(?:[0-9]{1,20}|0[xX][0-9a-fA-F]{1,16})$/.test(text)) {
    const v = BigInt(text);
    if (v <= U64_MAX) return v;
  }
  return hashed;
}

/** Texts of a JSON array of ids (`args.flow_ids` written by the Perfetto importer), or null. */
function idTexts(json: string | null): string[] | null {
  if (json === null) return null;
  try {
    const a: unknown = JSON.parse(json);
    if (!Array.isArray(a)) return null;
    return a.map((x) => String(x));
  } catch {
    return null;
  }
}

/**
 * Flow v2 events in the raw blocks `list` (SQL list of paths): events of the phases `phases`
 * (SQL list) with `bind_id` and `flow_out`/`flow_in` (Chrome JSON; Perfetto TrackEvent
 * flow_ids/terminating_flow_ids as the importer stores them), kept by `where` (SQL AND-clauses)
 * and sorted by `order` (SQL, after stream_id when `perStream`). As trace_processor
 * (reference/perfetto.md §5 "flow v2": out = begin, in = end, both = step), `flow_out` ids go
 * into flow_ids (a flow starts or continues there) and `flow_in`-only ids into
 * terminating_flow_ids. Several ids (Perfetto import): `args.flow_ids` and
 * `args.terminating_flow_ids`, when they start with `bind_id`.
 */
async function loadFlowsV2(
  engine: Engine,
  list: string,
  phases: string,
  where: string,
  order: string,
): Promise<FlowV2[]> {
  const rows = await engine.rows<{
    stream_id: string;
    t: bigint;
    k: bigint;
    bind_id: string;
    hid: bigint;
    fin: boolean;
    fout: boolean;
    many_out: string | null;
    many_in: string | null;
  }>(
    `SELECT split_part(filename, '/', -2) AS stream_id, epoch_ns(time) AS t, ${spanKey("name", "cat", "ph", "dur")} AS k,
            bind_id, hash(bind_id) AS hid, coalesce(flow_in, false) AS fin, coalesce(flow_out, false) AS fout,
            CASE WHEN contains(args::VARCHAR, '"flow_ids"') THEN json_extract(args, '$.flow_ids')::VARCHAR END AS many_out,
            CASE WHEN contains(args::VARCHAR, '"terminating_flow_ids"') THEN json_extract(args, '$.terminating_flow_ids')::VARCHAR END AS many_in
     FROM read_parquet([${list}], filename = true)
     WHERE bind_id IS NOT NULL AND ph IN (${phases}) AND (flow_in OR flow_out) ${where}
     ORDER BY ${order}`,
  );
  const out: FlowV2[] = [];
  for (const r of rows) {
    const id = flowIdV2(r.bind_id, r.hid);
    let ids: bigint[] = [];
    let term: bigint[] = [];
    const manyOut = idTexts(r.many_out);
    const manyIn = idTexts(r.many_in);
    if ((manyOut !== null || manyIn !== null) && (manyOut ?? manyIn ?? [])[0] === r.bind_id) {
      // The importer writes these as decimal texts; the first is bind_id, whose hash we have.
      const conv = (x: string): bigint => flowIdV2(x, r.hid);
      ids = (manyOut ?? []).map(conv);
      term = (manyIn ?? []).map(conv);
    } else if (r.fout) ids = [id];
    else term = [id];
    out.push({ stream_id: r.stream_id, t: r.t, k: r.k, ids, term });
  }
  return out;
}

/**
 * The key a thread span is matched to its flow v2 begin event by: hash of name, category,
 * phase and (X) duration, as BIGINT. Arguments are column expressions (raw: name, cat, ph,
 * dur; thread_spans: name, target, phase, duration).
 */
function spanKey(name: string, cat: string, ph: string, dur: string): string {
  return `(hash(${name}, ${cat}, ${ph}, CASE WHEN ${ph} = 'X' THEN coalesce(${dur}, 0) END) >> 1)::BIGINT`;
}

/** Row ranges [from, to) of each stream_id in rows sorted by stream_id. */
function streamRanges(rows: readonly { stream_id: string }[]): Map<string, [number, number]> {
  const m = new Map<string, [number, number]>();
  for (let a = 0; a < rows.length; ) {
    const s = (rows[a] as { stream_id: string }).stream_id;
    let z = a;
    while (z < rows.length && (rows[z] as { stream_id: string }).stream_id === s) z++;
    m.set(s, [a, z]);
    a = z;
  }
  return m;
}

/**
 * Flow points of a process bound to its thread spans, as trace_processor binds them
 * (reference/perfetto.md §5). Flow v1 (Chrome's `s`/`t`/`f`): `s` and `t` bind to the enclosing
 * slice on their thread (the innermost span with begin ≤ t ≤ end), `f` to the enclosing slice
 * with `bp: "e"`, else to the next slice that begins on the thread at or after it; the flow id
 * is a 64-bit hash of (id, cat, name), Chrome's flow key. Flow v2 (`bind_id` with
 * `flow_out`/`flow_in` on a B or X event, see `loadFlowsV2`): on the span that event begins,
 * found by its thread, begin time, name, category, phase and X duration (spans alike in all of
 * these are taken in the order thread_spans takes their events). One linear pass over the spans
 * of the threads that have flow events (in the partition's begin order), with a stack of open
 * spans; memory: one entry per flow event of the process (not per span).
 */
async function loadFlows(
  engine: Engine,
  ctx: Ctx,
  ps: ProcState,
  o: PerfettoExportOptions,
): Promise<Map<number, { ids: bigint[]; term: bigint[] }>> {
  const map = new Map<number, { ids: bigint[]; term: bigint[] }>();
  const files = await engine.rows<{ f: string }>(
    `SELECT b.file_path AS f FROM main.blocks b JOIN main.streams s USING (stream_id)
     WHERE b.process_id = $p AND list_contains(s.tags, 'cpu')`,
    { p: ps.p.processId },
  );
  if (files.length === 0) return map;
  const list = files.map((r) => sqlString(join(o.lakeRoot, r.f))).join(", ");
  const flows = await engine.rows<FlowV1>(
    `SELECT split_part(filename, '/', -2) AS stream_id, epoch_ns(time) AS t,
            (ph = 'f' AND coalesce(bp, '') <> 'e') AS next, hash(id, cat, name) AS fid, ph
     FROM read_parquet([${list}], filename = true) WHERE ph IN ('s', 't', 'f')
     ORDER BY stream_id, time`,
  );
  // Ordered as thread_spans takes a thread's events.
  const flowsV2 = await loadFlowsV2(
    engine,
    list,
    "'B', 'X'",
    o.endNs !== null ? `AND epoch_ns(time) <= ${o.endNs}` : "",
    "stream_id, time, (ph = 'X'), CASE WHEN ph = 'X' THEN -dur END, filename, seq",
  );
  const entry = (span: number): { ids: bigint[]; term: bigint[] } => {
    let e = map.get(span);
    if (!e) {
      e = { ids: [], term: [] };
      map.set(span, e);
    }
    return e;
  };
  const bind = (span: number, f: FlowV1): void => {
    const e = entry(span);
    (f.ph === "f" ? e.term : e.ids).push(f.fid);
  };
  const bindV2 = (span: number, g: FlowV2): void => {
    const e = entry(span);
    for (const x of g.ids) e.ids.push(x);
    for (const x of g.term) e.term.push(x);
  };
  // With a time window, v2 events of spans outside it have no span here: not "unbound".
  const windowed = o.beginNs !== null || o.endNs !== null;
  const r1 = streamRanges(flows);
  const r2 = streamRanges(flowsV2);
  const streams = [...new Set([...r1.keys(), ...r2.keys()])].sort();
  for (const stream of streams) {
    // This stream's flows (by time) against its spans (by begin).
    const [a1, z1] = r1.get(stream) ?? [0, 0];
    const fs = flows.slice(a1, z1);
    const [a2, z2] = r2.get(stream) ?? [0, 0];
    const gs = flowsV2.slice(a2, z2);
    const used = new Uint8Array(gs.length);
    let j = 0;
    let g = 0;
    const stackEnd: bigint[] = [];
    const stackId: number[] = [];
    const enclose = (t: bigint): number => {
      while (stackEnd.length > 0 && (stackEnd[stackEnd.length - 1] as bigint) < t) {
        stackEnd.pop();
        stackId.pop();
      }
      return stackId.length > 0 ? (stackId[stackId.length - 1] as number) : -1;
    };
    const pendingNext: FlowV1[] = [];
    const cur = await ChunkCursor.open(
      engine,
      `SELECT epoch_ns("begin") AS b, epoch_ns("end") AS e, id,
         ${gs.length > 0 ? spanKey("name", "target", "phase", "duration") : "0::BIGINT"} AS k
       FROM ${vi("thread_spans", ps.p)}
       WHERE stream_id = $s ${windowSql(o, '"begin"', '"end"')}`,
      { s: stream },
    );
    try {
      while (await cur.next()) {
        const bA = cur.num<BigInt64Array>(0);
        const eA = cur.num<BigInt64Array>(1);
        const idA = cur.num<BigInt64Array>(2);
        const kA = cur.num<BigInt64Array>(3);
        for (let i = 0; i < cur.rowCount; i++) {
          const b = bA[i] as bigint;
          const id = Number(idA[i]);
          // Flow events before this span's begin: enclosing ones bind to the open stack.
          while (j < fs.length && (fs[j] as FlowV1).t < b) {
            const f = fs[j++] as FlowV1;
            if (f.next) pendingNext.push(f);
            else {
              const s = enclose(f.t);
              if (s >= 0) bind(s, f);
              else ctx.stats.flowsUnbound++;
            }
          }
          // "Next slice" flows at or before this begin bind to this span.
          while (j < fs.length && (fs[j] as FlowV1).t === b && (fs[j] as FlowV1).next) {
            pendingNext.push(fs[j++] as FlowV1);
          }
          for (const f of pendingNext) bind(id, f);
          pendingNext.length = 0;
          // Flow v2: this span's own begin event, among those at its begin time.
          if (g < gs.length) {
            for (; g < gs.length && (gs[g] as FlowV2).t < b; g++) {
              if (used[g] === 0 && !windowed) ctx.stats.flowsUnbound++;
            }
            const k = kA[i] as bigint;
            for (let q = g; q < gs.length && (gs[q] as FlowV2).t === b; q++) {
              if (used[q] === 0 && (gs[q] as FlowV2).k === k) {
                used[q] = 1;
                bindV2(id, gs[q] as FlowV2);
                break;
              }
            }
          }
          enclose(b);
          stackEnd.push(eA[i] as bigint);
          stackId.push(id);
        }
      }
    } finally {
      cur.close();
    }
    for (; j < fs.length; j++) {
      const f = fs[j] as FlowV1;
      if (f.next) ctx.stats.flowsUnbound++;
      else {
        const s = enclose(f.t);
        if (s >= 0) bind(s, f);
        else ctx.stats.flowsUnbound++;
      }
    }
    ctx.stats.flowsUnbound += pendingNext.length;
    for (; g < gs.length; g++) if (used[g] === 0 && !windowed) ctx.stats.flowsUnbound++;
  }
  return map;
}

/**
 * Flow v2 events of a process's log entries (instants `i`/`I`/`R` and log records `L` with
 * `bind_id`, e.g. Perfetto INSTANT events with flow ids), in time order, for `logSource`: on
 * the INSTANT their entry becomes (trace_processor makes a thread instant a 0-duration slice
 * and binds its flows to it). Memory: one entry per such event.
 */
async function loadLogFlows(engine: Engine, ps: ProcState, o: PerfettoExportOptions): Promise<FlowV2[]> {
  const files = await engine.rows<{ f: string }>(
    `SELECT b.file_path AS f FROM main.blocks b JOIN main.streams s USING (stream_id)
     WHERE b.process_id = $p AND list_contains(s.tags, 'log')`,
    { p: ps.p.processId },
  );
  if (files.length === 0) return [];
  const list = files.map((r) => sqlString(join(o.lakeRoot, r.f))).join(", ");
  let where = "";
  if (o.beginNs !== null) where += ` AND epoch_ns(time) >= ${o.beginNs}`;
  if (o.endNs !== null) where += ` AND epoch_ns(time) <= ${o.endNs}`;
  return loadFlowsV2(engine, list, "'i', 'I', 'R', 'L'", where, "time, filename, seq");
}

/** AND-clauses keeping rows of [begin, end] overlapping the window. */
function windowSql(o: PerfettoExportOptions, beginCol: string, endCol: string): string {
  let s = "";
  if (o.beginNs !== null) s += ` AND epoch_ns(${endCol}) >= ${o.beginNs}`;
  if (o.endNs !== null) s += ` AND epoch_ns(${beginCol}) <= ${o.endNs}`;
  return s;
}

/** Thread spans of one stream, in begin order, on the thread track and its overlap lanes. */
async function threadSpanSource(
  engine: Engine,
  ctx: Ctx,
  ps: ProcState,
  streamId: string,
  threadUuid: number,
  label: string,
  base: bigint,
  o: PerfettoExportOptions,
): Promise<Source> {
  // Rows in the partition's order (stream_id, begin, depth): DuckDB keeps a scan's order
  // (preserve_insertion_order, on by default), so no sort runs here; checked below.
  const cur = await ChunkCursor.open(
    engine,
    `SELECT ${rel('"begin"', base)} AS b, ${rel('"end"', base)} AS e, ${key53("name")} AS nk, ${key53("target")} AS ck,
       (coalesce(anomaly, '') = 'overlap')::TINYINT AS ov, id::DOUBLE AS id, name, target, ${argsCol("properties", ctx.args)} AS args
     FROM ${vi("thread_spans", ps.p)} WHERE stream_id = $s ${windowSql(o, '"begin"', '"end"')}`,
    { s: streamId },
  );
  const tw = ctx.tw;
  const stats = ctx.stats;
  const flows = ps.flows;
  const hasFlows = flows.size > 0;
  // Lanes: 0 = the thread track; 1.. = overlap child tracks. Each lane is a stack of end times.
  const laneUuid: number[] = [threadUuid];
  const laneStack: number[][] = [[]];
  let i = 0;
  let bA: Float64Array = new Float64Array(0);
  let eA = bA;
  let nkA = bA;
  let ckA = bA;
  let idA = bA;
  let ovA: Int8Array = new Int8Array(0);
  let last = Number.NEGATIVE_INFINITY;
  const fits = (lane: number, b: number, e: number): boolean => {
    const st = laneStack[lane] as number[];
    while (st.length > 0 && (st[st.length - 1] as number) <= b) st.pop();
    if (st.length >= MAX_DEPTH) return false;
    return st.length === 0 || (st[st.length - 1] as number) >= e;
  };
  const src: Source = {
    t: Number.POSITIVE_INFINITY,
    step(): boolean {
      const b = bA[i] as number;
      const e = eA[i] as number;
      let lane = -1;
      const overlap = ovA[i] === 1;
      if (!overlap && fits(0, b, e)) lane = 0;
      else {
        for (let k = 1; k < laneUuid.length; k++) {
          if (fits(k, b, e)) {
            lane = k;
            break;
          }
        }
        if (lane < 0) {
          lane = laneUuid.length;
          const u = ctx.uuid();
          tw.childTrack(b, u, threadUuid, `${label} (overlapping)`);
          laneUuid.push(u);
          laneStack.push([]);
        }
        stats.overlapSlices++;
      }
      (laneStack[lane] as number[]).push(e);
      const track = laneUuid[lane] as number;
      const row = i;
      const nameIid = ctx.name(nkA[row] as number, cur, 6, row);
      const catIid = ctx.category(ckA[row] as number, cur, 7, row);
      const args = ctx.args && cur.textBytes(8, row) ? ctx.ref(cur) : null;
      let fl: { ids: bigint[]; term: bigint[] } | undefined;
      if (hasFlows) {
        fl = flows.get(idA[row] as number);
        if (fl) stats.flowPoints += fl.ids.length + fl.term.length;
      }
      tw.slice(
        SLICE_BEGIN,
        b,
        track,
        nameIid,
        catIid,
        args,
        fl && fl.ids.length > 0 ? fl.ids : null,
        fl && fl.term.length > 0 ? fl.term : null,
      );
      ctx.ends.push(e, track);
      stats.threadSlices++;
      i++;
      if (i < cur.rowCount) {
        const nb = bA[i] as number;
        if (nb < b) throw outOfOrder("thread_spans", ps, nb, b);
        src.t = nb;
        return true;
      }
      last = b;
      return false;
    },
    async refill(): Promise<void> {
      i = 0;
      if (!(await cur.next())) {
        src.t = Number.POSITIVE_INFINITY;
        return;
      }
      bA = cur.num<Float64Array>(0);
      eA = cur.num<Float64Array>(1);
      nkA = cur.num<Float64Array>(2);
      ckA = cur.num<Float64Array>(3);
      ovA = cur.num<Int8Array>(4);
      idA = cur.num<Float64Array>(5);
      const t = bA[0] as number;
      if (t < last) throw outOfOrder("thread_spans", ps, t, last);
      src.t = t;
    },
    close: () => cur.close(),
  };
  return src;
}

function outOfOrder(view: string, ps: ProcState, t: number, prev: number): Error {
  return new Error(
    `${view} of process ${ps.p.processId} is not in time order (${t} ns after ${prev} ns from the export's base); run 'tracelake materialize --process ${ps.p.processId}' and retry`,
  );
}

const EV_BEGIN = 0;
const EV_END = 1;
const EV_INSTANT = 2;
const EV_STEP = 3;

/** Async events of a process in time order; each open span on its own pooled child track. */
async function asyncSource(
  engine: Engine,
  ctx: Ctx,
  ps: ProcState,
  base: bigint,
  o: PerfettoExportOptions,
): Promise<Source> {
  const v = vi("async_events", ps.p);
  let where = "";
  if (o.beginNs !== null || o.endNs !== null) {
    // Spans overlapping the window (an unclosed span runs to the end of the trace).
    where = `WHERE span_id IN (SELECT span_id FROM ${v} GROUP BY span_id HAVING true
      ${o.endNs !== null ? `AND min(epoch_ns(time)) <= ${o.endNs}` : ""}
      ${o.beginNs !== null ? `AND (max(epoch_ns(time)) >= ${o.beginNs} OR bool_or(anomaly = 'unclosed'))` : ""})`;
  }
  const cur = await ChunkCursor.open(
    engine,
    `SELECT ${rel("time", base)} AS t,
       (CASE event_type WHEN 'begin' THEN ${EV_BEGIN} WHEN 'end' THEN ${EV_END} WHEN 'instant' THEN ${EV_INSTANT} ELSE ${EV_STEP} END)::TINYINT AS k,
       span_id::DOUBLE AS span, parent_span_id::DOUBLE AS parent, ${key53("name")} AS nk, ${key53("target")} AS ck,
       (coalesce(anomaly, '') = 'unclosed')::TINYINT AS unclosed, name, target, ${argsCol("properties", ctx.args)} AS args
     FROM ${v} ${where}`,
  );
  const tw = ctx.tw;
  const stats = ctx.stats;
  /** Free lanes by group (span name key). */
  const free = new Map<number, number[]>();
  const laneGroup = new Map<number, number>();
  const open = new Map<number, number>();
  const lane = (nk: number, row: number, t: number): number => {
    let pool = free.get(nk);
    if (!pool) {
      pool = [];
      free.set(nk, pool);
    }
    const u = pool.pop();
    if (u !== undefined) return u;
    const n = ctx.uuid();
    tw.childTrack(t, n, ps.uuid, cur.text(7, row) ?? "async");
    laneGroup.set(n, nk);
    return n;
  };
  const release = (u: number): void => {
    (free.get(laneGroup.get(u) as number) as number[]).push(u);
  };
  let i = 0;
  let tA: Float64Array = new Float64Array(0);
  let spanA = tA;
  let parentA = tA;
  let nkA = tA;
  let ckA = tA;
  let kA: Int8Array = new Int8Array(0);
  let unA = kA;
  let last = Number.NEGATIVE_INFINITY;
  const src: Source = {
    t: Number.POSITIVE_INFINITY,
    step(): boolean {
      const row = i;
      const t = tA[row] as number;
      const k = kA[row] as number;
      const span = spanA[row] as number;
      const nk = nkA[row] as number;
      if (k === EV_END) {
        const u = open.get(span);
        if (u === undefined) stats.asyncSkipped++;
        else {
          tw.sliceEnd(t, u);
          open.delete(span);
          release(u);
        }
      } else {
        const nameIid = ctx.name(nk, cur, 7, row);
        const catIid = ctx.category(ckA[row] as number, cur, 8, row);
        const args = ctx.args && cur.textBytes(9, row) ? ctx.ref(cur) : null;
        if (k === EV_BEGIN) {
          const u = lane(nk, row, t);
          tw.slice(SLICE_BEGIN, t, u, nameIid, catIid, args, null, null);
          stats.asyncSlices++;
          if (unA[row] === 1) stats.asyncUnclosed++;
          open.set(span, u);
        } else {
          // Instant: on its parent span's track; step: on its span's track; else a free lane.
          const owner = open.get(k === EV_INSTANT ? (parentA[row] as number) : span);
          let u = owner;
          if (u === undefined) {
            u = lane(nk, row, t);
            release(u);
          }
          tw.slice(INSTANT, t, u, nameIid, catIid, args, null, null);
          stats.asyncInstants++;
        }
      }
      i++;
      if (i < cur.rowCount) {
        const nt = tA[i] as number;
        if (nt < t) throw outOfOrder("async_events", ps, nt, t);
        src.t = nt;
        return true;
      }
      last = t;
      return false;
    },
    async refill(): Promise<void> {
      i = 0;
      if (!(await cur.next())) {
        src.t = Number.POSITIVE_INFINITY;
        return;
      }
      tA = cur.num<Float64Array>(0);
      kA = cur.num<Int8Array>(1);
      spanA = cur.num<Float64Array>(2);
      parentA = cur.num<Float64Array>(3);
      nkA = cur.num<Float64Array>(4);
      ckA = cur.num<Float64Array>(5);
      unA = cur.num<Int8Array>(6);
      const t = tA[0] as number;
      if (t < last) throw outOfOrder("async_events", ps, t, last);
      src.t = t;
    },
    close: () => cur.close(),
  };
  return src;
}

/** A simple time-ordered source over a query (t first column), calling `row(i)` per row. */
async function simpleSource(
  engine: Engine,
  sql: string,
  row: (cur: ChunkCursor, i: number, t: number) => void,
): Promise<Source> {
  const cur = await ChunkCursor.open(engine, sql);
  let i = 0;
  let tA: Float64Array = new Float64Array(0);
  const src: Source = {
    t: Number.POSITIVE_INFINITY,
    step(): boolean {
      row(cur, i, tA[i] as number);
      i++;
      if (i < cur.rowCount) {
        src.t = tA[i] as number;
        return true;
      }
      return false;
    },
    async refill(): Promise<void> {
      i = 0;
      if (!(await cur.next())) {
        src.t = Number.POSITIVE_INFINITY;
        return;
      }
      tA = cur.num<Float64Array>(0);
      src.t = tA[0] as number;
    },
    close: () => cur.close(),
  };
  return src;
}

/** Measures: one counter track per name under the process. */
async function counterSource(
  engine: Engine,
  ctx: Ctx,
  ps: ProcState,
  base: bigint,
  o: PerfettoExportOptions,
): Promise<Source> {
  const tracks = new Map<string, number>();
  return simpleSource(
    engine,
    `SELECT ${rel("time", base)} AS t, value, name, unit FROM ${vi("measures", ps.p)}
     WHERE true ${windowSql(o, "time", "time")} ORDER BY time`,
    (cur, i, t) => {
      const name = cur.text(2, i) ?? "";
      let u = tracks.get(name);
      if (u === undefined) {
        u = ctx.uuid();
        ctx.tw.counterTrack(t, u, ps.uuid, name || "counter", cur.text(3, i));
        tracks.set(name, u);
      }
      ctx.tw.counter(t, u, (cur.num<Float64Array>(1)[i] as number) ?? 0);
      ctx.stats.counters++;
    },
  );
}

/** micromegas levels (1 fatal … 6 trace) → LogMessage.Priority. */
const PRIO: Record<number, LogPriority> = { 1: 7, 2: 6, 3: 5, 4: 4, 5: 3, 6: 2 };

/** Log entries: INSTANT + LogMessage on their thread's track (a thread track is made if needed). */
async function logSource(
  engine: Engine,
  ctx: Ctx,
  ps: ProcState,
  base: bigint,
  o: PerfettoExportOptions,
): Promise<Source> {
  // Flow v2 events of the entries, matched in the one time-ordered pass: an entry takes the
  // first unused event at its time with its key (name, category, phase).
  const lf = ps.logFlows;
  const lfT = Float64Array.from(lf, (f) => Number(f.t - base));
  const used = new Uint8Array(lf.length);
  let g = 0;
  const flowsAt = (t: number, k: bigint): FlowV2 | null => {
    for (; g < lf.length && (lfT[g] as number) < t; g++) if (used[g] === 0) ctx.stats.flowsUnbound++;
    for (let q = g; q < lf.length && lfT[q] === t; q++) {
      if (used[q] === 0 && (lf[q] as FlowV2).k === k) {
        used[q] = 1;
        return lf[q] as FlowV2;
      }
    }
    return null;
  };
  const src = await simpleSource(
    engine,
    `SELECT ${rel("time", base)} AS t, coalesce(level, 4)::INTEGER AS level, ${key53("msg")} AS nk, ${key53("target")} AS ck,
       tid, msg, target, ${argsCol("properties", ctx.args)} AS args,
       ${lf.length > 0 ? spanKey("msg", "target", "phase", "NULL::BIGINT") : "0::BIGINT"} AS k
     FROM ${vi("log_entries", ps.p)} WHERE true ${windowSql(o, "time", "time")} ORDER BY time`,
    (cur, i, t) => {
      const tid = cur.text(4, i);
      const track = threadTrack(ctx, ps, tid, null);
      const msg = cur.text(5, i) ?? "";
      const nameIid = ctx.name(cur.num<Float64Array>(2)[i] as number, cur, 5, i);
      const catIid = ctx.category(cur.num<Float64Array>(3)[i] as number, cur, 6, i);
      const prio = PRIO[cur.num<Int32Array>(1)[i] as number] ?? 4;
      const f = g < lf.length ? flowsAt(t, cur.num<BigInt64Array>(8)[i] as bigint) : null;
      if (f) ctx.stats.flowPoints += f.ids.length + f.term.length;
      ctx.tw.log(
        t,
        track,
        nameIid,
        catIid,
        msg,
        prio,
        ctx.args && cur.textBytes(7, i) ? ctx.ref(cur) : null,
        f && f.ids.length > 0 ? f.ids : null,
        f && f.term.length > 0 ? f.term : null,
      );
      ctx.stats.logs++;
    },
  );
  const close = src.close;
  src.close = () => {
    for (; g < lf.length; g++) if (used[g] === 0) ctx.stats.flowsUnbound++;
    close();
  };
  return src;
}

/**
 * A SQL text that references every view instance an export reads, for `prepareQuery` to
 * materialize and define (plus the catalog views the exporter reads: processes, streams,
 * blocks). The instance key of each process is its process_id.
 */
export function perfettoPrepareSql(
  processIds: string[],
  o: Pick<PerfettoExportOptions, "spans" | "logs" | "counters" | "flows">,
): string {
  const parts = ["SELECT 1 FROM processes, streams, blocks"];
  for (const id of processIds) {
    for (const v of viewSetsFor(o)) parts.push(`SELECT 1 FROM view_instance(${sqlString(v)}, ${sqlString(id)})`);
  }
  return parts.join(" UNION ALL ");
}
