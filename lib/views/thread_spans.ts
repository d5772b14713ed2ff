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
import type { Engine } from "../duck/engine.ts";
import { LookupFunctions } from "../duck/lookup_functions.ts";
import { fillTemplate } from "../duck/template.ts";
import {
  type BlockRelation,
  type BlockRows,
  blockNames,
  blockRelation,
  blockRows,
  combineInputs,
  MAX_BLOCK_ROWS,
  processRows,
  STREAM_TID_SQL,
  type ThreadPart,
  threadParts,
} from "./source.ts";
import {
  A_OVERLAP,
  A_UNCLOSED,
  buildSpans,
  K_B,
  K_E,
  K_X,
  SpanArrays,
  type SpanStats,
  spanRanks,
} from "./span_stack.ts";
import { type Staged, stageUnits } from "./staged.ts";
import type { MaterializeInput, MaterializeResult, SourceBlock, StagedWrite, StreamMeta, ViewSet } from "./view_set.ts";
import { writeEach, writePartitionFile } from "./write.ts";

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
 * without sorting it. The order is the pass's (spanRanks: `tl_span_rank(pos)`, one INTEGER
 * key; sorting by the five keys took 124 MB of DuckDB's sort for the 547K spans of the 224 MB
 * real Chromium JSON trace's largest process). Only the key and the event's own columns go
 * through the sort, the name and category as ENUM values where textTypes made their types
 * (`$name_type`, `$target_type`; else VARCHAR), and written as such where small (`$name_out`,
 * `$target_out`); the thread's columns ($streams_*: SQL lists indexed by sx; $process, the process id:
 * source.ts blockRows's expressions, fields of a variable set from its table, so no name is SQL text), the pass's other results
 * and what derives from them are computed after it. The JSON paths are only evaluated where the
 * args text names the key (a substring test is a fraction of a JSON parse per row).
 * `$first` is the pass's first span id of the row's process (0 but for materializeMany's
 * batches), so that `s.id - $first` is the span's number in its process.
 * process_id and phase are ENUM values, which the Parquet writer stores as the same UTF-8
 * dictionary columns without hashing each row's string (their statistics then span the enum's
 * values: one process id; 'B' to 'X').
 */
const SELECT = `SELECT $process AS process_id, ($streams_id)[sx + 1] AS stream_id,
    ${STREAM_TID_SQL} AS tid, ($streams_tid)[sx + 1] AS tid_text, ($streams_name)[sx + 1] AS thread_name,
    ${spanIdSql("$process", "s.id - $first")} AS id,
    CASE WHEN s.parent >= 0 THEN ${spanIdSql("$process", "s.parent - $first")} ELSE -1 END AS parent,
    s.depth::UINTEGER AS depth, "begin",
    make_timestamp_ns($base + end_rel) AS "end", end_rel - (epoch_ns("begin") - $base) AS duration,
    CASE WHEN s.anomaly = ${A_UNCLOSED} THEN -1 ELSE s.self::BIGINT END AS self_dur,
    name::$name_out AS name, target::$target_out AS target,
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
        SELECT e.sx, e.pos::INTEGER AS pos, e.time AS "begin",
          e.name::$name_type AS name, e.cat::$target_type AS target, e.args AS properties, e.thread_time, e.thread_dur, e.ph = 'X' AS is_x
        FROM ($src) e
        WHERE e.ph IN ('B', 'X') AND e.sx IS NOT NULL
        ORDER BY tl_span_rank(e.pos::INTEGER))))`;

/**
 * The distinct names and categories of a partition's begin events, into a variable that
 * textTypes reads: one scan of the blocks (`$src`). No name is SQL text.
 */
const TEXTS = `SET VARIABLE tl_span_texts = (
  SELECT {'name': list(DISTINCT name) FILTER (WHERE name IS NOT NULL), 'target': list(DISTINCT cat) FILTER (WHERE cat IS NOT NULL)}
  FROM ($src) WHERE ph IN ('B', 'X') AND sx IS NOT NULL)`;

/** The thread_spans view set. */
export const threadSpans: ViewSet = {
  name: "thread_spans",
  description: "thread spans: the call tree of each thread (B/E and X events), one row per span",
  streamTag: "cpu",
  version: 1,
  sliceMicros: null,
  transformText: `${SCAN}\n${SELECT}\n${TEXTS}`,
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
  materialize: materializeOne,
  materializeMany,
  manyMaxEvents: 50_000,
  stage: stageInputs,
};

