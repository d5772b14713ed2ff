/**
 * Generated OTLP trace requests for serve's benches (generated data, labelled as such: one
 * service, spans named op-0..op-19 with two attributes, 500 ns long, 1 µs apart): protobuf
 * ExportTraceServiceRequest bodies encoded with protobufjs (tests/serve/otlp_proto.ts).
 */
import { otlpRoot } from "../tests/serve/otlp_proto.ts";

/**
 * `count` different requests of `batch` spans each (distinct span ids; request k's spans share
 * one trace id), times from now.
 * @param service the resource's service.name.
 * @returns the encoded bodies.
 */
export function makeBodies(count: number, batch: number, service = "load"): Uint8Array[] {
  const type = otlpRoot().lookupType("otlp.ExportTraceServiceRequest");
  const out: Uint8Array[] = [];
  const t0 = BigInt(Date.now()) * 1_000_000n;
  for (let k = 0; k < count; k++) {
    const trace = Buffer.alloc(16, (k % 255) + 1);
    const spans = Array.from({ length: batch }, (_, i) => {
      const id = Buffer.alloc(8);
      id.writeUInt32BE(k, 0);
      id.writeUInt32BE(i + 1, 4);
      const start = t0 + BigInt(k * batch + i) * 1000n;
      return {
        traceId: trace,
        spanId: id,
        name: `op-${i % 20}`,
        kind: 2,
        startTimeUnixNano: start.toString(),
        endTimeUnixNano: (start + 500n).toString(),
        attributes: [
          { key: "http.route", value: { stringValue: `/api/${i % 7}` } },
          { key: "http.status_code", value: { intValue: 200 } },
        ],
      };
    });
    const msg = {
      resourceSpans: [
        {
          resource: { attributes: [{ key: "service.name", value: { stringValue: service } }] },
          scopeSpans: [{ scope: { name: "bench" }, spans }],
        },
      ],
    };
    out.push(type.encode(type.fromObject(msg)).finish());
  }
  return out;
}
