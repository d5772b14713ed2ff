/**
 * Starts loading a compiled binary's DuckDB library on a worker thread, at the very start of a
 * command, so that it is loaded by the time the main thread needs it (lib/duck/native.ts, before
 * the binding is imported). The main thread waits for the worker's answer instead of loading the
 * library itself (preload_state.ts says why it must not do both at once).
 */
import { cacheDir, libraryFile } from "./library_file.ts";
import { notePreload } from "./preload_state.ts";

/** The worker's one message: the unpacked library's path and its size in bytes. */
export interface PreloadRequest {
  file: string;
  size: number;
}

/** Milliseconds after which a worker that has not answered counts as not having loaded it. */
const ANSWER_TIMEOUT_MS = 10_000;

/**
 * Starts the worker (`workerSpecifier`: lib/duck/preload_worker.ts as the compiled binary names
 * it) when the binary carries a library; a no-op otherwise (running from source: the binding
 * finds the library in node_modules). The worker keeps the process alive only while
 * native.ts waits for it. Never throws.
 * @param env the environment (for the cache directory, as cmd/common.ts reads it).
 */
export function preloadNativeDuckDB(workerSpecifier: string, env: Record<string, string | undefined>): void {
  const lib = globalThis.__TRACELAKE_EMBEDDED_LIBDUCKDB;
  if (!lib) return;
  let worker: Worker;
  try {
    worker = new Worker(workerSpecifier);
  } catch {
    return; // no worker: the main thread loads the library, as without this
  }
  worker.unref();
  const loaded = new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), ANSWER_TIMEOUT_MS);
    timer.unref();
    const answer = (v: boolean) => {
      clearTimeout(timer);
      resolve(v);
    };
    worker.onmessage = (e: MessageEvent<boolean>) => answer(e.data === true);
    worker.onerror = () => answer(false);
    worker.addEventListener("close", () => answer(false));
  });
  notePreload(worker, loaded);
  const request: PreloadRequest = { file: libraryFile(lib, cacheDir(env)).file, size: lib.rawSize };
  worker.postMessage(request);
}
