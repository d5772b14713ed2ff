/**
 * Chrome Trace Event Format importer: turns NDJSON batches from the framer into normalized raw
 * events, routed to streams and written as Parquet blocks.
 *
 * Events are parsed in JS (`event_parser.ts`, which takes the events whose DuckDB reading it
 * reproduces exactly) and written by our Parquet writer (`parquet_writer.ts`); the other events
 * (odd numbers, odd escapes, malformed JSON...) are parsed and normalized by DuckDB
 * (`read_ndjson` and the SQL below, the original implementation) and written with the rest.
 * tests/ingest/importer_oracle.test.ts checks both paths against the original importer. This
 * file holds the mapping, which is ours. Phase mapping (DESIGN.md "Ingest", reference/perfetto.md §5):
 * - `X`, `B`/`E` (thread slices), `b`/`e`/`n` and legacy `S`/`T`/`p`/`F` (async), `s`/`t`/`f`
 *   (flow v1) go to the thread's `cpu` stream;
 * - `i`/`I`/`R` (instants and marks) go to the process's `log` stream (level info, target =
 *   category, msg = name, properties = args), keeping the thread id;
 * - `C` (counters) go to the process's `metrics` stream; the measures view makes one measure
 *   per args key;
 * - `M` (metadata) names processes and threads and is kept as process/stream properties;
 * - `P` (V8 CPU profile samples) and every other phase are counted, not imported.
 *
 * Times: `ts`, `dur`, `tts`, `tdur` are microseconds, integer or fractional, numbers or numeric
 * strings; we keep nanoseconds exactly (an integer string is multiplied exactly; a short decimal
 * goes through a double, exact to the nanosecond for values under 10^12 µs; a long decimal is
 * split at the point, truncating below the nanosecond). Event times are stored as TIMESTAMP_NS
 * on the trace's own clock (Chrome's `ts` is a monotonic clock, not wall time).
 *
 * `pid`/`tid` may be numbers or strings (trace_processor uses strings as names); a missing
 * `tid` is the `pid` (as trace_processor does).
 */
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { Engine } from "../sql/engine.ts";
import { sqlString } from "../sql/engine.ts";
import { BlockBuilder } from "./block_builder.ts";
import { SEQ_KEY } from "./chrome_json_framer.ts";
import {
  EventParser,
  F_ARGS,
  F_BIND_ID,
  F_BP,
  F_CAT,
  F_DUR,
  F_FLOW_IN,
  F_FLOW_OUT,
  F_ID,
  F_ID2,
  F_NAME,
  F_PH,
  F_PID,
  F_S,
  F_SCOPE,
  F_TDUR,
  F_TID,
  F_TS,
  F_TTS,
  FL_ESC,
  FL_NONCANON_ESC,
  FL_REWRITE,
  V_FALSE,
  V_MISSING,
  V_NULL,
  V_NUM,
  V_OBJ,
  V_STR,
  V_TRUE,
  writeCanonicalNumber,
  writeMinified,
} from "./event_parser.ts";
import { encodeRawBlock } from "./parquet_writer.ts";

/** Version of the raw block layout written here; recorded in `blocks.schema_version`. */
export const RAW_BLOCK_SCHEMA_VERSION = 1;

/** Where an event went. */
export type Destination = "cpu" | "log" | "metrics" | "metadata" | "skipped";

/** A process found in the input. */
export interface ProcessInfo {
  processId: string;
  /** The source `pid` as text. */
  pid: string;
  /** From `M process_name`, else null. */
  name: string | null;
  labels: string | null;
  sortIndex: number | null;
  /** Other `M` events on the process, by name, as parsed JSON args. */
  metadata: Record<string, unknown>;
  /** Stream ids of the process's log and metrics streams. */
  logStreamId: string;
  metricsStreamId: string;
  threads: Map<string, ThreadInfo>;
}

/** A thread found in the input, with its `cpu` stream. */
export interface ThreadInfo {
  streamId: string;
  /** The source `tid` as text. */
  tid: string;
  name: string | null;
  sortIndex: number | null;
}

/** A block written to the staging directory, awaiting commit. */
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

/** Counts by (phase, destination, skip reason). */
export interface PhaseCount {
  ph: string;
  dest: Destination;
  reason: string | null;
  count: number;
}

/** Phases that we import. */
const KNOWN_PHASES = ["B", "E", "X", "i", "I", "R", "C", "b", "e", "n", "S", "T", "p", "F", "s", "t", "f", "M"];
const phaseList = KNOWN_PHASES.map((p) => `'${p}'`).join(",");

/** read_ndjson column spec: every scalar as VARCHAR (we convert), nested values as JSON text. */
const COLUMNS = `{${SEQ_KEY}: 'BIGINT', ph: 'VARCHAR', name: 'VARCHAR', cat: 'VARCHAR', ts: 'VARCHAR', dur: 'VARCHAR', tts: 'VARCHAR', tdur: 'VARCHAR', pid: 'VARCHAR', tid: 'VARCHAR', id: 'VARCHAR', id2: 'JSON', scope: 'VARCHAR', s: 'VARCHAR', bp: 'VARCHAR', bind_id: 'VARCHAR', flow_in: 'VARCHAR', flow_out: 'VARCHAR', args: 'JSON'}`;

/**
 * Microseconds as text → nanoseconds as BIGINT, NULL when not a number or out of range.
 * See the file comment for the exactness rules.
 */
