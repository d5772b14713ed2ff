/**
 * Writes an exported trace's chunks to where the user asked: a regular file (under a temporary
 * name, renamed when complete, so a failed or interrupted export leaves no partial file; one a
 * killed export left is removed by the next export to the same file), a
 * device or FIFO (written in place, e.g. /dev/null), or a file descriptor such as stdout's
 * (written with write(2), which blocks while a pipe is full and fails with EPIPE once its reader
 * has gone, as with `| head -c 100`: that ends the export quietly; Bun's process.stdout reports
 * no EPIPE on a pipe, so a stream there would run the export to its end), or a stream. A `.gz` file name means
 * gzip. A file descriptor and a regular file without gzip are written with write(2), each chunk
 * before the next is pulled (writesBeforeNextPull); gzip, devices and streams go through
 * `pipeline`, whose backpressure pulls chunks only as fast as they are written.
 */
import {
  closeSync,
  createWriteStream,
  existsSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import type { Writable } from "node:stream";
import { isAlive } from "../lake/files.ts";

/**
 * node:stream's Readable and pipeline and node:zlib's createGzip, loaded when a trace goes through
 * a stream: the query module imports this file, and loading them cost every query ~7 ms (compiled
 * binary, measured).
 */
async function streamModules() {
  const [{ Readable }, { pipeline }, { createGzip }] = await Promise.all([
    import("node:stream"),
    import("node:stream/promises"),
    import("node:zlib"),
  ]);
  return { Readable, pipeline, createGzip };
}

/** Where a trace goes: a file path, a file descriptor (1: stdout), or a stream, passed by the caller. */
export type TraceTarget = { path: string } | { fd: number } | { stream: Writable };

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
  if ("fd" in target) {
    for await (const c of chunks) {
      if (!writeAll(target.fd, c)) return { gzip: false, closedEarly: true };
    }
    return { gzip: false, closedEarly: false };
  }
  if ("stream" in target) {
    const { Readable, pipeline } = await streamModules();
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
  if (isDevice(out)) {
    // A device or FIFO (/dev/null, a named pipe): written in place.
    const { Readable, pipeline, createGzip } = await streamModules();
    const file = createWriteStream(out);
    if (gzip) await pipeline(Readable.from(chunks), createGzip(), file);
    else await pipeline(Readable.from(chunks), file);
    return { gzip, closedEarly: false };
  }
  removeStaleTemporaries(out);
  const tmp = `${out}.tmp-${process.pid}`;
  try {
    if (gzip) {
      const { Readable, pipeline, createGzip } = await streamModules();
      await pipeline(Readable.from(chunks), createGzip(), createWriteStream(tmp));
    } else {
      const fd = openSync(tmp, "w");
      try {
        for await (const c of chunks) writeAll(fd, c);
      } finally {
        closeSync(fd);
      }
    }
    renameSync(tmp, out);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  return { gzip, closedEarly: false };
}

/**
 * True when writeTrace writes each chunk to `target` before it pulls the next, so that the
 * producer may hand out a view of a buffer it then reuses (perfettoChunks' `reuseChunks`): a
 * file descriptor, or a path of a regular file (or of none yet) not ending in `.gz`.
 */
export function writesBeforeNextPull(target: TraceTarget): boolean {
  if ("fd" in target) return true;
  if ("stream" in target) return false;
  return !target.path.endsWith(".gz") && !isDevice(target.path);
}

/** True when `path` exists and is not a regular file (a device or FIFO: written in place). */
function isDevice(path: string): boolean {
  return existsSync(path) && !statSync(path).isFile();
}

/**
 * Writes all of `bytes` to `fd`, waiting while a non-blocking descriptor is full (EAGAIN).
 * @returns false when the reader went away (EPIPE).
 * @throws any other write error.
 */
function writeAll(fd: number, bytes: Uint8Array): boolean {
  let off = 0;
  while (off < bytes.length) {
    try {
      off += writeSync(fd, bytes, off);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "EAGAIN") {
        Bun.sleepSync(1);
        continue;
      }
      if (code === "EPIPE") return false;
      throw e;
    }
  }
  return true;
}

/**
 * Removes `<out>.tmp-<pid>` files left beside `out` by exports of the same output whose process
 * is gone (killed before it could remove its temporary file).
 */
function removeStaleTemporaries(out: string): void {
  const prefix = `${basename(out)}.tmp-`;
  let names: string[];
  try {
    names = readdirSync(dirname(out));
  } catch {
    return;
  }
  for (const n of names) {
    if (!n.startsWith(prefix)) continue;
    const pid = Number(n.slice(prefix.length));
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid || isAlive(pid)) continue;
    rmSync(join(dirname(out), n), { force: true });
  }
}
