/**
 * Field extraction from one Chrome trace event (one NDJSON line written by the framer): the
 * kinds and byte ranges of the fields the mapping reads (event_fields.ts), without copies.
 *
 * The importer's contract is the reference's (DuckDB's `read_ndjson`, yyjson, with
 * `ignore_errors`): the text each column gets, as VARCHAR text or as minified JSON. This parser
 * only takes the events whose meaning it knows exactly (its "fast path"), and reports every
 * other event as not handled, for the slow path (declined.ts). An event is handled when:
 * - it is well-formed JSON without trailing commas, NaN/Infinity, comments or exponents;
 * - its strings are valid UTF-8 without raw control characters and without lone surrogates;
 *   keys have no escapes; strings inside nested values (and a string `args`) use only the
 *   escapes yyjson writes (`\" \\ \b \f \n \r \t \u00XX`, uppercase hex, below 0x20);
 * - its numbers are integers (any length), or decimals with at most 15 integer digits and
 *   (when below 1) at most 3 zeros after the point, not negative zero: for these, the text
 *   DuckDB gives (VARCHAR cast of the parsed value, or yyjson's writer inside JSON) is the
 *   literal without trailing fraction zeros (`1.50` → `1.5`, `2.00` → `2.0`, `-0` → `0`) when
 *   it has at most 15 significant digits, else the double's shortest round-trip form
 *   (`0.8129999999999999` → `0.813`), as JS prints it.
 * Anything else (including malformed events) goes to the slow path. Duplicate keys: the first wins,
 * as in DuckDB.
 */

import { sameAscii, shortest } from "./canonical.ts";
import {
  F_ARGS,
  F_BIND_ID,
  F_BP,
  F_CAT,
  F_DUR,
  F_FLOW_IN,
  F_FLOW_OUT,
  F_ID,
  F_ID2,
  F_NAME,
  F_PH,
  F_PID,
  F_S,
  F_SCOPE,
  F_TDUR,
  F_TID,
  F_TS,
  F_TTS,
  FIELDS,
  FL_ESC,
  FL_NONCANON_ESC,
  FL_REWRITE,
  V_ARR,
  V_FALSE,
  V_MISSING,
  V_NULL,
  V_NUM,
  V_OBJ,
  V_STR,
  V_TRUE,
} from "./event_fields.ts";

export * from "./event_fields.ts";

const NF = FIELDS.length;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const MAX_DEPTH = 256;

// String scanning: 0 = ordinary ASCII byte; 1 = quote, backslash, control byte or non-ASCII.
const STR_STOP = new Uint8Array(256);
for (let b = 0; b < 0x20; b++) STR_STOP[b] = 1;
for (let b = 0x80; b < 0x100; b++) STR_STOP[b] = 1;
STR_STOP[QUOTE] = 1;
STR_STOP[BACKSLASH] = 1;

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

/** Field index of the key `buf[s, e)`, -1 for other keys, -2 for `__seq`. */
function fieldOf(buf: Uint8Array, s: number, e: number): number {
  const n = e - s;
  const c0 = buf[s] as number;
  const c1 = buf[s + 1] as number;
  switch (n) {
    case 1:
      return c0 === 0x73 ? F_S : -1; // s
    case 2:
      if (c0 === 0x70 && c1 === 0x68) return F_PH;
      if (c0 === 0x74 && c1 === 0x73) return F_TS;
      if (c0 === 0x69 && c1 === 0x64) return F_ID;
      if (c0 === 0x62 && c1 === 0x70) return F_BP;
      return -1;
    case 3: {
      const c2 = buf[s + 2] as number;
      if (c0 === 0x63 && c1 === 0x61 && c2 === 0x74) return F_CAT;
      if (c0 === 0x64 && c1 === 0x75 && c2 === 0x72) return F_DUR;
      if (c0 === 0x74 && c1 === 0x74 && c2 === 0x73) return F_TTS;
      if (c0 === 0x70 && c1 === 0x69 && c2 === 0x64) return F_PID;
      if (c0 === 0x74 && c1 === 0x69 && c2 === 0x64) return F_TID;
      if (c0 === 0x69 && c1 === 0x64 && c2 === 0x32) return F_ID2;
      return -1;
    }
    case 4: {
      const c2 = buf[s + 2] as number;
      const c3 = buf[s + 3] as number;
      if (c0 === 0x61 && c1 === 0x72 && c2 === 0x67 && c3 === 0x73) return F_ARGS;
      if (c0 === 0x6e && c1 === 0x61 && c2 === 0x6d && c3 === 0x65) return F_NAME;
      if (c0 === 0x74 && c1 === 0x64 && c2 === 0x75 && c3 === 0x72) return F_TDUR;
      return -1;
    }
    case 5:
      if (c0 === 0x73) return bytesEqual(buf, s, SCOPE) ? F_SCOPE : -1;
      if (c0 === 0x5f) return bytesEqual(buf, s, SEQ) ? -2 : -1;
      return -1;
    case 7:
      if (c0 === 0x62) return bytesEqual(buf, s, BIND_ID) ? F_BIND_ID : -1;
      if (c0 === 0x66) return bytesEqual(buf, s, FLOW_IN) ? F_FLOW_IN : -1;
      return -1;
    case 8:
      return bytesEqual(buf, s, FLOW_OUT) ? F_FLOW_OUT : -1;
    default:
      return -1;
  }
}

