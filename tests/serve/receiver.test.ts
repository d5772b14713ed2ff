/**
 * The OTLP/HTTP receiver's answers under backpressure and its response bodies, against a stand-in
 * for the live ingest (no lake): 429 with Retry-After when too many bytes are being read at once,
 * 503 with Retry-After when commits are behind or the last commit failed, and the protobuf
 * bodies (partial success, google.rpc.Status) read back with protobufjs from a schema written
 * here by hand from opentelemetry-proto (not the receiver's schema).
 */
import { describe, expect, test } from "bun:test";
import protobuf from "protobufjs";
import { decodeRequest } from "../../lib/serve/decode.ts";
import type { LiveIngest } from "../../lib/serve/live_ingest.ts";
import { DEFAULT_LIMITS, OtlpReceiver } from "../../lib/serve/receiver.ts";

/** A live ingest stand-in: `uncommitted` bytes pending; `add` rejects `rejected` items. */
function fakeIngest(uncommitted: number, rejected = 0): LiveIngest {
  return {
    uncommitted,
    idle: () => Promise.resolve(),
    add: () => ({ rejected, message: rejected > 0 ? "rejected: span: span without spanId" : "" }),
  } as unknown as LiveIngest;
}

const ORACLE = protobuf.parse(`syntax = "proto3";
message ExportTracePartialSuccess { int64 rejected_spans = 1; string error_message = 2; }
message ExportTraceServiceResponse { ExportTracePartialSuccess partial_success = 1; }
message Status { int32 code = 1; string message = 2; }
message KV { string key = 1; V value = 2; } message V { string string_value = 1; int64 int_value = 3; }
message R { repeated KV attributes = 1; }
message Span { bytes span_id = 2; string name = 5; fixed64 start_time_unix_nano = 7; repeated KV attributes = 9; }
message Scope { string name = 1; }
message SS { Scope scope = 1; repeated Span spans = 2; } message RS { R resource = 1; repeated SS scope_spans = 2; }
message Req { repeated RS resource_spans = 1; }`).root;

const req = (body: Uint8Array | string, type = "application/x-protobuf", headers: Record<string, string> = {}) =>
  new Request("http://127.0.0.1/v1/traces", { method: "POST", body, headers: { "content-type": type, ...headers } });

describe("OtlpReceiver", () => {
  test("503 with Retry-After while commits are behind, and while the lake cannot take commits", async () => {
    const r = new OtlpReceiver(fakeIngest(10), { ...DEFAULT_LIMITS, maxUncommittedBytes: 5, retryAfterSeconds: 7 });
    const res = await r.handle(req(new Uint8Array()), "/v1/traces");
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("7");
    const st = ORACLE.lookupType("Status").decode(new Uint8Array(await res.arrayBuffer())) as unknown as {
      code: number;
    };
    expect(st.code).toBe(14);
    const ok = new OtlpReceiver(fakeIngest(0));
    ok.unavailable = "the lake is locked";
    const res2 = await ok.handle(req("{}", "application/json"), "/v1/traces");
    expect(res2.status).toBe(503);
    expect(((await res2.json()) as { message: string }).message).toContain("the lake is locked");
  });

  test("429 with Retry-After when the bytes being read at once would pass the bound", async () => {
    const r = new OtlpReceiver(fakeIngest(0), { ...DEFAULT_LIMITS, maxInflightBytes: 100 });
    const res = await r.handle(req(new Uint8Array(200)), "/v1/traces");
    expect({ status: res.status, retry: res.headers.get("retry-after") }).toEqual({ status: 429, retry: "1" });
  });

  test("protobuf answers: partial success with the rejected count; empty on success", async () => {
    // One ResourceSpans with nothing in it: one piece for the ingest, which rejects 3 items.
    const partial = await new OtlpReceiver(fakeIngest(0, 3)).handle(req(new Uint8Array([0x0a, 0x00])), "/v1/traces");
    const type = ORACLE.lookupType("ExportTraceServiceResponse");
    const body = type.toObject(type.decode(new Uint8Array(await partial.arrayBuffer())), { longs: Number });
    expect(body).toEqual({
      partialSuccess: { rejectedSpans: 3, errorMessage: "rejected: span: span without spanId" },
    });
    const full = await new OtlpReceiver(fakeIngest(0)).handle(req(new Uint8Array()), "/v1/traces");
    expect({ status: full.status, bytes: (await full.arrayBuffer()).byteLength }).toEqual({ status: 200, bytes: 0 });
    // A span whose bytes do not decode (a cut varint) inside a well-framed request: rejected, not 400.
    const garbled = new Uint8Array([0x0a, 0x05, 0x12, 0x03, 0x12, 0x01, 0xff]);
    const part = await new OtlpReceiver(fakeIngest(0)).handle(req(garbled), "/v1/traces");
    expect({
      status: part.status,
      body: type.toObject(type.decode(new Uint8Array(await part.arrayBuffer())), { longs: Number }),
    }).toEqual({
      status: 200,
      body: { partialSuccess: { rejectedSpans: 1, errorMessage: "1 items could not be decoded" } },
    });
    // Bad framing: 400 before anything is taken.
    const bad = await new OtlpReceiver(fakeIngest(0)).handle(req(new Uint8Array([0xff, 0xff])), "/v1/traces");
    expect(bad.status).toBe(400);
    expect(
      (ORACLE.lookupType("Status").decode(new Uint8Array(await bad.arrayBuffer())) as unknown as { code: number }).code,
    ).toBe(3);
  });

  test("a protobuf body is taken in pieces of 1000 items, each with its resource and scope", () => {
    const req = ORACLE.lookupType("Req");
    const body = req
      .encode(
        req.fromObject({
          resourceSpans: [
            {
              resource: { attributes: [{ key: "service.name", value: { stringValue: "svc" } }] },
              scopeSpans: [
                {
                  scope: { name: "lib" },
                  spans: Array.from({ length: 2500 }, (_, i) => ({
                    spanId: Buffer.from((i + 1).toString(16).padStart(16, "0"), "hex"),
                    name: `s${i}`,
                    startTimeUnixNano: "1760000000000000000",
                    attributes: [{ key: "n", value: { intValue: -i } }],
                  })),
                },
              ],
            },
          ],
        }),
      )
      .finish();
    const d = decodeRequest("traces", "protobuf", body);
    type Piece = {
      resourceSpans: {
        resource: unknown;
        scopeSpans: { scope: unknown; spans: { spanId: string; name: string; startTimeUnixNano: bigint }[] }[];
      }[];
    };
    const pieces = [...d.pieces()] as unknown as Piece[];
    expect(pieces.map((p) => p.resourceSpans[0]?.scopeSpans[0]?.spans.length)).toEqual([1000, 1000, 500]);
    for (const p of pieces) {
      expect(p.resourceSpans[0]?.resource).toEqual({
        attributes: [{ key: "service.name", value: { stringValue: "svc" } }],
      });
      expect(p.resourceSpans[0]?.scopeSpans[0]?.scope).toEqual({ name: "lib" });
    }
    const last = pieces[2]?.resourceSpans[0]?.scopeSpans[0]?.spans[499];
    expect(last).toEqual({
      spanId: (2500).toString(16).padStart(16, "0"),
      name: "s2499",
      startTimeUnixNano: 1_760_000_000_000_000_000n,
      attributes: [{ key: "n", value: { intValue: -2499n } }],
    } as unknown as typeof last);
    expect(d.undecodable).toBe(0);
  });
});
