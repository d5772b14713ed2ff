/**
 * The interface between the atomic ingest (ingest.ts: reading, hashing, staging, commit) and the
 * importer of one format: the ingest pushes the decompressed bytes in order, then asks for the
 * outcome (processes, threads, staged blocks, counts), which it commits in one transaction.
 * One implementation per format: Chrome JSON (the framer + ChromeJsonImporter, here), Perfetto
 * protobuf (perfetto.ts), JSON-lines logs (jsonl.ts), OTLP JSON (otlp_json.ts); the last three
 * write through `RawRowSink` (raw_rows.ts).
 */

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Engine } from "../duck/engine.ts";
import { InputError } from "../errors.ts";
import { RawRowSink } from "./blocks/raw_rows.ts";
import type { PhaseCount } from "./chrome/batch_importer.ts";
import { ChromeJsonFramer, type FramerResult, NotChromeJsonError } from "./chrome/framer.ts";
import { ChromeJsonImporter, type ProcessInfo, type StagedBlock } from "./chrome/importer.ts";
import { JsonLinesImporter } from "./jsonl.ts";
import { OtlpJsonImporter } from "./otlp.ts";
import { PerfettoImporter } from "./perfetto/importer.ts";
import type { TraceFormat } from "./sniff.ts";

/** What an importer hands to the commit. */
export interface ImportOutcome {
  processes: ProcessInfo[];
  blocks: StagedBlock[];
  /** Counts by phase (or packet/record kind), destination and skip reason. */
  phases: PhaseCount[];
  /** Events (packets, lines, records) found in the input. */
  eventsFound: number;
  warnings: string[];
  /** True when the input held nothing to import (for the "no events" warning). */
  empty: boolean;
  /** Chrome JSON's `metadata` object as JSON text, else null. */
  metadataJson: string | null;
  displayTimeUnit: string | null;
}

/** Options the importers take (a subset of IngestOptions). */
export interface FormatOptions {
  /** Chrome JSON: worker threads (IngestOptions.workers). */
  workers?: number;
  /** Chrome JSON: use the WebAssembly fast path (default true; false parses every event in JS). */
  wasm?: boolean;
  /** For JSON-lines logs: the name of the process the lines belong to. */
  processName?: string;
}

/** An importer of one format, driven by the ingest. */
export interface FormatImporter {
  /** Prepares (workers, staging directories). */
  init(): Promise<void>;
  /**
   * Takes the next decompressed bytes (valid only until the promise resolves).
   * @throws InputError when the bytes are not valid input of the format.
   */
  push(chunk: Uint8Array): Promise<void>;
  /**
   * Ends the input, writes the remaining blocks.
   * @throws InputError for input that ends badly (truncated, empty of the format's content).
   */
  finish(): Promise<ImportOutcome>;
  /** Releases resources (workers); called once, after finish or on failure. */
  close(): void;
}

/**
 * The Chrome JSON importer (framer + ChromeJsonImporter, with worker threads) behind the
 * FormatImporter interface; the framing loop that ingest.ts ran before other formats existed.
 */
export class ChromeJsonDriver implements FormatImporter {
  private readonly importer: ChromeJsonImporter;
  private readonly framer: ChromeJsonFramer;
  private readonly pending: Promise<void>[] = [];

  /**
   * @param size the input's stored size in bytes (null for stdin): 32 MiB or more uses two
   *   worker threads, and this thread only reads and frames.
   * @param rawLines the framer's line mode (chrome_json_framer.ts): only for an input that can
   *   be read again, since a `SpeculationError` means importing it again without.
   */
  constructor(
    engine: Engine,
    staging: string,
    private readonly inputName: string,
    size: number | null,
    options: FormatOptions,
    batchBytes: number,
    maxEventBytes: number,
    rawLines = false,
  ) {
    const workers = options.workers ?? (size === null || size >= 32 * 1024 * 1024 ? 2 : 0);
    // With workers, smaller batches: each worker gets its first batch sooner, both finish
    // together at the end, and the batches in flight hold less memory.
    const framerBatch = workers >= 2 ? Math.min(batchBytes, 8 * 1024 * 1024) : batchBytes;
    this.importer = new ChromeJsonImporter(
      engine,
      staging,
      maxEventBytes,
      workers,
      batchBytes,
      framerBatch,
      options.wasm ?? true,
    );
    // The framer hands over each batch while it still owns the bytes: the importer parses the
    // events right away (or copies them to a worker) and finishes the batch in the background;
    // we read on while at most one batch per worker (one when inline) is pending.
    this.framer = new ChromeJsonFramer(
      (bytes, events) => {
        const p = this.importer.importBatch(bytes, events, (next) => this.framer.swapBuffer(next));
        p.catch(() => undefined); // awaited (and thrown) by push/finish
        this.pending.push(p);
      },
      framerBatch,
      maxEventBytes,
      rawLines,
    );
  }

  async init(): Promise<void> {
    await this.importer.init();
  }

