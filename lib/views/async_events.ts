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
 * - `dur` (ns): on a begin and its end, the end's time minus the begin's; -1 on a begin never
 *   ended (trace_processor's dur for a slice that did not end); 0 on an instant; NULL on steps
 *   and unmatched ends.
 */
import { type ColumnArray, scanColumns } from "../duck/columnar.ts";
import { LookupFunctions } from "../duck/lookup_functions.ts";
import { fillTemplate } from "../duck/template.ts";
import { type BlockRows, blockRows, combineInputs, MAX_BLOCK_ROWS, processRows, STREAM_TID_SQL } from "./source.ts";
import { type Staged, stageUnits } from "./staged.ts";
import type { MaterializeInput, MaterializeResult, StagedWrite, ViewSet } from "./view_set.ts";
import { writeEach, writePartitionFile } from "./write.ts";

/**
 * THE rule for an async span's lake-wide id (async_spans.id and parent, slice.id of an async
 * slice): a 63-bit hash (DuckDB's `hash`, top bit dropped: never negative) of the process id
 * (VARCHAR) and the span's per-process span_id. Unique across the lake but for a hash collision
 * (about n²/2^64 for n spans). `process` and `spanId` are SQL expressions; returns a BIGINT expression.
 */
export function asyncSpanIdSql(process: string, spanId: string): string {
  return `(hash('async_span', (${process})::VARCHAR, (${spanId})::BIGINT) >> 1)::BIGINT`;
}

/** Event kinds of the scan. */
const K_BEGIN = 0;
const K_END = 1;
const K_INSTANT = 2;
const K_STEP = 3;
/** The pairing pass's dur for rows that have none (steps, unmatched ends): NULL in the view. */
const NO_DUR = -2;
/** Anomaly codes of the pairing pass (0: none). */
const A_UNCLOSED = 1;
const A_UNMATCHED = 2;

/** The async phases, in the order of their codes (`c`: 0 based) in SELECT. */
const PHASES = ["b", "S", "e", "F", "n", "T", "p"];
const PHASE_LIST = PHASES.map((p) => `'${p}'`).join(", ");

/** 53-bit hash of a SQL expression list, exact as a DOUBLE. */
const h53 = (cols: string) => `(hash(${cols}) >> 11)::DOUBLE`;

/**
 * The pairing pass's input, in processing order: time, then input order: seq (the event's
 * position in its source, unique within a process: all its streams come from one ingest), then
 * the block. Not the block first: with worker threads, events that follow each other in the
 * input may be in different blocks, in either order (tests/views/worker_order.test.ts).
 * `$src` is the blocks' relation (source.ts blockRows); `$px` the row's process's index among
 * the processes the pass pairs at once (0 for one; materializeMany), part of the key.
 */
const SCAN = `SELECT e.pos::INTEGER AS pos,
    (CASE WHEN e.ph IN ('b', 'S') THEN ${K_BEGIN} WHEN e.ph IN ('e', 'F') THEN ${K_END}
          WHEN e.ph = 'n' THEN ${K_INSTANT} ELSE ${K_STEP} END)::TINYINT AS k,
    ${h53("$px, e.cat, e.id, e.id_scope, e.scope")} AS key,
    CASE WHEN e.name IS NULL OR e.name = '' THEN -1 ELSE ${h53("e.name")} END AS name,
    epoch_ns(e.time) AS t, ($px)::INTEGER AS px
  FROM ($src) e
  WHERE e.ph IN (${PHASE_LIST})
  ORDER BY e.time, e.seq, e.bix`;

/**
 * The partition's rows: the async events of the blocks in the scan's order, each with what the
 * pairing pass computed for it, read through tl_async_event by the row's pos. Only the sort
 * keys and the event's own columns go through the sort; the thread's columns ($streams_*: SQL
 * lists indexed by sx; $process, the process id: source.ts blockRows's expressions, fields of a
 * variable set from its table, so no name is SQL text), the pass's results and what derives from them are computed after it. The
 * JSON paths are only evaluated where the args text names the key. process_id, event_type and
 * phase are ENUM values (the Parquet writer stores them as the same UTF-8 dictionary columns
 * without hashing each row's string), picked from a constant list by the phase's code c.
 */
const SELECT = `SELECT $process AS process_id, ($streams_id)[sx + 1] AS stream_id,
    ${STREAM_TID_SQL} AS tid, ($streams_tid)[sx + 1] AS tid_text, ($streams_name)[sx + 1] AS thread_name, time,
    (['begin', 'end', 'instant', 'step']::ENUM('begin', 'end', 'instant', 'step')[])[[1, 1, 2, 2, 3, 4, 4][c + 1]] AS event_type,
    a.span_id::BIGINT AS span_id, a.parent::BIGINT AS parent_span_id, a.depth::UINTEGER AS depth,
    CASE WHEN a.dur <> ${NO_DUR} THEN a.dur END AS dur,
    name, target,
    CASE WHEN loc THEN
      coalesce(json_extract_string(properties, '$.src_file'), json_extract_string(properties, '$.location.file_name')) END AS filename,
    CASE WHEN loc THEN
      TRY_CAST(coalesce(json_extract_string(properties, '$.src_line'), json_extract_string(properties, '$.location.line_number')) AS UINTEGER) END AS line,
    async_id, id_scope, scope, properties, ([${PHASE_LIST}]::ENUM(${PHASE_LIST})[])[c + 1] AS phase,
    CASE a.anomaly WHEN ${A_UNCLOSED} THEN 'unclosed' WHEN ${A_UNMATCHED} THEN 'unmatched' END AS anomaly
  FROM (
    SELECT *, contains(properties, '"src_') OR contains(properties, '"location"') AS loc, tl_async_event(pos) AS a
    FROM (
      SELECT e.sx, e.pos::INTEGER AS pos, e.time, e.name, e.cat AS target, e.id AS async_id, e.id_scope, e.scope,
        e.args AS properties, (list_position([${PHASE_LIST}], e.ph) - 1)::TINYINT AS c
      FROM ($src) e
      WHERE e.ph IN (${PHASE_LIST})
      ORDER BY e.time, e.seq, e.bix))`;

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
    { name: "tid", type: "BIGINT", description: "source thread id, when it is an integer (README: tid and tid_text)" },
    { name: "tid_text", type: "VARCHAR", description: "source thread id as the source wrote it" },
    { name: "thread_name", type: "VARCHAR", description: "thread name" },
    { name: "time", type: "TIMESTAMP_NS", description: "event time (ns, the trace's clock)" },
    { name: "event_type", type: "VARCHAR", description: "begin, end, instant or step" },
    { name: "span_id", type: "BIGINT", description: "the span; a begin and its end share it" },
    { name: "parent_span_id", type: "BIGINT", description: "enclosing open span of the same key; -1 at top" },
    { name: "depth", type: "UINTEGER", description: "open spans of the same key around it" },
    {
      name: "dur",
      type: "BIGINT",
      description:
        "begin and end rows: the span's end - begin, ns (-1: never ended); instant 0; step and unmatched NULL",
    },
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
  materialize: materializeOne,
  materializeMany,
  manyMaxEvents: 50_000,
  stage: stageInputs,
};

