/**
 * The receiver's hand-written OTLP protobuf decoder (lib/serve/otlp_wire.ts) and answers
 * (lib/serve/decode.ts) against protobufjs, the independent oracle: items encoded by protobufjs
 * from tests/serve/otlp_proto.ts (field numbers copied from opentelemetry-proto, not from
 * lib/serve/otlp_fields.ts), or bytes written by hand with protobufjs's Writer, are decoded by
 * both, protobufjs's result made plain by `oraclePlain` (the receiver's former conversion, copied
 * here), and the two must be equal: every field type, each AnyValue kind, nested arrays and
 * kvlists, span events, links, status, log bodies of each kind, the five metric kinds, and wire
 * cases (defaults on the wire, oneof members in turn, a message twice, unknown fields, wrong wire
 * types, packed and unpacked runs, a leading BOM, deep nesting, cut bytes), and 12,000 seeded
 * bit-flip mutations (decoded equal, or refused by both).
 */
import { describe, expect, test } from "bun:test";
import protobuf from "protobufjs";
import { decodeRequest, exportResponse, statusBody } from "../../lib/serve/decode.ts";
import { decodeOtlp, OTLP_ITEMS } from "../../lib/serve/otlp_wire.ts";
import { otlpRoot } from "./otlp_proto.ts";

/** A protobufjs Long. */
interface LongBits {
  low: number;
  high: number;
  unsigned: boolean;
  __isLong__: true;
}

/** The receiver's former conversion of a protobufjs message to plain objects (decode.ts before otlp_wire.ts). */
function oraclePlain(v: unknown, key: string): unknown {
  if (v === null || typeof v !== "object") return v;
  if (Array.isArray(v)) return v.map((x) => oraclePlain(x, key));
  if (v instanceof Uint8Array) {
    const b = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
    return key === "bytesValue" ? b.toString("base64") : b.toString("hex");
  }
  if ((v as LongBits).__isLong__ === true) {
    const l = v as LongBits;
    if (l.high === 0 && l.low >= 0) return BigInt(l.low);
    const u = (BigInt(l.high >>> 0) << 32n) | BigInt(l.low >>> 0);
    return l.unsigned ? u : BigInt.asIntN(64, u);
  }
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v)) {
    const x = (v as Record<string, unknown>)[k];
    if (Array.isArray(x) && x.length === 0) continue;
    out[k] = oraclePlain(x, k);
  }
  return out;
}

const TYPES = {
  resource: "otlp.Resource",
  scope: "otlp.InstrumentationScope",
  span: "otlp.Span",
  logRecord: "otlp.LogRecord",
  metric: "otlp.Metric",
} as const;
type Item = keyof typeof TYPES;

/** Bytes of `obj` as the item message `item`, encoded by protobufjs. */
function encode(item: Item, obj: Record<string, unknown>): Uint8Array {
  const t = otlpRoot().lookupType(TYPES[item]);
  return t.encode(t.fromObject(obj)).finish();
}

/** The item decoded by protobufjs + oraclePlain, and by otlp_wire.ts (or the errors). */
function both(item: Item, bytes: Uint8Array): { oracle: unknown; ours: unknown } {
  let oracle: unknown;
  let ours: unknown;
  try {
    oracle = oraclePlain(otlpRoot().lookupType(TYPES[item]).decode(bytes), "");
  } catch {
    oracle = "error";
  }
  try {
    ours = decodeOtlp(OTLP_ITEMS[item], bytes);
  } catch {
    ours = "error";
  }
  return { oracle, ours };
}

/** Decodes `bytes` both ways (protobufjs must decode it) and expects equal results. */
function same(item: Item, bytes: Uint8Array): unknown {
  const { oracle, ours } = both(item, bytes);
  expect(oracle).not.toBe("error");
  expect(ours).toStrictEqual(oracle);
  return ours;
}

const ID16 = Buffer.from("0102030405060708090a0b0c0d0e0f10", "hex");
const ID8 = Buffer.from("a1b2c3d4e5f60718", "hex");
const BIG = "18446744073709551615"; // 2^64 - 1: fixed64's largest
const kv = (key: string, value: Record<string, unknown> | undefined) => (value ? { key, value } : { key });

