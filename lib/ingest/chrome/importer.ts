/**
 * Chrome Trace Event Format importer: turns NDJSON batches from the framer into normalized raw
 * events, routed to streams and written as Parquet blocks.
 *
 * Events are parsed in JS (`event_parser.ts`, which takes the events whose DuckDB reading it
 * reproduces exactly) and written by our Parquet writer (`parquet_writer.ts`); the other events
 * (odd numbers, odd escapes, malformed JSON...) are parsed and normalized by DuckDB
 * (`read_ndjson` and the SQL below, the original implementation) and written with the rest.
 * tests/ingest/importer_oracle.test.ts checks both paths against the original importer. This
 * file holds the mapping, which is ours. Phase mapping (DESIGN.md "Ingest", reference/perfetto.md §5):
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
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import type { Engine } from "../../duck/engine.ts";
import { sqlString } from "../../duck/engine.ts";
import {
  type BatchBlock,
  BatchImporter,
  D_LOG,
  D_METRICS,
  type Destination,
  type FallbackRow,
  KNOWN_PHASE_SET,
  KNOWN_PHASES,
  type MetaEvent,
  type ParsedBatch,
  type PhaseCount,
} from "./batch_importer.ts";
import { SEQ_KEY, SpeculationError } from "./framer.ts";

export type { Destination, PhaseCount } from "./batch_importer.ts";

/** Version of the raw block layout written here; recorded in `blocks.schema_version`. */
export const RAW_BLOCK_SCHEMA_VERSION = 1;

/** A process found in the input. */
export interface ProcessInfo {
  processId: string;
  /** The source `pid` as text (for other formats: the importer's key of the process). */
  pid: string;
  /** The source pid when it is not `pid` (null: the source has none). */
  sourcePid?: string | null;
  /** Importer-specific properties (e.g. OTLP resource attributes), merged into processes.properties. */
  properties?: Record<string, unknown>;
  /** From `M process_name`, else null. */
  name: string | null;
  labels: string | null;
  sortIndex: number | null;
  /** Other `M` events on the process, by name, as parsed JSON args. */
  metadata: Record<string, unknown>;
  /** Stream ids of the process's log and metrics streams. */
  logStreamId: string;
  metricsStreamId: string;
  threads: Map<string, ThreadInfo>;
}

/** A new ProcessInfo for source key `pid`, with new process and stream ids and nothing known yet. */
export function newProcessInfo(pid: string): ProcessInfo {
  return {
    processId: crypto.randomUUID(),
    pid,
    name: null,
    labels: null,
    sortIndex: null,
    metadata: {},
    logStreamId: crypto.randomUUID(),
    metricsStreamId: crypto.randomUUID(),
    threads: new Map(),
  };
}

/** A thread found in the input, with its `cpu` stream. */
export interface ThreadInfo {
  streamId: string;
  /** The source `tid` as text. */
  tid: string;
  name: string | null;
  sortIndex: number | null;
}

/** A block written to the staging directory, awaiting commit. */
export interface StagedBlock {
  blockId: string;
  streamId: string;
  processId: string;
  /** Min event time, ns on the trace clock; null when unknown. */
  beginNs: bigint | null;
  /** Max event end (time + dur), ns. */
  endNs: bigint | null;
  nbObjects: number;
  payloadSize: number;
  /** Absolute path of the staged file. */
  stagedPath: string;
}

/** Phases that we import, as a SQL list. */
const phaseList = KNOWN_PHASES.map((p) => `'${p}'`).join(",");

/** read_ndjson column spec: every scalar as VARCHAR (we convert), nested values as JSON text. */
const COLUMNS = `{${SEQ_KEY}: 'BIGINT', ph: 'VARCHAR', name: 'VARCHAR', cat: 'VARCHAR', ts: 'VARCHAR', dur: 'VARCHAR', tts: 'VARCHAR', tdur: 'VARCHAR', pid: 'VARCHAR', tid: 'VARCHAR', id: 'VARCHAR', id2: 'JSON', scope: 'VARCHAR', s: 'VARCHAR', bp: 'VARCHAR', bind_id: 'VARCHAR', flow_in: 'VARCHAR', flow_out: 'VARCHAR', args: 'JSON'}`;

/**
 * Microseconds as text → nanoseconds as BIGINT, NULL when not a number or out of range.
 * See the file comment for the exactness rules.
 */
