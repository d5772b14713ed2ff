/**
 * The shared back end of the importers other than Chrome JSON (Perfetto protobuf, OTLP JSON,
 * JSON-lines logs): they emit one `RawRow` at a time for a (process, thread, destination), and
 * this file keeps the process and thread records (`ProcessInfo`, `ThreadInfo`, as the Chrome
 * importer does) and writes the rows of each stream with `BlockBuilder` into the same row-group
 * block files as the Chrome importer (`BlockFileSet`, block_file.ts; the raw block schema of
 * parquet_writer.ts), with the same flushing rule: a stream's rows are written out once they
 * hold `blockBytes`, and when all streams together hold more than `bufferBytes` the largest are
 * written out until half that is left. Each write-out appends row groups to the stream's block
 * file, finished (a staged block) when full, when the unfinished footers exceed their budget, or
 * at `flush`. Memory is thus bounded by `bufferBytes` (plus that budget), whatever the input size.
 *
 * Row kinds beyond Chrome's phases (documented in README "raw_events"):
 * - `L`: a log record with a severity: `s` holds the level on micromegas's scale as one digit
 *   (1 fatal … 6 trace), `name` the message, `cat` the target, `args` the properties;
 * - `V`: a measure with one value: `name` the measure name, `cat` the target, `args` a JSON object
 *   with `value` (number) and optionally `unit`, plus the measure's properties.
 */
import { basename } from "node:path";
import { RAW_COL } from "../../lake/raw_block.ts";
import { newProcessInfo, type ProcessInfo, type StagedBlock, type ThreadInfo } from "../model.ts";
import { BlockFileSet, type FinishedBlock } from "./block_file.ts";
import { BlockBuilder } from "./builder.ts";

/** Destination streams of a row. */
export type RowDest = "cpu" | "log" | "metrics";

/** One raw event, in the raw block schema's terms. Times are ns on the source's clock. */
export interface RawRow {
  /** Position of the event in the source (packet index, line number...). */
  seq: number;
  /** Phase: a Chrome phase, or tracelake's `L` (log record) / `V` (measure). */
  ph: string;
  /** Event time, ns. */
  time: number | bigint;
  dur?: number | bigint | null;
  threadTime?: number | bigint | null;
  threadDur?: number | bigint | null;
  name?: string | null;
  cat?: string | null;
  id?: string | null;
  idScope?: string | null;
  scope?: string | null;
  s?: string | null;
  bp?: string | null;
  bindId?: string | null;
  flowIn?: boolean | null;
  flowOut?: boolean | null;
  /** args as JSON text (an object), or null. */
  args?: string | null;
  /**
   * args as the UTF-8 of JSON text (an object) with no lone surrogate escape in
   * `argsUtf8[0, argsUtf8End)`, written as is; when set, `args` is not read.
   */
  argsUtf8?: Uint8Array | null;
  argsUtf8End?: number;
  /**
   * The UTF-8 of `name` / `cat` when the caller already has it (interned strings), written as
   * is instead of encoding the text again; it must be the encoding of `name` / `cat`.
   */
  nameUtf8?: Uint8Array | null;
  catUtf8?: Uint8Array | null;
}

/**
 * Where rows of one (destination, process, thread) go: a handle from `RawRowSink.stream`, for
 * callers that add many rows to the same stream (`addTo` skips the lookup `add` does).
 */
export interface RowStream {
  readonly dest: RowDest;
  readonly pid: string;
  /** The `tid` column of the stream's rows (null for a process's own log/metrics rows). */
  readonly tid: string | null;
  /** @internal the UTF-8 of `tid`. */
  readonly tidUtf8: Uint8Array | null;
  /** @internal */
  readonly group: Group;
}

/**
 * Sets every field of `r` (a row reused from event to event, or a new one) to a new event's
 * values, all optional fields null: rows of one shape keep `RawRowSink.add` fast.
 */
export function resetRow(r: RawRow | null, seq: number, ph: string, time: number | bigint): RawRow {
  const x = r ?? ({} as RawRow);
  x.seq = seq;
  x.ph = ph;
  x.time = time;
  x.dur = null;
  x.threadTime = null;
  x.threadDur = null;
  x.name = null;
  x.cat = null;
  x.id = null;
  x.idScope = null;
  x.scope = null;
  x.s = null;
  x.bp = null;
  x.bindId = null;
  x.flowIn = null;
  x.flowOut = null;
  x.args = null;
  x.argsUtf8 = null;
  x.argsUtf8End = 0;
  x.nameUtf8 = null;
  x.catUtf8 = null;
  return x;
}