/** A partition with no rows (no file). */
const EMPTY: MaterializeResult = { numRows: 0, minEventTimeNs: null, maxEventTimeNs: null };

/** The SELECT of a partition's rows (see SELECT) over the blocks' relation `src`. */
function eventRows(src: BlockRows): string {
  return fillTemplate(SELECT, {
    src: src.sql,
    process: src.processId,
    streams_id: src.streamIds,
    streams_tid: src.streamTids,
    streams_name: src.threadNames,
  });
}

/** @throws Error when the blocks hold more rows than a partition can number. */
function checkSize(src: BlockRows, processes: string): void {
  if (src.rowCount > MAX_BLOCK_ROWS) {
    throw new Error(
      `async_events: ${processes} have ${src.rowCount} events in their cpu streams, more than the ${MAX_BLOCK_ROWS} one partition can hold`,
    );
  }
}

/** @throws Error when a partition's row count is not the pass's (a bug). */
function checkRows(rows: number, events: number, processId: string): void {
  if (rows !== events) {
    throw new Error(
      `async_events: wrote ${rows} rows for the ${events} events of the pairing pass (process ${processId}); this is a bug`,
    );
  }
}

/** async_events' materialize: one process's partition. */
async function materializeOne(input: MaterializeInput): Promise<MaterializeResult> {
  return (await stageOne(input)).write();
}

/** Nothing to write: an empty partition. */
const STAGED_EMPTY: Staged<MaterializeResult> = { write: async () => EMPTY, discard: async () => {} };