const US_TO_NS_MACRO = `CREATE OR REPLACE TEMP MACRO tl_us_to_ns(x) AS
  CASE
    WHEN x IS NULL THEN NULL
    WHEN NOT (contains(x, '.') OR contains(x, 'e') OR contains(x, 'E')) THEN
      CASE WHEN length(x) <= 17 THEN TRY_CAST(TRY_CAST(x AS HUGEINT) * 1000 AS BIGINT) END
    WHEN length(x) <= 15 THEN TRY_CAST(round(TRY_CAST(x AS DOUBLE) * 1000) AS BIGINT)
    WHEN contains(x, 'e') OR contains(x, 'E') THEN TRY_CAST(round(TRY_CAST(x AS DOUBLE) * 1000) AS BIGINT)
    WHEN length(split_part(x, '.', 1)) <= 17 THEN TRY_CAST(
      TRY_CAST(split_part(x, '.', 1) AS HUGEINT) * 1000
      + (CASE WHEN starts_with(trim(x), '-') THEN -1 ELSE 1 END)
        * TRY_CAST(rpad(left(split_part(x, '.', 2), 3), 3, '0') AS HUGEINT) AS BIGINT)
  END`;

/** One batch on its way: its parse (in a worker or inline), then its blocks. */
interface BatchJob {
  parsed: Promise<ParsedBatch>;
  finish(rows: FallbackRow[]): Promise<BatchBlock[]>;
}

/** Messages to and from `worker.ts`. */
export type WorkerRequest =
  | { t: "init"; blocksDir: string; bufferBytes: number; wasm: boolean }
  | { t: "batch"; bytes: Uint8Array; events: number }
  | { t: "finish"; rows: FallbackRow[] }
  | { t: "flush" };
/** A worker's answer to the request it got last. */
export type WorkerReply =
  | { t: "ready" }
  /**
   * A batch parsed; `blocks`: the blocks it finished (with no lines left to DuckDB, the worker
   * finishes a batch right away), or null when it waits for a `finish` with DuckDB's rows.
   */
  | { t: "parsed"; parsed: ParsedBatch; blocks: BatchBlock[] | null }
  | { t: "blocks"; blocks: BatchBlock[] }
  | { t: "error"; message: string; speculation?: boolean };

/** A worker thread running a BatchImporter, one request at a time. */
/**
 * The module specifier of worker.ts: in the compiled binary the worker is a further
 * entry point (scripts/build.ts), named by the path the build entry sets; otherwise its URL
 * relative to this file, which works from any working directory.
 */
function workerSpecifier(): string {
  const embedded = (globalThis as { __TRACELAKE_INGEST_WORKER?: string }).__TRACELAKE_INGEST_WORKER;
  return embedded ?? new URL("./worker.ts", import.meta.url).href;
}

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
 * enabled (the framer keeps the main thread busy) or inline; the events it leaves to DuckDB
 * are imported here (the original SQL) and their rows sent back to it. A worker finishes a
 * batch with no such events as soon as it is parsed (writing out the rows that are due), so
 * that a batch whose write-out takes long holds up neither the batches behind it nor the other
 * worker. Batches complete in order: stream ids, counts and metadata are applied here, as each
 * batch completes.
 */
export class ChromeJsonImporter {
  readonly processes = new Map<string, ProcessInfo>();
  readonly blocks: StagedBlock[] = [];
  /** Events parsed in JS and by DuckDB so far, and worker threads in use (benchmark, tests). */
  readonly stats = { fastEvents: 0, wasmEvents: 0, duckdbEvents: 0, workers: 0 };
  private readonly counts = new Map<string, PhaseCount>();
  private malformed = 0;
  private batchIndex = 0;
  private tail: Promise<void> = Promise.resolve();
  private sqlReady = false;
  private readonly blocksDir: string;
  /** The importer for batches parsed on this thread (one at most). */
  private readonly inline: BatchImporter[] = [];
  private workerPool: ImportWorker[] = [];
  /** Batches waiting for a worker (with two workers or more), oldest first. */
  private readonly waiting: ((w: ImportWorker) => void)[] = [];
  /** Shared batch buffers not in use, for the next batches. */
  private readonly buffers: SharedArrayBuffer[] = [];

