/**
 * DuckDB's memory allocator, where it can give memory back to the system on request.
 *
 * On Linux DuckDB allocates through jemalloc, linked into libduckdb with the `duckdb_je_` prefix
 * (DuckDB's jemalloc extension: `duckdb_je_mallctl` is exported; macOS and Windows builds use
 * the system's allocator and have none). jemalloc keeps the pages of freed memory ("dirty", then
 * "muzzy") for reuse, and gives them back only as they age (DuckDB configures 1 s) and only while
 * the allocator is busy, so after a large sort DuckDB holds what the sort freed while the
 * process does other work: 50-90 MB in the flows binding of the real 174 MB Chromium JSON trace
 * (`stats.resident` against `stats.allocated`, probe marks). `releaseAllocatorMemory` purges it.
 *
 * Facts from jemalloc's manual (jemalloc.net/jemalloc.3.html, "MALLCTL NAMESPACE"): `epoch`
 * (uint64_t, read-write) refreshes the statistics; `arenas.page` (size_t) is the page size;
 * `stats.arenas.<i>.pdirty` and `.pmuzzy` (size_t) count the pages of unused extents; arena
 * index MALLCTL_ARENAS_ALL (4096) names all arenas at once; `arena.<i>.purge` (void) gives
 * every unused dirty and muzzy page of the arena back (madvise), so the next use of that memory
 * faults its pages in again. DuckDB's own Allocator::FlushAll does the same purge (its
 * jemalloc extension's FlushAll) but is not part of its C API.
 */
import { dlopen, ptr } from "bun:ffi";

/** jemalloc's MALLCTL_ARENAS_ALL (jemalloc/jemalloc_macros.h): every arena. */
const ALL_ARENAS = 4096;

/** `duckdb_je_mallctl(name, oldp, oldlenp, newp, newlen) -> errno`, or null where DuckDB has no jemalloc. */
type Mallctl = (
  name: Buffer,
  oldp: BigUint64Array | null,
  oldlenp: BigUint64Array | null,
  newp: BigUint64Array | null,
  newlen: number,
) => number;

let mallctl: Mallctl | null | undefined;

/**
 * The loaded libduckdb's `duckdb_je_mallctl`, found once: once DuckDB is loaded (an Engine
 * exists: the callers' case), dlopen(3) by the library's soname finds that copy (the binding's
 * DT_NEEDED, or lib/duck/native.ts's dlopen), as glibc matches a loaded object's DT_SONAME
 * before it searches any path. Null on other systems, or when the library has no jemalloc.
 */
function jemalloc(): Mallctl | null {
  if (mallctl !== undefined) return mallctl;
  mallctl = null;
  if (process.platform !== "linux") return null;
  try {
    const lib = dlopen("libduckdb.so", {
      duckdb_je_mallctl: { args: ["ptr", "ptr", "ptr", "ptr", "usize"], returns: "i32" },
    });
    const fn = lib.symbols.duckdb_je_mallctl;
    mallctl = (name, oldp, oldlenp, newp, newlen) =>
      fn(
        ptr(name),
        oldp === null ? null : ptr(oldp),
        oldlenp === null ? null : ptr(oldlenp),
        newp === null ? null : ptr(newp),
        newlen,
      );
  } catch {
    mallctl = null;
  }
  return mallctl;
}

/** A mallctl name as the C string it takes. */
function cName(name: string): Buffer {
  return Buffer.from(`${name}\0`);
}

/** Reads a size_t or uint64_t mallctl value; null when the call fails. */
function readU64(je: Mallctl, name: string): bigint | null {
  const value = new BigUint64Array(1);
  const len = new BigUint64Array([8n]);
  return je(cName(name), value, len, null, 0) === 0 ? (value[0] as bigint) : null;
}

/**
 * Bytes DuckDB's allocator holds in pages no allocation uses (jemalloc's dirty and muzzy pages
 * of all arenas, statistics refreshed first), which `releaseAllocatorMemory` would give back.
 * @returns bytes; null where DuckDB has no jemalloc (see the file comment) or it is not loaded.
 *   Never throws.
 */
export function allocatorUnusedBytes(): number | null {
  const je = jemalloc();
  if (je === null) return null;
  const one = new BigUint64Array([1n]);
  const len = new BigUint64Array([8n]);
  if (je(cName("epoch"), one, len, one, 8) !== 0) return null;
  const page = readU64(je, "arenas.page");
  const dirty = readU64(je, `stats.arenas.${ALL_ARENAS}.pdirty`);
  const muzzy = readU64(je, `stats.arenas.${ALL_ARENAS}.pmuzzy`);
  if (page === null || dirty === null || muzzy === null) return null;
  return Number((dirty + muzzy) * page);
}

/**
 * Gives DuckDB's unused allocator pages back to the system when they come to at least
 * `minBytes` (`allocatorUnusedBytes`): for a caller about to do other work after DuckDB freed a
 * lot, so that the process's peak RSS is not the sum of both. Costs the purge (10-40 ms for
 * 50-90 MB on the 2-core test machine) and, when DuckDB allocates again, the faults of its
 * pages: call it at such turns only. Safe while DuckDB runs queries (mallctl is thread-safe).
 * @param minBytes the least unused memory worth a purge (bytes).
 * @returns the bytes given back (those counted before the purge); 0 when fewer than
 *   `minBytes`, or where DuckDB has no jemalloc. Never throws.
 */
export function releaseAllocatorMemory(minBytes: number): number {
  const unused = allocatorUnusedBytes();
  const je = jemalloc();
  if (je === null || unused === null || unused < minBytes) return 0;
  return je(cName(`arena.${ALL_ARENAS}.purge`), null, null, null, 0) === 0 ? unused : 0;
}
