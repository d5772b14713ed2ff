/**
 * Writes an exported trace's chunks to where the user asked: a regular file (under a temporary
 * name, renamed when complete, so a failed or interrupted export leaves no partial file), a
 * device or FIFO (written in place, e.g. /dev/null), or a stream such as stdout (a reader that
 * goes away, EPIPE as with `| head -c 100`, ends the export quietly). A `.gz` file name means
 * gzip. Backpressure comes from `pipeline`: chunks are pulled only as fast as they are written.
 */
import { createWriteStream, existsSync, renameSync, rmSync, statSync } from "node:fs";
import { Readable, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";

/** Where a trace goes: a file path, or a stream (e.g. process.stdout, passed by the caller). */
export type TraceTarget = { path: string } | { stream: Writable };

/** How a trace was written. */
export interface WrittenTrace {
  /** The bytes were gzipped (a `.gz` path). */
  gzip: boolean;
  /** The stream's reader went away before the end (EPIPE): the rest was not written. */
  closedEarly: boolean;
}

/**
 * Pulls `chunks` and writes them to `target` (see the file comment).
 * @param chunks the trace's bytes, in order (an error thrown by it ends the write).
 * @returns whether it was gzipped, and whether a stream closed early.
 * @throws the error of `chunks` or of the file system; a regular file's temporary file is then
 *   removed and the target not created.
 */
export async function writeTrace(chunks: AsyncIterable<Uint8Array>, target: TraceTarget): Promise<WrittenTrace> {
  if ("stream" in target) {
    try {
      await pipeline(Readable.from(chunks), target.stream);
    } catch (e) {
      if ((e as { code?: string }).code === "EPIPE") return { gzip: false, closedEarly: true };
      throw e;
    }
    return { gzip: false, closedEarly: false };
  }
  const out = target.path;
  const gzip = out.endsWith(".gz");
  if (existsSync(out) && !statSync(out).isFile()) {
    // A device or FIFO (/dev/null, a named pipe): written in place.
    const file = createWriteStream(out);
    if (gzip) await pipeline(Readable.from(chunks), createGzip(), file);
    else await pipeline(Readable.from(chunks), file);
    return { gzip, closedEarly: false };
  }
  const tmp = `${out}.tmp-${process.pid}`;
  try {
    const file = createWriteStream(tmp);
    if (gzip) await pipeline(Readable.from(chunks), createGzip(), file);
    else await pipeline(Readable.from(chunks), file);
    renameSync(tmp, out);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  return { gzip, closedEarly: false };
}
