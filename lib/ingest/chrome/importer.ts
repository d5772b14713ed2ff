/**
 * Chrome Trace Event Format importer: turns NDJSON batches from the framer into normalized raw
 * events, routed to streams and written as Parquet blocks.
 *
 * Events are parsed by the WebAssembly fast path (`fast_path.ts`) or in JS (`event_parser.ts`),
 * which take the events whose reading they reproduce exactly; the other events (odd numbers,
 * odd escapes, malformed JSON...) by the slow path (`declined.ts`); all are written by our
 * Parquet writer. tests/ingest/importer_oracle.test.ts checks every path against the original,
 * all-DuckDB importer (its SQL is the test oracle). Phase mapping (DESIGN.md "Ingest", reference/perfetto.md §5):
 * - `X`, `B`/`E` (thread slices), `b`/`e`/`n` and legacy `S`/`T`/`p`/`F` (async), `s`/`t`/`f`
 *   (flow v1) go to the thread's `cpu` stream;
 * - `i`/`I`/`R` (instants and marks) go to the process's `log` stream (level info, target =
 *   category, msg = name, properties = args), keeping the thread id;
 * - `C` (counters) go to the process's `metrics` stream; the measures view makes one measure
 *   per args key;
 * - `M` (metadata) names processes and threads and is kept as process/stream properties;
 * - `P` (V8 CPU profile samples) and every other phase are counted, not imported.
 *
 * Times: `ts`, `dur`, `tts`, `tdur` are microseconds, integer or fractional, numbers or numeric
 * strings; we keep nanoseconds exactly (an integer string is multiplied exactly; a short decimal
 * goes through a double, exact to the nanosecond for values under 10^12 µs; a long decimal is
 * split at the point, truncating below the nanosecond). Event times are stored as TIMESTAMP_NS
 * on the trace's own clock (Chrome's `ts` is a monotonic clock, not wall time).
 *
 * `pid`/`tid` may be numbers or strings (trace_processor uses strings as names); a missing
 * `tid` is the `pid` (as trace_processor does).
 */
import { mkdirSync } from "node:fs";
import { basename, join } from "node:path";
import {
  newProcessInfo,
  type PhaseCount,
  PhaseCounter,
  type ProcessInfo,
  type StagedBlock,
  type ThreadInfo,
} from "../model.ts";
import { type BatchBlock, BatchImporter, D_LOG, D_METRICS, type ParsedBatch } from "./batch_importer.ts";
import { SpeculationError } from "./framer.ts";

/** One batch on its way: its parse (in a worker or inline), then its blocks. */
interface BatchJob {
  parsed: Promise<ParsedBatch>;
  finish(): Promise<BatchBlock[]>;
}

/** Messages to and from `worker.ts`. */
export type WorkerRequest =
  | { t: "init"; blocksDir: string; bufferBytes: number; wasm: boolean }
  | { t: "batch"; bytes: Uint8Array; events: number }
  | { t: "flush" };
/** A worker's answer to the request it got last. */
export type WorkerReply =
  | { t: "ready" }
  /** A batch parsed, and the blocks it finished (the worker finishes a batch right away). */
  | { t: "parsed"; parsed: ParsedBatch; blocks: BatchBlock[] }
  | { t: "blocks"; blocks: BatchBlock[] }
  | { t: "error"; message: string; speculation?: boolean };

/**
 * The module specifier of worker.ts: in the compiled binary the worker is a further
 * entry point (scripts/build.ts), named by the path the build entry sets; otherwise its URL
 * relative to this file, which works from any working directory.
 */
function workerSpecifier(): string {
  const embedded = (globalThis as { __TRACELAKE_INGEST_WORKER?: string }).__TRACELAKE_INGEST_WORKER;
  return embedded ?? new URL("./worker.ts", import.meta.url).href;
}

/** A worker thread running a BatchImporter, one request at a time. */
class ImportWorker {
  /** Callbacks of the requests sent and not answered yet, in order (the worker answers in order). */
  private readonly waiting: { resolve: (r: WorkerReply) => void; reject: (e: Error) => void }[] = [];
  /** True from sending a batch until its parse is back: then it can take the next batch. */
  parsing = false;
  private broken: Error | null = null;