const ascii = (t: string): Uint8Array => new TextEncoder().encode(t);
const SCOPE = ascii("scope");
const SEQ = ascii("__seq");
const BIND_ID = ascii("bind_id");
const FLOW_IN = ascii("flow_in");
const FLOW_OUT = ascii("flow_out");

function bytesEqual(buf: Uint8Array, s: number, w: Uint8Array): boolean {
  for (let k = 0; k < w.length; k++) if (buf[s + k] !== w[k]) return false;
  return true;
}

/**
 * Parses events. One instance is reused for every event: after a successful `parse`, the
 * arrays describe the event's fields until the next call.
 */
export class EventParser {
  /** Kind of each field's value (V_*). */
  readonly kind = new Uint8Array(NF);
  /** Start and end byte offsets of each value in the buffer: for a string, its contents without quotes. */
  readonly start = new Int32Array(NF);
  readonly end = new Int32Array(NF);
  /** FL_* flags of each value. */
  readonly flags = new Uint8Array(NF);
  /** The event's `__seq`. */
  seq = 0;
  private buf: Uint8Array = new Uint8Array(0);
  private limit = 0;
  /** Set by the scanners: the value just scanned needs rewriting / has escapes / non-canonical escapes. */
  private fl = 0;
  private readonly stack = new Uint8Array(MAX_DEPTH);

