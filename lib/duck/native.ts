/**
 * Makes DuckDB's native library loadable from a compiled single-file binary.
 *
 * `@duckdb/node-bindings` loads `duckdb.node`, which links `libduckdb.so` by soname with
 * RUNPATH `$ORIGIN`. Inside a `bun build --compile` binary the `.node` file is unpacked by
 * Bun to a temporary path where no `libduckdb.so` sits beside it. So the build embeds
 * `libduckdb.so` as a file (see scripts/build.ts), and before the binding is imported we copy it
 * once to a per-version cache directory and dlopen it: the dynamic linker then satisfies the
 * binding's DT_NEEDED with the already-loaded library of the same soname.
 *
 * When running from source (`bun main.ts`), nothing is embedded and the binding finds the
 * library in node_modules as usual.
 */
import { mkdirSync, renameSync, statSync, unlinkSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { LakeError, messageOf } from "../errors.ts";

declare global {
  /** Set by the compiled binary's entry (scripts/build.ts): the embedded library's path. */
  var __TRACELAKE_EMBEDDED_LIBDUCKDB: { path: string; version: string } | undefined;
}

/**
 * The cache directory for unpacked native libraries: `$TRACELAKE_CACHE_DIR`, else
 * `$XDG_CACHE_HOME/tracelake`, else `~/.cache/tracelake`.
 * @param env the environment to read (the caller's: cmd/ passes its own).
 */
export function cacheDir(env: Record<string, string | undefined>): string {
  if (env.TRACELAKE_CACHE_DIR) return env.TRACELAKE_CACHE_DIR;
  const xdg = env.XDG_CACHE_HOME || join(env.HOME || homedir(), ".cache");
  return join(xdg, "tracelake");
}

let prepared = false;

/**
 * Unpacks and preloads the embedded libduckdb when running as a compiled binary; a no-op
 * otherwise. Idempotent.
 * @param cache the cache directory (`cacheDir`); needed only in a compiled binary.
 * @throws LakeError when the cache directory cannot be written; Error when a compiled binary
 *   was given none.
 */
export async function prepareNativeDuckDB(cache: string | undefined): Promise<void> {
  if (prepared) return;
  prepared = true;
  const embedded = globalThis.__TRACELAKE_EMBEDDED_LIBDUCKDB;
  if (!embedded) return;
  if (cache === undefined) throw new Error("no cache directory to unpack DuckDB's native library into");
  const src = Bun.file(embedded.path);
  const dir = join(cache, `duckdb-${embedded.version}-${src.size}`);
  const dst = join(dir, "libduckdb.so");
  let present = false;
  try {
    present = statSync(dst).size === src.size;
  } catch {
    present = false;
  }
  if (!present) {
    const tmp = `${dst}.${process.pid}.tmp`;
    try {
      mkdirSync(dir, { recursive: true });
      await Bun.write(tmp, src);
      renameSync(tmp, dst);
    } catch (e) {
      try {
        unlinkSync(tmp);
      } catch {
        // nothing to clean up
      }
      throw new LakeError(
        `cannot unpack DuckDB's native library into ${dir} (${messageOf(e)}); set TRACELAKE_CACHE_DIR to a writable directory`,
      );
    }
  }
  const { dlopen } = await import("bun:ffi");
  dlopen(dst, { duckdb_library_version: { args: [], returns: "cstring" } });
}
