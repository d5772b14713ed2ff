/**
 * Writing results: to stdout or a file with backpressure, stopping quietly when the reader goes
 * away (`tracelake query ... | head` must end cleanly, not with an EPIPE stack trace), in any
 * of the output formats of lib/sql/format.ts.
 */
import {
  BUFFERED_FORMATS,
  type Column,
  csvLine,
  formatRows,
  ndjsonLine,
  type OutputFormat,
  type TableOptions,
} from "../lib/sql/format.ts";

/** A line-oriented writer to a stream (stdout by default). */
export class Stdout {
  /** True once the reader closed the pipe; later writes are dropped. */
  closed = false;

  /** @param stream where to write: process.stdout, or a file's write stream. */
  constructor(readonly stream: NodeJS.WritableStream = process.stdout) {
    stream.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "EPIPE") this.closed = true;
      else throw e;
    });
  }

  /** Writes `s`, waiting for the pipe to drain when its buffer is full. */
  async write(s: string): Promise<void> {
    if (this.closed || s === "") return;
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
}

/** Options of `printResult`. */
export interface PrintOptions extends TableOptions {
  /** Rows shown by the buffered formats (box, table, markdown, line); the rest are counted. */
  maxRows: number;
}

/**
 * Prints one statement's result. Buffered formats keep the first `maxRows` rows, count the rest
 * and print a table with an "N rows (M shown)" footer; csv, json and ndjson stream every row.
 * @returns the number of rows the result had (those read before the reader went away).
 * @throws whatever the chunk iterator throws (a SQL error, an interrupt).
 */
export async function printResult(
  out: Stdout,
  format: OutputFormat,
  columns: Column[],
  chunks: AsyncIterable<unknown[][]>,
  opts: PrintOptions,
): Promise<number> {
  let total = 0;
  if (BUFFERED_FORMATS.includes(format)) {
    const shown: unknown[][] = [];
    for await (const rows of chunks) {
      for (const r of rows) {
        if (shown.length < opts.maxRows) shown.push(r);
        total++;
      }
    }
    await out.write(formatRows(format, columns, shown, { ...opts, totalRows: total }));
    return total;
  }
  if (format === "csv") await out.write(csvLine(columns.map((c) => c.name)));
  if (format === "json") await out.write("[");
  let first = true;
  for await (const rows of chunks) {
    let buf = "";
    for (const r of rows) {
      if (format === "csv") buf += csvLine(r);
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
