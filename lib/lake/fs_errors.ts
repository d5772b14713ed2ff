/**
 * Turns a file-system or DuckDB I/O error about a lake into one sentence naming the lake and
 * what to do (exit 73, as the README promises): a read-only file system, a lake this user may
 * not write (another user's), a full disk, a damaged (truncated, checksum-corrupt) catalog.
 * The facts come from the errors' texts: Node's `code` (EROFS, EACCES, EPERM, ENOSPC, EDQUOT),
 * and DuckDB's messages (`Read-only file system`, `Permission denied`, `No space left on device`,
 * `Could not read enough bytes`, `Corrupt database file`, `not a valid DuckDB database file`),
 * and a damaged or missing Parquet file of the lake (raw block or view partition: its reader's
 * messages, `DAMAGED_PARQUET`).
 */
import { statSync } from "node:fs";
import { LakeError, messageOf } from "../errors.ts";
import { CATALOG_FILE } from "./layout.ts";

/** What kind of lake problem an error is. */
export type LakeFault = "read_only" | "permission" | "no_space" | "damaged_catalog" | "damaged_file";

/**
 * What the views' block relation (lib/views/source.ts blockRelation) raises, after `File '<path>' `,
 * for a raw block file with more rows than its catalog `nb_objects` (a file replaced by hand).
 */
export const BLOCK_ROWS_EXCEEDED = "holds more rows than the catalog records for it (nb_objects)";

/**
 * DuckDB's messages for a Parquet file it cannot read (truncated, overwritten, missing, bad
 * pages), from its Parquet reader and the file system layer, and BLOCK_ROWS_EXCEEDED.
 */
const DAMAGED_PARQUET = new RegExp(
  `too small to be a Parquet file|No magic bytes found|not a (valid )?Parquet file|Invalid Parquet|Corrupt(ed)? (Parquet|page)|ZSTD Decompression failure|Could not decompress|No files found that match the pattern|No such file or directory|${BLOCK_ROWS_EXCEEDED.replace(/[()]/g, "\\$&")}`,
  "i",
);

/**
 * The kind of lake problem `e` is, or null when it is none of them.
 * @param e any thrown value.
 */
export function lakeFault(e: unknown): LakeFault | null {
  const code = (e as { code?: unknown } | null)?.code;
  const m = messageOf(e);
  if (code === "EROFS" || /Read-only file system|\bEROFS\b/.test(m)) return "read_only";
  if (
    code === "EACCES" ||
    code === "EPERM" ||
    /Permission denied|Operation not permitted|\bEACCES\b|\bEPERM\b/.test(m)
  ) {
    return "permission";
  }
  if (code === "ENOSPC" || code === "EDQUOT" || /No space left on device|Disk quota exceeded|\bENOSPC\b/.test(m)) {
    return "no_space";
  }
  if (
    /Could not read enough bytes|Corrupt database file|not a valid DuckDB database file|checksum.*does not match/.test(
      m,
    )
  ) {
    return "damaged_catalog";
  }
  if (DAMAGED_PARQUET.test(m) && /\.parquet\b/.test(m)) return "damaged_file";
  return null;
}

/**
 * A LakeError saying what is wrong with the lake at `root` and what to do, when `e` is one of
 * the `LakeFault`s and concerns that lake (its message or path names a file inside it); else
 * null (the caller keeps the original error).
 * @param e the thrown value.
 * @param root the lake's root directory (absolute).
 * @param ofLake true when the caller knows the error comes from the lake's own files (attaching
 *   its catalog): DuckDB's checksum error names no file.
 */
export function lakeFaultError(e: unknown, root: string, ofLake = false): LakeError | null {
  const fault = lakeFault(e);
  if (!fault) return null;
  const m = messageOf(e);
  const path = (e as { path?: unknown } | null)?.path;
  const inLake = ofLake || m.includes(root) || (typeof path === "string" && path.startsWith(root));
  if (!inLake) return null;
  const first = (m.split("\n")[0] ?? m).replace(/^(IO Error|Error): /, "");
  switch (fault) {
    case "read_only":
      return new LakeError(
        `the lake at ${root} is on a read-only file system, so this command cannot write to it; queries of views already materialized still work, otherwise copy the lake to a writable directory and pass --lake DIR`,
      );
    case "permission": {
      const owner = ownerOf(root);
      const me = process.getuid?.();
      const whose =
        owner !== null && me !== undefined && owner !== me ? `it belongs to uid ${owner}, this is uid ${me}` : first;
      return new LakeError(
        `this user may not write the lake at ${root} (${whose}); run tracelake as the lake's owner, give this user write access (chown -R or chmod -R u+w), or pass --lake with a directory of your own`,
      );
    }
    case "no_space":
      return new LakeError(
        `no space left on the disk of the lake at ${root} (${first}); nothing was committed: free some space (\`tracelake gc\` removes files no catalog row needs) and retry`,
      );
    case "damaged_catalog":
      return new LakeError(
        `the lake's catalog ${root}/${CATALOG_FILE} is damaged (${first}); restore it from a backup, or move the lake aside and ingest the traces again into a new one`,
      );
    case "damaged_file": {
      const file = /['"]([^'"]+\.parquet)['"]/.exec(m)?.[1];
      const rel = file?.startsWith(`${root}/`) ? file.slice(root.length + 1) : (file ?? "a Parquet file");
      const why = first
        .replace(/^(Invalid Input Error|IO Error): /, "")
        .replace(/(File )?['"][^'"]+\.parquet['"]\s*/, "")
        .trim();
      return new LakeError(
        `a file of the lake at ${root} is damaged or missing: ${rel} (${why}); \`tracelake check\` lists what is damaged and which trace it belongs to, \`tracelake check --repair\` rebuilds damaged view partitions, and \`tracelake check --repair --force\` removes a trace whose raw blocks are damaged so that it can be ingested again`,
      );
    }
  }
}

function ownerOf(root: string): number | null {
  try {
    return statSync(root).uid;
  } catch {
    return null;
  }
}
