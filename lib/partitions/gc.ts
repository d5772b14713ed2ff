/**
 * Garbage collection of files no live catalog row needs:
 * - staging directories of ingests whose process is gone (`tmp/ingest-<uuid>/`, killed ingests);
 * - blobs under `blobs/` that no `blocks` row names (an ingest killed between moving its blobs
 *   and its COMMIT), older than the grace period, and only while no ingest is running (blobs of
 *   a removed trace wait in `temporary_files`, below);
 * - partition files under `views/` that neither `lakehouse_partitions` nor `temporary_files`
 *   names (a materialization that died before its commit), older than the grace period;
 * - `temporary_files` rows past their expiration, and their files: retired partitions' and
 *   removed traces' (`tracelake rm`) raw blocks (a file that a live partition names is kept; only
 *   the row goes).
 * Empty directories under `views/` are left (a materialization may be about to write there).
 * It never deletes a file a live catalog row names: the catalog stays attached for writing for
 * the whole collection, so no commit can name a file between the listing and the deletion.
 * Killed at any point, it leaves only files that the next gc finds again.
 */
import { existsSync, readdirSync, rmdirSync, rmSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import type { Engine } from "../duck/engine.ts";
import { InterruptedError } from "../errors.ts";
import { isAlive, readOwner, walkFiles } from "../lake/files.ts";
import type { Lake } from "../lake/lake.ts";

/** Options of a collection. */
export interface GcOptions {
  /** List what would be deleted, delete nothing. */
  dryRun?: boolean;
  /**
   * Orphan files (no catalog row names them) younger than this are left, in ms (default 1
   * hour): an ingest or a materialization writes its files before the commit that names them.
   * Retired files (temporary_files) go at their own expiration, set when they were retired.
   */
  graceMs?: number;
  /** Aborted by the caller (Ctrl-C): stop before the next deletion (InterruptedError). */
  signal?: AbortSignal;
}

/** One file or directory that was (or would be) deleted. */
export interface GcItem {
  /** Path relative to the lake root. */
  path: string;
  bytes: number;
  why: string;
}

/** What a collection did. */
export interface GcReport {
  items: GcItem[];
  freedBytes: number;
  /** Why orphan blobs were not looked at (a running ingest), if so. */
  notes: string[];
}

/** Default grace period: 1 hour. */
export const DEFAULT_GRACE_MS = 60 * 60 * 1000;

/**
 * Collects garbage in `lake`. Attaches the catalog for writing (to delete expired
 * temporary_files rows) and detaches it before returning.
 */
export async function collectGarbage(engine: Engine, lake: Lake, opts: GcOptions = {}): Promise<GcReport> {
  const grace = opts.graceMs ?? DEFAULT_GRACE_MS;
  const now = Date.now();
  const items: GcItem[] = [];
  const notes: string[] = [];
  const del = async (abs: string, why: string, dir: boolean): Promise<void> => {
    if (opts.signal?.aborted) {
      throw new InterruptedError(
        `gc interrupted; ${opts.dryRun ? "nothing was deleted" : `${items.length} unneeded file(s) were deleted`} and nothing was committed: the next gc finds the rest`,
      );
    }
    const bytes = dir ? dirBytes(abs) : safeSize(abs);
    items.push({ path: relative(lake.root, abs), bytes, why });
    if (!opts.dryRun) {
      rmSync(abs, { recursive: dir, force: true });
      if (items.length === 1) await lake.pause("gc-after-first-delete");
    }
  };

  // 1. Staging directories of dead ingests.
  let liveIngests = 0;
  for (const name of safeList(lake.layout.tmp)) {
    const dir = join(lake.layout.tmp, name);
    const owner = readOwner(join(dir, "owner.json"));
    if (owner && isAlive(owner.pid)) {
      liveIngests++;
      continue;
    }
    if (!owner && now - safeMtime(dir) < grace) continue;
    await del(
      dir,
      owner ? `staging of an ingest whose process ${owner.pid} is gone` : "staging directory with no owner",
      true,
    );
  }

  await lake.attach(engine, "write");
  try {
    // 2. Orphan blobs.
    if (liveIngests > 0) {
      notes.push(`${liveIngests} ingest(s) running: unreferenced blobs are left for a later gc`);
    } else {
      // Blobs of removed traces (lib/partitions/remove_trace.ts) wait in temporary_files (step 4).
      const named = new Set(
        (
          await engine.rows<{ file_path: string }>(
            "SELECT file_path FROM lake.blocks UNION ALL SELECT file_path FROM lake.temporary_files",
          )
        ).map((r) => r.file_path),
      );
      for (const abs of walkFiles(lake.layout.blobs)) {
        const rel = relative(lake.root, abs);
        if (named.has(rel)) continue;
        if (now - safeMtime(abs) < grace) continue;
        await del(abs, "blob that no block names", false);
      }
      if (!opts.dryRun) pruneEmptyDirs(lake.layout.blobs);
    }
    // 3. Orphan partition files: written by a materialization that died before its commit.
    // A materialization in progress writes files younger than the grace period, which stay.
    const referencedLive = new Set(
      (
        await engine.rows<{ f: string }>(
          "SELECT file_path AS f FROM lake.lakehouse_partitions WHERE file_path IS NOT NULL",
        )
      ).map((r) => r.f),
    );
    const referenced = new Set(referencedLive);
    for (const r of await engine.rows<{ f: string }>("SELECT file_path AS f FROM lake.temporary_files")) {
      referenced.add(r.f);
    }
    for (const abs of walkFiles(lake.layout.views)) {
      const rel = relative(lake.root, abs);
      if (referenced.has(rel) || now - safeMtime(abs) < grace) continue;
      await del(abs, "partition file that no partition names", false);
    }
    // 4. Expired temporary files; a file that a live partition names stays.
    const expired = await engine.rows<{ file_path: string }>(
      "SELECT file_path FROM lake.temporary_files WHERE expiration < now()",
    );
    for (const r of expired) {
      const abs = join(lake.root, r.file_path);
      if (referencedLive.has(r.file_path)) {
        notes.push(`${r.file_path} is in temporary_files but a live partition names it: kept`);
        continue;
      }
      const under = (dir: string) => !relative(dir, abs).startsWith("..") && relative(dir, abs) !== "";
      if (!under(lake.layout.views) && !under(lake.layout.blobs)) {
        notes.push(`temporary_files names ${r.file_path}, which is not under views/ or blobs/: not deleted`);
        continue;
      }
      const what = under(lake.layout.blobs) ? "raw block of a removed trace" : "retired partition";
      if (existsSync(abs)) await del(abs, `${what} past its grace period`, false);
    }
    if (!opts.dryRun && expired.length > 0) {
      await lake.pause("gc-before-forgetting-temporary-files");
      // Exactly the rows handled above (others may have expired since).
      await engine.run(
        "DELETE FROM lake.temporary_files WHERE file_path IN (SELECT unnest(from_json($paths::VARCHAR, '[\"VARCHAR\"]')))",
        { paths: JSON.stringify(expired.map((r) => r.file_path)) },
      );
    }
  } finally {
    await lake.detach(engine);
  }
  return { items, freedBytes: items.reduce((n, i) => n + i.bytes, 0), notes };
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function safeMtime(p: string): number {
  try {
    return statSync(p).mtimeMs;
  } catch {
    return 0;
  }
}

function safeSize(p: string): number {
  try {
    return statSync(p).size;
  } catch {
    return 0;
  }
}

function dirBytes(dir: string): number {
  let n = 0;
  for (const f of walkFiles(dir)) n += safeSize(f);
  return n;
}

function safeListDirents(dir: string): import("node:fs").Dirent[] {
  try {
    return readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
}

function pruneEmptyDirs(dir: string): void {
  for (const e of safeListDirents(dir)) {
    if (!e.isDirectory()) continue;
    const p = join(dir, e.name);
    pruneEmptyDirs(p);
    if (safeList(p).length === 0) {
      try {
        rmdirSync(p);
      } catch {
        // raced with a writer: leave it
      }
    }
  }
}
