/**
 * A streaming DuckDB result read chunk by chunk (at most 2048 rows each) on its own connection:
 * fixed-width numeric columns as the vectors' typed arrays (no per-value conversion), text
 * columns per value on demand. Memory: one chunk per cursor.
 */
import type { DuckDBConnection, DuckDBDataChunk, DuckDBResult } from "@duckdb/node-api";
import type { Engine, Params } from "../sql/engine.ts";

interface RawVector {
  items: Float64Array | Int32Array | Int8Array | BigInt64Array;
  getItem(i: number): unknown;
}

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
  ) {}

  /**
   * Runs `sql` as a streaming query on a new connection of `engine`.
   * @throws Error from DuckDB when the query fails to prepare or start.
   */
  static async open(engine: Engine, sql: string, params?: Params): Promise<ChunkCursor> {
    const conn = await engine.connect();
    try {
      return new ChunkCursor(conn, await conn.stream(sql, params));
    } catch (e) {
      conn.closeSync();
      throw e;
    }
  }

  /** Loads the next chunk; false when the result is exhausted. */
  async next(): Promise<boolean> {
    const c = await this.result.fetchChunk();
    if (!c || c.rowCount === 0) {
      this.chunk = null;
      this.rowCount = 0;
      return false;
    }
    this.chunk = c;
    this.rowCount = c.rowCount;
    return true;
  }

  /** Column k of the current chunk as a typed array. */
  num<T extends Float64Array | Int32Array | Int8Array | BigInt64Array>(k: number): T {
    return (this.chunk?.getColumnVector(k) as unknown as RawVector).items as T;
  }

  /** Text value of column k, row i of the current chunk. */
  text(k: number, i: number): string | null {
    return (this.chunk?.getColumnVector(k) as unknown as RawVector).getItem(i) as string | null;
  }

  /** Ends the query and closes its connection (idempotent). */
  close(): void {
    try {
      this.conn.closeSync();
    } catch {
      // already closed
    }
  }
}