/** A partition with no rows (no file). */
const EMPTY: MaterializeResult = { numRows: 0, minEventTimeNs: null, maxEventTimeNs: null };

/** thread_spans' materialize: one process's partition. */
async function materializeOne(input: MaterializeInput): Promise<MaterializeResult> {
  return (await stageOne(input)).write();
}

/**
 * The first step of materializeOne (ViewSet.stage): the stack pass, the names' variable
 * (blockNames, on the input's engine) and types; the staged write runs the partition's COPY
 * (on the same engine, with the pass's lookup functions).
 * @throws Error from DuckDB, or when the blocks hold more rows than one partition can.
 */
async function stageOne(input: MaterializeInput): Promise<Staged<MaterializeResult>> {
  const { engine } = input;
  // The ENUM types of the names and categories are made on a connection of their own while
  // the stack pass runs (textTypes).
  const rows = input.blocks.reduce((n, b) => n + b.nbObjects, 0);
  const typing =
    rows >= textTypesAt.minRows
      ? textTypes(engine, blockRelation({ ...input, streams: passStreams(input) }).sql, rows)
      : Promise.resolve(VARCHAR_TEXTS);
  const drop = async (): Promise<void> => dropTextTypes(engine, await typing.catch(() => VARCHAR_TEXTS));
  let staged: Staged<MaterializeResult> | null = null;
  try {
    const pass = await spanPass(input);
    if (pass === null || pass.stats.spans === 0) {
      staged = { write: async () => EMPTY, discard: async () => {} };
      return staged;
    }
    const { base, spans, stats } = pass;
    const src = { ...pass.src, ...(await blockNames({ ...input, streams: passStreams(input) })) };
    // The event-time range from the pass (min begin, max end), not from a read of the file.
    const range = { min: base + BigInt(stats.minBegin), max: base + BigInt(stats.maxEnd) };
    const types = await typing;
    const select = spanRows(src, base, "0", types);
    staged = {
      write: async () => {
        try {
          const result = await SPAN_FUNCTIONS.run(engine, spanWrite(spans, stats.spans), () =>
            writePartitionFile(engine, select, input.outPath, "begin", "end", range),
          );
          checkRows(result.numRows, stats.spans, input.process.processId);
          return result;
        } finally {
          // The types go once the write has ended.
          await drop();
        }
      },
      discard: drop,
    };
    return staged;
  } finally {
    // Nothing to write (or a failure): the types go now (textTypes drops its own when it fails).
    if (staged === null || staged.discard !== drop) await drop();
  }
}

/**
 * The SELECT of a partition's rows (see SELECT) over `src`; `first`: SQL of `$first`; `types`:
 * the name and category columns' types in the sort (textTypes), VARCHAR by default.
 */
function spanRows(src: BlockRows, base: bigint, first: string, types: TextTypes = VARCHAR_TEXTS): string {
  return fillTemplate(SELECT, {
    name_type: types.name,
    target_type: types.target,
    name_out: types.nameOut,
    target_out: types.targetOut,
    src: src.sql,
    base: `${base}`,
    process: src.processId,
    streams_id: src.streamIds,
    streams_tid: src.streamTids,
    streams_name: src.threadNames,
    first,
  });
}

/**
 * SQL types of the name and category columns in the partition's sort (`name`, `target`) and as
 * the SELECT writes them to the file (`nameOut`, `targetOut`: the ENUM, or VARCHAR).
 */
export interface TextTypes {
  name: string;
  target: string;
  nameOut: string;
  targetOut: string;
}

/** Both texts through the sort and to the file as they are. */
const VARCHAR_TEXTS: TextTypes = { name: "VARCHAR", target: "VARCHAR", nameOut: "VARCHAR", targetOut: "VARCHAR" };

