/**
 * The raw events of a partition's source blocks, as the SQL relation `tl_src` that every
 * transform reads: the block columns of the raw block layout (lib/lake/raw_block.ts: seq,
 * ph, time, dur, thread_time, thread_dur, tid, name, cat, id, id_scope, scope, s, bp, bind_id,
 * flow_in, flow_out, args) plus `bix` (the block's index in the input list, INTEGER), `px` (the
 * index of the block's input among those prepared together, INTEGER; 0 for one), `block_id`,
 * `stream_id`, `insert_time` (the block's, TIMESTAMPTZ) and the stream's thread: `sx` (the
 * stream's index, INTEGER), `stream_tid`, `thread_name`. `tl_src_process` holds a row per input:
 * px, process_id, exe, username, computer, process_properties (JSON).
 *
 * The tables live in `memory.main` (not TEMP) so that a second connection of the engine can
 * stream from them (lib/duck/columnar.ts).
 */
import { type Engine, sqlString } from "../duck/engine.ts";
import { BLOCK_ROWS_EXCEEDED } from "../lake/fs_errors.ts";
import type { MaterializeInput, SourceBlock, StreamMeta } from "./view_set.ts";

/** Name of the relation of raw events that transforms read. */
export const SRC = "memory.main.tl_src";
/** A row per prepared input: px, process_id, exe, username, computer, process_properties. */
export const SRC_PROCESS = "memory.main.tl_src_process";
/**
 * SQL of a process column of the row whose input index is `px` (an SQL expression): `name` is
 * process_id (VARCHAR), exe, username, computer or process_properties (JSON). It reads a list of
 * a DuckDB variable set by prepareSource from SRC_PROCESS, which the binder folds into a
 * constant. A transform adds these columns after its ORDER BY: joined to the events before it,
 * the process's properties (2 KB of JSON per row on the Chromium sample) went through the sort
 * with every row, 170 ms of a 12,108-row log_entries partition.
 */
export function processColumn(
  name: "process_id" | "exe" | "username" | "computer" | "process_properties",
  px: string,
): string {
  return `(getvariable('tl_src_process').${name})[(${px}) + 1]`;
}
/** The streams: sx (index, INTEGER), stream_id, stream_tid, thread_name. */
export const SRC_STREAMS = "memory.main.tl_src_streams";
/** Name of the table of source blocks: bix, px, block_id, stream_id, insert_time, path. */
export const SRC_BLOCKS = "memory.main.tl_src_blocks";

/**
 * Creates `tl_src_process`, `tl_src_streams`, `tl_src_blocks` and the view `tl_src` over the
 * blocks of `inputs` (one, or several processes at once: their blocks in input order, `px`
 * telling them apart), and the variable processColumn reads. Replaces the previous ones.
 * @throws Error from DuckDB (e.g. a missing blob file when the view is read).
 */
export async function prepareSource(inputs: readonly MaterializeInput[]): Promise<void> {
  const engine = (inputs[0] as MaterializeInput).engine;
  // Names from the input (process and thread names, tids) go in through the appender, never as SQL text.
  await engine.run(
    `CREATE OR REPLACE TABLE ${SRC_PROCESS}(px INTEGER, process_id VARCHAR, exe VARCHAR, username VARCHAR, computer VARCHAR, props VARCHAR)`,
  );
  await engine.append(
    tableName(SRC_PROCESS),
    inputs.map(({ process: p }, px) => [BigInt(px), p.processId, p.exe, p.username, p.computer, p.properties]),
    "memory",
  );
  await engine.run(`SET VARIABLE tl_src_process = (SELECT {process_id: list(process_id ORDER BY px),
    exe: list(exe ORDER BY px), username: list(username ORDER BY px), computer: list(computer ORDER BY px),
    process_properties: list(props::JSON ORDER BY px)} FROM ${SRC_PROCESS})`);
  await engine.run(
    `CREATE OR REPLACE TABLE ${SRC_STREAMS}(sx INTEGER, stream_id VARCHAR, stream_tid VARCHAR, thread_name VARCHAR)`,
  );
  await engine.append(
    tableName(SRC_STREAMS),
    inputs.flatMap((i) => i.streams).map((s, i) => [BigInt(i), s.streamId, s.tid, s.threadName]),
    "memory",
  );
  await engine.run(
    `CREATE OR REPLACE TABLE ${SRC_BLOCKS}(bix INTEGER, px INTEGER, block_id VARCHAR, stream_id VARCHAR, insert_us BIGINT, path VARCHAR)`,
  );
  const blocks = inputs.flatMap((input, px) => input.blocks.map((b) => ({ b, px })));
  await engine.append(
    tableName(SRC_BLOCKS),
    blocks.map(({ b, px }, i) => [BigInt(i), BigInt(px), b.blockId, b.streamId, b.insertTimeUs, b.path]),
    "memory",
  );
  const list = blocks.map(({ b }) => sqlString(b.path)).join(", ");
  await engine.run(`CREATE OR REPLACE VIEW ${SRC} AS
    SELECT b.bix, b.px, b.block_id, b.stream_id, make_timestamp(b.insert_us)::TIMESTAMPTZ AS insert_time, s.sx, s.stream_tid, s.thread_name, r.* EXCLUDE (filename)
    FROM read_parquet([${list}], filename = true) r JOIN ${SRC_BLOCKS} b ON b.path = r.filename
    LEFT JOIN ${SRC_STREAMS} s ON s.stream_id = b.stream_id`);
}