// Column indexes of the raw block layout (lib/lake/raw_block.ts), by the names used here.
const C = {
  ...RAW_COL,
  tts: RAW_COL.thread_time,
  tdur: RAW_COL.thread_dur,
  idScope: RAW_COL.id_scope,
  bindId: RAW_COL.bind_id,
  flowIn: RAW_COL.flow_in,
  flowOut: RAW_COL.flow_out,
} as const;

const MAX_I64 = (1n << 63n) - 1n;
const MIN_I64 = -(1n << 63n);
const encoder = new TextEncoder();

/** The rows of one block stream being built. */
interface Group {
  process: ProcessInfo;
  thread: ThreadInfo | null;
  dest: RowDest;
  builder: BlockBuilder;
  /** Capacity (bytes) of `builder` counted in `RawRowSink.reusedBytes` when it was reused, else 0. */
  reusedBytes: number;
}

/**
 * Processes, threads and their streams' rows, written as staged raw blocks.
 * Use: `process()` / `thread()` to declare, `add()` rows, then `flush()` at the end; `processes`
 * and `blocks` (the finished block files) are what the atomic ingest commits.
 */
export class RawRowSink {
  /** Processes by source key (the source pid, or a synthetic key). */
  readonly processes = new Map<string, ProcessInfo>();
  readonly blocks: StagedBlock[] = [];
  /** Rows written, by destination. */
  readonly rowCounts: Record<RowDest, number> = { cpu: 0, log: 0, metrics: 0 };
  /** Log and metrics groups by `pid \0 dest`. */
  private readonly groups = new Map<string, Group>();
  /** Streams by destination, pid and tid (null for process rows). */
  private readonly index: Record<RowDest, Map<string, Map<string | null, RowStream>>> = {
    cpu: new Map(),
    log: new Map(),
    metrics: new Map(),
  };
  private readonly live = new Set<Group>();
  /**
   * Capacity (bytes) of the builders kept for reuse after their block was written (reallocating
   * and regrowing 18 columns per block costs more than encoding them). At most twice
   * `bufferBytes`: the room that column buffers growing by doubling take for `bufferBytes` of
   * rows anyway, so memory stays bounded as before.
   */
  private reusedBytes = 0;
  /** The streams' block files (one unfinished file per group at most). */
  private readonly files: BlockFileSet<Group>;

  /**
   * @param blocksDir directory for the staged block files (created by the caller).
   * @param bufferBytes bound on the column data held over all streams (bytes).
   * @param blockBytes a stream's block is written once it holds this many bytes.
   */
  constructor(
    blocksDir: string,
    private readonly bufferBytes = 32 * 1024 * 1024,
    private readonly blockBytes = 16 * 1024 * 1024,
  ) {
    this.files = new BlockFileSet(blocksDir, (page) => Bun.zstdCompressSync(page, { level: 1 }));
  }

  /**
   * The process with source key `pid`, created on first use (with new stream ids).
   * @param pid the source pid as text (also `processes.source_pid`).
   */
  process(pid: string): ProcessInfo {
    let p = this.processes.get(pid);
    if (!p) {
      p = newProcessInfo(pid);
      this.processes.set(pid, p);
    }
    return p;
  }

  /** The thread `tid` of process `pid` (both created on first use), with its `cpu` stream. */
  thread(pid: string, tid: string): ThreadInfo {
    const p = this.process(pid);
    let t = p.threads.get(tid);
    if (!t) {
      t = { streamId: crypto.randomUUID(), tid, name: null, sortIndex: null };
      p.threads.set(tid, t);
    }
    return t;
  }

  /**
   * Adds a row to a stream: the `cpu` stream of thread `tid` (required for `cpu`), or the
   * process's `log` / `metrics` stream (where `tid` is kept in the row when given).
   * @throws when a block file cannot be written.
   */
  add(pid: string, tid: string | null, dest: RowDest, r: RawRow): void {
    this.addTo(this.stream(pid, tid, dest), r);
  }

