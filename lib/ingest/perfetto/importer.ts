/**
 * Perfetto protobuf importer: reads a trace (`Trace { repeated TracePacket packet = 1 }`, i.e. a
 * stream of `0x0A <varint length> <TracePacket>` records, reference/perfetto.md §0) as it
 * arrives, one packet at a time, and emits raw rows through `RawRowSink`. Memory is bounded by
 * the largest packet plus the per-sequence incremental state and the track table, not by the
 * file size.
 *
 * Rules follow trace_processor (reference/perfetto.md §2 for field numbers, §3 for the rules):
 * - each `trusted_packet_sequence_id` has its own incremental state (interned data, defaults,
 *   sequence-scoped clocks, incremental counter values), which starts invalid; a packet with
 *   SEQ_INCREMENTAL_STATE_CLEARED (or the deprecated `incremental_state_cleared`) resets it and
 *   makes it valid; `previous_packet_dropped` makes it invalid; a packet with
 *   SEQ_NEEDS_INCREMENTAL_STATE on an invalid sequence is dropped and counted;
 * - `TracePacketDefaults` give the default `timestamp_clock_id`, `track_uuid` and extra counter
 *   tracks of a sequence;
 * - timestamps are converted to the trace clock (the `primary_trace_clock` of a ClockSnapshot,
 *   BOOTTIME by default) through the latest ClockSnapshot relating the two clocks; sequence-scoped
 *   clocks (ids 64..127) may be incremental (each timestamp a delta from the previous one) with a
 *   `unit_multiplier_ns` (Chromium: clock 64, µs deltas). A packet without any clock id is taken
 *   as trace time, as trace_processor does. A packet whose clock cannot be converted yet (no
 *   snapshot seen) is dropped and counted (trace_processor defers those to the end of the trace;
 *   a streaming reader cannot);
 * - TrackDescriptors must come before the events that use them (trace_processor reads them all
 *   first; a streaming reader cannot): an event on an unknown track is dropped and counted.
 *
 * Mapping (README "Perfetto protobuf"): SLICE_BEGIN/END on a thread track → `B`/`E` on the
 * thread's `cpu` stream; on any other track (async, custom, process) → `b`/`e` with `id` = the
 * track uuid, on the `cpu` stream of the thread the track belongs to, else of the thread of the
 * sequence's default track, else of a thread with tid = pid; INSTANT → `i` (log stream, `s` =
 * `t` on a thread track, `p` on a process track) or `n` on other tracks; a `log_message` → `L`
 * (log record with level); COUNTER and extra counter values → `V` on the `metrics` stream
 * (thread-time counters become the `thread_time` column instead); debug annotations and the
 * source location → args; flows → `bind_id`/`flow_in`/`flow_out`. Tracks without a process go to
 * a process with source pid `global`.
 */
import { inflateSync } from "node:zlib";
import { InputError } from "../../errors.ts";
import {
  BuiltinClock,
  BuiltinCounterType,
  ClockSnapshot,
  ClockSnapshotClock,
  CounterDescriptor,
  DebugAnnotation,
  InternedData,
  InternedEntry,
  LegacyEvent,
  LogMessage,
  ProcessDescriptor,
  SequenceFlags,
  SourceLocation as SourceLocationField,
  ThreadDescriptor,
  TRACE_PACKET_OTHER_FIELDS,
  Trace,
  TracePacket,
  TracePacketDefaults,
  TrackDescriptor,
  TrackEvent,
  TrackEventDefaults,
  TrackEventType,
} from "../../perfetto/fields.ts";
import { keyText, WireError, WireReader, WT_I64, WT_LEN, WT_VARINT } from "../../perfetto/wire_reader.ts";
import { type RawRow, type RawRowSink, type RowStream, resetRow } from "../blocks/raw_rows.ts";

/** Key of a 64-bit id (see `WireReader.u64Key`). */
type Key = number | string;
/** A timestamp in ns: a safe integer, or a bigint beyond that. */
type Ns = number | bigint;

/** The source pid used for tracks that belong to no process. */
export const GLOBAL_PID = "global";

const { TYPE_SLICE_BEGIN, TYPE_SLICE_END, TYPE_INSTANT, TYPE_COUNTER, TYPE_STATE } = TrackEventType;
const { SEQ_INCREMENTAL_STATE_CLEARED, SEQ_NEEDS_INCREMENTAL_STATE } = SequenceFlags;
const { SEQUENCE_SCOPED_FIRST, SEQUENCE_SCOPED_END } = BuiltinClock;

/** LogMessage.Priority → micromegas level (1 fatal … 6 trace). PRIO_UNSPECIFIED/UNUSED → info. */
const PRIO_LEVEL = [4, 4, 6, 5, 4, 3, 2, 1];

/** Counter units (CounterDescriptor.Unit). */
const UNIT_NAMES = ["", "ns", "count", "bytes"];

interface SourceLocation {
  file: string | null;
  func: string | null;
  line: number | null;
  /** The args JSON of an event that has only this location (made on first use). */
  json?: string;
}

/** Adds a source location to args as `src_file`, `src_line`, `src_func` (thread_spans reads the first two). */
function locationArgs(o: Record<string, unknown>, loc: SourceLocation): Record<string, unknown> {
  if (loc.file) o.src_file = loc.file;
  if (loc.line !== null) o.src_line = loc.line;
  if (loc.func) o.src_func = loc.func;
  return o;
}

interface ClockState {
  multiplier: number;
  incremental: boolean;
  /** Last value in the clock's units (for incremental clocks). */
  last: Ns;
}

/** An interned event name or category: its text and UTF-8 (encoded once per sequence and iid). */
interface Interned {
  text: string;
  utf8: Uint8Array;
}

const utf8Encoder = new TextEncoder();

/** A sequence's incremental state. */
interface SeqState {
  valid: boolean;
  names: Map<Key, Interned>;
  categories: Map<Key, Interned>;
  debugNames: Map<Key, string>;
  debugStrings: Map<Key, string>;
  sourceLocations: Map<Key, SourceLocation>;
  logBodies: Map<Key, string>;
  defaultClock: number | null;
  defaultTrack: Key | null;
  defaultExtraCounters: Key[];
  defaultExtraDoubleCounters: Key[];
  /** Sequence-scoped clocks (64..127) from the sequence's ClockSnapshots. */
  clocks: Map<number, ClockState>;
  /** The readings (ns) of the sequence's latest ClockSnapshot, by clock id. */
  snapshot: Map<number, Ns> | null;
  /** Running values of incremental counters, by track. */
  counters: Map<Key, number>;
  /** The last conversion of a sequence-scoped clock to the trace clock (see `eventTime`). */
  clockMemo: ClockMemo | null;
}

/**
 * A sequence-scoped clock's conversion through the sequence's snapshot, valid while `snapshot`
 * is still the sequence's and `traceClock` the trace clock: `trace ns = direct + (ns - base)`.
 */
interface ClockMemo {
  clock: number;
  state: ClockState;
  snapshot: Map<number, Ns>;
  traceClock: number;
  base: Ns;
  direct: Ns;
}

interface CounterInfo {
  /** CounterDescriptor.type: 1 = thread time (ns), 2 = thread instruction count. */
  type: number;
  multiplier: number;
  incremental: boolean;
  unit: string | null;
}

interface Track {
  uuid: Key;
  parent: Key | null;
  name: string | null;
  pid: string | null;
  tid: string | null;
  counter: CounterInfo | null;
}

/** Where a track's events go. */
interface Assoc {
  pid: string;
  /** The thread when the track is a thread track or below one. */
  tid: string | null;
  /** True for the thread track itself. */
  threadTrack: boolean;
  /** True for the process track itself. */
  processTrack: boolean;
  /** The sink streams of the track's rows, looked up on first use. */
  cpuStream?: RowStream;
  logStream?: RowStream;
  /** The track uuid as decimal text (the `id` of its async rows), made on first use. */
  idText?: string;
}

