/**
 * The outcome of lib/duck/preload.ts's worker, for lib/duck/native.ts. A module of its own: the
 * binary's entry imports preload.ts dynamically, and Bun 1.3's splitter breaks a module that is
 * both a dynamic-import target and imported by another chunk (see main.ts).
 */

/** The preload worker and the promise of its answer: true when it loaded the library. */
let pending: { worker: Worker; loaded: Promise<boolean> } | null = null;

/** Records the preload that was started (preload.ts). */
export function notePreload(worker: Worker, loaded: Promise<boolean>): void {
  pending = { worker, loaded };
}

/**
 * Waits for the preload worker's answer and returns it: true when it loaded the library, false
 * when it did not (no library there yet, another size, an error) or when no preload was started.
 * After it returns, the worker makes no more bun:ffi calls: Bun 1.3's bun:ffi compiles each
 * symbol's wrapper with TinyCC, which is not thread-safe (two threads in dlopen at once crash
 * the process: oven-sh/bun#40972), so the main thread's own dlopen must wait for this. The
 * worker keeps the process alive while it is awaited.
 */
export async function preloadOutcome(): Promise<boolean> {
  if (!pending) return false;
  const { worker, loaded } = pending;
  worker.ref();
  try {
    return await loaded;
  } finally {
    worker.unref();
  }
}
