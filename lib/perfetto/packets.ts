/**
 * TracePacket builders on one trusted packet sequence, with interning: track descriptors
 * (process, thread, custom child tracks, counter tracks) and TrackEvents (SLICE_BEGIN,
 * SLICE_END, INSTANT, COUNTER, LogMessage), each framed as field 1 of `Trace` (byte 0x0A +
 * varint length), so the concatenated output is a valid `.pftrace`.
 *
 * Field numbers: reference/perfetto.md §2 (from perfetto's protos at commit ec5d16b:
 * protos/perfetto/trace/trace_packet.proto, track_event/track_event.proto,
 * track_event/track_descriptor.proto, interned_data/interned_data.proto, ...). Sequence rules
 * (§3): the first packet carries SEQ_INCREMENTAL_STATE_CLEARED | SEQ_NEEDS_INCREMENTAL_STATE and
 * first_packet_on_sequence; later event packets SEQ_NEEDS_INCREMENTAL_STATE; interned entries
 * ship in the packet that first uses them; iid 0 is never used.
 *
 * Timestamps are absolute nanoseconds in the trace's own clock (no ClockSnapshot, no
 * timestamp_clock_id: trace_processor then takes them as trace time, §3 "Clocks"). To keep the
 * hot loop in doubles, callers pass times relative to a bigint base set with `setBase`.
 */
import {
  CounterDescriptor,
  CounterUnit,
  DebugAnnotation,
  InternedData,
  InternedEntry,
  LogMessage,
  ProcessDescriptor,
  SequenceFlags,
  ThreadDescriptor,
  Trace,
  TracePacket,
  TrackDescriptor,
  TrackEvent,
  TrackEventType,
} from "./fields.ts";
import { ProtoWriter, putVarint, putVarint64 } from "./wire.ts";

const TWO32 = 4294967296;

/**
 * CounterDescriptor.Unit (protos/perfetto/trace/track_event/counter_descriptor.proto;
 * reference/perfetto.md §2.6): UNIT_TIME_NS = 1, UNIT_COUNT = 2, UNIT_SIZE_BYTES = 3.
 */
export const COUNTER_UNITS = {
  UNIT_TIME_NS: CounterUnit.UNIT_TIME_NS,
  UNIT_COUNT: CounterUnit.UNIT_COUNT,
  UNIT_SIZE_BYTES: CounterUnit.UNIT_SIZE_BYTES,
} as const;

/** Unit texts (as `measures.unit` holds them) that a CounterDescriptor.Unit value describes. */
const UNIT_BY_TEXT: Record<string, number> = {
  ns: COUNTER_UNITS.UNIT_TIME_NS,
  nanoseconds: COUNTER_UNITS.UNIT_TIME_NS,
  count: COUNTER_UNITS.UNIT_COUNT,
  "{count}": COUNTER_UNITS.UNIT_COUNT,
  bytes: COUNTER_UNITS.UNIT_SIZE_BYTES,
  byte: COUNTER_UNITS.UNIT_SIZE_BYTES,
  By: COUNTER_UNITS.UNIT_SIZE_BYTES, // UCUM, as OpenTelemetry writes bytes
};
/** The text tracelake's importer (lib/ingest/perfetto/importer.ts) gives each unit value back. */
const TEXT_OF_UNIT = ["", "ns", "count", "bytes"];

/**
 * The CounterDescriptor unit fields for a measure's unit text: `unit` (the enum value, 0 when
 * the enum has no such unit: seconds, ms, "1", "{request}"...) and `unitName` (the text, null when
 * empty or when it is exactly the enum's own name, so that importing the trace gives the text
 * back). Perfetto's UI formats values by `unit` (e.g. bytes as KiB/MiB); `unit_name` is the
 * proto's field for a unit the enum does not cover.
 * @param text `measures.unit` (null or '' for none).
 */
export function counterUnit(text: string | null): { unit: number; unitName: string | null } {
  if (!text) return { unit: 0, unitName: null };
  const unit = UNIT_BY_TEXT[text] ?? 0;
  return { unit, unitName: unit !== 0 && TEXT_OF_UNIT[unit] === text ? null : text };
}

/** TrackEvent.Type TYPE_SLICE_BEGIN (track_event.proto). */
export const SLICE_BEGIN = TrackEventType.TYPE_SLICE_BEGIN;
/** TrackEvent.Type TYPE_SLICE_END. */
export const SLICE_END = TrackEventType.TYPE_SLICE_END;
/** TrackEvent.Type TYPE_INSTANT. */
export const INSTANT = TrackEventType.TYPE_INSTANT;
/** TrackEvent.Type TYPE_COUNTER. */
export const COUNTER = TrackEventType.TYPE_COUNTER;

