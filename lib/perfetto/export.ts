/**
 * The streaming Perfetto exporter (DESIGN.md "Perfetto export"): reads the thread spans, async
 * events, measures and log entries of one or more processes from their JIT view instances
 * through DuckDB streaming results, merges them in time order and yields framed TracePackets in
 * chunks of about `chunkBytes`. Memory is bounded by the chunk size, one DuckDB chunk per open
 * cursor, the open spans (stack depth, concurrent async spans), the interning tables (capped,
 * lib/perfetto/packets.ts) and the flow ends of the exported processes (see `loadFlows`); not
 * by the number of spans.
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
 * - flows, the edges of the `flows` view (lib/views/flows.ts, bound as trace_processor binds
 *   them), as flow_ids / terminating_flow_ids on the slices and instants they join; a Chrome
 *   JSON flow into several slices gets one extra flow id per further edge (see `loadFlows`).
 * Events are written in time order; at equal timestamps SLICE_ENDs come first.
 *
 * This file's job: the streaming writer loop (merging the row sources by time into framed
 * TracePacket chunks) and the exporter's public surface. Its parts: export_state.ts (types,
 * per-export state, interning lookups), export_sql.ts (the SQL that prepares and reads the views),
 * export_tracks.ts (process/thread tracks), export_spans.ts (thread and async spans),
 * export_events.ts (counters, logs), export_flows.ts (flows).
 */
import type { Engine } from "../duck/engine.ts";
import { counterSource, logSource } from "./export_events.ts";
import { loadFlows, startFlows } from "./export_flows.ts";
import { asyncSource, threadSpansSource } from "./export_spans.ts";
import { baseTime, viewSetsFor } from "./export_sql.ts";
import { Ctx, emptyStats, type PerfettoExportOptions, type PerfettoExportStats, type Source } from "./export_state.ts";
import { describeProcesses, streamRows, threadStreams } from "./export_tracks.ts";
import { dfgOnlyExporter } from "./tiers.ts";

export { perfettoPrepareSql, viewSetsFor } from "./export_sql.ts";
export {
  type ExportProcess,
  emptyStats,
  type PerfettoExportOptions,
  type PerfettoExportStats,
  type SpanTypes,
} from "./export_state.ts";
export { EXPORT_PERFETTO_OPTIONS } from "./options.ts";

/**
 * Default chunk size in bytes: each chunk is a copy handed to the writer, so fewer, larger
 * chunks cost less (64 KiB -> 1 MiB: export --all of the 33.5 MB protobuf trace 2.48 -> 2.36 s,
 * compiled, median of 5; peak RSS unchanged).
 */
const CHUNK_DEFAULT = 1024 * 1024;

/**
 * Bytes of trace written between two full garbage collections. Every DuckDB chunk read leaves
 * its vectors' copies (ArrayBuffers) behind, and the collector let ~80-100 MB of them pile up.
 * `export --all`, compiled, peak RSS (3 runs each): a real 208 MB Chromium JSON trace (1.47M
 * packets, 84 MB) 355-365 MB without, 290-307 MB every 8 MiB, 276-295 MB every 4 MiB; the
 * 56 MB protobuf one (1.5M packets, 50 MB) 287-303 MB every 8 MiB, 264-287 MB every 4 MiB;
 * wall time the same within 0.03 s.
 */
const COLLECT_EVERY_BYTES = 4 * 1024 * 1024;