/** One AnyValue of each kind, nested arrays and kvlists, and the edge values. */
const VALUES: Record<string, Record<string, unknown>> = {
  str: { stringValue: "héllo ✓" },
  strEmpty: { stringValue: "" },
  boolTrue: { boolValue: true },
  boolFalse: { boolValue: false },
  int: { intValue: 42 },
  intZero: { intValue: 0 },
  intNeg: { intValue: -5 },
  intMax: { intValue: "9223372036854775807" },
  intMin: { intValue: "-9223372036854775808" },
  double: { doubleValue: 1.5 },
  doubleZero: { doubleValue: 0 },
  doubleNeg: { doubleValue: -2.25e300 },
  bytes: { bytesValue: Buffer.from([0, 1, 254, 255]) },
  bytesEmpty: { bytesValue: Buffer.alloc(0) },
  empty: {},
  array: {
    arrayValue: {
      values: [{ stringValue: "a" }, { intValue: 1 }, { arrayValue: { values: [{ boolValue: true }, {}] } }, {}],
    },
  },
  arrayEmpty: { arrayValue: {} },
  kvlist: {
    kvlistValue: {
      values: [
        kv("a", { kvlistValue: { values: [kv("b", { arrayValue: { values: [{ doubleValue: 3 }] } })] } }),
        kv("n", undefined),
      ],
    },
  },
};
const ATTRS = Object.entries(VALUES).map(([k, v]) => kv(k, v));

describe("otlp_wire: items decode as protobufjs decodes them", () => {
  test("a span with every field, attributes of each AnyValue kind, events, links and status", () => {
    const span = {
      traceId: ID16,
      spanId: ID8,
      traceState: "k=v",
      parentSpanId: Buffer.from("0000000000000001", "hex"),
      flags: 0xffffffff,
      name: "GET /x",
      kind: 3,
      startTimeUnixNano: "1760000000000000001",
      endTimeUnixNano: BIG,
      attributes: ATTRS,
      droppedAttributesCount: 7,
      events: [
        { timeUnixNano: "1760000000000000002", name: "ev", attributes: [kv("e", { intValue: 1 })] },
        { name: "no time", droppedAttributesCount: 1 },
      ],
      droppedEventsCount: 2,
      links: [
        { traceId: ID16, spanId: ID8, traceState: "a=b", attributes: [kv("l", { boolValue: true })], flags: 257 },
        { droppedAttributesCount: 3 },
      ],
      droppedLinksCount: 4,
      status: { message: "boom", code: 2 },
    };
    const got = same("span", encode("span", span)) as Record<string, unknown>;
    // The shape the importer relies on, spelled out (not only "equal to protobufjs").
    expect(got.spanId).toBe("a1b2c3d4e5f60718");
    expect(got.endTimeUnixNano).toBe(18446744073709551615n);
    const attrs = got.attributes as { key: string; value: unknown }[];
    const byKey = Object.fromEntries(attrs.map((a) => [a.key, a.value]));
    expect(byKey.intNeg).toEqual({ intValue: -5n });
    expect(byKey.boolFalse).toEqual({ boolValue: false });
    expect(byKey.bytes).toEqual({ bytesValue: "AAH+/w==" });
    expect(same("span", encode("span", {}))).toStrictEqual({});
  });

  test("log records: a body of each kind, and every field", () => {
    for (const [name, body] of Object.entries(VALUES)) {
      const got = same(
        "logRecord",
        encode("logRecord", {
          timeUnixNano: "1760000000000000003",
          observedTimeUnixNano: "1760000000000000004",
          severityNumber: 17,
          severityText: "ERROR",
          body,
          attributes: [kv("k", { stringValue: name })],
          droppedAttributesCount: 1,
          flags: 1,
          traceId: ID16,
          spanId: ID8,
          eventName: "evt",
        }),
      );
      expect((got as Record<string, unknown>).body).toBeDefined();
    }
  });

  test("metrics: gauge, sum, histogram, exponential histogram and summary points", () => {
    const base = {
      attributes: [kv("h", { stringValue: "x" })],
      startTimeUnixNano: "1",
      timeUnixNano: "1760000000000000005",
    };
    const metrics = [
      {
        name: "g",
        description: "a gauge",
        unit: "ms",
        gauge: {
          dataPoints: [
            { ...base, asDouble: 1.25, flags: 1 },
            { ...base, asInt: "-9223372036854775807" },
            { ...base, asInt: 0 },
            { ...base, asDouble: 0 },
            base,
          ],
        },
      },
      { name: "s", sum: { dataPoints: [{ ...base, asInt: 12 }], aggregationTemporality: 2, isMonotonic: true } },
      { name: "s0", sum: { dataPoints: [], aggregationTemporality: 1, isMonotonic: false } },
      {
        name: "h",
        histogram: {
          dataPoints: [
            {
              ...base,
              count: 10,
              sum: 111.5,
              bucketCounts: [1, 0, 9, BIG],
              explicitBounds: [0.5, 10, 1e9],
              flags: 1,
              min: -1,
              max: 99,
            },
            { ...base, count: 0, sum: 0, min: 0, max: 0 },
          ],
          aggregationTemporality: 1,
        },
      },
      {
        name: "eh",
        exponentialHistogram: {
          dataPoints: [
            { ...base, count: 3, sum: 6, scale: -3, zeroCount: 1, flags: 0, min: 1, max: 3 },
            { ...base, scale: 20 },
          ],
          aggregationTemporality: 2,
        },
      },
      {
        name: "sm",
        summary: {
          dataPoints: [
            {
              ...base,
              count: 4,
              sum: 10,
              quantileValues: [{ quantile: 0.5, value: 2 }, { quantile: 0.99, value: 4 }, {}],
              flags: 0,
            },
          ],
        },
      },
      { name: "no data" },
    ];
    for (const m of metrics) same("metric", encode("metric", m));
  });

  test("resources and scopes", () => {
    same("resource", encode("resource", { attributes: ATTRS, droppedAttributesCount: 1 }));
    same("scope", encode("scope", { name: "lib", version: "1.2", attributes: ATTRS, droppedAttributesCount: 2 }));
    same("scope", encode("scope", {}));
  });
});