const US_TO_NS_MACRO = `CREATE OR REPLACE TEMP MACRO tl_us_to_ns(x) AS
  CASE
    WHEN x IS NULL THEN NULL
    WHEN NOT (contains(x, '.') OR contains(x, 'e') OR contains(x, 'E')) THEN
      CASE WHEN length(x) <= 17 THEN TRY_CAST(TRY_CAST(x AS HUGEINT) * 1000 AS BIGINT) END
    WHEN length(x) <= 15 THEN TRY_CAST(round(TRY_CAST(x AS DOUBLE) * 1000) AS BIGINT)
    WHEN contains(x, 'e') OR contains(x, 'E') THEN TRY_CAST(round(TRY_CAST(x AS DOUBLE) * 1000) AS BIGINT)
    WHEN length(split_part(x, '.', 1)) <= 17 THEN TRY_CAST(
      TRY_CAST(split_part(x, '.', 1) AS HUGEINT) * 1000
      + (CASE WHEN starts_with(trim(x), '-') THEN -1 ELSE 1 END)
        * TRY_CAST(rpad(left(split_part(x, '.', 2), 3), 3, '0') AS HUGEINT) AS BIGINT)
  END`;

/** Column indexes of the raw block schema (see `RAW_BLOCK_COLUMNS`). */
const C_SEQ = 0;
const C_PH = 1;
const C_TIME = 2;
const C_DUR = 3;
const C_TTS = 4;
const C_TDUR = 5;
const C_TID = 6;
const C_NAME = 7;
const C_CAT = 8;
const C_ID = 9;
const C_ID_SCOPE = 10;
const C_SCOPE = 11;
const C_S = 12;
const C_BP = 13;
const C_BIND_ID = 14;
const C_FLOW_IN = 15;
const C_FLOW_OUT = 16;
const C_ARGS = 17;

/** Destination codes used on the hot path. */
const D_CPU = 0;
const D_LOG = 1;
const D_METRICS = 2;
const DEST_NAMES: Destination[] = ["cpu", "log", "metrics"];

const KNOWN_PHASE_SET = new Set(KNOWN_PHASES);
/** Byte → 1 when the one-character phase is known. */
const KNOWN_PHASE_BYTE = new Uint8Array(256);
for (const p of KNOWN_PHASES) KNOWN_PHASE_BYTE[p.charCodeAt(0)] = 1;
const ASYNC_PHASES = new Set(["b", "e", "n", "S", "T", "p", "F"]);
const FLOW_PHASES = new Set(["s", "t", "f"]);

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const TRUE_BYTES = encoder.encode("true");
const FALSE_BYTES = encoder.encode("false");
const GLOBAL_BYTES = encoder.encode("global");
const LOCAL_BYTES = encoder.encode("local");
const TWO63 = 2 ** 63;

/** A stream of the current import, with the builder of its block in the current batch. */
interface StreamRef {
  streamId: string;
  processId: string;
}

/** Where a (pid, tid, destination) goes; cached by the raw bytes of pid and tid. */
interface CacheEntry {
  key: Uint8Array;
  stream: StreamRef | null;
}

/** One batch being imported: its blocks, metadata events and events left to DuckDB. */
interface BatchState {
  index: number;
  builders: Map<StreamRef, BlockBuilder>;
  meta: { seq: number; pid: string; tid: string; name: string | null; args: string | null }[];
  fallback: Uint8Array[];
  fallbackEvents: number;
}

/** A nanosecond value: a safe integer, a bigint outside that range, or null. */
type Ns = number | bigint | null;

/**
 * Imports one Chrome JSON source, batch by batch, into staged blocks. Keeps the process and
 * thread maps and the counts across batches. Not reusable across sources.
 *
 * Events are parsed in JS (`event_parser.ts`) and written as Parquet by `parquet_writer.ts`;
 * the few events outside the parser's fast path are imported by DuckDB (`read_ndjson` and the
 * SQL below, the original implementation) and then written with the others.
 */
export class ChromeJsonImporter {
  readonly processes = new Map<string, ProcessInfo>();
  readonly blocks: StagedBlock[] = [];
  /** Events parsed in JS and by DuckDB so far (for the benchmark and tests). */
  readonly stats = { fastEvents: 0, duckdbEvents: 0 };
  private readonly counts = new Map<string, PhaseCount>();
  /** Imported events by phase byte × destination (D_*), added to `counts` by phaseCounts(). */
  private readonly fastCounts = new Float64Array(256 * 3);
  private malformed = 0;
  private batchIndex = 0;
  private readonly parser = new EventParser();
  private readonly cache = new Map<number, CacheEntry[]>();
  private readonly streamsByKey = new Map<string, StreamRef | null>();
  private scratch = new Uint8Array(1024);
  private tail: Promise<void> = Promise.resolve();
  private sqlReady = false;
  private readonly compress = (b: Uint8Array): Uint8Array => Bun.zstdCompressSync(b, { level: 1 });

  /**
   * @param engine engine for the events DuckDB imports (the catalog need not be attached).
   * @param stagingDir this ingest's private directory; blocks are staged in `blocks/` below it.
   * @param maxEventBytes the framer's event size limit (DuckDB's maximum_object_size follows).
   */
  constructor(
    private readonly engine: Engine,
    private readonly stagingDir: string,
    private readonly maxEventBytes: number,
  ) {}

  /** Creates the staging directory for blocks. */
  async init(): Promise<void> {
    mkdirSync(join(this.stagingDir, "blocks"), { recursive: true });
  }

