/**
 * Column builders for one raw block (rows of one stream), in the PLAIN layout that
 * `parquet_writer.ts` writes. Values are appended row by row, column by column; every append
 * of a row must set every column exactly once (`null*` for a missing value).
 */
import { RAW_BLOCK_COLUMNS, ROW_GROUP_ROWS } from "../../lake/raw_block.ts";
import { BufferPool } from "./buffer_pool.ts";
import type { ColumnData } from "./parquet_writer.ts";

const TWO32 = 4294967296;
if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) {
  throw new Error("tracelake's block builder needs a little-endian machine");
}
const MAX_SAFE = Number.MAX_SAFE_INTEGER;
/** One 64-bit scratch value and its two 32-bit words (little-endian: checked above), for `setI64Big`. */
const I64_SCRATCH = new BigInt64Array(1);
const I32_SCRATCH = new Int32Array(I64_SCRATCH.buffer);

/**
 * Rows a new builder has room for before its buffers first grow (doubling). Small: a trace has a
 * builder per thread and most threads hold few events, and every fresh page costs a page fault
 * (~15-30 µs on the 2-core VM we measure on: 8 KiB per column made 110 threads' builders fault
 * in ~20 MB of zeroes on the Perfetto sample).
 */
const INITIAL_ROWS = 64;
const EMPTY = new Uint8Array(0);

/**
 * Free column buffers for builders to grow into (every builder buffer has a power-of-two
 * capacity: the initial sizes are powers of two and buffers double). A buffer a builder outgrew,
 * or one of a builder that is dropped (`BlockBuilder.release`), is kept for the next builder
 * that grows instead of allocating a new one: on the 33.5 MB real Chromium protobuf trace those
 * growths were half of the ingest's 190K page faults and most of its RSS growth, as the garbage
 * buffers were only freed at the next full GC. Handed out dirty: every row sets every column
 * (file comment), so no byte of an old row is read. One module-level pool per thread (a
 * worker's builders have their own).
 */
const pool = new BufferPool(8 * 1024 * 1024);

/** A buffer of `cap` bytes (a power of two), from the pool when one is free. */
function takeBuffer(cap: number): Uint8Array {
  return pool.take(cap);
}

/** Gives a buffer no longer referenced by its builder to the pool. */
function giveBuffer(b: Uint8Array): void {
  pool.give(b);
}

/** One growable column. */
class Col {
  values: Uint8Array;
  /** `values` as 32-bit words, for INT64 columns (whose values are all 8 bytes, so aligned). */
  words: Int32Array;
  len = 0;
  defs: Uint8Array;
  groupStarts: number[] = [];

  constructor(initial: number, rows: number) {
    this.values = takeBuffer(initial);
    this.words = new Int32Array(this.values.buffer, 0, initial >> 2);
    this.defs = takeBuffer(rows);
  }

  ensure(n: number): void {
    if (this.len + n <= this.values.length) return;
    growCol(this, n);
  }
}

/**
 * Makes room for `n` more bytes in `col`. A module function rather than a method: the hot
 * writers call it rarely, and a call to a constant needs no inline cache, so fewer of
 * JavaScriptCore's optimized importer functions leave (OSR exit, "InadequateCoverage") and are
 * compiled again when a buffer first grows after optimization. The same goes for `growDefs`.
 */
function growCol(col: Col, n: number): void {
  let cap = col.values.length * 2;
  while (cap < col.len + n) cap *= 2;
  const next = takeBuffer(cap);
  next.set(col.values.subarray(0, col.len));
  giveBuffer(col.values);
  col.values = next;
  col.words = new Int32Array(next.buffer, 0, cap >> 2);
}

/** Gives every column's definition levels room for `cap` rows (see `growCol`). */
function growDefs(cols: Col[], cap: number, rows: number): void {
  for (let k = 0; k < cols.length; k++) {
    const c = cols[k] as Col;
    const d = takeBuffer(cap);
    d.set(c.defs.subarray(0, rows));
    giveBuffer(c.defs);
    c.defs = d;
  }
}

/** Builds the columns of one raw block. */
export class BlockBuilder {
  rows = 0;
  private readonly cols: Col[];
  /** Min event time and max event end (time + max(dur, 0)) in ns, when all were safe integers. */
  minTime = Number.POSITIVE_INFINITY;
  maxEnd = Number.NEGATIVE_INFINITY;
  /** The same as bigint, used once a value is outside the safe integer range. */
  minTimeBig: bigint | null = null;
  maxEndBig: bigint | null = null;
  /** Max event time (ns), for the `time` column statistics. */
  maxTime = Number.NEGATIVE_INFINITY;
  maxTimeBig: bigint | null = null;
  minSeq = Number.POSITIVE_INFINITY;
  maxSeq = Number.NEGATIVE_INFINITY;
  private defCap = INITIAL_ROWS;

