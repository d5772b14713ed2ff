/**
 * Which of JavaScriptCore's tiers run the ingest hot loops. JavaScriptCore compiles a hot
 * function with DFG, then with FTL, its top tier, on a background thread. On the Perfetto
 * importer FTL costs more than it gives: 77 functions compiled again by FTL took a third of the
 * CPU time and half of the page faults of ingesting a real 33.5 MB Chromium protobuf trace
 * (7.9 → 4.8 CPU-s, 128K → 73K faults, 359 → 331 MB peak RSS with `BUN_JSC_useFTLJIT=false`), for
 * no gain in wall time on an idle 2-core machine and a loss on a busy one. The Chrome JSON path
 * (WebAssembly) showed no difference either way. JSC options can only be set when the process
 * starts; `noFTL` (bun:jsc) marks one function instead.
 */
import { noFTL } from "bun:jsc";

type AnyFunction = (...args: unknown[]) => unknown;

/**
 * Keeps functions out of FTL (they still reach DFG). Each target is a function, or a class whose
 * constructor, prototype methods, accessors and static methods are all marked; anything else is
 * ignored (so a module namespace's `Object.values` can be passed whole).
 */
export function dfgOnly(...targets: unknown[]): void {
  for (const t of targets) {
    if (typeof t !== "function") continue;
    noFTL(t as AnyFunction);
    const owners: object[] = [t];
    if (t.prototype) owners.push(t.prototype as object);
    for (const o of owners) {
      for (const k of Object.getOwnPropertyNames(o)) {
        if (k === "constructor" || k === "prototype") continue;
        const d = Object.getOwnPropertyDescriptor(o, k);
        if (typeof d?.value === "function") noFTL(d.value);
        if (d?.get) noFTL(d.get);
        if (d?.set) noFTL(d.set);
      }
    }
  }
}