  /**
   * @param engine engine for the events DuckDB imports (the catalog need not be attached).
   * @param stagingDir this ingest's private directory; blocks are staged in `blocks/` below it.
   * @param maxEventBytes the framer's event size limit (DuckDB's maximum_object_size follows).
   * @param workers worker threads for parsing and writing (0: all on the calling thread). When
   *   workers cannot be started (e.g. in a build without the worker module), runs inline.
   * @param bufferBytes rows held (bytes of column data) before blocks are written, shared by
   *   the importers (the workers' and this thread's; see BatchImporter).
   * @param batchBytes the framer's batch size (its buffer is that plus 1 MiB): the size of the
   *   shared buffers batches go to workers in.
   * @param wasm whether the importers use the WebAssembly fast path (chrome_fast_path.ts).
   */
  constructor(
    private readonly engine: Engine,
    private readonly stagingDir: string,
    private readonly maxEventBytes: number,
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
   * @throws (in the promise) when a block cannot be written or DuckDB fails.
   */
  importBatch(bytes: Uint8Array, events: number, swap?: (next: Uint8Array) => void): Promise<void> {
    const index = this.batchIndex++;
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
    const run = this.tail.then(() => this.complete(index, job));
    this.tail = run.catch(() => undefined);
    return run;
  }

  /**
   * Resolves when every batch passed to `importBatch` is done and every block is written
   * (call once, at the end of the input).
   */
  async drain(): Promise<void> {
    await this.tail;
    for (const bi of this.inline) this.addBlocks(bi.flushAll());
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

  /** Counts by phase/destination/reason, plus malformed lines, sorted by count. */
  phaseCounts(): PhaseCount[] {
    const all = [...this.counts.values()].map((c) => ({ ...c }));
    if (this.malformed > 0) {
      all.push({ ph: "", dest: "skipped", reason: "malformed JSON event", count: this.malformed });
    }
    return all.sort((a, b) => b.count - a.count);
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
      finish: async (rows) => importer.finishBatch(rows),
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
    let worker: ImportWorker | null = null;
    let finished: BatchBlock[] | null = null;
    const parsed = acquired.then(async (w) => {
      worker = w;
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
    return {
      parsed,
      finish: async (rows) => {
        if (finished) return finished;
        if (!worker) throw new Error("batch finished before it was parsed");
        const r = await (worker as ImportWorker).request({ t: "finish", rows });
        if (r.t !== "blocks") throw new Error(`unexpected worker reply ${r.t}`);
        return r.blocks;
      },
    };
  }

  /** Each importer's share of `bufferBytes` (this thread has none with two workers or more). */
  private importerBytes(): number {
    return Math.floor(this.bufferBytes / (this.workers >= 2 ? this.workers : this.workers + 1));
  }

  private registerThreads(p: ParsedBatch): void {
    for (const [pid, tid] of p.threads) this.registerThread(pid, tid);
  }

  /** Applies a batch: threads, counts, DuckDB's events, blocks, then metadata in seq order. */
  private async complete(index: number, job: BatchJob): Promise<void> {
    const parsed = await job.parsed;
    this.stats.fastEvents += parsed.fastEvents;
    this.stats.wasmEvents += parsed.wasmEvents;
    for (const c of parsed.counts) this.addCount(c.ph, c.dest, c.reason, c.count);
    const meta = parsed.meta;
    let rows: FallbackRow[] = [];
    if (parsed.fallback) rows = await this.importWithDuckDB(index, parsed.fallback, parsed.fallbackEvents, meta);
    this.addBlocks(await job.finish(rows));
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

  private addCount(ph: string, dest: Destination, reason: string | null, n: number): void {
    const key = `${ph}\u0000${dest}\u0000${reason}`;
    const prev = this.counts.get(key);
    if (prev) prev.count += n;
    else this.counts.set(key, { ph, dest, reason, count: n });
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

  /**
   * Imports a batch's fallback lines with DuckDB, as the original importer did: counts them,
   * registers threads, collects metadata into `meta`.
   * @returns the rows that go to blocks.
   */
  private async importWithDuckDB(
    index: number,
    lines: Uint8Array,
    lineCount: number,
    meta: MetaEvent[],
  ): Promise<FallbackRow[]> {
    const e = this.engine;
    if (!this.sqlReady) {
      await e.run(US_TO_NS_MACRO);
      this.sqlReady = true;
    }
    this.stats.duckdbEvents += lineCount;
    const path = join(this.stagingDir, `fallback-${index}.ndjson`);
    writeFileSync(path, lines);
    try {
      await e.run(`CREATE OR REPLACE TEMP TABLE tl_batch AS ${batchSql(path, this.maxEventBytes)}`);
      const rows = await e.rows<FallbackRow>(
        `SELECT seq, ph, ts_ns, dur_ns, tts_ns, tdur_ns, pid, tid, name, cat, aid, id_scope, scope, s, bp, bind_id,
           flow_in = 'true' AS flow_in, flow_out = 'true' AS flow_out, args, skip_reason, dest
         FROM tl_batch`,
      );
      await e.run("DROP TABLE tl_batch");
      this.malformed += Math.max(0, lineCount - rows.length);
      const out: FallbackRow[] = [];
      for (const r of rows) {
        if (r.seq === null) {
          this.addCount("", r.dest, r.skip_reason, 1);
          continue;
        }
        const label = r.ph !== null && KNOWN_PHASE_SET.has(r.ph) ? r.ph : [...(r.ph ?? "")].slice(0, 16).join("");
        this.addCount(label, r.dest, r.skip_reason, 1);
        if (r.dest === "skipped") continue;
        this.registerThread(r.pid as string, r.tid as string);
        if (r.dest === "metadata") {
          meta.push({ seq: Number(r.seq), pid: r.pid as string, tid: r.tid as string, name: r.name, args: r.args });
        } else out.push(r);
      }
      return out;
    } finally {
      rmSync(path, { force: true });
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

/** The original SQL: one batch file → normalized rows with skip reason and destination. */
function batchSql(path: string, maxEventBytes: number): string {
  return `WITH raw AS (
        SELECT * FROM read_ndjson(${sqlString(path)}, columns = ${COLUMNS},
          format = 'newline_delimited', ignore_errors = true,
          maximum_object_size = ${maxEventBytes + 1024})
      ), conv AS (
        SELECT ${SEQ_KEY} AS seq, ph, name, cat, ts,
          tl_us_to_ns(ts) AS ts_ns, tl_us_to_ns(dur) AS dur_ns,
          tl_us_to_ns(tts) AS tts_ns, tl_us_to_ns(tdur) AS tdur_ns,
          pid, coalesce(tid, pid) AS tid,
          coalesce(id, json_extract_string(id2, '$.local'), json_extract_string(id2, '$.global')) AS aid,
          CASE WHEN id IS NOT NULL THEN 'global'
               WHEN json_extract_string(id2, '$.local') IS NOT NULL THEN 'local'
               WHEN json_extract_string(id2, '$.global') IS NOT NULL THEN 'global' END AS id_scope,
          scope, s, bp, bind_id, flow_in, flow_out, args
        FROM raw
      ), judged AS (
        SELECT *,
          CASE
            WHEN seq IS NULL THEN 'malformed JSON event'
            WHEN ph IS NULL OR ph = '' THEN 'ph missing'
            WHEN ph NOT IN (${phaseList}) THEN 'phase not imported'
            WHEN pid IS NULL THEN 'pid missing'
            WHEN ph = 'M' THEN NULL
            WHEN ts IS NULL THEN 'ts missing'
            WHEN ts_ns IS NULL THEN 'ts not a number or out of range'
            WHEN ph = 'X' AND dur_ns IS NULL THEN 'X without a numeric dur'
            WHEN ph = 'X' AND dur_ns < 0 THEN 'X with a negative dur'
            WHEN ph IN ('b', 'e', 'n', 'S', 'T', 'p', 'F') AND aid IS NULL THEN 'async event without id or id2'
            WHEN ph IN ('s', 't', 'f') AND aid IS NULL AND bind_id IS NULL THEN 'flow event without id'
            WHEN ph = 'C' AND (args IS NULL OR json_type(args) <> 'OBJECT' OR args = '{}') THEN 'counter without args'
          END AS skip_reason
        FROM conv
      )
      SELECT *,
        CASE WHEN skip_reason IS NOT NULL THEN 'skipped'
             WHEN ph = 'M' THEN 'metadata'
             WHEN ph IN ('i', 'I', 'R') THEN 'log'
             WHEN ph = 'C' THEN 'metrics'
             ELSE 'cpu' END AS dest
      FROM judged`;
}
