/**
 * Perfetto debug annotations → the args JSON of a row: each DebugAnnotation (name or interned
 * name; bool, uint, int, double, string, interned string, pointer, legacy JSON, dict and array
 * values) becomes a key of one JSON object, with the event's source location as `src_file`,
 * `src_line`, `src_func`. Field numbers: reference/perfetto.md §2.8.
 */
import { DebugAnnotation } from "../../perfetto/fields.ts";
import { keyText, type ReaderPool, type WireReader } from "../../perfetto/wire_reader.ts";
import type { SeqState, Sequences, SourceLoc } from "./sequence.ts";

/** Adds a source location to args as `src_file`, `src_line`, `src_func` (thread_spans reads the first two). */
export function locationArgs(o: Record<string, unknown>, loc: SourceLoc): Record<string, unknown> {
  if (loc.file) o.src_file = loc.file;
  if (loc.line !== null) o.src_line = loc.line;
  if (loc.func) o.src_func = loc.func;
  return o;
}

/** Makes args JSON from debug annotations, resolving interned names and strings in a sequence. */
export class ArgsBuilder {
  constructor(
    private readonly sequences: Sequences,
    private readonly pool: ReaderPool,
  ) {}

  /**
   * Debug annotations and the source location as an args JSON object.
   * @param annotations start/end offsets in `buf` of each DebugAnnotation, in pairs.
   * @returns the JSON text, or null when there is neither annotation nor location.
   * @throws WireError on a malformed annotation.
   */
  args(seq: SeqState | null, buf: Uint8Array, annotations: number[], loc: SourceLoc | null): string | null {
    if (annotations.length === 0) {
      if (!loc) return null;
      // Most events carry only an interned source location: its args are made once.
      if (loc.json === undefined) loc.json = JSON.stringify(locationArgs({}, loc));
      return loc.json;
    }
    const o: Record<string, unknown> = {};
    for (let i = 0; i < annotations.length; i += 2) {
      const [k, v] = this.annotation(seq, buf, annotations[i] as number, annotations[i + 1] as number, 0);
      o[k ?? `arg${Object.keys(o).length}`] = v;
    }
    if (loc) locationArgs(o, loc);
    return JSON.stringify(o);
  }

  /** One DebugAnnotation `buf[s, e)` → [name, JSON value] (nesting beyond 32 levels is dropped). */
  private annotation(
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
          name = seq ? this.sequences.lookup(seq.debugNames, r.u64Key()) : skipped(r);
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
          value = seq ? this.sequences.lookup(seq.debugStrings, r.u64Key()) : skipped(r);
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
          if (depth < 32) {
            const [k, v] = this.annotation(seq, buf, r.lenStart, r.lenEnd, depth + 1);
            dict ??= {};
            dict[k ?? String(Object.keys(dict).length)] = v;
          }
          break;
        case DebugAnnotation.array_values:
          r.bytes();
          if (depth < 32) {
            arr ??= [];
            arr.push(this.annotation(seq, buf, r.lenStart, r.lenEnd, depth + 1)[1]);
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
}

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
