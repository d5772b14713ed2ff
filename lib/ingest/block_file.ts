/**
 * A raw block file written in several flushes: the rows a group holds are appended as row
 * groups each time it is written out (parquet_writer.ts `encodeRowGroups`), and the footer goes
 * on when the block is complete (`finish`). A stream then gets one block file per importer for
 * the whole input (or per MAX_BLOCK_ROWS rows) instead of one per flush: fewer, larger files for
 * DuckDB to read, and far fewer file creations (each one allocates an inode; 2,700 creations per
 * GiB of Chrome JSON cost ~1 CPU-s of kernel time on ext4 here).
 *
 * The file is opened for each append and closed after it, so that a trace with thousands of
 * threads does not hold thousands of descriptors. Writes are synchronous (on the calling thread,
 * a worker during ingest): an append is a few hundred KiB.
 */
import { closeSync, openSync, writevSync } from "node:fs";
import { BLOCK_FILE_HEADER, type ColumnData, encodeFooter, encodeRowGroups } from "./parquet_writer.ts";

/**
 * A block file is complete (its footer written) once it holds this many rows: it bounds the
 * footer metadata kept in memory (~1 KiB per row group) and a block's size for the views.
 */
export const MAX_BLOCK_ROWS = 1 << 20;
/** ... or this many row groups (appends of a few rows each make small row groups). */
export const MAX_BLOCK_ROW_GROUPS = 256;

/** A finished block file: rows, time range (ns on the trace clock, null when unknown), size (bytes). */
export interface FinishedBlockFile {
  path: string;
  rows: number;
  beginNs: bigint | null;
  endNs: bigint | null;
  size: number;
}

/** Writes `parts` with one writev, then the rest of a short write. */
function writeAll(fd: number, parts: readonly Uint8Array[]): void {
  let list = parts.filter((p) => p.length > 0);
  while (list.length > 0) {
    let n = writevSync(fd, list);
    const rest: Uint8Array[] = [];
    for (const p of list) {
      if (n >= p.length) n -= p.length;
      else {
        rest.push(n > 0 ? p.subarray(n) : p);
        n = 0;
      }
    }
    list = rest;
  }
}

/** The lesser (`min`) or greater of two optional ns values. */
function pick(a: bigint | null, b: bigint | null, min: boolean): bigint | null {
  if (a === null) return b;
  if (b === null) return a;
  return min ? (a < b ? a : b) : a > b ? a : b;
}

/** One block file being written; see the file comment. */
export class BlockFileWriter {
  /** Rows appended so far. */
  rows = 0;
  private size = 0;
  private readonly rowGroups: Uint8Array[] = [];
  private beginNs: bigint | null = null;
  private endNs: bigint | null = null;

  /**
   * Creates the file (its header only).
   * @param path the file to create (truncated if it exists).
   * @param compress zstd compression of a page (see `encodeRowGroups`).
   * @throws the file system's error (e.g. ENOSPC, EACCES).
   */
  constructor(
    readonly path: string,
    private readonly compress: (page: Uint8Array) => Uint8Array,
  ) {
    this.write([BLOCK_FILE_HEADER], "w");
  }

  /** True once the block should be finished (MAX_BLOCK_ROWS / MAX_BLOCK_ROW_GROUPS). */
  get full(): boolean {
    return this.rows >= MAX_BLOCK_ROWS || this.rowGroups.length >= MAX_BLOCK_ROW_GROUPS;
  }

  /**
   * Appends rows as row groups.
   * @param rows number of rows (> 0).
   * @param columns one ColumnData per RAW_BLOCK_COLUMNS entry (parquet_writer.ts).
   * @param beginNs min event time of the rows, ns; `endNs` max event end, ns (null: unknown).
   * @throws the file system's error; the file is then unusable (the ingest fails).
   */
  append(rows: number, columns: readonly ColumnData[], beginNs: bigint | null, endNs: bigint | null): void {
    const g = encodeRowGroups(rows, columns, this.compress, this.size);
    this.write(g.parts, "a");
    for (const x of g.rowGroups) this.rowGroups.push(x);
    this.rows += rows;
    this.beginNs = pick(this.beginNs, beginNs, true);
    this.endNs = pick(this.endNs, endNs, false);
  }

  /**
   * Writes the footer: the file is a complete Parquet file from then on.
   * @returns the block's rows, time range and size.
   * @throws the file system's error.
   */
  finish(): FinishedBlockFile {
    this.write(encodeFooter(this.rows, this.rowGroups), "a");
    this.rowGroups.length = 0;
    return { path: this.path, rows: this.rows, beginNs: this.beginNs, endNs: this.endNs, size: this.size };
  }

  private write(parts: readonly Uint8Array[], flags: "w" | "a"): void {
    const fd = openSync(this.path, flags);
    try {
      writeAll(fd, parts);
    } finally {
      closeSync(fd);
    }
    for (const p of parts) this.size += p.length;
  }
}
