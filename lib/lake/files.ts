/**
 * File-system facts about a lake that gc, check and repair share: who owns a staging directory
 * in tmp/ (the `owner.json` an ingest writes there: lib/ingest/ingest.ts), whether that owner
 * still runs, and the files below a directory.
 */
import { type Dirent, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";

/**
 * The owner of a staging directory, from its `owner.json` (`{"pid": N, ...}`).
 * @param path the owner.json path.
 * @returns the pid, or null when the file is absent or unreadable.
 */
export function readOwner(path: string): { pid: number } | null {
  try {
    const v = JSON.parse(readFileSync(path, "utf8")) as { pid?: unknown };
    return typeof v.pid === "number" ? { pid: v.pid } : null;
  } catch {
    return null;
  }
}

/** Whether process `pid` exists (signal 0 probes without sending anything; EPERM: it exists). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Every regular file below `dir` (absolute paths); nothing when `dir` cannot be read. */
export function* walkFiles(dir: string): Generator<string> {
  let list: Dirent[];
  try {
    list = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of list) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* walkFiles(p);
    else if (e.isFile()) yield p;
  }
}

/**
 * Removes the staging directories in `tmp` that process `pid` owns (its interrupted ingests).
 * @param tmp the lake's tmp/ directory.
 * @returns how many were removed.
 */
export function removeOwnStaging(tmp: string, pid: number): number {
  let n = 0;
  let names: string[];
  try {
    names = readdirSync(tmp);
  } catch {
    return 0;
  }
  for (const name of names) {
    const dir = join(tmp, name);
    if (readOwner(join(dir, "owner.json"))?.pid !== pid) continue;
    rmSync(dir, { recursive: true, force: true });
    n++;
  }
  return n;
}