  /**
   * Imports one NDJSON batch from the framer. The events are parsed before this returns (so
   * `bytes` may be reused then); the rest (DuckDB for the events off the fast path, metadata,
   * writing the blocks) runs after the previous batch's, in the returned promise.
   * @param bytes whole lines, each `{"__seq":N,...}\n`.
   * @param events number of lines.
   * @throws when a block cannot be written or DuckDB fails (in the promise).
   */
  importBatch(bytes: Uint8Array, events: number): Promise<void> {
    const st: BatchState = {
      index: this.batchIndex++,
      builders: new Map(),
      meta: [],
      fallback: [],
      fallbackEvents: 0,
    };
    let lineStart = 0;
    let seen = 0;
    const n = bytes.length;
    while (lineStart < n) {
      let e = bytes.indexOf(0x0a, lineStart);
      if (e < 0) e = n;
      seen++;
      if (!this.parser.parse(bytes, lineStart, e) || !this.routeFast(bytes, st)) {
        st.fallback.push(bytes.slice(lineStart, e + 1));
        st.fallbackEvents++;
      } else this.stats.fastEvents++;
      lineStart = e + 1;
    }
    if (seen !== events) throw new Error(`batch has ${seen} lines, the framer counted ${events}`);
    const run = this.tail.then(() => this.finishBatch(st));
    this.tail = run.catch(() => undefined);
    return run;
  }

  /** Resolves when every batch passed to `importBatch` is done. */
  async drain(): Promise<void> {
    await this.tail;
  }

  /** Counts by phase/destination/reason, plus malformed lines, sorted by count. */
  phaseCounts(): PhaseCount[] {
    for (let k = 0; k < this.fastCounts.length; k++) {
      const n = this.fastCounts[k] as number;
      if (n === 0) continue;
      const ph = String.fromCharCode(Math.floor(k / 3));
      const dest = DEST_NAMES[k % 3] as Destination;
      const key = `${ph}\u0000${dest}\u0000null`;
      const prev = this.counts.get(key);
      if (prev) prev.count += n;
      else this.counts.set(key, { ph, dest, reason: null, count: n });
      this.fastCounts[k] = 0;
    }
    const all = [...this.counts.values()];
    if (this.malformed > 0) {
      all.push({ ph: "", dest: "skipped", reason: "malformed JSON event", count: this.malformed });
    }
    return all.sort((a, b) => b.count - a.count);
  }

  private count(ph: string, dest: Destination, reason: string | null): void {
    const key = `${ph}\u0000${dest}\u0000${reason}`;
    const prev = this.counts.get(key);
    if (prev) prev.count++;
    else this.counts.set(key, { ph, dest, reason, count: 1 });
  }

  // ---- fast path -------------------------------------------------------------------------

  /** Text of a field as DuckDB's VARCHAR column would hold it, as a JS string (null for NULL). */
  private fieldText(buf: Uint8Array, f: number): string | null {
    const p = this.parser;
    const k = p.kind[f] as number;
    const s = p.start[f] as number;
    const e = p.end[f] as number;
    switch (k) {
      case V_MISSING:
      case V_NULL:
        return null;
      case V_STR:
        if (((p.flags[f] as number) & FL_ESC) !== 0) return JSON.parse(decoder.decode(buf.subarray(s - 1, e + 1)));
        return decoder.decode(buf.subarray(s, e));
      case V_TRUE:
        return "true";
      case V_FALSE:
        return "false";
      default: {
        const n = this.canonical(buf, f);
        return decoder.decode(this.scratch.subarray(0, n));
      }
    }
  }

  /** Writes the canonical text of a number or nested field to `scratch`; returns its length. */
  private canonical(buf: Uint8Array, f: number): number {
    const p = this.parser;
    const s = p.start[f] as number;
    const e = p.end[f] as number;
    if (this.scratch.length < e - s) this.scratch = new Uint8Array(Math.max(e - s, this.scratch.length * 2));
    if (p.kind[f] === V_NUM) return writeCanonicalNumber(buf, s, e, this.scratch, 0);
    if (((p.flags[f] as number) & FL_REWRITE) === 0) {
      this.scratch.set(buf.subarray(s, e));
      return e - s;
    }
    return writeMinified(buf, s, e, this.scratch, 0);
  }

  /** Sets a VARCHAR column from a field (null when missing or JSON null). */
  private setText(b: BlockBuilder, c: number, buf: Uint8Array, f: number): void {
    const p = this.parser;
    const k = p.kind[f] as number;
    if (k === V_STR && ((p.flags[f] as number) & FL_ESC) === 0) {
      b.setBytes(c, buf, p.start[f] as number, p.end[f] as number);
    } else if (k === V_MISSING || k === V_NULL) b.setNull(c);
    else if (k === V_STR) {
      const t = encoder.encode(this.fieldText(buf, f) as string);
      b.setBytes(c, t, 0, t.length);
    } else if (k === V_TRUE) b.setBytes(c, TRUE_BYTES, 0, 4);
    else if (k === V_FALSE) b.setBytes(c, FALSE_BYTES, 0, 5);
    else if (k === V_NUM || (p.flags[f] as number) & FL_REWRITE) {
      const n = this.canonical(buf, f);
      b.setBytes(c, this.scratch, 0, n);
    } else b.setBytes(c, buf, p.start[f] as number, p.end[f] as number);
  }

  /**
   * The µs → ns conversion of `tl_us_to_ns` (see the file comment) for a field, or `undefined`
   * when the value's text is outside what this implements (then DuckDB imports the event).
   */
  private nsOf(buf: Uint8Array, f: number): Ns | undefined {
    const p = this.parser;
    const k = p.kind[f] as number;
    if (k === V_MISSING || k === V_NULL) return null;
    if (k === V_TRUE || k === V_FALSE) return null; // TRY_CAST('true' AS HUGEINT) is NULL
    let src = buf;
    let s = p.start[f] as number;
    let e = p.end[f] as number;
    if (k === V_NUM) {
      if (((p.flags[f] as number) & FL_REWRITE) !== 0) {
        e = this.canonical(buf, f);
        s = 0;
        src = this.scratch;
      }
    } else if (k === V_STR) {
      if (((p.flags[f] as number) & FL_ESC) !== 0) return undefined;
      // Only the plain decimal forms: -?digits(.digits)?
      let j = s;
      if (src[j] === 0x2d) j++;
      const d0 = j;
      while (j < e && (src[j] as number) >= 0x30 && (src[j] as number) <= 0x39) j++;
      if (j === d0) return undefined;
      if (j < e) {
        if (src[j] !== 0x2e) return undefined;
        j++;
        const f0 = j;
        while (j < e && (src[j] as number) >= 0x30 && (src[j] as number) <= 0x39) j++;
        if (j === f0 || j !== e) return undefined;
      }
    } else return undefined;
    return usTextToNs(src, s, e);
  }

