/**
 * `thread_spans`: the call tree of every thread of a process, from the B/E and X events of its
 * `cpu` streams (one stream per thread). Columns follow micromegas's thread_spans (id, parent,
 * depth, begin, end, duration, name, target, filename, line; reference/micromegas.md §2), plus
 * the thread (stream_id, tid, thread_name), the event args and how the span was built.
 *
 * How real, messy traces are handled (README "thread_spans"):
 * - Order: a thread's events are taken by time; at equal times B and E keep their array order
 *   and come before X events, X events with equal begins are taken longest first (the parent
 *   before its children, although Chrome writes the child first).
 * - End before begin: an X that ends at t is closed before anything that begins at t, so
 *   back-to-back spans are siblings, not parent and child.
 * - B opens a span on the thread's stack; E closes the topmost open B-span (names are not
 *   compared). An E with no open B-span is dropped (it stays in raw_events).
 * - A B never closed is closed at the thread's last timestamp (max of event times and X ends)
 *   and marked `anomaly = 'unclosed'`.
 * - X that overlaps its would-be parent without nesting (trace_processor drops these onto an
 *   overflow track, stat slice_spill_overlapping_complete_event): kept, with the nearest
 *   enclosing span on the stack as parent (depth = its depth + 1), marked `'overlap'`, and not
 *   made a parent of later spans. X-spans still open when an E closes an enclosing B-span, and a
 *   B-span that outlives its X parent, are kept where they were placed and marked `'overlap'`.
 * - self_dur: the span's length minus what its children cover within it (selfTimes); -1 for
 *   an unclosed span, as `dur` at read time (lib/sql/time_columns.ts).
 * - Top-level spans have depth 0 and parent -1. Ids are unique across the lake: the stack pass
 *   numbers a process's spans 0, 1, ... and the row's `id` is spanIdSql of (process, number),
 *   the one rule every view that names a thread span (flows, slice, flow) follows.
 */

import { type ColumnArray, scanColumns } from "../duck/columnar.ts";
import { LookupFunctions } from "../duck/lookup_functions.ts";
import { fillTemplate } from "../duck/template.ts";
import { type BlockRows, blockRows, MAX_BLOCK_ROWS } from "./source.ts";
import type { MaterializeInput, MaterializeResult, SourceBlock, ViewSet } from "./view_set.ts";
import { writePartitionFile } from "./write.ts";

/**
 * THE rule for a thread span's lake-wide id (thread_spans.id and parent, flows.out_id/in_id,
 * slice.id): a 63-bit hash (DuckDB's `hash`, top bit dropped, so never negative and never -1) of
 * the process id (VARCHAR) and the span's number in its process (the stack pass's 0, 1, ...).
 * Unique across the lake but for a hash collision (probability about n²/2^64 for n spans: 5e-8
 * for a million). `process` and `local` are SQL expressions; returns a BIGINT expression.
 */
export function spanIdSql(process: string, local: string): string {
  return `(hash('thread_span', (${process})::VARCHAR, (${local})::BIGINT) >> 1)::BIGINT`;
}

/** Phase codes of the scan. */
const K_B = 0;
const K_E = 1;
const K_X = 2;
/** Anomaly codes of the stack pass (0: none). */
const A_UNCLOSED = 1;
export const A_OVERLAP = 2;

/**
 * The stack pass's input, in processing order: per thread, time, then X after B/E and longer X
 * first, then input order (seq, then block: see async_events.ts); with each event its seq (q)
 * and thread time (tt, ns; NaN when the event has none). `$src` is the blocks' relation (source.ts
 * blockRows), `$base` the process's min event time (ns).
 */