/** LogMessage.Priority values (log_message.proto): 2 verbose, 3 debug, 4 info, 5 warn, 6 error, 7 fatal. */
export type LogPriority = 2 | 3 | 4 | 5 | 6 | 7;

/**
 * Interned entries kept per table before the incremental state is cleared and iids restart at 1,
 * so memory stays bounded on traces with unbounded distinct names (reference/perfetto.md §4,
 * "periodically re-clear the incremental state").
 */
export const INTERN_LIMIT = 65536;

/** Fast-path limits: args up to this many bytes ... */
const FAST_ARGS = 60;
/** ... and iids/uuids below 2^28 (≤ 4 varint bytes), so every length of the packet fits one byte. */
const FAST_MAX = 268435456;

/** Copies `s[off, off + n)` to b[p] (room reserved by the caller); returns the position after it. */
function putBytes(b: Uint8Array, p: number, s: Uint8Array, off: number, n: number): number {
  if (n > 64) b.set(s.subarray(off, off + n), p);
  else for (let i = 0; i < n; i++) b[p + i] = s[off + i] as number;
  return p + n;
}

/** A byte range `buf[off, off + len)` (e.g. a string inside a DuckDB vector), or null. */
export interface ByteRange {
  buf: Uint8Array;
  off: number;
  len: number;
}

/**
 * The flow ids of the events an exporter writes, kept by their owner (span_flows.ts FlowLists):
 * `writeFlows` writes entry `e`'s TrackEvent.flow_ids, then its terminating_flow_ids, into the
 * open TrackEvent (fixed64, unpacked).
 */
export interface FlowWriter {
  writeFlows(w: ProtoWriter, e: number): void;
}

/** One interning table: key → iid, and entries not yet written to a packet. */
class InternTable {
  readonly ids = new Map<number | string, number>();
  pendingIid: number[] = [];
  pendingText: string[] = [];
  clear(): void {
    this.ids.clear();
    this.pendingIid.length = 0;
    this.pendingText.length = 0;
  }
  add(key: number | string, text: string): number {
    const iid = this.ids.size + 1;
    this.ids.set(key, iid);
    this.pendingIid.push(iid);
    this.pendingText.push(text);
    return iid;
  }
}

/**
 * Writes framed TracePackets for one trusted packet sequence into a growing buffer
 * (`out.buf[0, out.pos)`); the caller takes the bytes and calls `out.reset()`.
 */
export class TraceWriter {
  /** The bytes written; take them with `out.buf.subarray(0, out.pos)`, then `out.reset()`. */
  readonly out = new ProtoWriter();
  /** Packets written so far. */
  packets = 0;
  private readonly names = new InternTable();
  private readonly categories = new InternTable();
  private readonly annotationNames = new InternTable();
  private readonly logBodies = new InternTable();
  private baseHi = 0;
  private baseLo = 0;
  private first = true;
  private cleared = true;

  /** @param sequenceId trusted_packet_sequence_id (non-zero). */
  constructor(private readonly sequenceId = 1) {}

  /** Sets the base of relative times: absolute ns = base + rel. */
  setBase(baseNs: bigint): void {
    this.baseHi = Number(baseNs >> 32n);
    this.baseLo = Number(baseNs & 0xffffffffn);
  }

  /** iid of an event name by caller key (e.g. a hash of the text), or 0 when not interned yet. */
  nameIid(key: number | string): number {
    return this.names.ids.get(key) ?? 0;
  }
  /** Interns an event name under `key`; returns its iid. Call only after `nameIid` gave 0. */
  addName(key: number | string, text: string): number {
    return this.names.add(key, text);
  }
  /** iid of a category by key, or 0. */
  categoryIid(key: number | string): number {
    return this.categories.ids.get(key) ?? 0;
  }
  /** Interns a category; returns its iid. */
  addCategory(key: number | string, text: string): number {
    return this.categories.add(key, text);
  }
  /** iid of a debug annotation name (interned on first use). */
  annotationNameIid(name: string): number {
    return this.annotationNames.ids.get(name) ?? this.annotationNames.add(name, name);
  }
  /** iid of a log message body (interned on first use). */
  logBodyIid(body: string): number {
    return this.logBodies.ids.get(body) ?? this.logBodies.add(body, body);
  }
  /** iid of a log message body by caller key (e.g. a hash of the text), or 0 when not interned yet. */
  logBodyIidByKey(key: number): number {
    return this.logBodies.ids.get(key) ?? 0;
  }
  /** Interns a log message body under `key`; returns its iid. Call only after `logBodyIidByKey` gave 0. */
  addLogBody(key: number, text: string): number {
    return this.logBodies.add(key, text);
  }

