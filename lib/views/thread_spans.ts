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
 * - Top-level spans have depth 0 and parent -1; ids are unique within the process.
 */
import { type ColumnArray, columnarPass } from "../sql/columnar.ts";
import { prepareSource, SRC, SRC_PROCESS } from "./source.ts";
import type { MaterializeInput, MaterializeResult, ViewSet } from "./view_set.ts";
import { writePartitionFile } from "./write.ts";

const OUT = "memory.main.tl_spans_out";

/** Phase codes of the scan. */
const K_B = 0;
const K_E = 1;
const K_X = 2;
/** Anomaly codes written by the stack pass. */
const A_UNCLOSED = 1;
const A_OVERLAP = 2;

/** The stack pass's input, in processing order. `$base` is the process's min event time (ns). */
const SCAN = `SELECT e.bix::INTEGER AS bix, e.seq::DOUBLE AS seq, e.sx::INTEGER AS sx,
    (CASE e.ph WHEN 'B' THEN ${K_B} WHEN 'E' THEN ${K_E} ELSE ${K_X} END)::TINYINT AS k,
    (epoch_ns(e.time) - $base)::DOUBLE AS t, coalesce(e.dur, 0)::DOUBLE AS d
  FROM ${SRC} e
  WHERE e.ph IN ('B', 'E', 'X') AND e.sx IS NOT NULL
  ORDER BY e.sx, e.time, (e.ph = 'X'), CASE WHEN e.ph = 'X' THEN -e.dur END, e.bix, e.seq`;

/**
 * The partition's rows: the stack pass's spans joined back to their begin events. The JSON
 * paths are only evaluated where the args text names the key (a substring test is a fraction
 * of a JSON parse per row).
 */
const SELECT = `SELECT p.process_id, e.stream_id, e.stream_tid AS tid, e.thread_name,
    o.id::BIGINT AS id, o.parent::BIGINT AS parent, o.depth::UINTEGER AS depth,
    e.time AS "begin", make_timestamp_ns($base + o.end_rel::BIGINT) AS "end",
    o.end_rel::BIGINT - (epoch_ns(e.time) - $base) AS duration,
    e.name, e.cat AS target,
    CASE WHEN contains(e.args, '"src_file"') OR contains(e.args, '"location"') THEN
      coalesce(json_extract_string(e.args, '$.src_file'), json_extract_string(e.args, '$.location.file_name')) END AS filename,
    CASE WHEN contains(e.args, '"src_line"') OR contains(e.args, '"location"') THEN
      TRY_CAST(coalesce(json_extract_string(e.args, '$.src_line'), json_extract_string(e.args, '$.location.line_number')) AS UINTEGER) END AS line,
    e.args AS properties, CASE WHEN e.ph = 'X' THEN e.thread_dur END AS thread_duration, e.ph AS phase,
    CASE o.anomaly WHEN ${A_UNCLOSED} THEN 'unclosed' WHEN ${A_OVERLAP} THEN 'overlap' END AS anomaly
  FROM ${OUT} o JOIN ${SRC} e ON e.bix = o.bix AND e.seq = o.seq::BIGINT, ${SRC_PROCESS} p
  ORDER BY e.stream_id, "begin", depth`;

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
    { name: "tid", type: "VARCHAR", description: "source thread id" },
    { name: "thread_name", type: "VARCHAR", description: "thread name (M thread_name)" },
    { name: "id", type: "BIGINT", description: "span id, unique in the process" },
    { name: "parent", type: "BIGINT", description: "id of the enclosing span; -1 at top level" },
    { name: "depth", type: "UINTEGER", description: "0 at top level" },
    { name: "begin", type: "TIMESTAMP_NS", description: "begin time (ns, the trace's clock)" },
    { name: "end", type: "TIMESTAMP_NS", description: "end time" },
    { name: "duration", type: "BIGINT", description: "end - begin, ns" },
    { name: "name", type: "VARCHAR", description: "event name" },
    { name: "target", type: "VARCHAR", description: "category (cat)" },
    { name: "filename", type: "VARCHAR", description: "args.src_file or args.location.file_name" },
    { name: "line", type: "UINTEGER", description: "args.src_line or args.location.line_number" },
    { name: "properties", type: "JSON", description: "args of the begin (B or X) event" },
    { name: "thread_duration", type: "BIGINT", description: "thread-clock duration (X tdur), ns" },
    { name: "phase", type: "VARCHAR", description: "source phase: X or B" },
    { name: "anomaly", type: "VARCHAR", description: "NULL, 'unclosed' (B without E) or 'overlap' (does not nest)" },
  ],
  async materialize(input: MaterializeInput): Promise<MaterializeResult> {
    const { engine } = input;
    await prepareSource(input);
    const b = await engine.rows<{ base: bigint | null }>(
      `SELECT epoch_ns(min(time)) AS base FROM ${SRC} WHERE ph IN ('B', 'E', 'X')`,
    );
    const base = b[0]?.base ?? null;
    if (base === null) return { numRows: 0, minEventTimeNs: null, maxEventTimeNs: null };
    try {
      await columnarPass(
        engine,
        "tl_spans_out",
        [
          ["bix", "INTEGER"],
          ["seq", "DOUBLE"],
          ["id", "DOUBLE"],
          ["parent", "DOUBLE"],
          ["depth", "INTEGER"],
          ["end_rel", "DOUBLE"],
          ["anomaly", "TINYINT"],
        ],
        SCAN.replaceAll("$base", `${base}`),
        buildSpans,
      );
      return await writePartitionFile(engine, SELECT.replaceAll("$base", `${base}`), input.outPath, "begin", "end");
    } finally {
      await engine.run(`DROP TABLE IF EXISTS ${OUT}`);
    }
  },
};