const SCAN = `SELECT e.pos::INTEGER AS pos, e.sx::INTEGER AS sx,
    (CASE e.ph WHEN 'B' THEN ${K_B} WHEN 'E' THEN ${K_E} ELSE ${K_X} END)::TINYINT AS k,
    (epoch_ns(e.time) - $base)::DOUBLE AS t, coalesce(e.dur, 0)::DOUBLE AS d, e.seq::DOUBLE AS q,
    coalesce(e.thread_time::DOUBLE, 'NaN'::DOUBLE) AS tt
  FROM ($src) e
  WHERE e.ph IN ('B', 'E', 'X') AND e.sx IS NOT NULL
  ORDER BY e.sx, e.time, (e.ph = 'X'), CASE WHEN e.ph = 'X' THEN -e.dur END, e.seq, e.bix`;

/**
 * The partition's rows: the begin events (B and X) of the blocks, each with what the stack pass
 * computed for it, read through the tl_span functions by the row's pos (every B and X event
 * of a listed stream is the begin of exactly one span), ordered by (begin, stream_id, depth,
 * end, span number) (sx follows stream_id order): the order in which the Perfetto export writes
 * a process's slices (a parent before its children; of two siblings beginning together, the
 * zero-length one, which ends where the other begins), so that it streams the partition
 * without sorting it. Only the sort keys and the event's own columns go through the
 * sort; the thread's columns ($streams_*: SQL lists indexed by sx; $process, the process id:
 * source.ts blockRows's expressions, fields of a variable set from its table, so no name is SQL text), the pass's other results
 * and what derives from them are computed after it. The JSON paths are only evaluated where the
 * args text names the key (a substring test is a fraction of a JSON parse per row).
 * process_id and phase are ENUM values, which the Parquet writer stores as the same UTF-8
 * dictionary columns without hashing each row's string (their statistics then span the enum's
 * values: one process id; 'B' to 'X').
 */
const SELECT = `SELECT $process AS process_id, ($streams_id)[sx + 1] AS stream_id,
    TRY_CAST(($streams_tid)[sx + 1] AS BIGINT) AS tid, ($streams_tid)[sx + 1] AS tid_text, ($streams_name)[sx + 1] AS thread_name,
    ${spanIdSql("$process", "s.id")} AS id,
    CASE WHEN s.parent >= 0 THEN ${spanIdSql("$process", "s.parent")} ELSE -1 END AS parent,
    o.depth::UINTEGER AS depth, "begin",
    make_timestamp_ns($base + end_rel) AS "end", end_rel - (epoch_ns("begin") - $base) AS duration,
    CASE WHEN s.anomaly = ${A_UNCLOSED} THEN -1 ELSE s.self::BIGINT END AS self_dur,
    name, target,
    CASE WHEN loc THEN
      coalesce(json_extract_string(properties, '$.src_file'), json_extract_string(properties, '$.location.file_name')) END AS filename,
    CASE WHEN loc THEN
      TRY_CAST(coalesce(json_extract_string(properties, '$.src_line'), json_extract_string(properties, '$.location.line_number')) AS UINTEGER) END AS line,
    properties, thread_time,
    CASE WHEN is_x THEN thread_dur ELSE TRY_CAST(s.thread_end AS BIGINT) - thread_time END AS thread_duration,
    (['B', 'X']::ENUM('B', 'X')[])[is_x::INTEGER + 1] AS phase,
    CASE s.anomaly WHEN ${A_UNCLOSED} THEN 'unclosed' WHEN ${A_OVERLAP} THEN 'overlap' END AS anomaly
  FROM (
    SELECT *, contains(properties, '"src_') OR contains(properties, '"location"') AS loc, s.end_rel::BIGINT AS end_rel
    FROM (
      SELECT *, tl_span(pos) AS s
      FROM (
        SELECT e.sx, e.pos::INTEGER AS pos, tl_span_order(e.pos::INTEGER) AS o, e.time AS "begin",
          e.name, e.cat AS target, e.args AS properties, e.thread_time, e.thread_dur, e.ph = 'X' AS is_x
        FROM ($src) e
        WHERE e.ph IN ('B', 'X') AND e.sx IS NOT NULL
        ORDER BY "begin", e.sx, o)))`;