  constructor(private readonly w: Worker) {
    w.onmessage = (e: MessageEvent) => {
      this.waiting.shift()?.resolve(e.data as WorkerReply);
    };
    w.onerror = (e: ErrorEvent) => {
      this.broken = new Error(`ingest worker failed: ${e.message}`);
      for (const cb of this.waiting.splice(0)) cb.reject(this.broken);
    };
  }

  /** Sends a request and waits for its reply. @throws when the worker failed or answered an error. */
  request(m: WorkerRequest, transfer: ArrayBuffer[] = []): Promise<WorkerReply> {
    if (this.broken) return Promise.reject(this.broken);
    return new Promise<WorkerReply>((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.w.postMessage(m, transfer);
    }).then((r) => {
      if (r.t === "error") throw r.speculation ? new SpeculationError(r.message) : new Error(r.message);
      return r;
    });
  }

  terminate(): void {
    this.w.terminate();
  }
}

/**
 * Imports one Chrome JSON source, batch by batch, into staged blocks. Keeps the process and
 * thread maps and the counts across batches. Not reusable across sources.
 *
 * Each batch is parsed and written by a `BatchImporter`, in a worker thread when workers are
 * enabled (the framer keeps the main thread busy) or inline. A worker finishes a batch as soon
 * as it is parsed (writing out the rows that are due), so that a batch whose write-out takes
 * long holds up neither the batches behind it nor the other worker. Batches complete in order: stream ids, counts and metadata are applied here, as each
 * batch completes.
 */
export class ChromeJsonImporter {
  readonly processes = new Map<string, ProcessInfo>();
  readonly blocks: StagedBlock[] = [];
  /**
   * Events taken by a fast path (of which by the WebAssembly one) and by the slow path so far,
   * and worker threads in use (benchmark, tests).
   */
  readonly stats = { fastEvents: 0, wasmEvents: 0, slowEvents: 0, workers: 0 };
  private readonly counts = new PhaseCounter();
  private tail: Promise<void> = Promise.resolve();
  private readonly blocksDir: string;
  /** The importer for batches parsed on this thread (one at most). */
  private readonly inline: BatchImporter[] = [];
  private workerPool: ImportWorker[] = [];
  /** Batches waiting for a worker (with two workers or more), oldest first. */
  private readonly waiting: ((w: ImportWorker) => void)[] = [];
  /** Shared batch buffers not in use, for the next batches. */
  private readonly buffers: SharedArrayBuffer[] = [];

  /**
   * @param stagingDir this ingest's private directory; blocks are staged in `blocks/` below it.
   * @param workers worker threads for parsing and writing (0: all on the calling thread). When
   *   workers cannot be started (e.g. in a build without the worker module), runs inline.
   * @param bufferBytes rows held (bytes of column data) before blocks are written, shared by
   *   the importers (the workers' and this thread's; see BatchImporter).
   * @param batchBytes the framer's batch size (its buffer is that plus 1 MiB): the size of the
   *   shared buffers batches go to workers in.
   * @param wasm whether the importers use the WebAssembly fast path (chrome_fast_path.ts).
   */
  constructor(
    stagingDir: string,
    private readonly workers = 0,
    private readonly bufferBytes = 32 * 1024 * 1024,
    private readonly batchBytes = bufferBytes,
    private readonly wasm = true,
  ) {
    this.blocksDir = join(stagingDir, "blocks");
  }

  /** Creates the staging directory for blocks and starts the workers. */
  async init(): Promise<void> {
    mkdirSync(this.blocksDir, { recursive: true });
    for (let k = 0; k < this.workers; k++) {
      let iw: ImportWorker;
      try {
        iw = new ImportWorker(new Worker(workerSpecifier()));
      } catch {
        break;
      }
      try {
        await iw.request({
          t: "init",
          blocksDir: this.blocksDir,
          bufferBytes: this.importerBytes(),
          wasm: this.wasm,
        });
        this.workerPool.push(iw);
      } catch {
        iw.terminate();
        break;
      }
    }
    this.stats.workers = this.workerPool.length;
  }

  /** How many batches are worth having in flight (one per worker, plus one). */
  get parallelism(): number {
    return this.workerPool.length >= 2 ? 2 * this.workerPool.length : this.workerPool.length + 1;
  }

