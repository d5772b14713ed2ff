/**
 * Partial aggregation state, shared by the workers (which fold rows into it) and the merge
 * stage (which combines the workers' partials): groups per window, each with one flat
 * accumulator array, and the routing hash of a group key.
 *
 * Values arrive in transfer form (see lib/replay/source.ts): integers as numbers when exact
 * (|v| < 2^53) else bigint, doubles as numbers, everything else as strings, NULL as null.
 */

/** How an aggregate's argument is transferred and accumulated. */
export type ArgKind = "i64" | "f64" | "str";

/** What a worker needs to know about one aggregate. */
export interface AggSpec {
  kind: "count_star" | "count" | "count_distinct" | "sum" | "min" | "max" | "avg";
  /** Column of the batch holding the argument (after the key columns); -1 for count(*). */
  col: number;
  argKind: ArgKind;
}

/** The plan a worker runs. */
export interface WorkerPlan {
  /** Number of key columns at the start of each batch. */
  nKeys: number;
  /** Index of the window key among the keys, or -1. */
  windowKey: number;
  /** Window width, ns (when windowKey ≥ 0). */
  widthNs: bigint;
  aggs: AggSpec[];
}

/** Slots per aggregate in a group's accumulator array. */
export const SLOTS = 3;

/** A group: its key values (transfer form) and accumulator (SLOTS per aggregate). */
export interface Group {
  keys: unknown[];
  acc: unknown[];
}

/** The groups of one window ("" = no window). */
export interface WindowState {
  /** Window start, ns since the epoch (null for no window or a NULL window key). */
  start: number | bigint | null;
  groups: Map<string, Group>;
}

/** Partial states a worker hands to the merge stage: one entry per window. */
export interface Partial {
  window: string;
  start: number | bigint | null;
  groups: Group[];
}

const TWO51 = 2 ** 51;
const TWO52 = 2 ** 52;

/** A new accumulator for `aggs`. */
export function newAcc(aggs: AggSpec[]): unknown[] {
  const acc: unknown[] = new Array(aggs.length * SLOTS);
  for (let j = 0; j < aggs.length; j++) {
    const a = aggs[j] as AggSpec;
    const o = j * SLOTS;
    if (a.kind === "count_distinct") acc[o] = new Set();
    else if (a.kind === "min" || a.kind === "max") acc[o] = null;
    else acc[o] = 0;
    acc[o + 1] = null; // bigint overflow part of an exact integer sum
    acc[o + 2] = 0; // non-NULL values seen
  }
  return acc;
}

/**
 * Compares two non-NULL transfer values in DuckDB's order: numbers (and bigints) numerically,
 * strings by code point (= UTF-8 byte order, which DuckDB's VARCHAR comparison uses; JS `<`
 * compares UTF-16 code units, which differs above U+FFFF).
 */
export function compare(a: unknown, b: unknown): number {
  if (typeof a === "string" && typeof b === "string") {
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) {
      const x = a.charCodeAt(i);
      const y = b.charCodeAt(i);
      if (x !== y) {
        // A surrogate (a code point above U+FFFF) sorts after every BMP code unit.
        const xs = x >= 0xd800 && x <= 0xdfff;
        const ys = y >= 0xd800 && y <= 0xdfff;
        if (xs !== ys) return xs ? 1 : -1;
        return x < y ? -1 : 1;
      }
    }
    return a.length - b.length;
  }
  const x = a as number;
  const y = b as number;
  if (x < y) return -1;
  if (x > y) return 1;
  // NaN sorts last in DuckDB.
  const xn = Number.isNaN(x);
  const yn = Number.isNaN(y);
  return xn === yn ? 0 : xn ? 1 : -1;
}

/** Adds integer `v` (number or bigint) to the exact sum in slots o, o+1. */
function addInt(acc: unknown[], o: number, v: number | bigint): void {
  if (typeof v === "bigint" || v >= TWO51 || v <= -TWO51) {
    acc[o + 1] = ((acc[o + 1] as bigint | null) ?? 0n) + BigInt(v);
    return;
  }
  const s = (acc[o] as number) + v;
  if (s >= TWO52 || s <= -TWO52) {
    acc[o + 1] = ((acc[o + 1] as bigint | null) ?? 0n) + BigInt(s);
    acc[o] = 0;
  } else acc[o] = s;
}

/** Folds row `i` of `cols` into `acc`. */
export function accumulate(acc: unknown[], aggs: AggSpec[], cols: unknown[][], i: number): void {
  for (let j = 0; j < aggs.length; j++) {
    const a = aggs[j] as AggSpec;
    const o = j * SLOTS;
    if (a.kind === "count_star") {
      acc[o] = (acc[o] as number) + 1;
      continue;
    }
    const v = (cols[a.col] as unknown[])[i];
    if (v === null || v === undefined) continue;
    switch (a.kind) {
      case "count":
        acc[o] = (acc[o] as number) + 1;
        break;
      case "count_distinct":
        (acc[o] as Set<unknown>).add(v);
        break;
      case "sum":
      case "avg":
        if (a.argKind === "i64") addInt(acc, o, v as number | bigint);
        else acc[o] = (acc[o] as number) + (v as number);
        acc[o + 2] = (acc[o + 2] as number) + 1;
        break;
      case "min":
        if (acc[o] === null || compare(v, acc[o]) < 0) acc[o] = v;
        break;
      case "max":
        if (acc[o] === null || compare(v, acc[o]) > 0) acc[o] = v;
        break;
    }
  }
}

