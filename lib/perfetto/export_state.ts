/**
 * The state of one Perfetto export (lib/perfetto/export.ts): the public option and statistics
 * types, the per-export context (the TraceWriter and its interning lookups, track uuids, the queue
 * of pending thread-slice ENDs) and the per-process state the row sources share.
 */
import type { ChunkCursor } from "../duck/cursor.ts";
import { type ByteRange, TraceWriter } from "./packets.ts";
import type { FlowLists, InstantFlowsInOrder, SpanFlows } from "./span_flows.ts";

/** Which spans to export. */
export type SpanTypes = "thread" | "async" | "both";

/** One process to export: its process_id and the key of its view instances (see prepare). */
export interface ExportProcess {
  processId: string;
  /** Second argument of view_instance() under which prepareQuery defined its instances. */
  instanceKey: string;
  /**
   * The view sets (`log_entries`, `measures`) whose instance of this process reads in time
   * order as it is (lib/sql/query.ts instancesInTimeOrder): their rows stream unsorted, checked.
   * Others are sorted by DuckDB, which holds every row of the process until the export ends
   * (39 MB for the 189K log entries of a real 208 MB Chromium JSON trace).
   */
  inTimeOrder?: ReadonlySet<string>;
}

/** What to export. Times are ns since the epoch of the trace's clock (TIMESTAMP_NS values). */
export interface PerfettoExportOptions {
  processes: ExportProcess[];
  /** The lake directory. */
  lakeRoot: string;
  /**
   * The processes whose `flows` instances are read (default: `processes`): add the other
   * processes of the exported ones' ingests so that edges leaving an exported process for one
   * not exported are seen (each edge lives in the instance of the process it arrives in).
   */
  flowProcesses?: ExportProcess[];
  spans: SpanTypes;
  /** Keep spans that end at or after this time, events at or after it (null: no bound). */
  beginNs: bigint | null;
  /** Keep spans that begin at or before this time, events at or before it (null: no bound). */
  endNs: bigint | null;
  logs: boolean;
  counters: boolean;
  flows: boolean;
  /** Span and log args as a debug annotation `args` (default true). */
  args?: boolean;
  /** Target chunk size in bytes (default 1 MiB); a chunk exceeds it by at most one packet. */
  chunkBytes?: number;
  /**
   * Each chunk is a view of the export's buffer, valid only until the next chunk is pulled: for
   * a consumer that writes a chunk before it pulls the next (write_trace.ts
   * writesBeforeNextPull). Default false: each chunk is a copy of its own.
   */
  reuseChunks?: boolean;
}

/** Counts of what the export wrote, filled while the chunks are produced. */
export interface PerfettoExportStats {
  packets: number;
  bytes: number;
  chunks: number;
  threadSlices: number;
  /** Thread slices put on an overlap child track. */
  overlapSlices: number;
  asyncSlices: number;
  /** Async spans begun and never ended (written as a SLICE_BEGIN only). */
  asyncUnclosed: number;
  asyncInstants: number;
  /** async_events rows not written: unmatched ends, ends whose begin is outside the window. */
  asyncSkipped: number;
  counters: number;
  logs: number;
  /** Flow ids written on slices and instants (flow_ids plus terminating_flow_ids). */
  flowPoints: number;
  /**
   * Flow ends of the exported processes not written: loose ends of the `flows` view (a flow
   * operation that drew no edge) of Chrome JSON processes, and ends on slice ENDs.
   */
  flowsUnbound: number;
  tracks: number;
}

/** A new zeroed stats object. */
export function emptyStats(): PerfettoExportStats {
  return {
    packets: 0,
    bytes: 0,
    chunks: 0,
    threadSlices: 0,
    overlapSlices: 0,
    asyncSlices: 0,
    asyncUnclosed: 0,
    asyncInstants: 0,
    asyncSkipped: 0,
    counters: 0,
    logs: 0,
    flowPoints: 0,
    flowsUnbound: 0,
    tracks: 0,
  };
}

/** A row source merged by time: `t` is the current row's time (rel ns), Infinity when done. */
export interface Source {
  t: number;
  /**
   * Order among sources at an equal time, lower first (SOURCE_RANK): a thread slice that begins
   * at t opens before an instant at t on its thread is written, so the instant nests in it, as
   * trace_processor nests it when it reads the input.
   */
  readonly rank: number;
  /** Writes the current row and advances; returns false when the chunk is used up. */
  step(): boolean;
  /** Loads the next chunk (sets t = Infinity at the end). */
  refill(): Promise<void>;
  close(): void;
}

/** Source ranks (Source.rank). */
export const SOURCE_RANK = { threadSpans: 0, asyncSpans: 1, counters: 2, logs: 3 } as const;

