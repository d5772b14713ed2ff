/**
 * The batches of the Chrome JSON importer: takes a batch of framed lines through the WebAssembly
 * fast path, then the event parser and its mapping (mapping.ts), then the slow path
 * (declined.ts), each row into its group (groups.ts: the rows of one stream held in memory),
 * and writes the groups out to raw block files (one per stream, appended to as row groups:
 * block_file.ts) when they are due, their pages compressed on Bun's thread pool meanwhile
 * (`finishBatch`). It knows pids and tids, not stream ids: the caller
 * (`ChromeJsonImporter`, which may run this in a worker thread) maps groups to streams.
 */
import { join } from "node:path";
import { BLOCK_FILE_META_BUDGET, BlockFileWriter } from "../blocks/block_file.ts";
import { BlockBuilder } from "../blocks/builder.ts";
import { compressedPages, compressOnPool, pageBuffer } from "../blocks/compress_pool.ts";
import { type EncodedPages, encodePages } from "../blocks/parquet_writer.ts";
import { type Destination, type LossExample, type PhaseCount, PhaseCounter, type SkipCode } from "../model.ts";
import { replaceLoneSurrogateEscapes } from "./canonical.ts";
import { type MappedRow, mapDeclinedEvent } from "./declined.ts";
import { type ChromeFastPath, loadChromeFastPath } from "./fast_path.ts";
import { SEQ_KEY, SpeculationError } from "./framer.ts";
import { D_CPU, D_LOG, D_METRICS, type Group } from "./groups.ts";
import {
  C_ARGS,
  C_BIND_ID,
  C_BP,
  C_CAT,
  C_DUR,
  C_FLOW_IN,
  C_FLOW_OUT,
  C_ID,
  C_ID_SCOPE,
  C_NAME,
  C_PH,
  C_S,
  C_SCOPE,
  C_SEQ,
  C_TDUR,
  C_TID,
  C_TIME,
  C_TTS,
  EventMapper,
  type MetaEvent,
} from "./mapping.ts";
import { PC_NONE, phaseClass } from "./phases.ts";
import { type Ns, nsValue } from "./time.ts";

export { D_CPU, D_LOG, D_METRICS } from "./groups.ts";
export type { MetaEvent } from "./mapping.ts";

const encoder = new TextEncoder();
const DEST_NAMES: Destination[] = ["cpu", "log", "metrics"];

/** What parsing a batch found. */
export interface ParsedBatch {
  /** (pid, tid) pairs seen for the first time by this importer, for events that were not skipped. */
  threads: [string, string][];
  meta: MetaEvent[];
  /** Counts of the batch's events. */
  counts: PhaseCount[];
  /** Events taken by a fast path (the WebAssembly one or the event parser). */
  fastEvents: number;
  /** Of those, the events the WebAssembly fast path imported. */
  wasmEvents: number;
  /** Events mapped by the slow path (declined.ts), malformed ones included. */
  slowEvents: number;
}

/** A block file written for a group. Times are ns; sizes bytes. */
export interface BatchBlock {
  pid: string;
  /** The thread for a cpu block, "" for log and metrics. */
  tid: string;
  /** D_CPU, D_LOG or D_METRICS. */
  dest: number;
  path: string;
  rows: number;
  beginNs: bigint | null;
  endNs: bigint | null;
  size: number;
}

/**
 * Parses batches and writes their blocks: `parseBatch` for each batch, then `finishBatch`.
 * Several batches may be parsed before the first is finished: rows accumulate in their groups
 * whatever their batch, so a block may hold rows of batches not finished yet (the caller must
 * know their threads: `ParsedBatch.threads`).
 */
export class BatchImporter extends EventMapper {
  /** The WebAssembly fast path (null when turned off), and its groups by index. */
  private readonly fast: ChromeFastPath | null;
  private readonly nativeGroups: Group[] = [];
  private readonly skipCounts = new PhaseCounter();
  /** Events mapped by the slow path so far. */
  private slow = 0;
  /** Groups whose block file is being written, and the footer metadata those files hold (bytes). */
  private readonly open = new Set<Group>();
  private openMeta = 0;
  /** Rows taken out of their groups and encoded, their pages being compressed: appended in this order by `writeEncoded`. */
  private encoded: EncodedWrite[] = [];

