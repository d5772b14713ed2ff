/**
 * The slow path of the Chrome JSON importer: reads one event that neither the WebAssembly fast
 * path nor the event parser takes (odd numbers, escapes, trailing commas, NaN, malformed JSON...)
 * into the values of its fields, exactly as the mapping's reference reads them (DuckDB's
 * `read_ndjson` with its yyjson reader; the SQL of tests/ingest/legacy_importer.ts is the test
 * oracle, tests/ingest/importer_oracle.test.ts compares both).
 *
 * Not `JSON.parse` on the whole event: it loses what the reference keeps (`1` vs `1.0`, integers
 * beyond 2^53, the text of `1e400`) and refuses what it accepts. Accepted: JSON (RFC 8259) plus
 * trailing commas in objects and arrays and the literals `nan`, `inf`, `infinity` in any case
 * with an optional `-` (kept as written); refused (the event is malformed): invalid UTF-8, raw
 * control characters in strings, lone surrogate escapes, anything else. Duplicate keys: the
 * first wins. Strings are decoded with `JSON.parse`.
 *
 * The text of a value (`varchar`, the reference's VARCHAR column) and its JSON text (`jsonText`,
 * a JSON column; also every value inside a nested one) follow the reference's two number
 * printers: integers as their digits (`-0` → `0`); doubles as DuckDB's DOUBLE → VARCHAR cast
 * (shortest round-trip digits, exponent form below 1e-4 and from 1e16: `1e-07`, `1e+16`, else
 * `12.0`) or as yyjson's writer (JS's `Number.prototype.toString` without the `+` of the exponent,
 * `.0` on integral values: `1e-7`, `10000000000000000.0`); numbers out of the double range and the
 * nan/inf literals as written.
 */

/** Value kinds of a field. */
export const K_NULL = 0;
export const K_STR = 1;
/** An integer; `s` its digits. */
export const K_INT = 2;
/** A finite double; `v` its value. */
export const K_REAL = 3;
/** A number kept as written (out of the double range, nan/inf literals); `s` its text. */
export const K_RAW = 4;
export const K_TRUE = 5;
export const K_FALSE = 6;
/** An object or array; `s` its minified JSON text. */
export const K_NESTED = 7;

/** A field's value: kind, text (string value, digits, raw text or JSON text) and double. */
export interface JsonValue {
  k: number;
  s: string;
  v: number;
  /** For an object: its members' values by key (first wins); only for the fields asked for. */
  members: Map<string, JsonValue> | null;
}

const decoder = new TextDecoder("utf-8", { fatal: true });

/** Thrown inside the reader for input the reference refuses. */
class Malformed extends Error {}

const NUM_RE = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const LITERAL_RE = /-?(?:infinity|inf|nan)/iy;

/**
 * Reads the event `bytes[s, e)` (one JSON object).
 * @param wanted the top-level keys whose values are returned.
 * @param withMembers the wanted keys whose object members are also returned (`id2`).
 * @returns the values of the wanted keys present (first occurrence), or null when the event is
 *   malformed for the reference.
 */
export function readEvent(
  bytes: Uint8Array,
  s: number,
  e: number,
  wanted: ReadonlySet<string>,
  withMembers: ReadonlySet<string>,
): Map<string, JsonValue> | null {
  let t: string;
  try {
    t = decoder.decode(bytes.subarray(s, e));
  } catch {
    return null;
  }
  try {
    return new Reader(t).event(wanted, withMembers);
  } catch (err) {
    if (err instanceof Malformed) return null;
    throw err;
  }
}

/** The reference's VARCHAR text of a value (null for JSON null). */
export function varchar(x: JsonValue): string | null {
  switch (x.k) {
    case K_NULL:
      return null;
    case K_REAL:
      return duckDoubleText(x.v);
    case K_TRUE:
      return "true";
    case K_FALSE:
      return "false";
    default:
      return x.s;
  }
}

/** The reference's JSON text of a value (null for JSON null). */
export function jsonText(x: JsonValue): string | null {
  switch (x.k) {
    case K_NULL:
      return null;
    case K_STR:
      return quote(x.s);
    case K_REAL:
      return yyjsonDoubleText(x.v);
    case K_TRUE:
      return "true";
    case K_FALSE:
      return "false";
    default:
      return x.s;
  }
}

/** DuckDB's DOUBLE → VARCHAR text of a finite double (e.g. `1e-07`, `1.5e+16`, `12.0`). */
export function duckDoubleText(v: number): string {
  if (v === 0) return Object.is(v, -0) ? "-0.0" : "0.0";
  const [mant, ex] = v.toExponential().split("e") as [string, string];
  const exp = Number(ex);
  if (exp < -4 || exp >= 16) {
    const a = Math.abs(exp);
    return `${mant}e${exp < 0 ? "-" : "+"}${a < 10 ? "0" : ""}${a}`;
  }
  const f = String(v);
  return f.includes(".") ? f : `${f}.0`;
}

