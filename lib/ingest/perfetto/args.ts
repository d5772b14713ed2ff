/**
 * Perfetto debug annotations → the args JSON of a row: each DebugAnnotation (name or interned
 * name; bool, uint, int, double, string, interned string, pointer, legacy JSON, dict and array
 * values) becomes a key of one JSON object, with the event's source location as `src_file`,
 * `src_line`, `src_func`. Field numbers: reference/perfetto.md §2.8.
 *
 * The JSON is the text `JSON.stringify` gives for the object built by `argsText` (the rule),
 * written as UTF-8 straight from the packet's bytes (`fill`): no string per value, no object,
 * no stringify and no encoding of the result again. Where a JavaScript object would not keep
 * its keys in the order they came (a key that is an array index, `__proto__`, a key given
 * twice, a nested entry without a name, a dict beside an array), `fill` takes `argsText`.
 */

import { grownBytes } from "../../bytes.ts";
import { DebugAnnotation } from "../../perfetto/fields.ts";
import { keyText, type ReaderPool, type WireReader } from "../../perfetto/wire_reader.ts";
import { type RawRow, wellFormedJson } from "../blocks/raw_rows.ts";
import type { DebugText, SeqState, Sequences, SourceLoc } from "./sequence.ts";

/** Adds a source location to args as `src_file`, `src_line`, `src_func` (thread_spans reads the first two). */
export function locationArgs(o: Record<string, unknown>, loc: SourceLoc): Record<string, unknown> {
  if (loc.file) o.src_file = loc.file;
  if (loc.line !== null) o.src_line = loc.line;
  if (loc.func) o.src_func = loc.func;
  return o;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Nesting beyond this many levels of dicts and arrays is dropped. */
const MAX_DEPTH = 32;

// The value an annotation's scalar fields left (the last one wins, as in `argsText`).
const V_NULL = 0;
const V_BOOL = 1;
/** A number (uint, int: safe integers; double: any). */
const V_NUMBER = 2;
/** Text written as a JSON string (a uint64/int64 beyond 2^53, a pointer, a proto_value). */
const V_TEXT = 3;
/** string_value: its UTF-8 in the packet. */
const V_STRING = 4;
/** string_value_iid: an interned string. */
const V_INTERNED = 5;
/** legacy_json_value: its UTF-8 in the packet. */
const V_LEGACY = 6;

// An annotation's name.
const NAME_NONE = 0;
const NAME_INTERNED = 1;
/** `name`: its UTF-8 in the packet. */
const NAME_BYTES = 2;

/** Keys whose place in an object is not where they were added, or that locationArgs sets: as JSON strings. */
const PROTO_KEY = encoder.encode('"__proto__"');
const SRC_KEYS = ['"src_file"', '"src_line"', '"src_func"'].map((k) => encoder.encode(k)) as [
  Uint8Array,
  Uint8Array,
  Uint8Array,
];

/** How an annotation is written: a member of the top-level object, of a dict, or an array value. */
const TOP = 0;
const MEMBER = 1;
const ELEMENT = 2;

/** The UTF-8 of `JSON.stringify(t.text)`, made once per interned text. */
function quoted(t: DebugText): Uint8Array {
  t.json ??= encoder.encode(JSON.stringify(t.text));
  return t.json;
}

/** The UTF-8 args JSON of a source location alone (made once per location). */
function locationJson(loc: SourceLoc): Uint8Array {
  loc.jsonUtf8 ??= encoder.encode(JSON.stringify(locationArgs({}, loc)));
  return loc.jsonUtf8;
}

/** Makes args JSON from debug annotations, resolving interned names and strings in a sequence. */
export class ArgsBuilder {
  /** The JSON being written, `out[0, len)`, reused from event to event (`fill` hands it out). */
  private out = new Uint8Array(4096);
  private len = 0;

  constructor(
    private readonly sequences: Sequences,
    private readonly pool: ReaderPool,
  ) {}

  /**
   * Sets `row.argsUtf8[0, argsUtf8End)` to the UTF-8 args JSON of an event's debug annotations
   * and source location (a buffer of the builder's, valid until the next call), or `row.args` to
   * the text when `argsText` makes it (see the file comment); both null when there is neither
   * annotation nor location.
   * @param annotations start/end offsets in `buf` of each DebugAnnotation, in pairs.
   * @throws WireError on a malformed annotation.
   */
  fill(row: RawRow, seq: SeqState | null, buf: Uint8Array, annotations: number[], loc: SourceLoc | null): void {
    row.args = null;
    row.argsUtf8 = null;
    if (annotations.length === 0) {
      // Most events carry only an interned source location: its args are made once.
      if (loc) {
        const l = locationJson(loc);
        row.argsUtf8 = l;
        row.argsUtf8End = l.length;
      }
      return;
    }
    const unresolved = this.sequences.unresolved;
    this.len = 0;
    this.byte(0x7b);
    const keys: number[] = [];
    let ok = true;
    for (let i = 0; ok && i < annotations.length; i += 2) {
      if (i > 0) this.byte(0x2c);
      ok = this.annotation(seq, buf, annotations[i] as number, annotations[i + 1] as number, 0, TOP, keys, loc);
    }
    if (!ok) {
      // Lookups count unresolved ids: argsText makes them again.
      this.sequences.unresolved = unresolved;
      row.args = this.argsText(seq, buf, annotations, loc);
      return;
    }
    if (loc) {
      const l = locationJson(loc);
      if (l.length > 2) {
        this.byte(0x2c);
        this.copy(l, 1, l.length - 1);
      }
    }
    this.byte(0x7d);
    row.argsUtf8 = this.out;
    row.argsUtf8End = this.len;
  }

  /**
   * Writes one DebugAnnotation `buf[s, e)`: as `"name":value` (`how` TOP or MEMBER, its key added
   * to `keys`) or as a value (ELEMENT).
   * @returns false when the annotation needs `argsText` (the file comment); what was written is
   *   then garbage.
   */
  private annotation(
    seq: SeqState | null,
    buf: Uint8Array,
    s: number,
    e: number,
    depth: number,
    how: number,
    keys: number[],
    loc: SourceLoc | null,
  ): boolean {
    const r = this.pool.take(buf, s, e);
    // The name: none, interned (`nameText`) or the UTF-8 `buf[nameFrom, nameTo)`.
    let nameKind = NAME_NONE;
    let nameText: DebugText | null = null;
    let nameFrom = 0;
    let nameTo = 0;
    let interned: DebugText | null = null;
    let kind = V_NULL;
    let num = 0;
    let text = "";
    let from = 0;
    let to = 0;
    let dicts = 0;
    let arrays = 0;
    while (r.next()) {
      switch (r.field) {
        case DebugAnnotation.name_iid: {
          nameText = seq ? this.sequences.lookup(seq.debugNames, r.u64Key()) : skipped(r);
          nameKind = nameText === null ? NAME_NONE : NAME_INTERNED;
          break;
        }
        case DebugAnnotation.name:
          r.bytes();
          nameKind = NAME_BYTES;
          nameFrom = r.lenStart;
          nameTo = r.lenEnd;
          break;
        case DebugAnnotation.bool_value:
          kind = V_BOOL;
          num = r.varint() !== 0 ? 1 : 0;
          break;
        case DebugAnnotation.uint_value:
        case DebugAnnotation.int_value: {
          const v = r.field === DebugAnnotation.uint_value ? u64Value(r) : i64Value(r.i64());
          if (typeof v === "number") {
            kind = V_NUMBER;
            num = v;
          } else {
            kind = V_TEXT;
            text = v;
          }
          break;
        }
        case DebugAnnotation.double_value:
          kind = V_NUMBER;
          num = r.double();
          break;
        case DebugAnnotation.string_value:
        case DebugAnnotation.legacy_json_value:
          kind = r.field === DebugAnnotation.string_value ? V_STRING : V_LEGACY;
          r.bytes();
          from = r.lenStart;
          to = r.lenEnd;
          break;
        case DebugAnnotation.string_value_iid: {
          interned = seq ? this.sequences.lookup(seq.debugStrings, r.u64Key()) : skipped(r);
          kind = interned === null ? V_NULL : V_INTERNED;
          break;
        }
        case DebugAnnotation.pointer_value:
          kind = V_TEXT;
          text = `0x${r.u64Big().toString(16)}`;
          break;
        case DebugAnnotation.dict_entries:
          r.bytes();
          if (depth < MAX_DEPTH) dicts++;
          break;
        case DebugAnnotation.array_values:
          r.bytes();
          if (depth < MAX_DEPTH) arrays++;
          break;
        case DebugAnnotation.proto_value:
          r.bytes();
          kind = V_TEXT;
          text = `<proto ${r.lenEnd - r.lenStart} bytes>`;
          break;
        default:
          r.skip();
      }
    }
    this.pool.release(r);
    if (dicts > 0 && arrays > 0) return false;
    if (how !== ELEMENT) {
      const k = this.len;
      if (nameKind === NAME_INTERNED) {
        const q = quoted(nameText as DebugText);
        this.copy(q, 0, q.length);
      } else if (nameKind === NAME_BYTES) this.stringBytes(buf, nameFrom, nameTo);
      // argsText names a nameless top-level annotation `arg<n>` (n: keys so far) and a nameless
      // dict entry by its index, an array index key.
      else if (how === TOP) this.ascii(`"arg${keys.length >> 1}"`);
      else return false;
      if (!this.newKey(keys, k, this.len, how === TOP ? loc : null)) return false;
      this.byte(0x3a);
    }
    if (dicts > 0 || arrays > 0) return this.children(seq, buf, s, e, depth, dicts > 0);
    switch (kind) {
      case V_BOOL:
        if (num === 1) this.ascii("true");
        else this.ascii("false");
        break;
      case V_NUMBER:
        this.number(num);
        break;
      case V_TEXT:
        this.jsonText(text);
        break;
      case V_STRING:
        this.stringBytes(buf, from, to);
        break;
      case V_INTERNED: {
        const q = quoted(interned as DebugText);
        this.copy(q, 0, q.length);
        break;
      }
      case V_LEGACY:
        this.legacy(buf, from, to);
        break;
      default:
        this.ascii("null");
    }
    return true;
  }

  /** Writes the dict (`dict` true) or array of the annotation `buf[s, e)`'s entries. */
  private children(seq: SeqState | null, buf: Uint8Array, s: number, e: number, depth: number, dict: boolean): boolean {
    const field = dict ? DebugAnnotation.dict_entries : DebugAnnotation.array_values;
    const keys: number[] = [];
    this.byte(dict ? 0x7b : 0x5b);
    const r = this.pool.take(buf, s, e);
    let first = true;
    let ok = true;
    while (ok && r.next()) {
      if (r.field !== field) {
        r.skip();
        continue;
      }
      r.bytes();
      if (!first) this.byte(0x2c);
      first = false;
      ok = this.annotation(seq, buf, r.lenStart, r.lenEnd, depth + 1, dict ? MEMBER : ELEMENT, keys, null);
    }
    this.pool.release(r);
    this.byte(dict ? 0x7d : 0x5d);
    return ok;
  }

  /**
   * Debug annotations and the source location as args JSON text, from an object and
   * `JSON.stringify` (the rule `fill` follows); lone surrogates are left as JSON.stringify
   * escapes them (RawRowSink replaces them).
   * @returns the JSON text, or null when there is neither annotation nor location.
   * @throws WireError on a malformed annotation.
   */
  argsText(seq: SeqState | null, buf: Uint8Array, annotations: number[], loc: SourceLoc | null): string | null {
    if (annotations.length === 0) return loc ? JSON.stringify(locationArgs({}, loc)) : null;
    const o: Record<string, unknown> = {};
    for (let i = 0; i < annotations.length; i += 2) {
      const [k, v] = this.objectAnnotation(seq, buf, annotations[i] as number, annotations[i + 1] as number, 0);
      o[k ?? `arg${Object.keys(o).length}`] = v;
    }
    if (loc) locationArgs(o, loc);
    return JSON.stringify(o);
  }

  /** One DebugAnnotation `buf[s, e)` → [name, JSON value] (nesting beyond MAX_DEPTH levels is dropped). */
  private objectAnnotation(
    seq: SeqState | null,
    buf: Uint8Array,
    s: number,
    e: number,
    depth: number,
  ): [string | null, unknown] {
    const r = this.pool.take(buf, s, e);
    let name: string | null = null;
    let value: unknown = null;
    let dict: Record<string, unknown> | null = null;
    let arr: unknown[] | null = null;
    while (r.next()) {
      switch (r.field) {
        case DebugAnnotation.name_iid:
          name = seq ? (this.sequences.lookup(seq.debugNames, r.u64Key())?.text ?? null) : skipped(r);
          break;
        case DebugAnnotation.name:
          name = r.string();
          break;
        case DebugAnnotation.bool_value:
          value = r.varint() !== 0;
          break;
        case DebugAnnotation.uint_value:
          value = u64Value(r);
          break;
        case DebugAnnotation.int_value:
          value = i64Value(r.i64());
          break;
        case DebugAnnotation.double_value:
          value = r.double();
          break;
        case DebugAnnotation.string_value:
          value = r.string();
          break;
        case DebugAnnotation.string_value_iid:
          value = seq ? (this.sequences.lookup(seq.debugStrings, r.u64Key())?.text ?? null) : skipped(r);
          break;
        case DebugAnnotation.pointer_value:
          value = `0x${r.u64Big().toString(16)}`;
          break;
        case DebugAnnotation.legacy_json_value: {
          const text = r.string();
          try {
            value = JSON.parse(text);
          } catch {
            value = text;
          }
          break;
        }
        case DebugAnnotation.dict_entries:
          r.bytes();
          if (depth < MAX_DEPTH) {
            const [k, v] = this.objectAnnotation(seq, buf, r.lenStart, r.lenEnd, depth + 1);
            dict ??= {};
            dict[k ?? String(Object.keys(dict).length)] = v;
          }
          break;
        case DebugAnnotation.array_values:
          r.bytes();
          if (depth < MAX_DEPTH) {
            arr ??= [];
            arr.push(this.objectAnnotation(seq, buf, r.lenStart, r.lenEnd, depth + 1)[1]);
          }
          break;
        case DebugAnnotation.proto_value:
          r.bytes();
          value = `<proto ${r.lenEnd - r.lenStart} bytes>`;
          break;
        default:
          r.skip();
      }
    }
    this.pool.release(r);
    return [name, dict ?? arr ?? value];
  }

  /**
   * Whether the key just written at `out[s, e)` (a JSON string) keeps its place in a JavaScript
   * object (the file comment): not an array index (its first character a digit), not
   * `__proto__`, not a key of `keys` (start/end pairs in `out`, to which it is added), nor, for
   * the top level of an event with a location (`loc`), a key locationArgs sets after it.
   */
  private newKey(keys: number[], s: number, e: number, loc: SourceLoc | null): boolean {
    const out = this.out;
    const c = out[s + 1] as number;
    if ((c >= 0x30 && c <= 0x39) || this.equals(s, e, PROTO_KEY)) return false;
    if (
      loc !== null &&
      (this.equals(s, e, SRC_KEYS[0]) || this.equals(s, e, SRC_KEYS[1]) || this.equals(s, e, SRC_KEYS[2]))
    ) {
      return false;
    }
    const n = e - s;
    for (let i = 0; i < keys.length; i += 2) {
      const a = keys[i] as number;
      if ((keys[i + 1] as number) - a !== n) continue;
      let k = 0;
      while (k < n && out[a + k] === out[s + k]) k++;
      if (k === n) return false;
    }
    keys.push(s, e);
    return true;
  }

  /** Whether `out[s, e)` holds the bytes of `lit`. */
  private equals(s: number, e: number, lit: Uint8Array): boolean {
    if (e - s !== lit.length) return false;
    const out = this.out;
    for (let k = 0; k < lit.length; k++) if (out[s + k] !== lit[k]) return false;
    return true;
  }

  /** Room for `n` more bytes of output. */
  private ensure(n: number): void {
    if (this.len + n <= this.out.length) return;
    this.out = grownBytes(this.out, this.len, n);
  }

  private byte(b: number): void {
    this.ensure(1);
    this.out[this.len++] = b;
  }

  /** Writes `src[s, e)`. */
  private copy(src: Uint8Array, s: number, e: number): void {
    const n = e - s;
    this.ensure(n);
    const out = this.out;
    let p = this.len;
    if (n < 64) for (let k = s; k < e; k++) out[p++] = src[k] as number;
    else {
      out.set(src.subarray(s, e), p);
      p += n;
    }
    this.len = p;
  }

  /** Writes ASCII text (a number's, a keyword). */
  private ascii(t: string): void {
    const n = t.length;
    this.ensure(n);
    const out = this.out;
    let p = this.len;
    for (let k = 0; k < n; k++) out[p++] = t.charCodeAt(k);
    this.len = p;
  }

  /** Writes UTF-8 of JSON text `t` (which has no lone surrogate). */
  private utf8(t: string): void {
    this.ensure(t.length * 3);
    this.len += encoder.encodeInto(t, this.out.subarray(this.len)).written;
  }

  /** Writes `t` as a JSON string (JSON.stringify's text). */
  private jsonText(t: string): void {
    this.utf8(JSON.stringify(t));
  }

  /** Writes a number as JSON.stringify does (NaN and infinities as null; -0 as 0). */
  private number(v: number): void {
    if (v === (v | 0)) {
      this.int32(v);
      return;
    }
    if (Number.isFinite(v)) this.ascii(String(v));
    else this.ascii("null");
  }

  /** Writes an int32 in decimal. */
  private int32(v: number): void {
    this.ensure(11);
    const out = this.out;
    let p = this.len;
    let x = v;
    if (x < 0) {
      out[p++] = 0x2d;
      x = -x;
    }
    const start = p;
    do {
      const q = Math.floor(x / 10);
      out[p++] = 0x30 + (x - q * 10);
      x = q;
    } while (x > 0);
    // Digits were written lowest first.
    for (let i = start, j = p - 1; i < j; i++, j--) {
      const t = out[i] as number;
      out[i] = out[j] as number;
      out[j] = t;
    }
    this.len = p;
  }

  /**
   * Writes the string whose UTF-8 is `buf[s, e)` as a JSON string: ASCII escaped as
   * JSON.stringify escapes it (`"`, `\`, controls: \b \t \n \f \r, else \u00xx); text with other
   * bytes through TextDecoder (invalid UTF-8 becomes U+FFFD, as `r.string()` decodes it).
   */
  private stringBytes(buf: Uint8Array, s: number, e: number): void {
    this.ensure((e - s) * 6 + 2);
    const out = this.out;
    const start = this.len;
    let p = start;
    out[p++] = 0x22;
    for (let k = s; k < e; k++) {
      const c = buf[k] as number;
      if (c >= 0x20 && c !== 0x22 && c !== 0x5c) {
        if (c >= 0x80) {
          this.len = start;
          this.jsonText(decoder.decode(buf.subarray(s, e)));
          return;
        }
        out[p++] = c;
        continue;
      }
      out[p++] = 0x5c;
      const short = c === 0x22 ? 0x22 : c === 0x5c ? 0x5c : SHORT_ESCAPES[c];
      if (short !== undefined && short !== 0) out[p++] = short;
      else {
        out[p++] = 0x75;
        out[p++] = 0x30;
        out[p++] = 0x30;
        out[p++] = HEX[c >> 4] as number;
        out[p++] = HEX[c & 15] as number;
      }
    }
    out[p++] = 0x22;
    this.len = p;
  }

  /** Writes a legacy JSON value `buf[s, e)`: its JSON as JSON.stringify gives it, or as a string when it does not parse. */
  private legacy(buf: Uint8Array, s: number, e: number): void {
    const text = decoder.decode(buf.subarray(s, e));
    let json: string;
    try {
      json = JSON.stringify(JSON.parse(text));
    } catch {
      json = JSON.stringify(text);
    }
    // A parsed string may hold a lone surrogate, which JSON.stringify writes as an escape.
    this.utf8(wellFormedJson(json));
  }
}

/** JSON's short escapes by control character (0: none), as JSON.stringify writes them. */
const SHORT_ESCAPES = new Uint8Array(32);
SHORT_ESCAPES[0x08] = 0x62;
SHORT_ESCAPES[0x09] = 0x74;
SHORT_ESCAPES[0x0a] = 0x6e;
SHORT_ESCAPES[0x0c] = 0x66;
SHORT_ESCAPES[0x0d] = 0x72;
/** Lowercase hex digits, as JSON.stringify's \u escapes. */
const HEX = new TextEncoder().encode("0123456789abcdef");

/** A uint64 varint as a JSON value: a number when safe, else decimal text (as `numOrText`). */
function u64Value(r: WireReader): number | string {
  const k = r.u64Key();
  return typeof k === "number" && k <= Number.MAX_SAFE_INTEGER ? k : keyText(k);
}

/** An int64 as a JSON value: a number when safe, else decimal text. */
function i64Value(v: number | bigint): number | string {
  if (typeof v === "number") return v;
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
}

/** Skips the reader's current field and returns null (a field of an unexpected wire type). */
export function skipped(r: WireReader): null {
  r.skip();
  return null;
}
