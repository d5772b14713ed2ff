/**
 * Worker thread of lib/duck/preload.ts: loads DuckDB's unpacked library (a dlopen(3) of 70 MB,
 * 25-35 ms, mostly the dynamic linker's symbol lookups) while the main thread loads tracelake's
 * modules. Takes one message, a `PreloadRequest`, answers true once the library is loaded (and
 * its bun:ffi call is over) or false, and ends. A library that is missing, of another size (not
 * unpacked yet, or damaged) or not loadable is left to the main thread (lib/duck/native.ts),
 * which unpacks it and reports what fails.
 */
import { openLibrary } from "./open_library.ts";
import type { PreloadRequest } from "./preload.ts";

declare const self: Worker;

self.onmessage = (e: MessageEvent<PreloadRequest>) => {
  self.onmessage = null;
  const { file, size } = e.data;
  let loaded = false;
  try {
    // Bun.file's size is 0 for a missing file: no node:fs to load in this thread.
    if (Bun.file(file).size === size) {
      openLibrary(file);
      loaded = true;
    }
  } catch {
    // left to the main thread
  }
  self.postMessage(loaded);
};