  /**
   * Adds a row to a stream from `stream()` (as `add` does).
   * @throws when a block file cannot be written.
   */
  addTo(st: RowStream, r: RawRow): void {
    const g = st.group;
    const b = g.builder;
    if (b.rows === 0) this.live.add(g);
    b.beginRow();
    b.setI64(C.seq, r.seq);
    b.noteSeq(r.seq);
    setStr(b, C.ph, r.ph);
    setNs(b, C.time, r.time);
    setNs(b, C.dur, r.dur ?? null);
    setNs(b, C.tts, r.threadTime ?? null);
    setNs(b, C.tdur, r.threadDur ?? null);
    b.noteRange(r.time, r.dur ?? null);
    const tidUtf8 = st.tidUtf8;
    if (tidUtf8 === null) b.setNull(C.tid);
    else b.setBytes(C.tid, tidUtf8, 0, tidUtf8.length);
    const nameUtf8 = r.nameUtf8;
    if (nameUtf8 != null) b.setBytes(C.name, nameUtf8, 0, nameUtf8.length);
    else setStr(b, C.name, r.name ?? null);
    const catUtf8 = r.catUtf8;
    if (catUtf8 != null) b.setBytes(C.cat, catUtf8, 0, catUtf8.length);
    else setStr(b, C.cat, r.cat ?? null);
    setStr(b, C.id, r.id ?? null);
    setStr(b, C.idScope, r.idScope ?? null);
    setStr(b, C.scope, r.scope ?? null);
    setStr(b, C.s, r.s ?? null);
    setStr(b, C.bp, r.bp ?? null);
    setStr(b, C.bindId, r.bindId ?? null);
    setBool(b, C.flowIn, r.flowIn ?? null);
    setBool(b, C.flowOut, r.flowOut ?? null);
    const argsUtf8 = r.argsUtf8;
    if (argsUtf8 != null) b.setBytes(C.args, argsUtf8, 0, r.argsUtf8End ?? argsUtf8.length);
    else setStr(b, C.args, r.args == null ? null : wellFormedJson(r.args));
    this.rowCounts[st.dest]++;
    // Sizes are checked every 256 rows of a stream (bytes() sums every column): a block may
    // exceed blockBytes by 255 rows.
    if ((b.rows & 255) === 0) {
      if (b.bytes() >= this.blockBytes) this.writeBlock(g);
      else if ((b.rows & 1023) === 0) this.bound();
    }
  }

  /**
   * Writes out every stream's pending rows and finishes every block file (at the end of the
   * input; a second call does nothing).
   * @throws when a block file cannot be written.
   */
  flush(): void {
    for (const g of [...this.live]) this.writeBlock(g);
    const done: FinishedBlock<Group>[] = [];
    this.files.finishAll(done);
    this.stage(done);
  }

  /** Writes the largest streams when all together hold more than `bufferBytes`. */
  private bound(): void {
    let total = 0;
    const sized: [Group, number][] = [];
    for (const g of this.live) {
      const n = g.builder.bytes();
      total += n;
      sized.push([g, n]);
    }
    if (total <= this.bufferBytes) return;
    sized.sort((a, b) => b[1] - a[1]);
    for (const [g, n] of sized) {
      if (total <= this.bufferBytes / 2) break;
      this.writeBlock(g);
      total -= n;
    }
  }

  /**
   * The stream of rows for thread `tid` (or the process when null) of process `pid` in `dest`,
   * declaring the process and thread on first use (as `add` does): looked up by dest, pid and tid
   * in nested maps (no key string per row). Rows of a log/metrics stream go to the process's
   * group; its entries per tid exist to register each thread once.
   * @throws Error for a `cpu` stream without a thread.
   */
  stream(pid: string, tid: string | null, dest: RowDest): RowStream {
    const byDest = this.index[dest];
    let byTid = byDest.get(pid);
    if (!byTid) {
      byTid = new Map();
      byDest.set(pid, byTid);
    }
    const hit = byTid.get(tid);
    if (hit) return hit;
    if (dest === "cpu" && tid === null) throw new Error("a cpu row needs a thread");
    const process = this.process(pid);
    const thread = tid === null ? null : this.thread(pid, tid);
    let g: Group | undefined;
    if (dest === "cpu") g = { process, thread, dest, builder: new BlockBuilder(), reusedBytes: 0 };
    else {
      const key = `${pid}\u0000${dest}`;
      g = this.groups.get(key);
      if (!g) {
        g = { process, thread: null, dest, builder: new BlockBuilder(), reusedBytes: 0 };
        this.groups.set(key, g);
      }
    }
    const st: RowStream = { dest, pid, tid, tidUtf8: tid === null ? null : encoder.encode(tid), group: g };
    byTid.set(tid, st);
    return st;
  }

  /** Appends a stream's pending rows to its block file as row groups (`files`). */
  private writeBlock(g: Group): void {
    const b = g.builder;
    if (b.rows === 0) return;
    const range = b.range();
    this.files.append(g, b.rows, b.columns(), range.begin, range.end);
    const done: FinishedBlock<Group>[] = [];
    this.files.endWriteOut(g, done);
    this.stage(done);
    // Keep the builder (its buffers) for the stream's next rows while the kept capacity allows.
    this.reusedBytes -= g.reusedBytes;
    const cap = b.capacity();
    if (this.reusedBytes + cap <= 2 * this.bufferBytes) {
      b.reset();
      g.reusedBytes = cap;
      this.reusedBytes += cap;
    } else {
      b.release();
      g.builder = new BlockBuilder();
      g.reusedBytes = 0;
    }
    this.live.delete(g);
  }

