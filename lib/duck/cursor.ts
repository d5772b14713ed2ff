/**
 * A streaming DuckDB result read chunk by chunk (at most 2048 rows each) on its own connection:
 * fixed-width numeric columns as the vectors' typed arrays (no per-value conversion), text
 * columns per value on demand. The following chunk is requested as soon as one arrives, so
 * DuckDB fetches it while JS encodes. Memory: two chunks per cursor.
 */
import type { DuckDBConnection, DuckDBDataChunk, DuckDBResult } from "@duckdb/node-api";
import { type DuckBindings, duckBindings, type Handle, rawChunk, typedData, valueBytes } from "./bindings.ts";
import type { Engine, Params } from "./engine.ts";
import { PointerCopy } from "./pointer_copy.ts";

/** The decoder of text values (DuckDB's VARCHAR is UTF-8). */
const UTF8 = new TextDecoder();

/** DuckDB's type id of VARCHAR (DuckDBTypeId); JSON columns arrive as VARCHAR vectors. */
const VARCHAR = 17;

/**
 * Rows of one query, a chunk at a time. `open` starts the query; `next()` loads the following
 * chunk and returns false at the end; `num(k)` is column k as a typed array (the column must be
 * DOUBLE, INTEGER, BIGINT or TINYINT and never NULL: coalesce in the SQL); `text(k, i)` reads a
 * VARCHAR or JSON value (null for NULL). `close()` ends the query and its connection. Vectors are
 * copied out through node-bindings (bindings.ts), each at most once per chunk.
 */
export class ChunkCursor {
  rowCount = 0;
  private chunk: Handle | null = null;
  private conn: DuckDBConnection | null = null;
  private result: DuckDBResult | null = null;
  /** DuckDB type id of each column. */
  private types: number[] = [];
  /** The query's start (connection, statement, first results), until `next` has waited for it. */
  private opening: Promise<void> | null = null;
  /** True while the query starts (between `start` and the end of `begin`). */
  private starting = false;
  private closed = false;

  private constructor(private readonly bindings: DuckBindings) {}

  /**
   * Runs `sql` as a streaming query on a new connection of `engine`, and returns once it has
   * started producing rows (a sorted query: once it has sorted).
   * @throws Error from DuckDB when the query fails to prepare or start.
   */
  static async open(engine: Engine, sql: string, params?: Params): Promise<ChunkCursor> {
    const cur = await ChunkCursor.start(engine, sql, params);
    await cur.opening;
    cur.opening = null;
    return cur;
  }

  /**
   * As `open`, but returns at once: the query starts on DuckDB's threads while the caller goes
   * on (an export opens a cursor per view of each process, each sorting or reading ahead before
   * its first row). Its failure is thrown by the first `next`.
   */
  static async start(engine: Engine, sql: string, params?: Params): Promise<ChunkCursor> {
    const cur = new ChunkCursor(await duckBindings());
    cur.starting = true;
    cur.opening = cur.begin(engine, sql, params);
    // Not awaited until `next`: a cursor closed before that must not report its failure.
    cur.opening.catch(() => undefined);
    return cur;
  }

  private async begin(engine: Engine, sql: string, params: Params | undefined): Promise<void> {
    let conn: DuckDBConnection | null = null;
    try {
      conn = await engine.connect();
      this.conn = conn;
      if (this.closed) throw new Error("the cursor was closed before its query started");
      const result = await conn.stream(sql, params);
      this.result = result;
      for (let k = 0; k < result.columnCount; k++) this.types.push(result.columnTypeId(k));
    } catch (e) {
      this.conn = null;
      conn?.closeSync();
      throw e;
    } finally {
      this.starting = false;
    }
    // Closed while it started: the connection goes now that nothing runs on it.
    if (this.closed) this.close();
  }

  /** The following chunk, already requested (DuckDB produces it while JS reads this one). */
  private ahead: Promise<DuckDBDataChunk | null> | null = null;

  /** Loads the next chunk; false when the result is exhausted. */
  async next(): Promise<boolean> {
    if (this.opening) {
      await this.opening;
      this.opening = null;
    }
    const result = this.result as DuckDBResult;
    const c = await (this.ahead ?? result.fetchChunk());
    this.ahead = c && c.rowCount > 0 ? result.fetchChunk() : null;
    this.nums = [];
    this.u8 = [];
    this.valid8 = [];
    if (!c || c.rowCount === 0) {
      this.chunk = null;
      this.rowCount = 0;
      return false;
    }
    this.chunk = rawChunk(c);
    this.rowCount = c.rowCount;
    return true;
  }

  private nums: (Int8Array | Int32Array | BigInt64Array | BigUint64Array | Float64Array | undefined)[] = [];

