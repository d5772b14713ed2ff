/**
 * A result chunk's rows with JSON-friendly values, as node-api's
 * `chunk.convertRows(JsonDuckDBValueConverter)` gives them (BIGINT as decimal text, timestamps
 * as DuckDB prints them, NULL as null), read column by column from the raw vectors for the
 * common types: VARCHAR (and JSON), BOOLEAN, the integers, FLOAT, DOUBLE, TIMESTAMP and
 * TIMESTAMP_NS. node-api makes a value object per cell and formats a timestamp with BigInt
 * divisions, a Date and a regular expression; `SELECT * FROM thread_spans` of 580K spans spent
 * most of its 13.7 s of `-f ndjson` there. Other types go through node-api's converter, column by
 * column. Value rules: node_modules/@duckdb/node-api/lib/JsonDuckDBValueConverter.js and
 * conversion/dateTimeStringConversion.js; vector layouts: duckdb.h (duckdb_string_t: a 4-byte
 * length, then 12 inline bytes or a 4-byte prefix and a pointer; validity: one bit per row).
 */
import type { DuckDBDataChunk, DuckDBResult, DuckDBValueConverter, Json } from "@duckdb/node-api";
import { duckApi } from "./api.ts";
import { type DuckBindings, duckBindings, type Handle, rawChunk } from "./bindings.ts";
import { PointerCopy } from "./pointer_copy.ts";

/** DuckDB's type ids (DuckDBTypeId) read here. */
const T = {
  BOOLEAN: 1,
  TINYINT: 2,
  SMALLINT: 3,
  INTEGER: 4,
  BIGINT: 5,
  UTINYINT: 6,
  USMALLINT: 7,
  UINTEGER: 8,
  UBIGINT: 9,
  FLOAT: 10,
  DOUBLE: 11,
  TIMESTAMP: 12,
  VARCHAR: 17,
  TIMESTAMP_NS: 22,
} as const;

/** The integer types up to 32 bits, as the typed arrays that hold them (their values are numbers). */
const INTS: Record<
  number,
  { new (b: ArrayBufferLike, offset: number, n: number): ArrayLike<number>; BYTES_PER_ELEMENT: number }
> = {
  [T.TINYINT]: Int8Array,
  [T.SMALLINT]: Int16Array,
  [T.INTEGER]: Int32Array,
  [T.UTINYINT]: Uint8Array,
  [T.USMALLINT]: Uint16Array,
  [T.UINTEGER]: Uint32Array,
};

/** Bytes per value of the other fixed-width types read here. */
const WIDTH: Record<number, number> = {
  [T.BOOLEAN]: 1,
  [T.BIGINT]: 8,
  [T.UBIGINT]: 8,
  [T.FLOAT]: 4,
  [T.DOUBLE]: 8,
  [T.TIMESTAMP]: 8,
  [T.TIMESTAMP_NS]: 8,
};

/** Bytes per value of a fixed-width type read here; undefined for the others. */
function widthOf(typeId: number): number | undefined {
  return INTS[typeId]?.BYTES_PER_ELEMENT ?? WIDTH[typeId];
}

/** True when `chunkRows` reads columns of DuckDB type id `typeId` itself. */
export function readsType(typeId: number): boolean {
  return typeId === T.VARCHAR || widthOf(typeId) !== undefined;
}

const UTF8 = new TextDecoder();

/**
 * The rows of `chunk` (column k of DuckDB type id `typeIds[k]`), values as node-api's JSON
 * converter makes them; columns of types `readsType` refuses go through `converter` (node-api's
 * JsonDuckDBValueConverter). `copy` holds long strings' bytes between calls.
 */
