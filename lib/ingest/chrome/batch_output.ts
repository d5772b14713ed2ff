/**
 * The framer's output: the NDJSON batch being written (each event on its line, its position in
 * the event array first as the `__seq` key), handed to the sink whenever it holds `batchBytes`;
 * the base of ChromeJsonFramer (framer.ts), which decides what goes in.
 */
import { grownBytes } from "../../bytes.ts";

/** Name of the key the framer prepends to every event: its 0-based position in the array. */
export const SEQ_KEY = "__seq";
const SEQ_PREFIX = new TextEncoder().encode(`{"${SEQ_KEY}":`);
const COMMA = 0x2c;
const RBRACE = 0x7d;
const SPACE = 0x20;

function isWs(b: number): boolean {
  return b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d;
}

/** Receives NDJSON batches: `bytes` holds whole lines, each ending in `\n`. */
export type BatchSink = (bytes: Uint8Array, events: number) => void;

/** The NDJSON batch being written, and the position of the next event in the array. */
export class BatchOutput {
  protected out: Uint8Array;
  protected outLen = 0;
  protected outEvents = 0;
  /** Position in `out` where the event being copied began. */
  protected outElemStart = 0;
  /** Position of the current element in the event array (0-based). */
  protected seq = 0;
  /** Position in `out` of the comma that ends the current element's seq prefix. */
  protected seqComma = 0;

  /**
   * @param sink receives a batch whenever at least `batchBytes` of NDJSON are ready (`flush`).
   *   The bytes are only valid during the call.
   * @param batchBytes target batch size in bytes.
   */
  constructor(
    private readonly sink: BatchSink,
    protected readonly batchBytes: number,
  ) {
    // A batch ends after the event that reaches batchBytes: room for that event up front
    // spares a doubling (and a copy of the whole batch) in most batches.
    this.out = new Uint8Array(Math.min(batchBytes, 64 * 1024 * 1024) + 1024 * 1024);
  }

  /**
   * Hands the batch being delivered over to the caller: call only from within the sink. The
   * bytes passed to the sink then stay valid (the caller owns their buffer) and the framer goes
   * on in `next`, which must hold at least as many bytes as the buffer given away.
   */
  swapBuffer(next: Uint8Array): void {
    if (next.length < this.out.length) throw new Error("swapBuffer: the new buffer is smaller");
    this.out = next;
  }

  /** The size of the framer's output buffer (for a caller preparing `swapBuffer`). */
  get bufferSize(): number {
    return this.out.length;
  }

  /** Copies `src[from, to)` to the output with one `set` (a run of raw lines, newlines included). */
  protected appendRun(src: Uint8Array, from: number, to: number): void {
    const len = to - from;
    this.ensure(len + 1);
    this.out.set(src.subarray(from, to), this.outLen);
    this.outLen += len;
  }

  /** Writes `{"__seq":N,` for the element starting now (no allocation: this runs per event). */
  protected writeSeqPrefix(): void {
    this.ensure(SEQ_PREFIX.length + 24);
    const out = this.out;
    let p = this.outLen;
    for (let k = 0; k < SEQ_PREFIX.length; k++) out[p++] = SEQ_PREFIX[k] as number;
    let v = this.seq;
    let digits = 1;
    for (let t = v; t >= 10; t = Math.floor(t / 10)) digits++;
    p += digits;
    for (let k = p - 1; k >= p - digits; k--) {
      out[k] = 0x30 + (v % 10);
      v = Math.floor(v / 10);
    }
    this.seqComma = p;
    out[p++] = COMMA;
    this.outLen = p;
  }

  /** Turns `{"__seq":N,}` (an empty object after the prefix) into `{"__seq":N }`. */
  protected fixEmptyObject(): void {
    let k = this.seqComma + 1;
    while (k < this.outLen && isWs(this.out[k] as number)) k++;
    if (this.out[k] === RBRACE) this.out[this.seqComma] = SPACE;
  }

  /** Copies `src[from, to)` to the output; short runs by hand, long ones with `set`. */
  protected append(src: Uint8Array, from: number, to: number): void {
    const len = to - from;
    if (len <= 0) return;
    this.ensure(len + 1);
    if (len < 512) {
      const out = this.out;
      let p = this.outLen;
      for (let k = from; k < to; k++) out[p++] = src[k] as number;
    } else {
      this.out.set(src.subarray(from, to), this.outLen);
    }
    this.outLen += len;
  }

  protected appendByte(b: number): void {
    this.ensure(1);
    this.out[this.outLen++] = b;
  }

  protected ensure(extra: number): void {
    if (this.outLen + extra <= this.out.length) return;
    this.out = grownBytes(this.out, this.outLen, extra);
  }

  protected flush(): void {
    if (this.outLen > 0 && this.outEvents > 0) {
      this.sink(this.out.subarray(0, this.outLen), this.outEvents);
    }
    this.outLen = 0;
    this.outElemStart = 0;
    this.outEvents = 0;
  }
}