  /** Text bytes of id2's `$.local` / `$.global` (json_extract_string); undefined: not handled. */
  private id2Member(buf: Uint8Array, want: Uint8Array): { s: number; e: number; num: boolean } | null | undefined {
    const p = this.parser;
    const k = p.kind[F_ID2] as number;
    if (k === V_MISSING || k === V_NULL) return null;
    if (k !== V_OBJ) return undefined;
    const e = p.end[F_ID2] as number;
    let i = (p.start[F_ID2] as number) + 1;
    const ws = (): void => {
      while (i < e && (buf[i] === 0x20 || buf[i] === 0x09 || buf[i] === 0x0a || buf[i] === 0x0d)) i++;
    };
    ws();
    if (buf[i] === 0x7d) return null;
    for (;;) {
      // Key (validated; no escapes handled here).
      const ks = i + 1;
      let ke = ks;
      while (buf[ke] !== 0x22) {
        if (buf[ke] === 0x5c) return undefined;
        ke++;
      }
      i = ke + 1;
      ws();
      i++; // ':'
      ws();
      const vs = i;
      const b = buf[i] as number;
      let r: { s: number; e: number; num: boolean } | null | undefined;
      if (b === 0x22) {
        let ve = vs + 1;
        while (buf[ve] !== 0x22) {
          if (buf[ve] === 0x5c) return undefined;
          ve++;
        }
        r = { s: vs + 1, e: ve, num: false };
        i = ve + 1;
      } else if (b === 0x2d || (b >= 0x30 && b <= 0x39)) {
        let ve = vs;
        while (ve < e && buf[ve] !== 0x2c && buf[ve] !== 0x7d && buf[ve] !== 0x20 && buf[ve] !== 0x09) ve++;
        r = { s: vs, e: ve, num: true };
        i = ve;
      } else r = undefined; // nested, literal: left to DuckDB
      const same = ke - ks === want.length && want.every((c, x) => buf[ks + x] === c);
      if (same) return r;
      if (r === undefined) return undefined;
      ws();
      if (buf[i] === 0x2c) {
        i++;
        ws();
        continue;
      }
      return null;
    }
  }

