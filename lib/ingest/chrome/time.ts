/**
 * Chrome's times: microseconds (integer or fractional, numbers or numeric strings) to exact
 * nanoseconds, by the mapping's rule (the reference is `tl_us_to_ns` in the oracle SQL of
 * tests/ingest/legacy_importer.ts): an integer text of at most 17 characters is multiplied
 * exactly; a text of at most 15 characters with a point, or any with an exponent, goes through a
 * double (rounded half away from zero); a longer decimal is split at the point, its integer part
 * multiplied exactly and the first three fraction digits added (sub-ns digits truncated). A
 * result outside BIGINT, or a text that is not a number, gives null.
 */

const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;
const TWO63 = 2 ** 63;
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
