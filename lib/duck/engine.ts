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
import { duckBindings } from "./bindings.ts";
import { prepareNativeDuckDB } from "./native.ts";

/** Positional (`?`/`$1`) or named (`$name`) parameters of a statement. */
export type Params = DuckDBValue[] | Record<string, DuckDBValue>;

/** A value the appender helper accepts. */
export type AppendValue = string | bigint | number | boolean | null;

/** Options for a new engine. */
export interface EngineOptions {
  /**
   * DuckDB worker threads; default: DuckDB's default (one per core, within the process's CPU
   * quota). Fewer suits a command whose queries are small once its views are current (an
   * export): its heavy steps, the JIT's partition writes, get the default back
   * (`withDefaultThreads`).
   */
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

/**
 * The settings every engine runs with, set on its connection once it is made:
 * - TimeZone UTC: catalog times are TIMESTAMPTZ; the connection shows and converts them in UTC,
 *   whatever the machine's zone.
 * - No FSST for the catalog's strings (`disabled_compression_methods`, a global setting: every
 *   connection of the instance, and only DuckDB's own storage, never Parquet). Choosing FSST
 *   builds a symbol table per string segment at each checkpoint (the catalog's DETACH): on the
 *   Chromium JSON sample's first ingest (compiled, 3 runs each) the DETACH after the migrations
 *   took 10-13 ms instead of 17-18 and the one after the commit 41-55 ms instead of 58-68; the
 *   whole ingest 960 against 992 ms and 1249 against 1293 ms (9 and 15 alternating runs, the
 *   machine at two levels), the catalog file the same size (3.68 MB). Segments already written with FSST are still read. Set with SET: DuckDB 1.5
 *   ignored the option in the instance's configuration (`current_setting` stayed empty).
 */
const SESSION_SETTINGS = "SET TimeZone = 'UTC'; SET disabled_compression_methods = 'fsst'";

/** The `duckdb_api` option node-api's DuckDBInstance.create sets (node-api lib/createConfig.js). */
const NODE_API_NAME = "node-neo-api";

/** The instance and connection `Engine.start` began creating, for the next `Engine.open`. */
let early: {
  creating: Promise<{ instance: DuckDBInstance; conn: DuckDBConnection }>;
  ownTempDir: string;
  /** The `threads` it is created with (undefined: DuckDB's default). */
  threads: number | undefined;
} | null = null;
/** `Engine.start` while it waits for the library, before it sets `early` (`open` waits for it). */
let starting: Promise<void> | null = null;

/** A new private spill directory's path (created by DuckDB only if it spills; removed by `close`). */
function newTempDirectory(): string {
  return join(tmpdir(), `tracelake-duckdb-${process.pid}-${crypto.randomUUID()}`);
}

/**
 * The configuration every instance is created with: extensions never downloaded, JSON and
 * Parquet autoloaded (built in), spills to `tempDirectory` (DuckDB's own default for an
 * in-memory database is `.tmp` in the working directory, which two processes would share), and
 * no external file cache (`enable_external_file_cache`, DuckDB 1.3+: on by default, it keeps
 * the bytes of the Parquet files a process reads in DuckDB's memory, where the system's page
 * cache already keeps them: the JIT reads each raw block two or three times, and the cache held
 * 15.7 MB at the end of a cold `export perfetto --all` of the real 174 MB Chromium JSON trace).
 * Compiled, alternating runs, medians, peak RSS (MB of 10^6 bytes) with the cache, then without:
 * that export 317 -> 300 (4 runs; 6.92 -> 6.72 s), of the 45.7 MB protobuf trace 329 -> 310
 * (3 runs); cold `flows` of the protobuf trace 292 -> 285, max 315 -> 293 (5 runs; 4.97 -> 4.99
 * s); cold thread_spans of the JSON trace 266 -> 252 (5 runs; 2.17 -> 2.13 s); warm queries,
 * export --process and replay the same (287, 1397 -> 1392, 639 -> 608 ms).
 */
function baseConfig(tempDirectory: string, threads: number | undefined): Record<string, string> {
  return {
    autoinstall_known_extensions: "false",
    autoload_known_extensions: "true",
    enable_external_file_cache: "false",
    temp_directory: tempDirectory,
    ...(threads ? { threads: String(threads) } : {}),
  };
}

/** A DuckDB instance with one connection. */
export class Engine {
  private constructor(
    readonly instance: DuckDBInstance,
    readonly conn: DuckDBConnection,
    private readonly ownTempDir: string | null,
    /** True when this engine took the instance `Engine.start` began creating. */
    readonly fromStart: boolean,
    /** EngineOptions.threads: the count its queries run with, but in `withDefaultThreads`. */
    private readonly threads: number | undefined,
    /** The engine this one was forked from (`fork`), null for one that owns its instance. */
    readonly forkOf: Engine | null = null,
  ) {}