  /**
   * Routes a parsed event: counts it, and writes it to its stream's block unless skipped.
   * @returns false (with no effect) when the event must be left to DuckDB.
   */
  private routeFast(buf: Uint8Array, st: BatchState): boolean {
    const p = this.parser;
    // Phase.
    let phByte = 0;
    let ph: string | null;
    const phKind = p.kind[F_PH] as number;
    if (
      phKind === V_STR &&
      (p.flags[F_PH] as number) === 0 &&
      (p.end[F_PH] as number) - (p.start[F_PH] as number) === 1
    ) {
      phByte = buf[p.start[F_PH] as number] as number;
      ph = null; // computed below only when needed
    } else {
      ph = this.fieldText(buf, F_PH);
      if (ph !== null && ph.length === 1) phByte = ph.charCodeAt(0);
      // left(ph, 16) counts characters: keep to ASCII here.
      if (ph !== null && !isAscii(ph)) return false;
    }
    const known = phByte !== 0 && phByte < 0x80 && KNOWN_PHASE_BYTE[phByte] === 1 && (ph === null || ph.length === 1);
    const phLabel = (): string =>
      known || ph === null ? (phByte === 0 ? "" : String.fromCharCode(phByte)) : ph.slice(0, 16);
    if (phKind === V_MISSING || phKind === V_NULL || (ph !== null && ph === "")) {
      this.count(phLabel(), "skipped", "ph missing");
      return true;
    }
    if (!known) {
      this.count(phLabel(), "skipped", "phase not imported");
      return true;
    }
    const phS = String.fromCharCode(phByte);
    const pidKind = p.kind[F_PID] as number;
    if (pidKind === V_MISSING || pidKind === V_NULL) {
      this.count(phS, "skipped", "pid missing");
      return true;
    }
    if (phByte === 0x4d) {
      // M: metadata.
      const pid = this.fieldText(buf, F_PID) as string;
      const tidK = p.kind[F_TID] as number;
      const tid = tidK === V_MISSING || tidK === V_NULL ? pid : (this.fieldText(buf, F_TID) as string);
      const argsK = p.kind[F_ARGS] as number;
      let args: string | null = null;
      if (argsK === V_STR && ((p.flags[F_ARGS] as number) & FL_NONCANON_ESC) !== 0) return false;
      if (argsK === V_STR)
        args = decoder.decode(buf.subarray((p.start[F_ARGS] as number) - 1, (p.end[F_ARGS] as number) + 1));
      else if (argsK !== V_MISSING && argsK !== V_NULL) args = this.fieldText(buf, F_ARGS);
      this.registerThread(pid, tid);
      st.meta.push({ seq: p.seq, pid, tid, name: this.fieldText(buf, F_NAME), args });
      this.count(phS, "metadata", null);
      return true;
    }
    const tsKind = p.kind[F_TS] as number;
    const ts = this.nsOf(buf, F_TS);
    const dur = this.nsOf(buf, F_DUR);
    const tts = this.nsOf(buf, F_TTS);
    const tdur = this.nsOf(buf, F_TDUR);
    if (ts === undefined || dur === undefined || tts === undefined || tdur === undefined) return false;
    // Async id: id, else id2.local, else id2.global.
    const idKind = p.kind[F_ID] as number;
    const hasId = idKind !== V_MISSING && idKind !== V_NULL;
    let local: { s: number; e: number; num: boolean } | null | undefined = null;
    let global: { s: number; e: number; num: boolean } | null | undefined = null;
    if (!hasId) {
      local = this.id2Member(buf, LOCAL_BYTES);
      if (local === undefined) return false;
      if (local === null) {
        global = this.id2Member(buf, GLOBAL_BYTES);
        if (global === undefined) return false;
      }
    }
    const argsKind = p.kind[F_ARGS] as number;
    if (argsKind === V_STR && ((p.flags[F_ARGS] as number) & FL_NONCANON_ESC) !== 0) return false;
    let reason: string | null = null;
    if (tsKind === V_MISSING || tsKind === V_NULL) reason = "ts missing";
    else if (ts === null) reason = "ts not a number or out of range";
    else if (phByte === 0x58 && dur === null) reason = "X without a numeric dur";
    else if (phByte === 0x58 && (dur as number | bigint) < 0) reason = "X with a negative dur";
    else if (ASYNC_PHASES.has(phS) && !hasId && local === null && global === null)
      reason = "async event without id or id2";
    else if (FLOW_PHASES.has(phS) && !hasId && local === null && global === null) {
      const bk = p.kind[F_BIND_ID] as number;
      if (bk === V_MISSING || bk === V_NULL) reason = "flow event without id";
    } else if (phByte === 0x43) {
      if (argsKind !== V_OBJ) reason = "counter without args";
      else {
        let j = (p.start[F_ARGS] as number) + 1;
        while (buf[j] === 0x20 || buf[j] === 0x09 || buf[j] === 0x0a || buf[j] === 0x0d) j++;
        if (buf[j] === 0x7d) reason = "counter without args";
      }
    }
    if (reason !== null) {
      this.count(phS, "skipped", reason);
      return true;
    }
    const dest = phByte === 0x69 || phByte === 0x49 || phByte === 0x52 ? D_LOG : phByte === 0x43 ? D_METRICS : D_CPU;
    const stream = this.streamFast(buf, dest);
    let b = st.builders.get(stream);
    if (!b) {
      b = new BlockBuilder();
      st.builders.set(stream, b);
    }
    const ci = phByte * 3 + dest;
    this.fastCounts[ci] = (this.fastCounts[ci] as number) + 1;

    b.beginRow();
    b.setI64(C_SEQ, p.seq);
    b.noteSeq(p.seq);
    b.setByte(C_PH, phByte);
    setNs(b, C_TIME, ts);
    setNs(b, C_DUR, dur);
    setNs(b, C_TTS, tts);
    setNs(b, C_TDUR, tdur);
    b.noteRange(ts as number | bigint, dur);
    const tidK = p.kind[F_TID] as number;
    this.setText(b, C_TID, buf, tidK === V_MISSING || tidK === V_NULL ? F_PID : F_TID);
    this.setText(b, C_NAME, buf, F_NAME);
    this.setText(b, C_CAT, buf, F_CAT);
    if (hasId) {
      this.setText(b, C_ID, buf, F_ID);
      b.setBytes(C_ID_SCOPE, GLOBAL_BYTES, 0, GLOBAL_BYTES.length);
    } else {
      const m = local ?? global;
      if (m) {
        if (m.num) {
          const sc = new Uint8Array(m.e - m.s);
          const len = writeCanonicalNumber(buf, m.s, m.e, sc, 0);
          b.setBytes(C_ID, sc, 0, len);
        } else b.setBytes(C_ID, buf, m.s, m.e);
        const sc = local ? LOCAL_BYTES : GLOBAL_BYTES;
        b.setBytes(C_ID_SCOPE, sc, 0, sc.length);
      } else {
        b.setNull(C_ID);
        b.setNull(C_ID_SCOPE);
      }
    }
    this.setText(b, C_SCOPE, buf, F_SCOPE);
    this.setText(b, C_S, buf, F_S);
    this.setText(b, C_BP, buf, F_BP);
    this.setText(b, C_BIND_ID, buf, F_BIND_ID);
    this.setFlow(b, C_FLOW_IN, buf, F_FLOW_IN);
    this.setFlow(b, C_FLOW_OUT, buf, F_FLOW_OUT);
    // args as JSON text.
    if (argsKind === V_MISSING || argsKind === V_NULL) b.setNull(C_ARGS);
    else if (argsKind === V_STR)
      b.setBytes(C_ARGS, buf, (p.start[F_ARGS] as number) - 1, (p.end[F_ARGS] as number) + 1);
    else if (argsKind === V_TRUE) b.setBytes(C_ARGS, TRUE_BYTES, 0, 4);
    else if (argsKind === V_FALSE) b.setBytes(C_ARGS, FALSE_BYTES, 0, 5);
    else if (((p.flags[F_ARGS] as number) & FL_REWRITE) === 0 && argsKind !== V_NUM) {
      b.setBytes(C_ARGS, buf, p.start[F_ARGS] as number, p.end[F_ARGS] as number);
    } else {
      const s = p.start[F_ARGS] as number;
      const e = p.end[F_ARGS] as number;
      const out = b.reserve(C_ARGS, e - s);
      const at = b.valuesAt(C_ARGS);
      const end = argsKind === V_NUM ? writeCanonicalNumber(buf, s, e, out, at) : writeMinified(buf, s, e, out, at);
      b.commitBytes(C_ARGS, end - at);
    }
    return true;
  }

  private setFlow(b: BlockBuilder, c: number, buf: Uint8Array, f: number): void {
    const p = this.parser;
    const k = p.kind[f] as number;
    if (k === V_MISSING || k === V_NULL) b.setNull(c);
    else if (k === V_TRUE) b.setBool(c, true);
    else if (k === V_STR) b.setBool(c, this.fieldText(buf, f) === "true");
    else b.setBool(c, false);
  }

