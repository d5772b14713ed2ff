/**
 * A lake: a directory with `catalog.duckdb`, `blobs/`, `views/` and `tmp/`.
 *
 * The catalog is ATTACHed to an engine as `lake` only for as long as an operation needs it
 * (a query's lifetime, the start and the commit of an ingest), because DuckDB lets one process
 * hold a database file for writing at a time: another tracelake process that finds the catalog
 * locked waits and retries for a while before it gives up with a clear message.
 */
import { existsSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { type Engine, sqlString } from "../duck/engine.ts";
import { LakeError, messageOf } from "../errors.ts";
import { lakeFaultError } from "./fs_errors.ts";
import { type LakeLayout, layoutOf } from "./layout.ts";
import { LATEST_VERSION, MIGRATIONS } from "./migrations.ts";

/** How the catalog is attached. */
export type AttachMode = "read" | "write";

/** Options for `openLake`. */
export interface OpenLakeOptions {
  /** Create the lake when the directory does not exist or is empty (default true). */
  create?: boolean;
  /** How long to keep retrying when another process holds the catalog, in ms (default 30 000). */
  lockTimeoutMs?: number;
  /**
   * Leave the catalog attached read-only after opening (default false), for a caller that
   * reads it at once (a query's preparation) and detaches it: saves an ATTACH.
   */
  keepAttached?: boolean;
  /** Test-only pause points (`Lake.pause`); default: none. */
  pause?: PauseHook;
}

/**
 * A test-only hook called at named points of the operations that change the lake (gc, retire;
 * e.g. `retire-before-commit`), so that a crash test can kill the process at exactly that moment
 * (the CLI installs one from its environment: cmd/common.ts). It returns when the operation may
 * go on.
 */
export type PauseHook = (point: string) => Promise<void>;

/** An opened lake: its layout, with the catalog migrated to the latest version. */
export class Lake {
  private attached: AttachMode | null = null;
  private writeAttachCount = 0;
  private createdEmpty = false;

  private constructor(
    readonly layout: LakeLayout,
    private readonly lockTimeoutMs: number,
    /** The test-only pause hook (OpenLakeOptions.pause): returns at once unless a test set one. */
    readonly pause: PauseHook,
  ) {}

  /** How the catalog is attached to the engine now (null: not attached). */
  get attachedMode(): AttachMode | null {
    return this.attached;
  }

  /**
   * How many times `attach(engine, "write")` was called to attach for writing (counted when
   * called, before the attach completes): a caller that saw this number before an operation
   * knows whether the operation has begun to commit since.
   */
  get writeAttachStarts(): number {
    return this.writeAttachCount;
  }

  /**
   * True when this process created the lake (no catalog before `open`) and no ingest has been
   * committed through this object since: no earlier ingest can match a file's content, so the
   * ingest's early duplicate check (attach, query, detach: ~20 ms of a sample's ingest into a
   * new lake) can be skipped. A concurrent ingest of the same content is still caught at commit.
   */
  get knownEmpty(): boolean {
    return this.createdEmpty;
  }

  /** Records that an ingest was committed (knownEmpty is false from now on). */
  noteIngestCommitted(): void {
    this.createdEmpty = false;
  }

  /** The lake's root directory (absolute). */
  get root(): string {
    return this.layout.root;
  }

  /**
   * Opens (and when asked, creates) the lake at `dir`, and runs pending migrations.
   * @throws LakeError when `dir` is a file, is a non-empty directory without a catalog, the
   *   catalog was written by a newer tracelake, or the catalog cannot be opened.
   */
  static async open(engine: Engine, dir: string, options: OpenLakeOptions = {}): Promise<Lake> {
    const root = resolve(dir);
    const layout = layoutOf(root);
    const create = options.create ?? true;
    if (existsSync(root) && !statSync(root).isDirectory()) {
      throw new LakeError(`the lake path ${root} is a file, not a directory; pass --lake DIR`);
    }
    const hasCatalog = existsSync(layout.catalog);
    if (!hasCatalog) {
      if (!create) {
        throw new LakeError(`no lake at ${root} (no catalog.duckdb); ingest a trace first or pass --lake DIR`);
      }
      if (existsSync(root) && readdirSync(root).length > 0) {
        throw new LakeError(
          `${root} is not a tracelake lake (it has files but no catalog.duckdb); pass --lake with a new or empty directory`,
        );
      }
    }
    try {
      for (const d of [root, layout.blobs, layout.views, layout.tmp]) mkdirSync(d, { recursive: true });
    } catch (e) {
      throw lakeFaultError(e, root) ?? new LakeError(`cannot create the lake at ${root}: ${messageOf(e)}`);
    }
    const lake = new Lake(layout, options.lockTimeoutMs ?? 30_000, options.pause ?? (async () => undefined));
    await lake.migrate(engine, hasCatalog, options.keepAttached ?? false);
    lake.createdEmpty = !hasCatalog;
    return lake;
  }

  /**
   * Attaches the catalog as `lake`. Retries while another process holds it.
   * @throws LakeError when it stays locked past the timeout or cannot be opened.
   */
  async attach(engine: Engine, mode: AttachMode): Promise<void> {
    if (this.attached === mode) return;
    if (mode === "write") this.writeAttachCount++;
    if (this.attached) await this.detach(engine);
    const sql = `ATTACH ${sqlString(this.layout.catalog)} AS lake${mode === "read" ? " (READ_ONLY)" : ""}`;
    const deadline = Date.now() + this.lockTimeoutMs;
    let delay = 25;
    for (;;) {
      try {
        await engine.run(sql);
        this.attached = mode;
        return;
      } catch (e) {
        const msg = messageOf(e);
        // DuckDB: "Could not set lock on file ...: Conflicting lock is held in ..." (not the
        // "block" of a checksum error).
        const locked = /Could not set lock|Conflicting lock/i.test(msg);
        if (locked && Date.now() < deadline) {
          await Bun.sleep(delay);
          delay = Math.min(delay * 2, 500);
          continue;
        }
        if (locked) {
          throw new LakeError(
            `the lake at ${this.root} is in use by another tracelake process (${firstLine(msg)}); wait for it to finish and retry`,
          );
        }
        throw (
          lakeFaultError(e, this.root, true) ??
          new LakeError(`cannot open the lake catalog ${this.layout.catalog}: ${firstLine(msg)}`)
        );
      }
    }
  }

  /** Detaches the catalog if attached. */
  async detach(engine: Engine): Promise<void> {
    if (!this.attached) return;
    await engine.run("DETACH lake");
    this.attached = null;
  }

  /** The catalog version recorded in the lake (0 for a new catalog, which has no migrations table). */
  static async version(engine: Engine): Promise<number> {
    // One statement on the usual path; a new catalog has no migrations table (DuckDB's Catalog
    // Error names it).
    try {
      const v = await engine.rows<{ v: number | null }>("SELECT max(version) AS v FROM lake.migrations");
      return v[0]?.v ?? 0;
    } catch (e) {
      if (/Catalog Error: Table with name migrations does not exist/.test(messageOf(e))) return 0;
      throw e;
    }
  }

  /** Returns `version`, or throws LakeError when a newer tracelake wrote the catalog. */
  private checkVersion(version: number): number {
    if (version > LATEST_VERSION) {
      throw new LakeError(
        `the lake at ${this.root} was written by a newer tracelake (catalog version ${version}; this one knows up to ${LATEST_VERSION}); upgrade tracelake`,
      );
    }
    return version;
  }

  private async migrate(engine: Engine, existed: boolean, keepAttached: boolean): Promise<void> {
    await this.attach(engine, existed ? "read" : "write");
    let current = false;
    try {
      let version = this.checkVersion(await Lake.version(engine));
      current = version === LATEST_VERSION && existed;
      if (version === LATEST_VERSION) return;
      // Re-read under the write lock: another process may have migrated meanwhile.
      await this.attach(engine, "write");
      version = this.checkVersion(await Lake.version(engine));
      if (version === LATEST_VERSION) return;
      // One round trip for all (a new lake runs every migration: 30-40 ms one by one).
      const statements = [
        "CREATE TABLE IF NOT EXISTS lake.migrations(version INTEGER PRIMARY KEY, description VARCHAR, applied_at TIMESTAMPTZ)",
      ];
      for (const m of MIGRATIONS) {
        if (m.version <= version) continue;
        statements.push(
          ...m.statements,
          `INSERT INTO lake.migrations VALUES (${m.version}, ${sqlString(m.description)}, now())`,
        );
      }
      await engine.transaction(() => engine.run(statements.join(";\n")));
    } finally {
      if (!(keepAttached && current)) await this.detach(engine);
    }
  }

  /**
   * Returns `count` strictly increasing insert times (µs precision, as DuckDB's TIMESTAMPTZ)
   * after every insert time already in the lake: the first is max(now, last + 1 µs), the next
   * ones follow 1 µs apart. The catalog must be attached for writing; call it inside the
   * transaction that inserts them so that no other writer can interleave.
   * @returns times in microseconds since the Unix epoch.
   */
  static async nextInsertTimes(engine: Engine, count: number): Promise<bigint[]> {
    const r = await engine.rows<{ last: bigint | null }>(
      `SELECT max(t) AS last FROM (
         SELECT epoch_us(max(insert_time)) AS t FROM lake.blocks
         UNION ALL SELECT epoch_us(max(insert_time)) FROM lake.ingests
         UNION ALL SELECT epoch_us(max(insert_time)) FROM lake.processes)`,
    );
    const now = BigInt(Date.now()) * 1000n;
    const last = r[0]?.last ?? null;
    const first = last !== null && last >= now ? last + 1n : now;
    const out: bigint[] = [];
    for (let k = 0; k < count; k++) out.push(first + BigInt(k));
    return out;
  }
}

function firstLine(s: string): string {
  return s.split("\n")[0] ?? s;
}
