/**
 * Perfetto packet sequences: each `trusted_packet_sequence_id`'s incremental state (interned
 * names, categories, annotation names and strings, source locations, log bodies; packet
 * defaults; sequence clocks; incremental counter values), its validity, and the reading of
 * `interned_data` and `trace_packet_defaults` into it.
 *
 * Rules (trace_processor, reference/perfetto.md §3): the state starts invalid; a packet with
 * SEQ_INCREMENTAL_STATE_CLEARED (or the deprecated `incremental_state_cleared`) resets it and
 * makes it valid; `previous_packet_dropped` makes it invalid.
 */
import {
  InternedData,
  InternedEntry,
  SourceLocation as SourceLocationField,
  TracePacketDefaults,
  TrackEventDefaults,
} from "../../perfetto/fields.ts";
import { type ReaderPool, readRepeatedKeys, WireReader, WT_LEN } from "../../perfetto/wire_reader.ts";
import type { SeqClocks } from "./clock.ts";

/** Key of a 64-bit id (see `WireReader.u64Key`). */
export type Key = number | string;

/** An interned event name or category: its text and UTF-8 (encoded once per sequence and iid). */
export interface Interned {
  text: string;
  utf8: Uint8Array;
}

/**
 * An interned debug annotation name or string value: its text and, made by args.ts on first
 * use, the UTF-8 of its JSON string literal (`JSON.stringify(text)`).
 */
export interface DebugText {
  text: string;
  json: Uint8Array | null;
}

/** A SourceLocation (interned or inline). */
export interface SourceLoc {
  file: string | null;
  func: string | null;
  line: number | null;
  /** The UTF-8 args JSON of an event that has only this location (made by args.ts on first use). */
  jsonUtf8?: Uint8Array;
}

/** A sequence's incremental state. */
export interface SeqState extends SeqClocks {
  valid: boolean;
  names: Map<Key, Interned>;
  categories: Map<Key, Interned>;
  debugNames: Map<Key, DebugText>;
  debugStrings: Map<Key, DebugText>;
  sourceLocations: Map<Key, SourceLoc>;
  logBodies: Map<Key, string>;
  defaultTrack: Key | null;
  defaultExtraCounters: Key[];
  defaultExtraDoubleCounters: Key[];
  /** Running values of incremental counters, by track. */
  counters: Map<Key, number>;
  /** Two categories joined ("a,b"), by their iids (emptied when categories are interned). */
  categoryPairs: Map<Key, Map<Key, Interned>>;
}

const utf8Encoder = new TextEncoder();

/** A fresh (invalid) sequence state. */
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
    categoryPairs: new Map(),
  };
}

/** The states of all sequences of a trace. */
export class Sequences {
  private readonly seqs = new Map<number, SeqState>();
  /** The sequence looked up last (most packets come in runs from one sequence). */
  private lastSeqId = 0;
  private lastSeq: SeqState | null = null;
  /** Interned ids looked up and not found (for a warning). */
  unresolved = 0;

  /** @param pool readers for nested messages. */
  constructor(private readonly pool: ReaderPool) {}

