/**
 * Perfetto TrackEvents → raw rows: slices (SLICE_BEGIN/END), instants, counters (COUNTER and
 * extra counter values), log messages and flows, each on the stream of its track's thread or
 * process; events carrying a `legacy_event` go to legacy_event.ts, debug annotations to args.ts.
 *
 * Mapping (README "Perfetto protobuf"): SLICE_BEGIN/END on a thread track → `B`/`E` on the
 * thread's `cpu` stream; on any other track (async, custom, process) → `b`/`e` with `id` = the
 * track uuid, on the `cpu` stream of the thread the track belongs to, else of the thread of the
 * sequence's default track, else of a thread with tid = pid; INSTANT → `i` (log stream, `s` =
 * `t` on a thread track, `p` on a process track) or `n` on other tracks; a `log_message` → `L`
 * (log record with level); COUNTER and extra counter values → `V` on the `metrics` stream
 * (thread-time counters become the `thread_time` column instead); debug annotations and the
 * source location → args; flows → `bind_id`/`flow_in`/`flow_out`. Field numbers:
 * reference/perfetto.md §2.7, §2.9.
 */
import {
  BuiltinCounterType,
  LogMessage,
  SourceLocation as SourceLocationField,
  TrackEvent,
  TrackEventType,
} from "../../perfetto/fields.ts";
import { U64Set } from "../../perfetto/u64_set.ts";
import {
  keyText,
  readRepeatedDoubles,
  readRepeatedKeys,
  readRepeatedNumbers,
  readRepeatedParts,
  u64Text,
  WireReader,
  WT_I64,
  WT_LEN,
  WT_VARINT,
} from "../../perfetto/wire_reader.ts";
import { type RawRow, type RawRowSink, resetRow } from "../blocks/raw_rows.ts";
import { type ArgsBuilder, skipped } from "./args.ts";
import type { Ns } from "./clock.ts";
import type { ImportCounts } from "./counts.ts";
import { type LegacyContext, legacyEvent } from "./legacy_event.ts";
import type { Interned, Key, SeqState, Sequences, SourceLoc } from "./sequence.ts";
import { type Assoc, type CounterInfo, GLOBAL_PID, type Track, type Tracks } from "./tracks.ts";

const { TYPE_SLICE_BEGIN, TYPE_SLICE_END, TYPE_INSTANT, TYPE_COUNTER, TYPE_STATE } = TrackEventType;

/** LogMessage.Priority → micromegas level (1 fatal … 6 trace). PRIO_UNSPECIFIED/UNUSED → info. */
const PRIO_LEVEL = [4, 4, 6, 5, 4, 3, 2, 1];

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder();

/** An empty list of track uuids. */
const NO_KEYS: Key[] = [];

const TYPE_NAMES = ["", "SLICE_BEGIN", "SLICE_END", "INSTANT", "COUNTER", "STATE"];

/** One open slice on a track (for END names and categories). */
interface Open {
  name: string | null;
  cat: string | null;
  nameUtf8: Uint8Array | null;
  catUtf8: Uint8Array | null;
}

/** Reads TrackEvents into rows; keeps the open slices per track and the open flows. */
export class TrackEventParser {
  private readonly stacks = new Map<Key, Open[]>();
  /** Flow ids seen on a first event and not terminated (to tell flow_out from a step). */
  private readonly openFlows = new U64Set();
  private readonly row: RawRow = resetRow(null, 0, "", 0);
  private readonly eventReader = new WireReader(new Uint8Array(0), 0, 0);
  private readonly legacyContext: LegacyContext;
  private readonly scratch = {
    catIids: [] as Key[],
    cats: [] as string[],
    annotations: [] as number[],
    /** Flow ids as (hi, lo) pairs (readRepeatedParts). */
    flowIds: [] as number[],
    terminating: [] as number[],
    extraUuids: [] as Key[],
    extraValues: [] as number[],
    extraDoubleUuids: [] as Key[],
    extraDoubleValues: [] as number[],
  };

  constructor(
    private readonly sink: RawRowSink,
    private readonly seqs: Sequences,
    private readonly tracks: Tracks,
    private readonly counts: ImportCounts,
    private readonly argsBuilder: ArgsBuilder,
  ) {
    this.legacyContext = { seqs, counts, tracks, sink };
  }