  /** Process track: TrackDescriptor{uuid, process{pid, process_name}}. */
  processTrack(rel: number, uuid: number, pid: number, name: string | null): void {
    const w = this.open(rel, false);
    w.begin(TracePacket.track_descriptor);
    w.uint(TrackDescriptor.uuid, uuid);
    w.begin(TrackDescriptor.process);
    w.uint(ProcessDescriptor.pid, pid);
    if (name) w.string(ProcessDescriptor.process_name, name);
    w.end();
    w.end();
    this.close();
  }

  /** Thread track: TrackDescriptor{uuid, thread{pid, tid, thread_name}} (pid, tid ≥ 0). */
  threadTrack(rel: number, uuid: number, pid: number, tid: number, name: string | null): void {
    const w = this.open(rel, false);
    w.begin(TracePacket.track_descriptor);
    w.uint(TrackDescriptor.uuid, uuid);
    w.begin(TrackDescriptor.thread);
    w.uint(ThreadDescriptor.pid, pid);
    w.uint(ThreadDescriptor.tid, tid);
    if (name) w.string(ThreadDescriptor.thread_name, name);
    w.end();
    w.end();
    this.close();
  }

  /** A named child track of `parentUuid` (async lanes, overlap lanes). */
  childTrack(rel: number, uuid: number, parentUuid: number, name: string): void {
    const w = this.open(rel, false);
    w.begin(TracePacket.track_descriptor);
    w.uint(TrackDescriptor.uuid, uuid);
    w.uint(TrackDescriptor.parent_uuid, parentUuid);
    w.string(TrackDescriptor.name, name);
    w.end();
    this.close();
  }

  /**
   * A counter track under `parentUuid`: TrackDescriptor{uuid, parent_uuid, name, counter{unit,
   * unit_name}}, the unit fields from the measure's unit text (see `counterUnit`).
   */
  counterTrack(rel: number, uuid: number, parentUuid: number, name: string, unitText: string | null): void {
    const { unit, unitName } = counterUnit(unitText);
    const w = this.open(rel, false);
    w.begin(TracePacket.track_descriptor);
    w.uint(TrackDescriptor.uuid, uuid);
    w.uint(TrackDescriptor.parent_uuid, parentUuid);
    w.string(TrackDescriptor.name, name);
    w.begin(TrackDescriptor.counter);
    if (unit !== 0) w.uint(CounterDescriptor.unit, unit);
    if (unitName) w.string(CounterDescriptor.unit_name, unitName);
    w.end();
    w.end();
    this.close();
  }