  /**
   * Parses the event `buf[from, to)` (one line without its newline).
   * @param implicitSeq -1 when the line starts with the framer's `__seq` key; otherwise the
   *   line has no such key (line mode) and this is its seq.
   * @returns true when the event is on the fast path (fields set), false when the slow path must read it.
   */
  parse(buf: Uint8Array, from: number, to: number, implicitSeq = -1): boolean {
    // The common shapes (no whitespace, ASCII keys and strings without escapes, short
    // numbers) are scanned inline here; anything else goes through the general scanners.
    const kinds = this.kind;
    const starts = this.start;
    const ends = this.end;
    const flags = this.flags;
    for (let k = 0; k < NF; k++) kinds[k] = 0;
    this.buf = buf;
    this.limit = to;
    let i = from;
    if ((buf[i] as number) <= 0x20) i = this.ws(i);
    if (buf[i] !== 0x7b) return false;
    i++;
    if ((buf[i] as number) <= 0x20) i = this.ws(i);
    let first = implicitSeq < 0;
    if (!first) this.seq = implicitSeq;
    if (buf[i] === 0x7d) return false; // the framer always writes __seq; `{}` goes to the slow path
    for (;;) {
      if (buf[i] !== QUOTE) return false;
      const ks = i + 1;
      let ke = ks;
      while (ke < to && STR_STOP[buf[ke] as number] === 0) ke++;
      if (buf[ke] !== QUOTE || ke >= to) {
        // Escapes (not on the fast path), control bytes or non-ASCII (validated).
        this.fl = 0;
        const ke1 = this.scanString(i);
        if (ke1 < 0 || this.fl !== 0) return false;
        ke = ke1 - 1;
      }
      const f = fieldOf(buf, ks, ke);
      i = ke + 1;
      if ((buf[i] as number) <= 0x20) i = this.ws(i);
      if (buf[i] !== 0x3a) return false;
      i++;
      if ((buf[i] as number) <= 0x20) i = this.ws(i);
      if (first) {
        if (f !== -2) return false;
        let v = 0;
        let j = i;
        while (j < to && isDigit(buf[j] as number)) v = v * 10 + ((buf[j++] as number) - 0x30);
        if (j === i || j - i > 15) return false;
        this.seq = v;
        i = j;
        first = false;
      } else {
        const b = buf[i] as number;
        let kind: number;
        let vs = i;
        let ve: number;
        let fl = 0;
        if (b === QUOTE) {
          let j = i + 1;
          while (j < to && STR_STOP[buf[j] as number] === 0) j++;
          if (buf[j] === QUOTE && j < to) ve = j + 1;
          else {
            this.fl = 0;
            ve = this.scanString(i);
            if (ve < 0) return false;
            fl = this.fl;
          }
          kind = V_STR;
          vs = i + 1;
          i = ve;
          ve--;
        } else if (b === 0x7b || b === 0x5b) {
          this.fl = 0;
          ve = this.scanNested(i);
          kind = b === 0x7b ? V_OBJ : V_ARR;
          if (ve < 0) return false;
          fl = this.fl;
          i = ve;
        } else if (b === 0x74) {
          if (buf[i + 1] !== 0x72 || buf[i + 2] !== 0x75 || buf[i + 3] !== 0x65) return false;
          kind = V_TRUE;
          i += 4;
          ve = i;
        } else if (b === 0x66) {
          if (buf[i + 1] !== 0x61 || buf[i + 2] !== 0x6c || buf[i + 3] !== 0x73 || buf[i + 4] !== 0x65) return false;
          kind = V_FALSE;
          i += 5;
          ve = i;
        } else if (b === 0x6e) {
          if (buf[i + 1] !== 0x75 || buf[i + 2] !== 0x6c || buf[i + 3] !== 0x6c) return false;
          kind = V_NULL;
          i += 4;
          ve = i;
        } else {
          kind = V_NUM;
          // Inline: a positive number without a leading zero or exponent, ended by `,` or `}`
          // (the rules of scanNumber for that case); anything else goes to scanNumber.
          let j = i;
          ve = -1;
          if (b > 0x30 && b <= 0x39) {
            j++;
            while (j < to && isDigit(buf[j] as number)) j++;
            let t = buf[j] as number;
            if (t === 0x2e && j - i <= 15) {
              const intDigits = j - i;
              j++;
              const fs = j;
              while (j < to && isDigit(buf[j] as number)) j++;
              t = buf[j] as number;
              if (j > fs && j < to && (t === 0x2c || t === 0x7d)) {
                let fe = j;
                while (fe > fs && buf[fe - 1] === 0x30) fe--;
                if (fe === fs) {
                  ve = j;
                  if (j - fs !== 1) fl = FL_REWRITE;
                } else if (fe - fs + intDigits <= 15) {
                  ve = j;
                  if (fe !== j) fl = FL_REWRITE;
                }
              }
            } else if (j < to && (t === 0x2c || t === 0x7d)) ve = j;
          }
          if (ve < 0) {
            this.fl = 0;
            ve = this.scanNumber(i);
            if (ve < 0) return false;
            fl = this.fl;
          }
          i = ve;
        }
        if (f >= 0 && kinds[f] === V_MISSING) {
          kinds[f] = kind;
          starts[f] = vs;
          ends[f] = ve;
          flags[f] = fl;
        }
      }
      let c = buf[i] as number;
      if (c <= 0x20) {
        i = this.ws(i);
        c = buf[i] as number;
      }
      if (c === 0x2c) {
        i++;
        if ((buf[i] as number) <= 0x20) i = this.ws(i);
        continue;
      }
      if (c !== 0x7d) return false;
      i++;
      if (i < to && (buf[i] as number) <= 0x20) i = this.ws(i);
      return i === to;
    }
  }

  private ws(i: number): number {
    const buf = this.buf;
    while (i < this.limit && isWs(buf[i] as number)) i++;
    return i;
  }