  /**
   * The stream of a fast-path event, found by the raw bytes of its pid and tid values (and
   * their kinds), registering the process and thread on first sight.
   */
  private streamFast(buf: Uint8Array, dest: number): StreamRef {
    const p = this.parser;
    const pk = p.kind[F_PID] as number;
    const tk = p.kind[F_TID] as number;
    const ps = p.start[F_PID] as number;
    const pe = p.end[F_PID] as number;
    const ts = p.start[F_TID] as number;
    const te = p.end[F_TID] as number;
    const pf = p.flags[F_PID] as number;
    const tf = p.flags[F_TID] as number;
    let h = (dest * 31 + pk * 7 + tk + pf * 131 + tf * 257) | 0;
    for (let k = ps; k < pe; k++) h = (Math.imul(h, 31) + (buf[k] as number)) | 0;
    h = (Math.imul(h, 17) + 0x9e37) | 0;
    const tidPresent = tk !== V_MISSING && tk !== V_NULL;
    if (tidPresent) for (let k = ts; k < te; k++) h = (Math.imul(h, 31) + (buf[k] as number)) | 0;
    const plen = pe - ps;
    const tlen = tidPresent ? te - ts : 0;
    const list = this.cache.get(h);
    if (list) {
      for (const en of list) {
        const key = en.key;
        if (
          key.length === plen + tlen + 6 &&
          key[0] === dest &&
          key[1] === pk &&
          key[2] === (tidPresent ? tk : 0) &&
          key[3] === pf &&
          key[4] === (tidPresent ? tf : 0) &&
          key[5] === plen
        ) {
          let same = true;
          for (let k = 0; k < plen && same; k++) if (key[6 + k] !== buf[ps + k]) same = false;
          for (let k = 0; k < tlen && same; k++) if (key[6 + plen + k] !== buf[ts + k]) same = false;
          if (same && en.stream) return en.stream;
        }
      }
    }
    const pid = this.fieldText(buf, F_PID) as string;
    const tid = tidPresent ? (this.fieldText(buf, F_TID) as string) : pid;
    const stream = this.streamFor(pid, tid, dest);
    if (plen < 256) {
      const key = new Uint8Array(plen + tlen + 6);
      key[0] = dest;
      key[1] = pk;
      key[2] = tidPresent ? tk : 0;
      key[3] = pf;
      key[4] = tidPresent ? tf : 0;
      key[5] = plen;
      key.set(buf.subarray(ps, pe), 6);
      if (tidPresent) key.set(buf.subarray(ts, te), 6 + plen);
      const en: CacheEntry = { key, stream };
      if (list) list.push(en);
      else this.cache.set(h, [en]);
    }
    return stream;
  }

  // ---- shared by both paths --------------------------------------------------------------

