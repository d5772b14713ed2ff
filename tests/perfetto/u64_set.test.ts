/**
 * U64Set (lib/perfetto/u64_set.ts) and the wire reader's uint64 pairs (readRepeatedParts,
 * u64Text), each against an independent oracle: a JS Set of the values' decimal texts made by
 * BigInt, and protobufjs's encoding of the repeated fields.
 */
import { describe, expect, test } from "bun:test";
import protobuf from "protobufjs";
import { U64Set } from "../../lib/perfetto/u64_set.ts";
import { readRepeatedParts, u64Text, WireReader } from "../../lib/perfetto/wire_reader.ts";

/** The decimal text of hi·2^32 + lo by BigInt (the oracle). */
const text = (hi: number, lo: number): string => ((BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0)).toString();

/** A deterministic 32-bit generator (xorshift32), so that a failure can be replayed. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

describe("U64Set", () => {
  test("agrees with a Set of decimal texts over 200,000 random adds, deletes and lookups", () => {
    const next = rng(12345);
    const set = new U64Set(16);
    const oracle = new Set<string>();
    // Values from a small pool, so that adds meet present values and deletes meet absent ones;
    // the pool mixes ids above 2^53 (Chromium's hashes), small ones and equal halves.
    const pool: [number, number][] = [];
    for (let i = 0; i < 3000; i++) {
      const kind = i % 3;
      pool.push(kind === 0 ? [next(), next()] : kind === 1 ? [0, next() % 1000] : [i, i]);
    }
    for (let step = 0; step < 200_000; step++) {
      const [hi, lo] = pool[next() % pool.length] as [number, number];
      const op = next() % 3;
      const k = text(hi, lo);
      if (op === 0) expect(set.add(hi, lo)).toBe(!oracle.has(k));
      else if (op === 1) expect(set.delete(hi, lo)).toBe(oracle.has(k));
      else expect(set.has(hi, lo)).toBe(oracle.has(k));
      if (op === 0) oracle.add(k);
      else if (op === 1) oracle.delete(k);
      expect(set.size).toBe(oracle.size);
    }
    for (const [hi, lo] of pool) expect(set.has(hi, lo)).toBe(oracle.has(text(hi, lo)));
  });

  test("a delete in a run of colliding values keeps the values after it findable", () => {
    // 16 slots at first: with 8 values, probe runs wrap around the table's end.
    const set = new U64Set(16);
    const values: [number, number][] = [];
    for (let i = 0; i < 8; i++) values.push([0x80000000 + i, 0xffffffff - i]);
    for (const [hi, lo] of values) expect(set.add(hi, lo)).toBe(true);
    for (let d = 0; d < values.length; d++) {
      const [hi, lo] = values[d] as [number, number];
      expect(set.delete(hi, lo)).toBe(true);
      expect(set.has(hi, lo)).toBe(false);
      for (const [h, l] of values.slice(d + 1)) expect(set.has(h, l)).toBe(true);
    }
    expect(set.size).toBe(0);
  });
});

describe("readRepeatedParts and u64Text", () => {
  const values = [
    0n,
    1n,
    127n,
    2n ** 32n - 1n,
    2n ** 32n,
    2n ** 53n - 1n,
    2n ** 53n,
    14_627_118_402_345_921_287n,
    2n ** 64n - 1n,
  ];

  /** The (hi, lo) pairs readRepeatedParts reads from field 1 of `bytes`, as decimal texts. */
  const read = (bytes: Uint8Array, fixed: boolean): string[] => {
    const r = new WireReader(bytes, 0, bytes.length);
    const out: number[] = [];
    while (r.next()) readRepeatedParts(r, out, fixed);
    const texts: string[] = [];
    for (let k = 0; k < out.length; k += 2) {
      const hi = out[k] as number;
      const lo = out[k + 1] as number;
      expect(u64Text(hi, lo)).toBe(text(hi, lo));
      texts.push(u64Text(hi, lo));
    }
    return texts;
  };
  const want = values.map(String);

  // Each encoding: the wire type of one value per tag, and how protobufjs writes a value.
  const encodings: [string, number, boolean, (w: protobuf.Writer, v: string) => protobuf.Writer][] = [
    ["varints", 0, false, (w, v) => w.uint64(v)],
    ["fixed64", 1, true, (w, v) => w.fixed64(v)],
  ];
  for (const [label, wireType, fixed, put] of encodings) {
    test(`${label}, one per tag and packed`, () => {
      const one = protobuf.Writer.create();
      for (const v of values) put(one.uint32((1 << 3) | wireType), v.toString());
      expect(read(one.finish(), fixed)).toEqual(want);
      const packed = protobuf.Writer.create()
        .uint32((1 << 3) | 2)
        .fork();
      for (const v of values) put(packed, v.toString());
      expect(read(packed.ldelim().finish(), fixed)).toEqual(want);
    });
  }
});