/**
 * The first step of materializeOne (ViewSet.stage): the names' variable (blockRows, on the
 * input's engine) and the pairing pass; the staged write runs the partition's COPY (on the same
 * engine, with the pass's lookup functions).
 * @throws Error from DuckDB, or when the blocks hold more rows than one partition can.
 */
async function stageOne(input: MaterializeInput): Promise<Staged<MaterializeResult>> {
  const { engine } = input;
  if (input.blocks.length === 0) return STAGED_EMPTY;
  const src = await blockRows(input);
  checkSize(src, `process ${input.process.processId}`);
  const events = new AsyncArrays(src.rowCount);
  const stats = await pairAsync(scanColumns(engine, fillTemplate(SCAN, { src: src.sql, px: "0" })), events, 1);
  if (stats.rows === 0) return STAGED_EMPTY;
  const select = eventRows(src);
  return {
    write: async () => {
      const result = await EVENT_FUNCTIONS.run(engine, events, () =>
        writePartitionFile(engine, select, input.outPath, "time", "time"),
      );
      checkRows(result.numRows, stats.rows, input.process.processId);
      return result;
    },
    discard: async () => {},
  };
}

/** The most events (catalog nb_objects) one materializeMany batch reads: bounds its table. */
const BATCH_EVENTS = 250_000;

/**
 * async_events' materializeMany: processes in batches of at most BATCH_EVENTS events, each with
 * one pairing pass, one SELECT into a table and one COPY per process from it
 * (stageBatch).
 */
async function materializeMany(inputs: MaterializeInput[]): Promise<MaterializeResult[]> {
  return (await stageInputs(inputs)).write();
}

/**
 * async_events' ViewSet.stage: one input as materializeOne (stageOne), several as materializeMany
 * (staged.ts stageUnits over manyUnits: the first unit, a batch or a process alone, staged now,
 * the others built in the write, one after another).
 * @throws Error as materialize.
 */
function stageInputs(inputs: MaterializeInput[]): Promise<StagedWrite> {
  return stageUnits(inputs, manyUnits(inputs), {
    one: stageOne,
    batch: (members) => stageBatch(members),
  });
}

/**
 * How materializeMany builds `inputs`: runs of consecutive input indexes, in input order, each
 * a process alone or a batch for stageBatch (at most BATCH_EVENTS events; a process without
 * blocks or streams alone: nothing to pair with others, no rows to tell apart).
 */
function manyUnits(inputs: MaterializeInput[]): number[][] {
  const units: number[][] = [];
  let batch: number[] = [];
  let events = 0;
  const flush = (): void => {
    if (batch.length > 0) units.push(batch);
    batch = [];
    events = 0;
  };
  inputs.forEach((input, i) => {
    const n = input.blocks.reduce((k, b) => k + b.nbObjects, 0);
    if (input.blocks.length === 0 || input.streams.length === 0) {
      flush();
      units.push([i]);
      return;
    }
    if (batch.length > 0 && events + n > BATCH_EVENTS) flush();
    batch.push(i);
    events += n;
  });
  flush();
  return units;
}

/** The table a batch's rows go through. */
const BATCH_TABLE = "memory.main.tl_async_batch";

/**
 * Several processes' partitions from one read of their blocks: their streams, process after
 * process, make one relation; the pairing pass keys each event by its process too and numbers
 * each process's spans from 0, so every process gets the rows its own pass gives; the rows of
 * all go to BATCH_TABLE in time order, and each process's file is copied from it (a filtered
 * scan of a table keeps the table's order). Staged: the names' variable and the pairing pass
 * now, the table and the files in the write.
 * @throws Error from DuckDB, or when the blocks hold more rows than one partition can.
 */
