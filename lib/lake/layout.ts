/**
 * Where things live in a lake directory (DESIGN.md "The lake on disk"). Every path component
 * below the root is an id tracelake generated (UUIDs, view set names from code), never a string
 * from the input, so no input can make a path escape the lake.
 */
import { homedir } from "node:os";
import { join } from "node:path";

/** File name of the catalog inside a lake. */
export const CATALOG_FILE = "catalog.duckdb";

/** Paths of a lake rooted at `root`. */
export interface LakeLayout {
  root: string;
  /** `<root>/catalog.duckdb`: all metadata. */
  catalog: string;
  /** `<root>/blobs`: raw blocks, `<process_id>/<stream_id>/<block_id>.parquet`. */
  blobs: string;
  /** `<root>/views`: materialized partitions. */
  views: string;
  /** `<root>/tmp`: per-operation staging directories (ingest), removed when they end. */
  tmp: string;
}

/** Returns the layout of the lake at `root`. */
export function layoutOf(root: string): LakeLayout {
  return {
    root,
    catalog: join(root, CATALOG_FILE),
    blobs: join(root, "blobs"),
    views: join(root, "views"),
    tmp: join(root, "tmp"),
  };
}

/** Relative path of a raw block inside the lake. All three ids are UUIDs generated here. */
export function blobRelPath(processId: string, streamId: string, blockId: string): string {
  return join("blobs", processId, streamId, `${blockId}.parquet`);
}

/**
 * The default lake directory when neither `--lake` nor `TRACELAKE_LAKE` is given:
 * `$XDG_DATA_HOME/tracelake/lake`, else `~/.local/share/tracelake/lake`.
 * @param env the environment to read (the caller's: cmd/ passes its own).
 */
export function defaultLakeDir(env: Record<string, string | undefined>): string {
  if (env.TRACELAKE_LAKE) return env.TRACELAKE_LAKE;
  const data = env.XDG_DATA_HOME || join(env.HOME || homedir(), ".local", "share");
  return join(data, "tracelake", "lake");
}
