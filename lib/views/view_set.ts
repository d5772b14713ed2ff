/**
 * The ViewSet interface: a named table materialized per process from raw blocks
 * (DESIGN.md "Views and JIT partitions", reference/micromegas.md §2).
 *
 * A view set has a file schema and a schema hash that changes whenever the file layout or the
 * transform changes: it hashes the view set's name, its hand-bumped `version`, its columns and
 * the text of its SQL (micromegas bumps a one-byte version by hand; hashing the SQL as well means
 * an edited transform cannot be forgotten). Queries only read partitions with the current hash.
 */
import type { Engine } from "../duck/engine.ts";

/** One column of a view set's files. */
export interface ViewColumn {
  name: string;
  /** DuckDB type, e.g. `TIMESTAMP_NS`, `BIGINT`, `JSON`. */
  type: string;
  /** What it holds, with units; shown by `list_view_sets()` and in the README. */
  description: string;
}

/** A raw block a partition is built from. */
export interface SourceBlock {
  blockId: string;
  streamId: string;
  /** Objects (events) in the block. */
  nbObjects: number;
  /** Microseconds since the Unix epoch (the catalog's TIMESTAMPTZ). */
  insertTimeUs: bigint;
  /**
   * The catalog's `begin_time` of the block (ns on the trace clock): at most the time of every
   * event in it; null when the block has none.
   */
  beginTimeNs: bigint | null;
  /** Absolute path of the block's Parquet blob. */
  path: string;
}

/** Catalog facts about the process a partition belongs to. */
export interface ProcessMeta {
  processId: string;
  exe: string | null;
  username: string | null;
  computer: string | null;
  /** `processes.properties` as JSON text. */
  properties: string | null;
}

/** Catalog facts about a stream: for `cpu` streams, the thread. */
export interface StreamMeta {
  streamId: string;
  /** Source thread id (`thread-id` property). */
  tid: string | null;
  /** Thread name (`thread-name` property, from `M thread_name`). */
  threadName: string | null;
}

/**
 * One process of an ingest, for view sets whose rows join events across the processes of one
 * ingest (`scope: "ingest"`, e.g. flows between processes).
 */
export interface IngestPeer {
  process: ProcessMeta;
  /** `processes.trace_format` (e.g. `chrome_json`, `perfetto`). */
  traceFormat: string | null;
  /** Its `cpu` streams and their blocks (ordered by insert time then block id). */
  cpuStreams: StreamMeta[];
  cpuBlocks: SourceBlock[];
  /** Its `log` streams' blocks. */
  logBlocks: SourceBlock[];
}

/** What a view set's transform receives. */
export interface MaterializeInput {
  engine: Engine;
  process: ProcessMeta;
  /** The process's streams (at least those of the blocks). */
  streams: StreamMeta[];
  /** The partition's source blocks, ordered by insert time then block id. Never empty. */
  blocks: SourceBlock[];
  /** Absolute path of the Parquet file to write. Write nothing there when there are no rows. */
  outPath: string;
  /**
   * For `scope: "ingest"` view sets: every process of the instance's ingest (the instance's own
   * included), whose cpu and log blocks are then `blocks`.
   */
  peers?: IngestPeer[];
  /**
   * What the view sets written in one JIT run share, by a key each chooses (thread_spans' stack
   * pass of a process, which the flows view also runs: the second of the two takes it out):
   * present when the run writes more than one view set, dropped when the run ends.
   */
  shared?: Map<string, unknown>;
}

/** What a transform wrote. Event times are ns on the trace clock (TIMESTAMP_NS values). */
export interface MaterializeResult {
  numRows: number;
  /** Min event time of the rows; null iff numRows = 0. */
  minEventTimeNs: bigint | null;
  /** Max event time of the rows (for spans, the max end); null iff numRows = 0. */
  maxEventTimeNs: bigint | null;
}

/** Stream tags that route blocks to view sets (DESIGN.md "Catalog tables"). */
export type StreamTag = "cpu" | "log" | "metrics";