/** One open slice on a track (for END names and categories). */
interface Open {
  name: string | null;
  cat: string | null;
  nameUtf8: Uint8Array | null;
  catUtf8: Uint8Array | null;
}

/** A count of packets or events of one kind that went to one destination (or were skipped, and why). */
export interface PerfettoCount {
  ph: string;
  dest: "cpu" | "log" | "metrics" | "metadata" | "skipped";
  reason: string | null;
  count: number;
}

/** What the Perfetto import found, beyond the rows. */
export interface PerfettoStats {
  packets: number;
  /** Counts by (kind, destination, reason), as `PhaseCount` rows. */
  counts: Map<string, PerfettoCount>;
  warnings: string[];
}

/**
 * Imports one Perfetto protobuf trace into a `RawRowSink`: `push` the decompressed bytes in
 * order (chunks may be reused by the caller after `push` returns), then `end`.
 */
export class PerfettoImporter {
  readonly stats: PerfettoStats = { packets: 0, counts: new Map(), warnings: [] };
  private readonly seqs = new Map<number, SeqState>();
  private readonly tracks = new Map<Key, Track>();
  private readonly assocCache = new Map<Key, Assoc | null>();
  private readonly stacks = new Map<Key, Open[]>();
  /** Flow ids seen on a first event and not terminated (to tell flow_out from a step). */
  private readonly openFlows = new Set<Key>();
  /** Latest reading of each builtin clock in a ClockSnapshot with the trace clock (ns). */
  private globalSnapshot: Map<number, Ns> | null = null;
  private traceClock: number = BuiltinClock.BOOTTIME;
  private lastTs: Ns = 0;
  /** Bytes of a packet (or its header) cut by the end of a chunk. */
  private carry: Uint8Array = new Uint8Array(0);
  private carryLen = 0;
  /** Offset in the content of the next byte to frame (for error messages). */
  private offset = 0;
  private readonly r = new WireReader(new Uint8Array(0), 0, 0);
  private readonly firstNamed = new Set<string>();
  private readonly countIndex = new Map<string, Map<string, PerfettoCount>>();
  private readonly row: RawRow = resetRow(null, 0, "", 0);
  /** Readers reused for packets (null while in use: compressed_packets nest) and events. */
  private packetReader: WireReader | null = new WireReader(new Uint8Array(0), 0, 0);
  private readonly eventReader = new WireReader(new Uint8Array(0), 0, 0);
  private readonly scratch = {
    catIids: [] as Key[],
    cats: [] as string[],
    annotations: [] as number[],
    flowIds: [] as Key[],
    terminating: [] as Key[],
    extraUuids: [] as Key[],
    extraValues: [] as number[],
    extraDoubleUuids: [] as Key[],
    extraDoubleValues: [] as number[],
  };
  private unresolved = 0;
  private readonly readerPool: WireReader[] = [];
  /** The sequence looked up last (most packets come in runs from one sequence). */
  private lastSeqId = 0;
  private lastSeq: SeqState | null = null;

  /**
   * @param sink where rows, processes and threads go.
   * @param inputName the input's name for error messages.
   * @param maxPacketBytes a packet longer than this is treated as corrupt data (default 256 MiB).
   */
  constructor(
    private readonly sink: RawRowSink,
    private readonly inputName: string,
    private readonly maxPacketBytes = 256 * 1024 * 1024,
  ) {}

