/**
 * The live ingest of `tracelake serve`: OTLP export requests go, as they arrive, through the
 * OTLP importer (lib/ingest/otlp.ts, the mapping of OTLP files) into one RawRowSink that stages
 * raw blocks in `<lake>/tmp/ingest-<id>/`; `commit()` (called by the commit window, every second
 * or so) flushes the sink and commits the new blocks with lib/ingest/commit.ts as one more part
 * of one ingest per serve run: its processes (one per resource, as for files) and streams keep
 * their ids from part to part, and its `ingests` row's counts are updated each time. A crash
 * loses what was not committed yet; the lake stays consistent (the staging directory is left
 * for `tracelake gc`). Memory is bounded by the sink's buffer, not by how much arrives.
 */
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Engine } from "../duck/engine.ts";
import { RawRowSink } from "../ingest/blocks/raw_rows.ts";
import { commitImport } from "../ingest/commit.ts";
import type { IngestSummary } from "../ingest/ingest.ts";
import { type ImportOutcome, type ProcessInfo, type StagedBlock, withSkipCodes } from "../ingest/model.ts";
import { OtlpJsonImporter } from "../ingest/otlp.ts";
import type { Lake } from "../lake/lake.ts";
import { blobRelPath } from "../lake/layout.ts";

/** Options of a live ingest. */
export interface LiveIngestOptions {
  /** The source's name in `ingests.source` and `processes.source_file` (e.g. the receiver's URL). */
  sourceName: string;
  /** Rows held in memory before blocks are staged, bytes of column data (default 8 MiB). */
  bufferBytes?: number;
  /**
   * Once a process holds this many events, later data of its resource goes to a new process
   * (a process's async_events are rebuilt whole when it grows; default 1,000,000; 0: never).
   */
  processEvents?: number;
}

/** What one `add` did: the items (spans, log records, data points) rejected by the mapping. */
export interface AddResult {
  rejected: number;
  /** Why, in words ("" when nothing was rejected). */
  message: string;
}

/** What one commit did. Times are ms. */
export interface CommitStats {
  /** Blocks committed in this part. */
  blocks: number;
  /** Events (async events, logs, measures) committed in this part. */
  events: number;
  /** How long the commit took (flush + catalog transaction), ms. */
  ms: number;
  /** Of which writing the pending rows out as blocks (the sink's flush), ms. */
  flushMs: number;
}

/** Per-signal names of the items whose skips count as rejected. */
const ITEM_PHASES = new Set(["span", "span event", "log record", "data point", "data point value", "metric", "line"]);

/** One serve run's ingest, committed in parts. */
export class LiveIngest {
  readonly ingestId = crypto.randomUUID();
  private readonly staging: string;
  private readonly sink: RawRowSink;
  private readonly importer: OtlpJsonImporter;
  private readonly startedUs = BigInt(Date.now()) * 1000n;
  private readonly parts = { processes: new Set<string>(), streams: new Set<string>(), ingestRowExists: false };
  /** Blocks staged and not committed yet (kept on a failed commit, for the next one). */
  private pending: StagedBlock[] = [];
  private committedBlocks = 0;
  private committedEvents = 0;
  private receivedBytes = 0;
  private uncommittedBytes = 0;
  private requests = 0;
  private skippedBefore = 0;
  private chain: Promise<unknown> = Promise.resolve();
  /** The running commit (settled when it ends), null when none runs. */
  private inCommit: Promise<unknown> | null = null;
  /** Events committed per process id. */
  private readonly eventsOf = new Map<string, number>();
  private closed = false;

  /**
   * @param engine the engine the commits run on (the caller serializes other uses: see `commit`).
   * @param lake the lake, opened.
   */
  constructor(
    private readonly engine: Engine,
    private readonly lake: Lake,
    private readonly options: LiveIngestOptions,
  ) {
    this.staging = join(lake.layout.tmp, `ingest-${this.ingestId}`);
    mkdirSync(join(this.staging, "blocks"), { recursive: true });
    writeFileSync(
      join(this.staging, "owner.json"),
      JSON.stringify({ pid: process.pid, started: new Date().toISOString(), source: options.sourceName }),
    );
    this.sink = new RawRowSink(join(this.staging, "blocks"), options.bufferBytes ?? 8 * 1024 * 1024);
    this.importer = new OtlpJsonImporter(this.sink, options.sourceName);
  }

  /** Bytes of requests taken since the last commit began (decoded body sizes). */
  get uncommitted(): number {
    return this.uncommittedBytes;
  }

  /** Events committed so far (async events, log entries, measures). */
  get events(): number {
    return this.committedEvents;
  }

  /**
   * Takes one decoded export request (decode.ts's shape) of `bodyBytes` bytes.
   * @throws when a block file cannot be written (the disk is full...).
   */
  add(request: Record<string, unknown>, bodyBytes: number): AddResult {
    if (this.closed) throw new Error("the live ingest is closed");
    this.requests++;
    this.receivedBytes += bodyBytes;
    this.uncommittedBytes += bodyBytes;
    if (Object.keys(request).length > 0) this.importer.pushRequest(request);
    const skipped = this.skipped();
    const rejected = skipped.total - this.skippedBefore;
    this.skippedBefore = skipped.total;
    return { rejected, message: rejected > 0 ? `rejected: ${skipped.reasons.join("; ")}` : "" };
  }

  /** Items skipped so far and the reasons (the importer's skip descriptions). */
  private skipped(): { total: number; reasons: string[] } {
    let total = 0;
    const reasons: string[] = [];
    for (const c of this.importer.counts()) {
      if (c.dest !== "skipped" || !ITEM_PHASES.has(c.ph)) continue;
      total += c.count;
      if (c.reason !== null) reasons.push(`${c.ph}: ${c.reason}`);
    }
    return { total, reasons };
  }