/** yyjson's writer text of a finite double (e.g. `1e-7`, `1.5e300`, `10000000000000000.0`). */
export function yyjsonDoubleText(v: number): string {
  if (v === 0) return Object.is(v, -0) ? "-0.0" : "0.0";
  const f = String(v).replace("e+", "e");
  return f.includes(".") || f.includes("e") ? f : `${f}.0`;
}

/** A string as yyjson writes it: `"`, `\`, and control characters escaped (`\u00XX` upper-case). */
export function quote(s: string): string {
  let out = '"';
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c !== 0x22 && c !== 0x5c) continue;
    out += s.slice(from, i);
    from = i + 1;
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += "\\\\";
    else if (c === 0x0a) out += "\\n";
    else if (c === 0x0d) out += "\\r";
    else if (c === 0x09) out += "\\t";
    else if (c === 0x08) out += "\\b";
    else if (c === 0x0c) out += "\\f";
    else out += `\\u00${c.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return `${out}${s.slice(from)}"`;
}

/** A reader of one event's text. */
class Reader {
  private i = 0;

  constructor(private readonly t: string) {}

  /** Reads the top-level object (see readEvent). @throws Malformed */
  event(wanted: ReadonlySet<string>, withMembers: ReadonlySet<string>): Map<string, JsonValue> {
    const out = new Map<string, JsonValue>();
    this.ws();
    this.expect(0x7b);
    this.ws();
    if (this.peek() === 0x7d) this.i++;
    else {
      for (;;) {
        const key = this.string();
        this.ws();
        this.expect(0x3a);
        this.ws();
        const keep = wanted.has(key) && !out.has(key);
        const v = this.value(keep && withMembers.has(key));
        if (keep) out.set(key, v);
        this.ws();
        const c = this.next();
        if (c === 0x7d) break;
        if (c !== 0x2c) throw new Malformed();
        this.ws();
        if (this.peek() === 0x7d) {
          this.i++;
          break;
        }
      }
    }
    this.ws();
    if (this.i !== this.t.length) throw new Malformed();
    return out;
  }

  private peek(): number {
    return this.t.charCodeAt(this.i);
  }

  private next(): number {
    return this.t.charCodeAt(this.i++);
  }

  private expect(c: number): void {
    if (this.next() !== c) throw new Malformed();
  }

