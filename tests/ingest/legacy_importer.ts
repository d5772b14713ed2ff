/**
 * TEST ORACLE: the importer as it was before events were parsed in JS (commit c8b918a,
 * lib/ingest/chrome/importer.ts, unchanged but for imports and this paragraph). Every event goes
 * through DuckDB's read_ndjson and the partitioned COPY; tests compare the new importer's
 * blocks, counts and processes with this one's on the same input.
 *
 * Chrome Trace Event Format importer: turns NDJSON batches from the framer into normalized raw
 * events, routed to streams and written as Parquet blocks.
 *
 * Parsing and normalization run in DuckDB (`read_ndjson`, multi-threaded); this file holds the
 * mapping, which is ours. Phase mapping (DESIGN.md "Ingest", reference/perfetto.md §5):
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
 * `tid` is the `pid`, a missing or null `pid` is 0 (as trace_processor does).
 */
import { mkdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Engine } from "../../lib/duck/engine.ts";
import { sqlString } from "../../lib/duck/engine.ts";
import { SEQ_KEY } from "../../lib/ingest/chrome/framer.ts";
import { SKIP_REASONS } from "../../lib/ingest/model.ts";

/**
 * glibc's strtod grammar over a whole string (C locale), as an RE2 pattern: leading white
 * space, a sign, then decimal (with exponent), hexadecimal (with binary exponent), inf,
 * infinity, nan or nan(chars), in any case; nothing after.
 */
const STRTOD = String.raw`[ \t\n\x0B\f\r]*[+-]?(?:[0-9]+\.?[0-9]*(?:[eE][+-]?[0-9]+)?|\.[0-9]+(?:[eE][+-]?[0-9]+)?|0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?|(?i:inf|infinity|nan(?:\([0-9A-Za-z_]*\))?))`;

/** Version of the raw block layout written here; recorded in `blocks.schema_version`. */
export const RAW_BLOCK_SCHEMA_VERSION = 1;

/** Where an event went. */
export type Destination = "cpu" | "log" | "metrics" | "metadata" | "skipped" | "dropped";

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

/**
 * Imports one Chrome JSON source, batch by batch, into staged blocks. Keeps the process and
 * thread maps and the counts across batches. Not reusable across sources.
 */
export class LegacyChromeJsonImporter {
  readonly processes = new Map<string, ProcessInfo>();
  readonly blocks: StagedBlock[] = [];
  private readonly counts = new Map<string, PhaseCount>();
  private malformed = 0;
  private batchIndex = 0;

  /**
   * @param engine engine for the transforms (the catalog need not be attached).
   * @param stagingDir this ingest's private directory; blocks are staged in `blocks/` below it.
   * @param maxEventBytes the framer's event size limit (DuckDB's maximum_object_size follows).
   */
  constructor(
    private readonly engine: Engine,
    private readonly stagingDir: string,
    private readonly maxEventBytes: number,
  ) {}

  /** Creates the temp macro and tables this importer uses. */
  async init(): Promise<void> {
    mkdirSync(join(this.stagingDir, "blocks"), { recursive: true });
    await this.engine.run(US_TO_NS_MACRO);
    // Row order inside a block file carries no meaning (every row has its seq), and not
    // preserving it lets DuckDB write partitions with less buffering.
    await this.engine.run("SET preserve_insertion_order = false");
    await this.engine.run(
      "CREATE OR REPLACE TEMP TABLE tl_stream_map(pid VARCHAR, dest VARCHAR, stream_tid VARCHAR, stream_id VARCHAR)",
    );
  }