/** What perfettoChunks' `merge` stopped at: the chunk is full, the top source needs a refill, every source ended. */
const MERGE_FULL = 0;
const MERGE_REFILL = 1;
const MERGE_DONE = 2;

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
  dfgOnlyExporter(perfettoChunks);
  const ctx = new Ctx(stats, options.args ?? true);
  const tw = ctx.tw;
  const chunkBytes = options.chunkBytes ?? CHUNK_DEFAULT;
  const reuse = options.reuseChunks ?? false;
  let collected = 0;
  const views = viewSetsFor(options);
  // The flows' query sorts every edge of the exported processes before its first row: it runs
  // (on every DuckDB thread) while the base time is read and the processes are described.
  const flows = options.flows ? await startFlows(engine, options) : null;
  const sources: Source[] = [];
  let threads: string | undefined;
  try {
    const base = await baseTime(engine, options, views);
    tw.setBase(base);
    // One DuckDB thread while exporting: a parallel scan feeding an order-preserving streaming
    // result reads row groups ahead and buffers them, in each of the per-thread queries at once
    // (bench/perfetto, peak RSS growth from 1M to 10M spans: 103 MB with 2 threads, 60 MB with
    // 1, and no slower, since the JS encoder is the bottleneck). Restored afterwards. The CLI's
    // export opens its engine with one thread (EngineOptions.threads): nothing to change then.
    const setting = (await engine.rows<{ t: string }>("SELECT current_setting('threads')::VARCHAR AS t"))[0]?.t;
    if (setting !== "1") {
      await engine.run("SET threads = 1");
      threads = setting;
    }
    // Descriptors of processes and threads first, then the row sources.
    const procs = await describeProcesses(engine, ctx, options);
    if (flows) await loadFlows(flows, ctx, procs);
    const streams = options.spans !== "async" ? await streamRows(engine, procs) : null;
    for (const ps of procs) {
      if (streams !== null) {
        const threads = threadStreams(ctx, ps, streams.get(ps.p.processId) ?? []);
        if (threads.length > 0) sources.push(await threadSpansSource(engine, ctx, ps, threads, base, options));
      }
      if (options.spans !== "thread") sources.push(await asyncSource(engine, ctx, ps, base, options));
      if (options.counters) sources.push(await counterSource(engine, ctx, ps, base, options));
      if (options.logs) sources.push(await logSource(engine, ctx, ps, base, options));
    }
    for (const s of sources) await s.refill();
    // Merge: a binary heap of sources by current time, then rank (Source.rank: a thread slice
    // beginning at t before an instant at t, which then nests in it).
    const heap = sources.filter((s) => s.t !== Number.POSITIVE_INFINITY);
    const less = (a: Source, b: Source) => a.t < b.t || (a.t === b.t && a.rank < b.rank);
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
    /** Puts the top source, after its step or refill, where its new time belongs (or drops it at its end). */
    const settle = (top: Source): void => {
      if (top.t === Number.POSITIVE_INFINITY) {
        top.close();
        const last = heap.pop() as Source;
        if (heap.length > 0 && last !== top) {
          heap[0] = last;
          siftDown(0);
        }
      } else siftDown(0);
    };
    /**
     * Writes rows in time order until the chunk is full (MERGE_FULL), the top source's chunk is
     * used up (MERGE_REFILL: the caller awaits its refill, then settles it), or every source
     * has ended (MERGE_DONE). Synchronous, so that it can be kept out of FTL (tiers.ts): an
     * async generator's body cannot be.
     */
    const merge = (): number => {
      for (;;) {
        const top = heap[0];
        const t = top ? top.t : Number.POSITIVE_INFINITY;
        // ENDs at or before t first (END before BEGIN at equal timestamps).
        while (ends.size > 0 && ends.minTime <= t) {
          tw.sliceEnd(ends.minTime, ends.minTrack);
          ends.pop();
        }
        if (!top) return MERGE_DONE;
        ctx.now = t;
        if (!top.step()) return MERGE_REFILL;
        settle(top);
        if (out.pos >= chunkBytes) return MERGE_FULL;
      }
    };
    // The merge's functions out of FTL too (tiers.ts). Not the sources' step and refill: marked
    // as well, `--all` of the 208 MB trace took 2.77 s against 2.68 (9 alternating runs).
    dfgOnlyExporter(less, siftDown, settle, merge);
    for (;;) {
      const r = merge();
      if (r === MERGE_DONE) break;
      if (r === MERGE_REFILL) {
        const top = heap[0] as Source;
        await top.refill();
        settle(top);
        if (out.pos < chunkBytes) continue;
      }
      stats.packets = tw.packets;
      yield take(ctx, reuse);
      if (stats.bytes - collected >= COLLECT_EVERY_BYTES) {
        collected = stats.bytes;
        Bun.gc(true);
      }
    }
    stats.packets = tw.packets;
    if (out.pos > 0) yield take(ctx, reuse);
  } finally {
    flows?.close();
    for (const s of sources) s.close();
    if (threads) await engine.run(`SET threads = ${Number(threads)}`);
  }
}

/**
 * The chunk written so far, counted in the stats; resets the writer's buffer. A copy, or with
 * `reuse` (PerfettoExportOptions.reuseChunks) a view of the buffer, which the next packets
 * overwrite: a copy per MiB cost 256 fresh pages, ~2.7 ms of page faults on the machine of
 * README's Benchmarks.
 */
function take(ctx: Ctx, reuse: boolean): Uint8Array {
  const out = ctx.tw.out;
  const chunk = reuse ? out.buf.subarray(0, out.pos) : out.buf.slice(0, out.pos);
  out.reset();
  ctx.stats.bytes += chunk.length;
  ctx.stats.chunks++;
  return chunk;
}
