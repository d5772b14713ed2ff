/**
 * zstd compression of raw block pages on Bun's thread pool, so that an importer parses on while
 * its pages are compressed (parquet_writer.ts `encodePages` hands each page over as it is built;
 * `assembleRowGroups` lays them out once `compressedPages` has them all).
 */
import { BufferPool } from "./buffer_pool.ts";
import type { EncodedPages } from "./parquet_writer.ts";

/**
 * Buffers for pages of their own (`pageBuffer`), back here once compressOnPool has compressed
 * them: a new buffer per page (encodePages' `newPage`) was 215 ms of the main thread's profile
 * of ingesting the 174 MB Chromium JSON trace (zero-filled fresh memory, each page a fault).
 * A batch's pages all wait for their compressions at once: room for a large batch's.
 */
const pages = new BufferPool(32 * 1024 * 1024);

/** A buffer of `n` bytes for a page that compressOnPool will own (`owned`), from the pool when one is free (dirty). */
export function pageBuffer(n: number): Uint8Array {
  return pages.takeView(n);
}

/** The pages compressOnPool's compressions read: referenced here until each has ended. */
const compressing = new Set<Uint8Array>();

/** How many pages compressOnPool holds (compressions not ended yet). */
export function pagesCompressing(): number {
  return compressing.size;
}

/**
 * zstd level 1 on Bun's thread pool, of the page or a copy of it (encodePages reuses its buffer
 * unless asked for pages of their own: `owned`, the page is then compressOnPool's, which gives
 * its buffer to `pageBuffer`'s pool once compressed: the caller no longer reads or writes it):
 * compressing on the parsing thread was 443 ms of a 2.9 s profile of ingesting a real 208 MB
 * Chromium JSON trace. The page is held (`compressing`) until the compression ends: Bun 1.3's
 * `Bun.zstdCompress` does not keep its input alive, and a garbage collection meanwhile (ingest
 * forces some) freed pages under it (7 of 4,000 pages came back corrupt in a test that
 * collected while they were compressed; tests/ingest/compress_pool.test.ts).
 */
export async function compressOnPool(page: Uint8Array, owned = false): Promise<Uint8Array> {
  const copy = owned ? page : page.slice();
  compressing.add(copy);
  try {
    const z = await Bun.zstdCompress(copy, { level: 1 });
    if (owned) pages.give(copy);
    return z;
  } finally {
    compressing.delete(copy);
  }
}

/** The pages of `encodePages` once every compression has ended. @throws the compressor's error. */
export async function compressedPages(
  pages: EncodedPages<Promise<Uint8Array> | Uint8Array>,
): Promise<EncodedPages<Uint8Array>> {
  const groups = await Promise.all(
    pages.groups.map(async (g) => ({
      rows: g.rows,
      pages: await Promise.all(g.pages.map(async (p) => ({ ...p, z: await p.z }))),
    })),
  );
  return { groups, stats: pages.stats };
}