  /**
   * Imports one NDJSON batch file written by the framer.
   * @param path the batch file (deleted by the caller).
   * @param framedEvents number of lines in it, to count lines DuckDB rejected as malformed.
   */
  async importBatch(path: string, framedEvents: number): Promise<void> {
    const e = this.engine;
    const k = this.batchIndex++;
    await e.run(`CREATE OR REPLACE TEMP TABLE tl_batch AS
      WITH raw AS (
        SELECT * FROM read_ndjson(${sqlString(path)}, columns = ${COLUMNS},
          format = 'newline_delimited', ignore_errors = true,
          maximum_object_size = ${this.maxEventBytes + 1024})
      ), conv AS (
        SELECT ${SEQ_KEY} AS seq, ph, name, cat, ts,
          tl_us_to_ns(ts) AS ts_ns, tl_us_to_ns(dur) AS dur_ns,
          tl_us_to_ns(tts) AS tts_ns, tl_us_to_ns(tdur) AS tdur_ns,
          coalesce(pid, '0') AS pid, coalesce(tid, pid, '0') AS tid,
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
      FROM judged`);

    // Counts by phase, destination and reason. DuckDB (ignore_errors) returns a line it cannot
    // parse as a row of NULLs: its seq, which every framed line has, is NULL.
    const counts = await e.rows<{ ph: string | null; dest: Destination; reason: string | null; n: bigint }>(
      `SELECT CASE WHEN seq IS NULL THEN '' WHEN ph IN (${phaseList}) THEN ph ELSE left(coalesce(ph, ''), 16) END AS ph,
              dest, skip_reason AS reason, count(*) AS n
       FROM tl_batch GROUP BY ALL`,
    );
    let parsed = 0;
    for (const c of counts) {
      const n = Number(c.n);
      parsed += n;
      const key = `${c.ph}\u0000${c.dest}\u0000${c.reason}`;
      const prev = this.counts.get(key);
      if (prev) prev.count += n;
      else this.counts.set(key, { ph: c.ph ?? "", dest: c.dest, reason: c.reason, count: n });
    }
    this.malformed += Math.max(0, framedEvents - parsed);
    // Counter values the measures view gives no row for (README "How events are mapped": a
    // string that C's strtod does not read whole, null, an object, an array), per value,
    // duplicate keys included (the view reads args as a MAP). STRTOD is an independent
    // transcription of glibc's strtod grammar (C locale).
    const bad = await e.rows<{ n: bigint }>(
      `SELECT count(*) AS n FROM (
         SELECT unnest(map_entries(TRY_CAST(args AS MAP(VARCHAR, JSON)))) AS kv FROM tl_batch WHERE dest = 'metrics'
       ) WHERE kv.value IS NULL OR json_type(kv.value) IN ('NULL', 'OBJECT', 'ARRAY')
          OR (json_type(kv.value) = 'VARCHAR' AND NOT regexp_full_match(kv.value->>'$', ${sqlString(STRTOD)}))`,
    );
    const nBad = Number(bad[0]?.n ?? 0);
    if (nBad > 0) {
      const reason = SKIP_REASONS["chrome.counter_value_invalid"].description;
      const key = `C\u0000dropped\u0000${reason}`;
      const prev = this.counts.get(key);
      if (prev) prev.count += nBad;
      else this.counts.set(key, { ph: "C", dest: "dropped", reason, count: nBad });
    }

    // New processes and threads.
    const keys = await e.rows<{ pid: string; tid: string }>(
      "SELECT DISTINCT pid, tid FROM tl_batch WHERE dest <> 'skipped'",
    );
    const newStreams: [string, string, string, string][] = [];
    for (const { pid, tid } of keys) {
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
        newStreams.push([pid, "log", "", p.logStreamId], [pid, "metrics", "", p.metricsStreamId]);
      }
      if (!p.threads.has(tid)) {
        const t: ThreadInfo = { streamId: crypto.randomUUID(), tid, name: null, sortIndex: null };
        p.threads.set(tid, t);
        newStreams.push([pid, "cpu", tid, t.streamId]);
      }
    }
    if (newStreams.length > 0) await e.append("tl_stream_map", newStreams);

    // Metadata events name processes and threads.
    const meta = await e.rows<{ pid: string; tid: string; name: string | null; args: string | null }>(
      "SELECT pid, tid, name, args FROM tl_batch WHERE dest = 'metadata' ORDER BY seq",
    );
    for (const m of meta) this.applyMetadata(m.pid, m.tid, m.name, m.args);

