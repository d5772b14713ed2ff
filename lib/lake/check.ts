/**
 * `tracelake check`'s inspection: is every file the catalog names there, whole and as the
 * catalog describes it, and is nothing else left in the lake? Reads each raw block's and each
 * partition's Parquet footer with hyparquet (a few KiB read per file; no DuckDB query per file)
 * and returns a report object; it changes nothing (the repair is lib/partitions/repair.ts).
 *
 * Facts it relies on: a raw block's `nb_objects` is its file's row count and `payload_size` its
 * byte size (lib/ingest/blocks/block_file.ts); a partition's `num_rows`/`file_size` likewise
 * (lib/views/jit.ts); a Parquet file starts and ends with `PAR1`, preceded at the end by the
 * 4-byte little-endian length of the Thrift footer (the Parquet format specification).
 */
import { closeSync, fstatSync, openSync, readdirSync, readSync, statSync } from "node:fs";
import { join, relative, sep } from "node:path";
import { type FileMetaData, parquetMetadataAsync } from "hyparquet";
import type { Engine } from "../duck/engine.ts";
import { messageOf } from "../errors.ts";
import { isAlive, readOwner, walkFiles } from "./files.ts";
import type { Lake } from "./lake.ts";

/** What is wrong with one file (or one catalog row's file). */
export type ProblemKind =
  /** A catalog row names a file that does not exist. */
  | "missing_file"
  /** The file's size is not the catalog's `payload_size` / `file_size`. */
  | "wrong_size"
  /** The footer's row count is not the catalog's `nb_objects` / `num_rows`. */
  | "row_count"
  /** The file is not a readable Parquet file (no PAR1 magic, a footer that does not parse...). */
  | "unreadable_footer"
  /** A file under blobs/ or views/ that no catalog row names (older than the grace period). */
  | "orphan_file"
  /** Something left in tmp/ by an operation that is gone (a killed ingest's staging). */
  | "staging";

/** One problem found. Paths are relative to the lake root. */
export interface CheckProblem {
  kind: ProblemKind;
  /** What the file is: a raw block, a view partition, or neither (orphans, staging). */
  object: "block" | "partition" | "orphan" | "staging";
  path: string;
  /** One sentence saying what is wrong (no input bytes unescaped: ids and numbers only). */
  detail: string;
  /** The trace (ingest) the file belongs to, when known. */
  ingestId: string | null;
  /** The trace's source (file name as ingested), when known. */
  source: string | null;
  /** The process (view instance for partitions), when known. */
  processId: string | null;
  /** The process's name (`processes.exe`), when known. */
  processName: string | null;
  /** The view set, for partitions. */
  viewSet: string | null;
  /** For blocks: the block id. */
  blockId: string | null;
  /** For partitions: the five keys of retire_partition_by_metadata (insert times in µs since the epoch). */
  partition: { beginInsertUs: string; endInsertUs: string; fileSchemaHash: string } | null;
  /** The catalog's size and row count, and what the file has (null when not known). */
  expectedBytes: number | null;
  actualBytes: number | null;
  expectedRows: number | null;
  actualRows: number | null;
}

/** The result of a check. */
export interface CheckReport {
  /** The lake root (absolute). */
  lake: string;
  /** True when no problem was found. */
  ok: boolean;
  /** What was looked at. */
  checked: { blocks: number; partitions: number; emptyPartitions: number; files: number; bytes: number };
  problems: CheckProblem[];
  /** Things seen that are not damage (a running ingest's staging, young unnamed files). */
  notes: string[];
  /** Seconds the check took. */
  seconds: number;
}

/** Options of `checkLake`. */
export interface CheckOptions {
  /**
   * Unnamed files and staging younger than this are taken as work in progress (an ingest or a
   * materialization writes its files before the commit that names them), in ms; default 1 hour,
   * gc's grace period.
   */
  graceMs?: number;
}

/** A catalog row naming a file, as the check reads it. */
interface NamedFile {
  object: "block" | "partition";
  path: string;
  bytes: number;
  rows: number;
  ingestId: string | null;
  source: string | null;
  processId: string | null;
  processName: string | null;
  viewSet: string | null;
  blockId: string | null;
  partition: CheckProblem["partition"];
}