/** Drops what prepareSource and blockNames created. */
export async function dropSource(engine: Engine): Promise<void> {
  await engine.run(`DROP VIEW IF EXISTS ${SRC}`);
  await engine.run(
    [
      ...[SRC_BLOCKS, SRC_STREAMS, SRC_PROCESS, SRC_VALUES].map((t) => `DROP TABLE IF EXISTS ${t}`),
      ...VALUE_ENUMS.map((t) => `DROP TYPE IF EXISTS ${t}`),
    ].join(";\n"),
  );
}

/** `memory.main.x` → `x` (the appender takes the catalog and the schema apart). */
function tableName(qualified: string): string {
  return qualified.slice(qualified.lastIndexOf(".") + 1);
}

/**
 * blockNames's table of the process's and its streams' values, filled with the appender so that
 * names from the input never become SQL text: `col` 0 = process_id, 1 = stream_id, 2 = tid,
 * 3 = thread_name. Rows with `col` 0–3 are the lists (`ix`: the stream's index sx; 0 for the
 * process, or sx when blockNames is given several processes' streams), rows with `col` 4–7 the
 * distinct non-NULL values of column `col - 4`, from which the ENUM types are made (a plain
 * SELECT: DISTINCT and ORDER BY in SQL cost 1 ms more a type).
 */
const SRC_VALUES = "memory.main.tl_src_values";
/** The ENUM types blockNames makes from SRC_VALUES, by `col`. */
const VALUE_ENUMS = [
  "memory.main.tl_src_process_enum",
  "memory.main.tl_src_stream_enum",
  "memory.main.tl_src_tid_enum",
  "memory.main.tl_src_thread_name_enum",
];

/** The DuckDB variable (SET VARIABLE) blockNames sets from SRC_VALUES: a STRUCT of VALUE_FIELDS. */
const VALUES_VARIABLE = "tl_src";
/** The variable's fields, by SRC_VALUES `col`. */
const VALUE_FIELDS = ["process_id", "stream_ids", "tids", "thread_names"];

/** The input's blocks as one join-free relation (see blockRelation). */
export interface BlockRelation {
  /**
   * SQL of a relation with the block columns of raw block schema v1 plus `bix` (the block's
   * index in the input list, BIGINT), `sx` (its stream's index in the input's streams,
   * INTEGER; NULL for a stream not listed) and `pos` (BIGINT): the row's index over all rows of
   * all blocks, block after block in input order, then in file order; 0 ≤ pos < rowCount.
   */
  sql: string;
  /** Rows of all blocks (the sum of their catalog `nb_objects`). */
  rowCount: number;
  /** By block (in input order), the pos of its first row. */
  offsets: readonly number[];
}

/**
 * THE rule for a row's integer tid from its stream (thread_spans, async_events), in their
 * templates (`$streams_tid`: BlockRows.streamTids, `sx`: the row's stream index): the stream's
 * tid text as BIGINT, NULL when it is not an integer (README: tid and tid_text). The list is a
 * constant, so the cast runs once per stream, not per row.
 */
export const STREAM_TID_SQL = "(list_transform($streams_tid, t -> TRY_CAST(t AS BIGINT)))[sx + 1]";