  /** The state of sequence `id` (≠ 0), created invalid on first use. */
  get(id: number): SeqState {
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

  /**
   * SEQ_INCREMENTAL_STATE_CLEARED on sequence `id`: a fresh, valid state replaces the old one.
   * Clock relations outlive a reset (a writer that clears its state without a new ClockSnapshot
   * still stamps in the same clocks); the new snapshot, if any, replaces them.
   */
  clear(id: number): void {
    const seq = this.get(id);
    const fresh = newSeqState();
    fresh.valid = true;
    fresh.clocks = seq.clocks;
    fresh.snapshot = seq.snapshot;
    this.seqs.set(id, fresh);
    this.lastSeqId = id;
    this.lastSeq = fresh;
  }

  /** `map.get(iid)`, or null (counted in `unresolved`) when the iid is not interned. */
  lookup<T>(map: Map<Key, T>, iid: Key): T | null {
    const v = map.get(iid);
    if (v === undefined) {
      this.unresolved++;
      return null;
    }
    return v;
  }

  /**
   * Reads TracePacketDefaults `buf[s, e)` into `seq` (default clock, track and extra counter tracks).
   * @throws WireError on malformed data.
   */
  packetDefaults(seq: SeqState, buf: Uint8Array, s: number, e: number): void {
    const r = new WireReader(buf, s, e);
    while (r.next()) {
      if (r.field === TracePacketDefaults.timestamp_clock_id) seq.defaultClock = r.varint();
      else if (r.field === TracePacketDefaults.track_event_defaults && r.wireType === WT_LEN) {
        const d = new WireReader(buf, r.lenStart, r.lenEnd);
        r.bytes();
        while (d.next()) {
          if (d.field === TrackEventDefaults.track_uuid) seq.defaultTrack = d.anyU64Key();
          else if (d.field === TrackEventDefaults.extra_counter_track_uuids) {
            readRepeatedKeys(d, seq.defaultExtraCounters, false);
          } else if (d.field === TrackEventDefaults.extra_double_counter_track_uuids) {
            readRepeatedKeys(d, seq.defaultExtraDoubleCounters, false);
          } else d.skip();
        }
      } else r.skip();
    }
  }

  /**
   * Reads InternedData `buf[s, e)` into `seq`'s tables (entries with the same iid replace
   * earlier ones).
   * @throws WireError on malformed data.
   */
  internedData(seq: SeqState, buf: Uint8Array, s: number, e: number): void {
    const pool = this.pool;
    const r = pool.take(buf, s, e);
    while (r.next()) {
      if (r.wireType !== WT_LEN) {
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
        const x = pool.take(buf, r.lenStart, r.lenEnd);
        r.bytes();
        let iid: Key = 0;
        let str = "";
        while (x.next()) {
          if (x.field === InternedEntry.iid) iid = x.u64Key();
          else if (x.field === InternedEntry.name && x.wireType === WT_LEN) str = x.string();
          else x.skip();
        }
        pool.release(x);
        if (f === InternedData.event_categories && seq.categoryPairs.size > 0) seq.categoryPairs.clear();
        (f === InternedData.event_categories ? seq.categories : seq.names).set(iid, {
          text: str,
          utf8: utf8Encoder.encode(str),
        });
      } else if (target) {
        // DebugAnnotationName/LogMessageBody/InternedString: iid = 1, name/body/str = 2.
        const x = pool.take(buf, r.lenStart, r.lenEnd);
        r.bytes();
        let iid: Key = 0;
        let str = "";
        while (x.next()) {
          if (x.field === InternedEntry.iid) iid = x.u64Key();
          else if (x.field === InternedEntry.name && x.wireType === WT_LEN) str = x.string();
          else x.skip();
        }
        pool.release(x);
        if (target === seq.logBodies) target.set(iid, str);
        else (target as Map<Key, DebugText>).set(iid, { text: str, json: null });
      } else if (f === InternedData.source_locations) {
        const x = pool.take(buf, r.lenStart, r.lenEnd);
        r.bytes();
        let iid: Key = 0;
        const loc: SourceLoc = { file: null, func: null, line: null };
        while (x.next()) {
          if (x.field === SourceLocationField.iid) iid = x.u64Key();
          else if (x.field === SourceLocationField.file_name && x.wireType === WT_LEN) loc.file = x.string();
          else if (x.field === SourceLocationField.function_name && x.wireType === WT_LEN) loc.func = x.string();
          else if (x.field === SourceLocationField.line_number) loc.line = x.varint();
          else x.skip();
        }
        pool.release(x);
        seq.sourceLocations.set(iid, loc);
      } else r.bytes();
    }
    pool.release(r);
  }
}
