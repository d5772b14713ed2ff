/**
 * The OTLP/HTTP receiver's answers under backpressure and its response bodies, against a stand-in
 * for the live ingest (no lake): 429 with Retry-After when too many bytes are being read at once,
 * 503 with Retry-After when commits are behind or the last commit failed, and the protobuf
 * bodies (partial success, google.rpc.Status) read back with protobufjs from a schema written
 * here by hand from opentelemetry-proto (not the receiver's schema).
 */
import { describe, expect, test } from "bun:test";
import protobuf from "protobufjs";
import type { LiveIngest } from "../../lib/serve/live_ingest.ts";
import { DEFAULT_LIMITS, OtlpReceiver } from "../../lib/serve/receiver.ts";

/** A live ingest stand-in: `uncommitted` bytes pending; `add` rejects `rejected` items. */
function fakeIngest(uncommitted: number, rejected = 0): LiveIngest {
  return {
    uncommitted,
    add: () => ({ rejected, message: rejected > 0 ? "rejected: span: span without spanId" : "" }),
  } as unknown as LiveIngest;
}

const ORACLE = protobuf.parse(`syntax = "proto3";
message ExportTracePartialSuccess { int64 rejected_spans = 1; string error_message = 2; }
message ExportTraceServiceResponse { ExportTracePartialSuccess partial_success = 1; }
message Status { int32 code = 1; string message = 2; }`).root;

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
    const partial = await new OtlpReceiver(fakeIngest(0, 3)).handle(req(new Uint8Array()), "/v1/traces");
    const type = ORACLE.lookupType("ExportTraceServiceResponse");
    const body = type.toObject(type.decode(new Uint8Array(await partial.arrayBuffer())), { longs: Number });
    expect(body).toEqual({
      partialSuccess: { rejectedSpans: 3, errorMessage: "rejected: span: span without spanId" },
    });
    const full = await new OtlpReceiver(fakeIngest(0)).handle(req(new Uint8Array()), "/v1/traces");
    expect({ status: full.status, bytes: (await full.arrayBuffer()).byteLength }).toEqual({ status: 200, bytes: 0 });
    const bad = await new OtlpReceiver(fakeIngest(0)).handle(req(new Uint8Array([0xff, 0xff])), "/v1/traces");
    expect(bad.status).toBe(400);
    expect(
      (ORACLE.lookupType("Status").decode(new Uint8Array(await bad.arrayBuffer())) as unknown as { code: number }).code,
    ).toBe(3);
  });
});