/** Merges accumulator `b` into `a` (same aggs). */
export function mergeAcc(a: unknown[], b: unknown[], aggs: AggSpec[]): void {
  for (let j = 0; j < aggs.length; j++) {
    const g = aggs[j] as AggSpec;
    const o = j * SLOTS;
    switch (g.kind) {
      case "count_star":
      case "count":
        a[o] = (a[o] as number) + (b[o] as number);
        break;
      case "count_distinct":
        for (const v of b[o] as Set<unknown>) (a[o] as Set<unknown>).add(v);
        break;
      case "sum":
      case "avg":
        if (g.argKind === "i64") {
          addInt(a, o, b[o] as number);
          if (b[o + 1] !== null) a[o + 1] = ((a[o + 1] as bigint | null) ?? 0n) + (b[o + 1] as bigint);
        } else a[o] = (a[o] as number) + (b[o] as number);
        a[o + 2] = (a[o + 2] as number) + (b[o + 2] as number);
        break;
      case "min":
        if (b[o] !== null && (a[o] === null || compare(b[o], a[o]) < 0)) a[o] = b[o];
        break;
      case "max":
        if (b[o] !== null && (a[o] === null || compare(b[o], a[o]) > 0)) a[o] = b[o];
        break;
    }
  }
}

/**
 * The final value of aggregate `j`: count → number; sum of integers → bigint (exact); sum of
 * doubles and avg → number; min/max → the transfer value; NULL when no non-NULL value was
 * seen (sum, avg, min, max), as DuckDB.
 */
export function finalValue(acc: unknown[], aggs: AggSpec[], j: number): unknown {
  const g = aggs[j] as AggSpec;
  const o = j * SLOTS;
  switch (g.kind) {
    case "count_star":
    case "count":
      return acc[o];
    case "count_distinct":
      return (acc[o] as Set<unknown>).size;
    case "sum":
      if (acc[o + 2] === 0) return null;
      if (g.argKind === "i64") return ((acc[o + 1] as bigint | null) ?? 0n) + BigInt(acc[o] as number);
      return acc[o];
    case "avg": {
      const n = acc[o + 2] as number;
      if (n === 0) return null;
      if (g.argKind === "i64") {
        const big = acc[o + 1] as bigint | null;
        return big === null ? (acc[o] as number) / n : Number(big + BigInt(acc[o] as number)) / n;
      }
      return (acc[o] as number) / n;
    }
    default:
      return acc[o];
  }
}

/**
 * The map key of a group: key values type-tagged and length-prefixed, so ("ab","c") and
 * ("a","bc") differ and so do 1 and '1'.
 */
export function groupKey(cols: unknown[][], i: number, from: number, to: number): string {
  let s = "";
  for (let k = from; k < to; k++) {
    const v = (cols[k] as unknown[])[i];
    if (v === null || v === undefined) s += "N;";
    else if (typeof v === "string") s += `s${v.length}:${v}`;
    else s += `n${v};`;
  }
  return s;
}

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);

/**
 * 32-bit FNV-1a over the type-tagged, length-prefixed encoding of the key values at `idx`
 * (strings: tag, length, UTF-16 code units; integers: tag and 64-bit two's complement;
 * doubles: tag and IEEE bits; NULL: a tag). FNV-1a: offset 0x811c9dc5, prime 0x01000193
 * (IETF draft-eastlake-fnv), then MurmurHash3's fmix32 finalizer (Appleby, MurmurHash3.cpp)
 * so the high bits are well mixed: the caller takes a contiguous range of the hash space per
 * partition (`floor(h * N / 2^32)`, as Arroyo's server_for_hash), not `h % N`.
 */
export function keyHash(cols: unknown[][], i: number, idx: number[]): number {
  let h = 0x811c9dc5;
  const mix = (w: number): void => {
    h = Math.imul(h ^ (w & 0xff), 0x01000193);
    h = Math.imul(h ^ ((w >>> 8) & 0xff), 0x01000193);
    h = Math.imul(h ^ ((w >>> 16) & 0xff), 0x01000193);
    h = Math.imul(h ^ (w >>> 24), 0x01000193);
  };
  for (const k of idx) {
    const v = (cols[k] as unknown[])[i];
    if (v === null || v === undefined) mix(0x4e);
    else if (typeof v === "string") {
      mix(0x53);
      mix(v.length);
      for (let c = 0; c < v.length; c++) {
        h = Math.imul(h ^ v.charCodeAt(c), 0x01000193);
      }
    } else if (typeof v === "bigint") {
      mix(0x49);
      mix(Number(BigInt.asUintN(32, v)));
      mix(Number(BigInt.asUintN(32, v >> 32n)));
    } else if (Number.isInteger(v)) {
      mix(0x49);
      const x = v as number;
      mix(x >>> 0);
      mix(Math.floor(x / 4294967296) >>> 0);
    } else {
      mix(0x44);
      f64[0] = v as number;
      mix(u32[0] as number);
      mix(u32[1] as number);
    }
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