  async push(chunk: Uint8Array): Promise<void> {
    try {
      this.framer.push(chunk);
    } catch (e) {
      throw this.wrap(e);
    }
    // Let the workers' replies in (reading and framing only run microtasks), so that an idle
    // worker is seen as such.
    if (this.importer.stats.workers > 0) await new Promise<void>((r) => setImmediate(r));
    while (this.pending.length > this.importer.parallelism) await this.pending.shift();
  }

  async finish(): Promise<ImportOutcome> {
    let framed: FramerResult;
    try {
      framed = this.framer.end();
    } catch (e) {
      throw this.wrap(e);
    }
    while (this.pending.length > 0) await this.pending.shift();
    await this.importer.drain();
    if (!framed.sawEventArray) {
      throw new InputError(
        `${this.inputName} is a JSON object without a "traceEvents" array, so not a Chrome trace; nothing was ingested`,
      );
    }
    const phases = this.importer.phaseCounts();
    addFramerCounts(phases, framed);
    const processes = [...this.importer.processes.values()];
    return {
      processes,
      blocks: this.importer.blocks,
      phases,
      eventsFound: framed.events,
      warnings: framerWarnings(framed),
      empty: framed.events === 0 && framed.nonObjectElements === 0 && processes.length === 0,
      metadataJson: framed.metadataJson,
      displayTimeUnit: framed.displayTimeUnit,
    };
  }

  close(): void {
    this.importer.close();
  }

  private wrap(e: unknown): unknown {
    if (e instanceof NotChromeJsonError) {
      return new InputError(`${this.inputName} is not a valid Chrome JSON trace: ${e.message}`);
    }
    return e;
  }
}

/** Adds the framer's own skips (non-objects, oversized and truncated events) to the counts. */
function addFramerCounts(phases: PhaseCount[], f: FramerResult): void {
  const add = (reason: string, count: number): void => {
    if (count > 0) phases.push({ ph: "", dest: "skipped", reason, count });
  };
  add("array element is not an object", f.nonObjectElements);
  add("event larger than the size limit", f.oversizedEvents);
  add("event cut off by the end of the input", f.truncatedEvents);
}

function framerWarnings(f: FramerResult): string[] {
  const w: string[] = [];
  if (f.unterminatedArray)
    w.push("the event array has no closing ']' (a trace cut short); events before the cut were imported");
  else if (f.unterminatedObject)
    w.push("the trace object has no closing '}' (a trace cut short); events were imported");
  if (f.skippedKeys.length > 0)
    w.push(`top-level keys not imported: ${[...new Set(f.skippedKeys)].slice(0, 10).join(", ")}`);
  if (f.trailingBytes > 0) w.push(`${f.trailingBytes} bytes after the end of the trace were ignored`);
  return w;
}

/** A format whose importer pushes rows into a RawRowSink. */
interface RowImporter {
  push(chunk: Uint8Array): void;
  end(): void;
  /** Events found (packets, lines, records). */
  found(): number;
  counts(): PhaseCount[];
  warnings(): string[];
}

/** The FormatImporter of the formats that write through a RawRowSink. */
class RowDriver implements FormatImporter {
  private readonly sink: RawRowSink;
  private readonly inner: RowImporter;

  constructor(
    format: Exclude<TraceFormat, "chrome_json">,
    private readonly blocksDir: string,
    inputName: string,
    bufferBytes: number,
    options: FormatOptions,
  ) {
    this.sink = new RawRowSink(blocksDir, bufferBytes);
    if (format === "perfetto") {
      const p = new PerfettoImporter(this.sink, inputName);
      this.inner = {
        push: (c) => p.push(c),
        end: () => p.end(),
        found: () => p.stats.packets,
        counts: () => [...p.stats.counts.values()].sort((a, b) => b.count - a.count),
        warnings: () => p.stats.warnings,
      };
    } else if (format === "jsonl") this.inner = new JsonLinesImporter(this.sink, inputName, options.processName);
    else this.inner = new OtlpJsonImporter(this.sink, inputName);
  }

  async init(): Promise<void> {
    mkdirSync(this.blocksDir, { recursive: true });
  }

  async push(chunk: Uint8Array): Promise<void> {
    this.inner.push(chunk);
  }

  async finish(): Promise<ImportOutcome> {
    this.inner.end();
    this.sink.flush();
    const processes = [...this.sink.processes.values()];
    return {
      processes,
      blocks: this.sink.blocks,
      phases: this.inner.counts(),
      eventsFound: this.inner.found(),
      warnings: this.inner.warnings(),
      empty: this.inner.found() === 0,
      metadataJson: null,
      displayTimeUnit: null,
    };
  }

  close(): void {}
}

/**
 * The importer of a format other than Chrome JSON, staging its blocks under `staging/blocks`.
 * @param bufferBytes bound on the rows held before blocks are written (bytes).
 */
export function newStreamImporter(
  format: Exclude<TraceFormat, "chrome_json">,
  staging: string,
  inputName: string,
  bufferBytes: number,
  options: FormatOptions,
): FormatImporter {
  return new RowDriver(format, join(staging, "blocks"), inputName, bufferBytes, options);
}