/** Hand-written bytes: protobufjs's Writer (tags as field << 3 | wire type). */
const W = () => protobuf.Writer.create();
const tag = (field: number, wt: number) => (field << 3) | wt;

describe("otlp_wire: wire cases decode as protobufjs decodes them", () => {
  test("defaults on the wire clear earlier values; a oneof keeps its last member; a message twice merges", () => {
    const w = W();
    w.uint32(tag(5, 2)).string("first").uint32(tag(5, 2)).string(""); // name, then the default: gone
    w.uint32(tag(6, 0)).int32(2).uint32(tag(6, 0)).int32(0); // kind, then 0: gone
    w.uint32(tag(12, 0)).uint32(0); // dropped_events_count 0 alone: absent
    w.uint32(tag(7, 1)).fixed64(0); // start 0: absent
    w.uint32(tag(15, 2)).fork().uint32(tag(2, 2)).string("m").ldelim(); // status {message}
    w.uint32(tag(15, 2)).fork().uint32(tag(3, 0)).int32(2).ldelim(); // status {code}: merged
    // An attribute whose value has string, then int, then array twice (merged), then bool.
    const v = W();
    v.uint32(tag(1, 2)).string("s").uint32(tag(3, 0)).int64(-1);
    v.uint32(tag(5, 2)).fork().uint32(tag(1, 2)).fork().uint32(tag(2, 0)).bool(true).ldelim().ldelim();
    v.uint32(tag(5, 2)).fork().uint32(tag(1, 2)).fork().uint32(tag(4, 1)).double(2).ldelim().ldelim();
    const valueBytes = v.finish();
    w.uint32(tag(9, 2)).fork().uint32(tag(1, 2)).string("arr").uint32(tag(2, 2)).bytes(valueBytes).ldelim();
    const v2 = W().uint32(tag(5, 2)).fork().ldelim().uint32(tag(2, 0)).bool(false).finish();
    w.uint32(tag(9, 2)).fork().uint32(tag(1, 2)).string("bool").uint32(tag(2, 2)).bytes(v2).ldelim();
    const got = same("span", w.finish()) as Record<string, unknown>;
    expect(got.status).toEqual({ message: "m", code: 2 });
    expect(got.name).toBeUndefined();
    expect(got.attributes).toEqual([
      { key: "arr", value: { arrayValue: { values: [{ boolValue: true }, { doubleValue: 2 }] } } },
      { key: "bool", value: { boolValue: false } },
    ]);
  });

  test("unknown fields of each wire type and known fields with another wire type are skipped", () => {
    const w = W();
    w.uint32(tag(99, 0)).uint64("18446744073709551615");
    w.uint32(tag(100, 1)).fixed64(5);
    w.uint32(tag(5, 2)).string("kept");
    w.uint32(tag(536870911, 2)).bytes(new Uint8Array([1, 2, 3]));
    w.uint32(tag(101, 5)).fixed32(7);
    w.uint32(tag(7, 0)).uint32(5); // start_time as a varint (declared fixed64): skipped
    w.uint32(tag(16, 0)).uint32(1); // flags as a varint (declared fixed32): skipped
    w.uint32(tag(5, 0)).uint32(3); // name as a varint: skipped, "kept" stays
    w.uint32(tag(9, 0)).uint32(3); // attributes as a varint: skipped
    w.uint32(tag(2, 5)).fixed32(3); // span_id as fixed32: skipped
    const got = same("span", w.finish());
    expect(got).toEqual({ name: "kept" });
    // Metric.metadata (12) and a NumberDataPoint's exemplars (5): not declared, skipped.
    const m = W().uint32(tag(1, 2)).string("m").uint32(tag(12, 2)).fork().uint32(tag(1, 2)).string("k").ldelim();
    m.uint32(tag(5, 2)).fork().uint32(tag(1, 2)).fork().uint32(tag(5, 2)).fork().ldelim().uint32(tag(4, 1)).double(1);
    m.ldelim().ldelim();
    expect(same("metric", m.finish())).toEqual({ name: "m", gauge: { dataPoints: [{ asDouble: 1 }] } });
  });

  test("repeated numbers packed and unpacked; a BOM kept; negative int32 and sint32", () => {
    const w = W();
    w.uint32(tag(6, 2)).fork().fixed64(1).fixed64(2).ldelim(); // bucket_counts packed
    w.uint32(tag(6, 1)).fixed64(3); // then one unpacked
    w.uint32(tag(6, 2)).fork().ldelim(); // an empty run
    w.uint32(tag(7, 1)).double(0.5).uint32(tag(7, 2)).fork().double(1).double(-0).ldelim();
    w.uint32(tag(5, 1)).double(-0); // optional sum -0
    const h = W().uint32(tag(9, 2)).fork().uint32(tag(1, 2)).bytes(w.finish()).uint32(tag(2, 0)).int32(-1).ldelim();
    h.uint32(tag(1, 2)).string("\uFEFFbom");
    const hb = h.finish();
    same("metric", hb);
    const e = W().uint32(tag(6, 0)).sint32(-7).uint32(tag(5, 1)).double(Number.NaN);
    const m = W().uint32(tag(10, 2)).fork().uint32(tag(1, 2)).bytes(e.finish()).ldelim();
    same("metric", m.finish());
    expect(decodeOtlp(OTLP_ITEMS.metric, hb).name).toBe("\uFEFFbom");
    const l = W().uint32(tag(2, 0)).int32(-3).uint32(tag(3, 2)).string("\uFEFF");
    expect(same("logRecord", l.finish())).toEqual({ severityNumber: -3, severityText: "\uFEFF" });
  });

  test("a string that is not UTF-8 is refused by both (proto3 strings are UTF-8)", () => {
    const bad = W()
      .uint32(tag(5, 2))
      .bytes(new Uint8Array([0x61, 0xff]))
      .finish();
    expect(both("span", bad)).toEqual({ oracle: "error", ours: "error" });
    const long = W()
      .uint32(tag(3, 2))
      .bytes(new Uint8Array([...Buffer.from("x".repeat(40)), 0xc0, 0x80]))
      .finish();
    expect(both("logRecord", long)).toEqual({ oracle: "error", ours: "error" });
  });

  test("cut bytes and nesting past 100 levels are refused by both", () => {
    const good = encode("span", { name: "x", attributes: [kv("a", { stringValue: "y" })] });
    for (let n = 1; n < good.length; n++) {
      const { oracle, ours } = both("span", good.subarray(0, n));
      // protobufjs reads some cuts as a shorter message; where it refuses, so do we.
      if (oracle === "error") expect({ n, ours }).toEqual({ n, ours: "error" });
    }
    expect(both("span", good.subarray(0, good.length - 1))).toEqual({ oracle: "error", ours: "error" });
    // An attribute value in `levels` arrays: span 0, KeyValue 1, AnyValue 2, ArrayValue 3...
    // (written by hand: protobufjs's encoder refuses to nest past its limit).
    const deep = (levels: number): Uint8Array => {
      let v: Uint8Array = W().uint32(tag(1, 2)).string("deep").finish();
      for (let i = 0; i < levels; i++) {
        const arr = W().uint32(tag(1, 2)).bytes(v).finish();
        v = W().uint32(tag(5, 2)).bytes(arr).finish();
      }
      const attr = W().uint32(tag(1, 2)).string("d").uint32(tag(2, 2)).bytes(v).finish();
      return W().uint32(tag(9, 2)).bytes(attr).finish();
    };
    expect((same("span", deep(49)) as Record<string, unknown>).attributes).toBeDefined();
    expect(both("span", deep(50))).toEqual({ oracle: "error", ours: "error" });
  });
});