/** Counts of what the stack pass saw, for tests and diagnostics. */
export interface SpanStats {
  spans: number;
  unmatchedEnds: number;
  unclosed: number;
  overlaps: number;
}

const CHUNK = 2048;

/**
 * The stack pass. Reads events (bix INTEGER, seq DOUBLE (an index, below 2^53), sx INTEGER,
 * k TINYINT, t DOUBLE ns relative to the process's base time, d DOUBLE ns) in processing
 * order and emits one row per
 * span (bix, seq of its begin event, id, parent, depth, end relative ns, anomaly code) through
 * `emit`, in chunks of at most 2048 rows. See the file comment for the rules.
 */
export async function buildSpans(
  events: AsyncIterable<{ rowCount: number; columns: ColumnArray[] }>,
  emit: (columns: ColumnArray[], rowCount: number) => void,
): Promise<SpanStats> {
  const stats: SpanStats = { spans: 0, unmatchedEnds: 0, unclosed: 0, overlaps: 0 };
  // Output buffers.
  const oBix = new Int32Array(CHUNK);
  const oSeq = new Float64Array(CHUNK);
  const oId = new Float64Array(CHUNK);
  const oParent = new Float64Array(CHUNK);
  const oDepth = new Int32Array(CHUNK);
  const oEnd = new Float64Array(CHUNK);
  const oAnom = new Int8Array(CHUNK);
  let on = 0;
  const flush = (): void => {
    if (on > 0) emit([oBix, oSeq, oId, oParent, oDepth, oEnd, oAnom], on);
    on = 0;
  };
  const out = (bix: number, seq: number, id: number, parent: number, depth: number, end: number, anom: number) => {
    oBix[on] = bix;
    oSeq[on] = seq;
    oId[on] = id;
    oParent[on] = parent;
    oDepth[on] = depth;
    oEnd[on] = end;
    oAnom[on] = anom;
    stats.spans++;
    if (anom === A_UNCLOSED) stats.unclosed++;
    else if (anom === A_OVERLAP) stats.overlaps++;
    if (++on === CHUNK) flush();
  };

  // The open-span stack of the current thread (structure of arrays; end = Infinity for B).
  let cap = 256;
  let sBix = new Int32Array(cap);
  let sSeq = new Float64Array(cap);
  let sId = new Float64Array(cap);
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
    sBix = g(sBix, (n) => new Int32Array(n));
    sSeq = g(sSeq, (n) => new Float64Array(n));
    sId = g(sId, (n) => new Float64Array(n));
    sEnd = g(sEnd, (n) => new Float64Array(n));
    sIsB = g(sIsB, (n) => new Uint8Array(n));
    sAnom = g(sAnom, (n) => new Int8Array(n));
  };
  /** Emits and pops the top span, ending at `end`. */
  const closeTop = (end: number, anom: number): void => {
    top--;
    const parentId = top > 0 ? (sId[top - 1] as number) : -1;
    out(sBix[top] as number, sSeq[top] as number, sId[top] as number, parentId, top, end, anom);
  };

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
    const bixA = columns[0] as Int32Array;
    const seqA = columns[1] as Float64Array;
    const sxA = columns[2] as Int32Array;
    const kA = columns[3] as Int8Array;
    const tA = columns[4] as Float64Array;
    const dA = columns[5] as Float64Array;
    for (let i = 0; i < rowCount; i++) {
      const sx = sxA[i] as number;
      if (sx !== curSx) {
        finishThread();
        curSx = sx;
        threadMax = Number.NEGATIVE_INFINITY;
      }
      const k = kA[i] as number;
      const t = tA[i] as number;
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
        closeTop(t, anom);
        continue;
      }
      const id = nextId++;
      if (k === K_X && top > 0 && !sIsB[top - 1] && (sEnd[top - 1] as number) < end) {
        // Does not nest in the top span: hang it under the nearest enclosing one, on the side.
        let j = top - 2;
        while (j >= 0 && !sIsB[j] && (sEnd[j] as number) < end) j--;
        out(bixA[i] as number, seqA[i] as number, id, j >= 0 ? (sId[j] as number) : -1, j + 1, end, A_OVERLAP);
        continue;
      }
      if (top === cap) grow();
      sBix[top] = bixA[i] as number;
      sSeq[top] = seqA[i] as number;
      sId[top] = id;
      sEnd[top] = k === K_X ? end : Number.POSITIVE_INFINITY;
      sIsB[top] = k === K_B ? 1 : 0;
      sAnom[top] = 0;
      top++;
    }
  }
  finishThread();
  flush();
  return stats;
}
