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

/**
 * An OTLP export request of `signal` as the OTLP importer's JSON shape: `{resourceSpans: [...]}`
 * (or `resourceLogs`, `resourceMetrics`; only the signal's own field is kept; absent when the
 * request is empty).
 * @throws DecodeError when `body` is not a message of that type in that encoding.
 */
export function decodeRequest(signal: OtlpSignal, encoding: OtlpEncoding, body: Uint8Array): Record<string, unknown> {
  const { message, field } = SIGNALS[signal];
  let obj: Record<string, unknown>;
  if (encoding === "json") {
    let v: unknown;
    try {
      v = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
    } catch (e) {
      throw new DecodeError(`the body is not JSON (${(e as Error).message})`);
    }
    if (!v || typeof v !== "object" || Array.isArray(v))
      throw new DecodeError(`the body is not a JSON object (an OTLP ${message.slice(5)})`);
    obj = v as Record<string, unknown>;
    const snake = field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    const list = obj[field] ?? obj[snake];
    if (list !== undefined && !Array.isArray(list)) throw new DecodeError(`${field} is not an array`);
    return list === undefined ? {} : { [field]: list };
  }
  const type = otlpRoot().lookupType(message);
  let decoded: unknown;
  try {
    decoded = type.decode(body);
  } catch (e) {
    throw new DecodeError(`the body is not a protobuf ${message.slice(5)} (${(e as Error).message})`);
  }
  obj = plain(decoded, "") as Record<string, unknown>;
  return obj[field] === undefined ? {} : { [field]: obj[field] };
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
