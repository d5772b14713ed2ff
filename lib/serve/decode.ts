/**
 * Decoding of OTLP/HTTP request bodies (opentelemetry-specification, protocol/otlp.md
 * "OTLP/HTTP"): `Content-Encoding: gzip` undone with a bound on the decompressed size, then
 * `application/x-protobuf` (binary protobuf, schema otlp_proto.ts) or `application/json` (the
 * JSON protobuf encoding) turned into the one shape the OTLP importer (lib/ingest/otlp.ts) reads:
 * an `Export*ServiceRequest` as plain objects, lowerCamelCase names, enums as numbers (JSON
 * bodies as parsed; protobuf: see `plain`). So both encodings go through the same mapping as
 * OTLP files.
 */
import { gunzipSync } from "node:zlib";
import protobuf from "protobufjs";
import { otlpRoot } from "./otlp_proto.ts";

/** The three OTLP signals, by their URL path's last part (`/v1/traces`...). */
export type OtlpSignal = "traces" | "logs" | "metrics";

/** The two OTLP/HTTP encodings. */
export type OtlpEncoding = "protobuf" | "json";

/** Thrown for a body that cannot be decoded (the receiver answers 400 with the message). */
export class DecodeError extends Error {}

/** Thrown for a body larger than the limit once decompressed (the receiver answers 413). */
export class TooLargeError extends Error {}

/** The request message and the top field of each signal. */
const SIGNALS: Record<OtlpSignal, { message: string; field: string }> = {
  traces: { message: "otlp.ExportTraceServiceRequest", field: "resourceSpans" },
  logs: { message: "otlp.ExportLogsServiceRequest", field: "resourceLogs" },
  metrics: { message: "otlp.ExportMetricsServiceRequest", field: "resourceMetrics" },
};

/**
 * The encoding of a `Content-Type` header value (parameters such as `; charset=utf-8` ignored),
 * null when it is neither OTLP/HTTP encoding.
 */
export function encodingOf(contentType: string | null): OtlpEncoding | null {
  const t = (contentType ?? "").split(";")[0]?.trim().toLowerCase();
  if (t === "application/x-protobuf" || t === "application/protobuf") return "protobuf";
  if (t === "application/json") return "json";
  return null;
}

/**
 * The body without its content encoding.
 * @param contentEncoding the `Content-Encoding` header (null, `identity` or `gzip`).
 * @param maxBytes the largest decompressed body accepted, bytes.
 * @throws TooLargeError over `maxBytes`; DecodeError for a bad gzip stream or another encoding.
 */
export function unpackBody(body: Uint8Array, contentEncoding: string | null, maxBytes: number): Uint8Array {
  const enc = (contentEncoding ?? "identity").trim().toLowerCase();
  if (enc === "identity" || enc === "") {
    if (body.length > maxBytes) throw new TooLargeError(`request body over ${maxBytes} bytes`);
    return body;
  }
  if (enc !== "gzip") throw new DecodeError(`unsupported Content-Encoding ${contentEncoding}; send gzip or none`);
  try {
    return gunzipSync(body, { maxOutputLength: maxBytes });
  } catch (e) {
    if ((e as { code?: string }).code === "ERR_BUFFER_TOO_LARGE" || e instanceof RangeError)
      throw new TooLargeError(`request body over ${maxBytes} bytes once decompressed`);
    throw new DecodeError(`the gzip body cannot be decompressed (${(e as Error).message})`);
  }
}

/** A decoded body: its pieces, to hand to the importer one at a time. */
export interface DecodedBody {
  /**
   * The request in pieces of at most PIECE_ITEMS items (spans, log records, metrics), each an
   * `Export*ServiceRequest` in the importer's shape (`{resourceSpans: [...]}`...); a JSON body is
   * one piece. Protobuf items are decoded as the pieces are taken, so memory holds one piece's
   * objects, not the whole body's.
   */
  pieces(): Iterable<Record<string, unknown>>;
  /** Items whose bytes did not decode (counted while `pieces` runs): rejected, not fatal. */
  undecodable: number;
}

/** Items per piece of a protobuf body. */
const PIECE_ITEMS = 1000;

/**
 * An OTLP export request of `signal` as the OTLP importer's shape (decode.ts's file comment).
 * A protobuf body's framing (the request, resource and scope levels) is read whole first, so a
 * body cut or garbled at those levels throws before any piece is taken.
 * @throws DecodeError when `body` is not a message of that type in that encoding.
 */
