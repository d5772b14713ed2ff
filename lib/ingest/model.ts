/**
 * The format-neutral importer contract: the interface the ingest drives (FormatImporter: bytes
 * in, in order; then the outcome), what every importer (Chrome JSON, Perfetto, OTLP, JSON
 * lines) hands to the commit (processes, threads, staged blocks, counts by phase), and THE
 * table of skip reasons, each with a stable code, a one-line description and a severity. An
 * importer counts a skipped event by its code; the description is what users see (the ingest
 * summary, the `phases` of `ingests.summary`). The raw block layout itself is
 * lib/lake/raw_block.ts.
 */

/**
 * Where an event went: a thread's `cpu` stream, a process's `log` or `metrics` stream,
 * process/thread metadata, or nowhere; `dropped` counts parts of imported events that were
 * left out (a counter's values), per part, not events.
 */
export type Destination = "cpu" | "log" | "metrics" | "metadata" | "skipped" | "dropped";

/** How much a skip says about the input. */
export type SkipSeverity =
  /** By design: a kind of event tracelake does not import. */
  | "info"
  /** An event lacking what its kind needs (a time, an id...): the input is odd, the rest is fine. */
  | "warning"
  /** Damaged input (malformed, cut off, data lost before it): results may be incomplete. */
  | "error";

/** One skip reason: its description (user-facing text) and severity. */
export interface SkipReason {
  description: string;
  severity: SkipSeverity;
}

/**
 * Every skip reason of every importer, by stable code (`<format>.<what>`). Codes never change
 * meaning; a new reason gets a new code. Listed in the README ("Skip reasons").
 */
