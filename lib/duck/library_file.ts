/**
 * Where a compiled binary's unpacked DuckDB library lives: the one copy of the rule for
 * lib/duck/native.ts (which unpacks and loads it) and lib/duck/preload.ts (which loads it early,
 * on a worker thread). Imports nothing but node:path and node:os, so that the binary's entry can
 * use it before the rest of tracelake loads.
 */
import { homedir } from "node:os";
import { join } from "node:path";

/** The DuckDB library a compiled binary carries (scripts/build.ts sets it on globalThis). */
export interface EmbeddedLibrary {
  /** The @duckdb/node-bindings version, which names the cache directory. */
  version: string;
  /** The library's file name: libduckdb.so, libduckdb.dylib or duckdb.dll. */
  fileName: string;
  /** The library's size in bytes, uncompressed. */
  rawSize: number;
  /** sha256 of the uncompressed library, hex. */
  sha256: string;
  /** The zstd-compressed library's size in bytes. */
  packedSize: number;
  /** The compressed library (native.ts encodeLibraryPayload) as a file embedded in the executable. */
  packedPath: string;
}

declare global {
  /** Set by the compiled binary's entry (scripts/build.ts). */
  var __TRACELAKE_EMBEDDED_LIBDUCKDB: EmbeddedLibrary | undefined;
}

/**
 * The cache directory for unpacked native libraries: `$TRACELAKE_CACHE_DIR`, else
 * `$XDG_CACHE_HOME/tracelake`, else `~/.cache/tracelake`.
 * @param env the environment to read (the caller's: cmd/ and the binary's entry pass their own).
 */
export function cacheDir(env: Record<string, string | undefined>): string {
  if (env.TRACELAKE_CACHE_DIR) return env.TRACELAKE_CACHE_DIR;
  const xdg = env.XDG_CACHE_HOME || join(env.HOME || homedir(), ".cache");
  return join(xdg, "tracelake");
}

/**
 * The directory and file the library is unpacked to: one directory per bindings version and
 * library hash, `<cache>/duckdb-<version>-<first 16 hex digits of sha256>/<fileName>`.
 */
export function libraryFile(lib: EmbeddedLibrary, cache: string): { dir: string; file: string } {
  const dir = join(cache, `duckdb-${lib.version}-${lib.sha256.slice(0, 16)}`);
  return { dir, file: join(dir, lib.fileName) };
}
