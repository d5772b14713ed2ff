/**
 * A raw block file written in several flushes: the rows a group holds are appended as row
 * groups each time it is written out (parquet_writer.ts `encodeRowGroups`), and the footer goes
 * on when the block is complete (`finish`). A stream then gets one block file per importer for
 * the whole input (or per BLOCK_FILE_ROWS rows) instead of one per flush: fewer, larger files for
 * DuckDB to read, and far fewer file creations (each one allocates an inode; 2,700 creations per
 * GiB of Chrome JSON cost ~1 CPU-s of kernel time on ext4 here).
 *
 * The file is opened for each append and closed after it, so that a trace with thousands of
 * threads does not hold thousands of descriptors. Writes are synchronous (on the calling thread,
 * a worker during ingest): an append is a few hundred KiB. `append` compresses its pages on
 * the calling thread; `appendEncoded` takes pages compressed elsewhere (the Chrome importer
 * compresses on Bun's thread pool while it parses on: batch_importer.ts).
 *
 * `BlockFileSet` is the sink of `RawRowSink` (Perfetto, OTLP and JSON-lines): one unfinished
 * file per stream, finished when full or when the unfinished files' footers exceed
 * BLOCK_FILE_META_BUDGET. The Chrome importer's groups hold their BlockFileWriter themselves,
 * by the same rules.
 */
import { closeSync, openSync, writevSync } from "node:fs";
import { join } from "node:path";
import {
  assembleRowGroups,
  BLOCK_FILE_HEADER,
  type ColumnData,
  type EncodedPages,
  encodeFooter,
  encodePages,
} from "./parquet_writer.ts";

/**
 * A block file is finished (its footer written) at the first write-out that brings it to this
 * many rows (so it may hold a write-out more): it keeps a block a size the views read well.
 */
export const BLOCK_FILE_ROWS = 1 << 20;
/** ... or to this many row groups (write-outs of a few rows each make small row groups). */
export const BLOCK_FILE_ROW_GROUPS = 256;
/**
 * Bytes of footer metadata (~1 KiB per row group) an importer keeps for its unfinished block
 * files: past it, the files with the most are finished (`BlockFileSet`), so that an input
 * with thousands of streams does not hold the footers of thousands of files.
 */
export const BLOCK_FILE_META_BUDGET = 4 * 1024 * 1024;

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
  /** Bytes of the footer's row group entries kept so far. */
  metaBytes = 0;
  private size = 0;
  private readonly rowGroups: Uint8Array[] = [];
  /** The error of a failed write: the file is unusable from then on. */
  private broken: Error | null = null;
  private beginNs: bigint | null = null;
  private endNs: bigint | null = null;

  /**
   * Creates the file (its header only).
   * @param path the file to create (truncated if it exists).
   * @param compress zstd compression of a page for `append` (see `encodePages`; default: level 1).
   * @throws the file system's error (e.g. ENOSPC, EACCES).
   */
  constructor(
    readonly path: string,
    private readonly compress: (page: Uint8Array) => Uint8Array = (page) => Bun.zstdCompressSync(page, { level: 1 }),
  ) {
    this.write([BLOCK_FILE_HEADER], "w");
  }

  /** True once the block should be finished (BLOCK_FILE_ROWS / BLOCK_FILE_ROW_GROUPS). */
  get full(): boolean {
    return this.rows >= BLOCK_FILE_ROWS || this.rowGroups.length >= BLOCK_FILE_ROW_GROUPS;
  }

  /**
   * Appends rows as row groups.
   * @param rows number of rows (> 0).
   * @param columns one ColumnData per RAW_BLOCK_COLUMNS entry (parquet_writer.ts).
   * @param beginNs min event time of the rows, ns; `endNs` max event end, ns (null: unknown).
   * @throws the file system's error; the file is then unusable (later calls throw it again).
   */
  append(rows: number, columns: readonly ColumnData[], beginNs: bigint | null, endNs: bigint | null): void {
    this.appendEncoded(rows, encodePages(rows, columns, this.compress), beginNs, endNs);
  }

  /**
   * Appends rows already encoded and compressed (parquet_writer.ts `encodePages`, e.g. with
   * compression on other threads) as row groups.
   * @param rows number of rows (> 0), those `encoded` holds.
   * @param beginNs min event time of the rows, ns; `endNs` max event end, ns (null: unknown).
   * @throws the file system's error; the file is then unusable (later calls throw it again).
   */
  appendEncoded(rows: number, encoded: EncodedPages<Uint8Array>, beginNs: bigint | null, endNs: bigint | null): void {
    const g = assembleRowGroups(encoded, this.size);
    this.write(g.parts, "a");
    for (const x of g.rowGroups) {
      this.rowGroups.push(x);
      this.metaBytes += x.length;
    }
    this.rows += rows;
    this.beginNs = pick(this.beginNs, beginNs, true);
    this.endNs = pick(this.endNs, endNs, false);
  }

  /**
   * Writes the footer: the file is a complete Parquet file from then on.
   * @returns the block's rows, time range and size.
   * @throws the file system's error (or that of an earlier write).
   */
  finish(): FinishedBlockFile {
    this.write(encodeFooter(this.rows, this.rowGroups), "a");
    this.rowGroups.length = 0;
    this.metaBytes = 0;
    return { path: this.path, rows: this.rows, beginNs: this.beginNs, endNs: this.endNs, size: this.size };
  }

  private write(parts: readonly Uint8Array[], flags: "w" | "a"): void {
    if (this.broken) throw this.broken;
    try {
      const fd = openSync(this.path, flags);
      try {
        writeAll(fd, parts);
      } finally {
        closeSync(fd);
      }
    } catch (e) {
      // Part of the bytes may be in the file: the offsets of later row groups would be wrong.
      this.broken = e instanceof Error ? e : new Error(String(e));
      throw e;
    }
    for (const p of parts) this.size += p.length;
  }
}