async function stageBatch(inputs: MaterializeInput[]): Promise<Staged<MaterializeResult[]>> {
  const engine = (inputs[0] as MaterializeInput).engine;
  const { input: all, streamProcessIds, streamPx } = combineInputs(inputs, (i) => i.streams);
  const src = await blockRows(all, streamProcessIds);
  checkSize(src, `processes ${inputs.map((i) => i.process.processId).join(", ")}`);
  const events = new AsyncArrays(src.rowCount);
  const px = `([${streamPx.join(", ")}]::INTEGER[])[sx + 1]`;
  const stats = await pairAsync(scanColumns(engine, fillTemplate(SCAN, { src: src.sql, px })), events, inputs.length);
  const select = eventRows(src);
  const write = async (): Promise<MaterializeResult[]> => {
    await EVENT_FUNCTIONS.run(engine, events, () => engine.run(`CREATE OR REPLACE TABLE ${BATCH_TABLE} AS ${select}`));
    try {
      return await writeEach(inputs, async (input, p) => {
        const n = stats.rowsByProcess[p] ?? 0;
        if (n === 0) return EMPTY;
        const result = await writePartitionFile(
          engine,
          processRows(BATCH_TABLE),
          input.outPath,
          "time",
          "time",
          undefined,
          {
            params: { process_id: input.process.processId },
            apart: true,
          },
        );
        checkRows(result.numRows, n, input.process.processId);
        return result;
      });
    } finally {
      await engine.run(`DROP TABLE IF EXISTS ${BATCH_TABLE}`);
    }
  };
  return { write, discard: async () => {} };
}

/**
 * What the pairing pass computed: each async event's index in processing order (its rank) by
 * its `pos` (source.ts blockRows; other rows' entries mean nothing), and by rank its span id,
 * parent span id (-1 at top), depth, anomaly code, time and dur. Memory: 4 bytes per source row (allocated
 * at the first async event) and 29 per async event.
 */
export class AsyncArrays {
  rankOf: Int32Array = new Int32Array(0);
  spanId = new Int32Array(1024);
  parent = new Int32Array(1024);
  depth = new Int32Array(1024);
  anomaly = new Int8Array(1024);
  /** The event's time (epoch ns). */
  time = new BigInt64Array(1024);
  /** The span's duration on its begin and end rows (ns; -1 unclosed), 0 for an instant, NO_DUR otherwise. */
  dur = new BigInt64Array(1024);

  /** @param rows source rows (the largest pos + 1). */
  constructor(readonly rows: number) {}

  /** Makes room for rank `i` (ranks come in order). */
  reserve(i: number): void {
    if (i < this.spanId.length) return;
    const n = Math.max(i + 1, this.spanId.length * 2);
    const g = <T extends Int32Array | Int8Array | BigInt64Array>(a: T, b: T): T => {
      (b as unknown as { set(x: T): void }).set(a);
      return b;
    };
    this.spanId = g(this.spanId, new Int32Array(n));
    this.parent = g(this.parent, new Int32Array(n));
    this.depth = g(this.depth, new Int32Array(n));
    this.anomaly = g(this.anomaly, new Int8Array(n));
    this.time = g(this.time, new BigInt64Array(n));
    this.dur = g(this.dur, new BigInt64Array(n));
  }
}

/**
 * The scalar function `tl_async_event(pos)` (STRUCT(span_id INTEGER, parent INTEGER, depth
 * INTEGER, anomaly TINYINT, dur BIGINT)) reading the pairing pass's AsyncArrays during a materialization
 * (lib/duck/lookup_functions.ts; it fails anywhere else).
 */
const EVENT_FUNCTIONS = new LookupFunctions<AsyncArrays>("async_events", [
  {
    name: "tl_async_event",
    returns: [
      ["span_id", "INTEGER"],
      ["parent", "INTEGER"],
      ["depth", "INTEGER"],
      ["anomaly", "TINYINT"],
      ["dur", "BIGINT"],
    ],
    fill: (events, pos, n, out) => {
      const spanId = out[0] as Int32Array;
      const parent = out[1] as Int32Array;
      const depth = out[2] as Int32Array;
      const anomaly = out[3] as Int8Array;
      const dur = out[4] as BigInt64Array;
      const { rankOf, spanId: sSpan, parent: sParent, depth: sDepth, anomaly: sAnomaly, dur: sDur } = events;
      for (let i = 0; i < n; i++) {
        const r = rankOf[pos[i] as number] as number;
        spanId[i] = sSpan[r] as number;
        parent[i] = sParent[r] as number;
        depth[i] = sDepth[r] as number;
        anomaly[i] = sAnomaly[r] as number;
        dur[i] = sDur[r] as bigint;
      }
    },
  },
]);

/** Counts of what the pairing pass saw. */
export interface AsyncStats {
  /** Async events read (one output row each). */
  rows: number;
  /** Of `rows`, by process index (px). */
  rowsByProcess: number[];
  /** Begins never ended. */
  unclosed: number;
  /** Ends and steps that matched no open span. */
  unmatched: number;
}