  /**
   * Frames and imports the packets in `chunk` (and any packet completed by it).
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
   * Ends the input: writes pending rows' blocks.
   * @throws InputError when the input ends inside a packet (a truncated trace).
   */
  end(): void {
    if (this.carryLen > 0) {
      throw new InputError(
        `${this.inputName} ends inside a Perfetto packet at byte ${this.offset} (the trace is truncated); nothing was ingested — re-record or copy the complete file`,
      );
    }
    if (this.unresolved > 0) {
      this.stats.warnings.push(
        `${this.unresolved} interned ids (names, categories, annotation names) were not found in their sequence's interned data`,
      );
    }
    this.sink.flush();
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
      if (r.field === Trace.packet && r.wireType === WT_LEN) this.packet(buf, r.lenStart, r.lenEnd);
      else this.count("", "skipped", `top-level field ${r.field} (not a TracePacket)`);
    } catch (err) {
      if (err instanceof WireError) this.corrupt(`packet ${this.stats.packets}: ${err.message}`);
      throw err;
    }
    this.offset += e - s;
  }

  /** Inflates a `compressed_packets` payload and imports the packets it holds, in order. */
  private compressedPackets(buf: Uint8Array, s: number, e: number): void {
    let inner: Uint8Array;
    try {
      inner = new Uint8Array(inflateSync(buf.subarray(s, e), { maxOutputLength: this.maxPacketBytes }));
    } catch (err) {
      this.corrupt(`compressed_packets that do not inflate (${(err as Error).message})`);
    }
    let p = 0;
    while (p < inner.length) {
      const total = this.recordLength(inner, p, inner.length);
      if (total < 0 || p + total > inner.length) this.corrupt("compressed_packets ending inside a packet");
      const r = new WireReader(inner, p, p + total);
      r.next();
      if (r.field === Trace.packet && r.wireType === WT_LEN) this.packet(inner, r.lenStart, r.lenEnd);
      p += total;
    }
  }

  /** Counts of the frequent kinds (slot → entry), after their first `count`. */
  private readonly hotCounts: (PerfettoCount | undefined)[] = [];

  /** `count(ph, dest, null)` for a frequent kind, without lookups after the first. */
  private countHot(slot: number, ph: string, dest: "cpu" | "log"): void {
    const c = this.hotCounts[slot];
    if (c !== undefined) {
      c.count++;
      return;
    }
    this.count(ph, dest, null);
    this.hotCounts[slot] = this.countIndex.get(ph)?.get(dest);
  }

  private count(ph: string, dest: "cpu" | "log" | "metrics" | "metadata" | "skipped", reason: string | null): void {
    // Two-level lookup: no key string is built per event.
    let byPh = this.countIndex.get(ph);
    if (!byPh) {
      byPh = new Map();
      this.countIndex.set(ph, byPh);
    }
    const sub = reason === null ? dest : `${dest}\u0000${reason}`;
    const c = byPh.get(sub);
    if (c) c.count++;
    else {
      const entry = { ph, dest, reason, count: 1 };
      byPh.set(sub, entry);
      this.stats.counts.set(`${ph}\u0000${sub}`, entry);
    }
  }

  private seq(id: number): SeqState {
    if (id === this.lastSeqId && this.lastSeq !== null) return this.lastSeq;
    let s = this.seqs.get(id);
    if (!s) {
      s = newSeqState();
      this.seqs.set(id, s);
    }
    this.lastSeqId = id;
    this.lastSeq = s;
    return s;
  }

  /** Decodes and imports one TracePacket `buf[s, e)`. */
  private packet(buf: Uint8Array, s: number, e: number): void {
    const r = this.packetReader ?? new WireReader(buf, s, e);
    this.packetReader = null;
    try {
      this.packetIn(r.reset(buf, s, e), buf);
    } finally {
      this.packetReader = r;
    }
  }

  /** The body of `packet`, reading from `r`. */
  private packetIn(r: WireReader, buf: Uint8Array): void {
    const index = this.stats.packets++;
    let ts: Ns | null = null;
    let clockId: number | null = null;
    let seqId = 0;
    let flags = 0;
    let cleared = false;
    let dropped = false;
    let interned = -1;
    let internedEnd = 0;
    let defaults = -1;
    let defaultsEnd = 0;
    let event = -1;
    let eventEnd = 0;
    let descriptor = -1;
    let descriptorEnd = 0;
    let snapshot = -1;
    let snapshotEnd = 0;
    let other = 0;
    while (r.next()) {
      switch (r.field) {
        case TracePacket.timestamp:
          ts = r.wireType === WT_VARINT ? r.i64() : skipped(r);
          break;
        case TracePacket.timestamp_clock_id:
          clockId = r.varint();
          break;
        case TracePacket.trusted_packet_sequence_id:
          seqId = r.varint();
          break;
        case TracePacket.sequence_flags:
          flags = r.varint();
          break;
        case TracePacket.incremental_state_cleared:
          cleared = r.varint() !== 0;
          break;
        case TracePacket.previous_packet_dropped:
          dropped = r.varint() !== 0;
          break;
        case TracePacket.interned_data:
          interned = r.lenStart;
          internedEnd = r.lenEnd;
          r.bytes();
          break;
        case TracePacket.trace_packet_defaults:
          defaults = r.lenStart;
          defaultsEnd = r.lenEnd;
          r.bytes();
          break;
        case TracePacket.track_event:
          event = r.lenStart;
          eventEnd = r.lenEnd;
          r.bytes();
          break;
        case TracePacket.track_descriptor:
          descriptor = r.lenStart;
          descriptorEnd = r.lenEnd;
          r.bytes();
          break;
        case TracePacket.clock_snapshot:
          snapshot = r.lenStart;
          snapshotEnd = r.lenEnd;
          r.bytes();
          break;
        case TracePacket.compressed_packets:
          // compressed_packets: zlib-deflated concatenated Trace.packet records (trace_packet.proto).
          if (r.wireType === WT_LEN) {
            r.bytes();
            this.compressedPackets(buf, r.lenStart, r.lenEnd);
          } else r.skip();
          break;
        case TracePacket.trusted_uid: // trusted_uid
        case TracePacket.trusted_pid: // trusted_pid
        case TracePacket.first_packet_on_sequence: // first_packet_on_sequence
        case TracePacket.machine_id: // machine_id
          r.skip();
          break;
        default:
          if (other === 0) other = r.field;
          r.skip();
      }
    }
    const seq = seqId !== 0 ? this.seq(seqId) : null;
    if (seq) {
      if (dropped) seq.valid = false;
      if (cleared || (flags & SEQ_INCREMENTAL_STATE_CLEARED) !== 0) {
        const fresh = newSeqState();
        fresh.valid = true;
        // Clock relations outlive a reset (a writer that clears its state without a new
        // ClockSnapshot still stamps in the same clocks); the new snapshot, if any, replaces them.
        fresh.clocks = seq.clocks;
        fresh.snapshot = seq.snapshot;
        this.seqs.set(seqId, fresh);
        this.lastSeqId = seqId;
        this.lastSeq = fresh;
      }
    }
    const st = seqId !== 0 ? this.seq(seqId) : null;
    if ((flags & SEQ_NEEDS_INCREMENTAL_STATE) !== 0 && st && !st.valid) {
      this.count(
        packetKind(event, descriptor, other),
        "skipped",
        "needs incremental state on a sequence whose state is invalid (data lost before it)",
      );
      return;
    }
    if (interned >= 0 && st) {
      if (st.valid) this.internedData(st, buf, interned, internedEnd);
      else this.count("", "skipped", "interned data on a sequence whose state is invalid");
    }
    if (defaults >= 0 && st) this.packetDefaults(st, buf, defaults, defaultsEnd);
    if (snapshot >= 0) this.clockSnapshot(st, buf, snapshot, snapshotEnd);
    if (descriptor >= 0) this.trackDescriptor(buf, descriptor, descriptorEnd);
    if (event >= 0) {
      const t = this.eventTime(st, ts, clockId);
      if (t === null) {
        this.count("", "skipped", "timestamp in a clock with no ClockSnapshot relating it to the trace clock");
        return;
      }
      this.trackEvent(index, st, t, buf, event, eventEnd);
    } else {
      // Any packet's timestamp advances an incremental clock (a delta applies to every packet of
      // the sequence, whatever it carries).
      if (ts !== null && snapshot < 0) this.eventTime(st, ts, clockId);
      if (snapshot < 0 && descriptor < 0 && other !== 0) {
        this.count(TRACE_PACKET_OTHER_FIELDS[other] ?? `packet field ${other}`, "skipped", "packet type not imported");
      }
    }
  }

  /** Converts a packet's timestamp to trace-clock ns; null when its clock cannot be converted. */
  private eventTime(seq: SeqState | null, ts: Ns | null, packetClock: number | null): Ns | null {
    const clock = packetClock ?? seq?.defaultClock ?? null;
    if (ts === null) return this.lastTs;
    if (clock === null || clock === this.traceClock) {
      this.lastTs = ts;
      return ts;
    }
    let ns: Ns;
    let snap: Map<number, Ns> | null;
    if (clock >= SEQUENCE_SCOPED_FIRST && clock < SEQUENCE_SCOPED_END) {
      const m = seq === null ? null : seq.clockMemo;
      if (m !== null && m.clock === clock && m.snapshot === seq?.snapshot && m.traceClock === this.traceClock) {
        // The same conversion as below, without its lookups.
        const c = m.state;
        let units: Ns = ts;
        if (c.incremental) {
          units = add(c.last, ts);
          c.last = units;
        }
        const out = add(m.direct, sub(mul(units, c.multiplier), m.base));
        this.lastTs = out;
        return out;
      }
      const c = seq?.clocks.get(clock);
      if (!seq || !c) return null;
      const base = seq.snapshot?.get(clock);
      const direct = seq.snapshot?.get(this.traceClock);
      if (seq.snapshot && base !== undefined && direct !== undefined) {
        seq.clockMemo = { clock, state: c, snapshot: seq.snapshot, traceClock: this.traceClock, base, direct };
      }
      let units: Ns = ts;
      if (c.incremental) {
        units = add(c.last, ts);
        c.last = units;
      }
      ns = mul(units, c.multiplier);
      snap = seq.snapshot;
    } else {
      ns = ts;
      snap = this.globalSnapshot;
    }
    const out = this.toTrace(clock, ns, snap);
    if (out !== null) this.lastTs = out;
    return out;
  }

  /** Trace-clock ns of `ns` in `clock`, through `snap` (and the global snapshot for a second hop). */
  private toTrace(clock: number, ns: Ns, snap: Map<number, Ns> | null): Ns | null {
    if (!snap) return null;
    const base = snap.get(clock);
    if (base === undefined) return null;
    const direct = snap.get(this.traceClock);
    if (direct !== undefined) return add(direct, sub(ns, base));
    const g = this.globalSnapshot;
    if (!g || g === snap) return null;
    for (const [other, v] of snap) {
      const go = g.get(other);
      const gt = g.get(this.traceClock);
      if (other !== clock && go !== undefined && gt !== undefined) return add(gt, sub(add(v, sub(ns, base)), go));
    }
    return null;
  }

  private clockSnapshot(seq: SeqState | null, buf: Uint8Array, s: number, e: number): void {
    const r = new WireReader(buf, s, e);
    const readings = new Map<number, Ns>();
    const seqClocks: [number, ClockState][] = [];
    while (r.next()) {
      if (r.field === ClockSnapshot.primary_trace_clock && r.wireType === WT_VARINT) this.traceClock = r.varint();
      else if (r.field === ClockSnapshot.clocks && r.wireType === WT_LEN) {
        const c = new WireReader(buf, r.lenStart, r.lenEnd);
        r.bytes();
        let id = 0;
        let value: Ns = 0;
        let incremental = false;
        let multiplier = 1;
        while (c.next()) {
          if (c.field === ClockSnapshotClock.clock_id) id = c.varint();
          else if (c.field === ClockSnapshotClock.timestamp) value = c.i64();
          else if (c.field === ClockSnapshotClock.is_incremental) incremental = c.varint() !== 0;
          else if (c.field === ClockSnapshotClock.unit_multiplier_ns) multiplier = c.varint() || 1;
          else c.skip();
        }
        readings.set(id, mul(value, multiplier));
        if (id >= SEQUENCE_SCOPED_FIRST && id < SEQUENCE_SCOPED_END)
          seqClocks.push([id, { multiplier, incremental, last: value }]);
      } else r.skip();
    }
    if (seqClocks.length > 0) {
      if (!seq) return; // sequence-scoped clocks need a sequence (reference §3 rule 4)
      for (const [id, c] of seqClocks) seq.clocks.set(id, c);
      seq.snapshot = readings;
    } else if (readings.size >= 2) {
      this.globalSnapshot = readings;
    }
  }

  private packetDefaults(seq: SeqState, buf: Uint8Array, s: number, e: number): void {
    const r = new WireReader(buf, s, e);
    while (r.next()) {
      if (r.field === TracePacketDefaults.timestamp_clock_id) seq.defaultClock = r.varint();
      else if (r.field === TracePacketDefaults.track_event_defaults && r.wireType === WT_LEN) {
        const d = new WireReader(buf, r.lenStart, r.lenEnd);
        r.bytes();
        while (d.next()) {
          if (d.field === TrackEventDefaults.track_uuid) seq.defaultTrack = d.anyU64Key();
          else if (d.field === TrackEventDefaults.extra_counter_track_uuids) readRepeated(d, seq.defaultExtraCounters);
          else if (d.field === TrackEventDefaults.extra_double_counter_track_uuids)
            readRepeated(d, seq.defaultExtraDoubleCounters);
          else d.skip();
        }
      } else r.skip();
    }
  }

  private internedData(seq: SeqState, buf: Uint8Array, s: number, e: number): void {
    const r = this.nested(buf, s, e);
    while (r.next()) {
      if (r.wireType !== 2) {
        r.skip();
        continue;
      }
      const f = r.field;
      const target =
        f === InternedData.debug_annotation_names
          ? seq.debugNames
          : f === InternedData.log_message_body
            ? seq.logBodies
            : f === InternedData.debug_annotation_string_values
              ? seq.debugStrings
              : null;
      if (f === InternedData.event_categories || f === InternedData.event_names) {
        // EventCategory / EventName: iid = 1, name = 2.
        const x = this.nested(buf, r.lenStart, r.lenEnd);
        r.bytes();
        let iid: Key = 0;
        let str = "";
        while (x.next()) {
          if (x.field === InternedEntry.iid) iid = x.u64Key();
          else if (x.field === InternedEntry.name && x.wireType === WT_LEN) str = x.string();
          else x.skip();
        }
        this.freeNested(x);
        (f === InternedData.event_categories ? seq.categories : seq.names).set(iid, {
          text: str,
          utf8: utf8Encoder.encode(str),
        });
      } else if (target) {
        // EventCategory/EventName/DebugAnnotationName/LogMessageBody/InternedString: iid = 1, name/body/str = 2.
        const x = this.nested(buf, r.lenStart, r.lenEnd);
        r.bytes();
        let iid: Key = 0;
        let str = "";
        while (x.next()) {
          if (x.field === InternedEntry.iid) iid = x.u64Key();
          else if (x.field === InternedEntry.name && x.wireType === WT_LEN) str = x.string();
          else x.skip();
        }
        this.freeNested(x);
        target.set(iid, str);
      } else if (f === InternedData.source_locations) {
        const x = this.nested(buf, r.lenStart, r.lenEnd);
        r.bytes();
        let iid: Key = 0;
        const loc: SourceLocation = { file: null, func: null, line: null };
        while (x.next()) {
          if (x.field === SourceLocationField.iid) iid = x.u64Key();
          else if (x.field === SourceLocationField.file_name && x.wireType === WT_LEN) loc.file = x.string();
          else if (x.field === SourceLocationField.function_name && x.wireType === WT_LEN) loc.func = x.string();
          else if (x.field === SourceLocationField.line_number) loc.line = x.varint();
          else x.skip();
        }
        this.freeNested(x);
        seq.sourceLocations.set(iid, loc);
      } else r.bytes();
    }
    this.freeNested(r);
  }

  private trackDescriptor(buf: Uint8Array, s: number, e: number): void {
    const r = new WireReader(buf, s, e);
    let uuid: Key | null = null;
    let parent: Key | null = null;
    let name: string | null = null;
    let proc: { pid: string | null; name: string | null; labels: string[] } | null = null;
    let thread: { pid: string | null; tid: string | null; name: string | null } | null = null;
    let counter: CounterInfo | null = null;
    while (r.next()) {
      switch (r.field) {
        case TrackDescriptor.uuid:
          uuid = r.anyU64Key();
          break;
        case TrackDescriptor.parent_uuid:
          parent = r.anyU64Key();
          break;
        case TrackDescriptor.name:
        case TrackDescriptor.static_name:
        case TrackDescriptor.atrace_name:
          if (r.wireType === WT_LEN) name = r.string();
          else r.skip();
          break;
        case TrackDescriptor.process: {
          const x = new WireReader(buf, r.lenStart, r.lenEnd);
          r.bytes();
          proc = { pid: null, name: null, labels: [] };
          while (x.next()) {
            if (x.field === ProcessDescriptor.pid) proc.pid = String(x.i64());
            else if (x.field === ProcessDescriptor.process_name && x.wireType === WT_LEN) proc.name = x.string();
            else if (x.field === ProcessDescriptor.process_labels && x.wireType === WT_LEN)
              proc.labels.push(x.string());
            else x.skip();
          }
          break;
        }
        case TrackDescriptor.thread: {
          const x = new WireReader(buf, r.lenStart, r.lenEnd);
          r.bytes();
          thread = { pid: null, tid: null, name: null };
          while (x.next()) {
            if (x.field === ThreadDescriptor.pid) thread.pid = String(x.i64());
            else if (x.field === ThreadDescriptor.tid) thread.tid = String(x.i64());
            else if (x.field === ThreadDescriptor.thread_name && x.wireType === WT_LEN) thread.name = x.string();
            else x.skip();
          }
          break;
        }
        case TrackDescriptor.counter: {
          const x = new WireReader(buf, r.lenStart, r.lenEnd);
          r.bytes();
          counter = { type: 0, multiplier: 1, incremental: false, unit: null };
          while (x.next()) {
            if (x.field === CounterDescriptor.type) counter.type = x.varint();
            else if (x.field === CounterDescriptor.unit) counter.unit = UNIT_NAMES[x.varint()] || null;
            else if (x.field === CounterDescriptor.unit_name && x.wireType === WT_LEN) counter.unit = x.string();
            else if (x.field === CounterDescriptor.unit_multiplier) counter.multiplier = Number(x.i64()) || 1;
            else if (x.field === CounterDescriptor.is_incremental) counter.incremental = x.varint() !== 0;
            else x.skip();
          }
          break;
        }
        default:
          r.skip();
      }
    }
    if (uuid === null) {
      this.count("TrackDescriptor", "skipped", "track descriptor without uuid");
      return;
    }
    let t = this.tracks.get(uuid);
    if (!t) {
      t = { uuid, parent: null, name: null, pid: null, tid: null, counter: null };
      this.tracks.set(uuid, t);
    }
    this.assocCache.clear();
    if (parent !== null) t.parent = parent;
    if (name !== null && name !== "" && t.name === null) t.name = name;
    if (counter) t.counter = counter;
    if (thread && thread.pid !== null && thread.tid !== null) {
      t.pid = thread.pid;
      t.tid = thread.tid;
      const th = this.sink.thread(thread.pid, thread.tid);
      // A thread may be renamed (Chromium names its pool threads after they start): keep the last name.
      if (thread.name) th.name = thread.name;
      this.count("TrackDescriptor", "metadata", null);
    } else if (proc && proc.pid !== null) {
      t.pid = proc.pid;
      const p = this.sink.process(proc.pid);
      // Keep the first non-empty name: Chromium later re-emits descriptors with the command line
      // as process_name and the tab title as a label.
      if (proc.name && !this.firstNamed.has(proc.pid)) {
        p.name = proc.name;
        this.firstNamed.add(proc.pid);
      }
      if (proc.labels.length > 0) p.labels = proc.labels.join(",");
      this.count("TrackDescriptor", "metadata", null);
    } else this.count("TrackDescriptor", "metadata", null);
  }

  /** The process/thread a track belongs to (following parent_uuid), or null for an unknown track. */
  private assoc(uuid: Key): Assoc | null {
    const cached = this.assocCache.get(uuid);
    if (cached !== undefined) return cached;
    const t = this.tracks.get(uuid);
    let a: Assoc | null = null;
    if (t) {
      let x: Track | undefined = t;
      for (let depth = 0; x && depth < 64; depth++) {
        if (x.tid !== null && x.pid !== null) {
          a = { pid: x.pid, tid: x.tid, threadTrack: x === t, processTrack: false };
          break;
        }
        if (x.pid !== null) {
          a = { pid: x.pid, tid: null, threadTrack: false, processTrack: x === t };
          break;
        }
        x = x.parent === null ? undefined : this.tracks.get(x.parent);
      }
      if (!a) a = { pid: GLOBAL_PID, tid: null, threadTrack: false, processTrack: false };
    }
    this.assocCache.set(uuid, a);
    return a;
  }

  /** A reader for a nested message `buf[s, e)`, from a pool; give it back with `freeNested`. */
  private nested(buf: Uint8Array, s: number, e: number): WireReader {
    const r = this.readerPool.pop();
    return r ? r.reset(buf, s, e) : new WireReader(buf, s, e);
  }

  private freeNested(r: WireReader): void {
    this.readerPool.push(r);
  }

  private lookup<T>(map: Map<Key, T>, iid: Key): T | null {
    const v = map.get(iid);
    if (v === undefined) {
      this.unresolved++;
      return null;
    }
    return v;
  }

  private trackEvent(index: number, seq: SeqState | null, time: Ns, buf: Uint8Array, s: number, e: number): void {
    const r = this.eventReader.reset(buf, s, e);
    let type = 0;
    let trackUuid: Key | null = null;
    let name: string | null = null;
    let nameIid: Key | null = null;
    // Scratch arrays reused from event to event (nothing keeps them past this call).
    const sc = this.scratch;
    const catIids = sc.catIids;
    const cats = sc.cats;
    const annotations = sc.annotations;
    const flowIds = sc.flowIds;
    const terminating = sc.terminating;
    const extraValues = sc.extraValues;
    const extraDoubleValues = sc.extraDoubleValues;
    // Emptied only when used (setting an array's length is not free, and most stay empty).
    // catIids[0, nCat) hold this event's category iids (a count, not the array's length, which
    // is costly to reset for every event).
    let nCat = 0;
    if (cats.length !== 0) cats.length = 0;
    if (annotations.length !== 0) annotations.length = 0;
    if (flowIds.length !== 0) flowIds.length = 0;
    if (terminating.length !== 0) terminating.length = 0;
    if (extraValues.length !== 0) extraValues.length = 0;
    if (extraDoubleValues.length !== 0) extraDoubleValues.length = 0;
    if (sc.extraUuids.length !== 0) sc.extraUuids.length = 0;
    if (sc.extraDoubleUuids.length !== 0) sc.extraDoubleUuids.length = 0;
    let counterValue: number | null = null;
    let extraUuids: Key[] | null = null;
    let extraDoubleUuids: Key[] | null = null;
    let logStart = -1;
    let logEnd = 0;
    let srcLoc: SourceLocation | null = null;
    let legacyStart = -1;
    let legacyEnd = 0;
    while (r.next()) {
      switch (r.field) {
        case TrackEvent.type:
          type = r.varint();
          break;
        case TrackEvent.track_uuid:
          trackUuid = r.anyU64Key();
          break;
        case TrackEvent.name_iid:
          nameIid = r.u64Key();
          break;
        case TrackEvent.name:
          name = r.wireType === WT_LEN ? r.string() : skipped(r);
          break;
        case TrackEvent.category_iids:
          if (r.wireType === WT_VARINT) catIids[nCat++] = r.u64Key();
          else {
            const n = catIids.length;
            readRepeated(r, catIids);
            // Move what readRepeated appended after the stale entries down to nCat.
            for (let k = n; k < catIids.length; k++) catIids[nCat++] = catIids[k] as Key;
            catIids.length = Math.max(nCat, n);
          }
          break;
        case TrackEvent.categories:
          if (r.wireType === WT_LEN) cats.push(r.string());
          else r.skip();
          break;
        case TrackEvent.counter_value:
          counterValue = r.wireType === WT_VARINT ? Number(r.i64()) : skipped(r);
          break;
        case TrackEvent.double_counter_value:
          counterValue = r.wireType === WT_I64 ? r.double() : skipped(r);
          break;
        case TrackEvent.debug_annotations:
          annotations.push(r.lenStart, r.lenEnd);
          r.bytes();
          break;
        case TrackEvent.flow_ids:
        case TrackEvent.flow_ids_old:
          readRepeated(r, flowIds);
          break;
        case TrackEvent.terminating_flow_ids:
        case TrackEvent.terminating_flow_ids_old:
          readRepeated(r, terminating);
          break;
        case TrackEvent.extra_counter_track_uuids:
          extraUuids = sc.extraUuids;
          readRepeated(r, extraUuids);
          break;
        case TrackEvent.extra_counter_values:
          if (r.wireType === WT_VARINT) extraValues.push(Number(r.i64()));
          else readRepeatedNumbers(r, extraValues);
          break;
        case TrackEvent.extra_double_counter_track_uuids:
          extraDoubleUuids = sc.extraDoubleUuids;
          readRepeated(r, extraDoubleUuids);
          break;
        case TrackEvent.extra_double_counter_values:
          if (r.wireType === WT_I64) extraDoubleValues.push(r.double());
          else if (r.wireType === WT_LEN) {
            const x = new WireReader(buf, r.lenStart, r.lenEnd);
            r.bytes();
            while (x.pos + 8 <= x.end) extraDoubleValues.push(x.double());
          } else r.skip();
          break;
        case TrackEvent.log_message:
          logStart = r.lenStart;
          logEnd = r.lenEnd;
          r.bytes();
          break;
        case TrackEvent.source_location: {
          const x = new WireReader(buf, r.lenStart, r.lenEnd);
          r.bytes();
          srcLoc = { file: null, func: null, line: null };
          while (x.next()) {
            if (x.field === SourceLocationField.file_name && x.wireType === WT_LEN) srcLoc.file = x.string();
            else if (x.field === SourceLocationField.function_name && x.wireType === WT_LEN) srcLoc.func = x.string();
            else if (x.field === SourceLocationField.line_number) srcLoc.line = x.varint();
            else x.skip();
          }
          break;
        }
        case TrackEvent.source_location_iid: {
          const iid = r.u64Key();
          srcLoc = seq?.sourceLocations.get(iid) ?? null;
          if (!srcLoc) this.unresolved++;
          break;
        }
        case TrackEvent.legacy_event:
          legacyStart = r.lenStart;
          legacyEnd = r.lenEnd;
          r.bytes();
          break;
        default:
          r.skip();
      }
    }
    if (type === TYPE_STATE) {
      this.count("TYPE_STATE", "skipped", "TrackEvent type not imported");
      return;
    }
    if (type === 0 && legacyStart < 0) {
      this.count("TYPE_UNSPECIFIED", "skipped", "TrackEvent without type or legacy_event");
      return;
    }
    if (type > TYPE_STATE) {
      this.count(`type ${type}`, "skipped", "unknown TrackEvent type");
      return;
    }
    if (trackUuid === null) trackUuid = seq?.defaultTrack ?? 0;
    let a: Assoc | null = this.assoc(trackUuid);
    if (!a) {
      if (trackUuid === 0) a = { pid: GLOBAL_PID, tid: null, threadTrack: false, processTrack: false };
      else {
        this.count(
          TYPE_NAMES[type] || "legacy_event",
          "skipped",
          "track_uuid not declared by a TrackDescriptor before use",
        );
        return;
      }
    }
    let nameUtf8: Uint8Array | null = null;
    if (nameIid !== null && seq) {
      const it = this.lookup(seq.names, nameIid);
      name = it === null ? null : it.text;
      if (it !== null) nameUtf8 = it.utf8;
    }
    let cat: string | null;
    let catUtf8: Uint8Array | null = null;
    if (nCat === 1 && cats.length === 0) {
      // The common case: one interned category, used as is.
      const it = seq ? this.lookup(seq.categories, catIids[0] as Key) : null;
      cat = it === null ? null : it.text;
      if (it !== null) catUtf8 = it.utf8;
    } else {
      for (let k = 0; k < nCat; k++) {
        const c = seq ? this.lookup(seq.categories, catIids[k] as Key) : null;
        if (c !== null) cats.push(c.text);
      }
      cat = cats.length > 0 ? cats.join(",") : null;
    }

    // Extra counter values (thread time goes to the row; others become measures).
    let threadTime: Ns | null = null;
    const extras: [Key, number][] = [];
    if (extraValues.length !== 0 || extraDoubleValues.length !== 0) {
      const eu = extraUuids ?? seq?.defaultExtraCounters ?? [];
      for (let k = 0; k < Math.min(eu.length, extraValues.length); k++)
        extras.push([eu[k] as Key, extraValues[k] as number]);
      const edu = extraDoubleUuids ?? seq?.defaultExtraDoubleCounters ?? [];
      for (let k = 0; k < Math.min(edu.length, extraDoubleValues.length); k++)
        extras.push([edu[k] as Key, extraDoubleValues[k] as number]);
    }
    for (const [u, v] of extras) {
      const ct = this.tracks.get(u);
      if (!ct?.counter) {
        this.count("extra counter", "skipped", "extra counter value on a track that is not a counter track");
        continue;
      }
      const value = this.counterValue(seq, ct, v);
      if (ct.counter.type === BuiltinCounterType.COUNTER_THREAD_TIME_NS) threadTime = Math.round(value);
      else this.emitCounter(index, time, ct, value, "extra counter");
    }

    if (type === TYPE_COUNTER) {
      const ct = this.tracks.get(trackUuid);
      if (!ct?.counter) {
        this.count("TYPE_COUNTER", "skipped", "COUNTER on a track that is not a counter track");
        return;
      }
      if (counterValue === null) {
        this.count("TYPE_COUNTER", "skipped", "COUNTER without a value");
        return;
      }
      this.emitCounter(index, time, ct, this.counterValue(seq, ct, counterValue), "TYPE_COUNTER");
      return;
    }

    const args = this.args(seq, buf, annotations, srcLoc);
    // One row object, reused: the sink copies it into column buffers at once.
    const row = resetRow(this.row, index, "", time);
    row.name = name;
    row.cat = cat;
    row.nameUtf8 = nameUtf8;
    row.catUtf8 = catUtf8;
    row.args = args;
    row.threadTime = threadTime;
    if (flowIds.length > 0 || terminating.length > 0) this.flows(row, flowIds, terminating);

    if (logStart >= 0) {
      this.logMessage(row, seq, a, buf, logStart, logEnd, srcLoc);
      if (type === TYPE_INSTANT) return;
    }
    const cpuTid = a.tid ?? this.sequenceThread(seq, a.pid) ?? a.pid;
    if (type === 0) {
      this.legacyEvent(row, seq, a, cpuTid, buf, legacyStart, legacyEnd);
      return;
    }
    if (a.threadTrack) {
      if (type === TYPE_SLICE_BEGIN) {
        this.pushOpen(trackUuid, { name, cat, nameUtf8, catUtf8 });
        row.ph = "B";
        this.sink.addTo(this.trackStream(a, "cpu"), row);
        this.countHot(0, "SLICE_BEGIN", "cpu");
      } else if (type === TYPE_SLICE_END) {
        const o = this.popOpen(trackUuid);
        row.ph = "E";
        closeFromOpen(row, o);
        this.sink.addTo(this.trackStream(a, "cpu"), row);
        this.countHot(1, "SLICE_END", "cpu");
      } else {
        row.ph = "i";
        row.s = "t";
        this.sink.addTo(this.trackStream(a, "log"), row);
        this.countHot(2, "INSTANT", "log");
      }
      return;
    }
    if (type === TYPE_INSTANT && a.processTrack) {
      row.ph = "i";
      row.s = "p";
      this.sink.addTo(this.trackStream(a, "log"), row);
      this.countHot(2, "INSTANT", "log");
      return;
    }
    if (a.idText === undefined) a.idText = keyText(trackUuid);
    row.id = a.idText;
    row.idScope = a.pid === GLOBAL_PID ? "global" : "local";
    if (type === TYPE_SLICE_BEGIN) {
      this.pushOpen(trackUuid, { name, cat, nameUtf8, catUtf8 });
      row.ph = "b";
      this.countHot(0, "SLICE_BEGIN", "cpu");
    } else if (type === TYPE_SLICE_END) {
      const o = this.popOpen(trackUuid);
      row.ph = "e";
      // async_events pairs an end with its begin by (category, id) and name: carry the begin's.
      closeFromOpen(row, o);
      this.countHot(1, "SLICE_END", "cpu");
    } else {
      row.ph = "n";
      if (row.cat === null) {
        const o = this.stacks.get(trackUuid)?.at(-1);
        row.cat = o?.cat ?? null;
        row.catUtf8 = o?.catUtf8 ?? null;
      }
      this.countHot(3, "INSTANT", "cpu");
    }
    if (a.pid === GLOBAL_PID) this.namedGlobal();
    this.sink.add(a.pid, cpuTid, "cpu", row);
  }

  /**
   * A TrackEvent carrying a `legacy_event` (Chrome's JSON-style phases, track_event.proto
   * LegacyEvent): mapped to the same rows as the Chrome JSON phase it holds (README "Perfetto
   * protobuf"), on the thread of its track (or `pid_override`/`tid_override`).
   */
  private legacyEvent(
    row: RawRow,
    seq: SeqState | null,
    a: Assoc,
    cpuTid: string,
    buf: Uint8Array,
    s: number,
    e: number,
  ): void {
    const r = new WireReader(buf, s, e);
    let phase = 0;
    let instantScope = 0;
    let flowDirection = 0;
    let bindToEnclosing = false;
    let pid = a.pid;
    let tid: string | null = a.tid ?? cpuTid;
    while (r.next()) {
      switch (r.field) {
        case LegacyEvent.name_iid:
          if (row.name === null && seq) row.name = this.lookup(seq.names, r.u64Key())?.text ?? null;
          else r.skip();
          break;
        case LegacyEvent.phase:
          phase = r.varint();
          break;
        case LegacyEvent.duration_us:
          row.dur = mul(r.i64(), 1000);
          break;
        case LegacyEvent.thread_duration_us:
          row.threadDur = mul(r.i64(), 1000);
          break;
        case LegacyEvent.unscoped_id:
        case LegacyEvent.global_id:
          row.id = `0x${r.u64Big().toString(16)}`;
          row.idScope = "global";
          break;
        case LegacyEvent.local_id:
          row.id = `0x${r.u64Big().toString(16)}`;
          row.idScope = "local";
          break;
        case LegacyEvent.id_scope:
          row.scope = r.wireType === WT_LEN ? r.string() : skipped(r);
          break;
        case LegacyEvent.bind_id:
          row.bindId = `0x${r.u64Big().toString(16)}`;
          break;
        case LegacyEvent.bind_to_enclosing:
          bindToEnclosing = r.varint() !== 0;
          break;
        case LegacyEvent.flow_direction:
          flowDirection = r.varint();
          break;
        case LegacyEvent.instant_event_scope:
          instantScope = r.varint();
          break;
        case LegacyEvent.pid_override:
          pid = String(r.i64());
          break;
        case LegacyEvent.tid_override:
          tid = String(r.i64());
          break;
        default:
          r.skip();
      }
    }
    const ph = String.fromCharCode(phase);
    const label = `legacy ${ph}`;
    row.ph = ph;
    if (flowDirection !== 0) {
      row.flowIn = (flowDirection & 1) !== 0;
      row.flowOut = (flowDirection & 2) !== 0;
    }
    if (pid === GLOBAL_PID) this.namedGlobal();
    if (ph === "X" || ph === "B" || ph === "E") {
      if (ph === "X" && row.dur === null) {
        this.count(label, "skipped", "X without duration_us");
        return;
      }
      this.sink.add(pid, tid, "cpu", row);
      this.count(label, "cpu", null);
    } else if (ph === "i" || ph === "I" || ph === "R") {
      row.s = [null, "g", "p", "t"][instantScope] ?? null;
      this.sink.add(pid, tid, "log", row);
      this.count(label, "log", null);
    } else if ("benSTpF".includes(ph) || "stf".includes(ph)) {
      if (!row.id && !row.bindId) {
        this.count(label, "skipped", "legacy async or flow event without an id");
        return;
      }
      if (ph === "f" && bindToEnclosing) row.bp = "e";
      this.sink.add(pid, tid, "cpu", row);
      this.count(label, "cpu", null);
    } else if (ph === "C") {
      this.sink.add(pid, tid, "metrics", row);
      this.count(label, "metrics", null);
    } else this.count(label, "skipped", "legacy phase not imported");
  }

  private namedGlobal(): void {
    const p = this.sink.process(GLOBAL_PID);
    if (p.name === null) p.name = "global tracks";
  }

  /** The sink stream of a thread or process track's own rows (its thread's, or the process's), cached. */
  private trackStream(a: Assoc, dest: "cpu" | "log"): RowStream {
    if (dest === "cpu") {
      if (a.cpuStream === undefined) a.cpuStream = this.sink.stream(a.pid, a.tid, "cpu");
      return a.cpuStream;
    }
    if (a.logStream === undefined) a.logStream = this.sink.stream(a.pid, a.tid, "log");
    return a.logStream;
  }

  /** The thread of the sequence's default track when it is in process `pid`. */
  private sequenceThread(seq: SeqState | null, pid: string): string | null {
    if (!seq || seq.defaultTrack === null) return null;
    const a = this.assoc(seq.defaultTrack);
    return a && a.pid === pid ? a.tid : null;
  }

  private pushOpen(track: Key, o: Open): void {
    let s = this.stacks.get(track);
    if (!s) {
      s = [];
      this.stacks.set(track, s);
    }
    // Bounded like trace_processor's stack (kMaxDepth = 512): deeper entries are not tracked.
    if (s.length < 512) s.push(o);
  }

  private popOpen(track: Key): Open | undefined {
    return this.stacks.get(track)?.pop();
  }

  /** A counter track's value: accumulated when incremental (per sequence), times unit_multiplier. */
  private counterValue(seq: SeqState | null, t: Track, v: number): number {
    const c = t.counter as CounterInfo;
    let value = v;
    if (c.incremental && seq) {
      value = (seq.counters.get(t.uuid) ?? 0) + v;
      seq.counters.set(t.uuid, value);
    }
    return value * c.multiplier;
  }

  private emitCounter(index: number, time: Ns, t: Track, value: number, kind: string): void {
    const a = this.assoc(t.uuid) ?? { pid: GLOBAL_PID, tid: null, threadTrack: false, processTrack: false };
    if (a.pid === GLOBAL_PID) this.namedGlobal();
    const props: Record<string, unknown> = { value, track_uuid: keyText(t.uuid) };
    const c = t.counter as CounterInfo;
    if (c.unit) props.unit = c.unit;
    this.sink.add(a.pid, a.tid, "metrics", {
      seq: index,
      ph: "V",
      time,
      name: t.name ?? `counter ${keyText(t.uuid)}`,
      args: JSON.stringify(props),
    });
    this.count(kind, "metrics", null);
  }

  private logMessage(
    row: RawRow,
    seq: SeqState | null,
    a: Assoc,
    buf: Uint8Array,
    s: number,
    e: number,
    eventLoc: SourceLocation | null,
  ): void {
    if (a.tid === null) {
      this.count("log_message", "skipped", "LogMessage without thread association");
      return;
    }
    const r = new WireReader(buf, s, e);
    let body: string | null = null;
    let prio = 0;
    let loc: SourceLocation | null = eventLoc;
    let bodyIid: Key | null = null;
    while (r.next()) {
      if (r.field === LogMessage.body_iid) bodyIid = r.u64Key();
      else if (r.field === LogMessage.prio) prio = r.varint();
      else if (r.field === LogMessage.source_location_iid) {
        const iid = r.u64Key();
        loc = seq?.sourceLocations.get(iid) ?? null;
      } else r.skip();
    }
    if (bodyIid !== null && seq) body = seq.logBodies.get(bodyIid) ?? null;
    if (body === null) {
      this.count("log_message", "skipped", "LogMessage body_iid not found in the sequence's interned data");
      return;
    }
    const props: Record<string, unknown> = row.args ? JSON.parse(row.args) : {};
    if (row.name !== null && row.name !== undefined) props.event_name = row.name;
    if (loc?.file) props.src_file = loc.file;
    if (loc?.line !== null && loc?.line !== undefined) props.src_line = loc.line;
    if (loc?.func) props.src_func = loc.func;
    this.sink.add(a.pid, a.tid, "log", {
      seq: row.seq,
      ph: "L",
      time: row.time,
      name: body,
      cat: row.cat ?? null,
      s: String(PRIO_LEVEL[prio] ?? 4),
      args: Object.keys(props).length > 0 ? JSON.stringify(props) : null,
    });
    this.count("log_message", "log", null);
  }

  /** Flow ids → bind_id (the first id), flow_out (a flow starts or continues), flow_in (it ends or continues). */
  private flows(row: RawRow, ids: Key[], terminating: Key[]): void {
    const first = ids[0] ?? terminating[0] ?? 0;
    row.bindId = keyText(first);
    let flowIn = false;
    let flowOut = false;
    for (const id of ids) {
      if (this.openFlows.has(id)) flowIn = true;
      else this.openFlows.add(id);
      flowOut = true;
    }
    for (const id of terminating) {
      flowIn = true;
      this.openFlows.delete(id);
    }
    row.flowIn = flowIn;
    row.flowOut = flowOut;
    if (ids.length + terminating.length > 1) {
      const props: Record<string, unknown> = row.args ? JSON.parse(row.args) : {};
      if (ids.length > 0) props.flow_ids = ids.map(keyText);
      if (terminating.length > 0) props.terminating_flow_ids = terminating.map(keyText);
      row.args = JSON.stringify(props);
    }
  }

  /** Debug annotations and the source location as an args JSON object (null when none). */
  private args(
    seq: SeqState | null,
    buf: Uint8Array,
    annotations: number[],
    loc: SourceLocation | null,
  ): string | null {
    if (annotations.length === 0) {
      if (!loc) return null;
      // Most events carry only an interned source location: its args are made once.
      if (loc.json === undefined) loc.json = JSON.stringify(locationArgs({}, loc));
      return loc.json;
    }
    const o: Record<string, unknown> = {};
    for (let i = 0; i < annotations.length; i += 2) {
      const [k, v] = this.annotation(seq, buf, annotations[i] as number, annotations[i + 1] as number, 0);
      o[k ?? `arg${Object.keys(o).length}`] = v;
    }
    if (loc) locationArgs(o, loc);
    return JSON.stringify(o);
  }

  /** One DebugAnnotation → [name, JSON value]. */
  private annotation(
    seq: SeqState | null,
    buf: Uint8Array,
    s: number,
    e: number,
    depth: number,
  ): [string | null, unknown] {
    const r = this.nested(buf, s, e);
    let name: string | null = null;
    let value: unknown = null;
    let dict: Record<string, unknown> | null = null;
    let arr: unknown[] | null = null;
    while (r.next()) {
      switch (r.field) {
        case DebugAnnotation.name_iid:
          name = seq ? this.lookup(seq.debugNames, r.u64Key()) : skipped(r);
          break;
        case DebugAnnotation.name:
          name = r.string();
          break;
        case DebugAnnotation.bool_value:
          value = r.varint() !== 0;
          break;
        case DebugAnnotation.uint_value:
          value = u64Value(r);
          break;
        case DebugAnnotation.int_value:
          value = i64Value(r.i64());
          break;
        case DebugAnnotation.double_value:
          value = r.double();
          break;
        case DebugAnnotation.string_value:
          value = r.string();
          break;
        case DebugAnnotation.string_value_iid:
          value = seq ? this.lookup(seq.debugStrings, r.u64Key()) : skipped(r);
          break;
        case DebugAnnotation.pointer_value:
          value = `0x${r.u64Big().toString(16)}`;
          break;
        case DebugAnnotation.legacy_json_value: {
          const text = r.string();
          try {
            value = JSON.parse(text);
          } catch {
            value = text;
          }
          break;
        }
        case DebugAnnotation.dict_entries:
          if (depth < 32) {
            const [k, v] = this.annotation(seq, buf, r.lenStart, r.lenEnd, depth + 1);
            dict ??= {};
            dict[k ?? String(Object.keys(dict).length)] = v;
          }
          r.bytes();
          break;
        case DebugAnnotation.array_values:
          if (depth < 32) {
            arr ??= [];
            arr.push(this.annotation(seq, buf, r.lenStart, r.lenEnd, depth + 1)[1]);
          }
          r.bytes();
          break;
        case DebugAnnotation.proto_value:
          value = `<proto ${r.lenEnd - r.lenStart} bytes>`;
          r.bytes();
          break;
        default:
          r.skip();
      }
    }
    this.freeNested(r);
    return [name, dict ?? arr ?? value];
  }
}