/**
 * The most values of an ENUM type of textTypes that the file's column is written from as it is:
 * DuckDB's Parquet writer stores an ENUM column as the same UTF-8 dictionary column as a
 * VARCHAR one without hashing each row's string (as process_id and phase), which took the
 * largest partition of the 224 MB real Chromium JSON trace 60 ms less to write (0.4 CPU-s less,
 * name and category); but each row group's dictionary page holds all of the type's values (a
 * 100K-value type used for 10: 3.4 MB against 7 KB) and the column's statistics span them. A
 * larger type is cast back to VARCHAR after the sort.
 */
const ENUM_WRITE_MAX = 1024;

/**
 * When a process's partition takes its names and categories through the sort as ENUM values
 * (textTypes): `minRows`, the fewest events (catalog nb_objects of its cpu blocks; below, the
 * sort's strings weigh little), and `maxShare`, the most distinct values of a column per event
 * (more, and the type would hold as much text as the sort). A field so that tests can change them.
 */
export const textTypesAt = { minRows: 131_072, maxShare: 0.25 };

/**
 * The names of the ENUM types textTypes makes (in the engine's own in-memory database), by
 * column, each call's own (`${name}_${n}`): nothing of one materialization's can be dropped by
 * another's.
 */
const TEXT_TYPES = { name: "memory.main.tl_span_name", target: "memory.main.tl_span_target" } as const;
/** The number of textTypes's last call. */
let textTypesMade = 0;

/**
 * A process's partition carries its names and categories through the sort as ENUM values (1-4
 * bytes) instead of strings (16 bytes each, and the text of those over 12 bytes): for each of
 * the two columns with at most textTypesAt.maxShare as many distinct values as `rows` (the
 * process's events; a real trace's process has a few hundred names for 100Ks of spans), a type
 * made from its values (TEXTS over `src`, the blocks' relation, source.ts blockRelation). After
 * the sort the SELECT writes the ENUM when it has at most ENUM_WRITE_MAX values, else casts back
 * to VARCHAR: the same rows and Parquet types either way. A column with more distinct values
 * stays VARCHAR (its type would hold the texts as the sort would). Runs on a connection of its
 * own (the types are the engine's, the variable the connection's), meant to overlap the stack
 * pass. On the 224 MB real Chromium JSON trace's largest process (547K spans, 541 names): a
 * 30 ms scan; cold `thread_spans` 321 -> 292 MB (see the commit). dropTextTypes drops the types.
 * @returns the columns' types in the sort and in the file.
 * @throws Error from DuckDB.
 */
export async function textTypes(engine: Engine, src: string, rows: number): Promise<TextTypes> {
  const conn = await engine.connect();
  const call = ++textTypesMade;
  const types: TextTypes = { ...VARCHAR_TEXTS };
  try {
    await conn.run(fillTemplate(TEXTS, { src }));
    const counts = (
      await conn.runAndReadAll(
        "SELECT len(getvariable('tl_span_texts').name) AS name, len(getvariable('tl_span_texts').target) AS target",
      )
    ).getRowObjectsJS() as { name: bigint | null; target: bigint | null }[];
    for (const col of ["name", "target"] as const) {
      const n = Number(counts[0]?.[col] ?? 0);
      if (n === 0 || n > rows * textTypesAt.maxShare) continue;
      const type = `${TEXT_TYPES[col]}_${call}`;
      await conn.run(`CREATE TYPE ${type} AS ENUM (SELECT unnest(getvariable('tl_span_texts').${col}))`);
      types[col] = type;
      if (n <= ENUM_WRITE_MAX) types[col === "name" ? "nameOut" : "targetOut"] = type;
    }
    return types;
  } catch (e) {
    await dropTextTypes(engine, types);
    throw e;
  } finally {
    conn.closeSync();
  }
}

/** Drops the ENUM types of `types` (those textTypes made; VARCHAR ones are left). */
export async function dropTextTypes(engine: Engine, types: TextTypes): Promise<void> {
  for (const t of new Set([types.name, types.target]))
    if (t !== "VARCHAR") await engine.run(`DROP TYPE IF EXISTS ${t}`);
}

/** @throws Error when a partition's row count is not its span count (a bug). */
function checkRows(rows: number, spans: number, processId: string): void {
  if (rows !== spans) {
    throw new Error(
      `thread_spans: wrote ${rows} rows for the ${spans} spans of the stack pass (process ${processId}); this is a bug`,
    );
  }
}

