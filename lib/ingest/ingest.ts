/**
 * Ingest of one source into a lake, atomically.
 *
 * Flow: open the source → sniff the format (or take `--format`) → (unless --force) look for a
 * previous ingest of the same content → push the decompressed bytes, as they are read, to the
 * format's importer (importers.ts; the contract is model.ts), which stages blocks in a private directory (`<lake>/tmp/ingest-<uuid>/`) with
 * memory bounded by its batch size, not by the input → commit (commit.ts): in one catalog transaction insert
 * processes, streams, blocks and the ingests row, moving the staged blobs into `blobs/` just
 * before COMMIT. A failure or a kill before COMMIT leaves the catalog as it was; the staging
 * directory (and, after a kill between the moves and COMMIT, unreferenced blobs) are removed by
 * `tracelake gc`. An importer may ask for its input to be read again from the start
 * (ReadAgainError, e.g. Chrome JSON's line mode guessed wrong): the ingest then starts over.
 * No format code here.
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Engine } from "../duck/engine.ts";
import { InputError, InterruptedError, LakeError } from "../errors.ts";
import type { Lake } from "../lake/lake.ts";
import { checkTraceName, refuseTakenNameNow } from "../lake/traces.ts";
import { commitImport } from "./commit.ts";
import { newImporter } from "./importers.ts";
import { type FormatImporter, type ImportOutcome, type PhaseCount, ReadAgainError, withSkipCodes } from "./model.ts";
import { sniffFormat, TRACE_FORMATS, type TraceFormat } from "./sniff.ts";
import { openSource } from "./source.ts";

/** Options of an ingest. */
export interface IngestOptions {
  /** Ingest again even when the same content was ingested before (as new processes). */
  force?: boolean;
  /**
   * Rows held before blocks are written, in bytes of column data (default 8 MiB, for Chrome
   * JSON shared by its workers: chrome/driver.ts CHROME_BATCH_BYTES, importers.ts
   * DEFAULT_BATCH_BYTES): bounds memory and block size.
   */
  batchBytes?: number;
  /** Events larger than this many bytes of JSON are skipped and counted (default 32 MiB). */
  maxEventBytes?: number;
  /**
   * Worker threads that parse batches and write blocks while the main thread reads and frames
   * (with one worker, the main thread also parses the batches that come while it is busy).
   * Default: 2 for inputs of 32 MiB or more or of unknown size, else 0 (all on this thread).
   * (The CLI takes it from TRACELAKE_INGEST_WORKERS when set.)
   */
  workers?: number;
  /**
   * Chrome JSON: the WebAssembly fast path takes the plainest events first (default true; false
   * parses every event in JavaScript; the CLI sets false for TRACELAKE_WASM=0).
   */
  wasm?: boolean;
  /**
   * Chrome JSON from a file: let the framer take one-event lines without scanning them
   * (framer.ts "Line mode"; the file is read again without it if that was wrong).
   * Default true; never for standard input.
   */
  lineMode?: boolean;
  /** The input's format; default: sniffed from the content (`sniffFormat`). */
  format?: TraceFormat;
  /** JSON-lines logs: the name of the process the lines belong to (default: the file's base name). */
  processName?: string;
  /** The trace's name, new in the lake (default: the source's base name, lib/lake/traces.ts). */
  name?: string;
  /**
   * Stops the ingest when aborted (checked after each chunk read, until the commit begins):
   * it then throws InterruptedError and leaves the lake as it was.
   */
  signal?: AbortSignal;
  /** Called as bytes are read: `read` and `total` are bytes of the stored file (total null for stdin). */
  onProgress?: (read: number, total: number | null) => void;
}

