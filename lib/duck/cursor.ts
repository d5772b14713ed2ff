/**
 * A streaming DuckDB result read chunk by chunk (at most 2048 rows each) on its own connection:
 * fixed-width numeric columns as the vectors' typed arrays (no per-value conversion), text
 * columns per value on demand. The following chunk is requested as soon as one arrives, so
 * DuckDB fetches it while JS encodes. Memory: two chunks per cursor.
 */
import type { DuckDBConnection, DuckDBDataChunk, DuckDBResult } from "@duckdb/node-api";
import type { Engine, Params } from "./engine.ts";

interface RawVector {
  items: Float64Array | Int32Array | Int8Array | BigInt64Array;
  getItem(i: number): unknown;
  /** VARCHAR vectors: 16-byte string_t per row (duckdb.h duckdb_string_t: length, then 12 inline bytes or prefix + pointer). */
  dataView: DataView;
  /** node-api's DuckDBValidity: `data` (DuckDB's bitmask as 64-bit words; null: every row valid) from `offset`. */
  validity: { itemValid(i: number): boolean; data: BigUint64Array | null; offset: number };
}

/** The decoder of text values (DuckDB's VARCHAR is UTF-8). */
const UTF8 = new TextDecoder();

type Bindings = { get_data_from_pointer(buffer: ArrayBuffer, offset: number, length: number): Uint8Array };

/**
 * Rows of one query, a chunk at a time. `open` starts the query; `next()` loads the following
 * chunk and returns false at the end; `num(k)` is column k as a typed array (the column must be
 * DOUBLE, INTEGER or TINYINT and never NULL: coalesce in the SQL); `text(k, i)` reads a VARCHAR
 * or JSON value (null for NULL). `close()` ends the query and its connection.
 */
export class ChunkCursor {
  rowCount = 0;
  private chunk: DuckDBDataChunk | null = null;
  private constructor(
    private readonly conn: DuckDBConnection,
    private readonly result: DuckDBResult,
    private readonly bindings: Bindings,
  ) {}

  /**
   * Runs `sql` as a streaming query on a new connection of `engine`.
   * @throws Error from DuckDB when the query fails to prepare or start.
   */
  static async open(engine: Engine, sql: string, params?: Params): Promise<ChunkCursor> {
    const bindings = (await import("@duckdb/node-bindings")).default as unknown as Bindings;
    const conn = await engine.connect();
    try {
      return new ChunkCursor(conn, await conn.stream(sql, params), bindings);
    } catch (e) {
      conn.closeSync();
      throw e;
    }
  }

  /** The following chunk, already requested (DuckDB produces it while JS reads this one). */
  private ahead: Promise<DuckDBDataChunk | null> | null = null;

  /** Loads the next chunk; false when the result is exhausted. */
  async next(): Promise<boolean> {
    const c = await (this.ahead ?? this.result.fetchChunk());
    this.ahead = c && c.rowCount > 0 ? this.result.fetchChunk() : null;
    if (!c || c.rowCount === 0) {
      this.chunk = null;
      this.u8 = [];
      this.valid8 = [];
      this.rowCount = 0;
      return false;
    }
    this.chunk = c;
    this.rowCount = c.rowCount;
    this.u8 = [];
    this.valid8 = [];
    return true;
  }

  /** Column k of the current chunk as a typed array. */
  num<T extends Float64Array | Int32Array | Int8Array | BigInt64Array>(k: number): T {
    return (this.chunk?.getColumnVector(k) as unknown as RawVector).items as T;
  }

  /**
   * Text value of column k, row i of the current chunk (a VARCHAR or JSON column), decoded from
   * the bytes `textBytes` finds as node-api's getItem decodes them (UTF-8), without its NULL
   * test, which builds BigInts: 195 ms of a 5.6 s cold `flows` build of the 33.5 MB protobuf
   * trace.
   */
  text(k: number, i: number): string | null {
    if (!this.textBytes(k, i)) return null;
    return this.refLen === 0 ? "" : UTF8.decode(this.refBuf.subarray(this.refOff, this.refOff + this.refLen));
  }

  /** Bytes found by the last `textBytes` call: `refBuf[refOff, refOff + refLen)`. */
  refBuf: Uint8Array = new Uint8Array(0);
  refOff = 0;
  refLen = 0;
  private u8: (Uint8Array | undefined)[] = [];
  /**
   * Per column of the current chunk, DuckDB's validity bitmask as bytes (row i valid: bit i & 7
   * of byte i >> 3, the 64-bit words being little-endian), null when every row is valid. node-api's
   * own `itemValid` builds two BigInts per call: 170 ms of a 4 s export of the real 33.5 MB
   * protobuf trace.
   */
  private valid8: (Uint8Array | null | undefined)[] = [];

  /** True when row i of column k (vector v) of the current chunk is not NULL. */
  private valid(k: number, v: RawVector, i: number): boolean {
    let b = this.valid8[k];
    if (b === undefined) {
      const { data, offset } = v.validity;
      // A vector sliced at an offset (not what a result chunk holds): node-api's own test.
      if (data !== null && offset !== 0) return v.validity.itemValid(i);
      b = data === null ? null : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      this.valid8[k] = b;
    }
    return b === null || (((b[i >> 3] as number) >> (i & 7)) & 1) === 1;
  }

  /**
   * Locates the UTF-8 bytes of a VARCHAR/JSON value (column k, row i) without decoding them to
   * a JS string or allocating per row: for strings of ≤ 12 bytes, `refBuf` is a view of the
   * whole vector made once per chunk (valid until the next chunk); longer strings are copied
   * by the native binding, as node-api's own getStringBytes does
   * (node_modules/@duckdb/node-api/lib/vectors/dataAccessors.js; layout: duckdb.h
   * duckdb_string_t). Returns false for NULL.
   */
  textBytes(k: number, i: number): boolean {
    const v = this.chunk?.getColumnVector(k) as unknown as RawVector;
    if (!this.valid(k, v, i)) return false;
    const dv = v.dataView;
    let u8 = this.u8[k];
    if (u8 === undefined) {
      u8 = new Uint8Array(dv.buffer, dv.byteOffset, dv.byteLength);
      this.u8[k] = u8;
    }
    const len = dv.getUint32(i * 16, true);
    this.refLen = len;
    if (len <= 12) {
      this.refBuf = u8;
      this.refOff = i * 16 + 4;
    } else {
      this.refBuf = this.bindings.get_data_from_pointer(dv.buffer as ArrayBuffer, dv.byteOffset + i * 16 + 8, len);
      this.refOff = 0;
    }
    return true;
  }

  /** Ends the query and closes its connection (idempotent). */
  close(): void {
    this.ahead?.catch(() => undefined);
    this.ahead = null;
    try {
      this.conn.closeSync();
    } catch {
      // already closed
    }
  }
}