  /** Column k of the current chunk as a typed array. */
  num<T extends Float64Array | Int32Array | Int8Array | BigInt64Array | BigUint64Array>(k: number): T {
    let a = this.nums[k];
    if (a === undefined) {
      a = typedData(this.bindings, this.vector(k), this.types[k] as number, this.rowCount);
      this.nums[k] = a;
    }
    return a as T;
  }

  private vector(k: number): Handle {
    return this.bindings.data_chunk_get_vector(this.chunk, k);
  }

  /**
   * Text value of column k, row i of the current chunk (a VARCHAR or JSON column), decoded from
   * the bytes `textBytes` finds (UTF-8), as node-api's getItem decodes them.
   */
  text(k: number, i: number): string | null {
    // Its own buffer for long strings, so that a text read does not overwrite the bytes a
    // caller holds from textBytes.
    if (!this.locate(k, i, this.textCopy)) return null;
    return this.refLen === 0 ? "" : UTF8.decode(this.refBuf.subarray(this.refOff, this.refOff + this.refLen));
  }

  /** Bytes found by the last `textBytes` call: `refBuf[refOff, refOff + refLen)`. */
  refBuf: Uint8Array = new Uint8Array(0);
  refOff = 0;
  refLen = 0;
  /** Per text column of the current chunk, its vector's 16-byte string_t values. */
  private u8: (Uint8Array | undefined)[] = [];
  /**
   * Per column of the current chunk, DuckDB's validity bitmask as bytes (row i valid: bit i & 7
   * of byte i >> 3, the 64-bit words being little-endian), null when every row is valid.
   */
  private valid8: (Uint8Array | null | undefined)[] = [];

  /** True when row i of column k of the current chunk is not NULL. */
  private valid(k: number, i: number): boolean {
    let b = this.valid8[k];
    if (b === undefined) {
      b = this.bindings.vector_get_validity(this.vector(k), Math.ceil(this.rowCount / 64) * 8);
      this.valid8[k] = b;
    }
    return b === null || (((b[i >> 3] as number) >> (i & 7)) & 1) === 1;
  }

  /**
   * Locates the UTF-8 bytes of a VARCHAR/JSON value (column k, row i) without decoding them to
   * a JS string or allocating per row: for strings of ≤ 12 bytes, `refBuf` is the vector's data
   * copied once per chunk (valid until the next chunk); longer strings are copied into a buffer
   * of the cursor's (PointerCopy: valid until the next textBytes call; `text` calls do not touch
   * it) from the pointer, as node-api's own getStringBytes reads them
   * (node_modules/@duckdb/node-api/lib/vectors/dataAccessors.js; layout: duckdb.h
   * duckdb_string_t: a 4-byte length, then 12 inline bytes or a 4-byte prefix and a pointer).
   * Returns false for NULL.
   * @throws Error when column k is not text.
   */
  textBytes(k: number, i: number): boolean {
    return this.locate(k, i, this.bytesCopy);
  }

  /** Long strings' copies for textBytes, and for text. */
  private readonly bytesCopy = new PointerCopy();
  private readonly textCopy = new PointerCopy();

  /** textBytes, copying a long string with `copier`. */
  private locate(k: number, i: number, copier: PointerCopy): boolean {
    if (!this.valid(k, i)) return false;
    let u8 = this.u8[k];
    if (u8 === undefined) {
      if (this.types[k] !== VARCHAR) throw new Error(`column ${k} is not text (DuckDB type id ${this.types[k]})`);
      u8 = this.bindings.vector_get_data(this.vector(k), this.rowCount * valueBytes(VARCHAR));
      this.u8[k] = u8;
    }
    const o = i * 16;
    const len =
      (u8[o] as number) | ((u8[o + 1] as number) << 8) | ((u8[o + 2] as number) << 16) | ((u8[o + 3] as number) << 24);
    this.refLen = len;
    if (len <= 12) {
      this.refBuf = u8;
      this.refOff = o + 4;
    } else {
      this.refBuf =
        copier.copy(u8, o + 8, len) ??
        this.bindings.get_data_from_pointer(u8.buffer as ArrayBuffer, u8.byteOffset + o + 8, len);
      this.refOff = 0;
    }
    return true;
  }

  /**
   * Ends the query and closes its connection (idempotent). A query still starting is
   * interrupted, and its connection closed once the start returns.
   */
  close(): void {
    this.closed = true;
    this.ahead?.catch(() => undefined);
    this.ahead = null;
    if (this.starting) {
      this.conn?.interrupt();
      return;
    }
    try {
      this.conn?.closeSync();
    } catch {
      // already closed
    }
    this.conn = null;
  }
}
