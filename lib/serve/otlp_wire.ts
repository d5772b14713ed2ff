/**
 * Decoding of OTLP protobuf messages (a request's items: Resource, InstrumentationScope, Span,
 * LogRecord, Metric, and the messages nested in them) into the plain objects the OTLP importer
 * (lib/ingest/otlp.ts) reads, with the hand-written wire reader (lib/perfetto/wire_reader.ts).
 *
 * The shape (what protobufjs's decode of the same schema gave, made plain; tests/serve/otlp_wire
 * checks it against protobufjs): field names in lowerCamelCase; only the fields on the wire,
 * and of those without presence (proto3 implicit scalars) only non-default values (a default on
 * the wire clears an earlier value); fields with presence (a oneof's members: AnyValue's values,
 * Metric's data, NumberDataPoint's value; proto3 `optional`: the histograms' sum/min/max) even
 * when default, the last member of a oneof read clearing the others; a message field seen twice
 * merged (its repeated fields appended); repeated fields as arrays (absent when empty; numeric ones
 * packed or not); strings as text (a leading U+FEFF kept; invalid UTF-8 refuses the message, as
 * proto3 and protobufjs do); bytes as lowercase hex (trace and span
 * ids; the importer's hexId takes hex as it is) except AnyValue's `bytesValue` as base64, as OTLP
 * JSON writes it; enums and 32-bit integers as numbers; 64-bit integers as bigints (the
 * importer's int64 takes them as they are). Unknown fields, and known fields on the wire with
 * another wire type than their declared one, are skipped. Messages nested more than 100 deep
 * (protoc's and protobufjs's recursion limit) are refused.
 *
 * Field numbers: otlp_fields.ts; field types: the table below, from opentelemetry-proto.
 */
import { WireError, WireReader, WT_I32, WT_I64, WT_LEN, WT_VARINT } from "../perfetto/wire_reader.ts";
import * as F from "./otlp_fields.ts";

/** Scalar field types (protobuf's), plus `base64`: a bytes field given as base64 text. */
type Scalar =
  | "string"
  | "bytes"
  | "base64"
  | "bool"
  | "int32"
  | "uint32"
  | "sint32"
  | "fixed32"
  | "int64"
  | "fixed64"
  | "sfixed64"
  | "double";

/** A field's type: a scalar, a message, or a repeated one of either. */
type Kind = Scalar | OtlpMessage | { repeated: Scalar | OtlpMessage };

/** One declared field of a message, as the decoder uses it. */
interface FieldSpec {
  /** lowerCamelCase name. */
  name: string;
  /** The scalar type's code (SCALARS) or -1 for a message. */
  code: number;
  /** The wire type it is declared with. */
  wt: number;
  msg: OtlpMessage | null;
  repeated: boolean;
  /** Present even when default (oneof members, proto3 `optional`). */
  presence: boolean;
  /** The other members of its oneof (cleared when it is read), null when in none. */
  others: string[] | null;
}

/** A message type: its fields by field number (unknown numbers are undefined). */
export interface OtlpMessage {
  readonly fields: (FieldSpec | undefined)[];
}

/** Scalar type → [code, wire type]. */
const SCALARS: Record<Scalar, [number, number]> = {
  string: [0, WT_LEN],
  bytes: [1, WT_LEN],
  base64: [2, WT_LEN],
  bool: [3, WT_VARINT],
  int32: [4, WT_VARINT],
  uint32: [5, WT_VARINT],
  sint32: [6, WT_VARINT],
  fixed32: [7, WT_I32],
  int64: [8, WT_VARINT],
  fixed64: [9, WT_I64],
  sfixed64: [10, WT_I64],
  double: [11, WT_I64],
};

const message = (): OtlpMessage => ({ fields: [] });

/** snake_case → lowerCamelCase (`start_time_unix_nano` → `startTimeUnixNano`). */
const camel = (s: string): string => s.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());

/**
 * Fills `m`'s field table from its field numbers (otlp_fields.ts) and their types.
 * @param oneof the members of the message's oneof, if any.
 * @param optional its proto3 `optional` fields.
 */
function define<T extends Record<string, number>>(
  m: OtlpMessage,
  numbers: T,
  kinds: { [K in keyof T]: Kind },
  oneof: (keyof T & string)[] = [],
  optional: (keyof T & string)[] = [],
): void {
  for (const [snake, num] of Object.entries(numbers)) {
    const kind = kinds[snake] as Kind;
    const repeated = typeof kind === "object" && "repeated" in kind;
    const k = repeated ? kind.repeated : kind;
    const [code, wt] = typeof k === "string" ? SCALARS[k] : [-1, WT_LEN];
    const inOneof = oneof.includes(snake);
    m.fields[num] = {
      name: camel(snake),
      code,
      wt,
      msg: typeof k === "string" ? null : k,
      repeated,
      presence: inOneof || optional.includes(snake),
      others: inOneof ? oneof.filter((o) => o !== snake).map(camel) : null,
    };
  }
}