export const SKIP_REASONS = {
  // Chrome JSON: the framer (chrome/framer.ts).
  "chrome.not_object": { description: "array element is not an object", severity: "warning" },
  "chrome.too_large": { description: "event larger than the size limit", severity: "warning" },
  "chrome.cut_off": { description: "event cut off by the end of the input", severity: "error" },
  // Chrome JSON: the events (chrome/ mapping).
  "chrome.malformed": { description: "malformed JSON event", severity: "error" },
  "chrome.ph_missing": { description: "ph missing", severity: "warning" },
  "chrome.phase_not_imported": { description: "phase not imported", severity: "info" },
  // (chrome.pid_missing is retired: an event without pid is pid 0, as in trace_processor.)
  "chrome.ts_missing": { description: "ts missing", severity: "warning" },
  "chrome.ts_invalid": { description: "ts not a number or out of range", severity: "warning" },
  "chrome.x_dur_missing": { description: "X without a numeric dur", severity: "warning" },
  "chrome.x_dur_negative": { description: "X with a negative dur", severity: "warning" },
  "chrome.async_id_missing": { description: "async event without id or id2", severity: "warning" },
  "chrome.flow_id_missing": { description: "flow event without id", severity: "warning" },
  "chrome.counter_args_missing": { description: "counter without args", severity: "warning" },
  "chrome.counter_value_invalid": {
    description: "counter value that is not a number (strtod rule), counted per value",
    severity: "warning",
  },
  // Perfetto protobuf (perfetto/).
  "perfetto.not_packet": { description: "top-level field that is not a TracePacket", severity: "warning" },
  "perfetto.state_lost": {
    description: "needs incremental state on a sequence whose state is invalid (data lost before it)",
    severity: "error",
  },
  "perfetto.interned_state_lost": {
    description: "interned data on a sequence whose state is invalid",
    severity: "error",
  },
  "perfetto.clock_unrelated": {
    description: "timestamp in a clock with no ClockSnapshot relating it to the trace clock",
    severity: "warning",
  },
  "perfetto.packet_not_imported": { description: "packet type not imported", severity: "info" },
  "perfetto.track_uuid_missing": { description: "track descriptor without uuid", severity: "warning" },
  "perfetto.track_undeclared": {
    description: "track_uuid not declared by a TrackDescriptor before use",
    severity: "warning",
  },
  "perfetto.type_not_imported": { description: "TrackEvent type not imported", severity: "info" },
  "perfetto.type_missing": { description: "TrackEvent without type or legacy_event", severity: "warning" },
  "perfetto.type_unknown": { description: "unknown TrackEvent type", severity: "warning" },
  "perfetto.extra_counter_track": {
    description: "extra counter value on a track that is not a counter track",
    severity: "warning",
  },
  "perfetto.counter_track": { description: "COUNTER on a track that is not a counter track", severity: "warning" },
  "perfetto.counter_value_missing": { description: "COUNTER without a value", severity: "warning" },
  "perfetto.legacy_x_dur_missing": { description: "X without duration_us", severity: "warning" },
  "perfetto.legacy_id_missing": { description: "legacy async or flow event without an id", severity: "warning" },
  "perfetto.legacy_phase_not_imported": { description: "legacy phase not imported", severity: "info" },
  "perfetto.log_thread_missing": { description: "LogMessage without thread association", severity: "warning" },
  "perfetto.log_body_missing": {
    description: "LogMessage body_iid not found in the sequence's interned data",
    severity: "warning",
  },
  // OTLP JSON (otlp.ts).
  "otlp.not_json": { description: "not JSON", severity: "warning" },
  "otlp.not_request": { description: "not an OTLP export request", severity: "warning" },
  "otlp.span_id_missing": { description: "span without spanId", severity: "warning" },
  "otlp.span_start_invalid": { description: "span without a valid startTimeUnixNano", severity: "warning" },
  "otlp.span_event_time_missing": { description: "span event without timeUnixNano", severity: "warning" },
  "otlp.log_time_missing": {
    description: "log record without timeUnixNano or observedTimeUnixNano",
    severity: "warning",
  },
  "otlp.point_time_missing": { description: "data point without timeUnixNano", severity: "warning" },
  "otlp.point_value_missing": { description: "number data point without asDouble or asInt", severity: "warning" },
  "otlp.metric_data_missing": {
    description: "metric without gauge, sum, histogram or summary data",
    severity: "warning",
  },
  // JSON lines (jsonl.ts).
  "jsonl.too_long": { description: "line longer than 32 MiB", severity: "warning" },
  "jsonl.not_json": { description: "not JSON", severity: "warning" },
  "jsonl.not_object": { description: "not a JSON object", severity: "warning" },
  "jsonl.too_deep": {
    description: "JSON nested too deeply to store (a value ~100,000 levels deep)",
    severity: "warning",
  },
  "jsonl.time_missing": { description: "no timestamp field (@timestamp, timestamp, time, ts)", severity: "warning" },
  "jsonl.time_invalid": { description: "timestamp is neither ISO 8601 nor an epoch number", severity: "warning" },
} as const satisfies Record<string, SkipReason>;

/** A skip reason's stable code (a key of SKIP_REASONS). */
export type SkipCode = keyof typeof SKIP_REASONS;

/**
 * A count of events by phase (or packet/record kind), destination and skip reason. `reason` is
 * the reason's description (null when not skipped), `code` its stable code (absent for counts
 * of importers not yet converted to codes).
 */
export interface PhaseCount {
  ph: string;
  dest: Destination;
  reason: string | null;
  code?: SkipCode | null;
  /** The reason's severity (set by the ingest for the summary; absent in older summaries). */
  severity?: SkipSeverity;
  count: number;
  /** For a skip: the first few skipped events (lowest `seq`), when the importer keeps them. */
  examples?: LossExample[];
}

/** One skipped event (or dropped value) shown as an example of its reason. */
export interface LossExample {
  /** The event's position in the source (Chrome JSON: its index in the event array, from 0). */
  seq: number;
  /** The event's name (at most 100 characters), else null. */
  name: string | null;
}

/** How many examples a count keeps. */
export const MAX_EXAMPLES = 3;