/** What an ingest did, for the summary the CLI prints. Sizes are bytes, times seconds. */
export interface IngestSummary {
  /** The id of the ingest that holds this content (the earlier one when `duplicate`). */
  ingestId: string;
  source: string;
  format: TraceFormat;
  /** The trace's name (null when `duplicate`: nothing was written). */
  name: string | null;
  /** True when the content was already in the lake and nothing was written. */
  duplicate: boolean;
  /** When `duplicate`: when the earlier ingest happened (ISO 8601). */
  duplicateOfTime: string | null;
  /** Stored bytes read (compressed size for gzip). */
  bytesRead: number;
  /** Decompressed bytes. */
  contentBytes: number;
  contentHash: string;
  seconds: number;
  processes: number;
  threads: number;
  streams: number;
  blocks: number;
  /** Bytes of Parquet blobs written. */
  blobBytes: number;
  /** Event objects found in the input. */
  eventsFound: number;
  /** Events written to blocks (cpu + log + metrics). */
  eventsImported: number;
  /** Metadata (M) events applied to processes and threads. */
  metadataEvents: number;
  /** Counts by phase and destination, and skipped events by reason. */
  phases: PhaseCount[];
  /** Things that were recovered from, in words (truncated array, skipped keys...). */
  warnings: string[];
  /** The processes written, for display: id, source pid, name, thread count, events. */
  processList: { processId: string; pid: string; name: string | null; threads: number }[];
}

const PREFIX_BYTES = 1024 * 1024;

/**
 * Ingests `spec` (a path or `-`) into `lake`.
 * @throws InputError for unreadable or unsupported input; LakeError when the catalog is busy or
 *   the lake's file system is full (ENOSPC/EDQUOT).
 *   On any throw the catalog is unchanged.
 */