/** A view set: name, file schema, the stream tag it reads, and its transform. */
export interface ViewSet {
  /** `view_set_name`, e.g. `thread_spans`. */
  name: string;
  /** One line for `list_view_sets()` and the README. */
  description: string;
  /** The tag of the streams whose blocks feed it. */
  streamTag: StreamTag;
  /** Bumped by hand when the transform's meaning changes without its SQL text changing. */
  version: number;
  /** The columns of its files, in order. */
  columns: ViewColumn[];
  /**
   * Insert-time slice length in µs: blocks of one slice make one partition, so new data in a
   * later slice leaves earlier partitions alone. Null: one partition for all of a process's
   * blocks, for transforms whose rows depend on events in other blocks (span stacks, async
   * pairing).
   */
  sliceMicros: number | null;
  /**
   * `"ingest"`: the transform reads the cpu and log blocks of every process of the instance's
   * ingest (`MaterializeInput.peers`), and the partition's source identity covers them all.
   * Default: the instance's own blocks of `streamTag`.
   */
  scope?: "ingest";
  /** Every SQL text the transform runs, for the schema hash. */
  transformText: string;
  /**
   * Builds the rows from `input.blocks` and writes them to `input.outPath` (Parquet, columns
   * exactly `columns`), or writes nothing when there are no rows.
   * @throws Error when DuckDB fails (the caller removes a partial file).
   */
  materialize(input: MaterializeInput): Promise<MaterializeResult>;
  /**
   * Optional: builds several instances' partitions in one call, each file exactly as
   * `materialize` writes it, sharing the costs every call has whatever its size (thread_spans:
   * reading block files, planning, a COPY's set-up: ~40 ms a process). The JIT calls it with the
   * partitions of one run whose blocks hold at most `manyMaxEvents` events (catalog nb_objects)
   * each, at least two. Returns one result per input, in order.
   * @throws Error as materialize (the caller removes every input's file).
   */
  materializeMany?(inputs: MaterializeInput[]): Promise<MaterializeResult[]>;
  /** With materializeMany: the most events a partition's blocks may hold to be built with others. */
  manyMaxEvents?: number;
  /**
   * Optional: materialize (one input) or materializeMany (several) in two steps, so that the JIT
   * can run one partition group's first step while the previous group's files are written (a
   * partition's COPY writes on one DuckDB thread: the other core would wait). `stage` does what
   * reads the blocks into memory, on the inputs' engine; the StagedWrite then writes the files.
   * The JIT runs no other write while one runs; it may run a later group's `stage` meanwhile, on
   * another engine of the same instance (Engine.fork), so a write may use its own engine's
   * connection (variables) but no table or type of the instance that another stage replaces.
   * @throws Error as materialize (nothing of the stage is left).
   */
  stage?(inputs: MaterializeInput[]): Promise<StagedWrite>;
}

/** What ViewSet.stage prepared: `write` or `discard` it (exactly one, once). */
export interface StagedWrite {
  /**
   * Writes the inputs' files; one result per input, in order (as materializeMany).
   * @throws Error as materialize (the caller removes every input's file).
   */
  write(): Promise<MaterializeResult[]>;
  /** Drops what the stage made, writing nothing. */
  discard(): Promise<void>;
}

/**
 * The schema hash of a view set: the first 8 bytes of SHA-256 over its name, version, columns
 * and transform text (stored as `file_schema_hash`, BLOB).
 */
export function schemaHash(vs: ViewSet): Uint8Array {
  const h = new Bun.CryptoHasher("sha256");
  h.update(JSON.stringify([vs.name, vs.version, vs.columns.map((c) => [c.name, c.type]), vs.transformText]));
  return new Uint8Array(h.digest().subarray(0, 8));
}

/** A schema hash (or any bytes) as lowercase hex. */
export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}

/**
 * The empty relation of a view set's schema: `SELECT NULL::T AS c, ... WHERE false`, for a
 * query over an instance (or a view) that has no rows.
 */
export function emptySelect(vs: ViewSet): string {
  return `SELECT ${vs.columns.map((c) => `NULL::${c.type} AS "${c.name}"`).join(", ")} WHERE false`;
}

/**
 * The seven leading columns micromegas's log_entries and measures share (reference/micromegas.md
 * §2 "Columns"): process_id, stream_id, block_id, insert_time, exe, username, computer.
 * @param stream what the stream_id names, e.g. "the process's log stream".
 */
export function processBlockColumns(stream: string): ViewColumn[] {
  return [
    { name: "process_id", type: "VARCHAR", description: "process (view_instance_id)" },
    { name: "stream_id", type: "VARCHAR", description: stream },
    { name: "block_id", type: "VARCHAR", description: "raw block the event came from" },
    { name: "insert_time", type: "TIMESTAMPTZ", description: "insert time of that block" },
    { name: "exe", type: "VARCHAR", description: "process name (M process_name)" },
    { name: "username", type: "VARCHAR", description: "user, when the source says (NULL for Chrome JSON)" },
    { name: "computer", type: "VARCHAR", description: "host, when the source says (NULL for Chrome JSON)" },
  ];
}