/** The relation and the names of its process and streams (see blockRows). */
export interface BlockRows extends BlockRelation {
  /**
   * SQL expressions (constant over the rows) of the lists of the input's streams' stream_id, tid
   * and thread name, in the input's order: `(list)[sx + 1]` is the row's (NULL for a NULL sx).
   * Their elements are ENUM values (of the list's distinct values) that read back as VARCHAR;
   * VARCHAR when every element is NULL. They are fields of a `getvariable` set from
   * SRC_VALUES (the next blockRows call sets them anew): the names are never SQL text.
   */
  streamIds: string;
  streamTids: string;
  threadNames: string;
  /**
   * SQL expression of the process's id, an ENUM value that reads back as VARCHAR; for several
   * processes (blockRows's `streamProcessIds`), the VARCHAR id of the row's stream's process
   * (NULL for a NULL sx).
   */
  processId: string;
  /**
   * For several processes (blockRows's `streamProcessIds`): SQL expression of the list of the
   * streams' process ids (VARCHAR), in the input's stream order; null otherwise.
   */
  streamProcessIds: string | null;
}

/**
 * Several processes' inputs as one (materializeMany's batches): the streams of each input after
 * the other's (each input's in the order `streamsOf` gives), their blocks in input order.
 * Returns that input (its `process` is the first input's: blockRows reads the ids from
 * `streamProcessIds` instead), by stream the id and index of its input, and by input the index
 * of its first stream, plus the stream count at the end (input p's streams are
 * [firstStream[p], firstStream[p + 1])).
 */
export function combineInputs(
  inputs: readonly MaterializeInput[],
  streamsOf: (input: MaterializeInput) => StreamMeta[],
): { input: MaterializeInput; streamProcessIds: string[]; streamPx: number[]; firstStream: number[] } {
  const streams: StreamMeta[] = [];
  const streamProcessIds: string[] = [];
  const streamPx: number[] = [];
  const firstStream: number[] = [];
  inputs.forEach((input, p) => {
    firstStream.push(streams.length);
    for (const s of streamsOf(input)) {
      streams.push(s);
      streamProcessIds.push(input.process.processId);
      streamPx.push(p);
    }
  });
  firstStream.push(streams.length);
  const blocks = inputs.flatMap((i) => i.blocks);
  return { input: { ...(inputs[0] as MaterializeInput), streams, blocks }, streamProcessIds, streamPx, firstStream };
}

/**
 * SQL of the rows of `table` (a batch's rows, with process_id) of one process, whose id is the
 * statement's parameter `process_id` (so that no id is SQL text, and the statement needs no
 * variable of the main connection: writeEach runs such COPYs on connections of their own).
 */
export function processRows(table: string): string {
  return `SELECT * FROM ${table} WHERE process_id = $process_id`;
}

/**
 * Most rows blockRows's `pos` can number as an INTEGER (the type transforms pass it to their
 * lookup functions in: lib/duck/lookup_functions.ts).
 */
export const MAX_BLOCK_ROWS = 2 ** 31 - 1;

/**
 * The raw events of the input's blocks as a relation without joins (one `read_parquet` over the
 * block files; bix and sx from DuckDB's `file_index`, pos from `file_row_number` and the blocks'
 * row counts), for transforms that read the blocks more than once and need a dense row key
 * (thread_spans, async_events, flows). The row counts are the catalog's `nb_objects`, which is
 * a raw block file's row count (the ingest writes it so; `tracelake check` verifies it, see
 * lib/lake/check.ts): no footer is read here (reading the footers of the Chromium sample's 117
 * block files took 27-44 ms, once per relation). A file holding more rows than its
 * `nb_objects` (replaced by hand) makes the relation's reader fail with an error naming it
 * (BLOCK_ROWS_EXCEEDED: a damaged lake file, lib/lake/fs_errors.ts), rather than number its
 * rows into the next block's.
 * @throws Error when the blocks hold more than 2^53 rows (a catalog no ingest writes).
 */
export function blockRelation(input: MaterializeInput): BlockRelation {
  const layout = blockLayout(input);
  return { sql: layoutSql(input, layout, null), rowCount: layout.rowCount, offsets: layout.offsets };
}

/**
 * The relation of blockRelation split by thread, for transforms that sort a process's rows by
 * thread first (thread_spans' stack pass, flows' binding): the SQL of relations over the blocks
 * of runs of consecutive streams (by sx), each with the same columns and the same bix, sx and
 * pos as blockRelation's, so that their rows, each part sorted and the parts taken in order,
 * come as the whole relation sorted. A part holds at most `maxEvents` events (catalog
 * nb_objects), but for a stream that alone holds more; blocks of no listed stream (sx NULL)
 * are left out of every part. Returns the parts in sx order, each with its streams
 * [firstSx, endSx); one part, the whole relation, when the blocks hold at most `maxEvents` or
 * no listed stream has a block (never an empty list).
 * Why: DuckDB's sort holds all its rows at once, and its memory stays mapped after it; sorting
 * a large process's threads in parts bounds that by the part's rows.
 * @throws Error as blockRelation.
 */