  /**
   * Another engine of the same DuckDB instance, on a connection of its own with the session
   * settings: the instance's databases, tables, types and registered functions are shared, the
   * connection's variables, transaction and running statement are its own, so that it can run
   * statements while this one runs others (the JIT stages one partition group while it writes
   * another's files, lib/views/jit.ts). `close` closes only its connection.
   * @throws Error from DuckDB.
   */
  async fork(): Promise<Engine> {
    const conn = await this.instance.connect();
    try {
      await conn.run(SESSION_SETTINGS);
    } catch (e) {
      conn.closeSync();
      throw e;
    }
    const base = this.forkOf ?? this;
    const fork = new Engine(this.instance, conn, null, this.fromStart, this.threads, base);
    base.forks.add(fork);
    return fork;
  }

  /** The open forks of this engine (`fork`), which `interrupt` interrupts too. */
  private readonly forks = new Set<Engine>();

  /**
   * Interrupts the statement running on this engine's connection and on its forks' (Ctrl-C: a
   * partition's COPY may be running on a fork, lib/views/jit.ts); a connection with none is left
   * as it is. Never throws (a closed connection is skipped).
   */
  interrupt(): void {
    for (const e of [this, ...this.forks]) {
      try {
        e.conn.interrupt();
      } catch {
        // closed: nothing runs on it
      }
    }
  }

  /**
   * Starts creating the instance the next `open` (without `tempDirectory`) will take: loads
   * DuckDB's library, then issues the instance's creation, its connection and the connection's
   * settings (SESSION_SETTINGS), which DuckDB runs on threads of its own, and resolves once they
   * are under way, so that the caller's next work (a command loading its modules: about 25 ms of
   * the compiled binary's start) overlaps them. The caller need not wait: an `open` called
   * meanwhile waits for it. Never rejects: a failure is reported by that `open`. Does nothing
   * while an instance it started waits for its `open`.
   * @param nativeCacheDir as EngineOptions.nativeCacheDir.
   * @param threads as EngineOptions.threads: the `open` that takes the instance should ask for the
   *   same count (another costs a relaunch of DuckDB's threads there).
   */
  static start(nativeCacheDir?: string, threads?: number): Promise<void> {
    if (starting) return starting;
    if (early) return Promise.resolve();
    starting = Engine.begin(nativeCacheDir, threads).finally(() => {
      starting = null;
    });
    return starting;
  }

  /** `start`'s work: sets `early`. */
  private static async begin(nativeCacheDir: string | undefined, threads: number | undefined): Promise<void> {
    const ownTempDir = newTempDirectory();
    let creating: Promise<{ instance: DuckDBInstance; conn: DuckDBConnection }>;
    try {
      await prepareNativeDuckDB(nativeCacheDir);
      // Opened through node-bindings, so that node-api's import (~35 ms of JS, compiled) runs
      // while DuckDB creates the instance (~35 ms on its thread); node-api's DuckDBInstance
      // then wraps the handle, as its own `create` does.
      const b = await duckBindings();
      const config = b.create_config();
      b.set_config(config, "duckdb_api", NODE_API_NAME);
      for (const [k, v] of Object.entries(baseConfig(ownTempDir, threads))) b.set_config(config, k, v);
      const opening = b.open(":memory:", config);
      opening.catch(() => undefined);
      const { DuckDBInstance } = await duckApi();
      // The connection and its settings too, chained on the instance's creation (~9 ms,
      // compiled). Each step is issued from this thread, so it runs between the command's module
      // loads, not during one: a probe build had them done 11-15 ms after node-api's import.
      creating = opening.then(async (db) => {
        const instance = new DuckDBInstance(db as ConstructorParameters<typeof DuckDBInstance>[0]);
        const conn = await instance.connect();
        await conn.run(SESSION_SETTINGS);
        return { instance, conn };
      });
    } catch (e) {
      creating = Promise.reject(e);
    }
    // Not awaited here; an error surfaces in `open`.
    creating.catch(() => undefined);
    early = { creating, ownTempDir, threads };
  }

