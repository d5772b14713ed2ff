/**
 * Copies bytes that DuckDB owns, at a native address (a long string's pointer inside a
 * `duckdb_string_t`), into a JS buffer that the caller reuses: libc's `memcpy` called through
 * bun:ffi. node-bindings' `get_data_from_pointer` makes a new ArrayBuffer per string instead;
 * an `export perfetto --all` of a real 208 MB Chromium JSON trace made ~1M of them (the args
 * JSON of its spans and logs), garbage that the collector let pile up (see the commit).
 */
import { dlopen, FFIType } from "bun:ffi";

/** `memcpy(dst, src, n)`: dst a typed array, src an address (a number), n bytes. */
type Memcpy = (dst: Uint8Array, src: number, n: number) => unknown;

/** The C library exporting memcpy, by platform (glibc; macOS's libSystem; Windows' msvcrt). */
const LIBC: Partial<Record<NodeJS.Platform, string>> = {
  linux: "libc.so.6",
  darwin: "libSystem.B.dylib",
  win32: "msvcrt.dll",
};

/**
 * libc's memcpy, once looked up, with the library it came from, held for the life of the
 * process (bun:ffi's call stub for a symbol belongs to its library object); null when it cannot
 * be loaded (no such library: the caller's fallback).
 */
let loaded: { library: { close(): void }; memcpy: Memcpy } | null | undefined;

function loadMemcpy(): Memcpy | null {
  if (loaded === undefined) {
    loaded = null;
    const name = LIBC[process.platform];
    if (name !== undefined) {
      try {
        // The length as u64_fast, not u64: bun:ffi makes a BigInt of every u64 argument (73 ns
        // of a 216 ns call in a microbenchmark of 1M calls; ~120 ms of an `export --all` of the
        // 153 MB Chromium JSON trace), while u64_fast takes the number as it is. In C both are
        // uint64_t (bun:ffi's FFIType docs), memcpy's size_t on 64-bit platforms.
        const library = dlopen(name, {
          memcpy: { args: [FFIType.ptr, FFIType.ptr, FFIType.u64_fast], returns: FFIType.ptr },
        });
        loaded = { library, memcpy: library.symbols.memcpy as unknown as Memcpy };
      } catch {
        loaded = null;
      }
    }
  }
  return loaded === null ? null : loaded.memcpy;
}

/**
 * A reusable buffer filled from native addresses. `copy` returns the buffer holding the bytes
 * at [0, n), valid until the next `copy` on the same PointerCopy.
 */
export class PointerCopy {
  private buf = new Uint8Array(4096);

  /**
   * Copies `n` bytes from the 64-bit little-endian address stored in `ref[at, at + 8)` (a
   * `duckdb_string_t`'s pointer, duckdb.h), which must stay valid during the call.
   * @returns the buffer whose bytes [0, n) are the copy; null when libc's memcpy cannot be
   *   loaded (the caller then copies some other way: node-bindings' `get_data_from_pointer`).
   */
  copy(ref: Uint8Array, at: number, n: number): Uint8Array | null {
    const f = loadMemcpy();
    if (f === null) return null;
    if (n > this.buf.length) {
      let cap = this.buf.length * 2;
      while (cap < n) cap *= 2;
      this.buf = new Uint8Array(cap);
    }
    const lo =
      ((ref[at] as number) | ((ref[at + 1] as number) << 8) | ((ref[at + 2] as number) << 16)) +
      (ref[at + 3] as number) * 0x1000000;
    const hi =
      ((ref[at + 4] as number) | ((ref[at + 5] as number) << 8) | ((ref[at + 6] as number) << 16)) +
      (ref[at + 7] as number) * 0x1000000;
    f(this.buf, hi * 0x100000000 + lo, n);
    return this.buf;
  }
}
