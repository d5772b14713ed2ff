/**
 * lib/bytes.ts grownBytes: the encoders' one growth rule (the raw block writer, the Chrome batch
 * output, the Perfetto args JSON and TracePacket writers).
 */
import { describe, expect, test } from "bun:test";
import { grownBytes } from "../lib/bytes.ts";

describe("grownBytes", () => {
  test("doubles until the bytes fit, keeps the used ones, zeroes the rest", () => {
    const buf = Uint8Array.from([1, 2, 3, 4, 9, 9, 9, 9]);
    const one = grownBytes(buf, 4, 5);
    expect(one.length).toBe(16);
    expect([...one]).toEqual([1, 2, 3, 4, ...new Array(12).fill(0)]);
    expect(grownBytes(buf, 8, 100).length).toBe(128);
    expect([...grownBytes(buf, 8, 1).subarray(0, 8)]).toEqual([1, 2, 3, 4, 9, 9, 9, 9]);
    expect(grownBytes(new Uint8Array(1), 1, 1).length).toBe(2);
  });
});