  /**
   * Creates an engine (taking the instance `start` began, if any, when no `tempDirectory` is
   * given). Extensions are never downloaded (the machine may be offline): JSON and Parquet are
   * built into the library.
   * @throws Error when DuckDB's library cannot be loaded or the instance cannot be created.
   */
  static async open(options: EngineOptions = {}): Promise<Engine> {
    if (starting) await starting;
    let instance: DuckDBInstance;
    let conn: DuckDBConnection;
    let ownTempDir: string | null;
    const fromStart = early !== null && options.tempDirectory === undefined;
    if (early && fromStart) {
      const e = early;
      early = null;
      ownTempDir = e.ownTempDir;
      ({ instance, conn } = await e.creating);
      // The options the configuration would have carried, set on the running instance.
      const settings: string[] = [];
      if (options.threads !== e.threads) {
        settings.push(options.threads ? `SET threads = ${Number(options.threads)}` : "RESET threads");
      }
      if (options.memoryLimit) settings.push(`SET memory_limit = ${sqlString(options.memoryLimit)}`);
      if (settings.length > 0) await conn.run(settings.join("; "));
    } else {
      await prepareNativeDuckDB(options.nativeCacheDir);
      const { DuckDBInstance } = await duckApi();
      ownTempDir = options.tempDirectory ? null : newTempDirectory();
      const config = baseConfig(options.tempDirectory ?? (ownTempDir as string), options.threads);
      if (options.memoryLimit) config.memory_limit = options.memoryLimit;
      instance = await DuckDBInstance.create(":memory:", config);
      conn = await instance.connect();
      await conn.run(SESSION_SETTINGS);
    }
    return new Engine(instance, conn, ownTempDir, fromStart, options.threads || undefined);
  }

  /**
   * Runs `fn` with DuckDB's default thread count (one per core) when the engine was opened with
   * EngineOptions.threads, and sets that count back after, thrown or not; otherwise just runs
   * `fn`. Each change relaunches DuckDB's threads (15-40 ms here): for heavy work only, such as
   * the JIT's partition writes.
   */
  async withDefaultThreads<T>(fn: () => Promise<T>): Promise<T> {
    if (this.threads === undefined) return fn();
    await this.run("RESET threads");
    try {
      return await fn();
    } finally {
      await this.run(`SET threads = ${Number(this.threads)}`);
    }
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

  /**
   * As `rows`, on a new connection of its own (closed after), so that several such reads run at
   * once on DuckDB's threads: a fresh process's first catalog reads cost 5-12 ms each, mostly
   * outside the JS thread. The connection sees what the main one attached.
   */
  async rowsApart<T = Record<string, unknown>>(sql: string, params?: Params): Promise<T[]> {
    const conn = await this.instance.connect();
    try {
      return (await conn.runAndReadAll(sql, params)).getRowObjectsJS() as T[];
    } finally {
      conn.closeSync();
    }
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

  /** Closes the connection and the instance (a fork: its connection only). */
  close(): void {
    this.conn.closeSync();
    if (this.forkOf !== null) {
      this.forkOf.forks.delete(this);
      return;
    }
    this.instance.closeSync();
    if (this.ownTempDir) rmSync(this.ownTempDir, { recursive: true, force: true });
  }

  /**
   * Ends the engine of a command whose process exits next, with no database attached for
   * writing (the caller's to know). On an engine opened with one thread (EngineOptions.threads
   * = 1: no thread of DuckDB's runs while the process exits) it removes the spill directory and
   * leaves the instance to the exit, which hands its memory back to the system at once, where
   * `close` destroys it object by object: 44 ms of a warm `export perfetto --process` here (15
   * alternating runs, compiled, 814 -> 770 ms). Otherwise it is `close`.
   */
  closeForExit(): void {
    if (this.threads !== 1) this.close();
    else if (this.ownTempDir) rmSync(this.ownTempDir, { recursive: true, force: true });
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