    // Per-stream time range of this batch.
    const ranges = await e.rows<{ stream_id: string; b: bigint | null; en: bigint | null }>(
      `SELECT m.stream_id, min(b.ts_ns) AS b, max(b.ts_ns + greatest(coalesce(b.dur_ns, 0), 0)) AS en
       FROM tl_batch b JOIN tl_stream_map m
         ON m.pid = b.pid AND m.dest = b.dest AND m.stream_tid = CASE WHEN b.dest = 'cpu' THEN b.tid ELSE '' END
       WHERE b.dest IN ('cpu', 'log', 'metrics') GROUP BY m.stream_id`,
    );
    const rangeOf = new Map(ranges.map((r) => [r.stream_id, r]));

    // Write one Parquet file per stream: the raw blocks.
    const out = join(this.stagingDir, `batch-${k}`);
    const files = await e.rows<{ filename: string; count: bigint; file_size_bytes: bigint; partition_keys: unknown }>(
      `COPY (
        SELECT m.stream_id, b.seq, b.ph,
          make_timestamp_ns(b.ts_ns) AS time, b.dur_ns AS dur,
          b.tts_ns AS thread_time, b.tdur_ns AS thread_dur,
          b.tid, b.name, b.cat, b.aid AS id, b.id_scope, b.scope, b.s, b.bp, b.bind_id,
          b.flow_in = 'true' AS flow_in, b.flow_out = 'true' AS flow_out, b.args
        FROM tl_batch b JOIN tl_stream_map m
          ON m.pid = b.pid AND m.dest = b.dest AND m.stream_tid = CASE WHEN b.dest = 'cpu' THEN b.tid ELSE '' END
        WHERE b.dest IN ('cpu', 'log', 'metrics')
      ) TO ${sqlString(out)} (FORMAT parquet, PARTITION_BY (stream_id), COMPRESSION zstd,
        COMPRESSION_LEVEL 1, RETURN_STATS true, FILENAME_PATTERN 'data_{i}')`,
    );
    const streamOwner = this.streamOwners();
    for (const f of files) {
      const streamId = partitionValue(f.partition_keys, "stream_id");
      const owner = streamId ? streamOwner.get(streamId) : undefined;
      if (!streamId || !owner) throw new Error(`unexpected partition file ${f.filename}`);
      const blockId = crypto.randomUUID();
      const staged = join(this.stagingDir, "blocks", `${blockId}.parquet`);
      renameSync(f.filename, staged);
      const r = rangeOf.get(streamId);
      this.blocks.push({
        blockId,
        streamId,
        processId: owner,
        beginNs: r?.b ?? null,
        endNs: r?.en ?? null,
        nbObjects: Number(f.count),
        payloadSize: Number(f.file_size_bytes),
        stagedPath: staged,
      });
    }
    rmSync(out, { recursive: true, force: true });
    await e.run("DROP TABLE tl_batch");
  }

  /** Counts by phase/destination/reason, plus malformed lines, sorted by count. */
  phaseCounts(): PhaseCount[] {
    const all = [...this.counts.values()];
    if (this.malformed > 0) {
      all.push({ ph: "", dest: "skipped", reason: "malformed JSON event", count: this.malformed });
    }
    return all.sort((a, b) => b.count - a.count);
  }

  private streamOwners(): Map<string, string> {
    const m = new Map<string, string>();
    for (const p of this.processes.values()) {
      m.set(p.logStreamId, p.processId);
      m.set(p.metricsStreamId, p.processId);
      for (const t of p.threads.values()) m.set(t.streamId, p.processId);
    }
    return m;
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

/** Reads a value from DuckDB's RETURN_STATS `partition_keys` (a MAP: array of {key, value}). */
function partitionValue(keys: unknown, key: string): string | null {
  if (Array.isArray(keys)) {
    for (const e of keys as { key: unknown; value: unknown }[]) if (e.key === key) return String(e.value);
  } else if (keys && typeof keys === "object" && "entries" in keys) {
    for (const e of (keys as { entries: { key: unknown; value: unknown }[] }).entries) {
      if (e.key === key) return String(e.value);
    }
  }
  return null;
}
