/**
 * `async_events`: the async spans of a process, one row per begin, end, instant or step event,
 * from its `cpu` streams. Columns follow micromegas's async_events (time, event_type, span_id,
 * parent_span_id, depth, name, target, filename, line; reference/micromegas.md §2) plus the
 * thread, the Chrome id and args, and how the event was paired.
 *
 * Pairing (README "async_events"): events are taken by time (then input order). Chrome's key of
 * an async span is (category, id or id2.local/id2.global, id scope, `scope` field) within the
 * process (reference/perfetto.md §5: stack key = hash(cat, id); id2.local is process-scoped).
 * - `b` (nestable begin) and legacy `S` open a span on the key's stack: a new span_id, the
 *   stack's top as parent (-1 when empty), depth = open spans on the key.
 * - `e` and legacy `F` close the topmost open span of the key with the same name (or the top
 *   one when the end has no name). An end that matches nothing is kept as an `end` row with its
 *   own span_id, marked `anomaly = 'unmatched'`.
 * - `n` is an `instant` row, child of the key's top span. Legacy `T`/`p` are `step` rows of the
 *   top span with the same name (its span_id), or 'unmatched'.
 * - A span never closed keeps its `begin` row, marked `'unclosed'` (Node's traces end with
 *   async resources open).
 */
import { type ColumnArray, columnarPass } from "../sql/columnar.ts";
import { prepareSource, SRC, SRC_PROCESS } from "./source.ts";
import type { MaterializeInput, MaterializeResult, ViewSet } from "./view_set.ts";
import { writePartitionFile } from "./write.ts";

const OUT = "memory.main.tl_async_out";

const K_BEGIN = 0;
const K_END = 1;
const K_INSTANT = 2;
const K_STEP = 3;
const A_UNCLOSED = 1;
const A_UNMATCHED = 2;

/** 53-bit hash of a SQL expression list, exact as a DOUBLE. */
const h53 = (cols: string) => `(hash(${cols}) >> 11)::DOUBLE`;

const SCAN = `SELECT e.bix::INTEGER AS bix, e.seq::BIGINT AS seq,
    (CASE WHEN e.ph IN ('b', 'S') THEN ${K_BEGIN} WHEN e.ph IN ('e', 'F') THEN ${K_END}
          WHEN e.ph = 'n' THEN ${K_INSTANT} ELSE ${K_STEP} END)::TINYINT AS k,
    ${h53("e.cat, e.id, e.id_scope, e.scope")} AS key,
    CASE WHEN e.name IS NULL OR e.name = '' THEN -1 ELSE ${h53("e.name")} END AS name
  FROM ${SRC} e
  WHERE e.ph IN ('b', 'e', 'n', 'S', 'T', 'p', 'F')
  ORDER BY e.time, e.bix, e.seq`;

const SELECT = `SELECT p.process_id, e.stream_id, e.stream_tid AS tid, e.thread_name, e.time,
    CASE o.k WHEN ${K_BEGIN} THEN 'begin' WHEN ${K_END} THEN 'end' WHEN ${K_INSTANT} THEN 'instant' ELSE 'step' END AS event_type,
    o.span_id::BIGINT AS span_id, o.parent::BIGINT AS parent_span_id, o.depth::UINTEGER AS depth,
    e.name, e.cat AS target,
    coalesce(json_extract_string(e.args, '$.src_file'), json_extract_string(e.args, '$.location.file_name')) AS filename,
    TRY_CAST(coalesce(json_extract_string(e.args, '$.src_line'), json_extract_string(e.args, '$.location.line_number')) AS UINTEGER) AS line,
    e.id AS async_id, e.id_scope, e.scope, e.args AS properties, e.ph AS phase,
    CASE o.anomaly WHEN ${A_UNCLOSED} THEN 'unclosed' WHEN ${A_UNMATCHED} THEN 'unmatched' END AS anomaly
  FROM ${OUT} o JOIN ${SRC} e ON e.bix = o.bix AND e.seq = o.seq, ${SRC_PROCESS} p
  ORDER BY e.time, e.bix, e.seq`;

/** The async_events view set. */
export const asyncEvents: ViewSet = {
  name: "async_events",
  description: "async events: begin/end/instant/step rows of async spans (b/e/n, legacy S/T/p/F)",
  streamTag: "cpu",
  version: 1,
  sliceMicros: null,
  transformText: `${SCAN}\n${SELECT}`,
  columns: [
    { name: "process_id", type: "VARCHAR", description: "process (view_instance_id)" },
    { name: "stream_id", type: "VARCHAR", description: "cpu stream of the thread that emitted the event" },
    { name: "tid", type: "VARCHAR", description: "source thread id" },
    { name: "thread_name", type: "VARCHAR", description: "thread name" },
    { name: "time", type: "TIMESTAMP_NS", description: "event time (ns, the trace's clock)" },
    { name: "event_type", type: "VARCHAR", description: "begin, end, instant or step" },
    { name: "span_id", type: "BIGINT", description: "the span; a begin and its end share it" },
    { name: "parent_span_id", type: "BIGINT", description: "enclosing open span of the same key; -1 at top" },
    { name: "depth", type: "UINTEGER", description: "open spans of the same key around it" },
    { name: "name", type: "VARCHAR", description: "event name" },
    { name: "target", type: "VARCHAR", description: "category (cat)" },
    { name: "filename", type: "VARCHAR", description: "args.src_file or args.location.file_name" },
    { name: "line", type: "UINTEGER", description: "args.src_line or args.location.line_number" },
    { name: "async_id", type: "VARCHAR", description: "Chrome id (id, id2.local or id2.global)" },
    { name: "id_scope", type: "VARCHAR", description: "global or local (id2.local)" },
    { name: "scope", type: "VARCHAR", description: "Chrome scope field" },
    { name: "properties", type: "JSON", description: "event args" },
    { name: "phase", type: "VARCHAR", description: "source phase: b, e, n, S, T, p or F" },
    { name: "anomaly", type: "VARCHAR", description: "NULL, 'unclosed' (begin never ended) or 'unmatched'" },
  ],
  async materialize(input: MaterializeInput): Promise<MaterializeResult> {
    const { engine } = input;
    await prepareSource(input);
    try {
      await columnarPass(
        engine,
        "tl_async_out",
        [
          ["bix", "INTEGER"],
          ["seq", "BIGINT"],
          ["k", "TINYINT"],
          ["span_id", "DOUBLE"],
          ["parent", "DOUBLE"],
          ["depth", "INTEGER"],
          ["anomaly", "TINYINT"],
        ],
        SCAN,
        pairAsync,
      );
      return await writePartitionFile(engine, SELECT, input.outPath, "time", "time");
    } finally {
      await engine.run(`DROP TABLE IF EXISTS ${OUT}`);
    }
  },
};