/** The thread_spans view set. */
export const threadSpans: ViewSet = {
  name: "thread_spans",
  description: "thread spans: the call tree of each thread (B/E and X events), one row per span",
  streamTag: "cpu",
  version: 1,
  sliceMicros: null,
  transformText: `${SCAN}\n${SELECT}`,
  columns: [
    { name: "process_id", type: "VARCHAR", description: "process (view_instance_id)" },
    { name: "stream_id", type: "VARCHAR", description: "the thread's cpu stream" },
    { name: "tid", type: "BIGINT", description: "source thread id, when it is an integer (README: tid and tid_text)" },
    { name: "tid_text", type: "VARCHAR", description: "source thread id as the source wrote it" },
    { name: "thread_name", type: "VARCHAR", description: "thread name (M thread_name)" },
    { name: "id", type: "BIGINT", description: "span id, unique across the lake (a 63-bit hash)" },
    { name: "parent", type: "BIGINT", description: "id of the enclosing span; -1 at top level" },
    { name: "depth", type: "UINTEGER", description: "0 at top level" },
    { name: "begin", type: "TIMESTAMP_NS", description: "begin time (ns, the trace's clock)" },
    { name: "end", type: "TIMESTAMP_NS", description: "end time" },
    { name: "duration", type: "BIGINT", description: "end - begin, ns (an unclosed span: to the thread's last event)" },
    {
      name: "self_dur",
      type: "BIGINT",
      description: "ns of the span not covered by its children (clipped to it); -1 for an unclosed span, like dur",
    },
    { name: "name", type: "VARCHAR", description: "event name" },
    { name: "target", type: "VARCHAR", description: "category (cat)" },
    { name: "filename", type: "VARCHAR", description: "args.src_file or args.location.file_name" },
    { name: "line", type: "UINTEGER", description: "args.src_line or args.location.line_number" },
    { name: "properties", type: "JSON", description: "args of the begin (B or X) event" },
    { name: "thread_time", type: "BIGINT", description: "thread-clock time of the begin (tts), ns" },
    {
      name: "thread_duration",
      type: "BIGINT",
      description: "thread-clock duration, ns: X tdur; B/E the E's tts minus the B's (trace_processor's thread_dur)",
    },
    { name: "phase", type: "VARCHAR", description: "source phase: X or B" },
    { name: "anomaly", type: "VARCHAR", description: "NULL, 'unclosed' (B without E) or 'overlap' (does not nest)" },
  ],
  async materialize(input: MaterializeInput): Promise<MaterializeResult> {
    const { engine } = input;
    const pass = await spanPass(input);
    if (pass === null) return { numRows: 0, minEventTimeNs: null, maxEventTimeNs: null };
    const { src, base, spans, stats } = pass;
    if (stats.spans === 0) return { numRows: 0, minEventTimeNs: null, maxEventTimeNs: null };
    const select = fillTemplate(SELECT, {
      src: src.sql,
      base: `${base}`,
      process: src.processId,
      streams_id: src.streamIds,
      streams_tid: src.streamTids,
      streams_name: src.threadNames,
    });
    // The event-time range from the pass (min begin, max end), not from a read of the file.
    const range = { min: base + BigInt(stats.minBegin), max: base + BigInt(stats.maxEnd) };
    const result = await SPAN_FUNCTIONS.run(engine, spans, () =>
      writePartitionFile(engine, select, input.outPath, "begin", "end", range),
    );
    if (result.numRows !== stats.spans) {
      throw new Error(
        `thread_spans: wrote ${result.numRows} rows for the ${stats.spans} spans of the stack pass (process ${input.process.processId}); this is a bug`,
      );
    }
    return result;
  },
};

/** What spanPass computed for a process's cpu blocks. */
export interface SpanPass {
  /** The blocks as blockRows made them (streams sorted as thread_spans sorts them). */
  src: BlockRows;
  /** The base of the pass's relative times (ns): at most every event's time, within 2^53 ns of every span. */
  base: bigint;
  spans: SpanArrays;
  stats: SpanStats;
}