describe("otlp_wire: mutated bytes", () => {
  test("bit flips in a span, a log record and a metric: decoded or refused exactly as protobufjs does", () => {
    const samples: [Item, Uint8Array][] = [
      [
        "span",
        encode("span", {
          traceId: ID16,
          spanId: ID8,
          name: "héllo",
          kind: 2,
          startTimeUnixNano: "12345678901234",
          attributes: [kv("a", { intValue: -3 }), kv("b", VALUES.array), kv("c", VALUES.kvlist)],
          events: [{ name: "e", timeUnixNano: "5" }],
          links: [{ traceId: ID16, spanId: ID8, flags: 1 }],
          status: { code: 2, message: "m" },
        }),
      ],
      ["logRecord", encode("logRecord", { timeUnixNano: "7", severityNumber: 9, body: VALUES.kvlist, spanId: ID8 })],
      [
        "metric",
        encode("metric", {
          name: "h",
          histogram: {
            dataPoints: [
              { timeUnixNano: "9", count: 3, sum: 1.5, bucketCounts: [1, 2], explicitBounds: [0.5], min: 0 },
            ],
            aggregationTemporality: 2,
          },
        }),
      ],
    ];
    let seed = 7;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const outcomes = { decoded: 0, refused: 0 };
    for (const [item, good] of samples) {
      for (let k = 0; k < 4000; k++) {
        const b = Uint8Array.from(good);
        for (let j = 1 + rnd(3); j > 0; j--) {
          const at = rnd(b.length);
          b[at] = (b[at] as number) ^ (1 << rnd(8));
        }
        const { oracle, ours } = both(item, b);
        if (!Bun.deepEquals(ours, oracle, true))
          expect({ item, bytes: Buffer.from(b).toString("hex"), ours }).toEqual({
            item,
            bytes: Buffer.from(b).toString("hex"),
            ours: oracle,
          });
        outcomes[oracle === "error" ? "refused" : "decoded"]++;
      }
    }
    // Both outcomes were exercised.
    expect(Math.min(outcomes.decoded, outcomes.refused)).toBeGreaterThan(1000);
  });
});