/** `a` and `b` merged: the MAX_EXAMPLES examples of lowest seq. */
export function mergeExamples(a: readonly LossExample[], b: readonly LossExample[]): LossExample[] {
  return [...a, ...b].sort((x, y) => x.seq - y.seq).slice(0, MAX_EXAMPLES);
}

/**
 * The counts with, on every skip, its code (from the description, for importers that give only
 * the description, e.g. the Perfetto importer's free-text reasons: looked up among the codes of
 * `format`, the prefix before the dot) and its severity. Counts whose description is not in
 * SKIP_REASONS keep a null code and severity.
 */
export function withSkipCodes(phases: readonly PhaseCount[], format: string): PhaseCount[] {
  const prefix = `${format === "chrome_json" ? "chrome" : format === "otlp_json" ? "otlp" : format}.`;
  return phases.map((p) => {
    if (p.reason === null) return p;
    let code = p.code ?? null;
    if (code === null) {
      for (const [k, r] of Object.entries(SKIP_REASONS) as [SkipCode, SkipReason][])
        if (k.startsWith(prefix) && r.description === p.reason) code = k;
    }
    return code === null ? { ...p, code: null } : { ...p, code, severity: SKIP_REASONS[code].severity };
  });
}

/** A count of `n` events of kind `ph` skipped for `code` (description from SKIP_REASONS). */
export function skipCount(ph: string, code: SkipCode, n: number): PhaseCount {
  return { ph, dest: "skipped", reason: SKIP_REASONS[code].description, code, count: n };
}

/**
 * Counts by (phase, destination, skip code), merged as they are added; what every importer
 * keeps for its `PhaseCount` rows.
 */
export class PhaseCounter {
  private readonly map = new Map<string, PhaseCount>();

  /**
   * Adds `n` events of kind `ph` that went to `dest` (`code` when skipped, else null), with
   * `examples` of them for a skip (the lowest seqs are kept).
   */
  add(ph: string, dest: Destination, code: SkipCode | null, n = 1, examples?: readonly LossExample[]): void {
    const key = `${ph}\u0000${dest}\u0000${code}`;
    let c = this.map.get(key);
    if (c) c.count += n;
    else {
      c = code === null ? { ph, dest, reason: null, count: n } : { ...skipCount(ph, code, n), dest };
      this.map.set(key, c);
    }
    if (code !== null && examples !== undefined && examples.length > 0) {
      const have = c.examples ?? [];
      c.examples =
        have.length < MAX_EXAMPLES &&
        (have.length === 0 || (examples[0] as LossExample).seq > (have.at(-1) as LossExample).seq)
          ? [...have, ...examples].slice(0, MAX_EXAMPLES)
          : mergeExamples(have, examples);
    }
  }

  /** The counts so far (live objects: copy before changing them). */
  values(): PhaseCount[] {
    return [...this.map.values()];
  }

  /** Forgets every count. */
  clear(): void {
    this.map.clear();
  }
}

/** A process found in the input, with the ids of its streams. */
export interface ProcessInfo {
  processId: string;
  /** The source `pid` as text (for other formats: the importer's key of the process). */
  pid: string;
  /** The source pid when it is not `pid` (null: the source has none). */
  sourcePid?: string | null;
  /** Importer-specific properties (e.g. OTLP resource attributes), merged into processes.properties. */
  properties?: Record<string, unknown>;
  /** The process name (Chrome: from `M process_name`), else null. */
  name: string | null;
  labels: string | null;
  sortIndex: number | null;
  /** Other metadata of the process, by name, as parsed JSON (Chrome: other `M` events' args). */
  metadata: Record<string, unknown>;
  /** Stream ids of the process's log and metrics streams. */
  logStreamId: string;
  metricsStreamId: string;
  threads: Map<string, ThreadInfo>;
}