/** The most events (catalog nb_objects) one materializeMany batch reads: bounds its table. */
export const BATCH_EVENTS = 250_000;
/**
 * The widest spread (ns) of the catalog begin times of one batch's processes: the batch's pass
 * measures every process's times from one base, exact within 2^53 ns (104 days) of it.
 */
export const BATCH_SPREAD_NS = 86_400_000_000_000n;

/**
 * thread_spans' materializeMany: small processes in batches (at most BATCH_EVENTS events, begin
 * times within BATCH_SPREAD_NS), each with one stack pass, one SELECT into a
 * table, and one COPY per process from it (stageBatch).
 */
async function materializeMany(inputs: MaterializeInput[]): Promise<MaterializeResult[]> {
  return (await stageInputs(inputs)).write();
}

/**
 * thread_spans' ViewSet.stage: one input as materializeOne (stageOne), several as materializeMany
 * (staged.ts stageUnits over manyUnits: the first unit, a batch or a process alone, staged now,
 * the others built in the write, one after another).
 * @throws Error as materialize.
 */
function stageInputs(inputs: MaterializeInput[]): Promise<StagedWrite> {
  return stageUnits(inputs, manyUnits(inputs), {
    one: stageOne,
    batch: (members) => stageBatch(members, minBeginTime(members[0]?.blocks ?? []) as bigint),
  });
}

/**
 * How materializeMany builds `inputs`: units of input indexes, in build order, each a process
 * alone or a batch for stageBatch (processes by catalog begin time, at most BATCH_EVENTS
 * events and BATCH_SPREAD_NS apart; a process whose blocks have no begin time alone, first).
 */
function manyUnits(inputs: MaterializeInput[]): number[][] {
  const units: number[][] = [];
  const queue: { i: number; events: number; base: bigint }[] = [];
  for (let i = 0; i < inputs.length; i++) {
    const input = inputs[i] as MaterializeInput;
    const base = minBeginTime(input.blocks);
    if (base === null) units.push([i]);
    else queue.push({ i, events: input.blocks.reduce((n, b) => n + b.nbObjects, 0), base });
  }
  queue.sort((a, b) => (a.base < b.base ? -1 : a.base > b.base ? 1 : a.i - b.i));
  let batch: typeof queue = [];
  let events = 0;
  for (const q of queue) {
    const first = batch[0];
    if (first && (events + q.events > BATCH_EVENTS || q.base - first.base > BATCH_SPREAD_NS)) {
      units.push(batch.map((b) => b.i));
      batch = [];
      events = 0;
    }
    batch.push(q);
    events += q.events;
  }
  if (batch.length > 0) units.push(batch.map((b) => b.i));
  return units;
}

/** The table a batch's rows go through. */
const BATCH_TABLE = "memory.main.tl_spans_batch";

/**
 * Several processes' partitions from one read of their blocks: their streams, process after
 * process (each process's in thread_spans' order), make one relation whose stack pass numbers
 * each process's spans in a range of its own; the rows of all go to BATCH_TABLE in the
 * partition order, and each process's file is copied from it (a filtered scan of a table keeps
 * the table's order). Staged: the names' variable and the stack pass now, the table and the
 * files in the write. Falls back to materializeOne per process (in the write) when a span lies
 * too far from `base` for the pass's times to be exact.
 * @param base the least catalog begin time (ns) of the processes' blocks.
 * @throws Error from DuckDB.
 */
