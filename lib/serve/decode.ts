/**
 * Decoding of OTLP/HTTP request bodies (opentelemetry-specification, protocol/otlp.md
 * "OTLP/HTTP"): `Content-Encoding: gzip` undone with a bound on the decompressed size, then
 * `application/x-protobuf` (binary protobuf: framed here, items decoded by otlp_wire.ts) or
 * `application/json` (the JSON protobuf encoding) turned into the one shape the OTLP importer
 * (lib/ingest/otlp.ts) reads: an `Export*ServiceRequest` as plain objects, lowerCamelCase names,
 * enums as numbers (JSON bodies as parsed; protobuf: otlp_wire.ts's file comment). So both
 * encodings go through the same mapping as OTLP files. Also the bodies of the answers
 * (`Export*ServiceResponse`, google.rpc.Status), written with the Perfetto writer's ProtoWriter.
 */
import { gunzipSync } from "node:zlib";
import { ProtoWriter } from "../perfetto/wire.ts";
import { WireReader, WT_LEN } from "../perfetto/wire_reader.ts";
import {
  ExportPartialSuccess,
  ExportServiceRequest,
  ExportServiceResponse,
  ResourceItems,
  RpcStatus,
  ScopeItems,
} from "./otlp_fields.ts";
import { decodeOtlp, OTLP_ITEMS, type OtlpMessage } from "./otlp_wire.ts";

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
  traces: { message: "ExportTraceServiceRequest", field: "resourceSpans" },
  logs: { message: "ExportLogsServiceRequest", field: "resourceLogs" },
  metrics: { message: "ExportMetricsServiceRequest", field: "resourceMetrics" },
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
  /**
   * Bytes of the body whose items were handed out so far (grows while `pieces` runs; the body's
   * length once it ended), so that a caller can pace work by bytes within one large body.
   */
  taken: number;
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
      throw new DecodeError(`the body is not a JSON object (an OTLP ${message})`);
    const obj = v as Record<string, unknown>;
    const snake = field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    const list = obj[field] ?? obj[snake];
    if (list !== undefined && !Array.isArray(list)) throw new DecodeError(`${field} is not an array`);
    const piece = list === undefined ? {} : { [field]: list };
    return { pieces: () => [piece], undecodable: 0, taken: body.length };
  }
  let frames: ResourceFrame[];
  // A Buffer view (no copy), so that the resources' and scopes' subarrays are Buffers, as
  // decodeOtlp reads them.
  const buf = body instanceof Buffer ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  try {
    frames = frame(buf);
  } catch (e) {
    throw new DecodeError(`the body is not a protobuf ${message} (${(e as Error).message})`);
  }
  const t = ITEM_TYPES[signal];
  const out: DecodedBody = {
    undecodable: 0,
    taken: 0,
    *pieces() {
      for (const f of frames) {
        // A resource or scope that does not decode rejects its items.
        let resource: unknown;
        try {
          resource = f.resource ? decodeOtlp(OTLP_ITEMS.resource, f.resource) : undefined;
        } catch {
          for (const sc of f.scopes) out.undecodable += sc.items.length >> 1;
          continue;
        }
        for (const sc of f.scopes) {
          let scope: unknown;
          try {
            scope = sc.scope ? decodeOtlp(OTLP_ITEMS.scope, sc.scope) : undefined;
          } catch {
            out.undecodable += sc.items.length >> 1;
            continue;
          }
          const n = sc.items.length >> 1;
          for (let k = 0; k < n || k === 0; k += PIECE_ITEMS) {
            const items: unknown[] = [];
            for (let i = k; i < n && i < k + PIECE_ITEMS; i++) {
              const start = sc.items[2 * i] as number;
              const end = sc.items[2 * i + 1] as number;
              out.taken += end - start;
              try {
                items.push(decodeOtlp(t.item, buf, start, end));
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
      out.taken = body.length;
    },
  };
  return out;
}

/** Per signal: the item message, and the importer's names of the scope list and item list. */
const ITEM_TYPES: Record<OtlpSignal, { item: OtlpMessage; scopes: string; list: string }> = {
  traces: { item: OTLP_ITEMS.span, scopes: "scopeSpans", list: "spans" },
  logs: { item: OTLP_ITEMS.logRecord, scopes: "scopeLogs", list: "logRecords" },
  metrics: { item: OTLP_ITEMS.metric, scopes: "scopeMetrics", list: "metrics" },
};

/**
 * A ResourceSpans/Logs/Metrics's framing: its resource's bytes and its scopes', each scope's items
 * as offsets into the body (start and end of each, one after the other: no view object per item).
 */
interface ResourceFrame {
  resource: Uint8Array | null;
  scopes: { scope: Uint8Array | null; items: number[] }[];
}

/**
 * The framing of an `Export*ServiceRequest` (the same field numbers for the three signals:
 * otlp_fields.ts's ExportServiceRequest, ResourceItems, ScopeItems; the deprecated
 * `instrumentation_library_*` lists read as the scope lists): byte ranges (no copies). Fields
 * of other numbers or wire types are skipped.
 * @throws WireError when the framing is not valid protobuf.
 */
function frame(body: Uint8Array): ResourceFrame[] {
  const out: ResourceFrame[] = [];
  const r = new WireReader(body, 0, body.length);
  while (r.next()) {
    if (r.field === ExportServiceRequest.resource_items && r.wireType === WT_LEN) {
      r.len();
      out.push(frameResource(body, r.lenStart, r.lenEnd));
    } else r.skip();
  }
  return out;
}

function frameResource(body: Uint8Array, start: number, end: number): ResourceFrame {
  const f: ResourceFrame = { resource: null, scopes: [] };
  const r = new WireReader(body, start, end);
  while (r.next()) {
    if (r.wireType !== WT_LEN) {
      r.skip();
      continue;
    }
    r.len();
    if (r.field === ResourceItems.resource) f.resource = body.subarray(r.lenStart, r.lenEnd);
    else if (r.field === ResourceItems.scope_items || r.field === ResourceItems.instrumentation_library_items) {
      const sc: { scope: Uint8Array | null; items: number[] } = { scope: null, items: [] };
      const s = new WireReader(body, r.lenStart, r.lenEnd);
      while (s.next()) {
        if (s.wireType !== WT_LEN) s.skip();
        else {
          s.len();
          if (s.field === ScopeItems.scope) sc.scope = body.subarray(s.lenStart, s.lenEnd);
          else if (s.field === ScopeItems.items) sc.items.push(s.lenStart, s.lenEnd);
        }
      }
      f.scopes.push(sc);
    }
  }
  return f;
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
  // The three responses' partial_success messages have the same fields and numbers.
  const w = new ProtoWriter(64 + errorMessage.length * 3);
  if (partial) {
    w.begin(ExportServiceResponse.partial_success);
    if (rejected > 0) w.uint(ExportPartialSuccess.rejected, rejected);
    if (errorMessage !== "") w.string(ExportPartialSuccess.error_message, errorMessage);
    w.end();
  }
  return w.buf.slice(0, w.pos);
}

/**
 * The body of an error response in `encoding`: a google.rpc.Status with `code` (a gRPC code:
 * 3 invalid argument, 8 resource exhausted, 14 unavailable) and `message`, as the spec asks.
 */
export function statusBody(encoding: OtlpEncoding, code: number, message: string): Uint8Array {
  if (encoding === "json") return new TextEncoder().encode(JSON.stringify({ code, message }));
  const w = new ProtoWriter(64 + message.length * 3);
  // int32: a negative code would be a 10-byte two's complement varint (gRPC codes are 0..16).
  if (code > 0) w.uint(RpcStatus.code, code);
  else if (code < 0) w.int64(RpcStatus.code, BigInt(code));
  if (message !== "") w.string(RpcStatus.message, message);
  return w.buf.slice(0, w.pos);
}
