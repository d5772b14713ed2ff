/**
 * The export's flow-id maps (lib/perfetto/span_flows.ts) key 64-bit ids by a 53-bit number:
 * ids that share those bits must still get entries of their own, and every id must find its
 * own entry again. The ids are written as BIGINT vectors and read back through bigintWords, as
 * the export reads DuckDB's.
 */
import { expect, test } from "bun:test";
import { bigintWords, InstantFlowMap, SpanFlows } from "../../lib/perfetto/span_flows.ts";

test("span ids that share their low 53 bits keep entries of their own", () => {
  const low = 0x1234_5678_9abcn;
  // Same low 53 bits, different top bits; negative ids too (BIGINT values read as words).
  const ids = [low, low | (1n << 53n), low | (1n << 62n), low | (3n << 53n), -1n, -2n, 0n, (1n << 63n) - 1n];
  const vec = BigInt64Array.from(ids);
  const w = bigintWords(vec);
  const m = new SpanFlows();
  for (const [i, id] of ids.entries()) m.add(w[2 * i] as number, w[2 * i + 1] as number).ids.push(id);
  expect(m.size).toBe(ids.length);
  ids.forEach((id, i) => {
    expect(m.get(w[2 * i] as number, w[2 * i + 1] as number)?.ids).toEqual([id]);
  });
  // Adding again finds the same entry.
  m.add(w[0] as number, w[1] as number).term.push(7n);
  expect(m.get(w[0] as number, w[1] as number)).toEqual({ ids: [low], term: [7n], hi: w[1] } as never);
  // An id never added has none, also when its number key is taken.
  const other = bigintWords(BigInt64Array.from([low | (5n << 53n), 99n]));
  expect(m.get(other[0] as number, other[1] as number)).toBeUndefined();
  expect(m.get(other[2] as number, other[3] as number)).toBeUndefined();
});

test("instants are told apart by their time and key, and listed in time order", () => {
  // Pairs whose words mix to the same number key: time and key both differ by the same high bit.
  const t = [10n, 10n | (1n << 60n), 5n, 10n, 10n];
  const k = [3n, 3n | (1n << 60n), 3n, 4n, 3n];
  const tA = BigInt64Array.from(t);
  const kA = BigInt64Array.from(k);
  const m = new InstantFlowMap();
  const got = t.map((_, i) => m.add(bigintWords(tA), bigintWords(kA), tA, kA, i));
  expect(got[0]).not.toBe(got[1]);
  expect(got[0]).not.toBe(got[3]);
  expect(got[4]).toBe(got[0]);
  expect(m.inTimeOrder().map((f) => [f.t, f.k])).toEqual([
    [5n, 3n],
    [10n, 3n],
    [10n, 4n],
    [10n | (1n << 60n), 3n | (1n << 60n)],
  ]);
});
