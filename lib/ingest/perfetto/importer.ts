/**
 * Perfetto protobuf importer: the ingest contract (`push` bytes, `end`, `stats`) that
 * lib/ingest/importers.ts drives, and the dispatch of each TracePacket to the parts that read it
 * (reader.ts frames the stream, sequence.ts keeps per-sequence state and interning, clock.ts
 * converts timestamps, tracks.ts reads track descriptors, track_event.ts and legacy_event.ts
 * turn events into raw rows, args.ts makes args). Rows go out through `RawRowSink` as packets
 * arrive; memory is bounded by the largest packet plus the per-sequence incremental state and
 * the track table, not by the file size.
 *
 * Rules follow trace_processor (reference/perfetto.md §2 for field numbers, §3 for the rules):
 * a packet with SEQ_NEEDS_INCREMENTAL_STATE on a sequence whose state is invalid is dropped and
 * counted; `interned_data` on such a sequence is ignored; a packet whose clock cannot be
 * converted yet (no snapshot seen) is dropped and counted (trace_processor defers those to the
 * end of the trace; a streaming reader cannot). The mapping to rows: track_event.ts.
 */
import { SequenceFlags, TRACE_PACKET_OTHER_FIELDS, TracePacket } from "../../perfetto/fields.ts";
import { ReaderPool, WireReader, WT_LEN, WT_VARINT } from "../../perfetto/wire_reader.ts";
import type { RawRowSink } from "../blocks/raw_rows.ts";
import { ArgsBuilder, skipped } from "./args.ts";
import { Clocks, type Ns } from "./clock.ts";
import { ImportCounts, type PerfettoStats } from "./counts.ts";
import { PacketFramer } from "./reader.ts";
import { Sequences } from "./sequence.ts";
import { dfgOnlyParts } from "./tiers.ts";
import { TrackEventParser } from "./track_event.ts";
import { Tracks } from "./tracks.ts";

export type { PerfettoCount, PerfettoStats } from "./counts.ts";
export { GLOBAL_PID } from "./tracks.ts";

const { SEQ_INCREMENTAL_STATE_CLEARED, SEQ_NEEDS_INCREMENTAL_STATE } = SequenceFlags;

/**
 * Imports one Perfetto protobuf trace into a `RawRowSink`: `push` the decompressed bytes in
 * order (chunks may be reused by the caller after `push` returns), then `end`.
 */
export class PerfettoImporter {
  private readonly counts = new ImportCounts();
  private readonly framer: PacketFramer;
  private readonly seqs: Sequences;
  private readonly clocks = new Clocks();
  private readonly tracks: Tracks;
  private readonly events: TrackEventParser;
  /** The reader of packets (null while in use: compressed_packets nest). */
  private packetReader: WireReader | null = new WireReader(new Uint8Array(0), 0, 0);

  /**
   * @param sink where rows, processes and threads go.
   * @param inputName the input's name for error messages.
   * @param maxPacketBytes a packet longer than this is treated as corrupt data (default 256 MiB).
   */
  constructor(
    private readonly sink: RawRowSink,
    inputName: string,
    maxPacketBytes = 256 * 1024 * 1024,
  ) {
    dfgOnlyParts(PerfettoImporter);
    const pool = new ReaderPool();
    this.seqs = new Sequences(pool);
    this.tracks = new Tracks(sink, this.counts);
    this.events = new TrackEventParser(sink, this.seqs, this.tracks, this.counts, new ArgsBuilder(this.seqs, pool));
    this.framer = new PacketFramer(inputName, maxPacketBytes, this.counts, (buf, s, e) => this.packet(buf, s, e));
  }

  /** Packets read, counts by kind, destination and reason, and warnings. */
  get stats(): PerfettoStats {
    return this.counts.stats;
  }

  /**
   * Frames and imports the packets in `chunk` (and any packet completed by it).
   * @throws InputError when the bytes are not a Perfetto trace (bad framing, malformed packet).
   */
  push(chunk: Uint8Array): void {
    this.framer.push(chunk);
  }

  /**
   * Ends the input: writes pending rows' blocks.
   * @throws InputError when the input ends inside a packet (a truncated trace).
   */
  end(): void {
    this.framer.end();
    if (this.seqs.unresolved > 0) {
      this.counts.stats.warnings.push(
        `${this.seqs.unresolved} interned ids (names, categories, annotation names) were not found in their sequence's interned data`,
      );
    }
    this.sink.flush();
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
    const index = this.counts.stats.packets++;
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
            this.framer.compressedPackets(buf, r.lenStart, r.lenEnd);
          } else r.skip();
          break;
        case TracePacket.trusted_uid:
        case TracePacket.trusted_pid:
        case TracePacket.first_packet_on_sequence:
        case TracePacket.machine_id:
          r.skip();
          break;
        default:
          if (other === 0) other = r.field;
          r.skip();
      }
    }
    if (seqId !== 0) {
      if (dropped) this.seqs.get(seqId).valid = false;
      if (cleared || (flags & SEQ_INCREMENTAL_STATE_CLEARED) !== 0) this.seqs.clear(seqId);
    }
    const st = seqId !== 0 ? this.seqs.get(seqId) : null;
    if ((flags & SEQ_NEEDS_INCREMENTAL_STATE) !== 0 && st && !st.valid) {
      this.counts.count(
        packetKind(event, descriptor, other),
        "skipped",
        "needs incremental state on a sequence whose state is invalid (data lost before it)",
      );
      return;
    }
    if (interned >= 0 && st) {
      if (st.valid) this.seqs.internedData(st, buf, interned, internedEnd);
      else this.counts.count("", "skipped", "interned data on a sequence whose state is invalid");
    }
    if (defaults >= 0 && st) this.seqs.packetDefaults(st, buf, defaults, defaultsEnd);
    if (snapshot >= 0) this.clocks.clockSnapshot(st, buf, snapshot, snapshotEnd);
    if (descriptor >= 0) this.tracks.descriptor(buf, descriptor, descriptorEnd);
    if (event >= 0) {
      const t = this.clocks.eventTime(st, ts, clockId);
      if (t === null) {
        this.counts.count("", "skipped", "timestamp in a clock with no ClockSnapshot relating it to the trace clock");
        return;
      }
      this.events.trackEvent(index, st, t, buf, event, eventEnd);
    } else {
      // Any packet's timestamp advances an incremental clock (a delta applies to every packet of
      // the sequence, whatever it carries).
      if (ts !== null && snapshot < 0) this.clocks.eventTime(st, ts, clockId);
      if (snapshot < 0 && descriptor < 0 && other !== 0) {
        this.counts.count(
          TRACE_PACKET_OTHER_FIELDS[other] ?? `packet field ${other}`,
          "skipped",
          "packet type not imported",
        );
      }
    }
  }
}

function packetKind(event: number, descriptor: number, other: number): string {
  if (event >= 0) return "TrackEvent";
  if (descriptor >= 0) return "TrackDescriptor";
  return other ? (TRACE_PACKET_OTHER_FIELDS[other] ?? `packet field ${other}`) : "packet";
}