/** An open span: its begin event's rank and its name's hash. */
interface OpenSpan {
  rank: number;
  name: number;
}

/**
 * The pairing pass. Reads events (pos INTEGER, k TINYINT kind, key DOUBLE, name DOUBLE (-1 = no
 * name), t BIGINT epoch ns, px INTEGER the process's index) in processing order and writes each event's results into `events` at its rank (its
 * index in the input): span id, parent, depth and anomaly code; a begin is 'unclosed' until its
 * end comes. See the file comment for the rules. Span ids are numbered from 0 in each process.
 * @param processes how many processes the events come from (px in [0, processes)).
 */
export async function pairAsync(
  input: AsyncIterable<{ rowCount: number; columns: ColumnArray[] }>,
  events: AsyncArrays,
  processes: number,
): Promise<AsyncStats> {
  const stats: AsyncStats = { rows: 0, rowsByProcess: new Array<number>(processes).fill(0), unclosed: 0, unmatched: 0 };
  let rank = 0;
  let t = 0n;
  const out = (span: number, parent: number, depth: number, anom: number, dur = BigInt(NO_DUR)): void => {
    events.reserve(rank);
    events.time[rank] = t;
    events.dur[rank] = dur;
    events.spanId[rank] = span;
    events.parent[rank] = parent;
    events.depth[rank] = depth;
    events.anomaly[rank] = anom;
    if (anom === A_UNMATCHED) stats.unmatched++;
    rank++;
  };
  const stacks = new Map<number, OpenSpan[]>();
  /** The next span id of each process. */
  const nextIds = new Int32Array(processes);
  let px = 0;
  const nextId = (): number => {
    const id = nextIds[px] as number;
    nextIds[px] = id + 1;
    return id;
  };
  /** Index of the topmost open span named `name` (any when name = -1), or -1. */
  const find = (stack: OpenSpan[], name: number): number => {
    for (let j = stack.length - 1; j >= 0; j--) if (name === -1 || (stack[j] as OpenSpan).name === name) return j;
    return -1;
  };
  for await (const { rowCount, columns } of input) {
    if (events.rankOf.length === 0) events.rankOf = new Int32Array(events.rows);
    const rankOf = events.rankOf;
    const posA = columns[0] as Int32Array;
    const kA = columns[1] as Int8Array;
    const keyA = columns[2] as Float64Array;
    const nameA = columns[3] as Float64Array;
    const tA = columns[4] as BigInt64Array;
    const pxA = columns[5] as Int32Array;
    for (let i = 0; i < rowCount; i++) {
      t = tA[i] as bigint;
      px = pxA[i] as number;
      stats.rowsByProcess[px] = (stats.rowsByProcess[px] as number) + 1;
      const k = kA[i] as number;
      const key = keyA[i] as number;
      const name = nameA[i] as number;
      rankOf[posA[i] as number] = rank;
      let stack = stacks.get(key);
      if (!stack) {
        stack = [];
        stacks.set(key, stack);
      }
      const top = stack.length > 0 ? (stack[stack.length - 1] as OpenSpan) : null;
      const topId = top ? (events.spanId[top.rank] as number) : -1;
      if (k === K_BEGIN) {
        stack.push({ rank, name });
        out(nextId(), topId, stack.length - 1, A_UNCLOSED, -1n);
      } else if (k === K_END) {
        const j = find(stack, name);
        if (j < 0) {
          out(nextId(), topId, stack.length, A_UNMATCHED);
          continue;
        }
        const b = (stack[j] as OpenSpan).rank;
        stack.splice(j, 1);
        events.anomaly[b] = 0;
        const d = t - (events.time[b] as bigint);
        events.dur[b] = d;
        out(events.spanId[b] as number, events.parent[b] as number, events.depth[b] as number, 0, d);
      } else if (k === K_INSTANT) {
        out(nextId(), topId, stack.length, 0, 0n);
      } else {
        const j = find(stack, name);
        if (j < 0) out(nextId(), topId, stack.length, A_UNMATCHED);
        else {
          const b = (stack[j] as OpenSpan).rank;
          out(events.spanId[b] as number, events.parent[b] as number, events.depth[b] as number, 0);
        }
      }
    }
  }
  for (const stack of stacks.values()) stats.unclosed += stack.length;
  stats.rows = rank;
  return stats;
}
