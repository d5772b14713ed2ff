/**
 * The importers by format: `newImporter` gives the FormatImporter (model.ts) of a format: Chrome
 * JSON (chrome/driver.ts), Perfetto protobuf (perfetto/), JSON-lines logs (jsonl.ts), OTLP JSON
 * (otlp.ts); the last three write through `RawRowSink` (raw_rows.ts).
 */

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { RawRowSink } from "./blocks/raw_rows.ts";
import { CHROME_COLLECT_EVERY_BYTES, ChromeJsonDriver } from "./chrome/driver.ts";
import { JsonLinesImporter } from "./jsonl.ts";
import type { FormatImporter, FormatOptions, ImportInput, ImportOutcome, PhaseCount } from "./model.ts";
import { OtlpJsonImporter } from "./otlp.ts";
import { PerfettoImporter } from "./perfetto/importer.ts";
import type { TraceFormat } from "./sniff.ts";

export type { FormatImporter, FormatOptions, ImportOutcome } from "./model.ts";

/**
 * FormatImporter.collectEveryBytes of Perfetto protobuf: a byte of protobuf leaves more garbage
 * than one of JSON (each packet decoded). A real 56 MB Chromium protobuf trace, compiled, 3 runs:
 * peak RSS 368-370 MB and 2.59-2.64 s every 32 MiB, 337-339 MB every 16, 286-289 MB and
 * 2.66-2.77 s every 8, 260-263 MB and 2.74-2.79 s every 4.
 */
const PERFETTO_COLLECT_EVERY_BYTES = 8 * 1024 * 1024;
/** FormatImporter.collectEveryBytes of the other RawRowSink formats (JSON lines, OTLP JSON): Chrome JSON's. */
const ROWS_COLLECT_EVERY_BYTES = CHROME_COLLECT_EVERY_BYTES;

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
  readonly collectEveryBytes: number;

  constructor(
    format: Exclude<TraceFormat, "chrome_json">,
    private readonly blocksDir: string,
    inputName: string,
    bufferBytes: number,
    options: FormatOptions,
  ) {
    this.sink = new RawRowSink(blocksDir, bufferBytes);
    this.collectEveryBytes = format === "perfetto" ? PERFETTO_COLLECT_EVERY_BYTES : ROWS_COLLECT_EVERY_BYTES;
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

/**
 * Rows held before blocks are written (bytes of column data), for formats without their own
 * default. 8 MiB, as for Chrome JSON: a real 33.5 MB Chromium protobuf trace peaked at 411 MB
 * RSS with 32 MiB and 326 MB with 8, for the same CPU time.
 */
const DEFAULT_BATCH_BYTES = 8 * 1024 * 1024;

/** The importer of `format` for `input`. */
export function newImporter(format: TraceFormat, input: ImportInput, options: FormatOptions): FormatImporter {
  if (format === "chrome_json") return new ChromeJsonDriver(input, options);
  return newStreamImporter(format, input.staging, input.inputName, options.batchBytes ?? DEFAULT_BATCH_BYTES, options);
}