interface CatalogSnapshot {
  named: NamedFile[];
  emptyPartitions: number;
  /** Files in temporary_files: retired, awaiting gc; not orphans. */
  retired: Set<string>;
}

/** Reads what the catalog names. Attaches it read-only and detaches it. */
async function snapshotCatalog(engine: Engine, lake: Lake): Promise<CatalogSnapshot> {
  await lake.attach(engine, "read");
  try {
    const blocks = await engine.rows<{
      file_path: string;
      payload_size: bigint;
      nb_objects: bigint;
      block_id: string;
      process_id: string;
      exe: string | null;
      ingest_id: string | null;
      source: string | null;
    }>(
      `SELECT b.file_path, b.payload_size, b.nb_objects, b.block_id, b.process_id, p.exe, p.ingest_id, i.source
         FROM lake.blocks b LEFT JOIN lake.processes p USING (process_id) LEFT JOIN lake.ingests i USING (ingest_id)
        ORDER BY b.file_path`,
    );
    const parts = await engine.rows<{
      view_set_name: string;
      view_instance_id: string;
      b: bigint;
      e: bigint;
      h: string;
      file_path: string | null;
      file_size: bigint;
      num_rows: bigint;
      exe: string | null;
      ingest_id: string | null;
      source: string | null;
    }>(
      `SELECT l.view_set_name, l.view_instance_id, epoch_us(l.begin_insert_time) AS b, epoch_us(l.end_insert_time) AS e,
              hex(l.file_schema_hash) AS h, l.file_path, l.file_size, l.num_rows, p.exe, p.ingest_id, i.source
         FROM lake.lakehouse_partitions l LEFT JOIN lake.processes p ON p.process_id = l.view_instance_id
         LEFT JOIN lake.ingests i ON i.ingest_id = p.ingest_id
        ORDER BY l.view_set_name, l.view_instance_id, l.begin_insert_time`,
    );
    const retired = await engine.rows<{ file_path: string }>("SELECT file_path FROM lake.temporary_files");
    const named: NamedFile[] = blocks.map((r) => ({
      object: "block",
      path: r.file_path,
      bytes: Number(r.payload_size),
      rows: Number(r.nb_objects),
      ingestId: r.ingest_id,
      source: r.source,
      processId: r.process_id,
      processName: r.exe,
      viewSet: null,
      blockId: r.block_id,
      partition: null,
    }));
    let emptyPartitions = 0;
    for (const r of parts) {
      if (r.file_path === null) {
        emptyPartitions++;
        continue;
      }
      named.push({
        object: "partition",
        path: r.file_path,
        bytes: Number(r.file_size),
        rows: Number(r.num_rows),
        ingestId: r.ingest_id,
        source: r.source,
        processId: r.view_instance_id,
        processName: r.exe,
        viewSet: r.view_set_name,
        blockId: null,
        partition: { beginInsertUs: String(r.b), endInsertUs: String(r.e), fileSchemaHash: r.h },
      });
    }
    return { named, emptyPartitions, retired: new Set(retired.map((r) => r.file_path)) };
  } finally {
    await lake.detach(engine);
  }
}

/**
 * Checks the lake: every blocks and lakehouse_partitions row's file (exists, size, Parquet
 * footer readable, footer row count), files under blobs/ and views/ that no row names, and
 * leftovers in tmp/. Attaches the catalog read-only only while reading it (twice when a problem
 * is found: problems whose row vanished or orphans that a commit named meanwhile are dropped).
 * @returns the report; never throws for damaged files (they are the report).
 * @throws LakeError when the catalog cannot be attached (locked, unreadable).
 */