/** Counts of what the pairing pass saw. */
export interface AsyncStats {
  rows: number;
  unclosed: number;
  unmatched: number;
}

interface OpenSpan {
  bix: number;
  seq: bigint;
  spanId: number;
  parent: number;
  depth: number;
  name: number;
}

const CHUNK = 2048;

/**
 * The pairing pass. Reads events (bix INTEGER, seq BIGINT, k TINYINT kind, key DOUBLE, name
 * DOUBLE; -1 = no name) in time order and emits rows (bix, seq, kind, span_id, parent, depth,
 * anomaly code) through `emit` in chunks of at most 2048. Begin rows are emitted when their
 * span closes or at the end. See the file comment for the rules.
 */
export async function pairAsync(
  events: AsyncIterable<{ rowCount: number; columns: ColumnArray[] }>,
  emit: (columns: ColumnArray[], rowCount: number) => void,
): Promise<AsyncStats> {
  const stats: AsyncStats = { rows: 0, unclosed: 0, unmatched: 0 };
  const oBix = new Int32Array(CHUNK);
  const oSeq = new BigInt64Array(CHUNK);
  const oK = new Int8Array(CHUNK);
  const oSpan = new Float64Array(CHUNK);
  const oParent = new Float64Array(CHUNK);
  const oDepth = new Int32Array(CHUNK);
  const oAnom = new Int8Array(CHUNK);
  let on = 0;
  const out = (bix: number, seq: bigint, k: number, span: number, parent: number, depth: number, anom: number) => {
    oBix[on] = bix;
    oSeq[on] = seq;
    oK[on] = k;
    oSpan[on] = span;
    oParent[on] = parent;
    oDepth[on] = depth;
    oAnom[on] = anom;
    stats.rows++;
    if (anom === A_UNCLOSED) stats.unclosed++;
    else if (anom === A_UNMATCHED) stats.unmatched++;
    if (++on === CHUNK) {
      emit([oBix, oSeq, oK, oSpan, oParent, oDepth, oAnom], on);
      on = 0;
    }
  };
  const stacks = new Map<number, OpenSpan[]>();
  let nextId = 0;
  /** Index of the topmost open span named `name` (any when name = -1), or -1. */
  const find = (stack: OpenSpan[], name: number): number => {
    for (let j = stack.length - 1; j >= 0; j--) if (name === -1 || (stack[j] as OpenSpan).name === name) return j;
    return -1;
  };
  for await (const { rowCount, columns } of events) {
    const bixA = columns[0] as Int32Array;
    const seqA = columns[1] as BigInt64Array;
    const kA = columns[2] as Int8Array;
    const keyA = columns[3] as Float64Array;
    const nameA = columns[4] as Float64Array;
    for (let i = 0; i < rowCount; i++) {
      const k = kA[i] as number;
      const key = keyA[i] as number;
      const name = nameA[i] as number;
      const bix = bixA[i] as number;
      const seq = seqA[i] as bigint;
      let stack = stacks.get(key);
      if (!stack) {
        stack = [];
        stacks.set(key, stack);
      }
      const topSpan = stack.length > 0 ? (stack[stack.length - 1] as OpenSpan) : null;
      if (k === K_BEGIN) {
        stack.push({ bix, seq, spanId: nextId++, parent: topSpan ? topSpan.spanId : -1, depth: stack.length, name });
      } else if (k === K_END) {
        const j = find(stack, name);
        if (j < 0) {
          out(bix, seq, K_END, nextId++, topSpan ? topSpan.spanId : -1, stack.length, A_UNMATCHED);
          continue;
        }
        const s = stack[j] as OpenSpan;
        stack.splice(j, 1);
        out(s.bix, s.seq, K_BEGIN, s.spanId, s.parent, s.depth, 0);
        out(bix, seq, K_END, s.spanId, s.parent, s.depth, 0);
      } else if (k === K_INSTANT) {
        out(bix, seq, K_INSTANT, nextId++, topSpan ? topSpan.spanId : -1, stack.length, 0);
      } else {
        const j = find(stack, name);
        if (j < 0) out(bix, seq, K_STEP, nextId++, topSpan ? topSpan.spanId : -1, stack.length, A_UNMATCHED);
        else {
          const s = stack[j] as OpenSpan;
          out(bix, seq, K_STEP, s.spanId, s.parent, s.depth, 0);
        }
      }
    }
  }
  for (const stack of stacks.values()) {
    for (const s of stack) out(s.bix, s.seq, K_BEGIN, s.spanId, s.parent, s.depth, A_UNCLOSED);
  }
  if (on > 0) emit([oBix, oSeq, oK, oSpan, oParent, oDepth, oAnom], on);
  return stats;
}