  /**
   * @param blocksDir directory for the block files (created by the caller).
   * @param bufferBytes bound on the rows held over all groups (bytes of column data).
   * @param blockBytes a group's rows are written (appended to its block file) once it holds
   *   this many bytes.
   * @param compress zstd level-1 compression of a page (default: on Bun's thread pool, while
   *   this thread goes on); the page is its own (encodePages' `newPage`: compress_pool.ts
   *   pageBuffer), never read or written by the importer again.
   * @param wasm whether the WebAssembly fast path takes the plain events first
   *   (chrome_fast_path.ts); without it every event is imported in JavaScript.
   */
  constructor(
    private readonly blocksDir: string,
    private readonly bufferBytes = 32 * 1024 * 1024,
    private readonly blockBytes = 16 * 1024 * 1024,
    private readonly compress: (page: Uint8Array) => Promise<Uint8Array> = (page) => compressOnPool(page, true),
    wasm = true,
  ) {
    super();
    this.fast = wasm ? loadChromeFastPath() : null;
  }

  /**
   * Parses and routes the events of one batch.
   * @param bytes whole lines from the framer, each `{"__seq":N,...}\n`, or in line mode
   *   `{...}\n` / `{...},\n` for the event after the line before (see framer.ts).
   * @param events number of lines (checked).
   * @throws Error when the line count differs; SpeculationError when a line-mode line is not
   *   one JSON object (the input must be framed again without line mode).
   */
  parseBatch(bytes: Uint8Array, events: number): ParsedBatch {
    const slow0 = this.slow;
    let fast = 0;
    let wasm = 0;
    let seen = 0;
    if (this.fast) {
      // The WebAssembly fast path takes the plainest events; the lines it declines are
      // imported here, as every line is without it.
      const r = this.fast.importBatch(bytes);
      seen = r.lines;
      this.adoptNative(r.newThreads, r.newGroups, r.becameLive);
      this.fast.takeCounts(this.fastCounts);
      const d = r.declined;
      fast = r.lines - d.length / 4;
      wasm = fast;
      for (let k = 0; k < d.length; k += 4) {
        const seq = d[k + 2] as number;
        const implicit = d[k + 3] === 1;
        if (implicit && seq < 0) throw new Error("batch line without __seq after no seq");
        if (this.importLine(bytes, d[k] as number, d[k + 1] as number, seq, implicit)) fast++;
      }
    } else {
      let lineStart = 0;
      const n = bytes.length;
      // The seq of the line before (a line without the `__seq` key, from the framer's line
      // mode, is the one after it).
      let prevSeq = -1;
      while (lineStart < n) {
        let e = bytes.indexOf(0x0a, lineStart);
        if (e < 0) e = n;
        seen++;
        // A line-mode line may end with the comma that followed it in the input.
        const to = bytes[e - 1] === 0x2c ? e - 1 : e;
        let seq = prefixSeq(bytes, lineStart);
        const implicit = seq < 0;
        if (implicit) {
          if (prevSeq < 0) throw new Error("batch line without __seq after no seq");
          seq = prevSeq + 1;
        }
        prevSeq = seq;
        if (this.importLine(bytes, lineStart, to, seq, implicit)) fast++;
        lineStart = e + 1;
      }
    }
    if (seen !== events) throw new Error(`batch has ${seen} lines, the framer counted ${events}`);
    const counts = this.skipCounts.values();
    this.skipCounts.clear();
    for (let k = 0; k < this.fastCounts.length; k++) {
      const c = this.fastCounts[k] as number;
      if (c === 0) continue;
      counts.push({
        ph: String.fromCharCode(Math.floor(k / 3)),
        dest: DEST_NAMES[k % 3] as Destination,
        reason: null,
        count: c,
      });
      this.fastCounts[k] = 0;
    }
    const r: ParsedBatch = {
      threads: this.threads,
      meta: this.meta,
      counts,
      fastEvents: fast,
      wasmEvents: wasm,
      slowEvents: this.slow - slow0,
    };
    this.threads = [];
    this.meta = [];
    return r;
  }