  private ws(): void {
    const t = this.t;
    for (;;) {
      const c = t.charCodeAt(this.i);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) this.i++;
      else return;
    }
  }

  /** A string at the quote here: its value. @throws Malformed */
  private string(): string {
    const t = this.t;
    const s = this.i;
    if (t.charCodeAt(s) !== 0x22) throw new Malformed();
    let j = s + 1;
    let esc = false;
    for (;;) {
      if (j >= t.length) throw new Malformed();
      const c = t.charCodeAt(j);
      if (c === 0x22) break;
      if (c < 0x20) throw new Malformed();
      if (c === 0x5c) {
        esc = true;
        const d = t.charCodeAt(j + 1);
        if (d === 0x75) {
          const u = hex4(t, j + 2);
          if (u < 0) throw new Malformed();
          if (u >= 0xdc00 && u <= 0xdfff) throw new Malformed();
          if (u >= 0xd800 && u <= 0xdbff) {
            const lo = t.charCodeAt(j + 6) === 0x5c && t.charCodeAt(j + 7) === 0x75 ? hex4(t, j + 8) : -1;
            if (lo < 0xdc00 || lo > 0xdfff) throw new Malformed();
            j += 12;
          } else j += 6;
          continue;
        }
        if (
          !(
            d === 0x22 ||
            d === 0x5c ||
            d === 0x2f ||
            d === 0x62 ||
            d === 0x66 ||
            d === 0x6e ||
            d === 0x72 ||
            d === 0x74
          )
        )
          throw new Malformed();
        j += 2;
        continue;
      }
      j++;
    }
    this.i = j + 1;
    return esc ? (JSON.parse(t.slice(s, j + 1)) as string) : t.slice(s + 1, j);
  }

  /** A number or nan/inf literal here. @throws Malformed */
  private number(): JsonValue {
    const t = this.t;
    NUM_RE.lastIndex = this.i;
    const m = NUM_RE.exec(t);
    if (m) {
      const text = m[0];
      this.i += text.length;
      if (!/[.eE]/.test(text)) return val(K_INT, BigInt(text).toString());
      const v = Number(text);
      return Number.isFinite(v) ? { k: K_REAL, s: "", v, members: null } : val(K_RAW, text);
    }
    LITERAL_RE.lastIndex = this.i;
    const l = LITERAL_RE.exec(t);
    if (!l) throw new Malformed();
    this.i += l[0].length;
    return val(K_RAW, l[0]);
  }

  /** A scalar here (not an object or array). @throws Malformed */
  private scalar(): JsonValue {
    const t = this.t;
    const c = t.charCodeAt(this.i);
    if (c === 0x22) return val(K_STR, this.string());
    if (t.startsWith("true", this.i)) {
      this.i += 4;
      return val(K_TRUE, "true");
    }
    if (t.startsWith("false", this.i)) {
      this.i += 5;
      return val(K_FALSE, "false");
    }
    if (t.startsWith("null", this.i)) {
      this.i += 4;
      return val(K_NULL, "null");
    }
    return this.number();
  }

  /**
   * A value here; an object or array as its minified JSON text, read without recursion (any
   * depth). With `members`, an object's members are also returned by key (first wins).
   * @throws Malformed
   */
  private value(members: boolean): JsonValue {
    const c = this.peek();
    if (c !== 0x7b && c !== 0x5b) return this.scalar();
    const out: string[] = [];
    const stack: number[] = [];
    const found = members && c === 0x7b ? new Map<string, JsonValue>() : null;
    let memberKey: string | null = null;
    let memberFrom = -1;
    // After a value (or an opening bracket): a comma, a closing bracket, or (after an opening
    // bracket) the first member.
    let open = false;
    for (;;) {
      this.ws();
      if (stack.length === 0 || open) {
        if (open) {
          const d = this.peek();
          const top = stack[stack.length - 1] as number;
          if (d === (top === 1 ? 0x7d : 0x5d)) {
            this.i++;
            out.push(String.fromCharCode(d));
            stack.pop();
            open = false;
            if (this.closed(stack, found, memberKey, memberFrom, out)) break;
            continue;
          }
        }
        open = false;
        if (stack.length > 0 && stack[stack.length - 1] === 1) {
          // A member: key, colon, then its value.
          const key = this.string();
          out.push(quote(key), ":");
          this.ws();
          this.expect(0x3a);
          this.ws();
          if (stack.length === 1) {
            memberKey = key;
            memberFrom = out.length;
          }
        }
        const d = this.peek();
        if (d === 0x7b || d === 0x5b) {
          this.i++;
          out.push(String.fromCharCode(d));
          stack.push(d === 0x7b ? 1 : 2);
          open = true;
          continue;
        }
        const x = this.scalar();
        out.push(jsonText(x) ?? "null");
        if (found && stack.length === 1 && memberKey !== null && !found.has(memberKey)) found.set(memberKey, x);
        continue;
      }
      // After a value inside a container.
      const top = stack[stack.length - 1] as number;
      const close = top === 1 ? 0x7d : 0x5d;
      const d = this.next();
      if (d === close) {
        out.push(String.fromCharCode(d));
        stack.pop();
        if (this.closed(stack, found, memberKey, memberFrom, out)) break;
        continue;
      }
      if (d !== 0x2c) throw new Malformed();
      this.ws();
      // A trailing comma.
      if (this.peek() === close) {
        this.i++;
        out.push(String.fromCharCode(close));
        stack.pop();
        if (this.closed(stack, found, memberKey, memberFrom, out)) break;
        continue;
      }
      out.push(",");
      open = true;
      // (`open` here means "a value or member follows": not an empty container.)
      const next = this.peek();
      if (next === 0x7d || next === 0x5d) throw new Malformed();
    }
    return { k: K_NESTED, s: out.join(""), v: 0, members: found };
  }

  /**
   * Bookkeeping after a container closed: notes a nested member of the top object.
   * @returns true when the outermost container closed.
   */
  private closed(
    stack: number[],
    found: Map<string, JsonValue> | null,
    key: string | null,
    from: number,
    out: string[],
  ): boolean {
    if (stack.length === 0) return true;
    if (found && stack.length === 1 && key !== null && !found.has(key)) {
      found.set(key, val(K_NESTED, out.slice(from).join("")));
    }
    return false;
  }
}

function val(k: number, s: string): JsonValue {
  return { k, s, v: 0, members: null };
}

function hex4(t: string, k: number): number {
  const h = t.slice(k, k + 4);
  return /^[0-9a-fA-F]{4}$/.test(h) ? Number.parseInt(h, 16) : -1;
}
