/**
 * The export's flow-id tables (lib/perfetto/span_flows.ts) hold 64-bit ids as 32-bit word
 * pairs in open-addressing hash tables: ids that share most of their bits must still get
 * entries of their own, every id must find its own entry again (also after the tables grow),
 * and the ids come back as they went in and are written as the same fixed64 bytes BigInts give.
 * The ids are written as BIGINT vectors and read back through bigintWords, as the export reads
 * DuckDB's.
 */
import { expect, test } from "bun:test";
import {
  bigintWords,
  FLOW_IDS,
  FlowLists,
  InstantFlowMap,
  SpanFlows,
  TERMINATING_FLOW_IDS,
} from "../../lib/perfetto/span_flows.ts";
import { ProtoWriter } from "../../lib/perfetto/wire.ts";

const u64 = (v: bigint) => BigInt.asUintN(64, v);

test("span ids that share their low bits keep entries of their own", () => {
  const low = 0x1234_5678_9abcn;
  // Same low bits, different top bits; negative ids too (BIGINT values read as words).
  const ids = [low, low | (1n << 53n), low | (1n << 62n), low | (3n << 53n), -1n, -2n, 0n, (1n << 63n) - 1n];
  const w = bigintWords(BigInt64Array.from(ids));
  const lists = new FlowLists();
  const m = new SpanFlows(lists);
  for (const [i, id] of ids.entries()) {
    const e = m.add(w[2 * i] as number, w[2 * i + 1] as number);
    lists.push(e, FLOW_IDS, w[2 * i] as number, w[2 * i + 1] as number);
    expect(lists.ids(e, FLOW_IDS)).toEqual([u64(id)]);
  }
  expect(m.size).toBe(ids.length);
  ids.forEach((id, i) => {
    expect(lists.ids(m.get(w[2 * i] as number, w[2 * i + 1] as number), FLOW_IDS)).toEqual([u64(id)]);
  });
  // Adding again finds the same entry.
  const e0 = m.add(w[0] as number, w[1] as number);
  lists.push(e0, TERMINATING_FLOW_IDS, 7, 0);
  expect(lists.ids(m.get(w[0] as number, w[1] as number), TERMINATING_FLOW_IDS)).toEqual([7n]);
  expect(lists.count(e0)).toBe(2);
  // An id never added has none.
  const other = bigintWords(BigInt64Array.from([low | (5n << 53n), 99n]));
  expect(m.get(other[0] as number, other[1] as number)).toBe(-1);
  expect(m.get(other[2] as number, other[3] as number)).toBe(-1);
});

test("many span ids (the tables grow) each keep their own list, in arrival order, without duplicates when asked", () => {
  const n = 50_000;
  const ids = BigInt64Array.from({ length: n }, (_, i) => BigInt(i) * 0x1_0000_0001n - 7n);
  const w = bigintWords(ids);
  const lists = new FlowLists();
  const m = new SpanFlows(lists);
  for (let i = 0; i < n; i++) {
    const e = m.add(w[2 * i] as number, w[2 * i + 1] as number);
    // The id itself, then i and i+1 as flow ids; pushOnce of i again is dropped.
    lists.push(e, FLOW_IDS, i, 0);
    lists.pushOnce(e, FLOW_IDS, i, 0);
    lists.push(e, FLOW_IDS, i + 1, 0);
  }
  expect(m.size).toBe(n);
  for (let i = 0; i < n; i += 997) {
    const e = m.get(w[2 * i] as number, w[2 * i + 1] as number);
    expect(lists.ids(e, FLOW_IDS)).toEqual([BigInt(i), BigInt(i + 1)]);
    expect(lists.ids(e, TERMINATING_FLOW_IDS)).toEqual([]);
  }
});

test("writeFlows writes flow_ids then terminating_flow_ids, the same bytes as fixed64 of the BigInts", () => {
  const ids = [1n, (1n << 64n) - 1n, 0x8000_0000_0000_0001n];
  const term = [42n, 0xdead_beef_0000_0001n];
  const lists = new FlowLists();
  const e = lists.newEntry();
  const wI = bigintWords(BigUint64Array.from(ids));
  const wT = bigintWords(BigUint64Array.from(term));
  // Pushed interleaved: each list keeps its own order.
  lists.push(e, TERMINATING_FLOW_IDS, wT[0] as number, wT[1] as number);
  for (let i = 0; i < ids.length; i++) lists.push(e, FLOW_IDS, wI[2 * i] as number, wI[2 * i + 1] as number);
  lists.push(e, TERMINATING_FLOW_IDS, wT[2] as number, wT[3] as number);
  const got = new ProtoWriter();
  lists.writeFlows(got, e);
  const want = new ProtoWriter();
  // TrackEvent.flow_ids = 47, terminating_flow_ids = 48 (perfetto track_event.proto).
  for (const f of ids) want.fixed64(47, f);
  for (const f of term) want.fixed64(48, f);
  expect(got.buf.subarray(0, got.pos)).toEqual(want.buf.subarray(0, want.pos));
});

test("instants are told apart by their time and key, and listed in time order", () => {
  // Pairs whose words mix alike: time and key both differ by the same high bit.
  const t = [10n, 10n | (1n << 60n), 5n, 10n, 10n, -3n];
  const k = [3n, 3n | (1n << 60n), 3n, 4n, 3n, 9n];
  const tW = bigintWords(BigInt64Array.from(t));
  const kW = bigintWords(BigInt64Array.from(k));
  const lists = new FlowLists();
  const m = new InstantFlowMap(lists);
  const got = t.map((_, i) => m.add(tW, kW, i));
  expect(got[0]).not.toBe(got[1]);
  expect(got[0]).not.toBe(got[3]);
  expect(got[4]).toBe(got[0]);
  const o = m.inTimeOrder();
  const key = (q: number) => (BigInt(o.keyHi[q] as number) << 32n) | BigInt((o.keyLo[q] as number) >>> 0);
  expect(Array.from({ length: o.n }, (_, q) => [o.time[q], key(q), o.entry[q]])).toEqual([
    [-3n, 9n, got[5]],
    [5n, 3n, got[2]],
    [10n, 3n, got[0]],
    [10n, 4n, got[3]],
    [10n | (1n << 60n), 3n | (1n << 60n), got[1]],
  ]);
});