  /**
   * Imports one line in JavaScript: on the event parser's fast path, else by the slow path
   * (declined.ts). @returns true when on the fast path.
   * @param implicit whether the line has no `__seq` key (line mode, or a line the WebAssembly
   *   fast path declined after such a line): such a line is checked to be one JSON object.
   * @throws SpeculationError when a line-mode line is not one JSON object.
   */
  private importLine(bytes: Uint8Array, lineStart: number, to: number, seq: number, implicit: boolean): boolean {
    let ok = this.parser.parse(bytes, lineStart, to, implicit ? seq : -1) && this.routeFast(bytes);
    // A lone surrogate escape (`\ud800`) is kept as U+FFFD rather than losing the event.
    if (!ok && replaceLoneSurrogateEscapes(bytes, lineStart, to)) {
      ok = this.parser.parse(bytes, lineStart, to, implicit ? seq : -1) && this.routeFast(bytes);
    }
    if (ok) return true;
    // Line mode takes lines for events unchecked: this is where such a line is checked.
    if (!isOneObject(bytes, lineStart, to)) {
      throw new SpeculationError(
        `event ${seq} is not a single JSON object on its line (line mode); frame the input again without it`,
      );
    }
    this.importDeclined(bytes, lineStart, to, seq);
    return false;
  }

  /** Maps and routes a line neither fast path takes (declined.ts): counts it, adds its row. */
  private importDeclined(bytes: Uint8Array, s: number, e: number, seq: number): void {
    this.slow++;
    const r = mapDeclinedEvent(bytes, s, e, seq);
    if (r === null) {
      this.count("", "skipped", "chrome.malformed", { seq, name: null });
      return;
    }
    const example = { seq, name: r.name === null ? null : r.name.slice(0, 100) };
    // The label of an unknown phase: its first 16 characters.
    const label = phaseClass(r.ph) !== PC_NONE ? (r.ph as string) : [...(r.ph ?? "")].slice(0, 16).join("");
    this.count(label, r.dest, r.skip, r.skip === null ? undefined : example);
    if (r.invalidValues > 0)
      this.skipCounts.add("C", "dropped", "chrome.counter_value_invalid", r.invalidValues, [example]);
    if (r.dest === "skipped") return;
    if (r.dest === "metadata") {
      this.noteThread(r.pid, r.tid);
      this.meta.push({ seq, pid: r.pid, tid: r.tid, name: r.name, args: r.args });
    } else this.addRow(r);
  }

  /** Notes the threads and groups the WebAssembly fast path saw first in a batch. */
  private adoptNative(threads: Uint32Array, groups: Uint32Array, live: Uint32Array): void {
    for (let k = 0; k < threads.length; k += 2) this.noteThread(String(threads[k]), String(threads[k + 1]));
    for (let k = 0; k < groups.length; k += 4) {
      const g = this.groupFor(String(groups[k + 1]), String(groups[k + 2]), groups[k + 3] as number);
      g.native = groups[k] as number;
      this.nativeGroups[g.native] = g;
    }
    for (const n of live) this.live.add(this.nativeGroups[n] as Group);
  }

  /**
   * Writes out the rows that are due: a group's rows accumulate over batches until it holds
   * `blockBytes`, or until all groups together hold more than `bufferBytes` (then the largest
   * are written until half that is left). Rows
   * written out are appended to the group's block file as row groups (block_file.ts); a block
   * file is finished, and returned here, once it is full, or when the unfinished files' footers
   * hold more than BLOCK_FILE_META_BUDGET (the fullest first).
   * The rows are taken out of their groups at once; their pages are compressed on Bun's thread
   * pool while the caller goes on (the next batch is parsed meanwhile), then appended in order.
   * Memory is thus bounded by `bufferBytes` plus one batch plus the pages of one write-out
   * (copies, then compressed) plus that budget: on the real 208 MB Chromium JSON trace the
   * ingest's peak RSS went from 225 to 268 MB when compression moved off this thread.
   * @returns the blocks finished (most are finished by `flushAll`, at the end of the input).
   * @throws the file system's error when a block file cannot be written.
   */
  async finishBatch(): Promise<BatchBlock[]> {
    let total = 0;
    const sized: [Group, number][] = [];
    for (const g of this.live) {
      const n = this.groupBytes(g);
      if (n >= this.blockBytes) this.encodeRows(g);
      else {
        total += n;
        sized.push([g, n]);
      }
    }
    if (total > this.bufferBytes) {
      sized.sort((a, b) => b[1] - a[1]);
      for (const [g, n] of sized) {
        if (total <= this.bufferBytes / 2) break;
        this.encodeRows(g);
        total -= n;
      }
    }
    return this.writeEncoded();
  }