  /**
   * Scans a string starting at the quote `i`; returns the offset after its closing quote, or
   * -1 when not on the fast path. Sets FL_ESC / FL_NONCANON_ESC in `fl`.
   */
  private scanString(i: number): number {
    const buf = this.buf;
    const to = this.limit;
    let j = i + 1;
    for (;;) {
      while (j < to && STR_STOP[buf[j] as number] === 0) j++;
      if (j >= to) return -1;
      const b = buf[j] as number;
      if (b === QUOTE) return j + 1;
      if (b === BACKSLASH) {
        this.fl |= FL_ESC;
        const e = buf[j + 1] as number;
        if (e === 0x22 || e === 0x5c || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) {
          j += 2;
        } else if (e === 0x2f) {
          this.fl |= FL_NONCANON_ESC;
          j += 2;
        } else if (e === 0x75) {
          if (j + 6 > to) return -1;
          const h0 = hexVal(buf[j + 2] as number);
          const h1 = hexVal(buf[j + 3] as number);
          const h2 = hexVal(buf[j + 4] as number);
          const h3 = hexVal(buf[j + 5] as number);
          if (h0 < 0 || h1 < 0 || h2 < 0 || h3 < 0) return -1;
          const u = (h0 << 12) | (h1 << 8) | (h2 << 4) | h3;
          if (u >= 0xd800 && u <= 0xdfff) {
            if (u >= 0xdc00) return -1;
            // A high surrogate must be followed by a low one.
            if (buf[j + 6] !== BACKSLASH || buf[j + 7] !== 0x75 || j + 12 > to) return -1;
            const l =
              (hexVal(buf[j + 8] as number) << 12) |
              (hexVal(buf[j + 9] as number) << 8) |
              (hexVal(buf[j + 10] as number) << 4) |
              hexVal(buf[j + 11] as number);
            if (
              hexVal(buf[j + 8] as number) < 0 ||
              hexVal(buf[j + 9] as number) < 0 ||
              hexVal(buf[j + 10] as number) < 0 ||
              hexVal(buf[j + 11] as number) < 0 ||
              l < 0xdc00 ||
              l > 0xdfff
            )
              return -1;
            this.fl |= FL_NONCANON_ESC;
            j += 12;
          } else {
            // yyjson writes \u00XX (uppercase) for control bytes without a short escape only.
            const short = u === 0x08 || u === 0x0c || u === 0x0a || u === 0x0d || u === 0x09;
            const upper = [2, 3, 4, 5].every((k) => {
              const c = buf[j + k] as number;
              return !(c >= 0x61 && c <= 0x66);
            });
            if (u >= 0x20 || short || !upper) this.fl |= FL_NONCANON_ESC;
            j += 6;
          }
        } else return -1;
        continue;
      }
      if (b < 0x20) return -1;
      // Non-ASCII: validate one UTF-8 sequence.
      const n = utf8SeqLen(buf, j, to);
      if (n < 0) return -1;
      j += n;
    }
  }

  /** Scans a number at `i`; returns its end, or -1 when not on the fast path. May set FL_REWRITE. */
  private scanNumber(i: number): number {
    const buf = this.buf;
    const to = this.limit;
    let j = i;
    const neg = buf[j] === 0x2d;
    if (neg) j++;
    const intStart = j;
    const c = buf[j] as number;
    if (c === 0x30) j++;
    else if (c > 0x30 && c <= 0x39) {
      while (j < to && isDigit(buf[j] as number)) j++;
    } else return -1;
    const intDigits = j - intStart;
    if (j < to && isDigit(buf[j] as number)) return -1; // leading zero
    if (buf[j] === 0x2e) {
      j++;
      const fs = j;
      while (j < to && isDigit(buf[j] as number)) j++;
      if (j === fs) return -1;
      if (!this.numberEnds(j)) return -1;
      if (intDigits > 15) return -1;
      let fe = j;
      while (fe > fs && buf[fe - 1] === 0x30) fe--;
      const intZero = intDigits === 1 && buf[intStart] === 0x30;
      if (fe === fs) {
        // An integral value: canonical as `I.0`.
        if (intZero && neg) return -1;
        if (j - fs !== 1) this.fl |= FL_REWRITE;
        return j;
      }
      let sig = fe - fs;
      if (intZero) {
        let z = fs;
        while (buf[z] === 0x30) z++;
        if (z - fs > 3) return -1;
        sig = fe - z;
      } else sig += intDigits;
      if (sig > 15) {
        // More digits than a double keeps: DuckDB and yyjson print the double's shortest
        // round-trip form, which may differ from the literal.
        const t = shortest(buf, i, j);
        if (t === null) return -1;
        if (t.length !== j - i || !sameAscii(buf, i, t)) this.fl |= FL_REWRITE;
        return j;
      }
      if (fe !== j) this.fl |= FL_REWRITE;
      return j;
    }
    if (!this.numberEnds(j)) return -1;
    // Integers of any length: yyjson keeps those beyond 64 bits as raw text, and both its
    // writer and DuckDB's VARCHAR cast give the digits as written (64-bit trace ids are common).
    if (neg && intDigits === 1 && buf[intStart] === 0x30) this.fl |= FL_REWRITE;
    return j;
  }

  private numberEnds(j: number): boolean {
    if (j >= this.limit) return false;
    const b = this.buf[j] as number;
    return b === 0x2c || b === 0x7d || b === 0x5d || isWs(b);
  }