  /**
   * Imports one TrackEvent `buf[s, e)` of packet `index` at trace time `time` (ns).
   * @throws WireError on malformed data.
   */
  trackEvent(index: number, seq: SeqState | null, time: Ns, buf: Uint8Array, s: number, e: number): void {
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
    let srcLoc: SourceLoc | null = null;
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
            readRepeatedKeys(r, catIids, false);
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
          readRepeatedParts(r, flowIds, r.field === TrackEvent.flow_ids);
          break;
        case TrackEvent.terminating_flow_ids:
        case TrackEvent.terminating_flow_ids_old:
          readRepeatedParts(r, terminating, r.field === TrackEvent.terminating_flow_ids);
          break;
        case TrackEvent.extra_counter_track_uuids:
          extraUuids = sc.extraUuids;
          readRepeatedKeys(r, extraUuids, false);
          break;
        case TrackEvent.extra_counter_values:
          if (r.wireType === WT_VARINT) extraValues.push(Number(r.i64()));
          else readRepeatedNumbers(r, extraValues);
          break;
        case TrackEvent.extra_double_counter_track_uuids:
          extraDoubleUuids = sc.extraDoubleUuids;
          readRepeatedKeys(r, extraDoubleUuids, false);
          break;
        case TrackEvent.extra_double_counter_values:
          readRepeatedDoubles(r, extraDoubleValues);
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
          if (!srcLoc) this.seqs.unresolved++;
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
      this.counts.count("TYPE_STATE", "skipped", "TrackEvent type not imported");
      return;
    }
    if (type === 0 && legacyStart < 0) {
      this.counts.count("TYPE_UNSPECIFIED", "skipped", "TrackEvent without type or legacy_event");
      return;
    }
    if (type > TYPE_STATE) {
      this.counts.count(`type ${type}`, "skipped", "unknown TrackEvent type");
      return;
    }
    if (trackUuid === null) trackUuid = seq?.defaultTrack ?? 0;
    let a: Assoc | null = this.tracks.assoc(trackUuid);
    if (trackUuid === 0 && type === 0 && seq !== null && seq.defaultTrack !== null) {
      // A legacy event (no type) on track 0, even set explicitly (Chromium sets it on marks and
      // instants), goes to its sequence's thread, as trace_processor files it (it falls back to the
      // sequence's pid/tid when the uuid is 0 and the event has no type; ours: the thread of the
      // sequence's default track).
      const d = this.tracks.assoc(seq.defaultTrack);
      if (d !== null && d.tid !== null) a = d;
    }
    if (!a) {
      if (trackUuid === 0) a = { pid: GLOBAL_PID, tid: null, threadTrack: false, processTrack: false };
      else {
        this.counts.count(
          TYPE_NAMES[type] || "legacy_event",
          "skipped",
          "track_uuid not declared by a TrackDescriptor before use",
        );
        return;
      }
    }
    let nameUtf8: Uint8Array | null = null;
    if (nameIid !== null && seq) {
      const it = this.seqs.lookup(seq.names, nameIid);
      name = it === null ? null : it.text;
      if (it !== null) nameUtf8 = it.utf8;
    }
    let cat: string | null;
    let catUtf8: Uint8Array | null = null;
    if (nCat === 1 && cats.length === 0) {
      // The common case: one interned category, used as is.
      const it = seq ? this.seqs.lookup(seq.categories, catIids[0] as Key) : null;
      cat = it === null ? null : it.text;
      if (it !== null) catUtf8 = it.utf8;
    } else if (nCat === 2 && cats.length === 0 && seq !== null) {
      // Two interned categories (Chromium's "toplevel,disabled-by-default-..." events): joined
      // once per sequence generation and pair.
      const it = this.categoryPair(seq, catIids[0] as Key, catIids[1] as Key);
      cat = it === null ? null : it.text;
      if (it !== null) catUtf8 = it.utf8;
    } else {
      for (let k = 0; k < nCat; k++) {
        const c = seq ? this.seqs.lookup(seq.categories, catIids[k] as Key) : null;
        if (c !== null) cats.push(c.text);
      }
      cat = cats.length > 0 ? cats.join(",") : null;
    }

    // Extra counter values (thread time goes to the row; others become measures).
    let threadTime: Ns | null = null;
    if (extraValues.length !== 0) {
      const eu = extraUuids ?? seq?.defaultExtraCounters ?? NO_KEYS;
      const n = Math.min(eu.length, extraValues.length);
      for (let k = 0; k < n; k++) {
        const t = this.extraCounter(index, time, seq, eu[k] as Key, extraValues[k] as number);
        if (t !== null) threadTime = t;
      }
    }
    if (extraDoubleValues.length !== 0) {
      const edu = extraDoubleUuids ?? seq?.defaultExtraDoubleCounters ?? NO_KEYS;
      const n = Math.min(edu.length, extraDoubleValues.length);
      for (let k = 0; k < n; k++) {
        const t = this.extraCounter(index, time, seq, edu[k] as Key, extraDoubleValues[k] as number);
        if (t !== null) threadTime = t;
      }
    }