export function decodeRequest(signal: OtlpSignal, encoding: OtlpEncoding, body: Uint8Array): DecodedBody {
  const { message, field } = SIGNALS[signal];
  if (encoding === "json") {
    let v: unknown;
    try {
      v = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
    } catch (e) {
      throw new DecodeError(`the body is not JSON (${(e as Error).message})`);
    }
    if (!v || typeof v !== "object" || Array.isArray(v))
      throw new DecodeError(`the body is not a JSON object (an OTLP ${message.slice(5)})`);
    const obj = v as Record<string, unknown>;
    const snake = field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    const list = obj[field] ?? obj[snake];
    if (list !== undefined && !Array.isArray(list)) throw new DecodeError(`${field} is not an array`);
    const piece = list === undefined ? {} : { [field]: list };
    return { pieces: () => [piece], undecodable: 0 };
  }
  let frames: ResourceFrame[];
  try {
    frames = frame(body);
  } catch (e) {
    throw new DecodeError(`the body is not a protobuf ${message.slice(5)} (${(e as Error).message})`);
  }
  const root = otlpRoot();
  const t = ITEM_TYPES[signal];
  const resourceType = root.lookupType("otlp.Resource");
  const scopeType = root.lookupType("otlp.InstrumentationScope");
  const itemType = root.lookupType(t.item);
  const out: DecodedBody = {
    undecodable: 0,
    *pieces() {
      for (const f of frames) {
        // A resource or scope that does not decode rejects its items.
        let resource: unknown;
        try {
          resource = f.resource ? plain(resourceType.decode(f.resource), "") : undefined;
        } catch {
          for (const sc of f.scopes) out.undecodable += sc.items.length;
          continue;
        }
        for (const sc of f.scopes) {
          let scope: unknown;
          try {
            scope = sc.scope ? plain(scopeType.decode(sc.scope), "") : undefined;
          } catch {
            out.undecodable += sc.items.length;
            continue;
          }
          for (let k = 0; k < sc.items.length || k === 0; k += PIECE_ITEMS) {
            const items: unknown[] = [];
            for (const bytes of sc.items.slice(k, k + PIECE_ITEMS)) {
              try {
                items.push(plain(itemType.decode(bytes), ""));
              } catch {
                out.undecodable++;
              }
            }
            const scopeObj: Record<string, unknown> = { [t.list]: items };
            if (scope !== undefined) scopeObj.scope = scope;
            const res: Record<string, unknown> = { [t.scopes]: [scopeObj] };
            if (resource !== undefined) res.resource = resource;
            yield { [field]: [res] };
          }
        }
        if (f.scopes.length === 0) yield { [field]: [resource === undefined ? {} : { resource }] };
      }
    },
  };
  return out;
}

/** Per signal: the item message, and the importer's names of the scope list and item list. */
const ITEM_TYPES: Record<OtlpSignal, { item: string; scopes: string; list: string }> = {
  traces: { item: "otlp.Span", scopes: "scopeSpans", list: "spans" },
  logs: { item: "otlp.LogRecord", scopes: "scopeLogs", list: "logRecords" },
  metrics: { item: "otlp.Metric", scopes: "scopeMetrics", list: "metrics" },
};

/** A ResourceSpans/Logs/Metrics's framing: its resource's bytes and its scopes'. */
interface ResourceFrame {
  resource: Uint8Array | null;
  scopes: { scope: Uint8Array | null; items: Uint8Array[] }[];
}

/**
 * The framing of an `Export*ServiceRequest` (the same field numbers for the three signals,
 * opentelemetry-proto: request 1 = resource_*; Resource* 1 = resource, 2 = scope_*, 1000 = the
 * deprecated instrumentation_library_*; Scope* 1 = scope, 2 = items): byte ranges (no copies).
 * @throws Error (protobufjs's) when the framing is not valid protobuf.
 */
function frame(body: Uint8Array): ResourceFrame[] {
  const out: ResourceFrame[] = [];
  const r = protobuf.Reader.create(body);
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag === ((1 << 3) | 2)) out.push(frameResource(r.bytes()));
    else r.skipType(tag & 7);
  }
  return out;
}

