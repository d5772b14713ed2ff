/**
 * writeTrace's targets, against a producer that hands out views of ONE buffer it overwrites
 * for each chunk (perfettoChunks with `reuseChunks`): a target for which writesBeforeNextPull
 * is true must have written every chunk before pulling the next, so the file holds every chunk
 * as it was (before, a regular file went through `pipeline`, which reads ahead: the file held
 * later chunks in place of earlier ones); for the others the producer copies.
 */
import { describe, expect, test } from "bun:test";
import { closeSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { writesBeforeNextPull, writeTrace } from "../../lib/perfetto/write_trace.ts";
import { tempDir } from "../helpers.ts";

const CHUNKS = 40;
const CHUNK_BYTES = 64 * 1024;

/** Chunk k: CHUNK_BYTES bytes of value k (mod 251), a view of one buffer when `reuse`. */
async function* chunks(reuse: boolean): AsyncGenerator<Uint8Array> {
  const buf = new Uint8Array(CHUNK_BYTES);
  for (let k = 0; k < CHUNKS; k++) {
    const b = reuse ? buf : new Uint8Array(CHUNK_BYTES);
    b.fill(k % 251);
    yield b;
  }
}

/** What the file must hold: the chunks as they were when produced. */
function expected(): Uint8Array {
  const all = new Uint8Array(CHUNKS * CHUNK_BYTES);
  for (let k = 0; k < CHUNKS; k++) all.fill(k % 251, k * CHUNK_BYTES, (k + 1) * CHUNK_BYTES);
  return all;
}

describe("writeTrace and writesBeforeNextPull", () => {
  test("which targets write each chunk before the next is pulled", () => {
    const dir = tempDir("tl-wt-");
    expect(writesBeforeNextPull({ path: join(dir, "a.pftrace") })).toBe(true);
    expect(writesBeforeNextPull({ path: join(dir, "a.pftrace.gz") })).toBe(false);
    expect(writesBeforeNextPull({ path: "/dev/null" })).toBe(false);
    expect(writesBeforeNextPull({ fd: 1 })).toBe(true);
  });

  test("a regular file and a file descriptor get every chunk of a producer that reuses its buffer", async () => {
    const dir = tempDir("tl-wt-");
    const file = join(dir, "t.pftrace");
    expect(writesBeforeNextPull({ path: file })).toBe(true);
    await writeTrace(chunks(true), { path: file });
    expect(Buffer.compare(readFileSync(file), expected())).toBe(0);

    const viaFd = join(dir, "fd.pftrace");
    const fd = openSync(viaFd, "w");
    try {
      await writeTrace(chunks(true), { fd });
    } finally {
      closeSync(fd);
    }
    expect(Buffer.compare(readFileSync(viaFd), expected())).toBe(0);
  });

  test("gzip, which goes through pipeline, gets every chunk of a producer that copies", async () => {
    const dir = tempDir("tl-wt-");
    const file = join(dir, "t.pftrace.gz");
    await writeTrace(chunks(false), { path: file });
    expect(Buffer.compare(gunzipSync(readFileSync(file)), expected())).toBe(0);
  });
});