async function stageBatch(inputs: MaterializeInput[], base: bigint): Promise<Staged<MaterializeResult[]>> {
  const engine = (inputs[0] as MaterializeInput).engine;
  const all = combineInputs(inputs, passStreams);
  const src = await blockRows(all.input, all.streamProcessIds);
  const run = await batchPass(inputs, all.firstStream, src, base);
  if (run === null) {
    return {
      write: async () => {
        const out: MaterializeResult[] = [];
        for (const input of inputs) out.push(await materializeOne(input));
        return out;
      },
      discard: async () => {},
    };
  }
  const { spans, parts, firstOfStream } = run;
  const select = spanRows(src, base, `([${firstOfStream.join(", ")}]::INTEGER[])[sx + 1]`);
  const total = parts.reduce((n, p) => n + p.stats.spans, 0);
  const write = async (): Promise<MaterializeResult[]> => {
    await SPAN_FUNCTIONS.run(engine, spanWrite(spans, total), () =>
      engine.run(`CREATE OR REPLACE TABLE ${BATCH_TABLE} AS ${select}`),
    );
    try {
      return await writeEach(inputs, async (input, p) => {
        const { stats: ps } = parts[p] as BatchPart;
        if (ps.spans === 0) return EMPTY;
        const range = { min: base + BigInt(ps.minBegin), max: base + BigInt(ps.maxEnd) };
        const result = await writePartitionFile(
          engine,
          processRows(BATCH_TABLE),
          input.outPath,
          "begin",
          "end",
          range,
          {
            params: { process_id: input.process.processId },
            apart: true,
          },
        );
        checkRows(result.numRows, ps.spans, input.process.processId);
        return result;
      });
    } finally {
      await engine.run(`DROP TABLE IF EXISTS ${BATCH_TABLE}`);
    }
  };
  return { write, discard: async () => {} };
}

/** What batchPass computed: the batch's spans, each process's part, each stream's first span id. */
interface BatchRun {
  spans: SpanArrays;
  parts: BatchPart[];
  firstOfStream: Int32Array;
}

/**
 * The stack pass of several processes' cpu blocks at once (`src`: the relation of their
 * combineInputs(inputs, passStreams), whose `firstStream` it takes), each process's spans
 * numbered in a range of its own; each process's pass, as spanPass would have made it, goes to
 * its `shared` map. Null when a span lies too far from `base` for the pass's times to be exact.
 * @param base the least catalog begin time (ns) of the processes' blocks.
 * @throws Error from DuckDB.
 */
async function batchPass(
  inputs: MaterializeInput[],
  firstStream: readonly number[],
  src: BlockRelation,
  base: bigint,
): Promise<BatchRun | null> {
  const engine = (inputs[0] as MaterializeInput).engine;
  const streamCount = firstStream[inputs.length] as number;
  const spans = new SpanArrays(src.rowCount);
  const perStream = { spans: new Int32Array(streamCount), unmatchedEnds: new Int32Array(streamCount) };
  const scan = scanColumns(engine, fillTemplate(SCAN, { src: src.sql, base: `${base}` }));
  const stats = await buildSpans(scan, spans, perStream);
  if (!exactTimes(stats)) return null;
  spans.fit(stats.spans);
  // Each process's spans are the ids [first, first + count) (its threads come one after another).
  const firstOfStream = new Int32Array(streamCount);
  const parts: BatchPart[] = [];
  let id = 0;
  let block = 0;
  const blockCount = src.offsets.length;
  for (let p = 0; p < inputs.length; p++) {
    const input = inputs[p] as MaterializeInput;
    const first = id;
    let unmatchedEnds = 0;
    for (let s = firstStream[p] as number; s < (firstStream[p + 1] as number); s++) {
      firstOfStream[s] = first;
      id += perStream.spans[s] as number;
      unmatchedEnds += perStream.unmatchedEnds[s] as number;
    }
    const posStart = src.offsets[block] as number;
    block += input.blocks.length;
    const posEnd = block < blockCount ? (src.offsets[block] as number) : src.rowCount;
    parts.push(batchPart(spans, first, id - first, unmatchedEnds, posStart, posEnd));
  }
  // A JIT run that writes flows too: each process's pass as spanPass would have made it, for
  // the other view set; or, when the other one made it already (this pass is made anew, for the
  // batch's spans are numbered together), it is dropped: no one else takes it (spanPass).
  for (let p = 0; p < inputs.length; p++) {
    const input = inputs[p] as MaterializeInput;
    const key = passKey(input);
    if (input.shared?.has(key)) {
      input.shared.delete(key);
      continue;
    }
    const part = parts[p] as BatchPart;
    const none = part.stats.spans === 0 && part.stats.unmatchedEnds === 0;
    input.shared?.set(key, none ? null : { base, spans: localSpans(spans, part), stats: part.stats });
  }
  return { spans, parts, firstOfStream };
}

/**
 * The span pass's SpanArrays (spanPass's `spans`, null when it is null) of each of several
 * processes' cpu blocks (flows binds a batch of small processes at once): from `shared` where
 * a view set of the same JIT run left it, else from one batchPass over the others (or spanPass
 * each, when a block has no catalog begin time, the processes' begin times lie more than
 * BATCH_SPREAD_NS apart, or the batch pass's times are not exact).
 * @throws Error from DuckDB, or when the blocks hold more rows than one partition can.
 */
