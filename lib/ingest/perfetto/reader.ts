/**
 * Framing of a Perfetto trace stream into packets: a trace is a `Trace` message, i.e. a stream
 * of `0x0A <varint length> <TracePacket>` records (reference/perfetto.md §0), read as it arrives
 * in chunks of any size (a record cut by a chunk's end is carried to the next), and
 * `compressed_packets` payloads (zlib-deflated concatenated records, trace_packet.proto) are
 * inflated and framed the same way. Memory is bounded by the largest packet.
 */
import { inflateSync } from "node:zlib";
import { InputError } from "../../errors.ts";
import { Trace } from "../../perfetto/fields.ts";
import { WireError, WireReader, WT_LEN } from "../../perfetto/wire_reader.ts";
import type { ImportCounts } from "./counts.ts";

/** The deepest nest of compressed_packets accepted. */
const MAX_COMPRESSED_NESTING = 8;

/** Receives one TracePacket `buf[s, e)` (valid only during the call). */
export type PacketHandler = (buf: Uint8Array, s: number, e: number) => void;

/** Frames pushed bytes into TracePackets and hands each to a handler, in order. */
export class PacketFramer {
  /** Bytes of a packet (or its header) cut by the end of a chunk. */
  private carry: Uint8Array = new Uint8Array(0);
  private carryLen = 0;
  /** Offset in the content of the next byte to frame (for error messages). */
  private offset = 0;
  private readonly r = new WireReader(new Uint8Array(0), 0, 0);
  /** compressed_packets being inflated, one inside the other. */
  private nesting = 0;

  /**
   * @param inputName the input's name for error messages.
   * @param maxPacketBytes a packet longer than this is treated as corrupt data.
   * @param counts where skipped top-level fields are counted (and the packet count is read).
   * @param onPacket called for each packet.
   */
  constructor(
    private readonly inputName: string,
    private readonly maxPacketBytes: number,
    private readonly counts: ImportCounts,
    private readonly onPacket: PacketHandler,
  ) {}

  /**
   * Frames the packets in `chunk` (and any packet completed by it) and hands them on.
   * @throws InputError when the bytes are not a Perfetto trace (bad framing, malformed packet).
   */
  push(chunk: Uint8Array): void {
    let p = 0;
    const n = chunk.length;
    if (this.carryLen > 0) {
      // Complete the cut packet from the start of this chunk.
      const need = this.recordLength(this.carry, 0, this.carryLen);
      if (need < 0) {
        // Header still incomplete: take bytes one by one until it is complete (headers are ≤ 11 bytes).
        while (p < n && this.recordLength(this.carry, 0, this.carryLen) < 0) {
          this.appendCarry(chunk, p, p + 1);
          p++;
        }
        if (this.recordLength(this.carry, 0, this.carryLen) < 0) return;
      }
      const total = this.recordLength(this.carry, 0, this.carryLen);
      const take = Math.min(total - this.carryLen, n - p);
      this.appendCarry(chunk, p, p + take);
      p += take;
      if (this.carryLen < total) return;
      this.record(this.carry, 0, total);
      this.carryLen = 0;
      // Do not keep the room of an exceptionally large packet.
      if (this.carry.length > 16 * 1024 * 1024) this.carry = new Uint8Array(0);
    }
    while (p < n) {
      const total = this.recordLength(chunk, p, n);
      if (total < 0 || p + total > n) {
        this.appendCarry(chunk, p, n);
        return;
      }
      this.record(chunk, p, p + total);
      p += total;
    }
  }

  /**
   * Ends the input.
   * @throws InputError when the input ends inside a packet (a truncated trace).
   */
  end(): void {
    if (this.carryLen > 0) {
      throw new InputError(
        `${this.inputName} ends inside a Perfetto packet at byte ${this.offset} (the trace is truncated); nothing was ingested — re-record or copy the complete file`,
      );
    }
  }