export async function checkLake(engine: Engine, lake: Lake, opts: CheckOptions = {}): Promise<CheckReport> {
  const started = performance.now();
  const grace = opts.graceMs ?? 60 * 60 * 1000;
  const now = Date.now();
  const snap = await snapshotCatalog(engine, lake);
  const problems: CheckProblem[] = [];
  const notes: string[] = [];
  let bytes = 0;
  let blocks = 0;
  let partitions = 0;

  for (const f of snap.named) {
    if (f.object === "block") blocks++;
    else partitions++;
    const p = await inspectFile(lake.root, f);
    bytes += p.actualBytes ?? 0;
    if (p.problem) problems.push(p.problem);
  }

  // Files no row names. Young ones may belong to a commit in progress.
  const namedPaths = new Set(snap.named.map((f) => f.path));
  let young = 0;
  for (const top of [lake.layout.blobs, lake.layout.views]) {
    for (const abs of walkFiles(top)) {
      const rel = relative(lake.root, abs);
      if (namedPaths.has(rel) || snap.retired.has(rel)) continue;
      const st = safeStat(abs);
      if (st && now - st.mtimeMs < grace) {
        young++;
        continue;
      }
      problems.push(
        loose(
          "orphan_file",
          "orphan",
          rel,
          `no catalog row names this file (${st?.size ?? 0} bytes)`,
          st?.size ?? null,
        ),
      );
    }
  }
  if (young > 0) {
    notes.push(
      `${young} unnamed file(s) younger than the grace period: taken as an ingest or materialization in progress`,
    );
  }

  // tmp/: staging of ingests; a live owner's is work in progress.
  for (const name of safeList(lake.layout.tmp)) {
    const abs = join(lake.layout.tmp, name);
    const owner = readOwner(join(abs, "owner.json"));
    if (owner && isAlive(owner.pid)) {
      notes.push(`tmp/${name}: an ingest is running (process ${owner.pid})`);
      continue;
    }
    const st = safeStat(abs);
    if (!owner && st && now - st.mtimeMs < grace) {
      notes.push(`tmp/${name}: younger than the grace period, no owner: left alone`);
      continue;
    }
    problems.push(
      loose(
        "staging",
        "staging",
        relative(lake.root, abs),
        owner ? `staging of an ingest whose process ${owner.pid} is gone` : "left in tmp/ with no owner",
        st ? (st.isDirectory() ? dirBytes(abs) : st.size) : null,
      ),
    );
  }

  const confirmed = problems.length > 0 ? await confirm(engine, lake, problems) : problems;
  return {
    lake: lake.root,
    ok: confirmed.length === 0,
    checked: {
      blocks,
      partitions: partitions + snap.emptyPartitions,
      emptyPartitions: snap.emptyPartitions,
      files: snap.named.length,
      bytes,
    },
    problems: confirmed,
    notes,
    seconds: (performance.now() - started) / 1000,
  };
}

/**
 * Drops problems a concurrent commit explains: a damaged row that is no longer in the catalog
 * (retired or removed meanwhile), an orphan that a row or temporary_files names now.
 */
async function confirm(engine: Engine, lake: Lake, problems: CheckProblem[]): Promise<CheckProblem[]> {
  const again = await snapshotCatalog(engine, lake);
  const named = new Set(again.named.map((f) => `${f.object}\u0000${f.path}`));
  const any = new Set([...again.named.map((f) => f.path), ...again.retired]);
  return problems.filter((p) => {
    if (p.object === "block" || p.object === "partition") return named.has(`${p.object}\u0000${p.path}`);
    if (p.object === "orphan") return !any.has(p.path);
    return true;
  });
}

