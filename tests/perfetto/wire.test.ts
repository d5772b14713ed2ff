/**
 * The protobuf wire writer and packet builders against independent oracles: protobufjs's own
 * Writer/Reader for varints and nested lengths, our .proto subset for packets, and pftrace-lint
 * for the interning resets.
 */
import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import protobuf from "protobufjs";
import { INTERN_LIMIT, SLICE_BEGIN, TraceWriter } from "../../lib/perfetto/packets.ts";
import { ProtoWriter, putVarint64 } from "../../lib/perfetto/wire.ts";
import { BUN, tempDir } from "../helpers.ts";
import { decodeTrace, LINT } from "./decode.ts";

describe("ProtoWriter", () => {
  test("varints equal protobufjs's encoding, from 0 to 2^64 - 1", () => {
    const values: bigint[] = [
      0n,
      1n,
      127n,
      128n,
      300n,
      2n ** 28n - 1n,
      2n ** 28n,
      2n ** 31n,
      2n ** 32n - 1n,
      2n ** 32n,
    ];
    values.push(2n ** 53n - 1n, 2n ** 53n, 1_763_000_000_000_000_000n, 2n ** 63n, 2n ** 64n - 1n);
    for (let i = 0; i < 200; i++)
      values.push(BigInt.asUintN(64, BigInt(Math.floor(Math.random() * 2 ** 32)) << BigInt(i % 33)));
    for (const v of values) {
      const w = new ProtoWriter(4);
      w.varint64(Number(v >> 32n), Number(v & 0xffffffffn));
      if (v < 2n ** 53n) w.varint(Number(v));
      const oracle = protobuf.Writer.create().uint64(v.toString()).finish();
      expect([...w.buf.subarray(0, oracle.length)]).toEqual([...oracle]);
      if (v < 2n ** 53n) expect([...w.buf.subarray(oracle.length, w.pos)]).toEqual([...oracle]);
      const b = new Uint8Array(10);
      expect(putVarint64(b, 0, Number(v >> 32n), Number(v & 0xffffffffn))).toBe(oracle.length);
    }
  });

  test("nested messages longer than 127 bytes get a multi-byte length (body shifted)", () => {
    for (const n of [0, 1, 126, 127, 128, 300, 16383, 16384, 70000]) {
      const w = new ProtoWriter(8);
      w.begin(2);
      w.string(1, "x".repeat(n));
      w.end();
      w.uint(3, 7);
      const r = protobuf.Reader.create(w.buf.subarray(0, w.pos));
      expect(r.uint32()).toBe((2 << 3) | 2);
      const inner = r.bytes();
      const ir = protobuf.Reader.create(inner);
      expect(ir.uint32()).toBe((1 << 3) | 2);
      expect(ir.string().length).toBe(n);
      expect(r.uint32()).toBe(3 << 3);
      expect(r.uint32()).toBe(7);
      expect(r.pos).toBe(w.pos);
    }
  });
});

describe("TraceWriter", () => {
  test("interning tables that fill up clear the incremental state; every name still resolves", () => {
    const tw = new TraceWriter(1);
    tw.setBase(1_700_000_000_000_000_000n);
    tw.threadTrack(0, 1, 10, 11, "t");
    const n = INTERN_LIMIT + 10;
    for (let i = 0; i < n; i++) {
      const iid = tw.nameIid(i) || tw.addName(i, `name ${i}`);
      tw.slice(SLICE_BEGIN, 2 * i, 1, iid, 0, null, null, -1);
      tw.sliceEnd(2 * i + 1, 1);
    }
    const file = join(tempDir("tl-wire-"), "intern.pftrace");
    writeFileSync(file, tw.out.buf.subarray(0, tw.out.pos));
    const d = decodeTrace(tw.out.buf.subarray(0, tw.out.pos));
    expect(d.slices.length).toBe(n);
    expect(d.slices.map((s) => s.name)).toEqual(Array.from({ length: n }, (_, i) => `name ${i}`));
    expect(d.slices[0]?.ts).toBe(1_700_000_000_000_000_000n);
    const p = Bun.spawnSync([BUN, LINT, "--strict", "--json", file]);
    const j = JSON.parse(p.stdout.toString());
    expect(j.errors).toEqual([]);
    expect(j.stats.slices.complete.total).toBe(n);
  }, 60_000);
});