  /** Registers process `pid` and its thread `tid` if new. */
  private registerThread(pid: string, tid: string): ProcessInfo {
    let p = this.processes.get(pid);
    if (!p) {
      p = {
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
      this.processes.set(pid, p);
    }
    if (!p.threads.has(tid)) {
      p.threads.set(tid, { streamId: crypto.randomUUID(), tid, name: null, sortIndex: null });
    }
    return p;
  }

  /** The stream of (pid, tid, destination), registering the process and thread. */
  private streamFor(pid: string, tid: string, dest: number): StreamRef {
    const key = `${pid}\u0000${tid}\u0000${dest}`;
    const known = this.streamsByKey.get(key);
    if (known) return known;
    const p = this.registerThread(pid, tid);
    const streamId =
      dest === D_LOG
        ? p.logStreamId
        : dest === D_METRICS
          ? p.metricsStreamId
          : (p.threads.get(tid) as ThreadInfo).streamId;
    // One StreamRef per stream id, so that a batch has one builder per stream.
    const byId = `\u0001${streamId}`;
    let ref = this.streamsByKey.get(byId);
    if (!ref) {
      ref = { streamId, processId: p.processId };
      this.streamsByKey.set(byId, ref);
    }
    this.streamsByKey.set(key, ref);
    return ref;
  }

  /** DuckDB's part of a batch, metadata, then the blocks. */
  private async finishBatch(st: BatchState): Promise<void> {
    if (st.fallback.length > 0) await this.importWithDuckDB(st);
    st.meta.sort((a, b) => a.seq - b.seq);
    for (const m of st.meta) this.applyMetadata(m.pid, m.tid, m.name, m.args);
    for (const [stream, b] of st.builders) {
      if (b.rows === 0) continue;
      const blockId = crypto.randomUUID();
      const staged = join(this.stagingDir, "blocks", `${blockId}.parquet`);
      const parts = encodeRawBlock(b.rows, b.columns(), this.compress);
      let size = 0;
      for (const x of parts) size += x.length;
      const fd = openSync(staged, "w");
      try {
        for (const x of parts) writeSync(fd, x);
      } finally {
        closeSync(fd);
      }
      const r = b.range();
      this.blocks.push({
        blockId,
        streamId: stream.streamId,
        processId: stream.processId,
        beginNs: r.begin,
        endNs: r.end,
        nbObjects: b.rows,
        payloadSize: size,
        stagedPath: staged,
      });
    }
    st.builders.clear();
  }

  // ---- DuckDB path -----------------------------------------------------------------------

  /** Imports the batch's events that are off the fast path with DuckDB, as before. */
  private async importWithDuckDB(st: BatchState): Promise<void> {
    const e = this.engine;
    if (!this.sqlReady) {
      await e.run(US_TO_NS_MACRO);
      this.sqlReady = true;
    }
    this.stats.duckdbEvents += st.fallbackEvents;
    const path = join(this.stagingDir, `fallback-${st.index}.ndjson`);
    const fd = openSync(path, "w");
    try {
      for (const l of st.fallback) writeSync(fd, l);
    } finally {
      closeSync(fd);
    }
    st.fallback = [];
    try {
      await e.run(`CREATE OR REPLACE TEMP TABLE tl_batch AS ${batchSql(path, this.maxEventBytes)}`);
      const rows = await e.rows<FallbackRow>(
        `SELECT seq, ph, ts_ns, dur_ns, tts_ns, tdur_ns, pid, tid, name, cat, aid, id_scope, scope, s, bp, bind_id,
           flow_in = 'true' AS flow_in, flow_out = 'true' AS flow_out, args, skip_reason, dest
         FROM tl_batch`,
      );
      await e.run("DROP TABLE tl_batch");
      let parsed = 0;
      for (const r of rows) {
        parsed++;
        if (r.seq === null) {
          this.count("", r.dest, r.skip_reason);
          continue;
        }
        const label = r.ph !== null && KNOWN_PHASE_SET.has(r.ph) ? r.ph : [...(r.ph ?? "")].slice(0, 16).join("");
        this.count(label, r.dest, r.skip_reason);
        if (r.dest === "skipped") continue;
        if (r.dest === "metadata") {
          this.registerThread(r.pid as string, r.tid as string);
          st.meta.push({ seq: Number(r.seq), pid: r.pid as string, tid: r.tid as string, name: r.name, args: r.args });
          continue;
        }
        const dest = r.dest === "log" ? D_LOG : r.dest === "metrics" ? D_METRICS : D_CPU;
        const stream = this.streamFor(r.pid as string, r.tid as string, dest);
        let b = st.builders.get(stream);
        if (!b) {
          b = new BlockBuilder();
          st.builders.set(stream, b);
        }
        b.beginRow();
        setNs(b, C_SEQ, nsValue(r.seq));
        b.noteSeq(Number(r.seq));
        setStr(b, C_PH, r.ph);
        const ts = nsValue(r.ts_ns);
        const dur = nsValue(r.dur_ns);
        setNs(b, C_TIME, ts);
        setNs(b, C_DUR, dur);
        setNs(b, C_TTS, nsValue(r.tts_ns));
        setNs(b, C_TDUR, nsValue(r.tdur_ns));
        if (ts !== null) b.noteRange(ts, dur);
        setStr(b, C_TID, r.tid);
        setStr(b, C_NAME, r.name);
        setStr(b, C_CAT, r.cat);
        setStr(b, C_ID, r.aid);
        setStr(b, C_ID_SCOPE, r.id_scope);
        setStr(b, C_SCOPE, r.scope);
        setStr(b, C_S, r.s);
        setStr(b, C_BP, r.bp);
        setStr(b, C_BIND_ID, r.bind_id);
        if (r.flow_in === null) b.setNull(C_FLOW_IN);
        else b.setBool(C_FLOW_IN, r.flow_in);
        if (r.flow_out === null) b.setNull(C_FLOW_OUT);
        else b.setBool(C_FLOW_OUT, r.flow_out);
        setStr(b, C_ARGS, r.args);
      }
      this.malformed += Math.max(0, st.fallbackEvents - parsed);
    } finally {
      rmSync(path, { force: true });
    }
  }

  private applyMetadata(pid: string, tid: string, name: string | null, argsJson: string | null): void {
    const p = this.processes.get(pid);
    if (!p) return;
    let args: Record<string, unknown> = {};
    try {
      const v: unknown = argsJson ? JSON.parse(argsJson) : {};
      if (v && typeof v === "object" && !Array.isArray(v)) args = v as Record<string, unknown>;
    } catch {
      args = {};
    }
    const str = (v: unknown): string | null =>
      v === undefined || v === null ? null : typeof v === "string" ? v : JSON.stringify(v);
    const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);
    switch (name) {
      case "process_name":
        p.name = str(args.name);
        break;
      case "process_labels":
        p.labels = str(args.labels);
        break;
      case "process_sort_index":
        p.sortIndex = num(args.sort_index);
        break;
      case "thread_name": {
        const t = p.threads.get(tid);
        if (t) t.name = str(args.name);
        break;
      }
      case "thread_sort_index": {
        const t = p.threads.get(tid);
        if (t) t.sortIndex = num(args.sort_index);
        break;
      }
      default:
        if (name) p.metadata[name] = args;
    }
  }
}

/** A row of DuckDB's batch table, as read back for the events it imported. */
interface FallbackRow {
  seq: bigint | null;
  ph: string | null;
  ts_ns: bigint | null;
  dur_ns: bigint | null;
  tts_ns: bigint | null;
  tdur_ns: bigint | null;
  pid: string | null;
  tid: string | null;
  name: string | null;
  cat: string | null;
  aid: string | null;
  id_scope: string | null;
  scope: string | null;
  s: string | null;
  bp: string | null;
  bind_id: string | null;
  flow_in: boolean | null;
  flow_out: boolean | null;
  args: string | null;
  skip_reason: string | null;
  dest: Destination;
}

/** A BIGINT from DuckDB as a safe integer when it is one. */
function nsValue(v: bigint | null): Ns {
  if (v === null) return null;
  return v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v;
}

function setNs(b: BlockBuilder, c: number, v: Ns): void {
  if (v === null) b.setNull(c);
  else if (typeof v === "number") b.setI64(c, v);
  else b.setI64Big(c, v);
}

function setStr(b: BlockBuilder, c: number, v: string | null): void {
  if (v === null) b.setNull(c);
  else {
    const t = encoder.encode(v);
    b.setBytes(c, t, 0, t.length);
  }
}

function isAscii(s: string): boolean {
  for (let k = 0; k < s.length; k++) if (s.charCodeAt(k) > 0x7f) return false;
  return true;
}