export function chunkRows(
  b: DuckBindings,
  chunk: DuckDBDataChunk,
  typeIds: readonly number[],
  converter: DuckDBValueConverter<Json>,
  copy: PointerCopy,
): unknown[][] {
  const n = chunk.rowCount;
  const raw = rawChunk(chunk);
  const rows: unknown[][] = new Array(n);
  const width = typeIds.length;
  for (let i = 0; i < n; i++) rows[i] = new Array(width);
  for (let k = 0; k < width; k++) {
    const t = typeIds[k] as number;
    if (!readsType(t)) {
      const v = chunk.getColumnVector(k);
      for (let i = 0; i < n; i++) {
        const item = v.getItem(i);
        (rows[i] as unknown[])[k] = item === null ? null : converter(item, v.type, converter);
      }
      continue;
    }
    const vector = b.data_chunk_get_vector(raw, k);
    const valid = b.vector_get_validity(vector, Math.ceil(n / 64) * 8);
    const isValid = (i: number): boolean => valid === null || (((valid[i >> 3] as number) >> (i & 7)) & 1) === 1;
    if (t === T.VARCHAR) {
      readText(b, vector, n, isValid, rows, k, copy);
      continue;
    }
    let u8 = b.vector_get_data(vector, n * (widthOf(t) as number));
    if (u8.byteOffset % 8 !== 0) u8 = u8.slice();
    const { buffer, byteOffset } = u8;
    let get: (i: number) => unknown;
    const Ints = INTS[t];
    if (Ints !== undefined) {
      const a = new Ints(buffer, byteOffset, n);
      get = (i) => a[i];
    } else if (t === T.BOOLEAN) {
      get = (i) => u8[i] !== 0;
    } else if (t === T.BIGINT || t === T.UBIGINT) {
      // stringFromValue: the decimal text.
      const a = t === T.BIGINT ? new BigInt64Array(buffer, byteOffset, n) : new BigUint64Array(buffer, byteOffset, n);
      get = (i) => String(a[i]);
    } else if (t === T.FLOAT || t === T.DOUBLE) {
      const a = t === T.FLOAT ? new Float32Array(buffer, byteOffset, n) : new Float64Array(buffer, byteOffset, n);
      // jsonNumberFromValue: finite numbers as numbers, NaN and ±Infinity as their text.
      get = (i) => {
        const x = a[i] as number;
        return Number.isFinite(x) ? x : String(x);
      };
    } else {
      // TIMESTAMP (µs) or TIMESTAMP_NS: the value's two 32-bit words.
      const w = new Int32Array(buffer, byteOffset, n * 2);
      const ns = t === T.TIMESTAMP_NS;
      get = (i) => timestampText(w[2 * i + 1] as number, w[2 * i] as number, ns);
    }
    for (let i = 0; i < n; i++) (rows[i] as unknown[])[k] = isValid(i) ? get(i) : null;
  }
  return rows;
}

/**
 * The rows of a streaming `result`, chunk by chunk (DuckDB's, up to 2048 rows), as `chunkRows`
 * reads them. With `convert`, the chunks after the first `convert` rows are only counted: each
 * comes as an array of its length with no entries (a table showing 100 rows of 580K).
 * @throws Error from DuckDB while the result is fetched.
 */
export async function* resultRows(
  result: DuckDBResult,
  convert = Number.POSITIVE_INFINITY,
): AsyncGenerator<unknown[][]> {
  const { JsonDuckDBValueConverter } = await duckApi();
  const b = await duckBindings();
  const typeIds = Array.from({ length: result.columnCount }, (_, k) => result.columnTypeId(k) as number);
  const copy = new PointerCopy();
  let converted = 0;
  for (;;) {
    const chunk = await result.fetchChunk();
    if (!chunk || chunk.rowCount === 0) return;
    if (converted >= convert) {
      yield new Array(chunk.rowCount);
      continue;
    }
    const rows = chunkRows(b, chunk, typeIds, JsonDuckDBValueConverter, copy);
    converted += rows.length;
    yield rows;
  }
}

/** Column k of VARCHAR (or JSON) values: each decoded from UTF-8 as node-api's getString decodes it. */
function readText(
  b: DuckBindings,
  vector: Handle,
  n: number,
  isValid: (i: number) => boolean,
  rows: unknown[][],
  k: number,
  copy: PointerCopy,
): void {
  const u8 = b.vector_get_data(vector, n * 16);
  for (let i = 0; i < n; i++) {
    const row = rows[i] as unknown[];
    if (!isValid(i)) {
      row[k] = null;
      continue;
    }
    const o = i * 16;
    const len =
      (u8[o] as number) | ((u8[o + 1] as number) << 8) | ((u8[o + 2] as number) << 16) | ((u8[o + 3] as number) << 24);
    if (len <= 12) {
      row[k] = len === 0 ? "" : UTF8.decode(u8.subarray(o + 4, o + 4 + len));
      continue;
    }
    const bytes =
      copy.copy(u8, o + 8, len) ?? b.get_data_from_pointer(u8.buffer as ArrayBuffer, u8.byteOffset + o + 8, len);
    row[k] = UTF8.decode(bytes.subarray(0, len));
  }
}

