/**
 * THE raw block layout: the columns of every raw block file (name, kind, DuckDB type, index),
 * the schema version recorded in `blocks.schema_version`, and the rows per row group. Every
 * importer, the Parquet writer, `raw_events` (lib/sql/query.ts), the replay analysis and the
 * WebAssembly fast path (its C header, generated from here by scripts/build_wasm.ts) take the
 * layout from this file; nothing else spells it out.
 */

/** Version of the raw block layout; recorded in `blocks.schema_version` for every block. */
export const RAW_BLOCK_SCHEMA_VERSION = 1;

/**
 * Column kinds: `i64` BIGINT, `ts` TIMESTAMP_NS (ns on the trace's clock), `str` VARCHAR,
 * `bool` BOOLEAN, `json` JSON text. They fix the Parquet physical/logical types
 * (blocks/parquet_writer.ts) and the PLAIN value layout (blocks/builder.ts, the fast path).
 */
export type RawColumnKind = "i64" | "ts" | "str" | "bool" | "json";

/** DuckDB type of each kind, as a query over the blocks sees it. */
export const RAW_KIND_SQL_TYPE: Readonly<Record<RawColumnKind, string>> = {
  i64: "BIGINT",
  ts: "TIMESTAMP_NS",
  str: "VARCHAR",
  bool: "BOOLEAN",
  json: "JSON",
};

/** The column names, in file order (the index of a name is its column index). */
const NAMES = [
  "seq",
  "ph",
  "time",
  "dur",
  "thread_time",
  "thread_dur",
  "tid",
  "name",
  "cat",
  "id",
  "id_scope",
  "scope",
  "s",
  "bp",
  "bind_id",
  "flow_in",
  "flow_out",
  "args",
] as const;

/** A raw block column name. */
export type RawColumnName = (typeof NAMES)[number];

const KINDS: Record<RawColumnName, RawColumnKind> = {
  seq: "i64",
  ph: "str",
  time: "ts",
  dur: "i64",
  thread_time: "i64",
  thread_dur: "i64",
  tid: "str",
  name: "str",
  cat: "str",
  id: "str",
  id_scope: "str",
  scope: "str",
  s: "str",
  bp: "str",
  bind_id: "str",
  flow_in: "bool",
  flow_out: "bool",
  args: "json",
};

/**
 * The raw block schema: column names and kinds, in file order. Units: `seq` is the event's
 * position in its source; `time` ns on the trace clock; `dur`, `thread_time`, `thread_dur` ns.
 */
export const RAW_BLOCK_COLUMNS: readonly { name: RawColumnName; kind: RawColumnKind }[] = NAMES.map((name) => ({
  name,
  kind: KINDS[name],
}));

/** Column index of each column name (`RAW_COL.thread_time` = 4). */
export const RAW_COL: Readonly<Record<RawColumnName, number>> = Object.fromEntries(
  NAMES.map((n, i) => [n, i]),
) as Record<RawColumnName, number>;

/** Rows per row group of a raw block file (DuckDB's default). */
export const ROW_GROUP_ROWS = 122_880;

/**
 * The columns a query sees in `raw_events`: the ids read back from a block's path
 * (`process_id`, `stream_id`, `block_id`), then the block's columns.
 */
export const RAW_EVENTS_COLUMNS: readonly string[] = ["process_id", "stream_id", "block_id", ...NAMES];

/** A query giving no rows with `raw_events`' columns and types (for a lake without blocks). */
export function rawEventsEmptySql(): string {
  const ids = ["process_id", "stream_id", "block_id"].map((n) => `NULL::VARCHAR AS ${n}`);
  const cols = RAW_BLOCK_COLUMNS.map((c) => `NULL::${RAW_KIND_SQL_TYPE[c.kind]} AS ${c.name}`);
  return `SELECT ${[...ids, ...cols].join(", ")} WHERE false`;
}

/**
 * The C header of the layout for the WebAssembly fast path (chrome/wasm/raw_block.h, written by
 * scripts/build_wasm.ts): `NC`, the column enum `C_<NAME>` (upper-case column names), kind
 * codes per column, `ROW_GROUP_ROWS` and the schema version.
 */
export function rawBlockCHeader(): string {
  const kindCode: Record<RawColumnKind, number> = { i64: 0, ts: 1, str: 2, bool: 3, json: 4 };
  return [
    "/* Generated from lib/lake/raw_block.ts by scripts/build_wasm.ts: do not edit. */",
    "#ifndef TRACELAKE_RAW_BLOCK_H",
    "#define TRACELAKE_RAW_BLOCK_H",
    "",
    `#define RAW_BLOCK_SCHEMA_VERSION ${RAW_BLOCK_SCHEMA_VERSION}`,
    `#define NC ${NAMES.length}`,
    `#define ROW_GROUP_ROWS ${ROW_GROUP_ROWS}`,
    "",
    "/* Column indexes, in file order. */",
    `enum { ${NAMES.map((n) => `C_${n.toUpperCase()}`).join(", ")} };`,
    "",
    "/* Column kinds. */",
    `enum { ${Object.entries(kindCode)
      .map(([k, v]) => `KIND_${k.toUpperCase()} = ${v}`)
      .join(", ")} };`,
    `static const unsigned char COLUMN_KIND[NC] = { ${RAW_BLOCK_COLUMNS.map((c) => `KIND_${c.kind.toUpperCase()}`).join(", ")} };`,
    "",
    "#endif",
    "",
  ].join("\n");
}
