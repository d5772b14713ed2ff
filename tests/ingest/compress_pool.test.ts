/**
 * compressOnPool (lib/ingest/blocks/compress_pool.ts) compresses pages on Bun's thread pool
 * while the caller goes on and reuses its buffer, and garbage collections run meanwhile: every
 * page must come back as zstd of exactly the bytes it had when handed over. The oracle is
 * zstd's own decompression (Bun.zstdDecompressSync) against a page rebuilt from its recipe.
 * Bun 1.3's Bun.zstdCompress does not keep its input alive: without compressOnPool holding its
 * copies, the first test fails in some runs (a race with the collector: 7 of 4,000 pages in one
 * run, none in others), and the second in every run.
 */
import { expect, test } from "bun:test";
import { compressOnPool, pageBuffer, pagesCompressing } from "../../lib/ingest/blocks/compress_pool.ts";

/** Page `i`: 256 KiB of a pattern of its own (compressible, distinct per page). */
function page(i: number): Uint8Array {
  const p = new Uint8Array(256 * 1024);
  for (let j = 0; j < p.length; j += 3) p[j] = (i * 31 + j) & 0xff;
  return p;
}

test("compressOnPool: pages compressed while the caller reuses its buffer and the heap is collected come back intact", async () => {
  const buf = new Uint8Array(256 * 1024);
  let bad = 0;
  let pages = 0;
  for (let round = 0; round < 20; round++) {
    const pending: Promise<Uint8Array>[] = [];
    for (let i = 0; i < 200; i++) {
      buf.set(page(round * 200 + i));
      pending.push(compressOnPool(buf));
    }
    // The caller's buffer is overwritten and the heap collected while the pool compresses.
    buf.fill(0xee);
    Bun.gc(true);
    for (let i = 0; i < 50; i++) new Uint8Array(256 * 1024).fill(7);
    const done = await Promise.all(pending);
    done.forEach((z, i) => {
      pages++;
      const back = Bun.zstdDecompressSync(z);
      if (Buffer.compare(Buffer.from(back), Buffer.from(page(round * 200 + i))) !== 0) bad++;
    });
  }
  expect(pages).toBe(4000);
  expect(bad).toBe(0);
});

test("compressOnPool holds each page's copy until its compression has ended, and not after", async () => {
  const before = pagesCompressing();
  const pending = Array.from({ length: 20 }, (_, i) => compressOnPool(page(i)));
  expect(pagesCompressing()).toBe(before + 20);
  await Promise.all(pending);
  expect(pagesCompressing()).toBe(before);
});

test("pages of their own (pageBuffer) are reused once compressed, and each comes back intact", async () => {
  // Round after round, pages of varied sizes taken from the pool while the previous round's
  // compressed buffers go back to it: each page's zstd must be of its own bytes.
  let bad = 0;
  let reused = 0;
  const seen = new Set<ArrayBufferLike>();
  for (let round = 0; round < 10; round++) {
    const want: Uint8Array[] = [];
    const pending: Promise<Uint8Array>[] = [];
    for (let i = 0; i < 40; i++) {
      const n = 1000 + (((round * 40 + i) * 7919) % 200_000);
      const p = pageBuffer(n);
      expect(p.length).toBe(n);
      if (seen.has(p.buffer)) reused++;
      seen.add(p.buffer);
      const src = page(round * 40 + i).subarray(0, n);
      p.set(src);
      want.push(src.slice());
      pending.push(compressOnPool(p, true));
    }
    Bun.gc(true);
    const done = await Promise.all(pending);
    done.forEach((z, i) => {
      if (Buffer.compare(Buffer.from(Bun.zstdDecompressSync(z)), Buffer.from(want[i] as Uint8Array)) !== 0) bad++;
    });
  }
  expect(bad).toBe(0);
  expect(reused).toBeGreaterThan(0);
});