const TYPE_NAMES = ["", "SLICE_BEGIN", "SLICE_END", "INSTANT", "COUNTER", "STATE"];

/** An END without a name or category takes its BEGIN's (and their UTF-8). */
function closeFromOpen(row: RawRow, o: Open | undefined): void {
  if (row.name === null) {
    row.name = o?.name ?? null;
    row.nameUtf8 = o?.nameUtf8 ?? null;
  }
  if (row.cat === null) {
    row.cat = o?.cat ?? null;
    row.catUtf8 = o?.catUtf8 ?? null;
  }
}

function newSeqState(): SeqState {
  return {
    valid: false,
    names: new Map(),
    categories: new Map(),
    debugNames: new Map(),
    debugStrings: new Map(),
    sourceLocations: new Map(),
    logBodies: new Map(),
    defaultClock: null,
    defaultTrack: null,
    defaultExtraCounters: [],
    defaultExtraDoubleCounters: [],
    clocks: new Map(),
    snapshot: null,
    counters: new Map(),
    clockMemo: null,
  };
}

function packetKind(event: number, descriptor: number, other: number): string {
  if (event >= 0) return "TrackEvent";
  if (descriptor >= 0) return "TrackDescriptor";
  return other ? (TRACE_PACKET_OTHER_FIELDS[other] ?? `packet field ${other}`) : "packet";
}