  constructor() {
    this.cols = RAW_BLOCK_COLUMNS.map(() => new Col(INITIAL_ROWS * 8, INITIAL_ROWS));
  }

  /** Bytes of column data held (values and levels). */
  bytes(): number {
    let n = this.rows * this.cols.length;
    for (const c of this.cols) n += c.len;
    return n;
  }

  /** Bytes allocated for column data (values and levels). */
  capacity(): number {
    let n = 0;
    for (const c of this.cols) n += c.values.length + c.defs.length;
    return n;
  }

  /** Empties the builder for reuse (keeps its buffers). */
  reset(): void {
    this.rows = 0;
    for (const c of this.cols) {
      c.len = 0;
      c.groupStarts = [];
    }
    this.minTime = Number.POSITIVE_INFINITY;
    this.maxEnd = Number.NEGATIVE_INFINITY;
    this.maxTime = Number.NEGATIVE_INFINITY;
    this.minTimeBig = null;
    this.maxEndBig = null;
    this.maxTimeBig = null;
    this.minSeq = Number.POSITIVE_INFINITY;
    this.maxSeq = Number.NEGATIVE_INFINITY;
  }

  /**
   * Gives the builder's buffers to the pool of growing builders; the builder must not be used
   * afterwards (nor the arrays `columns()` returned, once their rows are written out).
   */
  release(): void {
    for (const c of this.cols) {
      giveBuffer(c.values);
      giveBuffer(c.defs);
      c.values = EMPTY;
      c.words = new Int32Array(0);
      c.defs = EMPTY;
      c.len = 0;
    }
    this.rows = 0;
  }

  /** Starts a row; returns its index. */
  beginRow(): number {
    const r = this.rows;
    if (r === this.defCap) {
      this.defCap *= 2;
      growDefs(this.cols, this.defCap, r);
    }
    if (r % ROW_GROUP_ROWS === 0) for (const c of this.cols) c.groupStarts.push(c.len);
    this.rows = r + 1;
    return r;
  }

  /** Sets column `c` of the current row to null. */
  setNull(c: number): void {
    (this.cols[c] as Col).defs[this.rows - 1] = 0;
  }

  /** Sets an INT64 column from a safe integer (a double). */
  setI64(c: number, v: number): void {
    const col = this.cols[c] as Col;
    col.defs[this.rows - 1] = 1;
    if (col.len + 8 > col.values.length) growCol(col, 8);
    const hi = Math.floor(v / TWO32);
    const lo = v - hi * TWO32;
    // Little-endian words (the Parquet PLAIN layout; x86 and ARM are little-endian, checked
    // at load).
    const w = col.words;
    const p = col.len;
    w[p >> 2] = lo | 0;
    w[(p >> 2) + 1] = hi | 0;
    col.len = p + 8;
  }

  /** Sets an INT64 column from a bigint (must fit in 64 bits, signed). */
  setI64Big(c: number, v: bigint): void {
    const col = this.cols[c] as Col;
    col.defs[this.rows - 1] = 1;
    if (col.len + 8 > col.values.length) growCol(col, 8);
    // Through a scratch word pair (a new DataView per value cost 4x as much: measured).
    I64_SCRATCH[0] = v;
    const w = col.words;
    const p = col.len;
    w[p >> 2] = I32_SCRATCH[0] as number;
    w[(p >> 2) + 1] = I32_SCRATCH[1] as number;
    col.len = p + 8;
  }

  /** Sets a BOOLEAN column. */
  setBool(c: number, v: boolean): void {
    const col = this.cols[c] as Col;
    col.defs[this.rows - 1] = 1;
    col.ensure(1);
    col.values[col.len++] = v ? 1 : 0;
  }

  /** Sets a VARCHAR/JSON column to the UTF-8 bytes `src[from, to)`. */
  setBytes(c: number, src: Uint8Array, from: number, to: number): void {
    const col = this.cols[c] as Col;
    col.defs[this.rows - 1] = 1;
    const n = to - from;
    if (col.len + n + 4 > col.values.length) growCol(col, n + 4);
    const b = col.values;
    let p = col.len;
    b[p++] = n & 0xff;
    b[p++] = (n >>> 8) & 0xff;
    b[p++] = (n >>> 16) & 0xff;
    b[p++] = n >>> 24;
    if (n < 160) for (let k = from; k < to; k++) b[p++] = src[k] as number;
    else {
      b.set(src.subarray(from, to), p);
      p += n;
    }
    col.len = p;
  }