const ANY_VALUE = message();
const ARRAY_VALUE = message();
const KEY_VALUE_LIST = message();
const KEY_VALUE = message();
const SCOPE = message();
const RESOURCE = message();
const SPAN = message();
const SPAN_EVENT = message();
const SPAN_LINK = message();
const STATUS = message();
const LOG_RECORD = message();
const METRIC = message();
const GAUGE = message();
const SUM = message();
const HISTOGRAM = message();
const EXP_HISTOGRAM = message();
const SUMMARY = message();
const NUMBER_POINT = message();
const HISTOGRAM_POINT = message();
const EXP_HISTOGRAM_POINT = message();
const SUMMARY_POINT = message();
const QUANTILE = message();

const ATTRIBUTES = { repeated: KEY_VALUE };

define(
  ANY_VALUE,
  F.AnyValue,
  {
    string_value: "string",
    bool_value: "bool",
    int_value: "int64",
    double_value: "double",
    array_value: ARRAY_VALUE,
    kvlist_value: KEY_VALUE_LIST,
    bytes_value: "base64",
  },
  ["string_value", "bool_value", "int_value", "double_value", "array_value", "kvlist_value", "bytes_value"],
);
define(ARRAY_VALUE, F.ArrayValue, { values: { repeated: ANY_VALUE } });
define(KEY_VALUE_LIST, F.KeyValueList, { values: ATTRIBUTES });
define(KEY_VALUE, F.KeyValue, { key: "string", value: ANY_VALUE });
define(SCOPE, F.InstrumentationScope, {
  name: "string",
  version: "string",
  attributes: ATTRIBUTES,
  dropped_attributes_count: "uint32",
});
define(RESOURCE, F.Resource, { attributes: ATTRIBUTES, dropped_attributes_count: "uint32" });
define(SPAN, F.Span, {
  trace_id: "bytes",
  span_id: "bytes",
  trace_state: "string",
  parent_span_id: "bytes",
  flags: "fixed32",
  name: "string",
  kind: "int32",
  start_time_unix_nano: "fixed64",
  end_time_unix_nano: "fixed64",
  attributes: ATTRIBUTES,
  dropped_attributes_count: "uint32",
  events: { repeated: SPAN_EVENT },
  dropped_events_count: "uint32",
  links: { repeated: SPAN_LINK },
  dropped_links_count: "uint32",
  status: STATUS,
});
define(SPAN_EVENT, F.SpanEvent, {
  time_unix_nano: "fixed64",
  name: "string",
  attributes: ATTRIBUTES,
  dropped_attributes_count: "uint32",
});
define(SPAN_LINK, F.SpanLink, {
  trace_id: "bytes",
  span_id: "bytes",
  trace_state: "string",
  attributes: ATTRIBUTES,
  dropped_attributes_count: "uint32",
  flags: "fixed32",
});
define(STATUS, F.Status, { message: "string", code: "int32" });
define(LOG_RECORD, F.LogRecord, {
  time_unix_nano: "fixed64",
  observed_time_unix_nano: "fixed64",
  severity_number: "int32",
  severity_text: "string",
  body: ANY_VALUE,
  attributes: ATTRIBUTES,
  dropped_attributes_count: "uint32",
  flags: "fixed32",
  trace_id: "bytes",
  span_id: "bytes",
  event_name: "string",
});
define(
  METRIC,
  F.Metric,
  {
    name: "string",
    description: "string",
    unit: "string",
    gauge: GAUGE,
    sum: SUM,
    histogram: HISTOGRAM,
    exponential_histogram: EXP_HISTOGRAM,
    summary: SUMMARY,
  },
  ["gauge", "sum", "histogram", "exponential_histogram", "summary"],
);
define(GAUGE, F.Gauge, { data_points: { repeated: NUMBER_POINT } });
define(SUM, F.Sum, { data_points: { repeated: NUMBER_POINT }, aggregation_temporality: "int32", is_monotonic: "bool" });
define(HISTOGRAM, F.Histogram, { data_points: { repeated: HISTOGRAM_POINT }, aggregation_temporality: "int32" });
define(EXP_HISTOGRAM, F.ExponentialHistogram, {
  data_points: { repeated: EXP_HISTOGRAM_POINT },
  aggregation_temporality: "int32",
});
define(SUMMARY, F.Summary, { data_points: { repeated: SUMMARY_POINT } });
define(
  NUMBER_POINT,
  F.NumberDataPoint,
  {
    attributes: ATTRIBUTES,
    start_time_unix_nano: "fixed64",
    time_unix_nano: "fixed64",
    as_double: "double",
    as_int: "sfixed64",
    flags: "fixed32",
  },
  ["as_double", "as_int"],
);
define(
  HISTOGRAM_POINT,
  F.HistogramDataPoint,
  {
    attributes: ATTRIBUTES,
    start_time_unix_nano: "fixed64",
    time_unix_nano: "fixed64",
    count: "fixed64",
    sum: "double",
    bucket_counts: { repeated: "fixed64" },
    explicit_bounds: { repeated: "double" },
    flags: "fixed32",
    min: "double",
    max: "double",
  },
  [],
  ["sum", "min", "max"],
);
define(
  EXP_HISTOGRAM_POINT,
  F.ExponentialHistogramDataPoint,
  {
    attributes: ATTRIBUTES,
    start_time_unix_nano: "fixed64",
    time_unix_nano: "fixed64",
    count: "fixed64",
    sum: "double",
    scale: "sint32",
    zero_count: "fixed64",
    flags: "fixed32",
    min: "double",
    max: "double",
  },
  [],
  ["sum", "min", "max"],
);
define(SUMMARY_POINT, F.SummaryDataPoint, {
  attributes: ATTRIBUTES,
  start_time_unix_nano: "fixed64",
  time_unix_nano: "fixed64",
  count: "fixed64",
  sum: "double",
  quantile_values: { repeated: QUANTILE },
  flags: "fixed32",
});
define(QUANTILE, F.ValueAtQuantile, { quantile: "double", value: "double" });