export async function ingest(
  engine: Engine,
  lake: Lake,
  spec: string,
  options: IngestOptions = {},
): Promise<IngestSummary> {
  const started = performance.now();
  const startedAt = new Date();
  const name = options.name === undefined ? null : checkTraceName(options.name);
  if (name !== null) await refuseTakenNameNow(engine, lake, name);
  let source = openSource(spec);
  const sourceName = spec === "-" ? "-" : resolve(spec);

  const iter = source.chunks()[Symbol.asyncIterator]();
  const first = await iter.next();
  // A copy: the reader reuses its buffer, and the head is used again after the next read.
  const head = first.done ? null : first.value.slice();
  const format = options.format ?? sniffFormat(spec === "-" ? "standard input" : spec, head);

  // Prefix hash of the first MiB: a cheap key for finding earlier ingests of the same content.
  let prefix = new Bun.CryptoHasher("sha256");
  let hasher = new Bun.CryptoHasher("sha256");
  let prefixLeft = PREFIX_BYTES;
  let contentBytes = 0;
  const feedHash = (c: Uint8Array): void => {
    hasher.update(c);
    contentBytes += c.length;
    if (prefixLeft > 0) {
      const part = c.subarray(0, Math.min(prefixLeft, c.length));
      prefix.update(part);
      prefixLeft -= part.length;
    }
  };

  // A lake this process created and has not ingested into holds no earlier ingest.
  if (!options.force && head && !lake.knownEmpty) {
    const earlier = await findEarlierIngest(engine, lake, spec, head, source.size, source.gzip);
    if (earlier) {
      await iter.return?.();
      return {
        ...emptySummary(earlier.ingestId, sourceName, format),
        duplicate: true,
        duplicateOfTime: earlier.insertTime,
        bytesRead: source.size ?? 0,
        contentBytes: earlier.contentBytes,
        contentHash: earlier.contentHash,
        seconds: (performance.now() - started) / 1000,
      };
    }
  }

  const ingestId = crypto.randomUUID();
  const staging = join(lake.layout.tmp, `ingest-${ingestId}`);
  mkdirSync(staging, { recursive: true });
  writeFileSync(
    join(staging, "owner.json"),
    JSON.stringify({ pid: process.pid, started: startedAt.toISOString(), source: sourceName }),
  );
  try {
    const inputName = spec === "-" ? "standard input" : spec;
    const stopIfAborted = (): void => {
      if (options.signal?.aborted) {
        throw new InterruptedError(`ingest of ${inputName} interrupted; nothing of it was written to the lake`);
      }
    };
    let sinceGc = 0;
    const runImport = async (
      readAgain: boolean,
      first: Uint8Array | null,
      it: AsyncIterator<Uint8Array>,
    ): Promise<ImportOutcome> => {
      const driver: FormatImporter = newImporter(
        format,
        { staging, inputName, size: source.size, rereadable: spec !== "-", readAgain },
        options,
      );
      try {
        await driver.init();
        const push = async (c: Uint8Array): Promise<void> => {
          stopIfAborted();
          feedHash(c);
          await driver.push(c);
          options.onProgress?.(source.bytesRead, source.size);
          // A full collection every driver.collectEveryBytes read (FormatImporter).
          sinceGc += c.length;
          if (sinceGc >= driver.collectEveryBytes) {
            sinceGc = 0;
            Bun.gc(true);
          }
        };
        if (first) await push(first);
        for (;;) {
          const n = await it.next();
          if (n.done) break;
          await push(n.value);
        }
        const outcome = await driver.finish();
        // A Ctrl-C that came while the last batch was parsed (synchronously) is delivered now,
        // before the commit.
        if (options.signal) await new Promise<void>((r) => setImmediate(r));
        stopIfAborted();
        return outcome;
      } finally {
        driver.close();
      }
    };
    let outcome: ImportOutcome;
    try {
      outcome = await runImport(false, head, iter);
    } catch (e) {
      if (!(e instanceof ReadAgainError) || spec === "-")
        throw sniffedFormatError(e, options.format ? null : format, contentBytes, head);
      await iter.return?.();
      rmSync(join(staging, "blocks"), { recursive: true, force: true });
      prefix = new Bun.CryptoHasher("sha256");
      hasher = new Bun.CryptoHasher("sha256");
      prefixLeft = PREFIX_BYTES;
      contentBytes = 0;
      source = openSource(spec);
      // Every chunk from the new reader (a gzip stream's chunks need not match the first read's).
      try {
        outcome = await runImport(true, null, source.chunks()[Symbol.asyncIterator]());
      } catch (e2) {
        throw sniffedFormatError(e2, options.format ? null : format, contentBytes, head);
      }
    }

    const contentHash = hasher.digest("hex");
    const prefixHash = prefix.digest("hex");
    // Every skip with its stable code and severity: what the summary prints and import_stats reads.
    const phases = withSkipCodes(outcome.phases, format);
    const warnings = [...source.warnings, ...outcome.warnings];

    const processes = outcome.processes;
    const threads = processes.reduce((n, p) => n + p.threads.size, 0);
    const eventsImported = phases
      .filter((p) => p.dest === "cpu" || p.dest === "log" || p.dest === "metrics")
      .reduce((n, p) => n + p.count, 0);
    const metadataEvents = phases.filter((p) => p.dest === "metadata").reduce((n, p) => n + p.count, 0);
    if (outcome.empty) warnings.push("the trace holds no events");

    const summary: IngestSummary = {
      ingestId,
      source: sourceName,
      format,
      name: null,
      duplicate: false,
      duplicateOfTime: null,
      bytesRead: source.bytesRead,
      contentBytes,
      contentHash,
      seconds: 0,
      processes: processes.length,
      threads,
      streams: processes.length * 2 + threads,
      blocks: outcome.blocks.length,
      blobBytes: outcome.blocks.reduce((n, b) => n + b.payloadSize, 0),
      eventsFound: outcome.eventsFound,
      eventsImported,
      metadataEvents,
      phases,
      warnings,
      processList: processes.map((p) => ({
        processId: p.processId,
        pid: p.pid,
        name: p.name,
        threads: p.threads.size,
      })),
    };

    await commitImport(engine, lake, outcome, summary, {
      ingestId,
      sourceName,
      prefixHash,
      startedUs: BigInt(startedAt.getTime()) * 1000n,
      sourceSize: source.size,
      metadataJson: outcome.metadataJson,
      displayTimeUnit: outcome.displayTimeUnit,
      dedupe: !options.force,
      name,
    });
    summary.seconds = (performance.now() - started) / 1000;
    return summary;
  } catch (e) {
    throw diskFull(e, spec === "-" ? "standard input" : spec, lake.root) ?? e;
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/**
 * A LakeError for an error that says the lake's file system is full (ENOSPC, or EDQUOT: quota;
 * thrown here or by a worker, whose errors arrive as their message only), else null.
 */
function diskFull(e: unknown, input: string, root: string): LakeError | null {
  const code = (e as { code?: unknown } | null)?.code;
  const message = e instanceof Error ? e.message : String(e);
  if (code !== "ENOSPC" && code !== "EDQUOT" && !/^(ENOSPC|EDQUOT)\b/.test(message)) return null;
  return new LakeError(
    `no space left to write the blocks of ${input} in ${root} (${message.split("\n")[0]}); nothing of it was committed to the lake: free some space, run \`tracelake gc\` (it removes files a failed ingest left) and ingest it again`,
  );
}

/** An earlier ingest of the same content. */
interface EarlierIngest {
  ingestId: string;
  insertTime: string;
  contentHash: string;
  contentBytes: number;
}

/**
 * Before doing any work, finds an earlier ingest of the same file content: candidates share
 * the hash of the first MiB (and the size, for plain files); a candidate is confirmed by hashing
 * the whole content, which costs a read of the file, far less than an ingest. Not for stdin,
 * which is checked at commit only.
 */
async function findEarlierIngest(
  engine: Engine,
  lake: Lake,
  spec: string,
  head: Uint8Array,
  size: number | null,
  gzip: boolean,
): Promise<EarlierIngest | null> {
  if (spec === "-" || size === null) return null;
  if (head.length < PREFIX_BYTES && !(gzip === false && head.length === size)) return null;
  const prefixHash = new Bun.CryptoHasher("sha256").update(head.subarray(0, PREFIX_BYTES)).digest("hex");
  await lake.attach(engine, "read");
  let candidates: { ingest_id: string; insert_time: string; content_hash: string; content_size: string }[];
  try {
    candidates = await engine.rowsJson(
      `SELECT ingest_id, insert_time, content_hash, content_size FROM lake.ingests
       WHERE prefix_hash = $p AND ($gz OR content_size = $size) ORDER BY insert_time`,
      { p: prefixHash, gz: gzip, size: BigInt(size) },
    );
  } finally {
    await lake.detach(engine);
  }
  if (candidates.length === 0) return null;
  const h = new Bun.CryptoHasher("sha256");
  let n = 0;
  for await (const c of openSource(spec).chunks()) {
    h.update(c);
    n += c.length;
  }
  const full = h.digest("hex");
  const m = candidates.find((c) => c.content_hash === full);
  return m ? { ingestId: m.ingest_id, insertTime: m.insert_time, contentHash: full, contentBytes: n } : null;
}

function emptySummary(ingestId: string, source: string, format: TraceFormat): IngestSummary {
  return {
    ingestId,
    source,
    format,
    name: null,
    duplicate: false,
    duplicateOfTime: null,
    bytesRead: 0,
    contentBytes: 0,
    contentHash: "",
    seconds: 0,
    processes: 0,
    threads: 0,
    streams: 0,
    blocks: 0,
    blobBytes: 0,
    eventsFound: 0,
    eventsImported: 0,
    metadataEvents: 0,
    phases: [],
    warnings: [],
    processList: [],
  };
}

/**
 * What an import's error becomes: an InputError raised within the input's first read chunk of a
 * sniffed format (no `--format`) gets, at the end of its one line, a note saying which format the first bytes suggested
 * and the other candidates for `--format` (a file can look like one format and be another;
 * trace_processor tries JSON, then protobuf); any other error is returned as it is.
 * @param e the import's error; `sniffed` the sniffed format (null when `--format` gave it);
 *   `contentBytes` the bytes read when it was raised; `head` the first chunk (null: empty input).
 */
function sniffedFormatError(
  e: unknown,
  sniffed: TraceFormat | null,
  contentBytes: number,
  head: Uint8Array | null,
): unknown {
  if (!(e instanceof InputError) || sniffed === null || head === null || contentBytes > head.length) return e;
  const format = sniffed;
  const others = TRACE_FORMATS.filter((f) => f !== format).join(", ");
  return new InputError(
    `${e.message} (its first bytes looked like ${format}; if it is another format, pass --format with one of ${others})`,
    e.exitCode,
  );
}
