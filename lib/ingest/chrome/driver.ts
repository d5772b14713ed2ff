/**
 * The Chrome JSON format behind the ingest's FormatImporter interface: runs the framer and the
 * importer (with its worker threads) over the pushed bytes, holds Chrome's defaults (batch and
 * event sizes) and its line-mode guess (a wrong guess asks the ingest to read the input again),
 * and adds the framer's own counts and warnings to the outcome.
 */
import { InputError } from "../../errors.ts";
import {
  type FormatImporter,
  type FormatOptions,
  type ImportInput,
  type ImportOutcome,
  type PhaseCount,
  ReadAgainError,
  type SkipCode,
  skipCount,
} from "../model.ts";
import { ChromeJsonFramer, type FramerResult, NotChromeJsonError, SpeculationError } from "./framer.ts";
import { ChromeJsonImporter } from "./importer.ts";

/**
 * Default rows held before blocks are written, bytes of column data (shared by the workers).
 * 8 MiB: on a real 91.5 MB Chromium trace, inline, 48 MiB peaked at 372 MB RSS and 87K page
 * faults against 217 MB and 49K for 8 MiB, for the same CPU time, and the views read the
 * smaller row groups as fast (cold thread_spans: 2.6-2.7 CPU-s against 3.2-4.0).
 */
export const CHROME_BATCH_BYTES = 8 * 1024 * 1024;
/**
 * FormatImporter.collectEveryBytes of Chrome JSON: 32 MiB. More often buys nothing: a real
 * 208 MB Chromium JSON trace, compiled, 3 runs: 228-230 MB peak RSS and 1.16-1.18 s every 32
 * MiB, 226-234 MB and 1.21-1.26 s every 8. (Every 32 MiB kept a 256 MiB Perfetto ingest at ~400
 * MB instead of ~500, when all formats shared it.)
 */
export const CHROME_COLLECT_EVERY_BYTES = 32 * 1024 * 1024;
/** Default size limit of one event, bytes of JSON: larger ones are skipped and counted. */
export const CHROME_MAX_EVENT_BYTES = 32 * 1024 * 1024;

/**
 * The Chrome JSON importer (framer + ChromeJsonImporter, with worker threads) behind the
 * FormatImporter interface. In line mode, an input whose lines turn out not to be one event
 * each makes `push`/`finish` throw ReadAgainError (the ingest then reads the input again, with
 * `readAgain` set, and line mode off).
 */
export class ChromeJsonDriver implements FormatImporter {
  readonly collectEveryBytes = CHROME_COLLECT_EVERY_BYTES;
  private readonly importer: ChromeJsonImporter;
  private readonly framer: ChromeJsonFramer;
  private readonly pending: Promise<void>[] = [];

  /** Whether the framer is in line mode (framer.ts "Line mode"). */
  private readonly rawLines: boolean;
  private readonly inputName: string;

  /**
   * @param input where the blocks go, the input's name and size, whether it can be read
   *   again (line mode needs that: a wrong guess means reading it again without), and whether
   *   this is that second reading.
   * @param options `batchBytes` (default CHROME_BATCH_BYTES), `maxEventBytes` (default
   *   CHROME_MAX_EVENT_BYTES), `lineMode` (default true), `workers`, `wasm` (default true).
   */
  constructor(input: ImportInput, options: FormatOptions) {
    const { staging } = input;
    this.inputName = input.inputName;
    const batchBytes = options.batchBytes ?? CHROME_BATCH_BYTES;
    const maxEventBytes = options.maxEventBytes ?? CHROME_MAX_EVENT_BYTES;
    const rawLines = input.rereadable && !input.readAgain && options.lineMode !== false;
    this.rawLines = rawLines;
    // Inline by default, whatever the size: on a real 91.5 MB Chromium trace (2 cores, quiet),
    // two workers took 1.92 s, 3.1 CPU-s and 330 MB against 1.35 s, 1.8 CPU-s and 250 MB inline:
    // the framer on the main thread, not the parse, bounds real traces, and workers add copies.
    const workers = options.workers ?? 0;
    // With workers, smaller batches: each worker gets its first batch sooner, both finish
    // together at the end, and the batches in flight hold less memory.
    const framerBatch = workers >= 2 ? Math.min(batchBytes, 8 * 1024 * 1024) : batchBytes;
    this.importer = new ChromeJsonImporter(staging, workers, batchBytes, framerBatch, options.wasm ?? true);
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

  /** Starts the workers. */
  async init(): Promise<void> {
    await this.importer.init();
  }

  /** Frames `chunk`; waits while too many batches are pending. @throws InputError, ReadAgainError */
  async push(chunk: Uint8Array): Promise<void> {
    try {
      try {
        this.framer.push(chunk);
      } catch (e) {
        throw this.wrap(e);
      }
      // Let the workers' replies in (reading and framing only run microtasks), so that an idle
      // worker is seen as such.
      if (this.importer.stats.workers > 0) await new Promise<void>((r) => setImmediate(r));
      while (this.pending.length > this.importer.parallelism) await this.pending.shift();
    } catch (e) {
      throw this.readAgain(e);
    }
  }

  /** Ends the input; the outcome once every batch is done. @throws InputError, ReadAgainError */
  async finish(): Promise<ImportOutcome> {
    let framed: FramerResult;
    try {
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
    } catch (e) {
      throw this.readAgain(e);
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

  /** Stops the workers. */
  close(): void {
    this.importer.close();
  }

  /**
   * In line mode, a SpeculationError (a line that is not one event), or an InputError (the
   * framer runs ahead of the parser's check: after a wrong guess it may also have failed on
   * what it took for the container), becomes ReadAgainError: the input is read again without
   * line mode, and an input error is then checked again.
   */
  private readAgain(e: unknown): unknown {
    if (this.rawLines && (e instanceof SpeculationError || e instanceof InputError)) {
      return new ReadAgainError(`${this.inputName}: line mode guessed wrong (${(e as Error).message})`);
    }
    return e;
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
  const add = (code: SkipCode, count: number): void => {
    if (count > 0) phases.push(skipCount("", code, count));
  };
  add("chrome.not_object", f.nonObjectElements);
  add("chrome.too_large", f.oversizedEvents);
  add("chrome.cut_off", f.truncatedEvents);
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
