/**
 * Chrome's times: microseconds (integer or fractional, numbers or numeric strings) to exact
 * nanoseconds, by the mapping's rule (the reference is `tl_us_to_ns` in the oracle SQL of
 * tests/ingest/legacy_importer.ts): an integer text of at most 17 characters is multiplied
 * exactly; a text of at most 15 characters with a point, or any with an exponent, goes through a
 * double (rounded half away from zero); a longer decimal is split at the point, its integer part
 * multiplied exactly and the first three fraction digits added (sub-ns digits truncated). A
 * result outside BIGINT, or a text that is not a number, gives null.
 */

/** A nanosecond value: a safe integer, a bigint outside that range, or null. */
export type Ns = number | bigint | null;

const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;
const TWO63 = 2 ** 63;
const decoder = new TextDecoder();
const INT_RE = /^[ \t\n\v\f\r]*([+-]?)(\d+(?:_\d+)*)[ \t\n\v\f\r]*$/;
const DOUBLE_RE = /^[ \t\n\v\f\r]*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?[ \t\n\v\f\r]*$/;

/** DuckDB's VARCHAR → integer cast of a text without `.` or exponent, or null. */
function intCast(x: string): bigint | null {
  const m = INT_RE.exec(x);
  if (!m) return null;
  const v = BigInt((m[2] as string).replaceAll("_", ""));
  return m[1] === "-" ? -v : v;
}

/** DuckDB's VARCHAR → DOUBLE cast, finite values only, or null. */
function doubleCast(x: string): number | null {
  if (!DOUBLE_RE.test(x)) return null;
  const v = Number(x.trim());
  return Number.isFinite(v) ? v : null;
}

/** Rounds half away from zero, as DuckDB's round(DOUBLE). */
export function roundAway(v: number): number {
  const t = Math.trunc(v);
  const d = v - t;
  if (d >= 0.5) return t + 1;
  if (d <= -0.5) return t - 1;
  return t;
}

function inI64(v: bigint): bigint | null {
  return v < I64_MIN || v > I64_MAX ? null : v;
}

/**
 * Any text of a time in µs → ns (see the file comment); null for null, for a text that is not
 * a number, and for a result outside BIGINT.
 */
export function usTextToNsAny(x: string | null): bigint | null {
  if (x === null) return null;
  const len = [...x].length;
  const hasE = x.includes("e") || x.includes("E");
  if (!x.includes(".") && !hasE) {
    if (len > 17) return null;
    const h = intCast(x);
    return h === null ? null : inI64(h * 1000n);
  }
  if (len <= 15 || hasE) {
    const d = doubleCast(x);
    if (d === null) return null;
    const r = roundAway(d * 1000);
    return r >= -TWO63 && r < TWO63 ? BigInt(r) : null;
  }
  const parts = x.split(".");
  const intPart = parts[0] as string;
  if ([...intPart].length > 17) return null;
  const a = intCast(intPart);
  const frac = [...(parts[1] ?? "")].slice(0, 3);
  while (frac.length < 3) frac.push("0");
  const b = intCast(frac.join(""));
  if (a === null || b === null) return null;
  const sign = x.replace(/^ +/, "").startsWith("-") ? -1n : 1n;
  return inI64(a * 1000n + sign * b);
}

/** A BIGINT value as a safe integer when it is one. */
export function nsValue(v: bigint | null): Ns {
  if (v === null) return null;
  return v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v;
}

function digitsValue(buf: Uint8Array, s: number, e: number): number {
  let v = 0;
  for (let k = s; k < e; k++) v = v * 10 + ((buf[k] as number) - 0x30);
  return v;
}

function digitsBig(buf: Uint8Array, s: number, e: number): bigint {
  return e > s ? BigInt(decoder.decode(buf.subarray(s, e))) : 0n;
}

const POW10 = [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];

/**
 * `tl_us_to_ns` on a text of the form -?digits(.digits)? (ASCII bytes `buf[s, e)`).
 * @returns ns as a safe integer or bigint, or null (the macro's NULL).
 */
export function usTextToNs(buf: Uint8Array, s: number, e: number): Ns {
  const len = e - s;
  let dot = -1;
  for (let k = s; k < e; k++) {
    if (buf[k] === 0x2e) {
      dot = k;
      break;
    }
  }
  const neg = buf[s] === 0x2d;
  const d0 = neg ? s + 1 : s;
  if (dot < 0) {
    if (len > 17) return null;
    if (e - d0 <= 12) {
      const v = digitsValue(buf, d0, e) * 1000;
      return neg ? (v === 0 ? 0 : -v) : v;
    }
    const v = digitsBig(buf, d0, e) * 1000n * (neg ? -1n : 1n);
    return v < I64_MIN || v > I64_MAX ? null : nsValue(v);
  }
  if (len <= 15) {
    // At most 14 digits: the mantissa is exact and one division is correctly rounded, as
    // DuckDB's VARCHAR → DOUBLE cast.
    let m = 0;
    for (let k = d0; k < e; k++) if (k !== dot) m = m * 10 + ((buf[k] as number) - 0x30);
    const x = m / (POW10[e - dot - 1] as number);
    const r = roundAway((neg ? -x : x) * 1000);
    if (!(r >= -TWO63 && r < TWO63)) return null;
    return Number.isSafeInteger(r) ? (Object.is(r, -0) ? 0 : r) : BigInt(r);
  }
  if (dot - s > 17) return null;
  let frac = 0;
  for (let k = 0; k < 3; k++) {
    const c = dot + 1 + k < e ? (buf[dot + 1 + k] as number) - 0x30 : 0;
    frac = frac * 10 + c;
  }
  if (dot - d0 <= 12) {
    const v = digitsValue(buf, d0, dot) * 1000 + frac;
    // HUGEINT(int part) × 1000 + sign × frac: the integer part keeps its own sign.
    return neg ? (v === 0 ? 0 : -v) : v;
  }
  const v = (digitsBig(buf, d0, dot) * 1000n + BigInt(frac)) * (neg ? -1n : 1n);
  return v < I64_MIN || v > I64_MAX ? null : nsValue(v);
}