/** One day in each unit: the odd factor and power of two of 86,400 × 10^6 (µs) and × 10^9 (ns). */
const DAY_US = { odd: 10_546_875, shift: 13, day: 86_400_000_000 };
const DAY_NS = { odd: 1_318_359_375, shift: 16, day: 86_400_000_000_000 };

/** ±(2^63 - 1) µs: TIMESTAMP's infinities (node-api prints them as words; TIMESTAMP_NS has none). */
const INF_HI = 0x7fffffff;

/**
 * DuckDB's text of a TIMESTAMP (µs, `ns` false) or TIMESTAMP_NS value whose 64 bits are
 * `hi` (signed high word) and `lo` (low word), as node-api's getDuckDBTimestampStringFrom*
 * writes it: `YYYY-MM-DD HH:MM:SS[.fraction without trailing zeros][ (BC)]`. No BigInt: with
 * a day of 2^shift × odd units, hi × 2^32 = q × day + s × 2^shift where hi × 2^(32-shift) = q ×
 * odd + s, each an exact double.
 */
export function timestampText(hi: number, lo: number, ns: boolean): string {
  const u = lo >>> 0;
  if (!ns && hi === INF_HI && u === 0xffffffff) return "infinity";
  if (!ns && hi === -0x80000000 && u === 1) return "-infinity";
  const d = ns ? DAY_NS : DAY_US;
  const m = hi * 2 ** (32 - d.shift);
  let q = Math.floor(m / d.odd);
  let s = m - q * d.odd;
  if (s < 0) {
    q--;
    s += d.odd;
  } else if (s >= d.odd) {
    q++;
    s -= d.odd;
  }
  let r = s * 2 ** d.shift + u;
  if (r >= d.day) {
    q++;
    r -= d.day;
  }
  return `${dateText(q)} ${timeText(r, ns)}`;
}

/** `HH:MM:SS[.fraction]` of `r` units (µs or ns) into a day, trailing zeros of the fraction dropped. */
function timeText(r: number, ns: boolean): string {
  const perSecond = ns ? 1e9 : 1e6;
  const frac = r % perSecond;
  const secs = (r - frac) / perSecond;
  const h = Math.floor(secs / 3600);
  const mi = Math.floor((secs % 3600) / 60);
  const se = secs % 60;
  let t = `${h < 10 ? "0" : ""}${h}:${mi < 10 ? "0" : ""}${mi}:${se < 10 ? "0" : ""}${se}`;
  if (frac !== 0) {
    let f = String(frac).padStart(ns ? 9 : 6, "0");
    let end = f.length;
    while (f.charCodeAt(end - 1) === 48) end--;
    f = f.slice(0, end);
    t += `.${f}`;
  }
  return t;
}

/** Days since 1970-01-01 → `YYYY-MM-DD[ (BC)]`, cached (timestamps of a result share few days). */
const dates = new Map<number, string>();

/** getDuckDBDateStringFromDays (node-api), cached, with DuckDB's year 1 BC. */
function dateText(days: number): string {
  let s = dates.get(days);
  if (s !== undefined) return s;
  const absDays = Math.abs(days);
  const sign = days < 0 ? -1 : 1;
  // 400 years is the shortest interval with a fixed number of days (146,097); the rest is within
  // JS Date's range.
  const n400 = Math.floor(absDays / 146_097);
  const date = new Date(sign * (absDays % 146_097) * 86_400_000);
  // Date's years are astronomical (0 is 1 BC): years up to 0 print as BC, one more. node-api's
  // own function tests year < 0 and prints the year 1 BC as 0000; DuckDB prints 0001 (BC).
  let year = sign * n400 * 400 + date.getUTCFullYear();
  if (year <= 0) year--;
  const month = date.getUTCMonth() + 1;
  const day = date.getUTCDate();
  s = `${String(Math.abs(year)).padStart(4, "0")}-${String(month).padStart(2, "0")}-${String(day).padStart(2, "0")}${year < 0 ? " (BC)" : ""}`;
  if (dates.size >= 4096) dates.clear();
  dates.set(days, s);
  return s;
}
