/**
 * The @duckdb/node-bindings calls tracelake makes itself, below @duckdb/node-api, on its hot
 * paths: reading a result chunk's fixed-width and text vectors (cursor.ts, columnar.ts) and the
 * JS pass's scalar functions (lookup_functions.ts). node-api wraps each vector it hands out in
 * an object that also copies the vector's validity mask and looks up its logical type; on a
 * real trace's thread_spans build those wrappers cost more than the data copies themselves.
 * Signatures: node_modules/@duckdb/node-bindings/duckdb.d.ts (DuckDB's C API, duckdb.h).
 */

/** An opaque handle of node-bindings (a data chunk, a vector, a function's info). */
export type Handle = unknown;

/** The calls used; each is the C API function of the same name without `duckdb_`. */
export interface DuckBindings {
  data_chunk_get_size(chunk: Handle): number;
  data_chunk_get_vector(chunk: Handle, column: number): Handle;
  /** A copy of the first `byteCount` bytes of the vector's data. */
  vector_get_data(vector: Handle, byteCount: number): Uint8Array;
  /** A copy of the first `byteCount` bytes of the vector's validity mask, or null when every row is valid. */
  vector_get_validity(vector: Handle, byteCount: number): Uint8Array | null;
  struct_vector_get_child(vector: Handle, index: number): Handle;
  /** Copies `count` bytes of `source` from `sourceOffset` into the vector's data at `targetOffset`. */
  copy_data_to_vector(
    target: Handle,
    targetOffset: number,
    source: ArrayBuffer,
    sourceOffset: number,
    count: number,
  ): void;
  /** A copy of `length` bytes at the address stored at `offset` of `buffer` (a long string's bytes). */
  get_data_from_pointer(buffer: ArrayBuffer, offset: number, length: number): Uint8Array;
  scalar_function_set_function(sf: Handle, f: (info: Handle, input: Handle, output: Handle) => void): void;
  scalar_function_set_error(info: Handle, error: string): void;
  /** A new configuration (duckdb_create_config). */
  create_config(): Handle;
  /** Sets one option of a configuration. @throws Error for an unknown option or value. */
  set_config(config: Handle, name: string, value: string): void;
  /** Opens a database on one of DuckDB's threads; resolves to the handle node-api's DuckDBInstance wraps. */
  open(path: string, config: Handle): Promise<Handle>;
}

let bindings: DuckBindings | null = null;

/**
 * The loaded bindings. Call only once an Engine is open (lib/duck/native.ts must have prepared
 * the native library first, as for node-api).
 */
export async function duckBindings(): Promise<DuckBindings> {
  if (bindings) return bindings;
  bindings = (await import("@duckdb/node-bindings")).default as unknown as DuckBindings;
  return bindings;
}

/** The raw data chunk inside a node-api DuckDBDataChunk (its `chunk` field). */
export function rawChunk(chunk: unknown): Handle {
  return (chunk as { chunk: Handle }).chunk;
}

/**
 * Bytes per value of DuckDB's fixed-width type ids tracelake reads as typed arrays (DuckDBTypeId:
 * TINYINT 2, INTEGER 4, BIGINT 5, UBIGINT 9, DOUBLE 11), 16 for VARCHAR (17: duckdb_string_t),
 * else 0.
 */
export function valueBytes(typeId: number): number {
  switch (typeId) {
    case 2:
      return 1;
    case 4:
      return 4;
    case 5:
    case 9:
    case 11:
      return 8;
    case 17:
      return 16;
    default:
      return 0;
  }
}

/**
 * The data of a fixed-width vector of `rows` values, copied, as the typed array of its type id
 * (Int8Array, Int32Array, BigInt64Array, BigUint64Array or Float64Array), as node-api's vectors
 * hold them.
 * @throws Error for another type.
 */
export function typedData(
  b: DuckBindings,
  vector: Handle,
  typeId: number,
  rows: number,
): Int8Array | Int32Array | BigInt64Array | BigUint64Array | Float64Array {
  const width = valueBytes(typeId);
  let u8 = b.vector_get_data(vector, rows * width);
  // The copy is a new buffer; a view at an unaligned offset would not make a typed array.
  if (u8.byteOffset % 8 !== 0) u8 = u8.slice();
  switch (typeId) {
    case 2:
      return new Int8Array(u8.buffer, u8.byteOffset, rows);
    case 4:
      return new Int32Array(u8.buffer, u8.byteOffset, rows);
    case 5:
      return new BigInt64Array(u8.buffer, u8.byteOffset, rows);
    case 9:
      return new BigUint64Array(u8.buffer, u8.byteOffset, rows);
    case 11:
      return new Float64Array(u8.buffer, u8.byteOffset, rows);
    default:
      throw new Error(`a column of DuckDB type id ${typeId} is not a fixed-width number`);
  }
}
