/**
 * Loader and JavaScript side of the WebAssembly fast path of the Chrome JSON importer
 * (`wasm/chrome_fast_path.c`, built into `wasm/chrome_fast_path.wasm` by
 * `scripts/build_wasm.ts`). `BatchImporter` hands it each batch first; it imports the events
 * in the plainest shape (see the C file's comment for exactly which) into block builders kept
 * in the module's memory, and declines the others, which `BatchImporter` then imports in
 * JavaScript as before. Both give the same rows for an event (the importer's oracle tests run
 * with and without this path).
 *
 * Set `TRACELAKE_WASM=0` to turn it off (every event is then imported in JavaScript).
 */
import { readFileSync } from "node:fs";
import { RAW_BLOCK_COLUMNS } from "../../lake/raw_block.ts";
import { i64Bytes } from "../blocks/builder.ts";
import type { ColumnData } from "../blocks/parquet_writer.ts";
import wasmPath from "./wasm/chrome_fast_path.wasm" with { type: "file" };

const NC = RAW_BLOCK_COLUMNS.length;

interface Exports {
  memory: WebAssembly.Memory;
  fp_batch_buffer(n: number): number;
  fp_import(n: number): number;
  fp_block(g: number): number;
  fp_block_bytes(g: number): number;
  fp_reset(g: number): void;
}

/** What `importBatch` found; the arrays are copies, valid after further calls. */
export interface FastPathBatch {
  /** Lines in the batch. */
  lines: number;
  /** Lines declined, for JavaScript: `declined[k]` = [start, end (exclusive, without a trailing comma), seq, implicit (1 when the line had no `__seq` key)]; seq -1 for a line without `__seq` after no line with it. Offsets are bytes into the batch. */
  declined: Float64Array;
  /** Groups created by this batch: [group, pid, tid of the first event, destination (D_CPU, D_LOG, D_METRICS)] each. */
  newGroups: Uint32Array;
  /** (pid, tid) pairs seen for the first time, two numbers each. */
  newThreads: Uint32Array;
  /** Groups that got their first row since their last block. */
  becameLive: Uint32Array;
}

/** A group's rows, described for `encodeRowGroups`: views into the module's memory. */
export interface FastPathBlock {
  rows: number;
  /** Valid until the next call into the module. */
  columns: ColumnData[];
  /** Min event time and max event end (time + max(dur, 0)), ns. */
  begin: bigint;
  end: bigint;
}

/**
 * One instance of the module (one per thread): its memory holds the batch being imported and
 * every group's columns until `reset`.
 */
export class ChromeFastPath {
  private readonly x: Exports;
  private heap = new Uint8Array(0);
  private i32 = new Int32Array(0);
  private f64 = new Float64Array(0);
  private i64 = new BigInt64Array(0);
  /** Imported events by phase byte and destination, `[ph * 3 + dest]`, since the last `takeCounts`. */
  private countsAt = 0;

  /** @param module the compiled `chrome_fast_path.wasm`. */
  constructor(module: WebAssembly.Module) {
    this.x = new WebAssembly.Instance(module, {}).exports as unknown as Exports;
  }

  /** (Re)makes the views after the memory grew (growing detaches the old buffer). */
  private views(): void {
    const b = this.x.memory.buffer;
    if (this.heap.buffer === b) return;
    this.heap = new Uint8Array(b);
    this.i32 = new Int32Array(b);
    this.f64 = new Float64Array(b);
    this.i64 = new BigInt64Array(b);
  }

  /**
   * Imports what it can of a batch (whole NDJSON lines from the framer).
   * @throws a WebAssembly RuntimeError if the module runs out of memory (4 GiB).
   */
  importBatch(bytes: Uint8Array): FastPathBatch {
    const at = this.x.fp_batch_buffer(bytes.length);
    this.views();
    this.heap.set(bytes, at);
    const r = this.x.fp_import(bytes.length) >> 2;
    this.views();
    const i32 = this.i32;
    const nd = i32[r + 1] as number;
    const dp = i32[r + 2] as number;
    const declined = new Float64Array(nd * 4);
    for (let k = 0; k < nd; k++) {
      const w = (dp >> 2) + k * 6;
      declined[k * 4] = i32[w] as number;
      declined[k * 4 + 1] = i32[w + 1] as number;
      declined[k * 4 + 2] = this.f64[(dp >> 3) + k * 3 + 1] as number;
      declined[k * 4 + 3] = i32[w + 4] as number;
    }
    const u32 = (count: number, ptr: number) => new Uint32Array(this.x.memory.buffer, ptr, count).slice();
    this.countsAt = i32[r + 9] as number;
    return {
      lines: i32[r] as number,
      declined,
      newGroups: u32((i32[r + 3] as number) * 4, i32[r + 4] as number),
      newThreads: u32((i32[r + 5] as number) * 2, i32[r + 6] as number),
      becameLive: u32(i32[r + 7] as number, i32[r + 8] as number),
    };
  }

  /** Adds the imported-event counts (by `ph * 3 + dest`) to `into` and zeroes them. */
  takeCounts(into: Float64Array): void {
    this.views();
    const base = this.countsAt >> 3;
    if (base === 0) return;
    const f = this.f64;
    for (let k = 0; k < into.length; k++) {
      const c = f[base + k] as number;
      if (c !== 0) {
        into[k] = (into[k] as number) + c;
        f[base + k] = 0;
      }
    }
  }

  /** Bytes of column data group `g` holds. */
  blockBytes(g: number): number {
    return this.x.fp_block_bytes(g);
  }

  /** Group `g`'s rows as columns (views valid until the next call into the module). */
  block(g: number): FastPathBlock {
    const p = this.x.fp_block(g) >> 2;
    this.views();
    const i32 = this.i32;
    const rows = i32[p] as number;
    const ngs = i32[p + 1] as number;
    const gs = (i32[p + 2] as number) >> 2;
    const st = (i32[p + 3] as number) >> 3;
    const i64 = this.i64;
    const minTime = i64[st] as bigint;
    const maxTime = i64[st + 1] as bigint;
    const maxEnd = i64[st + 2] as bigint;
    const columns: ColumnData[] = [];
    for (let c = 0; c < NC; c++) {
      const v = i32[p + 8 + c * 3] as number;
      const len = i32[p + 8 + c * 3 + 1] as number;
      const d = i32[p + 8 + c * 3 + 2] as number;
      const groupStarts: number[] = [];
      for (let k = 0; k < ngs; k++) groupStarts.push(i32[gs + k * NC + c] as number);
      let min: Uint8Array | null = null;
      let max: Uint8Array | null = null;
      if (c === 0 && rows > 0) {
        min = i64Bytes(i64[st + 3] as bigint);
        max = i64Bytes(i64[st + 4] as bigint);
      } else if (c === 2 && rows > 0) {
        min = i64Bytes(minTime);
        max = i64Bytes(maxTime);
      }
      columns.push({
        values: this.heap.subarray(v, v + len),
        valuesLen: len,
        defs: this.heap.subarray(d, d + rows),
        groupStarts,
        min,
        max,
      });
    }
    return { rows, columns, begin: minTime, end: maxEnd };
  }

  /** Empties group `g` after its block was written. */
  reset(g: number): void {
    this.x.fp_reset(g);
  }
}

let compiled: WebAssembly.Module | undefined;

/**
 * A new instance of the fast path (the module is compiled once per thread).
 * @throws when the module file is missing or invalid (a broken build).
 */
export function loadChromeFastPath(): ChromeFastPath {
  compiled ??= new WebAssembly.Module(readFileSync(wasmPath));
  return new ChromeFastPath(compiled);
}