/** The messages a request's framing hands out (decode.ts), by the importer's name for them. */
export const OTLP_ITEMS = {
  resource: RESOURCE,
  scope: SCOPE,
  span: SPAN,
  logRecord: LOG_RECORD,
  metric: METRIC,
} as const;

/** Deepest message nesting read (the top message is at 0): protoc's default recursion limit. */
const MAX_DEPTH = 100;

type Obj = Record<string, unknown>;

/**
 * The message `m` in `buf[start, end)` as a plain object (this file's comment says the shape).
 * @throws WireError when the bytes are not a protobuf message (a length or value past the end,
 *   a varint over 10 bytes, field number 0, a group), hold a string that is not UTF-8, or nest
 *   more than 100 deep.
 */
export function decodeOtlp(m: OtlpMessage, buf: Uint8Array, start = 0, end = buf.length): Obj {
  // As a Buffer (a view, no copy): its toString(encoding, start, end) makes flat strings natively
  // (`text`, `scalar` cast the readers' buffer back to it).
  const b = buf instanceof Buffer ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  return decodeInto(m, b, start, end, {}, true, 0);
}

/**
 * Decodes `m` from `buf[start, end)` into `out`. `empty`: `out` has no field yet (a new object),
 * so that storing the first fields skips looking for values to clear (a oneof's other members).
 */
function decodeInto(
  m: OtlpMessage,
  buf: Uint8Array,
  start: number,
  end: number,
  out: Obj,
  empty: boolean,
  depth: number,
): Obj {
  if (depth > MAX_DEPTH) throw new WireError(`messages nested more than ${MAX_DEPTH} deep`);
  const fields = m.fields;
  // One reader per depth, reused: a message's reader is free again once it returns.
  const r = depth < readers.length ? (readers[depth] as WireReader).reset(buf, start, end) : newReader(buf, start, end);
  while (r.next()) {
    const f = fields[r.field];
    if (f === undefined) {
      r.skip();
      continue;
    }
    if (r.wireType !== f.wt) {
      // A packed run of a repeated number field; else the field is read as unknown.
      if (f.repeated && r.wireType === WT_LEN && f.msg === null) {
        readPacked(r, f, out);
        empty = false;
      } else r.skip();
      continue;
    }
    let v: unknown;
    if (f.msg !== null) {
      r.len();
      const prev = empty || f.repeated ? undefined : out[f.name];
      v =
        prev === undefined
          ? decodeInto(f.msg, buf, r.lenStart, r.lenEnd, {}, true, depth + 1)
          : decodeInto(f.msg, buf, r.lenStart, r.lenEnd, prev as Obj, false, depth + 1);
    } else v = scalar(r, f.code);
    if (f.repeated) {
      const list = empty ? undefined : (out[f.name] as unknown[] | undefined);
      if (list === undefined) out[f.name] = [v];
      else list.push(v);
      empty = false;
    } else if (empty) {
      // Nothing to clear in a new object: only a value to store.
      if (f.presence || !isDefault(v)) {
        out[f.name] = v;
        empty = false;
      }
    } else set(out, f, v);
  }
  return out;
}

/** Readers by message depth (decodeInto). */
const readers: WireReader[] = [];

