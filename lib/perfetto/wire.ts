/**
 * A protobuf wire writer for the Perfetto exporter's hot loop: varints, fixed64/double and
 * length-delimited fields written into one reusable, growing Uint8Array, with no allocation per
 * field. Nested messages reserve one length byte and shift their body when it turns out longer
 * (rare for TrackEvent-sized messages).
 *
 * Wire format: protobuf encoding guide (tag = field << 3 | wire type; 0 VARINT, 1 I64, 2 LEN);
 * reference/perfetto.md §1. Perfetto's protos are proto2: repeated scalars are written one tag
 * per element (unpacked), as protozero reads them.
 */
import { grownBytes } from "../bytes.ts";

const TWO32 = 4294967296;

/** Wire types (protobuf encoding guide). */
export const WT_VARINT = 0;
export const WT_I64 = 1;
export const WT_LEN = 2;

/**
 * Writes `v` (an integer, 0 ≤ v < 2^53) as a varint at `b[p]`; returns the position after it.
 * The caller guarantees 8 bytes of room (10 for values ≥ 2^49).
 */
export function putVarint(b: Uint8Array, p: number, v: number): number {
  if (v < 0x80) {
    b[p] = v;
    return p + 1;
  }
  if (v < 0x80000000) {
    let x = v;
    while (x >= 0x80) {
      b[p++] = (x & 0x7f) | 0x80;
      x >>>= 7;
    }
    b[p] = x;
    return p + 1;
  }
  const hi = Math.floor(v / TWO32);
  return putVarint64(b, p, hi, v - hi * TWO32);
}

/**
 * Writes the unsigned 64-bit value hi·2^32 + lo (hi, lo: integers in [0, 2^32)) as a varint at
 * `b[p]` (at most 10 bytes); returns the position after it.
 */
export function putVarint64(b: Uint8Array, p: number, hi: number, lo: number): number {
  let h = hi >>> 0;
  let l = lo >>> 0;
  while (h !== 0 || l >= 0x80) {
    b[p++] = (l & 0x7f) | 0x80;
    l = ((l >>> 7) | (h << 25)) >>> 0;
    h >>>= 7;
  }
  b[p] = l;
  return p + 1;
}

/** A growing byte buffer with protobuf field writers. */
export class ProtoWriter {
  /** The bytes written so far are `buf[0, pos)`. */
  buf: Uint8Array;
  pos = 0;
  private view: DataView;
  private readonly utf8 = new TextEncoder();
  /** Start offsets of open nested messages (positions of their 1-byte length placeholder). */
  private stack = new Int32Array(32);
  private depth = 0;

  /** @param capacity initial buffer size in bytes. */
  constructor(capacity = 1 << 16) {
    this.buf = new Uint8Array(capacity);
    this.view = new DataView(this.buf.buffer);
  }

  /** Makes room for `n` more bytes (callers of the put* helpers reserve before writing). */
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    this.buf = grownBytes(this.buf, this.pos, n);
    this.view = new DataView(this.buf.buffer);
  }

  /** Forgets everything written (keeps the capacity). */
  reset(): void {
    this.pos = 0;
    this.depth = 0;
  }

  /** Writes a non-negative integer < 2^53 as a varint. */
  varint(v: number): void {
    this.ensure(10);
    this.pos = putVarint(this.buf, this.pos, v);
  }

  /** Writes a 64-bit unsigned varint given as high and low 32-bit halves. */
  varint64(hi: number, lo: number): void {
    this.ensure(10);
    this.pos = putVarint64(this.buf, this.pos, hi, lo);
  }

  /** Writes a field tag. */
  tag(field: number, wireType: number): void {
    this.varint(field * 8 + wireType);
  }

  /** A VARINT field with a non-negative value < 2^53. */
  uint(field: number, v: number): void {
    this.ensure(13);
    this.pos = putVarint(this.buf, putVarint(this.buf, this.pos, field * 8 + WT_VARINT), v);
  }

  /** A VARINT int64 field (two's complement for negative values, 10 bytes; no zigzag). */
  int64(field: number, v: bigint): void {
    const u = BigInt.asUintN(64, v);
    this.varint(field * 8 + WT_VARINT);
    this.varint64(Number(u >> 32n), Number(u & 0xffffffffn));
  }

  /** A `fixed64` field from an unsigned 64-bit bigint (e.g. flow ids, wire type I64). */
  fixed64(field: number, v: bigint): void {
    this.varint(field * 8 + WT_I64);
    this.ensure(8);
    this.view.setBigUint64(this.pos, BigInt.asUintN(64, v), true);
    this.pos += 8;
  }

  /**
   * A `fixed64` field from the 32-bit words of a 64-bit value (low, high; signed or not, the
   * same 8 bytes): as `fixed64` without a BigInt.
   */
  fixed64Words(field: number, lo: number, hi: number): void {
    this.varint(field * 8 + WT_I64);
    this.ensure(8);
    this.view.setInt32(this.pos, lo, true);
    this.view.setInt32(this.pos + 4, hi, true);
    this.pos += 8;
  }

  /** A `double` field (wire type I64, little-endian IEEE 754). */
  double(field: number, v: number): void {
    this.varint(field * 8 + WT_I64);
    this.ensure(8);
    this.view.setFloat64(this.pos, v, true);
    this.pos += 8;
  }

  /** A `string` field, UTF-8 encoded. */
  string(field: number, s: string): void {
    this.varint(field * 8 + WT_LEN);
    // UTF-8 takes at most 3 bytes per UTF-16 code unit.
    const max = s.length * 3;
    if (max < 0x80) {
      this.ensure(1 + max);
      const start = this.pos + 1;
      const { written } = this.utf8.encodeInto(s, this.buf.subarray(start, start + max));
      this.buf[this.pos] = written;
      this.pos = start + written;
      return;
    }
    this.bytes(this.utf8.encode(s));
  }

  /** Length and raw bytes (the body of a LEN field whose tag was written). */
  bytes(data: Uint8Array): void {
    this.varint(data.length);
    this.ensure(data.length);
    this.buf.set(data, this.pos);
    this.pos += data.length;
  }

  /** Opens a nested message (LEN field): write its fields, then call `end()`. */
  begin(field: number): void {
    this.varint(field * 8 + WT_LEN);
    this.ensure(1);
    if (this.depth === this.stack.length) {
      const s = new Int32Array(this.depth * 2);
      s.set(this.stack);
      this.stack = s;
    }
    this.stack[this.depth++] = this.pos;
    this.pos += 1;
  }

  /** Closes the innermost open nested message, writing its length. */
  end(): void {
    const at = this.stack[--this.depth] as number;
    const len = this.pos - at - 1;
    if (len < 0x80) {
      this.buf[at] = len;
      return;
    }
    let extra = 1;
    while (len >= 2 ** (7 * (extra + 1))) extra++;
    this.ensure(extra);
    this.buf.copyWithin(at + 1 + extra, at + 1, this.pos);
    this.pos += extra;
    putVarint(this.buf, at, len);
  }
}