/**
 * Appends the values of a repeated integer field at the reader's current tag to `out`: one
 * varint or fixed64 value, or a packed run (LEN) of them; a packed run holds fixed64 values for
 * the fixed64 fields (flow_ids 47, terminating_flow_ids 48), varints otherwise.
 */
function readRepeated(r: WireReader, out: Key[]): void {
  if (r.wireType === WT_VARINT) out.push(r.u64Key());
  else if (r.wireType === WT_I64) out.push(r.fixed64Key());
  else if (r.wireType === WT_LEN) {
    // Read the packed run in place: `r` is narrowed to it, then moved past it.
    const fixed = r.field === TrackEvent.flow_ids || r.field === TrackEvent.terminating_flow_ids;
    const end = r.end;
    r.pos = r.lenStart;
    r.end = r.lenEnd;
    try {
      while (r.pos < r.end) out.push(fixed ? r.fixed64Key() : r.u64Key());
    } finally {
      r.end = end;
    }
  } else r.skip();
}

/** Appends the values of a repeated int64 field (one varint, or a packed run) to `out`. */
function readRepeatedNumbers(r: WireReader, out: number[]): void {
  if (r.wireType === WT_VARINT) out.push(Number(r.i64()));
  else if (r.wireType === WT_LEN) {
    const end = r.end;
    r.pos = r.lenStart;
    r.end = r.lenEnd;
    try {
      while (r.pos < r.end) out.push(Number(r.i64()));
    } finally {
      r.end = end;
    }
  } else r.skip();
}