  /**
   * Imports one NDJSON batch from the framer. `bytes` may be reused once this returns (it is
   * parsed now, copied for a worker, or handed over through `swap`). The batch completes after
   * the previous one, in the returned promise.
   * @param bytes whole lines, each `{"__seq":N,...}\n`.
   * @param events number of lines.
   * @param swap when given, a worker may take `bytes`' whole buffer without a copy: `swap` is
   *   then called with a buffer at least as large for the caller to go on in.
   * @throws (in the promise) when a block cannot be written.
   */
  importBatch(bytes: Uint8Array, events: number, swap?: (next: Uint8Array) => void): Promise<void> {
    // A worker that is not parsing takes the batch; when all are, this thread parses it (so
    // that neither the workers nor this thread wait for the other).
    // With two workers or more, this thread only frames: a batch waits for a worker.
    const w = this.workerPool.find((x) => !x.parsing);
    let job: BatchJob;
    if (w || this.workerPool.length >= 2) {
      // Batches go to workers in SharedArrayBuffers (Bun copies a transferred ArrayBuffer).
      // With `swap`, the caller's buffer itself goes when it is shared, and the caller goes on
      // in one from the pool; the buffer returns to the pool once parsed.
      let batch = bytes;
      if (!(bytes.buffer instanceof SharedArrayBuffer) || bytes.byteOffset !== 0 || !swap) {
        batch = new Uint8Array(this.sharedBuffer(bytes.length), 0, bytes.length);
        batch.set(bytes);
      }
      if (swap) swap(new Uint8Array(this.sharedBuffer(Math.max(bytes.buffer.byteLength, batch.buffer.byteLength))));
      let acquired: Promise<ImportWorker>;
      if (w) {
        w.parsing = true;
        acquired = Promise.resolve(w);
      } else acquired = new Promise<ImportWorker>((resolve) => this.waiting.push(resolve));
      job = this.workerJob(acquired, batch, events);
    } else job = this.inlineJob(bytes, events);
    job.parsed.catch(() => undefined);
    const run = this.tail.then(() => this.complete(job));
    this.tail = run.catch(() => undefined);
    return run;
  }

  /**
   * Resolves when every batch passed to `importBatch` is done and every block is written
   * (call once, at the end of the input).
   */
  async drain(): Promise<void> {
    await this.tail;
    for (const bi of this.inline) this.addBlocks(await bi.flushAll());
    for (const w of this.workerPool) {
      const r = await w.request({ t: "flush" });
      if (r.t !== "blocks") throw new Error(`unexpected worker reply ${r.t}`);
      this.addBlocks(r.blocks);
    }
  }

  /** Stops the workers. */
  close(): void {
    for (const w of this.workerPool) w.terminate();
    this.workerPool = [];
  }

  /** Counts by phase/destination/reason, sorted by count. */
  phaseCounts(): PhaseCount[] {
    return this.counts
      .values()
      .map((c) => ({ ...c }))
      .sort((a, b) => b.count - a.count);
  }

  private inlineJob(bytes: Uint8Array, events: number): BatchJob {
    let bi = this.inline[0];
    if (!bi) {
      bi = new BatchImporter(this.blocksDir, this.importerBytes(), undefined, undefined, this.wasm);
      this.inline.push(bi);
    }
    const importer = bi;
    let parsed: Promise<ParsedBatch>;
    try {
      const p = importer.parseBatch(bytes, events);
      this.registerThreads(p);
      parsed = Promise.resolve(p);
    } catch (e) {
      parsed = Promise.reject(e);
    }
    return {
      parsed,
      finish: async () => importer.finishBatch(),
    };
  }

  /** A shared buffer of at least `size` bytes, from the pool when one is free. */
  private sharedBuffer(size: number): SharedArrayBuffer {
    const i = this.buffers.findIndex((b) => b.byteLength >= size);
    if (i >= 0) return this.buffers.splice(i, 1)[0] as SharedArrayBuffer;
    return new SharedArrayBuffer(Math.max(size, this.batchBytes + 1024 * 1024));
  }

  /** Hands a worker whose parse is done to the next waiting batch, or marks it free. */
  private release(w: ImportWorker): void {
    const next = this.waiting.shift();
    if (next) next(w);
    else w.parsing = false;
  }