  /** Records finished block files as staged blocks. */
  private stage(done: readonly FinishedBlock<Group>[]): void {
    for (const f of done) {
      const g = f.key;
      const p = g.process;
      this.blocks.push({
        blockId: basename(f.path, ".parquet"),
        streamId:
          g.dest === "log"
            ? p.logStreamId
            : g.dest === "metrics"
              ? p.metricsStreamId
              : (g.thread as ThreadInfo).streamId,
        processId: p.processId,
        beginNs: f.beginNs,
        endNs: f.endNs,
        nbObjects: f.rows,
        payloadSize: f.size,
        stagedPath: f.path,
      });
    }
  }
}

/**
 * JSON text whose `\uXXXX` escapes never leave a UTF-16 surrogate unpaired: a lone one becomes
 * `\ufffd` (U+FFFD, as a UTF-8 encoder replaces it). `JSON.stringify` writes lone surrogates
 * as such escapes (ECMA-262 "well-formed JSON.stringify"), which DuckDB's JSON reader refuses
 * ("no low surrogate in string"), failing every read of the block's JSON column.
 * @param text JSON text (valid JSON; not checked).
 * @returns `text` itself when it has no lone surrogate escape, else a repaired copy.
 */
export function wellFormedJson(text: string): string {
  let i = text.indexOf("\\u");
  if (i < 0) return text;
  let out: string[] | null = null;
  let from = 0;
  const n = text.length;
  const hexAt = (k: number): number =>
    k + 6 <= n && text.charCodeAt(k + 1) === 0x75 ? Number.parseInt(text.slice(k + 2, k + 6), 16) : -1;
  for (i = text.indexOf("\\"); i >= 0 && i < n; ) {
    const next = text.charCodeAt(i + 1);
    if (next !== 0x75) {
      i = text.indexOf("\\", i + 2);
      continue;
    }
    const u = hexAt(i);
    let lone = false;
    let len = 6;
    if (u >= 0xd800 && u <= 0xdbff) {
      const lo = text.charCodeAt(i + 6) === 0x5c ? hexAt(i + 6) : -1;
      if (lo >= 0xdc00 && lo <= 0xdfff) len = 12;
      else lone = true;
    } else if (u >= 0xdc00 && u <= 0xdfff) lone = true;
    if (lone) {
      out ??= [];
      out.push(text.slice(from, i), "\\ufffd");
      from = i + 6;
    }
    i = text.indexOf("\\", i + len);
  }
  if (out === null) return text;
  out.push(text.slice(from));
  return out.join("");
}

/**
 * Sets a VARCHAR/JSON column to the UTF-8 of `v` (null → NULL), written straight into the
 * column: short ASCII text byte by byte, other text with `TextEncoder.encodeInto` (the same bytes
 * `TextEncoder.encode` gives, lone surrogates as U+FFFD).
 */
function setStr(b: BlockBuilder, c: number, v: string | null): void {
  if (v === null) {
    b.setNull(c);
    return;
  }
  const n = v.length;
  if (n === 1) {
    const code = v.charCodeAt(0);
    if (code < 0x80) {
      b.setByte(c, code);
      return;
    }
  }
  // A UTF-16 code unit takes at most 3 bytes of UTF-8.
  const buf = b.reserve(c, n * 3);
  const at = b.valuesAt(c);
  // Short ASCII text byte by byte; longer text (args JSON) through encodeInto, which is faster
  // past ~60 characters (measured: 237 characters, 60-120 ns against 210 ns).
  if (n <= 64) {
    let i = 0;
    for (; i < n; i++) {
      const x = v.charCodeAt(i);
      if (x >= 0x80) break;
      buf[at + i] = x;
    }
    if (i === n) {
      b.commitBytes(c, n);
      return;
    }
  }
  const { written } = encoder.encodeInto(v, buf.subarray(at, at + n * 3));
  b.commitBytes(c, written);
}

function setBool(b: BlockBuilder, c: number, v: boolean | null): void {
  if (v === null) b.setNull(c);
  else b.setBool(c, v);
}

function setNs(b: BlockBuilder, c: number, v: number | bigint | null): void {
  if (v === null) b.setNull(c);
  else if (typeof v === "number") {
    if (Number.isSafeInteger(v)) b.setI64(c, v);
    else if (Number.isFinite(v)) setNs(b, c, BigInt(Math.round(v)));
    else b.setNull(c);
  } else if (v > MAX_I64 || v < MIN_I64) b.setNull(c);
  else b.setI64Big(c, v);
}
