/**
 * The DuckDB engine: one in-process DuckDB instance (in-memory main database) used for
 * catalog access (the lake's catalog.duckdb is ATTACHed as `lake`), ingest transforms and
 * user queries.
 */

import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DuckDBConnection, DuckDBInstance, DuckDBResultReader, DuckDBValue } from "@duckdb/node-api";
import { duckApi } from "./api.ts";
import { prepareNativeDuckDB } from "./native.ts";

/** Positional (`?`/`$1`) or named (`$name`) parameters of a statement. */
export type Params = DuckDBValue[] | Record<string, DuckDBValue>;

/** A value the appender helper accepts. */
export type AppendValue = string | bigint | number | boolean | null;

/** Options for a new engine. */
export interface EngineOptions {
  /** DuckDB worker threads; default: DuckDB's default (one per core). */
  threads?: number;
  /** DuckDB memory limit, e.g. "2GB"; default DuckDB's (80% of RAM). */
  memoryLimit?: string;
  /**
   * Directory for DuckDB's spill files. Default: a new private directory under the OS temp
   * dir, removed by `close()`. (DuckDB's own default for an in-memory database is `.tmp` in
   * the working directory, which two tracelake processes would share.)
   */
  tempDirectory?: string;
  /**
   * Where a compiled binary unpacks DuckDB's native library (native.ts `cacheDir`, which cmd/
   * computes from the environment); required there, unused when running from source.
   */
  nativeCacheDir?: string;
}

/** A DuckDB instance with one connection. */
export class Engine {
  private constructor(
    readonly instance: DuckDBInstance,
    readonly conn: DuckDBConnection,
    private readonly ownTempDir: string | null,
  ) {}

  /**
   * Creates an engine. Extensions are never downloaded (the machine may be offline): JSON and
   * Parquet are built into the library.
   */
  static async open(options: EngineOptions = {}): Promise<Engine> {
    await prepareNativeDuckDB(options.nativeCacheDir);
    const { DuckDBInstance } = await duckApi();
    const config: Record<string, string> = {
      autoinstall_known_extensions: "false",
      autoload_known_extensions: "true",
    };
    if (options.threads) config.threads = String(options.threads);
    if (options.memoryLimit) config.memory_limit = options.memoryLimit;
    const ownTempDir = options.tempDirectory
      ? null
      : join(tmpdir(), `tracelake-duckdb-${process.pid}-${crypto.randomUUID()}`);
    config.temp_directory = options.tempDirectory ?? (ownTempDir as string);
    const instance = await DuckDBInstance.create(":memory:", config);
    const conn = await instance.connect();
    // Catalog times are TIMESTAMPTZ; show and convert them in UTC whatever the machine's zone.
    await conn.run("SET TimeZone = 'UTC'");
    return new Engine(instance, conn, ownTempDir);
  }

  /** Runs a statement and discards its result. */
  async run(sql: string, params?: Params): Promise<void> {
    await this.conn.run(sql, params);
  }

  /** Runs a statement and returns all rows as objects with JS values (BIGINT → bigint). */
  async rows<T = Record<string, unknown>>(sql: string, params?: Params): Promise<T[]> {
    const r = await this.conn.runAndReadAll(sql, params);
    return r.getRowObjectsJS() as T[];
  }

  /** Runs a statement and returns all rows as objects with JSON-friendly values. */
  async rowsJson<T = Record<string, unknown>>(sql: string, params?: Params): Promise<T[]> {
    const r = await this.conn.runAndReadAll(sql, params);
    return r.getRowObjectsJson() as T[];
  }

  /** Runs a statement and returns the reader (column names, types, rows). */
  async read(sql: string, params?: Params): Promise<DuckDBResultReader> {
    return this.conn.runAndReadAll(sql, params);
  }

  /**
   * Appends rows to a table of `main` with DuckDB's appender: strings → VARCHAR, bigints → BIGINT,
   * numbers → DOUBLE, booleans → BOOLEAN, null → NULL. Types must match the table's columns.
   * Values travel as values, never as SQL text: any string (NUL bytes, quotes) arrives verbatim.
   * @param table unquoted table name.
   * @param catalog "temp" (a TEMP table, the default) or "memory" (the in-memory database).
   */
  async append(table: string, rows: readonly (readonly AppendValue[])[], catalog = "temp"): Promise<void> {
    const app = await this.conn.createAppender(table, "main", catalog);
    try {
      for (const row of rows) {
        for (const v of row) {
          if (v === null) app.appendNull();
          else if (typeof v === "string") app.appendVarchar(v);
          else if (typeof v === "bigint") app.appendBigInt(v);
          else if (typeof v === "boolean") app.appendBoolean(v);
          else app.appendDouble(v);
        }
        app.endRow();
      }
      app.flushSync();
    } finally {
      app.closeSync();
    }
  }

  /**
   * Opens another connection to the same in-memory database, for reading a streaming result
   * while this one writes. Temp tables are per connection: share data through `memory.main`.
   * The caller closes it (`closeSync()`).
   */
  async connect(): Promise<DuckDBConnection> {
    return this.instance.connect();
  }

  /** Runs `fn` in a transaction: COMMIT when it returns, ROLLBACK when it throws. */
  async transaction<T>(fn: () => Promise<T>): Promise<T> {
    await this.run("BEGIN TRANSACTION");
    try {
      const v = await fn();
      await this.run("COMMIT");
      return v;
    } catch (e) {
      await this.run("ROLLBACK").catch(() => undefined);
      throw e;
    }
  }

  /** Closes the connection and the instance. */
  close(): void {
    this.conn.closeSync();
    this.instance.closeSync();
    if (this.ownTempDir) rmSync(this.ownTempDir, { recursive: true, force: true });
  }
}

/**
 * Quotes a string as a SQL string literal, for the few places DuckDB takes no parameter, and
 * only for text tracelake made (paths, generated ids): values from an input reach SQL as
 * parameters or through tables (DESIGN.md "The lake on disk").
 * @throws Error on a NUL character, which no SQL text can hold (DuckDB's parser stops there).
 */
export function sqlString(s: string): string {
  if (s.includes("\u0000"))
    throw new Error(`sqlString: a NUL character cannot be quoted in SQL text (${JSON.stringify(s)})`);
  return `'${s.replaceAll("'", "''")}'`;
}

/**
 * Quotes an identifier.
 * @throws Error on a NUL character (see sqlString).
 */
export function sqlIdent(s: string): string {
  if (s.includes("\u0000"))
    throw new Error(`sqlIdent: a NUL character cannot be quoted in SQL text (${JSON.stringify(s)})`);
  return `"${s.replaceAll('"', '""')}"`;
}