describe("decode.ts: framing and answers", () => {
  test("the deprecated instrumentation_library_spans (1000) and unknown framing fields", () => {
    const span = encode("span", { spanId: ID8, name: "old", startTimeUnixNano: "5" });
    const scope = W().uint32(tag(1, 2)).fork().uint32(tag(1, 2)).string("lib").ldelim();
    scope.uint32(tag(2, 2)).bytes(span).uint32(tag(3, 2)).string("schema").uint32(tag(9, 0)).uint32(1);
    const rs = W().uint32(tag(1000, 2)).bytes(scope.finish()).uint32(tag(3, 2)).string("url");
    rs.uint32(tag(1, 0)).uint32(4); // resource as a varint: skipped
    const body = W().uint32(tag(1, 2)).bytes(rs.finish()).uint32(tag(2, 1)).fixed64(1).finish();
    const d = decodeRequest("traces", "protobuf", body);
    expect([...d.pieces()]).toEqual([
      {
        resourceSpans: [
          {
            scopeSpans: [
              { scope: { name: "lib" }, spans: [{ spanId: "a1b2c3d4e5f60718", name: "old", startTimeUnixNano: 5n }] },
            ],
          },
        ],
      },
    ]);
  });

  test("response bodies read back by protobufjs", () => {
    const root = protobuf.parse(`syntax = "proto3";
      message P { int64 rejected_log_records = 1; string error_message = 2; }
      message R { P partial_success = 1; }
      message Status { int32 code = 1; string message = 2; }`).root;
    const r = root.lookupType("R");
    const read = (b: Uint8Array) => r.toObject(r.decode(b), { longs: String });
    const long = "é".repeat(200);
    expect(read(exportResponse("logs", "protobuf", 2 ** 40, long))).toEqual({
      partialSuccess: { rejectedLogRecords: String(2 ** 40), errorMessage: long },
    });
    expect(read(exportResponse("logs", "protobuf", 0, "warn"))).toEqual({ partialSuccess: { errorMessage: "warn" } });
    expect(exportResponse("metrics", "protobuf", 0, "").length).toBe(0);
    const s = root.lookupType("Status");
    for (const code of [3, 8, 14]) {
      expect(s.toObject(s.decode(statusBody("protobuf", code, `m${code}`)))).toEqual({ code, message: `m${code}` });
    }
  });
});