export async function batchSpans(inputs: MaterializeInput[]): Promise<(SpanArrays | null)[]> {
  const out: (SpanArrays | null)[] = new Array(inputs.length).fill(null);
  const todo: number[] = [];
  inputs.forEach((input, i) => {
    if (input.blocks.length === 0) return;
    const key = passKey(input);
    const done = input.shared?.get(key) as Omit<SpanPass, "src"> | null | undefined;
    if (done === undefined) todo.push(i);
    else {
      // Made by thread_spans, taken by flows (spanPass).
      input.shared?.delete(key);
      out[i] = done === null ? null : done.spans;
    }
  });
  const members = todo.map((i) => inputs[i] as MaterializeInput);
  const bases = members.map((m) => minBeginTime(m.blocks));
  let lo: bigint | null = null;
  let hi: bigint | null = null;
  for (const b of bases) {
    if (b === null) continue;
    if (lo === null || b < lo) lo = b;
    if (hi === null || b > hi) hi = b;
  }
  let run: BatchRun | null = null;
  if (members.length > 1 && lo !== null && hi !== null && !bases.includes(null) && hi - lo <= BATCH_SPREAD_NS) {
    const all = combineInputs(members, passStreams);
    const src = blockRelation(all.input);
    // Each member's pass goes to a map of its own when the run shares none.
    const local = members.map((m) => ({ ...m, shared: m.shared ?? new Map<string, unknown>() }));
    run = await batchPass(local, all.firstStream, src, lo);
    if (run !== null) {
      local.forEach((m, k) => {
        const done = m.shared.get(passKey(m)) as Omit<SpanPass, "src"> | null;
        out[todo[k] as number] = done === null ? null : done.spans;
      });
      return out;
    }
  }
  for (let k = 0; k < members.length; k++)
    out[todo[k] as number] = (await spanPass(members[k] as MaterializeInput))?.spans ?? null;
  return out;
}

/** One process of a batch: its span ids [first, first + stats.spans), its rows' pos [posStart, posEnd). */
interface BatchPart {
  first: number;
  posStart: number;
  posEnd: number;
  stats: SpanStats;
}

/** A batch process's part of the pass and its stats (times relative to the batch's base). */
function batchPart(
  spans: SpanArrays,
  first: number,
  count: number,
  unmatchedEnds: number,
  posStart: number,
  posEnd: number,
): BatchPart {
  const stats: SpanStats = {
    spans: count,
    unmatchedEnds,
    unclosed: 0,
    overlaps: 0,
    minBegin: Number.POSITIVE_INFINITY,
    maxEnd: Number.NEGATIVE_INFINITY,
  };
  for (let k = first; k < first + count; k++) {
    if ((spans.begin[k] as number) < stats.minBegin) stats.minBegin = spans.begin[k] as number;
    if ((spans.end[k] as number) > stats.maxEnd) stats.maxEnd = spans.end[k] as number;
    if (spans.anomaly[k] === A_UNCLOSED) stats.unclosed++;
    else if (spans.anomaly[k] === A_OVERLAP) stats.overlaps++;
  }
  return { first, posStart, posEnd, stats };
}

/**
 * A batch process's SpanArrays as its own pass makes them: its rows' ids by its own pos, and
 * its spans numbered from 0 (times stay relative to the batch's base).
 */
function localSpans(spans: SpanArrays, part: BatchPart): SpanArrays {
  const { first, posStart, posEnd } = part;
  const end = first + part.stats.spans;
  const local = new SpanArrays(posEnd - posStart, 0);
  for (let j = 0; j < local.idOf.length; j++) local.idOf[j] = (spans.idOf[posStart + j] as number) - first;
  local.parent = spans.parent.slice(first, end);
  const parent = local.parent;
  for (let k = 0; k < parent.length; k++) {
    const q = parent[k] as number;
    if (q >= 0) parent[k] = q - first;
  }
  local.depth = spans.depth.slice(first, end);
  local.end = spans.end.slice(first, end);
  local.threadEnd = spans.threadEnd.slice(first, end);
  local.anomaly = spans.anomaly.slice(first, end);
  local.begin = spans.begin.slice(first, end);
  local.self = spans.self.slice(first, end);
  local.runs = spans.runs.filter((r) => r >= first && r < end).map((r) => r - first);
  return local;
}