/** A new ProcessInfo for source key `pid`, with new process and stream ids (UUIDs) and nothing known yet. */
export function newProcessInfo(pid: string): ProcessInfo {
  return {
    processId: crypto.randomUUID(),
    pid,
    name: null,
    labels: null,
    sortIndex: null,
    metadata: {},
    logStreamId: crypto.randomUUID(),
    metricsStreamId: crypto.randomUUID(),
    threads: new Map(),
  };
}

/** A thread found in the input, with its `cpu` stream. */
export interface ThreadInfo {
  streamId: string;
  /** The source `tid` as text. */
  tid: string;
  name: string | null;
  sortIndex: number | null;
}

/** A block written to the staging directory, awaiting commit. Times are ns, sizes bytes. */
export interface StagedBlock {
  blockId: string;
  streamId: string;
  processId: string;
  /** Min event time, ns on the trace clock; null when unknown. */
  beginNs: bigint | null;
  /** Max event end (time + dur), ns. */
  endNs: bigint | null;
  nbObjects: number;
  payloadSize: number;
  /** Absolute path of the staged file. */
  stagedPath: string;
}

/** What an importer hands to the commit. */
export interface ImportOutcome {
  processes: ProcessInfo[];
  blocks: StagedBlock[];
  /** Counts by phase (or packet/record kind), destination and skip reason. */
  phases: PhaseCount[];
  /** Events (packets, lines, records) found in the input. */
  eventsFound: number;
  warnings: string[];
  /** True when the input held nothing to import (for the "no events" warning). */
  empty: boolean;
  /** Chrome JSON's `metadata` object as JSON text, else null. */
  metadataJson: string | null;
  displayTimeUnit: string | null;
}

/** Options the importers take (a subset of IngestOptions, which documents them); each format has its defaults. */
export interface FormatOptions {
  /** Chrome JSON: worker threads (IngestOptions.workers). */
  workers?: number;
  /** Chrome JSON: use the WebAssembly fast path (default true; false parses every event in JS). */
  wasm?: boolean;
  /** Rows held before blocks are written (bytes of column data). */
  batchBytes?: number;
  /** Chrome JSON: events larger than this many bytes are skipped and counted. */
  maxEventBytes?: number;
  /** Chrome JSON: the framer's line mode for inputs that can be read again (default true). */
  lineMode?: boolean;
  /** For JSON-lines logs: the name of the process the lines belong to. */
  processName?: string;
}

/** The input an importer reads, as the ingest opened it. */
export interface ImportInput {
  /** This ingest's private directory; blocks are staged below it. */
  staging: string;
  /** The input's name for messages (a path, or "standard input"). */
  inputName: string;
  /** The input's stored size in bytes, null when unknown (standard input). */
  size: number | null;
  /** Whether the input can be read again from the start (a file, not standard input). */
  rereadable: boolean;
  /** True when this is a second reading, after the importer threw ReadAgainError. */
  readAgain: boolean;
}

/**
 * Thrown by an importer (from `push` or `finish`) that must read the input again from the
 * start, with `readAgain` set (e.g. Chrome JSON's line mode guessed wrong). Only for inputs
 * that are `rereadable`; nothing it staged is kept.
 */
export class ReadAgainError extends Error {}

/** An importer of one format, driven by the ingest. */
export interface FormatImporter {
  /**
   * Bytes of input between two full garbage collections while the ingest pushes it: JavaScriptCore
   * lets garbage ArrayBuffers (decoded packets, compressed pages) pile up before collecting them
   * on its own; how fast they come depends on the format (see each importer's value).
   */
  readonly collectEveryBytes: number;
  /** Prepares (workers, staging directories). */
  init(): Promise<void>;
  /**
   * Takes the next decompressed bytes (valid only until the promise resolves).
   * @throws InputError when the bytes are not valid input of the format.
   */
  push(chunk: Uint8Array): Promise<void>;
  /**
   * Ends the input, writes the remaining blocks.
   * @throws InputError for input that ends badly (truncated, empty of the format's content).
   */
  finish(): Promise<ImportOutcome>;
  /** Releases resources (workers); called once, after finish or on failure. */
  close(): void;
}
