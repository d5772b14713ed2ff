/**
 * partitionOrder (lib/views/flow_edges.ts): the order a flows partition's rows are written in,
 * which the partition's SELECT no longer sorts. The expected orders are written down by hand
 * from the rule: the edge's time (the in end's, a loose end's only end's), the out end's time
 * (none last), the in end's and the out end's span numbers (none last), then the edge index.
 */
import { describe, expect, test } from "bun:test";
import { EdgeTable, KIND_INSTANT, KIND_SPAN, partitionOrder, TimeWords } from "../../lib/views/flow_edges.ts";

/** The 32-bit words (high, low) of a 64-bit value, as BigInt64Array holds it. */
function wordsOf(t: bigint): [number, number] {
  return [Number(BigInt.asIntN(32, t >> 32n)), Number(BigInt.asIntN(32, t))];
}

/** Adds a span end (id ≥ 0) or an instant (id -1) at time t (ns); returns its number. */
function end(table: EdgeTable, t: bigint, id: number): number {
  const p = table.dict.of("proc");
  const [hi, lo] = wordsOf(t);
  return table.ends.add(id < 0 ? KIND_INSTANT : KIND_SPAN, p, -1, -1, -1, id, -1, hi, lo);
}

/** The partition order of the edges [out, in] (end numbers, -1 for none), as edge indexes. */
function orderOf(build: (t: EdgeTable) => [number, number][]): number[] {
  const table = new EdgeTable();
  for (const [o, i] of build(table)) table.add(1, 0, -1, 2, -1, -1, o, i, -1);
  const cols = table.finish();
  return [
    ...partitionOrder(
      cols,
      Int32Array.from({ length: cols.n }, (_, k) => k),
    ),
  ];
}

describe("partitionOrder", () => {
  test("by the edge's time, the in end's or a loose end's only one", () => {
    const order = orderOf((t) => [
      [end(t, 100n, 1), end(t, 500n, 2)], // 0: time 500
      [end(t, 300n, 3), -1], // 1: loose out end, time 300
      [-1, end(t, 200n, 4)], // 2: loose in end, time 200
      [end(t, 50n, 5), end(t, 400n, 6)], // 3: time 400
    ]);
    expect(order).toEqual([2, 1, 3, 0]);
  });

  test("equal times: the out end's time (none last), then span numbers (instants last), then the index", () => {
    const order = orderOf((t) => [
      [end(t, 90n, 1), end(t, 100n, 7)], // 0: out 90, in_n 7
      [-1, end(t, 100n, 3)], // 1: no out end: after every out time
      [end(t, 80n, 1), end(t, 100n, 9)], // 2: out 80: first
      [end(t, 90n, 1), end(t, 100n, 5)], // 3: out 90, in_n 5: before 0
      [end(t, 90n, 1), end(t, 100n, -1)], // 4: out 90, in end an instant: after 0 and 3
      [end(t, 90n, 2), end(t, 100n, 5)], // 5: as 3 but out_n 2: after 3
      [end(t, 90n, 1), end(t, 100n, 5)], // 6: same as 3: after it, by index
    ]);
    expect(order).toEqual([2, 3, 6, 5, 0, 4, 1]);
  });

  test("times more than 2^53 ns apart are compared exactly", () => {
    const far = 2n ** 62n;
    const order = orderOf((t) => [
      [-1, end(t, far + 2n, 1)], // 0
      [-1, end(t, 5n, 1)], // 1
      [-1, end(t, far + 1n, 1)], // 2: one ns before 0, beyond a double's precision there
      [end(t, far, 1), end(t, far + 2n, 1)], // 3: same time as 0, with an out end: before it
    ]);
    expect(order).toEqual([1, 2, 3, 0]);
  });

  test("many edges, with ties at every level, come in the rule's order (far times too)", () => {
    // 2,000 edges: past the sort's first runs, so its merges are exercised. The expected order
    // is the rule applied by Array.prototype.sort to the values the test chose.
    // Offsets: small, large and negative times within 2^53 ns of each other, crossing a 32-bit
    // word boundary (compared as doubles from the least), and times 2^62 ns apart (as BigInts).
    for (const offsets of [[0n], [2n ** 62n + 2n ** 31n - 20n], [-(2n ** 40n) - 20n], [0n, 2n ** 62n]]) {
      let seed = 7;
      const rand = (n: number): number => {
        seed = (seed * 1103515245 + 12345) % 2147483648;
        return seed % n;
      };
      const edges: { time: bigint; out: bigint | null; inN: number; outN: number; k: number }[] = [];
      const order = orderOf((t) => {
        const made: [number, number][] = [];
        for (let k = 0; k < 2000; k++) {
          const time = (offsets[rand(offsets.length)] as bigint) + BigInt(rand(40));
          const hasOut = rand(4) !== 0;
          const hasIn = !hasOut || rand(4) !== 0;
          const outT = (offsets[rand(offsets.length)] as bigint) + BigInt(rand(40));
          const outN = rand(3) === 0 ? -1 : rand(5);
          const inN = rand(3) === 0 ? -1 : rand(5);
          made.push([hasOut ? end(t, outT, outN) : -1, hasIn ? end(t, time, inN) : -1]);
          edges.push({
            time: hasIn ? time : outT,
            out: hasOut ? outT : null,
            inN: hasIn && inN >= 0 ? inN : Number.POSITIVE_INFINITY,
            outN: hasOut && outN >= 0 ? outN : Number.POSITIVE_INFINITY,
            k,
          });
        }
        return made;
      });
      const cmp = (x: bigint | null, y: bigint | null): number =>
        x === y ? 0 : x === null ? 1 : y === null ? -1 : x < y ? -1 : 1;
      const want = [...edges]
        .sort((a, b) => cmp(a.time, b.time) || cmp(a.out, b.out) || a.inN - b.inN || a.outN - b.outN || a.k - b.k)
        .map((e) => e.k);
      expect(order).toEqual(want);
    }
  });
});

describe("TimeWords", () => {
  test("gives the words of base + t as BigInt arithmetic does, carries and wraps included", () => {
    const bases = [
      0n,
      1n,
      -1n,
      2n ** 31n - 1n,
      2n ** 32n - 1n,
      -(2n ** 40n) - 20n,
      2n ** 62n + 2n ** 31n,
      2n ** 63n - 2n ** 53n,
    ];
    const ts = [0, 1, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 1.5e12, 2 ** 52 + 3, 2 ** 53 - 1];
    for (const base of bases) {
      const w = new TimeWords(base);
      for (const t of ts) {
        expect([w.high(t), w.low(t)]).toEqual(wordsOf(BigInt.asIntN(64, base + BigInt(t))));
      }
    }
  });
});