/** What spanPass computed for a process's cpu blocks. */
export interface SpanPass {
  /** The blocks as blockRelation made them (streams sorted as thread_spans sorts them). */
  src: BlockRelation;
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
 * made anew here: blockRows sets the variables its expressions read), which takes it out, so
 * that the JIT run does not hold every process's pass to its end (4 bytes per source row and
 * 41 per span: ~36 MB for the real 174 MB Chromium JSON trace). Cold `materialize` of that
 * trace, compiled, 3 alternating runs: peak RSS 313 -> 301 MB, wall the same.
 * @throws Error from DuckDB, or when the blocks hold more rows than one partition can.
 */
export async function spanPass(input: MaterializeInput): Promise<SpanPass | null> {
  if (input.blocks.length === 0) return null;
  const streams = passStreams(input);
  const src = blockRelation({ ...input, streams });
  // Another view set of the same JIT run may have run this pass on the same blocks.
  const key = passKey(input);
  const done = input.shared?.get(key) as Omit<SpanPass, "src"> | null | undefined;
  if (done !== undefined) {
    // Made by the other view set (flows or thread_spans), taken by this one: no third takes it.
    input.shared?.delete(key);
    return done === null ? null : { ...done, src };
  }
  const result = await runSpanPass(input, src);
  input.shared?.set(key, result === null ? null : { base: result.base, spans: result.spans, stats: result.stats });
  return result;
}

/** The key of a process's pass in MaterializeInput.shared: the process, its streams and blocks. */
function passKey(input: MaterializeInput): string {
  return `thread_spans pass\n${input.process.processId}\n${passStreams(input)
    .map((s) => s.streamId)
    .join("\n")}\n${input.blocks.map((b) => b.path).join("\n")}`;
}

/**
 * A process's streams in the pass's order: sx (a stream's index) orders the rows, so the
 * streams are in DuckDB's VARCHAR order (bytes of UTF-8).
 */
function passStreams(input: MaterializeInput): StreamMeta[] {
  return [...input.streams].sort((a, b) => Buffer.compare(Buffer.from(a.streamId), Buffer.from(b.streamId)));
}

/** True when the pass's relative times (ns, doubles) were exact integers. */
function exactTimes(stats: SpanStats): boolean {
  return stats.maxEnd < Number.MAX_SAFE_INTEGER && stats.minBegin > -Number.MAX_SAFE_INTEGER;
}

/**
 * How a large process's stack pass (and flows' binding, which sorts the same threads) is cut
 * (source.ts threadParts): `maxEvents`, the most events (catalog nb_objects) of one part's sort,
 * but for a thread that alone has more. A field so that tests can make it small, as
 * ViewSet.manyMaxEvents. Why: DuckDB's sort holds all of its rows, and a process's whole sort
 * was the peak of a cold build. On the real 208 MB Chromium JSON trace (its largest process:
 * 611,624 events on 13 threads, the largest thread 260,708), with the JIT's largest-first order
 * (jit.ts writeGroups), compiled binary, alternating runs, medians of peak RSS: cold
 * `thread_spans` 333 -> 296 MB (9 runs), cold `flows` 448 -> 388 MB (7 runs) and 447 -> 426 MB
 * (15 runs; wall 4.20 -> 4.41 s: a part's scan has fixed costs), for the same files. 64Ki,
 * 128Ki and 256Ki events measured alike (5 runs).
 */
export const passParts = { maxEvents: 131_072 };

/**
 * SCAN's rows over the parts (threadParts, in order) of a pass's relation, part after part:
 * the rows of SCAN over the whole relation, in its order (SCAN sorts by thread first).
 */
async function* partScans(
  engine: Engine,
  parts: readonly ThreadPart[],
  base: bigint,
): AsyncGenerator<{ rowCount: number; columns: ColumnArray[] }> {
  for (const part of parts) yield* scanColumns(engine, fillTemplate(SCAN, { src: part.sql, base: `${base}` }));
}