  /**
   * Commits what was taken since the last commit: flushes the sink and commits its new blocks
   * (and new processes and streams). Commits run one at a time (a call waits for the one in
   * progress). On failure the staged blocks are kept for the next commit.
   * @returns null when there was nothing to commit.
   * @throws the commit's error (LakeError when the catalog stays locked...).
   */
  commit(): Promise<CommitStats | null> {
    const run = this.chain.then(() => this.commitNow());
    const settled = run.catch(() => undefined);
    this.chain = settled;
    this.inCommit = settled;
    void settled.then(() => {
      if (this.inCommit === settled) this.inCommit = null;
    });
    return run;
  }

  /**
   * Settles when no commit is running (at once when none is). The receiver waits for it before
   * it decodes a request: a commit's steps (each an await on DuckDB) would otherwise each wait
   * behind the requests queued meanwhile (measured: commits of 0.75 s median, 6.9 s max, at
   * 42k spans/s on a loaded 2-core machine).
   */
  idle(): Promise<unknown> {
    return this.inCommit ?? Promise.resolve();
  }

  private async commitNow(): Promise<CommitStats | null> {
    const started = performance.now();
    this.sink.flush();
    const flushMs = performance.now() - started;
    this.pending.push(...this.sink.blocks.splice(0));
    // A snapshot: requests taken while the catalog transaction runs may add threads.
    const processes: ProcessInfo[] = [...this.sink.processes.values()].map((p) => ({
      ...p,
      threads: new Map(p.threads),
    }));
    const newIds = processes.some(
      (p) =>
        !this.parts.processes.has(p.processId) ||
        [...p.threads.values()].some((t) => !this.parts.streams.has(t.streamId)),
    );
    if (this.pending.length === 0 && !newIds && this.parts.ingestRowExists) {
      this.uncommittedBytes = 0;
      return null;
    }
    if (this.pending.length === 0 && processes.length === 0) return null;
    const blocks = this.pending;
    const takenBytes = this.uncommittedBytes;
    const phases = withSkipCodes(this.importer.counts(), "otlp_json");
    const events = blocks.reduce((n, b) => n + b.nbObjects, 0);
    const outcome: ImportOutcome = {
      processes,
      blocks,
      phases,
      eventsFound: this.importer.found(),
      warnings: this.importer.warnings(),
      empty: false,
      metadataJson: null,
      displayTimeUnit: null,
    };
    const summary = this.summary(outcome, events);
    try {
      await commitImport(this.engine, this.lake, outcome, summary, {
        ingestId: this.ingestId,
        sourceName: this.options.sourceName,
        prefixHash: this.ingestId,
        startedUs: this.startedUs,
        sourceSize: null,
        metadataJson: null,
        displayTimeUnit: null,
        dedupe: false,
        parts: this.parts,
      });
    } catch (e) {
      this.unmove(blocks);
      throw e;
    }
    this.pending = [];
    this.uncommittedBytes = Math.max(0, this.uncommittedBytes - takenBytes);
    this.committedBlocks += blocks.length;
    this.committedEvents += events;
    const limit = this.options.processEvents ?? 1_000_000;
    let full = false;
    for (const b of blocks) {
      const n = (this.eventsOf.get(b.processId) ?? 0) + b.nbObjects;
      this.eventsOf.set(b.processId, n);
      if (limit > 0 && n >= limit) full = true;
    }
    if (full) {
      // Every resource starts a new process (the full ones' counts are no longer needed).
      this.importer.newProcesses();
      this.eventsOf.clear();
    }
    return { blocks: blocks.length, events, ms: performance.now() - started, flushMs };
  }

  /** The ingest's totals after this part commits (what the `ingests` row holds). */
  private summary(outcome: ImportOutcome, events: number): IngestSummary {
    const threads = outcome.processes.reduce((n, p) => n + p.threads.size, 0);
    return {
      ingestId: this.ingestId,
      name: null,
      source: this.options.sourceName,
      format: "otlp_json",
      duplicate: false,
      duplicateOfTime: null,
      bytesRead: this.receivedBytes,
      contentBytes: this.receivedBytes,
      // Unique per run: a serve run is never the duplicate of another ingest.
      contentHash: `serve:${this.ingestId}`,
      seconds: 0,
      processes: outcome.processes.length,
      threads,
      streams: outcome.processes.length * 2 + threads,
      blocks: this.committedBlocks + outcome.blocks.length,
      blobBytes: 0,
      eventsFound: this.requests,
      eventsImported: this.committedEvents + events,
      metadataEvents: 0,
      phases: outcome.phases,
      warnings: outcome.warnings,
      processList: [],
    };
  }

  /** After a failed commit: staged files already moved into blobs/ go back to staging. */
  private unmove(blocks: StagedBlock[]): void {
    for (const b of blocks) {
      const dst = join(this.lake.root, blobRelPath(b.processId, b.streamId, b.blockId));
      if (!existsSync(b.stagedPath) && existsSync(dst)) renameSync(dst, b.stagedPath);
    }
  }

  /**
   * Commits what is left and removes the staging directory (its uncommitted blocks too when the
   * last commit failed). Takes nothing more afterwards.
   * @throws the last commit's error.
   */
  async close(): Promise<CommitStats | null> {
    if (this.closed) return null;
    try {
      return await this.commit();
    } finally {
      this.closed = true;
      rmSync(this.staging, { recursive: true, force: true });
    }
  }
}