  /**
   * A SLICE_BEGIN or INSTANT on `track`: interned name and category (iid 0 = none), the args
   * as one debug annotation `args` holding the JSON text (UTF-8 bytes) (legacy_json_value, which
   * trace_processor expands into `debug.args.*`), and the flow ids of entry `flowEntry` of
   * `flows` (null: none; fixed64, unpacked).
   */
  slice(
    type: number,
    rel: number,
    track: number,
    nameIid: number,
    categoryIid: number,
    argsJson: ByteRange | null,
    flows: FlowWriter | null,
    flowEntry: number,
  ): void {
    const argsIid = argsJson !== null ? this.annotationNameIid("args") : 0;
    if (
      flows === null &&
      (argsJson === null || argsJson.len <= FAST_ARGS) &&
      track < FAST_MAX &&
      nameIid < FAST_MAX &&
      categoryIid < FAST_MAX &&
      this.plain()
    ) {
      // Fast path: every length fits one byte (packet < 128 bytes).
      const w = this.out;
      w.ensure(128);
      const b = w.buf;
      b[w.pos] = 0x0a;
      const at = w.pos + 1;
      let p = this.header(b, at + 1, rel);
      b[p++] = 0x5a; // track_event
      const te = p++;
      b[p++] = 0x48; // type
      b[p++] = type;
      b[p++] = 0x58; // track_uuid
      p = putVarint(b, p, track);
      if (nameIid) {
        b[p++] = 0x50;
        p = putVarint(b, p, nameIid);
      }
      if (categoryIid) {
        b[p++] = 0x18;
        p = putVarint(b, p, categoryIid);
      }
      if (argsJson !== null) {
        b[p++] = 0x22; // debug_annotations
        const da = p++;
        b[p++] = 0x08; // name_iid
        p = putVarint(b, p, argsIid);
        b[p++] = 0x4a; // legacy_json_value
        const sl = p++;
        p = putBytes(b, p, argsJson.buf, argsJson.off, argsJson.len);
        b[sl] = p - sl - 1;
        b[da] = p - da - 1;
      }
      b[te] = p - te - 1;
      b[at] = p - at - 1;
      w.pos = p;
      this.packets++;
      return;
    }
    const w = this.open(rel, true);
    w.begin(TracePacket.track_event);
    w.uint(TrackEvent.type, type);
    w.uint(TrackEvent.track_uuid, track);
    if (nameIid) w.uint(TrackEvent.name_iid, nameIid);
    if (categoryIid) w.uint(TrackEvent.category_iids, categoryIid);
    if (argsJson !== null) {
      w.begin(TrackEvent.debug_annotations);
      w.uint(DebugAnnotation.name_iid, argsIid);
      w.tag(DebugAnnotation.legacy_json_value, 2);
      w.varint(argsJson.len);
      w.ensure(argsJson.len);
      w.pos = putBytes(w.buf, w.pos, argsJson.buf, argsJson.off, argsJson.len);
      w.end();
    }
    if (flows !== null) flows.writeFlows(w, flowEntry);
    w.end();
    this.close();
  }

  /** A SLICE_END on `track` (no name: it closes the top slice of the track, §3 nesting rules). */
  sliceEnd(rel: number, track: number): void {
    if (this.plain()) {
      // Fast path: every length fits one byte (packet ≤ 40 bytes).
      const w = this.out;
      w.ensure(48);
      const b = w.buf;
      b[w.pos] = 0x0a;
      const at = w.pos + 1;
      let p = this.header(b, at + 1, rel);
      b[p++] = 0x5a; // track_event
      const te = p++;
      b[p++] = 0x48; // type
      b[p++] = SLICE_END;
      b[p++] = 0x58; // track_uuid
      p = putVarint(b, p, track);
      b[te] = p - te - 1;
      b[at] = p - at - 1;
      w.pos = p;
      this.packets++;
      return;
    }
    const w = this.open(rel, true);
    w.begin(TracePacket.track_event);
    w.uint(TrackEvent.type, SLICE_END);
    w.uint(TrackEvent.track_uuid, track);
    w.end();
    this.close();
  }

  /** A COUNTER event with a double value on a counter track. */
  counter(rel: number, track: number, value: number): void {
    const w = this.open(rel, true);
    w.begin(TracePacket.track_event);
    w.uint(TrackEvent.type, COUNTER);
    w.uint(TrackEvent.track_uuid, track);
    w.double(TrackEvent.double_counter_value, value);
    w.end();
    this.close();
  }

  /**
   * A log entry: an INSTANT on a thread track carrying LogMessage{body_iid, prio}; the body is
   * interned (LogMessage has no inline body, §2.9), the name and category as for slices, and
   * the flow ids of entry `flowEntry` of `flows` (null: none; fixed64, unpacked;
   * trace_processor binds them to the instant's 0-duration slice).
   */
  log(
    rel: number,
    track: number,
    nameIid: number,
    categoryIid: number,
    body: string | number,
    prio: LogPriority,
    argsJson: ByteRange | null,
    flows: FlowWriter | null = null,
    flowEntry = -1,
  ): void {
    const bodyIid = typeof body === "number" ? body : this.logBodyIid(body);
    const argsIid = argsJson !== null ? this.annotationNameIid("args") : 0;
    const w = this.open(rel, true);
    w.begin(TracePacket.track_event);
    w.uint(TrackEvent.type, INSTANT);
    w.uint(TrackEvent.track_uuid, track);
    if (nameIid) w.uint(TrackEvent.name_iid, nameIid);
    if (categoryIid) w.uint(TrackEvent.category_iids, categoryIid);
    if (argsJson !== null) {
      w.begin(TrackEvent.debug_annotations);
      w.uint(DebugAnnotation.name_iid, argsIid);
      w.tag(DebugAnnotation.legacy_json_value, 2);
      w.varint(argsJson.len);
      w.ensure(argsJson.len);
      w.pos = putBytes(w.buf, w.pos, argsJson.buf, argsJson.off, argsJson.len);
      w.end();
    }
    w.begin(TrackEvent.log_message);
    w.uint(LogMessage.body_iid, bodyIid);
    w.uint(LogMessage.prio, prio);
    w.end();
    if (flows !== null) flows.writeFlows(w, flowEntry);
    w.end();
    this.close();
  }