export function threadParts(input: MaterializeInput, maxEvents: number): ThreadPart[] {
  const layout = blockLayout(input);
  const whole = [{ sql: layoutSql(input, layout, null), firstSx: 0, endSx: input.streams.length }];
  if (layout.rowCount <= maxEvents) return whole;
  const blocksOf: number[][] = input.streams.map(() => []);
  const eventsOf = new Array<number>(input.streams.length).fill(0);
  layout.sx.forEach((sx, i) => {
    if (sx === null) return;
    (blocksOf[sx] as number[]).push(i);
    eventsOf[sx] = (eventsOf[sx] as number) + (layout.counts[i] as number);
  });
  const parts: ThreadPart[] = [];
  let first = 0;
  let events = 0;
  const close = (end: number): void => {
    const blocks = blocksOf
      .slice(first, end)
      .flat()
      .sort((a, b) => a - b);
    if (blocks.length > 0) parts.push({ sql: layoutSql(input, layout, blocks), firstSx: first, endSx: end });
    first = end;
    events = 0;
  };
  for (let sx = 0; sx < input.streams.length; sx++) {
    const n = eventsOf[sx] as number;
    if (events > 0 && events + n > maxEvents) close(sx);
    events += n;
  }
  close(input.streams.length);
  // No listed stream has a block: the whole relation, whose rows the transforms leave out.
  return parts.length > 0 ? parts : whole;
}

/** A part of threadParts: the SQL of its relation and its streams' indexes [firstSx, endSx). */
export interface ThreadPart {
  sql: string;
  firstSx: number;
  endSx: number;
}

/** By block (input order): its first row's pos, its row count and its stream's index (null: not listed). */
interface BlockLayout {
  offsets: number[];
  counts: number[];
  sx: (number | null)[];
  rowCount: number;
}

/** @throws Error when the blocks hold more than 2^53 rows. */
function blockLayout(input: MaterializeInput): BlockLayout {
  const { blocks, streams } = input;
  if (blocks.length === 0) throw new Error("blockRows: no blocks");
  const sxOf = new Map(streams.map((s, i) => [s.streamId, i]));
  const layout: BlockLayout = { offsets: [], counts: [], sx: [], rowCount: 0 };
  for (const b of blocks) {
    layout.offsets.push(layout.rowCount);
    layout.counts.push(b.nbObjects);
    layout.rowCount += b.nbObjects;
    if (!Number.isSafeInteger(layout.rowCount)) throw new Error(`blockRows: the blocks hold more than 2^53 rows`);
    layout.sx.push(sxOf.get(b.streamId) ?? null);
  }
  return layout;
}

/**
 * SQL of blockRelation's relation over the blocks `only` (indexes into the input's blocks, in
 * increasing order; null: all), each row with its block's bix, sx and pos in the whole relation.
 */
function layoutSql(input: MaterializeInput, layout: BlockLayout, only: readonly number[] | null): string {
  const ix = only ?? input.blocks.map((_, i) => i);
  const list = `[${ix.map((i) => sqlString((input.blocks[i] as SourceBlock).path)).join(", ")}]`;
  const of = <T>(values: readonly T[], f: (v: T) => string) => ix.map((i) => f(values[i] as T)).join(", ");
  const at = "[file_index::BIGINT + 1]";
  const bix = only === null ? "file_index::BIGINT" : `([${ix.join(", ")}]::BIGINT[])${at}`;
  const sx = of(layout.sx, (x) => (x === null ? "NULL" : String(x)));
  return `SELECT ${bix} AS bix, ([${sx}]::INTEGER[])${at} AS sx,
      CASE WHEN file_row_number < ([${of(layout.counts, String)}]::BIGINT[])${at}
        THEN ([${of(layout.offsets, String)}]::BIGINT[])${at} + file_row_number
        ELSE error('File ''' || filename || ''' ${BLOCK_ROWS_EXCEEDED}') END AS pos, *
    FROM read_parquet(${list})`;
}

/**
 * blockRelation of the input's blocks with the SQL of its process's and streams' names (see
 * BlockRows), which the transforms that write them (thread_spans, async_events) need.
 * @param streamProcessIds for the blocks of several processes at once (materializeMany): by
 *   stream (in `input.streams`' order), the id of its process; the result's `processId` then
 *   reads the row's from it, and `input.process` is not used.
 * @throws Error from DuckDB (e.g. a missing or unreadable block file).
 */
