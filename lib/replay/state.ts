/**
 * Partial aggregation state, shared by the workers (which fold rows into it) and the merge
 * stage (which combines the workers' partials): groups per window, each with one flat
 * accumulator array; and the routing hash of a group key.
 *
 * Batches are columnar and numeric (lib/replay/replay.ts builds them; the buffers are
 * transferred to the worker, not copied):
 * - `i64`: integers and timestamps (epoch ns) as offsets from a per-column base, exact in a
 *   double while |offset| < 2^52; a value out of that range is NaN in `vals` and its exact
 *   offset (bigint) is in `wide`;
 * - `f64`: doubles as they are;
 * - `dict`: every other type as an id into a dictionary DuckDB built, sorted in DuckDB's order
 *   of the type, so min/max of ids are min/max of values and equal values share one id.
 */

/** How a column is carried. */
export type ArgKind = "i64" | "f64" | "dict";

/** One batch of rows: a Float64Array per column, validity (null = all valid), wide values. */
export interface Batch {
  vals: Float64Array[];
  /** 1 = valid, 0 = NULL; null when every row of the column is valid. */
  valid: (Uint8Array | null)[];
  /** Exact offsets of the `i64` values that did not fit a double (row → offset). */
  wide: (Map<number, bigint> | null)[];
}

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

/** A group: its key values (offsets / ids / doubles; null for NULL) and accumulator. */
export interface Group {
  keys: (number | bigint | null)[];
  acc: unknown[];
}

/** The groups of one window (a single window "" when the query has none). */
export interface WindowState {
  /** Window start as an offset of the window key column (null: no window, or a NULL key). */
  start: number | bigint | null;
  groups: Map<unknown, Group>;
}

/** Partial states a worker hands to the merge stage: one entry per window. */
export interface Partial {
  window: unknown;
  start: number | bigint | null;
  groups: Group[];
}

const TWO51 = 2 ** 51;
const TWO52 = 2 ** 52;

/** Value of column `c` at row `i`: a number, a bigint (wide offset) or null. */
export function valueAt(b: Batch, c: number, i: number): number | bigint | null {
  const valid = b.valid[c];
  if (valid && valid[i] === 0) return null;
  const v = (b.vals[c] as Float64Array)[i] as number;
  if (Number.isNaN(v)) {
    const w = b.wide[c];
    const x = w ? w.get(i) : undefined;
    if (x !== undefined) return x;
  }
  return v;
}

/**
 * The map key of a group from its key values: the value itself for one key (Map keys compare
 * numbers by SameValueZero, so NaN groups with NaN and -0 with 0, as in DuckDB), else the
 * values joined with '|' (bigints suffixed with n, NULL as N).
 */
export function keyOfValues(keys: (number | bigint | null)[]): unknown {
  if (keys.length === 1) return keys[0];
  let s = "";
  for (const v of keys) s += v === null ? "N|" : typeof v === "bigint" ? `${v}n|` : `${v}|`;
  return s;
}

/** A new accumulator for `aggs`. */
export function newAcc(aggs: AggSpec[]): unknown[] {
  const acc: unknown[] = new Array(aggs.length * SLOTS);
  for (let j = 0; j < aggs.length; j++) {
    const a = aggs[j] as AggSpec;
    const o = j * SLOTS;
    if (a.kind === "count_distinct") acc[o] = new Set();
    else if (a.kind === "min" || a.kind === "max") acc[o] = null;
    else acc[o] = 0;
    acc[o + 1] = null; // bigint part of an exact integer sum
    acc[o + 2] = 0; // non-NULL values seen
  }
  return acc;
}

/** Compares two non-NULL values numerically; NaN sorts last, as in DuckDB. */
export function compare(a: number | bigint, b: number | bigint): number {
  if (a < b) return -1;
  if (a > b) return 1;
  const an = typeof a === "number" && Number.isNaN(a);
  const bn = typeof b === "number" && Number.isNaN(b);
  return an === bn ? 0 : an ? 1 : -1;
}

/** Adds integer `v` (number or bigint) to the exact sum in slots o (number), o+1 (bigint). */
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

/** Folds row `i` of batch `b` into `acc`. */
export function accumulate(acc: unknown[], aggs: AggSpec[], b: Batch, i: number): void {
  for (let j = 0; j < aggs.length; j++) {
    const a = aggs[j] as AggSpec;
    const o = j * SLOTS;
    if (a.kind === "count_star") {
      acc[o] = (acc[o] as number) + 1;
      continue;
    }
    const v = valueAt(b, a.col, i);
    if (v === null) continue;
    switch (a.kind) {
      case "count":
        acc[o] = (acc[o] as number) + 1;
        break;
      case "count_distinct":
        (acc[o] as Set<unknown>).add(v);
        break;
      case "sum":
      case "avg":
        if (a.argKind === "i64") addInt(acc, o, v);
        else acc[o] = (acc[o] as number) + (v as number);
        acc[o + 2] = (acc[o + 2] as number) + 1;
        break;
      case "min":
        if (acc[o] === null || compare(v, acc[o] as number) < 0) acc[o] = v;
        break;
      case "max":
        if (acc[o] === null || compare(v, acc[o] as number) > 0) acc[o] = v;
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
        if (b[o] !== null && (a[o] === null || compare(b[o] as number, a[o] as number) < 0)) a[o] = b[o];
        break;
      case "max":
        if (b[o] !== null && (a[o] === null || compare(b[o] as number, a[o] as number) > 0)) a[o] = b[o];
        break;
    }
  }
}