    if (type === TYPE_COUNTER) {
      const ct = this.tracks.get(trackUuid);
      if (!ct?.counter) {
        this.counts.count("TYPE_COUNTER", "skipped", "COUNTER on a track that is not a counter track");
        return;
      }
      if (counterValue === null) {
        this.counts.count("TYPE_COUNTER", "skipped", "COUNTER without a value");
        return;
      }
      this.emitCounter(index, time, ct, this.counterValue(seq, ct, counterValue), "TYPE_COUNTER");
      return;
    }

    // One row object, reused: the sink copies it into column buffers at once.
    const row = resetRow(this.row, index, "", time);
    this.argsBuilder.fill(row, seq, buf, annotations, srcLoc);
    row.name = name;
    row.cat = cat;
    row.nameUtf8 = nameUtf8;
    row.catUtf8 = catUtf8;
    row.threadTime = threadTime;
    if (flowIds.length > 0 || terminating.length > 0) this.flows(row, flowIds, terminating);

    if (logStart >= 0) {
      this.logMessage(row, seq, a, buf, logStart, logEnd, srcLoc);
      if (type === TYPE_INSTANT) return;
    }
    const cpuTid = a.tid ?? this.tracks.sequenceThread(seq, a.pid) ?? a.pid;
    if (type === 0) {
      legacyEvent(this.legacyContext, row, seq, a, cpuTid, buf, legacyStart, legacyEnd);
      return;
    }
    if (a.threadTrack) {
      if (type === TYPE_SLICE_BEGIN) {
        this.pushOpen(trackUuid, { name, cat, nameUtf8, catUtf8 });
        row.ph = "B";
        this.sink.addTo(this.tracks.stream(a, "cpu"), row);
        this.counts.countHot(0, "SLICE_BEGIN", "cpu");
      } else if (type === TYPE_SLICE_END) {
        const o = this.popOpen(trackUuid);
        row.ph = "E";
        closeFromOpen(row, o);
        this.sink.addTo(this.tracks.stream(a, "cpu"), row);
        this.counts.countHot(1, "SLICE_END", "cpu");
      } else {
        row.ph = "i";
        row.s = "t";
        this.sink.addTo(this.tracks.stream(a, "log"), row);
        this.counts.countHot(2, "INSTANT", "log");
      }
      return;
    }
    if (type === TYPE_INSTANT && a.processTrack) {
      row.ph = "i";
      row.s = "p";
      this.sink.addTo(this.tracks.stream(a, "log"), row);
      this.counts.countHot(2, "INSTANT", "log");
      return;
    }
    if (a.idText === undefined) a.idText = keyText(trackUuid);
    row.id = a.idText;
    row.idScope = a.pid === GLOBAL_PID ? "global" : "local";
    if (type === TYPE_SLICE_BEGIN) {
      this.pushOpen(trackUuid, { name, cat, nameUtf8, catUtf8 });
      row.ph = "b";
      this.counts.countHot(0, "SLICE_BEGIN", "cpu");
    } else if (type === TYPE_SLICE_END) {
      const o = this.popOpen(trackUuid);
      row.ph = "e";
      // async_events pairs an end with its begin by (category, id) and name: carry the begin's.
      closeFromOpen(row, o);
      this.counts.countHot(1, "SLICE_END", "cpu");
    } else {
      row.ph = "n";
      if (row.cat === null) {
        const o = this.stacks.get(trackUuid)?.at(-1);
        row.cat = o?.cat ?? null;
        row.catUtf8 = o?.catUtf8 ?? null;
      }
      this.counts.countHot(3, "INSTANT", "cpu");
    }
    if (a.pid === GLOBAL_PID) this.tracks.namedGlobal();
    this.sink.add(a.pid, cpuTid, "cpu", row);
  }

  /**
   * The categories `a` and `b` of `seq`, joined by a comma (cached in the sequence's state), or
   * as the general path makes them when either is not interned (null when neither is).
   */
  private categoryPair(seq: SeqState, a: Key, b: Key): Interned | null {
    let byB = seq.categoryPairs.get(a);
    const hit = byB?.get(b);
    if (hit !== undefined) return hit;
    const ca = this.seqs.lookup(seq.categories, a);
    const cb = this.seqs.lookup(seq.categories, b);
    if (ca === null || cb === null) {
      const one = ca ?? cb;
      return one === null ? null : one;
    }
    const text = `${ca.text},${cb.text}`;
    const it = { text, utf8: utf8Encoder.encode(text) };
    if (byB === undefined) {
      byB = new Map();
      seq.categoryPairs.set(a, byB);
    }
    byB.set(b, it);
    return it;
  }

  /**
   * One extra counter value `v` on counter track `u`: a measure row, or (a thread-time counter)
   * the thread time in ns, returned for the event's row.
   * @returns the thread time, or null.
   */
  private extraCounter(index: number, time: Ns, seq: SeqState | null, u: Key, v: number): number | null {
    const ct = this.tracks.get(u);
    if (!ct?.counter) {
      this.counts.count("extra counter", "skipped", "extra counter value on a track that is not a counter track");
      return null;
    }
    const value = this.counterValue(seq, ct, v);
    if (ct.counter.type === BuiltinCounterType.COUNTER_THREAD_TIME_NS) return Math.round(value);
    this.emitCounter(index, time, ct, value, "extra counter");
    return null;
  }

  /** Opens a slice on `track`'s stack. */
  private pushOpen(track: Key, o: Open): void {
    let s = this.stacks.get(track);
    if (!s) {
      s = [];
      this.stacks.set(track, s);
    }
    // Bounded like trace_processor's stack (kMaxDepth = 512): deeper entries are not tracked.
    if (s.length < 512) s.push(o);
  }

  /** Closes the top slice of `track`'s stack. */
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

  /** A `V` row for a counter value at `time` (ns) on the metrics stream of the counter track's process or thread. */
  private emitCounter(index: number, time: Ns, t: Track, value: number, kind: string): void {
    const a = this.tracks.assoc(t.uuid) ?? { pid: GLOBAL_PID, tid: null, threadTrack: false, processTrack: false };
    if (a.pid === GLOBAL_PID) this.tracks.namedGlobal();
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
    this.counts.count(kind, "metrics", null);
  }

  /** A TrackEvent's `log_message` `buf[s, e)` → an `L` row on the thread's log stream (a thread track or below one). */
  private logMessage(
    row: RawRow,
    seq: SeqState | null,
    a: Assoc,
    buf: Uint8Array,
    s: number,
    e: number,
    eventLoc: SourceLoc | null,
  ): void {
    if (a.tid === null) {
      this.counts.count("log_message", "skipped", "LogMessage without thread association");
      return;
    }
    const r = new WireReader(buf, s, e);
    let body: string | null = null;
    let prio = 0;
    let loc: SourceLoc | null = eventLoc;
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
      this.counts.count("log_message", "skipped", "LogMessage body_iid not found in the sequence's interned data");
      return;
    }
    const props = argsObject(row);
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
    this.counts.count("log_message", "log", null);
  }

  /**
   * Flow ids → bind_id (the first id), flow_out (a flow starts or continues), flow_in (it ends or
   * continues). `ids` and `terminating` hold (hi, lo) pairs (readRepeatedParts).
   */
  private flows(row: RawRow, ids: number[], terminating: number[]): void {
    const first = ids.length > 0 ? ids : terminating;
    row.bindId = first.length > 0 ? u64Text(first[0] as number, first[1] as number) : "0";
    let flowIn = false;
    let flowOut = false;
    for (let k = 0; k < ids.length; k += 2) {
      if (!this.openFlows.add(ids[k] as number, ids[k + 1] as number)) flowIn = true;
      flowOut = true;
    }
    for (let k = 0; k < terminating.length; k += 2) {
      flowIn = true;
      this.openFlows.delete(terminating[k] as number, terminating[k + 1] as number);
    }
    row.flowIn = flowIn;
    row.flowOut = flowOut;
    if (ids.length + terminating.length > 2) {
      const props = argsObject(row);
      if (ids.length > 0) props.flow_ids = pairsText(ids);
      if (terminating.length > 0) props.terminating_flow_ids = pairsText(terminating);
      row.args = JSON.stringify(props);
      row.argsUtf8 = null;
    }
  }
}

/** The row's args as an object (empty when it has none). */
function argsObject(row: RawRow): Record<string, unknown> {
  if (row.argsUtf8 != null) return JSON.parse(utf8Decoder.decode(row.argsUtf8.subarray(0, row.argsUtf8End)));
  return row.args ? JSON.parse(row.args) : {};
}

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

/** The decimal texts of (hi, lo) pairs (readRepeatedParts). */
function pairsText(pairs: number[]): string[] {
  const out: string[] = [];
  for (let k = 0; k < pairs.length; k += 2) out.push(u64Text(pairs[k] as number, pairs[k + 1] as number));
  return out;
}