export async function blockRows(input: MaterializeInput, streamProcessIds?: readonly string[]): Promise<BlockRows> {
  const relation = blockRelation(input);
  return { ...relation, ...(await blockNames(input, streamProcessIds)) };
}

/**
 * Sets the variable (and ENUM types) of the names of the input's process and streams and
 * returns their SQL (BlockRows's fields but the relation's).
 * @throws Error from DuckDB.
 */
export async function blockNames(
  input: MaterializeInput,
  streamProcessIds?: readonly string[],
): Promise<Omit<BlockRows, keyof BlockRelation>> {
  // One call at a time: SRC_VALUES and the ENUM types are the instance's, and the JIT stages a
  // partition on one engine while another engine's write stages its next batch (jit.ts
  // writeAll). Once a call has set its connection's variable, the next may replace them: the
  // variable holds its values with their types.
  const turn = namesTurn.then(() => setBlockNames(input, streamProcessIds));
  namesTurn = turn.then(
    () => undefined,
    () => undefined,
  );
  return turn;
}

/** The end of the last blockNames call (its turn). */
let namesTurn: Promise<void> = Promise.resolve();

/** blockNames's work. */
async function setBlockNames(
  input: MaterializeInput,
  streamProcessIds?: readonly string[],
): Promise<Omit<BlockRows, keyof BlockRelation>> {
  const { engine, streams } = input;
  // ENUM lists: the Parquet writer stores an ENUM column as the same UTF-8 dictionary column
  // without hashing each row's string (ENUM needs at least one value: all NULL stays VARCHAR).
  // The values reach DuckDB through the appender and the types are made from the table.
  const many = streamProcessIds !== undefined;
  const columns: (string | null)[][] = [
    many ? [...streamProcessIds] : [input.process.processId],
    streams.map((s) => s.streamId),
    streams.map((s) => s.tid),
    streams.map((s) => s.threadName),
  ];
  const rows: [bigint, bigint, string | null][] = [];
  columns.forEach((values, c) => {
    values.forEach((v, i) => {
      rows.push([BigInt(c), BigInt(i), v]);
    });
    [...new Set(values.filter((v) => v !== null))].forEach((v, i) => {
      rows.push([BigInt(c + 4), BigInt(i), v]);
    });
  });
  await engine.run(`CREATE OR REPLACE TABLE ${SRC_VALUES}(col BIGINT, ix BIGINT, value VARCHAR)`);
  await engine.append(tableName(SRC_VALUES), rows, "memory");
  // Several processes' ids stay VARCHAR: each process's file then gets its own id's statistics.
  const types = columns.map((values, c) =>
    values.every((v) => v === null) || (many && c === 0) ? "VARCHAR" : (VALUE_ENUMS[c] as string),
  );
  const creates = types.flatMap((t, c) =>
    t === "VARCHAR"
      ? []
      : [`CREATE OR REPLACE TYPE ${t} AS ENUM (SELECT value FROM ${SRC_VALUES} WHERE col = ${c + 4})`],
  );
  // The constants reach the transforms as one DuckDB variable (a STRUCT), which the binder
  // folds into constants: the same values as scalar subqueries over SRC_VALUES, without the
  // joins those plan into (planning a thread_spans COPY: 15 → 5 ms per process on the Chromium
  // sample).
  // (CASE: a row of another column is not cast to this column's ENUM.)
  const columnValue = (c: number) => `CASE WHEN col = ${c} THEN value::${types[c]} END`;
  const listOf = (c: number) => `coalesce(list(${columnValue(c)} ORDER BY ix) FILTER (WHERE col = ${c}), [])`;
  await engine.run(
    [
      ...creates,
      `SET VARIABLE ${VALUES_VARIABLE} = (SELECT {${VALUE_FIELDS.map((f, c) =>
        c === 0 && !many ? `${f}: first(${columnValue(0)}) FILTER (WHERE col = 0)` : `${f}: ${listOf(c)}`,
      ).join(", ")}} FROM ${SRC_VALUES})`,
    ].join(";\n"),
  );
  const field = (c: number) => `getvariable('${VALUES_VARIABLE}').${VALUE_FIELDS[c]}`;
  return {
    processId: many ? `(${field(0)})[sx + 1]` : field(0),
    streamProcessIds: many ? field(0) : null,
    streamIds: field(1),
    streamTids: field(2),
    threadNames: field(3),
  };
}
