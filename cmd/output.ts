/**
 * Writing results: to stdout or a file with backpressure, stopping quietly when the reader goes
 * away (`tracelake query ... | head` must end cleanly, not with an EPIPE stack trace), in any
 * of the output formats of lib/sql/format.ts.
 */
import { createWriteStream, writeSync } from "node:fs";
import { messageOf, UserError } from "../lib/errors.ts";
import {
  BUFFERED_FORMATS,
  type Column,
  csvLine,
  formatRows,
  ndjsonLine,
  type OutputFormat,
  separatedLine,
  type TableOptions,
} from "../lib/sql/format.ts";

/**
 * A line-oriented writer to standard output (by default) or a stream. Standard output is written
 * with write(2) on fd 1, which blocks while the pipe is full and fails with EPIPE once the
 * reader has gone: Bun's process.stdout neither reports EPIPE on a pipe (measured: 2,000 writes
 * after `head -1` exited, no 'error' event) nor pushes back, so a `| head` reader would leave the
 * query running to its end.
 */
export class Stdout {
  /** True once the reader closed the pipe; later writes are dropped. */
  closed = false;
  private readonly fd: number | null;

  /**
   * @param stream where to write: process.stdout, or a file's write stream.
   * @param direct write process.stdout through fd 1 (default); false keeps its stream, for a
   *   caller that also writes to it through the stream and needs the order kept (the REPL on a
   *   terminal).
   */
  constructor(
    readonly stream: NodeJS.WritableStream = process.stdout,
    direct = stream === process.stdout,
  ) {
    this.fd = direct && stream === process.stdout ? 1 : null;
    if (this.fd === null) {
      stream.on("error", (e: NodeJS.ErrnoException) => {
        if (e.code === "EPIPE") this.closed = true;
        else throw e;
      });
    }
  }

  /** Writes `s`, waiting while the reader is behind (a full pipe, a stream's buffer). */
  async write(s: string): Promise<void> {
    if (this.closed || s === "") return;
    if (this.fd !== null) {
      this.writeFd(this.fd, Buffer.from(s));
      return;
    }
    const stream = this.stream;
    if (!stream.write(s)) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          stream.off("drain", done);
          stream.off("error", done);
          resolve();
        };
        stream.once("drain", done);
        stream.once("error", done);
      });
    }
  }

  /**
   * Writes `b` through fd 1 as it is (waiting on a full non-blocking descriptor; dropped once the
   * reader went away). Only for the direct standard output.
   * @throws Error when this Stdout writes to a stream, not fd 1.
   */
  writeBytes(b: Uint8Array): void {
    if (this.closed || b.length === 0) return;
    if (this.fd === null) throw new Error("Stdout.writeBytes: not the direct standard output");
    this.writeFd(this.fd, Buffer.from(b.buffer, b.byteOffset, b.length));
  }

  private writeFd(fd: number, buf: Buffer): void {
    let off = 0;
    while (off < buf.length) {
      try {
        off += writeSync(fd, buf, off);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === "EAGAIN") {
          // A non-blocking descriptor (a terminal or pipe shared with a non-blocking parent).
          Bun.sleepSync(1);
          continue;
        }
        if (code === "EPIPE") {
          this.closed = true;
          return;
        }
        throw e;
      }
    }
  }
}

/** Options of `printResult`. */
export interface PrintOptions extends TableOptions {
  /** Rows shown by the buffered formats (box, table, markdown, line); the rest are counted. */
  maxRows: number;
}

/**
 * A result to print: its columns, and its rows in chunks, converted (JSON-friendly values) up to
 * `convert` rows and only counted after (lib/sql/query.ts StatementResult.chunks).
 */
export interface ResultRows {
  columns: Column[];
  chunks(convert?: number): AsyncIterable<unknown[][]>;
}

/**
 * Prints one statement's result. Buffered formats keep the first `maxRows` rows, count the rest
 * (without converting them) and print a table with an "N rows (M shown)" footer; csv, list,
 * tabs, json and ndjson stream every row.
 * @returns the number of rows the result had (those read before the reader went away).
 * @throws whatever the chunk iterator throws (a SQL error, an interrupt).
 */
export async function printResult(
  out: Stdout,
  format: OutputFormat,
  result: ResultRows,
  opts: PrintOptions,
): Promise<number> {
  let total = 0;
  const columns = result.columns;
  if (BUFFERED_FORMATS.includes(format)) {
    const shown: unknown[][] = [];
    for await (const rows of result.chunks(opts.maxRows)) {
      for (let i = 0; i < rows.length && shown.length < opts.maxRows; i++) shown.push(rows[i] as unknown[]);
      total += rows.length;
    }
    await out.write(formatRows(format, columns, shown, { ...opts, totalRows: total }));
    return total;
  }
  const headers = opts.headers ?? true;
  const names = columns.map((c) => c.name);
  if (format === "csv" && headers) await out.write(csvLine(names));
  if ((format === "list" || format === "tabs") && headers) await out.write(separatedLine(names, format));
  if (format === "json") await out.write("[");
  let first = true;
  for await (const rows of result.chunks()) {
    let buf = "";
    for (const r of rows) {
      if (format === "csv") buf += csvLine(r, columns);
      else if (format === "list" || format === "tabs") buf += separatedLine(r, format, opts.nullValue);
      else if (format === "ndjson") buf += ndjsonLine(columns, r);
      else {
        buf += (first ? "\n" : ",\n") + ndjsonLine(columns, r).slice(0, -1);
        first = false;
      }
    }
    total += rows.length;
    await out.write(buf);
    if (out.closed) return total;
  }
  if (format === "json") await out.write(first ? "]\n" : "\n]\n");
  return total;
}

/**
 * Opens `path` for writing results (created or truncated).
 * @throws UserError when it cannot be created (the message says why).
 */
export async function openFileOut(path: string): Promise<Stdout> {
  const ws = createWriteStream(path);
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", (e) => reject(new UserError(`cannot write ${path}: ${messageOf(e)}`)));
  });
  return new Stdout(ws);
}

/** Ends a file opened by openFileOut, once everything written is flushed. */
export async function closeFileOut(o: Stdout): Promise<void> {
  await new Promise<void>((resolve) => o.stream.end(() => resolve()));
}

/** Prints `Run Time: …` (ms below a second, else s) on stderr: the time since `t0` (performance.now()). */
export function printRunTime(t0: number, dim: (s: string) => string = (s) => s): void {
  const ms = performance.now() - t0;
  process.stderr.write(dim(`Run Time: ${ms < 1000 ? `${ms.toFixed(1)} ms` : `${(ms / 1000).toFixed(3)} s`}\n`));
}