  /** True when the next event packet needs no flags but SequenceFlags.SEQ_NEEDS_INCREMENTAL_STATE and no interned data. */
  private plain(): boolean {
    return (
      !this.first &&
      !this.cleared &&
      this.names.pendingIid.length === 0 &&
      this.categories.pendingIid.length === 0 &&
      this.annotationNames.pendingIid.length === 0 &&
      this.logBodies.pendingIid.length === 0
    );
  }

  /**
   * Writes timestamp, trusted_packet_sequence_id and sequence_flags = SEQ_NEEDS_INCREMENTAL_STATE
   * at b[p] (≤ 20 bytes); returns the position after them.
   */
  private header(b: Uint8Array, p0: number, rel: number): number {
    const total = this.baseLo + rel;
    const carry = Math.floor(total / TWO32);
    let p = p0;
    b[p++] = 0x40; // timestamp
    p = putVarint64(b, p, this.baseHi + carry, total - carry * TWO32);
    b[p++] = 0x50; // trusted_packet_sequence_id
    p = putVarint(b, p, this.sequenceId);
    b[p++] = 0x68; // sequence_flags
    b[p++] = SequenceFlags.SEQ_NEEDS_INCREMENTAL_STATE;
    return p;
  }

  /** Starts a packet: frame, timestamp, sequence id, flags and pending interned data. */
  private open(rel: number, interning: boolean): ProtoWriter {
    const w = this.out;
    w.begin(Trace.packet);
    const total = this.baseLo + rel;
    const carry = Math.floor(total / TWO32);
    w.tag(TracePacket.timestamp, 0);
    w.varint64(this.baseHi + carry, total - carry * TWO32);
    w.uint(TracePacket.trusted_packet_sequence_id, this.sequenceId);
    if (this.first) {
      w.uint(
        TracePacket.sequence_flags,
        SequenceFlags.SEQ_INCREMENTAL_STATE_CLEARED | SequenceFlags.SEQ_NEEDS_INCREMENTAL_STATE,
      );
      w.uint(TracePacket.first_packet_on_sequence, 1);
      this.first = false;
      this.cleared = false;
    } else if (this.cleared) {
      w.uint(
        TracePacket.sequence_flags,
        SequenceFlags.SEQ_INCREMENTAL_STATE_CLEARED | SequenceFlags.SEQ_NEEDS_INCREMENTAL_STATE,
      );
      this.cleared = false;
    } else if (interning) w.uint(TracePacket.sequence_flags, SequenceFlags.SEQ_NEEDS_INCREMENTAL_STATE);
    if (
      this.names.pendingIid.length +
        this.categories.pendingIid.length +
        this.annotationNames.pendingIid.length +
        this.logBodies.pendingIid.length >
      0
    ) {
      w.begin(TracePacket.interned_data);
      this.writeEntries(InternedData.event_categories, this.categories);
      this.writeEntries(InternedData.event_names, this.names);
      this.writeEntries(InternedData.debug_annotation_names, this.annotationNames);
      this.writeEntries(InternedData.log_message_body, this.logBodies);
      w.end();
    }
    return w;
  }

  private writeEntries(field: number, t: InternTable): void {
    const w = this.out;
    for (let i = 0; i < t.pendingIid.length; i++) {
      w.begin(field);
      w.uint(InternedEntry.iid, t.pendingIid[i] as number);
      w.string(InternedEntry.name, t.pendingText[i] as string);
      w.end();
    }
    t.pendingIid.length = 0;
    t.pendingText.length = 0;
  }

  /** Ends a packet; clears the interning state when a table is full. */
  private close(): void {
    this.out.end();
    this.packets++;
    if (
      this.names.ids.size >= INTERN_LIMIT ||
      this.categories.ids.size >= INTERN_LIMIT ||
      this.annotationNames.ids.size >= INTERN_LIMIT ||
      this.logBodies.ids.size >= INTERN_LIMIT
    ) {
      this.names.clear();
      this.categories.clear();
      this.annotationNames.clear();
      this.logBodies.clear();
      this.cleared = true;
    }
  }
}