function frameResource(bytes: Uint8Array): ResourceFrame {
  const f: ResourceFrame = { resource: null, scopes: [] };
  const r = protobuf.Reader.create(bytes);
  while (r.pos < r.len) {
    const tag = r.uint32();
    const field = tag >>> 3;
    if ((tag & 7) !== 2 || (field !== 1 && field !== 2 && field !== 1000)) {
      r.skipType(tag & 7);
      continue;
    }
    const b = r.bytes();
    if (field === 1) f.resource = b;
    else {
      const sc: { scope: Uint8Array | null; items: Uint8Array[] } = { scope: null, items: [] };
      const s = protobuf.Reader.create(b);
      while (s.pos < s.len) {
        const t = s.uint32();
        if (t === ((1 << 3) | 2)) sc.scope = s.bytes();
        else if (t === ((2 << 3) | 2)) sc.items.push(s.bytes());
        else s.skipType(t & 7);
      }
      f.scopes.push(sc);
    }
  }
  return f;
}

/** A protobufjs Long (64-bit integer as two 32-bit halves). */
interface LongBits {
  low: number;
  high: number;
  unsigned: boolean;
  __isLong__: true;
}

/** A Long's value as a bigint (signed or not as the field is). */
function longValue(l: LongBits): bigint {
  if (l.high === 0 && l.low >= 0) return BigInt(l.low);
  const u = (BigInt(l.high >>> 0) << 32n) | BigInt(l.low >>> 0);
  return l.unsigned ? u : BigInt.asIntN(64, u);
}

/**
 * A decoded protobufjs message as plain objects, the fields present on the wire only (a
 * message's own properties; its prototype holds the defaults): 64-bit integers as bigints (the
 * importer's int64 takes them as they are), bytes as lowercase hex (trace and span ids; the
 * importer's hexId takes hex as it is), except `bytesValue` (an attribute's bytes) as base64, as
 * OTLP JSON writes it; empty repeated fields left out. Done here rather than with protobufjs's
 * toObject, which wrote 64-bit integers and ids as text that the importer then parsed again.
 * @param key the field name of `v` in its parent ("" for the top).
 */
function plain(v: unknown, key: string): unknown {
  if (v === null || typeof v !== "object") return v;
  if (Array.isArray(v)) {
    const out = new Array(v.length);
    for (let i = 0; i < v.length; i++) out[i] = plain(v[i], key);
    return out;
  }
  if (v instanceof Uint8Array) {
    const b = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
    return key === "bytesValue" ? b.toString("base64") : b.toString("hex");
  }
  if ((v as LongBits).__isLong__ === true) return longValue(v as LongBits);
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v)) {
    const x = (v as Record<string, unknown>)[k];
    if (Array.isArray(x) && x.length === 0) continue;
    out[k] = plain(x, k);
  }
  return out;
}

/**
 * The body of a response in `encoding`: an `Export*ServiceResponse` (empty on full success;
 * `partial_success` with the rejected count and a message otherwise), as the spec says.
 * @param rejected items rejected (spans, log records or data points).
 */
export function exportResponse(
  signal: OtlpSignal,
  encoding: OtlpEncoding,
  rejected: number,
  errorMessage: string,
): Uint8Array {
  const partial = rejected > 0 || errorMessage !== "";
  if (encoding === "json") {
    const key = signal === "traces" ? "rejectedSpans" : signal === "logs" ? "rejectedLogRecords" : "rejectedDataPoints";
    const body = partial ? { partialSuccess: { [key]: String(rejected), errorMessage } } : {};
    return new TextEncoder().encode(JSON.stringify(body));
  }
  // The three responses' partial_success messages have the same fields and numbers
  // (1: rejected_*, int64; 2: error_message).
  const type = otlpRoot().lookupType("otlp.ExportServiceResponse");
  return type.encode(type.fromObject(partial ? { partialSuccess: { rejected, errorMessage } } : {})).finish();
}

/**
 * The body of an error response in `encoding`: a google.rpc.Status with `code` (a gRPC code:
 * 3 invalid argument, 8 resource exhausted, 14 unavailable) and `message`, as the spec asks.
 */
export function statusBody(encoding: OtlpEncoding, code: number, message: string): Uint8Array {
  if (encoding === "json") return new TextEncoder().encode(JSON.stringify({ code, message }));
  const type = otlpRoot().lookupType("otlp.RpcStatus");
  return type.encode(type.fromObject({ code, message })).finish();
}
