/**
 * The JS side of the Chrome JSON importer: parses a batch of framed events, routes each one to
 * its group (the rows of one stream held in memory: a thread's `cpu` events, a process's `log`
 * or `metrics` events), and writes the groups out to raw block files (one per stream, appended
 * to as row groups: block_file.ts). It knows pids and tids, not
 * stream ids: the caller (`ChromeJsonImporter`, which may run this in a worker thread) maps
 * groups to streams. Events off the parser's fast path are handed back for DuckDB, and the rows
 * DuckDB makes of them come back through `finishBatch`, to be written with the others.
 */
import { join } from "node:path";
import { BLOCK_FILE_META_BUDGET, BlockFileWriter } from "../blocks/block_file.ts";
import { BlockBuilder } from "../blocks/builder.ts";
import {
  EventParser,
  F_ARGS,
  F_BIND_ID,
  F_BP,
  F_CAT,
  F_DUR,
  F_FLOW_IN,
  F_FLOW_OUT,
  F_ID,
  F_ID2,
  F_NAME,
  F_PH,
  F_PID,
  F_S,
  F_SCOPE,
  F_TDUR,
  F_TID,
  F_TS,
  F_TTS,
  FL_ESC,
  FL_NONCANON_ESC,
  FL_REWRITE,
  replaceLoneSurrogateEscapes,
  V_FALSE,
  V_MISSING,
  V_NULL,
  V_NUM,
  V_OBJ,
  V_STR,
  V_TRUE,
  writeCanonicalNumber,
  writeMinified,
} from "./event_parser.ts";
import { type ChromeFastPath, loadChromeFastPath } from "./fast_path.ts";
import { SEQ_KEY, SpeculationError } from "./framer.ts";

/** Where an event went. */
export type Destination = "cpu" | "log" | "metrics" | "metadata" | "skipped";

/** Counts by (phase, destination, skip reason). */
export interface PhaseCount {
  ph: string;
  dest: Destination;
  reason: string | null;
  count: number;
}

/** Phases that we import. */
export const KNOWN_PHASES = ["B", "E", "X", "i", "I", "R", "C", "b", "e", "n", "S", "T", "p", "F", "s", "t", "f", "M"];

/** Column indexes of the raw block schema (see `RAW_BLOCK_COLUMNS`). */
const C_SEQ = 0;
const C_PH = 1;
const C_TIME = 2;
const C_DUR = 3;
const C_TTS = 4;
const C_TDUR = 5;
const C_TID = 6;
const C_NAME = 7;
const C_CAT = 8;
const C_ID = 9;
const C_ID_SCOPE = 10;
const C_SCOPE = 11;
const C_S = 12;
const C_BP = 13;
const C_BIND_ID = 14;
const C_FLOW_IN = 15;
const C_FLOW_OUT = 16;
const C_ARGS = 17;

/** Destination codes used on the hot path. */
export const D_CPU = 0;
export const D_LOG = 1;
export const D_METRICS = 2;
const DEST_NAMES: Destination[] = ["cpu", "log", "metrics"];

/** KNOWN_PHASES as a set. */
export const KNOWN_PHASE_SET = new Set(KNOWN_PHASES);
/** Phase classes by byte: 0 not imported; then cpu, async (cpu), flow (cpu), log, metrics, metadata. */
const PC_CPU = 1;
const PC_ASYNC = 2;
const PC_FLOW = 3;
const PC_LOG = 4;
const PC_METRICS = 5;
const PC_META = 6;
const PHASE_CLASS = new Uint8Array(128);
for (const c of "BEX") PHASE_CLASS[c.charCodeAt(0)] = PC_CPU;
for (const c of "benSTpF") PHASE_CLASS[c.charCodeAt(0)] = PC_ASYNC;
for (const c of "stf") PHASE_CLASS[c.charCodeAt(0)] = PC_FLOW;
for (const c of "iIR") PHASE_CLASS[c.charCodeAt(0)] = PC_LOG;
PHASE_CLASS["C".charCodeAt(0)] = PC_METRICS;
PHASE_CLASS["M".charCodeAt(0)] = PC_META;

