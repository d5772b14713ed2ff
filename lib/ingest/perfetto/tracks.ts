/**
 * Perfetto tracks: reads TrackDescriptors into a track table, names processes and threads in
 * the sink, and tells which process and thread a track's events belong to (following
 * `parent_uuid`), with the sink streams of its rows.
 *
 * TrackDescriptors must come before the events that use them (trace_processor reads them all
 * first; a streaming reader cannot): an event on an unknown track is dropped and counted by the
 * caller. Tracks without a process go to a process with source pid `global`.
 * Field numbers: reference/perfetto.md §2.3-2.6.
 */
import { CounterDescriptor, ProcessDescriptor, ThreadDescriptor, TrackDescriptor } from "../../perfetto/fields.ts";
import { WireReader, WT_LEN } from "../../perfetto/wire_reader.ts";
import type { RawRowSink, RowStream } from "../blocks/raw_rows.ts";
import type { ImportCounts } from "./counts.ts";
import type { Key, SeqState } from "./sequence.ts";

/** The source pid used for tracks that belong to no process. */
export const GLOBAL_PID = "global";

/** Counter units (CounterDescriptor.Unit values as text, as `measures.unit` holds them). */
const UNIT_NAMES = ["", "ns", "count", "bytes"];

/** A counter track's CounterDescriptor. */
export interface CounterInfo {
  /** CounterDescriptor.type: 1 = thread time (ns), 2 = thread instruction count. */
  type: number;
  multiplier: number;
  incremental: boolean;
  unit: string | null;
}

/** A track as its descriptors described it. */
export interface Track {
  uuid: Key;
  parent: Key | null;
  name: string | null;
  pid: string | null;
  tid: string | null;
  counter: CounterInfo | null;
}

/** Where a track's events go. */
export interface Assoc {
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

/** The trace's tracks, by uuid. */
export class Tracks {
  private readonly tracks = new Map<Key, Track>();
  private readonly assocCache = new Map<Key, Assoc | null>();
  /** The track looked up last and its association (runs of events share a track). */
  private lastUuid: Key | null = null;
  private lastAssoc: Assoc | null = null;
  /** Processes whose name was set (the first non-empty one is kept). */
  private readonly firstNamed = new Set<string>();

  constructor(
    private readonly sink: RawRowSink,
    private readonly counts: ImportCounts,
  ) {}

  /** The track with `uuid`, if declared. */
  get(uuid: Key): Track | undefined {
    return this.tracks.get(uuid);
  }

  /**
   * Reads a TrackDescriptor `buf[s, e)`: records the track and names its process or thread in
   * the sink.
   * @throws WireError on malformed data.
   */
  descriptor(buf: Uint8Array, s: number, e: number): void {
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
            else if (x.field === ProcessDescriptor.process_labels && x.wireType === WT_LEN) {
              proc.labels.push(x.string());
            } else x.skip();
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
      this.counts.count("TrackDescriptor", "skipped", "track descriptor without uuid");
      return;
    }
    let t = this.tracks.get(uuid);
    if (!t) {
      t = { uuid, parent: null, name: null, pid: null, tid: null, counter: null };
      this.tracks.set(uuid, t);
    }
    this.assocCache.clear();
    this.lastUuid = null;
    if (parent !== null) t.parent = parent;
    if (name !== null && name !== "" && t.name === null) t.name = name;
    if (counter) t.counter = counter;
    if (thread && thread.pid !== null && thread.tid !== null) {
      t.pid = thread.pid;
      t.tid = thread.tid;
      const th = this.sink.thread(thread.pid, thread.tid);
      // A thread may be renamed (Chromium names its pool threads after they start): keep the last name.
      if (thread.name) th.name = thread.name;
      this.counts.count("TrackDescriptor", "metadata", null);
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
      this.counts.count("TrackDescriptor", "metadata", null);
    } else this.counts.count("TrackDescriptor", "metadata", null);
  }

  /** The process/thread a track belongs to (following parent_uuid), or null for an unknown track. */
  assoc(uuid: Key): Assoc | null {
    if (uuid === this.lastUuid) return this.lastAssoc;
    const cached = this.assocCache.get(uuid);
    if (cached !== undefined) {
      this.lastUuid = uuid;
      this.lastAssoc = cached;
      return cached;
    }
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
    this.lastUuid = uuid;
    this.lastAssoc = a;
    return a;
  }

  /** The sink stream of a thread or process track's own rows (its thread's, or the process's), cached. */
  stream(a: Assoc, dest: "cpu" | "log"): RowStream {
    if (dest === "cpu") {
      if (a.cpuStream === undefined) a.cpuStream = this.sink.stream(a.pid, a.tid, "cpu");
      return a.cpuStream;
    }
    if (a.logStream === undefined) a.logStream = this.sink.stream(a.pid, a.tid, "log");
    return a.logStream;
  }

  /** The thread of the sequence's default track when it is in process `pid`. */
  sequenceThread(seq: SeqState | null, pid: string): string | null {
    if (!seq || seq.defaultTrack === null) return null;
    const a = this.assoc(seq.defaultTrack);
    return a && a.pid === pid ? a.tid : null;
  }

  /** Names the `global` process (tracks of no process) on first use. */
  namedGlobal(): void {
    const p = this.sink.process(GLOBAL_PID);
    if (p.name === null) p.name = "global tracks";
  }
}