  /** Bytes of column data a group holds, in both builders. */
  private groupBytes(g: Group): number {
    return g.builder.bytes() + (g.native >= 0 && this.fast ? this.fast.blockBytes(g.native) : 0);
  }

  /**
   * Writes out the rows of every group still holding some, and finishes every block file (at
   * the end of the input).
   * @throws the file system's error.
   */
  async flushAll(): Promise<BatchBlock[]> {
    for (const g of [...this.live]) this.encodeRows(g);
    const out = await this.writeEncoded();
    for (const g of [...this.open]) this.finishFile(g, out);
    return out;
  }

  /**
   * Takes a group's rows out of it, encoded (their pages' compression started, `compress`), for
   * `writeEncoded`, and starts the group afresh: one or more row groups for the rows imported
   * in JavaScript, then for those of the WebAssembly fast path (each when it holds rows).
   */
  private encodeRows(g: Group): void {
    const b = g.builder;
    if (b.rows > 0) {
      const range = b.range();
      this.encoded.push({
        g,
        rows: b.rows,
        pages: encodePages(b.rows, b.columns(), this.compress, pageBuffer),
        begin: range.begin,
        end: range.end,
      });
      // The builder is reused (no new buffers per block: fresh memory for every block kept
      // RSS high), unless it grew well past this block's size.
      const cap = b.capacity();
      if (cap > 4 * 1024 * 1024 && cap > 3 * b.bytes()) {
        b.release();
        g.builder = new BlockBuilder();
      } else b.reset();
    }
    if (g.native >= 0 && this.fast) {
      const nb = this.fast.block(g.native);
      if (nb.rows > 0) {
        this.encoded.push({
          g,
          rows: nb.rows,
          pages: encodePages(nb.rows, nb.columns, this.compress, pageBuffer),
          begin: nb.begin,
          end: nb.end,
        });
      }
      this.fast.reset(g.native);
    }
    this.live.delete(g);
  }

  /**
   * Appends the rows `encodeRows` took, once their pages are compressed, to their groups' block
   * files (each created on first use), in the order they were taken. A file that is full after
   * its group's rows is finished, and its block pushed onto the result; then the files with the
   * most footer metadata while they hold more than BLOCK_FILE_META_BUDGET.
   * @throws the file system's error, or the compressor's.
   */
  private async writeEncoded(): Promise<BatchBlock[]> {
    const todo = this.encoded;
    this.encoded = [];
    const out: BatchBlock[] = [];
    const ready = await Promise.all(todo.map((w) => compressedPages(w.pages)));
    for (let k = 0; k < todo.length; k++) {
      const w = todo[k] as EncodedWrite;
      const g = w.g;
      const meta0 = g.file?.metaBytes ?? 0;
      this.fileOf(g).appendEncoded(w.rows, ready[k] as EncodedPages<Uint8Array>, w.begin, w.end);
      this.openMeta += (g.file?.metaBytes ?? 0) - meta0;
      // A group's rows (JavaScript's, then the fast path's) are written before its file is checked.
      if (todo[k + 1]?.g === g) continue;
      if (g.file?.full) this.finishFile(g, out);
      if (this.openMeta > BLOCK_FILE_META_BUDGET) this.boundFooters(out);
    }
    return out;
  }

  /**
   * Finishes the unfinished block files with the most footer metadata while all of them hold
   * more than BLOCK_FILE_META_BUDGET, down to half of it.
   */
  private boundFooters(out: BatchBlock[]): void {
    const byMeta = [...this.open].sort(
      (a, b) => (b.file as BlockFileWriter).metaBytes - (a.file as BlockFileWriter).metaBytes,
    );
    for (const g of byMeta) {
      if (this.openMeta <= BLOCK_FILE_META_BUDGET / 2) break;
      this.finishFile(g, out);
    }
  }

  /** The group's block file, created when it has none. */
  private fileOf(g: Group): BlockFileWriter {
    if (!g.file) {
      g.file = new BlockFileWriter(join(this.blocksDir, `${crypto.randomUUID()}.parquet`));
      this.open.add(g);
    }
    return g.file;
  }

