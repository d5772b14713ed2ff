/**
 * spanRanks: the partition order of a pass's spans (begin, thread, depth, end, id), computed by
 * merging the threads' runs, checked against a plain sort of the same keys written out here.
 */
import { describe, expect, test } from "bun:test";
import { SpanArrays, spanRanks } from "../../lib/views/span_stack.ts";

/** Spans given as [begin, depth, end] per thread (threads in run order). */
function arrays(threads: [number, number, number][][]): SpanArrays {
  const n = threads.reduce((k, t) => k + t.length, 0);
  const spans = new SpanArrays(n);
  let id = 0;
  for (const t of threads) {
    spans.runs.push(id);
    for (const [b, d, e] of t) {
      spans.begin[id] = b;
      spans.depth[id] = d;
      spans.end[id] = e;
      id++;
    }
  }
  return spans;
}

/** The expected ranks: the ids sorted by (begin, thread, depth, end, id) with Array.prototype.sort. */
function expected(threads: [number, number, number][][]): number[] {
  const rows: { id: number; key: number[] }[] = [];
  let id = 0;
  threads.forEach((t, thread) => {
    for (const [b, d, e] of t) {
      rows.push({ id, key: [b, thread, d, e, id] });
      id++;
    }
  });
  rows.sort((x, y) => {
    for (let i = 0; i < 5; i++) if (x.key[i] !== y.key[i]) return (x.key[i] as number) - (y.key[i] as number);
    return 0;
  });
  const rank = new Array<number>(rows.length);
  rows.forEach((r, k) => {
    rank[r.id] = k;
  });
  return rank;
}

describe("spanRanks", () => {
  test("merges threads by begin, then thread; spans of a thread that begin together by depth, end, id", () => {
    const threads: [number, number, number][][] = [
      // A zero-length X placed before an open B (depth 0 after a depth-1 span in id order).
      [
        [0, 0, 100],
        [10, 1, 20],
        [10, 0, 10],
        [10, 2, 15],
        [50, 1, 60],
      ],
      [],
      [
        [0, 0, 5],
        [10, 0, 30],
        [10, 0, 12],
        [70, 0, 80],
      ],
      [[10, 3, 11]],
    ];
    expect([...spanRanks(arrays(threads), 10)]).toEqual(expected(threads));
  });

  test("random passes: the same order as a full sort", () => {
    let seed = 42;
    const rand = (m: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % m;
    };
    for (let round = 0; round < 50; round++) {
      const threads: [number, number, number][][] = [];
      const count = 1 + rand(6);
      for (let t = 0; t < count; t++) {
        const spans: [number, number, number][] = [];
        let begin = rand(5);
        for (let i = rand(40); i > 0; i--) {
          begin += rand(3); // often equal begins
          spans.push([begin, rand(4), begin + rand(6)]);
        }
        threads.push(spans);
      }
      const n = threads.reduce((k, t) => k + t.length, 0);
      expect([...spanRanks(arrays(threads), n)]).toEqual(expected(threads));
    }
  });

  test("a thread's run out of begin order still gets the full order", () => {
    const threads: [number, number, number][][] = [
      [
        [30, 0, 40],
        [10, 0, 20],
      ],
      [[20, 0, 25]],
    ];
    expect([...spanRanks(arrays(threads), 3)]).toEqual(expected(threads));
  });

  test("only the first n spans are ranked", () => {
    const threads: [number, number, number][][] = [[[5, 0, 6]], [[1, 0, 2]]];
    const spans = arrays(threads);
    spans.runs.push(2); // a run starting at n: empty
    expect([...spanRanks(spans, 2)]).toEqual([1, 0]);
  });
});