/** Rounds half away from zero, as DuckDB's round(DOUBLE). */
function roundAway(v: number): number {
  const t = Math.trunc(v);
  const d = v - t;
  if (d >= 0.5) return t + 1;
  if (d <= -0.5) return t - 1;
  return t;
}

function digitsValue(buf: Uint8Array, s: number, e: number): number {
  let v = 0;
  for (let k = s; k < e; k++) v = v * 10 + ((buf[k] as number) - 0x30);
  return v;
}

function digitsBig(buf: Uint8Array, s: number, e: number): bigint {
  return e > s ? BigInt(decoder.decode(buf.subarray(s, e))) : 0n;
}

const POW10 = [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];
const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;

/**
 * `tl_us_to_ns` on a text of the form -?digits(.digits)? (ASCII bytes `buf[s, e)`).
 * @returns ns as a safe integer or bigint, or null (the macro's NULL).
 */
export function usTextToNs(buf: Uint8Array, s: number, e: number): Ns {
  const len = e - s;
  let dot = -1;
  for (let k = s; k < e; k++) {
    if (buf[k] === 0x2e) {
      dot = k;
      break;
    }
  }
  const neg = buf[s] === 0x2d;
  const d0 = neg ? s + 1 : s;
  if (dot < 0) {
    if (len > 17) return null;
    if (e - d0 <= 12) {
      const v = digitsValue(buf, d0, e) * 1000;
      return neg ? (v === 0 ? 0 : -v) : v;
    }
    const v = digitsBig(buf, d0, e) * 1000n * (neg ? -1n : 1n);
    return v < I64_MIN || v > I64_MAX ? null : nsValue(v);
  }
  if (len <= 15) {
    // At most 14 digits: the mantissa is exact and one division is correctly rounded, as
    // DuckDB's VARCHAR → DOUBLE cast.
    let m = 0;
    for (let k = d0; k < e; k++) if (k !== dot) m = m * 10 + ((buf[k] as number) - 0x30);
    const x = m / (POW10[e - dot - 1] as number);
    const r = roundAway((neg ? -x : x) * 1000);
    if (!(r >= -TWO63 && r < TWO63)) return null;
    return Number.isSafeInteger(r) ? (Object.is(r, -0) ? 0 : r) : BigInt(r);
  }
  if (dot - s > 17) return null;
  let frac = 0;
  for (let k = 0; k < 3; k++) {
    const c = dot + 1 + k < e ? (buf[dot + 1 + k] as number) - 0x30 : 0;
    frac = frac * 10 + c;
  }
  if (dot - d0 <= 12) {
    const v = digitsValue(buf, d0, dot) * 1000 + frac;
    // HUGEINT(int part) × 1000 + sign × frac: the integer part keeps its own sign.
    return neg ? (v === 0 ? 0 : -v) : v;
  }
  const v = (digitsBig(buf, d0, dot) * 1000n + BigInt(frac)) * (neg ? -1n : 1n);
  return v < I64_MIN || v > I64_MAX ? null : nsValue(v);
}

/** The original SQL: one batch file → normalized rows with skip reason and destination. */
function batchSql(path: string, maxEventBytes: number): string {
  return `WITH raw AS (
        SELECT * FROM read_ndjson(${sqlString(path)}, columns = ${COLUMNS},
          format = 'newline_delimited', ignore_errors = true,
          maximum_object_size = ${maxEventBytes + 1024})
      ), conv AS (
        SELECT ${SEQ_KEY} AS seq, ph, name, cat, ts,
          tl_us_to_ns(ts) AS ts_ns, tl_us_to_ns(dur) AS dur_ns,
          tl_us_to_ns(tts) AS tts_ns, tl_us_to_ns(tdur) AS tdur_ns,
          pid, coalesce(tid, pid) AS tid,
          coalesce(id, json_extract_string(id2, '$.local'), json_extract_string(id2, '$.global')) AS aid,
          CASE WHEN id IS NOT NULL THEN 'global'
               WHEN json_extract_string(id2, '$.local') IS NOT NULL THEN 'local'
               WHEN json_extract_string(id2, '$.global') IS NOT NULL THEN 'global' END AS id_scope,
          scope, s, bp, bind_id, flow_in, flow_out, args
        FROM raw
      ), judged AS (
        SELECT *,
          CASE
            WHEN seq IS NULL THEN 'malformed JSON event'
            WHEN ph IS NULL OR ph = '' THEN 'ph missing'
            WHEN ph NOT IN (${phaseList}) THEN 'phase not imported'
            WHEN pid IS NULL THEN 'pid missing'
            WHEN ph = 'M' THEN NULL
            WHEN ts IS NULL THEN 'ts missing'
            WHEN ts_ns IS NULL THEN 'ts not a number or out of range'
            WHEN ph = 'X' AND dur_ns IS NULL THEN 'X without a numeric dur'
            WHEN ph = 'X' AND dur_ns < 0 THEN 'X with a negative dur'
            WHEN ph IN ('b', 'e', 'n', 'S', 'T', 'p', 'F') AND aid IS NULL THEN 'async event without id or id2'
            WHEN ph IN ('s', 't', 'f') AND aid IS NULL AND bind_id IS NULL THEN 'flow event without id'
            WHEN ph = 'C' AND (args IS NULL OR json_type(args) <> 'OBJECT' OR args = '{}') THEN 'counter without args'
          END AS skip_reason
        FROM conv
      )
      SELECT *,
        CASE WHEN skip_reason IS NOT NULL THEN 'skipped'
             WHEN ph = 'M' THEN 'metadata'
             WHEN ph IN ('i', 'I', 'R') THEN 'log'
             WHEN ph = 'C' THEN 'metrics'
             ELSE 'cpu' END AS dest
      FROM judged`;
}