/**
 * The stack pass of thread_spans over `input`'s cpu blocks: the span id of every begin event
 * by its pos, exactly as the thread_spans partition numbers them (lib/views/flows.ts binds
 * flow events to these ids). Null when the blocks hold no B/E/X event. Run once per JIT run
 * for the same blocks: kept in `input.shared` for the other view set (without the relation,
 * made anew here: blockRows sets the variables its expressions read).
 * @throws Error from DuckDB, or when the blocks hold more rows than one partition can.
 */
export async function spanPass(input: MaterializeInput): Promise<SpanPass | null> {
  if (input.blocks.length === 0) return null;
  // sx (a stream's index) orders the rows: streams in DuckDB's VARCHAR order (bytes of UTF-8).
  const streams = [...input.streams].sort((a, b) => Buffer.compare(Buffer.from(a.streamId), Buffer.from(b.streamId)));
  const src = await blockRows({ ...input, streams });
  // Another view set of the same JIT run (flows) may have run this pass on the same blocks.
  const key = `thread_spans pass\n${input.process.processId}\n${streams.map((s) => s.streamId).join("\n")}\n${input.blocks.map((b) => b.path).join("\n")}`;
  const done = input.shared?.get(key) as Omit<SpanPass, "src"> | null | undefined;
  if (done !== undefined) return done === null ? null : { ...done, src };
  const result = await runSpanPass(input, src);
  input.shared?.set(key, result === null ? null : { base: result.base, spans: result.spans, stats: result.stats });
  return result;
}

/** spanPass's work, over the blocks' relation `src`. */
async function runSpanPass(input: MaterializeInput, src: BlockRows): Promise<SpanPass | null> {
  const { engine } = input;
  if (src.rowCount > MAX_BLOCK_ROWS) {
    throw new Error(
      `thread_spans: process ${input.process.processId} has ${src.rowCount} events in its cpu streams, more than the ${MAX_BLOCK_ROWS} one partition can hold`,
    );
  }
  // The base time: the blocks' catalog begin_time (at most every event's time) saves a read of
  // the blocks. The pass's times are exact only within ±2^53 ns of it (104 days), so when a
  // span lies that far from it (the blocks hold an early non-span event), the base becomes the
  // spans' own min time and the pass runs again.
  const pass = async (base: bigint): Promise<SpanPass> => {
    const spans = new SpanArrays(src.rowCount);
    const scan = scanColumns(engine, fillTemplate(SCAN, { src: src.sql, base: `${base}` }));
    return { src, base, spans, stats: await buildSpans(scan, spans) };
  };
  const exact = (r: SpanPass): boolean =>
    r.stats.maxEnd < Number.MAX_SAFE_INTEGER && r.stats.minBegin > -Number.MAX_SAFE_INTEGER;
  const catalogBase = minBeginTime(input.blocks);
  let run = catalogBase === null ? null : await pass(catalogBase);
  if (run === null || !exact(run)) {
    const b = await engine.rows<{ base: bigint | null }>(
      `SELECT epoch_ns(min(time)) AS base FROM (${src.sql}) WHERE ph IN ('B', 'E', 'X')`,
    );
    const base = b[0]?.base ?? null;
    if (base === null) return null;
    run = await pass(base);
  }
  // No B, E or X event at all (each makes a span or is an unmatched E).
  if (run.stats.spans === 0 && run.stats.unmatchedEnds === 0) return null;
  return run;
}

/**
 * What the stack pass computed: the span id of each begin event, by its `pos` (source.ts
 * blockRows; other rows' entries mean nothing), and by span id (0, 1, ... in processing order)
 * the parent id (-1 at top level), depth, end relative to the base time (ns), the closing E's
 * thread time, the anomaly code, the begin and the self time. Memory: 4 bytes per source row and 41 per span.
 */
export class SpanArrays {
  readonly idOf: Int32Array;
  parent = new Int32Array(1024);
  depth = new Int32Array(1024);
  end = new Float64Array(1024);
  /** The closing E's thread time (ns; NaN when none: X spans, unclosed B spans, no tts). */
  threadEnd = new Float64Array(1024);
  anomaly = new Int8Array(1024);
  /** Begin relative to the base time (ns). */
  begin = new Float64Array(1024);
  /** Self time (ns): end - begin minus the time its children cover within it (selfTimes). */
  self = new Float64Array(1024);