  /**
   * Scans a string inside a nested value, starting at the quote `j`; returns the offset after
   * its closing quote, or -1 when not on the fast path (escapes not in yyjson's form). Leaves
   * `fl` as it was: escapes in the form yyjson writes need no rewrite.
   */
  private nestedString(j: number): number {
    const buf = this.buf;
    const to = this.limit;
    let k = j + 1;
    while (k < to && STR_STOP[buf[k] as number] === 0) k++;
    if (k < to && buf[k] === QUOTE) return k + 1;
    const f0 = this.fl;
    this.fl = 0;
    const e = this.scanString(j);
    if (e < 0 || (this.fl & FL_NONCANON_ESC) !== 0) return -1;
    this.fl = f0;
    return e;
  }

  /** Scans an object or array at `i`; returns its end, or -1. Sets FL_REWRITE when not minified/canonical. */
  private scanNested(i: number): number {
    const buf = this.buf;
    const to = this.limit;
    const stack = this.stack;
    let depth = 0;
    let j = i;
    // States: 0 = after an opening bracket, 1 = expecting a value, 2 = after a value, 3 = expecting a key.
    let state = 1;
    for (;;) {
      if (j >= to) return -1;
      let b = buf[j] as number;
      if (isWs(b)) {
        this.fl |= FL_REWRITE;
        j++;
        continue;
      }
      if (state === 2) {
        const obj = stack[depth - 1] === 1;
        if (b === 0x2c) {
          state = obj ? 3 : 1;
          j++;
          continue;
        }
        if ((obj && b === 0x7d) || (!obj && b === 0x5d)) {
          depth--;
          j++;
          if (depth === 0) return j;
          continue;
        }
        return -1;
      }
      if (state === 0) {
        const obj = stack[depth - 1] === 1;
        if ((obj && b === 0x7d) || (!obj && b === 0x5d)) {
          depth--;
          j++;
          state = 2;
          if (depth === 0) return j;
          continue;
        }
        state = obj ? 3 : 1;
      }
      if (state === 3) {
        if (b !== QUOTE) return -1;
        j = this.nestedString(j);
        if (j < 0) return -1;
        while (j < to && isWs(buf[j] as number)) {
          this.fl |= FL_REWRITE;
          j++;
        }
        if (buf[j] !== 0x3a) return -1;
        j++;
        state = 1;
        continue;
      }
      // state 1: a value.
      b = buf[j] as number;
      if (b === 0x7b || b === 0x5b) {
        if (depth >= MAX_DEPTH) return -1;
        stack[depth++] = b === 0x7b ? 1 : 2;
        j++;
        state = 0;
        continue;
      }
      if (b === QUOTE) {
        j = this.nestedString(j);
        if (j < 0) return -1;
      } else if (b === 0x74) {
        if (buf[j + 1] !== 0x72 || buf[j + 2] !== 0x75 || buf[j + 3] !== 0x65) return -1;
        j += 4;
      } else if (b === 0x66) {
        if (buf[j + 1] !== 0x61 || buf[j + 2] !== 0x6c || buf[j + 3] !== 0x73 || buf[j + 4] !== 0x65) return -1;
        j += 5;
      } else if (b === 0x6e) {
        if (buf[j + 1] !== 0x75 || buf[j + 2] !== 0x6c || buf[j + 3] !== 0x6c) return -1;
        j += 4;
      } else {
        j = this.scanNumber(j);
        if (j < 0) return -1;
      }
      if (depth === 0) return j;
      state = 2;
    }
  }
}

/** Length of the valid UTF-8 sequence at `j` (a byte ≥ 0x80), or -1 when invalid. */
function utf8SeqLen(buf: Uint8Array, j: number, to: number): number {
  const b0 = buf[j] as number;
  const cont = (k: number): boolean => j + k < to && ((buf[j + k] as number) & 0xc0) === 0x80;
  if (b0 >= 0xc2 && b0 <= 0xdf) return cont(1) ? 2 : -1;
  if (b0 >= 0xe0 && b0 <= 0xef) {
    if (!cont(1) || !cont(2)) return -1;
    const b1 = buf[j + 1] as number;
    if (b0 === 0xe0 && b1 < 0xa0) return -1;
    if (b0 === 0xed && b1 > 0x9f) return -1;
    return 3;
  }
  if (b0 >= 0xf0 && b0 <= 0xf4) {
    if (!cont(1) || !cont(2) || !cont(3)) return -1;
    const b1 = buf[j + 1] as number;
    if (b0 === 0xf0 && b1 < 0x90) return -1;
    if (b0 === 0xf4 && b1 > 0x8f) return -1;
    return 4;
  }
  return -1;
}