  /** Finishes a group's block file and pushes its block onto `out`. */
  private finishFile(g: Group, out: BatchBlock[]): void {
    const f = g.file;
    if (!f) return;
    const meta = f.metaBytes;
    const done = f.finish();
    g.file = null;
    this.open.delete(g);
    this.openMeta -= meta;
    out.push({
      pid: g.pid,
      tid: g.tid,
      dest: g.dest,
      path: done.path,
      rows: done.rows,
      beginNs: done.beginNs,
      endNs: done.endNs,
      size: done.size,
    });
  }

  protected override count(ph: string, dest: Destination, code: SkipCode | null, example?: LossExample): void {
    this.skipCounts.add(ph, dest, code, 1, example === undefined ? undefined : [example]);
  }

  /** Adds the row of a declined event (dest cpu, log or metrics). */
  private addRow(r: MappedRow): void {
    const dest = r.dest === "log" ? D_LOG : r.dest === "metrics" ? D_METRICS : D_CPU;
    const b = this.builderOf(this.groupFor(r.pid, r.tid, dest));
    b.beginRow();
    b.setI64(C_SEQ, r.seq);
    b.noteSeq(r.seq);
    setStr(b, C_PH, r.ph);
    const ts = nsValue(r.tsNs);
    const dur = nsValue(r.durNs);
    setNs(b, C_TIME, ts);
    setNs(b, C_DUR, dur);
    setNs(b, C_TTS, nsValue(r.ttsNs));
    setNs(b, C_TDUR, nsValue(r.tdurNs));
    if (ts !== null) b.noteRange(ts, dur);
    setStr(b, C_TID, r.tid);
    setStr(b, C_NAME, r.name);
    setStr(b, C_CAT, r.cat);
    setStr(b, C_ID, r.aid);
    setStr(b, C_ID_SCOPE, r.idScope);
    setStr(b, C_SCOPE, r.scope);
    setStr(b, C_S, r.s);
    setStr(b, C_BP, r.bp);
    setStr(b, C_BIND_ID, r.bindId);
    if (r.flowIn === null) b.setNull(C_FLOW_IN);
    else b.setBool(C_FLOW_IN, r.flowIn);
    if (r.flowOut === null) b.setNull(C_FLOW_OUT);
    else b.setBool(C_FLOW_OUT, r.flowOut);
    setStr(b, C_ARGS, r.args);
  }
}

const SEQ_PREFIX_BYTES = new TextEncoder().encode(`{"${SEQ_KEY}":`);

/** The seq of a line starting with the framer's `{"__seq":N`, else -1. */
function prefixSeq(b: Uint8Array, s: number): number {
  const k = SEQ_PREFIX_BYTES.length;
  for (let j = 0; j < k; j++) if (b[s + j] !== SEQ_PREFIX_BYTES[j]) return -1;
  let v = 0;
  let j = s + k;
  const d0 = j;
  for (; j < b.length; j++) {
    const c = b[j] as number;
    if (c < 0x30 || c > 0x39) break;
    v = v * 10 + (c - 0x30);
  }
  return j === d0 ? -1 : v;
}

/**
 * Whether `b[s, e)` is exactly one JSON object as far as its structure goes: it starts with `{`
 * and the brace that closes it (outside strings) is its last byte. Its contents are not
 * validated (the slow path does that).
 */
function isOneObject(b: Uint8Array, s: number, e: number): boolean {
  if (e - s < 2 || b[s] !== 0x7b) return false;
  let depth = 0;
  let inString = false;
  for (let i = s; i < e; i++) {
    const c = b[i] as number;
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) depth++;
    else if (c === 0x7d || c === 0x5d) {
      if (--depth === 0) return i === e - 1;
      if (depth < 0) return false;
    }
  }
  return false;
}

function setNs(b: BlockBuilder, c: number, v: Ns): void {
  if (v === null) b.setNull(c);
  else if (typeof v === "number") b.setI64(c, v);
  else b.setI64Big(c, v);
}

function setStr(b: BlockBuilder, c: number, v: string | null): void {
  if (v === null) b.setNull(c);
  else {
    const t = encoder.encode(v);
    b.setBytes(c, t, 0, t.length);
  }
}

/** Rows `encodeRows` took out of a group, encoded, awaiting their pages' compression. */
interface EncodedWrite {
  g: Group;
  rows: number;
  pages: EncodedPages<Promise<Uint8Array> | Uint8Array>;
  begin: bigint | null;
  end: bigint | null;
}