  /**
   * Inflates a `compressed_packets` payload `buf[s, e)` and hands on the packets it holds, in order.
   * @throws InputError when it does not inflate or ends inside a packet.
   */
  compressedPackets(buf: Uint8Array, s: number, e: number): void {
    // Perfetto's writer never nests them; a deep nest is corrupt data, not a stack to exhaust.
    if (this.nesting >= MAX_COMPRESSED_NESTING) this.corrupt("compressed_packets nested more than 8 deep");
    let inner: Uint8Array;
    try {
      // A view of the inflated Buffer, not a copy (every fresh page costs a fault).
      const out = inflateSync(buf.subarray(s, e), { maxOutputLength: this.maxPacketBytes });
      inner = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
    } catch (err) {
      this.corrupt(`compressed_packets that do not inflate (${(err as Error).message})`);
    }
    this.nesting++;
    try {
      let p = 0;
      while (p < inner.length) {
        const total = this.recordLength(inner, p, inner.length);
        if (total < 0 || p + total > inner.length) this.corrupt("compressed_packets ending inside a packet");
        const r = new WireReader(inner, p, p + total);
        r.next();
        if (r.field === Trace.packet && r.wireType === WT_LEN) this.onPacket(inner, r.lenStart, r.lenEnd);
        p += total;
      }
    } finally {
      this.nesting--;
    }
  }

  private appendCarry(src: Uint8Array, from: number, to: number): void {
    const n = to - from;
    if (this.carryLen + n > this.carry.length) {
      const next = new Uint8Array(Math.max(this.carryLen + n, this.carry.length * 2, 4096));
      next.set(this.carry.subarray(0, this.carryLen));
      this.carry = next;
    }
    this.carry.set(src.subarray(from, to), this.carryLen);
    this.carryLen += n;
  }

  /**
   * Total length (header + value) of the Trace field record at `buf[p]`, or -1 when the header is
   * not complete in `buf[p, end)`.
   * @throws InputError when the record is not a valid Trace field.
   */
  private recordLength(buf: Uint8Array, p: number, end: number): number {
    let q = p;
    // Tag.
    let tag = 0;
    let mul = 1;
    for (;;) {
      if (q >= end) return -1;
      const x = buf[q++] as number;
      tag += (x & 0x7f) * mul;
      if (x < 0x80) break;
      mul *= 128;
      if (q - p > 5) this.corrupt("a field tag is longer than 5 bytes");
    }
    const wt = tag & 7;
    const field = Math.floor(tag / 8);
    if (field === 0) this.corrupt("field number 0 at the top level");
    if (wt === 0) {
      const s = q;
      for (;;) {
        if (q >= end) return -1;
        if ((buf[q++] as number) < 0x80) break;
        if (q - s > 10) this.corrupt("a varint is longer than 10 bytes");
      }
      return q - p;
    }
    if (wt === 1) return q + 8 - p;
    if (wt === 5) return q + 4 - p;
    if (wt !== 2) this.corrupt(`top-level field ${field} has wire type ${wt}`);
    let len = 0;
    mul = 1;
    const s = q;
    for (;;) {
      if (q >= end) return -1;
      const x = buf[q++] as number;
      len += (x & 0x7f) * mul;
      if (x < 0x80) break;
      mul *= 128;
      if (q - s > 10) this.corrupt("a length is longer than 10 bytes");
    }
    if (len > this.maxPacketBytes) {
      this.corrupt(`a packet claims ${len} bytes (more than ${this.maxPacketBytes}), so the data is corrupt`);
    }
    return q - p + len;
  }

  /** @throws InputError naming the input, the problem and the offset. */
  private corrupt(what: string): never {
    throw new InputError(
      `${this.inputName} is not a valid Perfetto protobuf trace: ${what} at byte ${this.offset}; nothing was ingested`,
    );
  }

  /** One top-level record `buf[s, e)`: a packet (field 1) or something to skip. */
  private record(buf: Uint8Array, s: number, e: number): void {
    const r = this.r.reset(buf, s, e);
    try {
      r.next();
      if (r.field === Trace.packet && r.wireType === WT_LEN) this.onPacket(buf, r.lenStart, r.lenEnd);
      else this.counts.count("", "skipped", `top-level field ${r.field} (not a TracePacket)`);
    } catch (err) {
      if (err instanceof WireError) this.corrupt(`packet ${this.counts.stats.packets}: ${err.message}`);
      throw err;
    }
    this.offset += e - s;
  }
}