/** Min-heap of pending thread-slice ENDs: (time, LIFO order) → track uuid, in typed arrays. */
export class EndQueue {
  size = 0;
  private t = new Float64Array(1024);
  private o = new Float64Array(1024);
  private u = new Float64Array(1024);
  private seq = 0;
  /** Time of the earliest END (Infinity when empty). */
  get minTime(): number {
    return this.size > 0 ? (this.t[0] as number) : Number.POSITIVE_INFINITY;
  }
  /** Track of the earliest END. */
  get minTrack(): number {
    return this.u[0] as number;
  }
  /** Queues the END of a slice on `track` at `time` (rel ns); a later push ends first at equal times. */
  push(time: number, track: number): void {
    if (this.size === this.t.length) {
      const g = (a: Float64Array) => {
        const b = new Float64Array(a.length * 2);
        b.set(a);
        return b;
      };
      this.t = g(this.t);
      this.o = g(this.o);
      this.u = g(this.u);
    }
    // Later pushes first at equal times: an inner slice ends before its parent.
    const ord = -this.seq++;
    let i = this.size++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pt = this.t[p] as number;
      if (pt < time || (pt === time && (this.o[p] as number) <= ord)) break;
      this.t[i] = pt;
      this.o[i] = this.o[p] as number;
      this.u[i] = this.u[p] as number;
      i = p;
    }
    this.t[i] = time;
    this.o[i] = ord;
    this.u[i] = track;
  }
  /** Removes the earliest END (the caller has written it). */
  pop(): void {
    const n = --this.size;
    if (n === 0) return;
    const lt = this.t[n] as number;
    const lo = this.o[n] as number;
    const lu = this.u[n] as number;
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n) {
        const a = this.t[c] as number;
        const b = this.t[c + 1] as number;
        if (b < a || (b === a && (this.o[c + 1] as number) < (this.o[c] as number))) c++;
      }
      const ct = this.t[c] as number;
      if (lt < ct || (lt === ct && lo <= (this.o[c] as number))) break;
      this.t[i] = ct;
      this.o[i] = this.o[c] as number;
      this.u[i] = this.u[c] as number;
      i = c;
    }
    this.t[i] = lt;
    this.o[i] = lo;
    this.u[i] = lu;
  }
}

/** Shared state of one export. */
export class Ctx {
  readonly tw = new TraceWriter(1);
  readonly ends = new EndQueue();
  nextUuid = 1;
  /** Time of the row being written (for descriptors created on the fly). */
  now = 0;
  constructor(
    readonly stats: PerfettoExportStats,
    readonly args: boolean,
  ) {}
  /** One reused ByteRange (no allocation per row). */
  private readonly range: ByteRange = { buf: new Uint8Array(0), off: 0, len: 0 };
  /** The bytes the cursor's last textBytes call found, as the reused ByteRange. */
  ref(cur: ChunkCursor): ByteRange {
    this.range.buf = cur.refBuf;
    this.range.off = cur.refOff;
    this.range.len = cur.refLen;
    return this.range;
  }
  /** A new track uuid (counted in stats.tracks). */
  uuid(): number {
    this.stats.tracks++;
    return this.nextUuid++;
  }
  /**
   * iid of an event name (0 for none) by hash key (-1 = no name); the text (column k, row i of
   * `cur`) is read only when the key is new.
   */
  name(key: number, cur: ChunkCursor, k: number, i: number): number {
    if (key < 0) return 0;
    const iid = this.tw.nameIid(key);
    if (iid !== 0) return iid;
    const s = cur.text(k, i);
    return s ? this.tw.addName(key, s) : 0;
  }
  /**
   * iid of a log message body by hash key (-1 = none: the body ''); the text (column k, row i
   * of `cur`) is read only when the key is new.
   */
  body(key: number, cur: ChunkCursor, k: number, i: number): number {
    if (key < 0) return this.tw.logBodyIid("");
    const iid = this.tw.logBodyIidByKey(key);
    if (iid !== 0) return iid;
    return this.tw.addLogBody(key, cur.text(k, i) ?? "");
  }
  /** iid of a category, as `name`. */
  category(key: number, cur: ChunkCursor, k: number, i: number): number {
    if (key < 0) return 0;
    const iid = this.tw.categoryIid(key);
    if (iid !== 0) return iid;
    const s = cur.text(k, i);
    return s ? this.tw.addCategory(key, s) : 0;
  }
}

/** Per-process state: tracks by thread. */
export interface ProcState {
  p: ExportProcess;
  uuid: number;
  pid: number;
  /** Imported from Chrome JSON (processes.trace_format): its flow events have JSON semantics. */
  chromeJson: boolean;
  /** Thread track uuid by source tid (text). */
  threadByTid: Map<string, number>;
  usedTids: Set<number>;
  /** The flow ids of its slices and instants (entries of `flows` and `logFlows`). */
  flowLists: FlowLists;
  /** The FlowLists entry of a thread span's BEGIN, by span id. */
  flows: SpanFlows;
  /** The FlowLists entries of the log entries' instants, in time order (see `loadFlows`). */
  logFlows: InstantFlowsInOrder;
}