  /** Sets a VARCHAR column to a one-byte ASCII value. */
  setByte(c: number, v: number): void {
    const col = this.cols[c] as Col;
    col.defs[this.rows - 1] = 1;
    if (col.len + 5 > col.values.length) growCol(col, 5);
    const b = col.values;
    const p = col.len;
    b[p] = 1;
    b[p + 1] = 0;
    b[p + 2] = 0;
    b[p + 3] = 0;
    b[p + 4] = v;
    col.len = p + 5;
  }

  /**
   * Reserves room for a VARCHAR/JSON value of at most `max` bytes, written by the caller at
   * `valuesAt()` after the 4-byte length; `commitBytes(c, n)` then sets its length.
   */
  reserve(c: number, max: number): Uint8Array {
    const col = this.cols[c] as Col;
    col.ensure(max + 4);
    return col.values;
  }

  /** Where the bytes of a reserved value go. */
  valuesAt(c: number): number {
    return (this.cols[c] as Col).len + 4;
  }

  /** Completes a reserved value of `n` bytes. */
  commitBytes(c: number, n: number): void {
    const col = this.cols[c] as Col;
    col.defs[this.rows - 1] = 1;
    const b = col.values;
    const p = col.len;
    b[p] = n & 0xff;
    b[p + 1] = (n >>> 8) & 0xff;
    b[p + 2] = (n >>> 16) & 0xff;
    b[p + 3] = n >>> 24;
    col.len = p + 4 + n;
  }

  /** Records an event's time range (ns) for the block's begin/end. */
  noteRange(time: number | bigint, dur: number | bigint | null): void {
    const d = dur === null ? 0 : dur;
    if (typeof time === "number" && typeof d === "number") {
      const end = time + (d > 0 ? d : 0);
      if (end <= MAX_SAFE && end >= -MAX_SAFE) {
        if (time < this.minTime) this.minTime = time;
        if (time > this.maxTime) this.maxTime = time;
        if (end > this.maxEnd) this.maxEnd = end;
        return;
      }
    }
    const t = BigInt(time);
    // Without a duration (async events, logs, measures) the end is the time: no BigInt arithmetic.
    const db = d === 0 ? 0n : BigInt(d);
    const e = db > 0n ? t + db : t;
    if (this.minTimeBig === null || t < this.minTimeBig) this.minTimeBig = t;
    if (this.maxTimeBig === null || t > this.maxTimeBig) this.maxTimeBig = t;
    if (this.maxEndBig === null || e > this.maxEndBig) this.maxEndBig = e;
  }

  /** Min time and max end in ns (null for a block without rows). */
  range(): { begin: bigint | null; end: bigint | null } {
    if (this.rows === 0) return { begin: null, end: null };
    let b = this.minTime === Number.POSITIVE_INFINITY ? null : BigInt(this.minTime);
    let e = this.maxEnd === Number.NEGATIVE_INFINITY ? null : BigInt(this.maxEnd);
    if (this.minTimeBig !== null && (b === null || this.minTimeBig < b)) b = this.minTimeBig;
    if (this.maxEndBig !== null && (e === null || this.maxEndBig > e)) e = this.maxEndBig;
    return { begin: b, end: e };
  }

  /** Max event time in ns (null for a block without rows). */
  maxTimeNs(): bigint | null {
    if (this.rows === 0) return null;
    let m = this.maxTime === Number.NEGATIVE_INFINITY ? null : BigInt(this.maxTime);
    if (this.maxTimeBig !== null && (m === null || this.maxTimeBig > m)) m = this.maxTimeBig;
    return m;
  }

  /** Records a row's seq for the `seq` column statistics. */
  noteSeq(seq: number): void {
    if (seq < this.minSeq) this.minSeq = seq;
    if (seq > this.maxSeq) this.maxSeq = seq;
  }

  /** The finished columns, for `encodeRowGroups` / `encodeRawBlock`. */
  columns(): ColumnData[] {
    const timeMin = this.range().begin;
    const timeMax = this.maxTimeNs();
    return this.cols.map((c, k) => {
      let min: Uint8Array | null = null;
      let max: Uint8Array | null = null;
      if (k === 0 && this.rows > 0) {
        min = i64Bytes(BigInt(this.minSeq));
        max = i64Bytes(BigInt(this.maxSeq));
      } else if (k === 2 && timeMin !== null && timeMax !== null) {
        min = i64Bytes(timeMin);
        max = i64Bytes(timeMax);
      }
      return { values: c.values, valuesLen: c.len, defs: c.defs, groupStarts: c.groupStarts, min, max };
    });
  }
}

/** The 8 little-endian bytes of a signed 64-bit value (a Parquet INT64 statistic). */
export function i64Bytes(v: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigInt64(0, v, true);
  return b;
}