function newReader(buf: Uint8Array, start: number, end: number): WireReader {
  const r = new WireReader(buf, start, end);
  readers.push(r);
  return r;
}

/** Stores a singular field's value as protobufjs does (this file's comment). */
function set(out: Obj, f: FieldSpec, v: unknown): void {
  if (f.others !== null) for (const o of f.others) if (o in out) delete out[o];
  if (!f.presence && isDefault(v)) {
    if (f.name in out) delete out[f.name];
  } else out[f.name] = v;
}

/** A scalar's proto3 default ("" also for empty bytes; -0 is not the default). */
function isDefault(v: unknown): boolean {
  return v === "" || v === false || v === 0n || (v === 0 && 1 / v > 0);
}

/** Appends the values of a packed run (the current LEN field) of `f`'s scalar type to `out`. */
function readPacked(r: WireReader, f: FieldSpec, out: Obj): void {
  const end = r.end;
  const runEnd = r.lenEnd;
  r.pos = r.lenStart;
  r.end = runEnd;
  r.wireType = f.wt;
  try {
    while (r.pos < r.end) {
      const v = scalar(r, f.code);
      const list = out[f.name] as unknown[] | undefined;
      if (list === undefined) out[f.name] = [v];
      else list.push(v);
    }
  } finally {
    r.end = end;
    r.pos = runEnd;
    r.wireType = WT_LEN;
  }
}

/** UTF-8 text, strict (proto3 strings must be valid UTF-8), a leading byte order mark kept (it is part of the value). */
const utf8 = new TextDecoder("utf-8", { ignoreBOM: true, fatal: true });

/** `b[s, e)` as UTF-8 text. @throws WireError when it is not valid UTF-8. */
function utf8Text(b: Uint8Array, s: number, e: number): string {
  try {
    return utf8.decode(b.subarray(s, e));
  } catch {
    throw new WireError("a string field is not valid UTF-8");
  }
}

/**
 * UTF-8 text of `b[s, e)`: ASCII text up to 256 bytes as latin1 (the same characters; cheaper
 * than a strict TextDecoder call).
 * @throws WireError when it is not valid UTF-8.
 */
function text(b: Buffer, s: number, e: number): string {
  if (e - s <= 256) {
    for (let i = s; i < e; i++) if ((b[i] as number) >= 0x80) return utf8Text(b, s, e);
    return b.toString("latin1", s, e);
  }
  return utf8Text(b, s, e);
}

/**
 * The offset of the current field's 8 bytes (wire type I64, checked by the caller), the reader
 * moved past them. @throws WireError when they run past the end of the message.
 */
function fixed64At(r: WireReader): number {
  const p = r.pos;
  if (p + 8 > r.end) throw new WireError("a fixed64 runs past the end of its message");
  r.pos = p + 8;
  return p;
}

/** Reads the current field's value as scalar type `code` (SCALARS); its wire type was checked. */
function scalar(r: WireReader, code: number): unknown {
  switch (code) {
    case 0: // string
      r.len();
      return text(r.buf as Buffer, r.lenStart, r.lenEnd);
    case 1: // bytes, as hex
      r.len();
      return (r.buf as Buffer).toString("hex", r.lenStart, r.lenEnd);
    case 2: // bytes, as base64
      r.len();
      return (r.buf as Buffer).toString("base64", r.lenStart, r.lenEnd);
    case 3: // bool
      r.varintParts();
      return (r.hi | r.lo) !== 0;
    case 4: // int32: the low 32 bits, signed (a negative int32 is a 10-byte varint)
      r.varintParts();
      return r.lo | 0;
    case 5: // uint32
      r.varintParts();
      return r.lo;
    case 6: // sint32 (zigzag)
      r.varintParts();
      return ((r.lo >>> 1) ^ -(r.lo & 1)) | 0;
    case 7: {
      // fixed32
      const p = r.pos;
      if (p + 4 > r.end) throw new WireError("a fixed32 runs past the end of its message");
      const b = r.buf;
      r.pos = p + 4;
      return (
        ((b[p] as number) |
          ((b[p + 1] as number) << 8) |
          ((b[p + 2] as number) << 16) |
          ((b[p + 3] as number) << 24)) >>>
        0
      );
    }
    case 8: // int64
      r.varintParts();
      return r.hi === 0 ? BigInt(r.lo) : BigInt.asIntN(64, (BigInt(r.hi) << 32n) | BigInt(r.lo));
    case 9: // fixed64 (one native read: building it from two halves takes 4 BigInts, measured 4.6x slower)
      return (r.buf as Buffer).readBigUInt64LE(fixed64At(r));
    case 10: // sfixed64
      return (r.buf as Buffer).readBigInt64LE(fixed64At(r));
    default: // double
      return r.double();
  }
}