/** A uint64 varint as a JSON value: a number when safe, else decimal text (as `numOrText`). */
function u64Value(r: WireReader): number | string {
  const k = r.u64Key();
  return typeof k === "number" && k <= Number.MAX_SAFE_INTEGER ? k : keyText(k);
}

/** An int64 as a JSON value: a number when safe, else decimal text (as `numOrText`). */
function i64Value(v: number | bigint): number | string {
  return typeof v === "number" ? v : numOrText(v);
}

function numOrText(v: bigint): number | string {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
}

function add(a: Ns, b: Ns): Ns {
  if (typeof a === "number" && typeof b === "number") {
    const s = a + b;
    if (Number.isSafeInteger(s)) return s;
  }
  return norm(BigInt(a) + BigInt(b));
}

function sub(a: Ns, b: Ns): Ns {
  if (typeof a === "number" && typeof b === "number") {
    const s = a - b;
    if (Number.isSafeInteger(s)) return s;
  }
  return norm(BigInt(a) - BigInt(b));
}

function mul(a: Ns, m: number): Ns {
  if (m === 1) return a;
  if (typeof a === "number") {
    const s = a * m;
    if (Number.isSafeInteger(s)) return s;
  }
  return norm(BigInt(a) * BigInt(m));
}

function norm(v: bigint): Ns {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/** Skips the reader's current field and returns null (a field of an unexpected wire type). */
function skipped(r: WireReader): null {
  r.skip();
  return null;
}
