/**
 * Canonical JSON text as the mapping's reference prints it (DuckDB's VARCHAR cast, yyjson's
 * writer; see event_parser.ts): numbers without trailing fraction zeros or as the double's
 * shortest round-trip form, minified nested values; and the repair of lone surrogate escapes.
 * Works on bytes the event parser validated.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

function isWs(b: number): boolean {
  return b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d;
}

function isDigit(b: number): boolean {
  return b >= 0x30 && b <= 0x39;
}

function hexVal(b: number): number {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x41 && b <= 0x46) return b - 0x37;
  if (b >= 0x61 && b <= 0x66) return b - 0x57;
  return -1;
}

/**
 * The shortest round-trip text of the decimal `buf[s, e)` (no exponent) as yyjson's writer and
 * DuckDB's VARCHAR cast print it: JS's Number toString (also shortest round-trip, in decimal
 * notation from 1e-7 to 1e21), with `.0` for an integral value; null when JS would use an
 * exponent or the value is zero.
 */
export function shortest(buf: Uint8Array, s: number, e: number): string | null {
  let t = "";
  for (let k = s; k < e; k++) t += String.fromCharCode(buf[k] as number);
  const v = Number(t);
  if (v === 0 || !Number.isFinite(v)) return null;
  const r = String(v);
  if (r.includes("e")) return null;
  return r.includes(".") ? r : `${r}.0`;
}

export function sameAscii(buf: Uint8Array, s: number, t: string): boolean {
  for (let k = 0; k < t.length; k++) if (buf[s + k] !== t.charCodeAt(k)) return false;
  return true;
}

/**
 * Writes the canonical text of the number literal `buf[s, e)` (validated by the parser) at
 * `out[p]`; returns the new end. Integers: as written, `-0` → `0`. Decimals: trailing fraction
 * zeros dropped, keeping at least one digit.
 */
export function writeCanonicalNumber(buf: Uint8Array, s: number, e: number, out: Uint8Array, p: number): number {
  let dot = -1;
  for (let k = s; k < e; k++) {
    if (buf[k] === 0x2e) {
      dot = k;
      break;
    }
  }
  if (dot < 0) {
    if (e - s === 2 && buf[s] === 0x2d && buf[s + 1] === 0x30) {
      out[p] = 0x30;
      return p + 1;
    }
    for (let k = s; k < e; k++) out[p++] = buf[k] as number;
    return p;
  }
  let fe = e;
  while (fe > dot + 2 && buf[fe - 1] === 0x30) fe--;
  let digits = 0;
  for (let k = s; k < fe; k++) if (buf[k] !== 0x2d && buf[k] !== 0x2e) digits++;
  if (digits > 15) {
    // (Leading zeros count here but not as significant digits: shortest() is exact anyway.)
    const t = shortest(buf, s, e);
    if (t !== null) {
      for (let k = 0; k < t.length; k++) out[p++] = t.charCodeAt(k);
      return p;
    }
  }
  for (let k = s; k < fe; k++) out[p++] = buf[k] as number;
  return p;
}

/**
 * Writes the minified, canonical JSON text of the nested value `buf[s, e)` (validated by the
 * parser) at `out[p]`; returns the new end. The output is never longer than the input.
 */
export function writeMinified(buf: Uint8Array, s: number, e: number, out: Uint8Array, p: number): number {
  let k = s;
  while (k < e) {
    const b = buf[k] as number;
    if (b === QUOTE) {
      out[p++] = b;
      k++;
      for (;;) {
        const c = buf[k] as number;
        out[p++] = c;
        k++;
        if (c === BACKSLASH) out[p++] = buf[k++] as number;
        else if (c === QUOTE) break;
      }
    } else if (isWs(b)) k++;
    else if (b === 0x2d || isDigit(b)) {
      let n = k + 1;
      while (n < e) {
        const c = buf[n] as number;
        if (c === 0x2c || c === 0x7d || c === 0x5d || isWs(c)) break;
        n++;
      }
      p = writeCanonicalNumber(buf, k, n, out, p);
      k = n;
    } else {
      out[p++] = b;
      k++;
    }
  }
  return p;
}

/** Value of 4 hex digits at `buf[k, k+4)`, or -1. */
function hex4(buf: Uint8Array, k: number): number {
  const a = hexVal(buf[k] as number);
  const b = hexVal(buf[k + 1] as number);
  const c = hexVal(buf[k + 2] as number);
  const d = hexVal(buf[k + 3] as number);
  return a < 0 || b < 0 || c < 0 || d < 0 ? -1 : (a << 12) | (b << 8) | (c << 4) | d;
}

const FFFD = [0x66, 0x66, 0x66, 0x64]; // "fffd"

/**
 * Rewrites, in place, every `\uXXXX` escape in `buf[s, e)` that leaves a UTF-16 surrogate
 * unpaired (a high one not followed by a low one, or a low one alone) to `\ufffd`, U+FFFD, as a
 * UTF-8 encoder replaces a lone surrogate (the other formats' importers do the same, see
 * `wellFormedJson` in raw_rows.ts). RFC 8259 §8.2 allows such escapes but leaves their meaning
 * open; DuckDB's JSON reader refuses them ("no low surrogate"), which made the whole event
 * malformed. Same length, so offsets into the buffer hold. Backslash pairs are skipped as such
 * (`\\ud800` is not an escape).
 * @returns whether anything was rewritten.
 */
export function replaceLoneSurrogateEscapes(buf: Uint8Array, s: number, e: number): boolean {
  let changed = false;
  let i = buf.indexOf(BACKSLASH, s);
  while (i >= 0 && i < e) {
    if (buf[i + 1] !== 0x75 || i + 6 > e) {
      i = buf.indexOf(BACKSLASH, i + 2);
      continue;
    }
    const u = hex4(buf, i + 2);
    let len = 6;
    let lone = false;
    if (u >= 0xd800 && u <= 0xdbff) {
      const lo = i + 12 <= e && buf[i + 6] === BACKSLASH && buf[i + 7] === 0x75 ? hex4(buf, i + 8) : -1;
      if (lo >= 0xdc00 && lo <= 0xdfff) len = 12;
      else lone = true;
    } else if (u >= 0xdc00 && u <= 0xdfff) lone = true;
    if (lone) {
      for (let k = 0; k < 4; k++) buf[i + 2 + k] = FFFD[k] as number;
      changed = true;
    }
    i = buf.indexOf(BACKSLASH, i + len);
  }
  return changed;
}