  /** @param rows source rows (the largest pos + 1). */
  constructor(rows: number) {
    this.idOf = new Int32Array(rows);
  }

  /** Makes room for span id `id` (ids come in order). */
  reserve(id: number): void {
    if (id < this.parent.length) return;
    const n = Math.max(id + 1, this.parent.length * 2);
    const g = <T extends Int32Array | Float64Array | Int8Array>(a: T, b: T): T => {
      b.set(a);
      return b;
    };
    this.parent = g(this.parent, new Int32Array(n));
    this.depth = g(this.depth, new Int32Array(n));
    this.end = g(this.end, new Float64Array(n));
    this.threadEnd = g(this.threadEnd, new Float64Array(n));
    this.anomaly = g(this.anomaly, new Int8Array(n));
    this.begin = g(this.begin, new Float64Array(n));
    this.self = g(this.self, new Float64Array(n));
  }
}

/**
 * Fills `spans.self` for spans 0..n-1: a span's length minus the union of its children's
 * intervals clipped to it, so that a point of a thread's busy time counts in the self time of
 * exactly one span when the spans nest (equal to trace_processor's slice_self_dur, dur minus the
 * children's dur, there), and a child marked 'overlap' that runs past its parent takes from it
 * only what lies inside it. Children come in id order, which is begin order (the pass numbers a
 * thread's spans as it meets their begins), so one running "covered up to" per parent suffices.
 */
export function selfTimes(spans: SpanArrays, n: number): void {
  const { parent, begin, end, self } = spans;
  const cover = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    cover[i] = begin[i] as number;
    self[i] = (end[i] as number) - (begin[i] as number);
  }
  for (let c = 0; c < n; c++) {
    const p = parent[c] as number;
    if (p < 0) continue;
    const lo = Math.max(begin[c] as number, cover[p] as number);
    const hi = Math.min(end[c] as number, end[p] as number);
    if (hi > lo) {
      self[p] = (self[p] as number) - (hi - lo);
      cover[p] = hi;
    }
  }
}

/**
 * The scalar functions `tl_span_order(pos)` (STRUCT(depth INTEGER, end_rel DOUBLE, id
 * INTEGER): the partition's sort key after begin and thread, compared field by field) and `tl_span(pos)` (STRUCT(id
 * INTEGER, parent INTEGER, end_rel DOUBLE, anomaly TINYINT, thread_end DOUBLE, self DOUBLE))
 * reading the stack pass's SpanArrays during a materialization (lib/duck/lookup_functions.ts;
 * they fail anywhere else). The sort key is apart because it is read before the sort; the rest
 * is read after it.
 */
const SPAN_FUNCTIONS = new LookupFunctions<SpanArrays>("thread_spans", [
  {
    name: "tl_span_order",
    returns: [
      ["depth", "INTEGER"],
      ["end_rel", "DOUBLE"],
      ["id", "INTEGER"],
    ],
    fill: (spans, pos, n, out) => {
      const depth = out[0] as Int32Array;
      const end = out[1] as Float64Array;
      const id = out[2] as Int32Array;
      const { idOf, depth: sDepth, end: sEnd } = spans;
      for (let i = 0; i < n; i++) {
        const k = idOf[pos[i] as number] as number;
        depth[i] = sDepth[k] as number;
        end[i] = sEnd[k] as number;
        id[i] = k;
      }
    },
  },
  {
    name: "tl_span",
    returns: [
      ["id", "INTEGER"],
      ["parent", "INTEGER"],
      ["end_rel", "DOUBLE"],
      ["anomaly", "TINYINT"],
      ["thread_end", "DOUBLE"],
      ["self", "DOUBLE"],
    ],
    fill: (spans, pos, n, out) => {
      const id = out[0] as Int32Array;
      const parent = out[1] as Int32Array;
      const end = out[2] as Float64Array;
      const anomaly = out[3] as Int8Array;
      const threadEnd = out[4] as Float64Array;
      const self = out[5] as Float64Array;
      const { idOf, parent: sParent, end: sEnd, anomaly: sAnomaly, threadEnd: sThreadEnd, self: sSelf } = spans;
      for (let i = 0; i < n; i++) {
        const k = idOf[pos[i] as number] as number;
        id[i] = k;
        parent[i] = sParent[k] as number;
        end[i] = sEnd[k] as number;
        anomaly[i] = sAnomaly[k] as number;
        threadEnd[i] = sThreadEnd[k] as number;
        self[i] = sSelf[k] as number;
      }
    },
  },
]);

