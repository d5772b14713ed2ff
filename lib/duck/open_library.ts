/**
 * How DuckDB's unpacked library is loaded, by lib/duck/native.ts and lib/duck/preload_worker.ts.
 * Imports nothing but bun:ffi (the worker starts sooner for it).
 */
import { dlopen } from "bun:ffi";

/**
 * dlopen(3)s the library at `file` through bun:ffi (which asks for at least one symbol:
 * duckdb_library_version, of DuckDB's C API). The handle is never closed: the process keeps the
 * library, and a later dlopen of the same file (the binding's DT_NEEDED, another thread's call)
 * finds it loaded.
 * @throws Error when the file is missing or is not a loadable library.
 */
export function openLibrary(file: string): void {
  dlopen(file, { duckdb_library_version: { args: [], returns: "cstring" } });
}
