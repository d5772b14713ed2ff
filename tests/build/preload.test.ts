/**
 * lib/duck/preload.ts: the compiled binary's early load of DuckDB's library on a worker thread.
 * Each case runs in a fresh bun process (a library once loaded stays loaded), which states an
 * embedded library the way scripts/build.ts's entry does, places (or not) a copy of node_modules'
 * libduckdb.so where lib/duck/library_file.ts says the unpacked library lives, and reports the
 * worker's answer (what lib/duck/native.ts waits for) and whether the copy is then mapped into
 * the process (/proc/self/maps, the kernel's own account).
 */
import { describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUN, ROOT, tempDir } from "../helpers.ts";

const LIB = join(ROOT, "node_modules/@duckdb/node-bindings-linux-x64/libduckdb.so");
const VERSION = "0.0.0-test";
const SHA = "ab".repeat(32);

/**
 * Runs the preload in a new process; returns its exit code, stderr, the worker's answer
 * (preloadOutcome) and whether `file` was mapped once it came.
 */
function preloadIn(
  cache: string,
  file: string,
  rawSize: number,
): { code: number; stderr: string; loaded: boolean; mapped: boolean } {
  const dir = tempDir("tl-preload-script-");
  const script = join(dir, "run.ts");
  writeFileSync(
    script,
    `import { preloadNativeDuckDB } from ${JSON.stringify(join(ROOT, "lib/duck/preload.ts"))};
import { preloadOutcome } from ${JSON.stringify(join(ROOT, "lib/duck/preload_state.ts"))};
import { readFileSync } from "node:fs";
globalThis.__TRACELAKE_EMBEDDED_LIBDUCKDB = { version: ${JSON.stringify(VERSION)}, fileName: "libduckdb.so", rawSize: ${rawSize}, sha256: ${JSON.stringify(SHA)}, packedSize: 0, packedPath: "/nonexistent/payload" };
preloadNativeDuckDB(${JSON.stringify(join(ROOT, "lib/duck/preload_worker.ts"))}, { TRACELAKE_CACHE_DIR: ${JSON.stringify(cache)} });
const loaded = await preloadOutcome();
const mapped = readFileSync("/proc/self/maps", "utf8").includes(${JSON.stringify(file)});
console.log(JSON.stringify({ loaded, mapped }));
`,
  );
  const p = Bun.spawnSync([BUN, script], { stdout: "pipe", stderr: "pipe", env: { PATH: process.env.PATH } });
  const out = JSON.parse(p.stdout.toString() || "{}") as { loaded?: boolean; mapped?: boolean };
  return {
    code: p.exitCode ?? -1,
    stderr: p.stderr.toString(),
    loaded: out.loaded === true,
    mapped: out.mapped === true,
  };
}

/** A new cache directory holding a copy of the library where an unpacked one would be. */
function unpackedCopy(): { cache: string; file: string } {
  const cache = tempDir("tl-preload-cache-");
  const dir = join(cache, `duckdb-${VERSION}-${SHA.slice(0, 16)}`);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, "libduckdb.so");
  copyFileSync(LIB, file);
  return { cache, file };
}

describe.skipIf(process.platform !== "linux" || process.arch !== "x64")(
  "DuckDB's library preloaded on a worker",
  () => {
    test("the unpacked library is loaded by the worker, without the main thread asking", () => {
      const { cache, file } = unpackedCopy();
      const r = preloadIn(cache, file, statSync(LIB).size);
      expect(r).toEqual({ code: 0, stderr: "", loaded: true, mapped: true });
    }, 30_000);

    test("a library of another size (damaged, or of another build) is left alone, quietly", () => {
      const { cache, file } = unpackedCopy();
      const r = preloadIn(cache, file, statSync(LIB).size + 1);
      expect(r).toEqual({ code: 0, stderr: "", loaded: false, mapped: false });
    }, 30_000);

    test("no library unpacked yet (a first run): nothing happens, quietly", () => {
      const cache = tempDir("tl-preload-cache-");
      const r = preloadIn(cache, join(cache, "libduckdb.so"), 1000);
      expect(r).toEqual({ code: 0, stderr: "", loaded: false, mapped: false });
    }, 30_000);
  },
);