/**
 * The final value of aggregate `j` as the Finalizer carries it: count → number; sum of doubles
 * and avg of doubles → number; sum and avg of integers (i64) → the exact sum of the values'
 * offsets (a number while it fits the number slot, else a bigint), without the count × base that
 * makes it the sum of the values (the Finalizer adds that in SQL, with valueCount: no BigInt per
 * group); min/max → the raw offset/id/double (the caller adds the base or looks the id up); NULL
 * when no non-NULL value was seen (sum, avg, min, max), as DuckDB.
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
    case "avg": {
      const n = acc[o + 2] as number;
      if (n === 0) return null;
      if (g.argKind === "i64") {
        const wide = acc[o + 1] as bigint | null;
        return wide === null ? acc[o] : wide + BigInt(acc[o] as number);
      }
      return g.kind === "sum" ? acc[o] : (acc[o] as number) / n;
    }
    default:
      return acc[o];
  }
}

/** The number of non-NULL values aggregate `j` (a sum or avg) has seen. */
export function valueCount(acc: unknown[], j: number): number {
  return acc[j * SLOTS + 2] as number;
}

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);

/** FNV-1a 32-bit step over the 4 bytes of `w` (IETF draft-eastlake-fnv: offset 0x811c9dc5, prime 0x01000193). */
function mix(h: number, w: number): number {
  let x = Math.imul(h ^ (w & 0xff), 0x01000193);
  x = Math.imul(x ^ ((w >>> 8) & 0xff), 0x01000193);
  x = Math.imul(x ^ ((w >>> 16) & 0xff), 0x01000193);
  return Math.imul(x ^ (w >>> 24), 0x01000193);
}

/** MurmurHash3's fmix32 finalizer (Appleby, MurmurHash3.cpp): mixes the high bits. */
function fmix(h: number): number {
  let x = h ^ (h >>> 16);
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** Type tags of the key encoding. */
const TAG_NULL = 0x4e;
const TAG_STR = 0x53;
const TAG_INT = 0x49;
const TAG_DBL = 0x44;

/**
 * 32-bit hash of a key given as JS values: FNV-1a over the type-tagged, length-prefixed
 * encoding (strings: tag, length, UTF-16 code units; integers: tag and the two 32-bit halves;
 * doubles: tag and IEEE bits; NULL: a tag), then fmix32. ("ab","c") and ("a","bc") differ,
 * and so do 1 and '1'. Used for dictionary entries; `rowHash` composes these.
 */
export function keyHash(values: unknown[]): number {
  let h = 0x811c9dc5;
  for (const v of values) h = mixValue(h, v);
  return fmix(h);
}

function mixValue(hIn: number, v: unknown): number {
  let h = hIn;
  if (v === null || v === undefined) return mix(h, TAG_NULL);
  if (typeof v === "string") {
    h = mix(mix(h, TAG_STR), v.length);
    for (let c = 0; c < v.length; c++) h = Math.imul(h ^ v.charCodeAt(c), 0x01000193);
    return h;
  }
  if (typeof v === "bigint") {
    return mix(mix(mix(h, TAG_INT), Number(BigInt.asUintN(32, v))), Number(BigInt.asUintN(32, v >> 32n)));
  }
  if (Number.isInteger(v)) {
    const x = v as number;
    return mix(mix(mix(h, TAG_INT), x >>> 0), Math.floor(x / 4294967296) >>> 0);
  }
  f64[0] = v as number;
  return mix(mix(mix(h, TAG_DBL), u32[0] as number), u32[1] as number);
}

/**
 * The routing hash of row `i`: keyHash's encoding over the columns `cols`, where a `dict`
 * column contributes the string tag and the keyHash of its dictionary entry (`dictHash[c]`,
 * indexed by id).
 */
export function rowHash(b: Batch, i: number, cols: number[], dictHash: (Uint32Array | null)[]): number {
  let h = 0x811c9dc5;
  for (const c of cols) {
    const v = valueAt(b, c, i);
    const d = dictHash[c];
    if (d && v !== null) h = mix(mix(h, TAG_STR), d[v as number] as number);
    else h = mixValue(h, v);
  }
  return fmix(h);
}