/** spanPass's work, over the blocks' relation `src`. */
async function runSpanPass(input: MaterializeInput, src: BlockRelation): Promise<SpanPass | null> {
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
  const parts = threadParts({ ...input, streams: passStreams(input) }, passParts.maxEvents);
  const pass = async (base: bigint): Promise<SpanPass> => {
    const spans = new SpanArrays(src.rowCount);
    return { src, base, spans, stats: await buildSpans(partScans(engine, parts, base), spans) };
  };
  const catalogBase = minBeginTime(input.blocks);
  let run = catalogBase === null ? null : await pass(catalogBase);
  if (run === null || !exactTimes(run.stats)) {
    const b = await engine.rows<{ base: bigint | null }>(
      `SELECT epoch_ns(min(time)) AS base FROM (${src.sql}) WHERE ph IN ('B', 'E', 'X')`,
    );
    const base = b[0]?.base ?? null;
    if (base === null) return null;
    run = await pass(base);
  }
  // No B, E or X event at all (each makes a span or is an unmatched E).
  if (run.stats.spans === 0 && run.stats.unmatchedEnds === 0) return null;
  run.spans.fit(run.stats.spans);
  return run;
}

/** What the lookup functions read during a partition's write: the pass's spans and their ranks (spanRanks). */
interface SpanWrite {
  spans: SpanArrays;
  /** By span id, its row's place in the partition's order. */
  rank: Int32Array;
}

/** The SpanWrite of the first `n` spans of `spans`. */
function spanWrite(spans: SpanArrays, n: number): SpanWrite {
  return { spans, rank: spanRanks(spans, n) };
}

/**
 * The scalar functions `tl_span_rank(pos)` (INTEGER: the partition's sort key, spanRanks) and
 * `tl_span(pos)` (STRUCT(id INTEGER, parent INTEGER, depth INTEGER, end_rel DOUBLE, anomaly
 * TINYINT, thread_end DOUBLE, self DOUBLE)) reading the stack pass's SpanArrays during a
 * materialization (lib/duck/lookup_functions.ts; they fail anywhere else). The sort key is
 * apart because it is read before the sort; the rest is read after it.
 */
const SPAN_FUNCTIONS = new LookupFunctions<SpanWrite>("thread_spans", [
  {
    name: "tl_span_rank",
    returns: "INTEGER",
    fill: ({ spans, rank }, pos, n, out) => {
      const r = out[0] as Int32Array;
      const { idOf } = spans;
      for (let i = 0; i < n; i++) r[i] = rank[idOf[pos[i] as number] as number] as number;
    },
  },
  {
    name: "tl_span",
    returns: [
      ["id", "INTEGER"],
      ["parent", "INTEGER"],
      ["depth", "INTEGER"],
      ["end_rel", "DOUBLE"],
      ["anomaly", "TINYINT"],
      ["thread_end", "DOUBLE"],
      ["self", "DOUBLE"],
    ],
    fill: ({ spans }, pos, n, out) => {
      const id = out[0] as Int32Array;
      const parent = out[1] as Int32Array;
      const depth = out[2] as Int32Array;
      const end = out[3] as Float64Array;
      const anomaly = out[4] as Int8Array;
      const threadEnd = out[5] as Float64Array;
      const self = out[6] as Float64Array;
      const {
        idOf,
        parent: sParent,
        depth: sDepth,
        end: sEnd,
        anomaly: sAnomaly,
        threadEnd: sThreadEnd,
        self: sSelf,
      } = spans;
      for (let i = 0; i < n; i++) {
        const k = idOf[pos[i] as number] as number;
        id[i] = k;
        parent[i] = sParent[k] as number;
        depth[i] = sDepth[k] as number;
        end[i] = sEnd[k] as number;
        anomaly[i] = sAnomaly[k] as number;
        threadEnd[i] = sThreadEnd[k] as number;
        self[i] = sSelf[k] as number;
      }
    },
  },
]);

/** The least catalog begin_time of `blocks` (ns), or null when none has one. */
function minBeginTime(blocks: readonly SourceBlock[]): bigint | null {
  let min: bigint | null = null;
  for (const b of blocks) if (b.beginTimeNs !== null && (min === null || b.beginTimeNs < min)) min = b.beginTimeNs;
  return min;
}