/** Counts of what the stack pass saw, for tests and diagnostics. */
export interface SpanStats {
  spans: number;
  unmatchedEnds: number;
  unclosed: number;
  overlaps: number;
  /** Min begin and max end of the spans, ns relative to the base time (±Infinity: no span). */
  minBegin: number;
  maxEnd: number;
}

/** The least catalog begin_time of `blocks` (ns), or null when none has one. */
function minBeginTime(blocks: readonly SourceBlock[]): bigint | null {
  let min: bigint | null = null;
  for (const b of blocks) if (b.beginTimeNs !== null && (min === null || b.beginTimeNs < min)) min = b.beginTimeNs;
  return min;
}

/**
 * The stack pass. Reads events (pos INTEGER, sx INTEGER, k TINYINT, t DOUBLE ns relative to
 * the process's base time, d DOUBLE ns, q DOUBLE the event's seq, tt DOUBLE its thread time in
 * ns or NaN) in processing order and writes each span into `spans`: its id at the pos of its
 * begin event, its parent, depth, end (relative ns), closing E's thread time and anomaly code at
 * its id. See the file comment for the rules.
 */
export async function buildSpans(
  events: AsyncIterable<{ rowCount: number; columns: ColumnArray[] }>,
  spans: SpanArrays,
): Promise<SpanStats> {
  const stats: SpanStats = {
    spans: 0,
    unmatchedEnds: 0,
    unclosed: 0,
    overlaps: 0,
    minBegin: Number.POSITIVE_INFINITY,
    maxEnd: Number.NEGATIVE_INFINITY,
  };
  const out = (id: number, parent: number, depth: number, end: number, anom: number, threadEnd = Number.NaN) => {
    if (end > stats.maxEnd) stats.maxEnd = end;
    spans.parent[id] = parent;
    spans.depth[id] = depth;
    spans.end[id] = end;
    spans.threadEnd[id] = threadEnd;
    spans.anomaly[id] = anom;
    stats.spans++;
    if (anom === A_UNCLOSED) stats.unclosed++;
    else if (anom === A_OVERLAP) stats.overlaps++;
  };

  // The open-span stack of the current thread (structure of arrays; end = Infinity for B).
  let cap = 256;
  let sId = new Int32Array(cap);
  let sEnd = new Float64Array(cap);
  let sIsB = new Uint8Array(cap);
  let sAnom = new Int8Array(cap);
  let top = 0; // number of open spans
  const grow = (): void => {
    cap *= 2;
    const g = <T extends ColumnArray | Uint8Array>(a: T, make: (n: number) => T): T => {
      const b = make(cap);
      (b as unknown as { set(x: T): void }).set(a);
      return b;
    };
    sId = g(sId, (n) => new Int32Array(n));
    sEnd = g(sEnd, (n) => new Float64Array(n));
    sIsB = g(sIsB, (n) => new Uint8Array(n));
    sAnom = g(sAnom, (n) => new Int8Array(n));
  };
  /** Emits and pops the top span, ending at `end` (thread time `threadEnd` for an E). */
  const closeTop = (end: number, anom: number, threadEnd = Number.NaN): void => {
    top--;
    const parentId = top > 0 ? (sId[top - 1] as number) : -1;
    out(sId[top] as number, parentId, top, end, anom, threadEnd);
  };
  // The B-spans opened at the current time on the current thread: their stack index and seq,
  // so that a zero-duration X written before such a B (which sorts after it) is placed before
  // it, outside it, as trace_processor reads it in input order.
  let tieT = Number.NaN;
  let tieN = 0;
  const tieIdx: number[] = [];
  const tieId: number[] = [];
  const tieSeq: number[] = [];

  let nextId = 0;
  let curSx = -1;
  let threadMax = 0;
  const finishThread = (): void => {
    while (top > 0) {
      if (sIsB[top - 1]) closeTop(threadMax, A_UNCLOSED);
      else closeTop(sEnd[top - 1] as number, sAnom[top - 1] as number);
    }
  };

  for await (const { rowCount, columns } of events) {
    const posA = columns[0] as Int32Array;
    const sxA = columns[1] as Int32Array;
    const kA = columns[2] as Int8Array;
    const tA = columns[3] as Float64Array;
    const dA = columns[4] as Float64Array;
    const qA = columns[5] as Float64Array;
    const ttA = columns[6] as Float64Array;
    for (let i = 0; i < rowCount; i++) {
      const sx = sxA[i] as number;
      if (sx !== curSx) {
        finishThread();
        curSx = sx;
        threadMax = Number.NEGATIVE_INFINITY;
        tieT = Number.NaN;
      }
      const k = kA[i] as number;
      const t = tA[i] as number;
      if (t !== tieT) {
        tieT = t;
        tieN = 0;
      }
      const end = k === K_X ? t + (dA[i] as number) : t;
      if (end > threadMax) threadMax = end;
      // End before begin: X-spans that ended by t close first.
      while (top > 0 && !sIsB[top - 1] && (sEnd[top - 1] as number) <= t) {
        closeTop(sEnd[top - 1] as number, sAnom[top - 1] as number);
      }
      if (k === K_E) {
        let j = top - 1;
        while (j >= 0 && !sIsB[j]) j--;
        if (j < 0) {
          stats.unmatchedEnds++;
          continue;
        }
        // X-spans above the B-span outlive it: they do not nest.
        while (top - 1 > j) closeTop(sEnd[top - 1] as number, A_OVERLAP);
        // A B-span that outlives its X parent does not nest either.
        const anom = j > 0 && !sIsB[j - 1] && (sEnd[j - 1] as number) < t ? A_OVERLAP : 0;
        closeTop(t, anom, ttA[i] as number);
        continue;
      }
      const id = nextId++;
      if (t < stats.minBegin) stats.minBegin = t;
      spans.reserve(id);
      spans.idOf[posA[i] as number] = id;
      spans.begin[id] = t;
      if (k === K_X && end === t && tieN > 0) {
        // A zero-duration X at the time of B-spans opened after it in input order: before the
        // first such B that is still open, at its depth.
        const q = qA[i] as number;
        let j = -1;
        for (let n = 0; n < tieN && j < 0; n++) {
          const at = tieIdx[n] as number;
          if ((tieSeq[n] as number) > q && at < top && sId[at] === tieId[n]) j = at;
        }
        if (j >= 0) {
          out(id, j > 0 ? (sId[j - 1] as number) : -1, j, end, 0);
          continue;
        }
      }
      if (k === K_X && top > 0 && !sIsB[top - 1] && (sEnd[top - 1] as number) < end) {
        // Does not nest in the top span: hang it under the nearest enclosing one, on the side.
        let j = top - 2;
        while (j >= 0 && !sIsB[j] && (sEnd[j] as number) < end) j--;
        out(id, j >= 0 ? (sId[j] as number) : -1, j + 1, end, A_OVERLAP);
        continue;
      }
      if (top === cap) grow();
      sId[top] = id;
      sEnd[top] = k === K_X ? end : Number.POSITIVE_INFINITY;
      sIsB[top] = k === K_B ? 1 : 0;
      sAnom[top] = 0;
      if (k === K_B) {
        tieIdx[tieN] = top;
        tieId[tieN] = id;
        tieSeq[tieN] = qA[i] as number;
        tieN++;
      }
      top++;
    }
  }
  finishThread();
  selfTimes(spans, stats.spans);
  return stats;
}
