/**
 * The replay result's lookup functions (lib/replay/finalize.ts sliceLookup): a vector's positions
 * are read from the slice's columns whether they form one run (copied at once) or not (value by
 * value). The oracle: the positions indexed by hand.
 */
import { expect, test } from "bun:test";
import { type GroupSlice, sliceLookup } from "../../lib/replay/finalize.ts";

const rows = 100;
const slice: GroupSlice = {
  rows,
  values: [0, 1, 2].map((c) => Float64Array.from({ length: rows }, (_, r) => c * 1000 + r + 0.5)),
  nulls: [0, 1, 2].map((c) => Uint8Array.from({ length: rows }, (_, r) => (r + c) % 2)),
};

/** The value at `pos` by hand: column pos / rows, row pos % rows. */
const byHand = (cols: (Float64Array | Uint8Array)[], p: number): number =>
  (cols[Math.floor(p / rows)] as Float64Array | Uint8Array)[p % rows] as number;

test("a run of positions within one column, runs that cross a column, and shuffled positions read the right values", () => {
  const value = sliceLookup("v", "DOUBLE", (s) => s.values);
  const flag = sliceLookup("n", "TINYINT", (s) => s.nulls);
  const cases: number[][] = [
    Array.from({ length: 40 }, (_, i) => 130 + i), // one run in column 1
    Array.from({ length: 20 }, (_, i) => 90 + i), // a run across columns 0 and 1
    [5, 250, 7, 6, 199, 100, 0], // no run
    [42], // a single position
    Array.from({ length: 10 }, (_, i) => 60 + 2 * i), // evenly spaced, not consecutive
  ];
  for (const c of cases) {
    const pos = Int32Array.from(c);
    const outV = [new Float64Array(c.length)];
    const outN = [new Int8Array(c.length)];
    value.fill(slice, pos, c.length, outV);
    flag.fill(slice, pos, c.length, outN);
    expect([...(outV[0] as Float64Array)]).toEqual(c.map((p) => byHand(slice.values, p)));
    expect([...(outN[0] as Int8Array)]).toEqual(c.map((p) => byHand(slice.nulls, p)));
  }
});