  /** A batch parsed and written by the worker `acquired` resolves to (marked as parsing). */
  private workerJob(acquired: Promise<ImportWorker>, bytes: Uint8Array, events: number): BatchJob {
    let finished: BatchBlock[] = [];
    const parsed = acquired.then(async (w) => {
      let r: WorkerReply;
      try {
        r = await w.request({ t: "batch", bytes, events });
      } finally {
        this.release(w);
      }
      if (r.t !== "parsed") throw new Error(`unexpected worker reply ${r.t}`);
      this.buffers.push(bytes.buffer as SharedArrayBuffer);
      // Now, not when the batch completes: blocks the worker writes for an earlier batch may
      // hold rows of this one (a group's rows accumulate across batches).
      this.registerThreads(r.parsed);
      finished = r.blocks;
      return r.parsed;
    });
    return { parsed, finish: async () => finished };
  }

  /** Each importer's share of `bufferBytes` (this thread has none with two workers or more). */
  private importerBytes(): number {
    return Math.floor(this.bufferBytes / (this.workers >= 2 ? this.workers : this.workers + 1));
  }

  private registerThreads(p: ParsedBatch): void {
    for (const [pid, tid] of p.threads) this.registerThread(pid, tid);
  }

  /** Applies a batch: counts, blocks, then metadata in seq order. */
  private async complete(job: BatchJob): Promise<void> {
    const parsed = await job.parsed;
    this.stats.fastEvents += parsed.fastEvents;
    this.stats.wasmEvents += parsed.wasmEvents;
    this.stats.slowEvents += parsed.slowEvents;
    for (const c of parsed.counts) this.counts.add(c.ph, c.dest, c.code ?? null, c.count, c.examples);
    const meta = parsed.meta;
    this.addBlocks(await job.finish());
    meta.sort((a, b) => a.seq - b.seq);
    for (const m of meta) this.applyMetadata(m.pid, m.tid, m.name, m.args);
  }

  /** Records blocks written by a BatchImporter, with their stream ids. */
  private addBlocks(blocks: BatchBlock[]): void {
    for (const b of blocks) {
      const p = this.processes.get(b.pid) as ProcessInfo;
      const streamId =
        b.dest === D_LOG
          ? p.logStreamId
          : b.dest === D_METRICS
            ? p.metricsStreamId
            : (p.threads.get(b.tid) as ThreadInfo).streamId;
      this.blocks.push({
        blockId: basename(b.path, ".parquet"),
        streamId,
        processId: p.processId,
        beginNs: b.beginNs,
        endNs: b.endNs,
        nbObjects: b.rows,
        payloadSize: b.size,
        stagedPath: b.path,
      });
    }
  }

  /** Registers process `pid` and its thread `tid` if new. */
  private registerThread(pid: string, tid: string): void {
    let p = this.processes.get(pid);
    if (!p) {
      p = newProcessInfo(pid);
      this.processes.set(pid, p);
    }
    if (!p.threads.has(tid)) {
      p.threads.set(tid, { streamId: crypto.randomUUID(), tid, name: null, sortIndex: null });
    }
  }

  private applyMetadata(pid: string, tid: string, name: string | null, argsJson: string | null): void {
    const p = this.processes.get(pid);
    if (!p) return;
    let args: Record<string, unknown> = {};
    try {
      const v: unknown = argsJson ? JSON.parse(argsJson) : {};
      if (v && typeof v === "object" && !Array.isArray(v)) args = v as Record<string, unknown>;
    } catch {
      args = {};
    }
    const str = (v: unknown): string | null =>
      v === undefined || v === null ? null : typeof v === "string" ? v : JSON.stringify(v);
    const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);
    switch (name) {
      case "process_name":
        p.name = str(args.name);
        break;
      case "process_labels":
        p.labels = str(args.labels);
        break;
      case "process_sort_index":
        p.sortIndex = num(args.sort_index);
        break;
      case "thread_name": {
        const t = p.threads.get(tid);
        if (t) t.name = str(args.name);
        break;
      }
      case "thread_sort_index": {
        const t = p.threads.get(tid);
        if (t) t.sortIndex = num(args.sort_index);
        break;
      }
      default:
        if (name) p.metadata[name] = args;
    }
  }
}