/** Checks one named file; returns its size on disk and the problem, if any. */
async function inspectFile(
  root: string,
  f: NamedFile,
): Promise<{ actualBytes: number | null; problem: CheckProblem | null }> {
  const problem = (kind: ProblemKind, detail: string, actualBytes: number | null, actualRows: number | null) => ({
    actualBytes,
    problem: {
      kind,
      object: f.object,
      path: f.path,
      detail,
      ingestId: f.ingestId,
      source: f.source,
      processId: f.processId,
      processName: f.processName,
      viewSet: f.viewSet,
      blockId: f.blockId,
      partition: f.partition,
      expectedBytes: f.bytes,
      actualBytes,
      expectedRows: f.rows,
      actualRows,
    } satisfies CheckProblem,
  });
  let fd: number;
  try {
    fd = openSync(join(root, f.path), "r");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return problem("missing_file", "the file is missing", null, null);
    return problem("unreadable_footer", `the file cannot be opened (${code ?? messageOf(e)})`, null, null);
  }
  try {
    const size = fstatSync(fd).size;
    if (size !== f.bytes) {
      return problem("wrong_size", `the file has ${size} bytes where the catalog says ${f.bytes}`, size, null);
    }
    let meta: FileMetaData;
    try {
      meta = await readFooter(fd, size);
    } catch (e) {
      return problem("unreadable_footer", `the Parquet footer cannot be read (${oneLine(messageOf(e))})`, size, null);
    }
    const rows = Number(meta.num_rows);
    if (rows !== f.rows) {
      return problem("row_count", `the footer says ${rows} rows where the catalog says ${f.rows}`, size, rows);
    }
    return { actualBytes: size, problem: null };
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads and checks a Parquet file's footer through hyparquet, reading only its start and end:
 * the PAR1 magic at both ends, the footer's Thrift (hyparquet), row groups that add up to the
 * file's row count, and column chunks that lie between the header and the footer.
 * @throws Error saying what does not hold.
 */
async function readFooter(fd: number, size: number): Promise<FileMetaData> {
  const read = (start: number, end: number): ArrayBuffer => {
    const b = new Uint8Array(Math.max(0, end - start));
    let got = 0;
    while (got < b.length) {
      const n = readSync(fd, b, got, b.length - got, start + got);
      if (n === 0) break;
      got += n;
    }
    return b.buffer;
  };
  if (size < 12) throw new Error(`${size} bytes is too short for a Parquet file`);
  if (new TextDecoder().decode(read(0, 4)) !== "PAR1") throw new Error("no PAR1 magic at the start");
  const meta = await parquetMetadataAsync(
    { byteLength: size, slice: (start: number, end?: number) => read(start, end ?? size) },
    { initialFetchSize: 64 * 1024 },
  );
  const footerLength = new DataView(read(size - 8, size - 4)).getUint32(0, true);
  const dataEnd = size - 8 - footerLength;
  let sum = 0n;
  for (const rg of meta.row_groups) {
    sum += BigInt(rg.num_rows);
    for (const c of rg.columns) {
      const m = c.meta_data;
      if (!m) continue;
      const start = Number(m.dictionary_page_offset ?? m.data_page_offset);
      const end = start + Number(m.total_compressed_size);
      if (start < 4 || end > dataEnd) {
        throw new Error(`a column chunk lies at bytes ${start}..${end}, outside the data (4..${dataEnd})`);
      }
    }
  }
  if (sum !== BigInt(meta.num_rows)) throw new Error(`row groups hold ${sum} rows, the footer says ${meta.num_rows}`);
  return meta;
}

function loose(
  kind: ProblemKind,
  object: "orphan" | "staging",
  path: string,
  detail: string,
  bytes: number | null,
): CheckProblem {
  return {
    kind,
    object,
    path,
    detail,
    ingestId: null,
    source: null,
    processId: null,
    processName: null,
    viewSet: object === "orphan" ? viewSetOfPath(path) : null,
    blockId: null,
    partition: null,
    expectedBytes: null,
    actualBytes: bytes,
    expectedRows: null,
    actualRows: null,
  };
}

/** `views/<set>/...` → `<set>`; else null. */
function viewSetOfPath(rel: string): string | null {
  const parts = rel.split(sep);
  return parts[0] === "views" && parts.length > 2 ? (parts[1] ?? null) : null;
}

function oneLine(s: string): string {
  return s.split("\n")[0] ?? s;
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function safeStat(p: string): import("node:fs").Stats | null {
  try {
    return statSync(p);
  } catch {
    return null;
  }
}

function dirBytes(dir: string): number {
  let n = 0;
  for (const f of walkFiles(dir)) n += safeStat(f)?.size ?? 0;
  return n;
}