/** A block file finished by a `BlockFileSet`, with the key of the stream it belongs to. */
export interface FinishedBlock<K> extends FinishedBlockFile {
  key: K;
}

/**
 * The block files of one importer: at most one unfinished file per stream (`K`, any key compared
 * by identity, e.g. the importer's group object), each finished at the end of a write-out that
 * makes it `full`, or early when the footer metadata of all unfinished files exceeds
 * BLOCK_FILE_META_BUDGET (the files with the most first, down to half the budget). Memory is
 * thus bounded by that budget whatever the number of streams.
 * Use: `append` the row groups of a write-out (once or more), then `endWriteOut`; `finishAll`
 * at the end of the input. A failed write throws and leaves that stream's file unusable (every
 * later `append` to it throws again): the caller abandons the ingest, whose staging directory
 * holds the files.
 */
export class BlockFileSet<K> {
  private readonly open = new Map<K, BlockFileWriter>();
  /** Sum of `metaBytes` over the unfinished files. */
  private openMeta = 0;

  /**
   * @param dir directory of the files (exists; each file is `<uuid>.parquet`, its block id).
   * @param compress zstd compression of a page (see `encodeRowGroups`).
   */
  constructor(
    private readonly dir: string,
    private readonly compress: (page: Uint8Array) => Uint8Array,
  ) {}

  /** Number of unfinished files. */
  get openFiles(): number {
    return this.open.size;
  }

  /**
   * Appends rows to the stream's unfinished file (created on first use) as row groups.
   * @param rows number of rows (> 0).
   * @param columns one ColumnData per RAW_BLOCK_COLUMNS entry (parquet_writer.ts).
   * @param beginNs min event time of the rows, ns; `endNs` max event end, ns (null: unknown).
   * @throws the file system's error (the file is unusable from then on).
   */
  append(key: K, rows: number, columns: readonly ColumnData[], beginNs: bigint | null, endNs: bigint | null): void {
    let f = this.open.get(key);
    if (!f) {
      f = new BlockFileWriter(join(this.dir, `${crypto.randomUUID()}.parquet`), this.compress);
      this.open.set(key, f);
    }
    const meta0 = f.metaBytes;
    f.append(rows, columns, beginNs, endNs);
    this.openMeta += f.metaBytes - meta0;
  }

  /**
   * Ends a write-out of the stream: finishes its file when full, then the fullest files while
   * the unfinished footers exceed BLOCK_FILE_META_BUDGET.
   * @param out receives the files finished.
   * @throws the file system's error.
   */
  endWriteOut(key: K, out: FinishedBlock<K>[]): void {
    if (this.open.get(key)?.full) this.finish(key, out);
    if (this.openMeta <= BLOCK_FILE_META_BUDGET) return;
    const byMeta = [...this.open].sort((a, b) => b[1].metaBytes - a[1].metaBytes);
    for (const [k] of byMeta) {
      if (this.openMeta <= BLOCK_FILE_META_BUDGET / 2) break;
      this.finish(k, out);
    }
  }

  /**
   * Finishes every unfinished file (at the end of the input).
   * @param out receives the files finished.
   * @throws the file system's error.
   */
  finishAll(out: FinishedBlock<K>[]): void {
    for (const k of [...this.open.keys()]) this.finish(k, out);
  }

  /** Writes the stream's footer; the file leaves the unfinished set only once that succeeded. */
  private finish(key: K, out: FinishedBlock<K>[]): void {
    const f = this.open.get(key);
    if (!f) return;
    const meta = f.metaBytes;
    const done = f.finish();
    this.open.delete(key);
    this.openMeta -= meta;
    out.push({ key, ...done });
  }
}