/** The value of a run of at most 7 ASCII digits, else -1. */
function smallUint(buf: Uint8Array, s: number, e: number): number {
  if (e - s > 7 || e === s) return -1;
  let v = 0;
  for (let k = s; k < e; k++) {
    const d = (buf[k] as number) - 0x30;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

function skipWs(buf: Uint8Array, i: number, e: number): number {
  while (i < e && (buf[i] === 0x20 || buf[i] === 0x09 || buf[i] === 0x0a || buf[i] === 0x0d)) i++;
  return i;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const TRUE_BYTES = encoder.encode("true");
const FALSE_BYTES = encoder.encode("false");
const GLOBAL_BYTES = encoder.encode("global");
const LOCAL_BYTES = encoder.encode("local");
const TWO63 = 2 ** 63;

/** The events of one stream not yet written. */
interface Group {
  pid: string;
  /** The thread for a cpu group, "" for log and metrics. */
  tid: string;
  dest: number;
  builder: BlockBuilder;
  /** The group's builder in the WebAssembly fast path, or -1. */
  native: number;
  /** The group's block file being written (rows flushed, no footer yet), or null. */
  file: BlockFileWriter | null;
}

/** Where a (pid, tid, destination) goes; cached by the raw bytes of pid and tid. */
interface CacheEntry {
  key: Uint8Array;
  group: Group;
}

/** A metadata (M) event, applied by the caller in seq order. */
export interface MetaEvent {
  seq: number;
  pid: string;
  tid: string;
  name: string | null;
  /** args as JSON text. */
  args: string | null;
}

/** What parsing a batch found. */
export interface ParsedBatch {
  /** (pid, tid) pairs seen for the first time by this importer, for events that were not skipped. */
  threads: [string, string][];
  meta: MetaEvent[];
  /** Counts of the events parsed here (not those left to DuckDB). */
  counts: PhaseCount[];
  fastEvents: number;
  /** Of those, the events the WebAssembly fast path imported. */
  wasmEvents: number;
  /** The lines left to DuckDB (NDJSON, each ending in a newline), or null. */
  fallback: Uint8Array | null;
  fallbackEvents: number;
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

/** A nanosecond value: a safe integer, a bigint outside that range, or null. */
type Ns = number | bigint | null;

/**
 * Parses batches and writes their blocks: `parseBatch` for each batch, then `finishBatch` with
 * the rows DuckDB made of its fallback events. Several batches may be parsed before the first
 * is finished: rows accumulate in their groups whatever their batch, so a block may hold rows
 * of batches not finished yet (the caller must know their threads: `ParsedBatch.threads`).
 */
export class BatchImporter {
  private readonly parser = new EventParser();
  /** The WebAssembly fast path (null when turned off), and its groups by index. */
  private readonly fast: ChromeFastPath | null;
  private readonly nativeGroups: Group[] = [];
  private readonly cache = new Map<number, CacheEntry[]>();
  private readonly groups = new Map<string, Group>();
  /** Groups by (pid, tid, dest) when pid and tid are integers below 2^24. */
  private readonly numGroups = new Map<number, Group>();
  private readonly seenThreads = new Set<string>();
  /** Groups holding rows not yet written. */
  private readonly live = new Set<Group>();
  private scratch = new Uint8Array(1024);
  private readonly fastCounts = new Float64Array(256 * 3);
  private readonly skipCounts = new Map<string, PhaseCount>();
  private threads: [string, string][] = [];
  /** Out-values of nsOf (a bigint per field) and id2Member (the member's text). */
  private readonly big: (bigint | null)[] = new Array(18).fill(null);
  private memberS = 0;
  private memberE = 0;
  private memberNum = false;
  private meta: MetaEvent[] = [];
  /** Groups whose block file is being written, and the footer metadata those files hold (bytes). */
  private readonly open = new Set<Group>();
  private openMeta = 0;

  /**
   * @param blocksDir directory for the block files (created by the caller).
   * @param bufferBytes bound on the rows held over all groups (bytes of column data).
   * @param blockBytes a group's rows are written (appended to its block file) once it holds
   *   this many bytes.
   * @param compress zstd level-1 compression of a page.
   * @param wasm whether the WebAssembly fast path takes the plain events first
   *   (chrome_fast_path.ts); without it every event is imported in JavaScript.
   */
  constructor(
    private readonly blocksDir: string,
    private readonly bufferBytes = 32 * 1024 * 1024,
    private readonly blockBytes = 16 * 1024 * 1024,
    private readonly compress: (page: Uint8Array) => Uint8Array = (b) => Bun.zstdCompressSync(b, { level: 1 }),
    wasm = true,
  ) {
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
    const fallback: Uint8Array[] = [];
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
        if (this.importLine(bytes, d[k] as number, d[k + 1] as number, seq, implicit, fallback)) fast++;
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
        if (this.importLine(bytes, lineStart, to, seq, implicit, fallback)) fast++;
        lineStart = e + 1;
      }
    }
    if (seen !== events) throw new Error(`batch has ${seen} lines, the framer counted ${events}`);
    let fallbackBytes = 0;
    for (const l of fallback) fallbackBytes += l.length + 1;
    let fb: Uint8Array | null = null;
    if (fallback.length > 0) {
      fb = new Uint8Array(fallbackBytes);
      let o = 0;
      for (const l of fallback) {
        fb.set(l, o);
        o += l.length;
        fb[o++] = 0x0a;
      }
    }
    const counts = [...this.skipCounts.values()];
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
      fallback: fb,
      fallbackEvents: fallback.length,
    };
    this.threads = [];
    this.meta = [];
    return r;
  }

  /**
   * Imports one line in JavaScript: on the parser's fast path, or added to `fallback` for
   * DuckDB. @returns true when imported here.
   * @throws SpeculationError when a line-mode line is not one JSON object.
   */
  private importLine(
    bytes: Uint8Array,
    lineStart: number,
    to: number,
    seq: number,
    implicit: boolean,
    fallback: Uint8Array[],
  ): boolean {
    let ok = this.parser.parse(bytes, lineStart, to, implicit ? seq : -1) && this.routeFast(bytes);
    // A lone surrogate escape (`\ud800`) is kept as U+FFFD rather than losing the event.
    if (!ok && replaceLoneSurrogateEscapes(bytes, lineStart, to)) {
      ok = this.parser.parse(bytes, lineStart, to, implicit ? seq : -1) && this.routeFast(bytes);
    }
    if (ok) return true;
    // Not on the fast path: DuckDB imports it, if it is one JSON object (line mode takes
    // lines for events unchecked: this is where such a line is checked).
    if (!isOneObject(bytes, lineStart, to)) {
      throw new SpeculationError(
        `event ${seq} is not a single JSON object on its line (line mode); frame the input again without it`,
      );
    }
    fallback.push(implicit ? withSeqPrefix(bytes, lineStart, to, seq) : bytes.subarray(lineStart, to));
    return false;
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
   * Adds the rows DuckDB made of the batch's fallback events (only those going to a block),
   * then writes out the rows that are due: a group's rows accumulate over batches until it holds
   * `blockBytes`, or until all groups together hold more than `bufferBytes` (then the largest
   * are written until half that is left). Rows
   * written out are appended to the group's block file as row groups (block_file.ts); a block
   * file is finished, and returned here, once it is full, or when the unfinished files' footers
   * hold more than BLOCK_FILE_META_BUDGET (the fullest first). Memory is thus bounded by
   * `bufferBytes` plus one batch plus that budget.
   * @returns the blocks finished (most are finished by `flushAll`, at the end of the input).
   * @throws the file system's error when a block file cannot be written.
   */
  finishBatch(rows: readonly FallbackRow[]): BatchBlock[] {
    for (const r of rows) this.addRow(r);
    const out: BatchBlock[] = [];
    let total = 0;
    const sized: [Group, number][] = [];
    for (const g of this.live) {
      const n = this.groupBytes(g);
      if (n >= this.blockBytes) this.writeRows(g, out);
      else {
        total += n;
        sized.push([g, n]);
      }
    }
    if (total > this.bufferBytes) {
      sized.sort((a, b) => b[1] - a[1]);
      for (const [g, n] of sized) {
        if (total <= this.bufferBytes / 2) break;
        this.writeRows(g, out);
        total -= n;
      }
    }
    return out;
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
  flushAll(): BatchBlock[] {
    const out: BatchBlock[] = [];
    for (const g of [...this.live]) this.writeRows(g, out);
    for (const g of [...this.open]) this.finishFile(g, out);
    return out;
  }

  /**
   * Appends a group's rows to its block file (created on first use) and starts the group
   * afresh: one or more row groups for the rows imported in JavaScript, then for those of the
   * WebAssembly fast path (each when it holds rows). Pushes the block onto `out` when the file
   * is full.
   */
  private writeRows(g: Group, out: BatchBlock[]): void {
    const meta0 = g.file?.metaBytes ?? 0;
    const b = g.builder;
    if (b.rows > 0) {
      const range = b.range();
      this.fileOf(g).append(b.rows, b.columns(), range.begin, range.end);
      // The builder is reused (no new buffers per block: fresh memory for every block kept
      // RSS high), unless it grew well past this block's size.
      const cap = b.capacity();
      if (cap > 4 * 1024 * 1024 && cap > 3 * b.bytes()) g.builder = new BlockBuilder();
      else b.reset();
    }
    if (g.native >= 0 && this.fast) {
      const nb = this.fast.block(g.native);
      if (nb.rows > 0) this.fileOf(g).append(nb.rows, nb.columns, nb.begin, nb.end);
      this.fast.reset(g.native);
    }
    this.live.delete(g);
    this.openMeta += (g.file?.metaBytes ?? 0) - meta0;
    if (g.file?.full) this.finishFile(g, out);
    if (this.openMeta > BLOCK_FILE_META_BUDGET) this.boundFooters(out);
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
      g.file = new BlockFileWriter(join(this.blocksDir, `${crypto.randomUUID()}.parquet`), this.compress);
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

  private count(ph: string, dest: Destination, reason: string | null): void {
    const key = `${ph}\u0000${dest}\u0000${reason}`;
    const prev = this.skipCounts.get(key);
    if (prev) prev.count++;
    else this.skipCounts.set(key, { ph, dest, reason, count: 1 });
  }

  private noteThread(pid: string, tid: string): void {
    const k = `${pid}\u0000${tid}`;
    if (this.seenThreads.has(k)) return;
    this.seenThreads.add(k);
    this.threads.push([pid, tid]);
  }

  /** The group of (pid, tid, destination), noting the thread. */
  private groupFor(pid: string, tid: string, dest: number): Group {
    this.noteThread(pid, tid);
    const gt = dest === D_CPU ? tid : "";
    const key = `${pid}\u0000${gt}\u0000${dest}`;
    let g = this.groups.get(key);
    if (!g) {
      g = { pid, tid: gt, dest, builder: new BlockBuilder(), native: -1, file: null };
      this.groups.set(key, g);
    }
    return g;
  }

  private builderOf(g: Group): BlockBuilder {
    const b = g.builder;
    if (b.rows === 0) this.live.add(g);
    return b;
  }

  /** Adds a row DuckDB made (dest cpu, log or metrics). */
  private addRow(r: FallbackRow): void {
    const dest = r.dest === "log" ? D_LOG : r.dest === "metrics" ? D_METRICS : D_CPU;
    const b = this.builderOf(this.groupFor(r.pid as string, r.tid as string, dest));
    b.beginRow();
    setNs(b, C_SEQ, nsValue(r.seq));
    b.noteSeq(Number(r.seq));
    setStr(b, C_PH, r.ph);
    const ts = nsValue(r.ts_ns);
    const dur = nsValue(r.dur_ns);
    setNs(b, C_TIME, ts);
    setNs(b, C_DUR, dur);
    setNs(b, C_TTS, nsValue(r.tts_ns));
    setNs(b, C_TDUR, nsValue(r.tdur_ns));
    if (ts !== null) b.noteRange(ts, dur);
    setStr(b, C_TID, r.tid);
    setStr(b, C_NAME, r.name);
    setStr(b, C_CAT, r.cat);
    setStr(b, C_ID, r.aid);
    setStr(b, C_ID_SCOPE, r.id_scope);
    setStr(b, C_SCOPE, r.scope);
    setStr(b, C_S, r.s);
    setStr(b, C_BP, r.bp);
    setStr(b, C_BIND_ID, r.bind_id);
    if (r.flow_in === null) b.setNull(C_FLOW_IN);
    else b.setBool(C_FLOW_IN, r.flow_in);
    if (r.flow_out === null) b.setNull(C_FLOW_OUT);
    else b.setBool(C_FLOW_OUT, r.flow_out);
    setStr(b, C_ARGS, r.args);
  }

  /** Text of a field as DuckDB's VARCHAR column would hold it, as a JS string (null for NULL). */
  private fieldText(buf: Uint8Array, f: number): string | null {
    const p = this.parser;
    const k = p.kind[f] as number;
    const s = p.start[f] as number;
    const e = p.end[f] as number;
    switch (k) {
      case V_MISSING:
      case V_NULL:
        return null;
      case V_STR:
        if (((p.flags[f] as number) & FL_ESC) !== 0) return JSON.parse(decoder.decode(buf.subarray(s - 1, e + 1)));
        return decoder.decode(buf.subarray(s, e));
      case V_TRUE:
        return "true";
      case V_FALSE:
        return "false";
      default: {
        const n = this.canonical(buf, f);
        return decoder.decode(this.scratch.subarray(0, n));
      }
    }
  }

  /** Writes the canonical text of a number or nested field to `scratch`; returns its length. */
  private canonical(buf: Uint8Array, f: number): number {
    const p = this.parser;
    const s = p.start[f] as number;
    const e = p.end[f] as number;
    if (this.scratch.length < e - s) this.scratch = new Uint8Array(Math.max(e - s, this.scratch.length * 2));
    if (p.kind[f] === V_NUM) return writeCanonicalNumber(buf, s, e, this.scratch, 0);
    if (((p.flags[f] as number) & FL_REWRITE) === 0) {
      this.scratch.set(buf.subarray(s, e));
      return e - s;
    }
    return writeMinified(buf, s, e, this.scratch, 0);
  }

  /** Sets a VARCHAR column from a field (null when missing or JSON null). */
  private setText(b: BlockBuilder, c: number, buf: Uint8Array, f: number): void {
    const p = this.parser;
    const k = p.kind[f] as number;
    const fl = p.flags[f] as number;
    // A string without escapes, or a number whose text is canonical (no FL_REWRITE: see
    // event_parser.ts), is stored as written.
    if ((k === V_STR && (fl & FL_ESC) === 0) || (k === V_NUM && fl === 0)) {
      b.setBytes(c, buf, p.start[f] as number, p.end[f] as number);
    } else if (k === V_MISSING || k === V_NULL) b.setNull(c);
    else if (k === V_STR) {
      const t = encoder.encode(this.fieldText(buf, f) as string);
      b.setBytes(c, t, 0, t.length);
    } else if (k === V_TRUE) b.setBytes(c, TRUE_BYTES, 0, 4);
    else if (k === V_FALSE) b.setBytes(c, FALSE_BYTES, 0, 5);
    else if (k === V_NUM || (p.flags[f] as number) & FL_REWRITE) {
      const n = this.canonical(buf, f);
      b.setBytes(c, this.scratch, 0, n);
    } else b.setBytes(c, buf, p.start[f] as number, p.end[f] as number);
  }

  /**
   * The µs → ns conversion of `tl_us_to_ns` (see chrome_json.ts) for field `f`: NaN for NULL,
   * a safe integer, or +Infinity with the value in `this.big[f]`; -Infinity when the text is
   * outside what this implements (then DuckDB imports the event). Numbers only, so that the
   * JIT keeps one representation.
   */
  private nsOf(buf: Uint8Array, f: number): number {
    const p = this.parser;
    const k = p.kind[f] as number;
    if (k === V_MISSING || k === V_NULL) return Number.NaN;
    if (k === V_TRUE || k === V_FALSE) return Number.NaN; // TRY_CAST('true' AS HUGEINT) is NULL
    let src = buf;
    let s = p.start[f] as number;
    let e = p.end[f] as number;
    if (k === V_NUM) {
      if (((p.flags[f] as number) & FL_REWRITE) !== 0) {
        e = this.canonical(buf, f);
        s = 0;
        src = this.scratch;
      }
    } else if (k === V_STR) {
      if (((p.flags[f] as number) & FL_ESC) !== 0) return Number.NEGATIVE_INFINITY;
      // Only the plain decimal forms: -?digits(.digits)?
      let j = s;
      if (src[j] === 0x2d) j++;
      const d0 = j;
      while (j < e && (src[j] as number) >= 0x30 && (src[j] as number) <= 0x39) j++;
      if (j === d0) return Number.NEGATIVE_INFINITY;
      if (j < e) {
        if (src[j] !== 0x2e) return Number.NEGATIVE_INFINITY;
        j++;
        const f0 = j;
        while (j < e && (src[j] as number) >= 0x30 && (src[j] as number) <= 0x39) j++;
        if (j === f0 || j !== e) return Number.NEGATIVE_INFINITY;
      }
    } else return Number.NEGATIVE_INFINITY;
    const v = usTextToNs(src, s, e);
    if (v === null) return Number.NaN;
    if (typeof v === "number") return v;
    this.big[f] = v;
    return Number.POSITIVE_INFINITY;
  }

  /**
   * Finds id2's `$.local` / `$.global` (json_extract_string): 0 when absent (or id2 is
   * missing/null), 1 when found (text bytes at `memberS`/`memberE`, `memberNum` for a number),
   * -1 when not handled here.
   */
  private id2Member(buf: Uint8Array, want: Uint8Array): number {
    const p = this.parser;
    const k = p.kind[F_ID2] as number;
    if (k === V_MISSING || k === V_NULL) return 0;
    if (k !== V_OBJ) return -1;
    const e = p.end[F_ID2] as number;
    let i = skipWs(buf, (p.start[F_ID2] as number) + 1, e);
    if (buf[i] === 0x7d) return 0;
    for (;;) {
      // Key (validated; no escapes handled here).
      const ks = i + 1;
      let ke = ks;
      while (buf[ke] !== 0x22) {
        if (buf[ke] === 0x5c) return -1;
        ke++;
      }
      i = skipWs(buf, ke + 1, e);
      i = skipWs(buf, i + 1, e); // after ':'
      const vs = i;
      const b = buf[i] as number;
      let found: number;
      let ms = 0;
      let me = 0;
      let num = false;
      if (b === 0x22) {
        let ve = vs + 1;
        while (buf[ve] !== 0x22) {
          if (buf[ve] === 0x5c) return -1;
          ve++;
        }
        found = 1;
        ms = vs + 1;
        me = ve;
        i = ve + 1;
      } else if (b === 0x2d || (b >= 0x30 && b <= 0x39)) {
        let ve = vs;
        while (ve < e && buf[ve] !== 0x2c && buf[ve] !== 0x7d && buf[ve] !== 0x20 && buf[ve] !== 0x09) ve++;
        found = 1;
        ms = vs;
        me = ve;
        num = true;
        i = ve;
      } else found = -1; // nested, literal: left to DuckDB
      let same = ke - ks === want.length;
      for (let x = 0; same && x < want.length; x++) if (buf[ks + x] !== want[x]) same = false;
      if (same) {
        this.memberS = ms;
        this.memberE = me;
        this.memberNum = num;
        return found;
      }
      if (found < 0) return -1;
      i = skipWs(buf, i, e);
      if (buf[i] === 0x2c) {
        i = skipWs(buf, i + 1, e);
        continue;
      }
      return 0;
    }
  }

  /** Counts an event that is not imported (phase missing or not imported). */
  private skipPhase(phByte: number, ph: string | null, known: boolean): void {
    const p = this.parser;
    const phKind = p.kind[F_PH] as number;
    const label = known || ph === null ? (phByte === 0 ? "" : String.fromCharCode(phByte)) : ph.slice(0, 16);
    if (phKind === V_MISSING || phKind === V_NULL || ph === "") this.count(label, "skipped", "ph missing");
    else this.count(label, "skipped", "phase not imported");
  }

  /** A metadata event: noted for the caller. @returns false when left to DuckDB. */
  private routeMeta(buf: Uint8Array): boolean {
    const p = this.parser;
    const pid = this.fieldText(buf, F_PID) as string;
    const tidK = p.kind[F_TID] as number;
    const tid = tidK === V_MISSING || tidK === V_NULL ? pid : (this.fieldText(buf, F_TID) as string);
    const argsK = p.kind[F_ARGS] as number;
    let args: string | null = null;
    if (argsK === V_STR && ((p.flags[F_ARGS] as number) & FL_NONCANON_ESC) !== 0) return false;
    if (argsK === V_STR)
      args = decoder.decode(buf.subarray((p.start[F_ARGS] as number) - 1, (p.end[F_ARGS] as number) + 1));
    else if (argsK !== V_MISSING && argsK !== V_NULL) args = this.fieldText(buf, F_ARGS);
    this.noteThread(pid, tid);
    this.meta.push({ seq: p.seq, pid, tid, name: this.fieldText(buf, F_NAME), args });
    this.count("M", "metadata", null);
    return true;
  }

  /**
   * Routes a parsed event: counts it, and writes it to its group's block unless skipped.
   * @returns false (with no effect) when the event must be left to DuckDB.
   */
  private routeFast(buf: Uint8Array): boolean {
    const p = this.parser;
    let phByte = 0;
    let ph: string | null = null;
    const phKind = p.kind[F_PH] as number;
    if (
      phKind === V_STR &&
      (p.flags[F_PH] as number) === 0 &&
      (p.end[F_PH] as number) - (p.start[F_PH] as number) === 1
    ) {
      phByte = buf[p.start[F_PH] as number] as number;
    } else {
      ph = this.fieldText(buf, F_PH);
      if (ph !== null && ph.length === 1) phByte = ph.charCodeAt(0);
      // left(ph, 16) counts characters: keep to ASCII here.
      if (ph !== null && !isAscii(ph)) return false;
    }
    const cls = phByte < 0x80 && (ph === null || ph.length === 1) ? (PHASE_CLASS[phByte] as number) : 0;
    if (cls === 0 || phKind === V_MISSING || phKind === V_NULL) {
      this.skipPhase(phByte, ph, cls !== 0);
      return true;
    }
    const pidKind = p.kind[F_PID] as number;
    if (pidKind === V_MISSING || pidKind === V_NULL) {
      this.count(String.fromCharCode(phByte), "skipped", "pid missing");
      return true;
    }
    if (cls === PC_META) return this.routeMeta(buf);
    const ts = this.nsOf(buf, F_TS);
    const dur = this.nsOf(buf, F_DUR);
    const tts = this.nsOf(buf, F_TTS);
    const tdur = this.nsOf(buf, F_TDUR);
    if (
      ts === Number.NEGATIVE_INFINITY ||
      dur === Number.NEGATIVE_INFINITY ||
      tts === Number.NEGATIVE_INFINITY ||
      tdur === Number.NEGATIVE_INFINITY
    )
      return false;
    // Async id: id, else id2.local, else id2.global.
    const idKind = p.kind[F_ID] as number;
    const hasId = idKind !== V_MISSING && idKind !== V_NULL;
    let member = 0; // 0: none, 1: local, 2: global
    if (!hasId) {
      const l = this.id2Member(buf, LOCAL_BYTES);
      if (l < 0) return false;
      if (l === 1) member = 1;
      else {
        const g = this.id2Member(buf, GLOBAL_BYTES);
        if (g < 0) return false;
        if (g === 1) member = 2;
      }
    }
    const argsKind = p.kind[F_ARGS] as number;
    if (argsKind === V_STR && ((p.flags[F_ARGS] as number) & FL_NONCANON_ESC) !== 0) return false;
    const reason = this.skipReason(buf, phByte, cls, ts, dur, hasId || member !== 0);
    if (reason !== null) {
      this.count(String.fromCharCode(phByte), "skipped", reason);
      return true;
    }
    const dest = cls === PC_LOG ? D_LOG : cls === PC_METRICS ? D_METRICS : D_CPU;
    const b = this.builderOf(this.groupFast(buf, dest));
    const ci = phByte * 3 + dest;
    this.fastCounts[ci] = (this.fastCounts[ci] as number) + 1;
    b.beginRow();
    b.setI64(C_SEQ, p.seq);
    b.noteSeq(p.seq);
    b.setByte(C_PH, phByte);
    this.setNsField(b, C_TIME, F_TS, ts);
    this.setNsField(b, C_DUR, F_DUR, dur);
    this.setNsField(b, C_TTS, F_TTS, tts);
    this.setNsField(b, C_TDUR, F_TDUR, tdur);
    if (ts === Number.POSITIVE_INFINITY || dur === Number.POSITIVE_INFINITY) {
      // (`big` holds a field's value only when nsOf gave +Infinity for it: the other may be
      // a stale value of an earlier event.)
      b.noteRange(
        ts === Number.POSITIVE_INFINITY ? (this.big[F_TS] as bigint) : ts,
        dur === Number.POSITIVE_INFINITY ? (this.big[F_DUR] as bigint) : Number.isNaN(dur) ? null : dur,
      );
    } else b.noteRange(ts, Number.isNaN(dur) ? null : dur);
    this.writeTexts(buf, b, hasId, member);
    return true;
  }

  /** The skip reason of an event whose phase and pid are fine, or null. */
  private skipReason(
    buf: Uint8Array,
    phByte: number,
    cls: number,
    ts: number,
    dur: number,
    hasId: boolean,
  ): string | null {
    const p = this.parser;
    const tsKind = p.kind[F_TS] as number;
    if (tsKind === V_MISSING || tsKind === V_NULL) return "ts missing";
    if (Number.isNaN(ts)) return "ts not a number or out of range";
    if (phByte === 0x58) {
      if (Number.isNaN(dur)) return "X without a numeric dur";
      if (dur === Number.POSITIVE_INFINITY ? (this.big[F_DUR] as bigint) < 0n : dur < 0) return "X with a negative dur";
    }
    if (cls === PC_ASYNC && !hasId) return "async event without id or id2";
    if (cls === PC_FLOW && !hasId) {
      const bk = p.kind[F_BIND_ID] as number;
      if (bk === V_MISSING || bk === V_NULL) return "flow event without id";
    }
    if (cls === PC_METRICS) {
      if (p.kind[F_ARGS] !== V_OBJ) return "counter without args";
      let j = (p.start[F_ARGS] as number) + 1;
      while (buf[j] === 0x20 || buf[j] === 0x09 || buf[j] === 0x0a || buf[j] === 0x0d) j++;
      if (buf[j] === 0x7d) return "counter without args";
    }
    return null;
  }

  private setNsField(b: BlockBuilder, c: number, f: number, v: number): void {
    if (Number.isNaN(v)) b.setNull(c);
    else if (v === Number.POSITIVE_INFINITY) b.setI64Big(c, this.big[f] as bigint);
    else b.setI64(c, v);
  }

  /** Writes the text and JSON columns of the current row. */
  private writeTexts(buf: Uint8Array, b: BlockBuilder, hasId: boolean, member: number): void {
    const p = this.parser;
    const tidK = p.kind[F_TID] as number;
    this.setText(b, C_TID, buf, tidK === V_MISSING || tidK === V_NULL ? F_PID : F_TID);
    this.setText(b, C_NAME, buf, F_NAME);
    this.setText(b, C_CAT, buf, F_CAT);
    if (hasId) {
      this.setText(b, C_ID, buf, F_ID);
      b.setBytes(C_ID_SCOPE, GLOBAL_BYTES, 0, GLOBAL_BYTES.length);
    } else if (member !== 0) {
      // id2Member left the member found last in memberS/E; local is looked up first, and
      // global only when local is absent, so it is the right one.
      if (this.memberNum) {
        if (this.scratch.length < this.memberE - this.memberS)
          this.scratch = new Uint8Array(this.memberE - this.memberS);
        const len = writeCanonicalNumber(buf, this.memberS, this.memberE, this.scratch, 0);
        b.setBytes(C_ID, this.scratch, 0, len);
      } else b.setBytes(C_ID, buf, this.memberS, this.memberE);
      const sc = member === 1 ? LOCAL_BYTES : GLOBAL_BYTES;
      b.setBytes(C_ID_SCOPE, sc, 0, sc.length);
    } else {
      b.setNull(C_ID);
      b.setNull(C_ID_SCOPE);
    }
    this.setText(b, C_SCOPE, buf, F_SCOPE);
    this.setText(b, C_S, buf, F_S);
    this.setText(b, C_BP, buf, F_BP);
    this.setText(b, C_BIND_ID, buf, F_BIND_ID);
    this.setFlow(b, C_FLOW_IN, buf, F_FLOW_IN);
    this.setFlow(b, C_FLOW_OUT, buf, F_FLOW_OUT);
    // args as JSON text.
    const argsKind = p.kind[F_ARGS] as number;
    if (argsKind === V_MISSING || argsKind === V_NULL) b.setNull(C_ARGS);
    else if (argsKind === V_STR)
      b.setBytes(C_ARGS, buf, (p.start[F_ARGS] as number) - 1, (p.end[F_ARGS] as number) + 1);
    else if (argsKind === V_TRUE) b.setBytes(C_ARGS, TRUE_BYTES, 0, 4);
    else if (argsKind === V_FALSE) b.setBytes(C_ARGS, FALSE_BYTES, 0, 5);
    else if (((p.flags[F_ARGS] as number) & FL_REWRITE) === 0 && argsKind !== V_NUM) {
      b.setBytes(C_ARGS, buf, p.start[F_ARGS] as number, p.end[F_ARGS] as number);
    } else {
      const s = p.start[F_ARGS] as number;
      const e = p.end[F_ARGS] as number;
      const out = b.reserve(C_ARGS, e - s);
      const at = b.valuesAt(C_ARGS);
      const end = argsKind === V_NUM ? writeCanonicalNumber(buf, s, e, out, at) : writeMinified(buf, s, e, out, at);
      b.commitBytes(C_ARGS, end - at);
    }
  }

  private setFlow(b: BlockBuilder, c: number, buf: Uint8Array, f: number): void {
    const p = this.parser;
    const k = p.kind[f] as number;
    if (k === V_MISSING || k === V_NULL) b.setNull(c);
    else if (k === V_TRUE) b.setBool(c, true);
    else if (k === V_STR) b.setBool(c, this.fieldText(buf, f) === "true");
    else b.setBool(c, false);
  }

  /**
   * The group (future block) of a fast-path event, found by the raw bytes of its pid and tid
   * values (and their kinds), noting the thread on first sight.
   */
  private groupFast(buf: Uint8Array, dest: number): Group {
    const p = this.parser;
    const pk = p.kind[F_PID] as number;
    const tk = p.kind[F_TID] as number;
    const ps = p.start[F_PID] as number;
    const pe = p.end[F_PID] as number;
    const ts = p.start[F_TID] as number;
    const te = p.end[F_TID] as number;
    const pf = p.flags[F_PID] as number;
    const tf = p.flags[F_TID] as number;
    // The common case, small integer pid and tid (or no tid): one numeric map lookup.
    if (pk === V_NUM && pf === 0) {
      const pv = smallUint(buf, ps, pe);
      const tv = tk === V_MISSING || tk === V_NULL ? pv : tk === V_NUM && tf === 0 ? smallUint(buf, ts, te) : -1;
      if (pv >= 0 && tv >= 0) {
        const key = (pv * 16777216 + tv) * 4 + dest;
        let g = this.numGroups.get(key);
        if (!g) {
          g = this.groupSlow(buf, dest, pk, tk, ps, pe, ts, te, pf, tf);
          this.numGroups.set(key, g);
        }
        return g;
      }
    }
    return this.groupSlow(buf, dest, pk, tk, ps, pe, ts, te, pf, tf);
  }

  /** groupFast for any pid/tid values: by a hash of their raw bytes. */
  private groupSlow(
    buf: Uint8Array,
    dest: number,
    pk: number,
    tk: number,
    ps: number,
    pe: number,
    ts: number,
    te: number,
    pf: number,
    tf: number,
  ): Group {
    let h = (dest * 31 + pk * 7 + tk + pf * 131 + tf * 257) | 0;
    for (let k = ps; k < pe; k++) h = (Math.imul(h, 31) + (buf[k] as number)) | 0;
    h = (Math.imul(h, 17) + 0x9e37) | 0;
    const tidPresent = tk !== V_MISSING && tk !== V_NULL;
    if (tidPresent) for (let k = ts; k < te; k++) h = (Math.imul(h, 31) + (buf[k] as number)) | 0;
    const plen = pe - ps;
    const tlen = tidPresent ? te - ts : 0;
    const list = this.cache.get(h);
    if (list) {
      for (const en of list) {
        const key = en.key;
        if (
          key.length === plen + tlen + 6 &&
          key[0] === dest &&
          key[1] === pk &&
          key[2] === (tidPresent ? tk : 0) &&
          key[3] === pf &&
          key[4] === (tidPresent ? tf : 0) &&
          key[5] === plen
        ) {
          let same = true;
          for (let k = 0; k < plen && same; k++) if (key[6 + k] !== buf[ps + k]) same = false;
          for (let k = 0; k < tlen && same; k++) if (key[6 + plen + k] !== buf[ts + k]) same = false;
          if (same) return en.group;
        }
      }
    }
    const pid = this.fieldText(buf, F_PID) as string;
    const tid = tidPresent ? (this.fieldText(buf, F_TID) as string) : pid;
    const group = this.groupFor(pid, tid, dest);
    if (plen < 256) {
      const key = new Uint8Array(plen + tlen + 6);
      key[0] = dest;
      key[1] = pk;
      key[2] = tidPresent ? tk : 0;
      key[3] = pf;
      key[4] = tidPresent ? tf : 0;
      key[5] = plen;
      key.set(buf.subarray(ps, pe), 6);
      if (tidPresent) key.set(buf.subarray(ts, te), 6 + plen);
      const en: CacheEntry = { key, group };
      if (list) list.push(en);
      else this.cache.set(h, [en]);
    }
    return group;
  }
}

/** A row of DuckDB's batch table, as read back for the events it imported. */
export interface FallbackRow {
  seq: bigint | null;
  ph: string | null;
  ts_ns: bigint | null;
  dur_ns: bigint | null;
  tts_ns: bigint | null;
  tdur_ns: bigint | null;
  pid: string | null;
  tid: string | null;
  name: string | null;
  cat: string | null;
  aid: string | null;
  id_scope: string | null;
  scope: string | null;
  s: string | null;
  bp: string | null;
  bind_id: string | null;
  flow_in: boolean | null;
  flow_out: boolean | null;
  args: string | null;
  skip_reason: string | null;
  dest: Destination;
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
 * validated (DuckDB does that).
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

/** `{"__seq":N,` + the object `b[s, e)` after its `{` (as the framer writes a line; `{}` keeps no comma). */
function withSeqPrefix(b: Uint8Array, s: number, e: number, seq: number): Uint8Array {
  let k = s + 1;
  while (k < e && isWsByte(b[k] as number)) k++;
  const head = encoder.encode(`{"${SEQ_KEY}":${seq}${b[k] === 0x7d ? " " : ","}`);
  const out = new Uint8Array(head.length + e - s - 1);
  out.set(head, 0);
  out.set(b.subarray(s + 1, e), head.length);
  return out;
}

function isWsByte(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

/** A BIGINT from DuckDB as a safe integer when it is one. */
export function nsValue(v: bigint | null): Ns {
  if (v === null) return null;
  return v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v;
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

function isAscii(s: string): boolean {
  for (let k = 0; k < s.length; k++) if (s.charCodeAt(k) > 0x7f) return false;
  return true;
}

/** Rounds half away from zero, as DuckDB's round(DOUBLE). */
function roundAway(v: number): number {
  const t = Math.trunc(v);
  const d = v - t;
  if (d >= 0.5) return t + 1;
  if (d <= -0.5) return t - 1;
  return t;
}

function digitsValue(buf: Uint8Array, s: number, e: number): number {
  let v = 0;
  for (let k = s; k < e; k++) v = v * 10 + ((buf[k] as number) - 0x30);
  return v;
}

function digitsBig(buf: Uint8Array, s: number, e: number): bigint {
  return e > s ? BigInt(decoder.decode(buf.subarray(s, e))) : 0n;
}

const POW10 = [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];
const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;

/**
 * `tl_us_to_ns` on a text of the form -?digits(.digits)? (ASCII bytes `buf[s, e)`).
 * @returns ns as a safe integer or bigint, or null (the macro's NULL).
 */
export function usTextToNs(buf: Uint8Array, s: number, e: number): Ns {
  const len = e - s;
  let dot = -1;
  for (let k = s; k < e; k++) {
    if (buf[k] === 0x2e) {
      dot = k;
      break;
    }
  }
  const neg = buf[s] === 0x2d;
  const d0 = neg ? s + 1 : s;
  if (dot < 0) {
    if (len > 17) return null;
    if (e - d0 <= 12) {
      const v = digitsValue(buf, d0, e) * 1000;
      return neg ? (v === 0 ? 0 : -v) : v;
    }
    const v = digitsBig(buf, d0, e) * 1000n * (neg ? -1n : 1n);
    return v < I64_MIN || v > I64_MAX ? null : nsValue(v);
  }
  if (len <= 15) {
    // At most 14 digits: the mantissa is exact and one division is correctly rounded, as
    // DuckDB's VARCHAR → DOUBLE cast.
    let m = 0;
    for (let k = d0; k < e; k++) if (k !== dot) m = m * 10 + ((buf[k] as number) - 0x30);
    const x = m / (POW10[e - dot - 1] as number);
    const r = roundAway((neg ? -x : x) * 1000);
    if (!(r >= -TWO63 && r < TWO63)) return null;
    return Number.isSafeInteger(r) ? (Object.is(r, -0) ? 0 : r) : BigInt(r);
  }
  if (dot - s > 17) return null;
  let frac = 0;
  for (let k = 0; k < 3; k++) {
    const c = dot + 1 + k < e ? (buf[dot + 1 + k] as number) - 0x30 : 0;
    frac = frac * 10 + c;
  }
  if (dot - d0 <= 12) {
    const v = digitsValue(buf, d0, dot) * 1000 + frac;
    // HUGEINT(int part) × 1000 + sign × frac: the integer part keeps its own sign.
    return neg ? (v === 0 ? 0 : -v) : v;
  }
  const v = (digitsBig(buf, d0, dot) * 1000n + BigInt(frac)) * (neg ? -1n : 1n);
  return v < I64_MIN || v > I64_MAX ? null : nsValue(v);
}
