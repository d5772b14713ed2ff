/**
 * The flow ids of a Perfetto export's thread slices, by thread span id (thread_spans.id, a
 * 63-bit BIGINT), and of its instants, by (time, key): export_flows.ts fills them from the
 * `flows` view, export_spans.ts and export_events.ts write them on their events.
 *
 * Everything is held in typed arrays, as the 32-bit words of the 64-bit values (DuckDB's BIGINT
 * vectors read as pairs of words, `bigintWords`): the ids of each event in `FlowLists`, the
 * events by span id in an open-addressing hash table (`SpanFlows`), the instants by their
 * time's and key's words (`InstantFlowMap`). An object, two arrays and a BigInt per flow end
 * (the previous layout) made the 33.5 MB Chromium protobuf trace's 167K flow points about 700K
 * live objects, which every garbage collection of the export marked again.
 */
import { TrackEvent } from "./fields.ts";
import type { FlowWriter } from "./packets.ts";
import type { ProtoWriter } from "./wire.ts";

/** The words of a BIGINT or UBIGINT vector: entry 2i is value i's low word, 2i + 1 its high word (little-endian). */
export function bigintWords(a: BigInt64Array | BigUint64Array): Int32Array {
  return new Int32Array(a.buffer, a.byteOffset, a.length * 2);
}

if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) {
  throw new Error("tracelake's Perfetto export reads 64-bit ids as two words: it needs a little-endian machine");
}

/** The two lists of an event: its flow_ids and its terminating_flow_ids (TrackEvent). */
export const FLOW_IDS = 0;
export const TERMINATING_FLOW_IDS = 1;

/** A typed array of twice the length, holding `a`'s values first. */
function grow<T extends Int32Array>(a: T, fill: number): T {
  const b = new Int32Array(a.length * 2) as T;
  b.set(a);
  if (fill !== 0) b.fill(fill, a.length);
  return b;
}

/**
 * The flow ids of the events of one process: per event (an entry, numbered from 0), two lists
 * of 64-bit ids kept as word pairs in arrival order, written by `writeFlows` as TrackEvent
 * flow_ids then terminating_flow_ids (fixed64, unpacked).
 */
export class FlowLists implements FlowWriter {
  /** Per entry e and list l: the first and last record of the list at 2e + l, -1 when empty. */
  private head = new Int32Array(256).fill(-1);
  private tail = new Int32Array(256).fill(-1);
  /** Per record: the id's low and high words, and the next record of its list (-1: none). */
  private lo = new Int32Array(512);
  private hi = new Int32Array(512);
  private next = new Int32Array(512);
  private records = 0;
  /** Entries made. */
  entries = 0;

  /** A new entry with empty lists; returns its number. */
  newEntry(): number {
    const e = this.entries++;
    if (2 * e + 2 > this.head.length) {
      this.head = grow(this.head, -1);
      this.tail = grow(this.tail, -1);
    }
    return e;
  }

  /** Appends the id (lo, hi) to list `l` of entry `e`. */
  push(e: number, l: number, lo: number, hi: number): void {
    const r = this.records++;
    if (r >= this.lo.length) {
      this.lo = grow(this.lo, 0);
      this.hi = grow(this.hi, 0);
      this.next = grow(this.next, 0);
    }
    this.lo[r] = lo;
    this.hi[r] = hi;
    this.next[r] = -1;
    const s = 2 * e + l;
    const t = this.tail[s] as number;
    if (t < 0) this.head[s] = r;
    else this.next[t] = r;
    this.tail[s] = r;
  }

  /** Appends the id (lo, hi) to list `l` of entry `e` unless the list holds it already. */
  pushOnce(e: number, l: number, lo: number, hi: number): void {
    for (let r = this.head[2 * e + l] as number; r >= 0; r = this.next[r] as number) {
      if (this.lo[r] === lo && this.hi[r] === hi) return;
    }
    this.push(e, l, lo, hi);
  }

  /** The number of ids in both lists of entry `e`. */
  count(e: number): number {
    let n = 0;
    for (let l = 0; l < 2; l++) for (let r = this.head[2 * e + l] as number; r >= 0; r = this.next[r] as number) n++;
    return n;
  }

  /** The ids of list `l` of entry `e`, as unsigned 64-bit values (for tests and messages). */
  ids(e: number, l: number): bigint[] {
    const out: bigint[] = [];
    for (let r = this.head[2 * e + l] as number; r >= 0; r = this.next[r] as number) {
      out.push((BigInt(this.hi[r] as number) << 32n) | BigInt((this.lo[r] as number) >>> 0));
    }
    return out.map((v) => BigInt.asUintN(64, v));
  }

  /** Writes entry `e`'s ids into the open TrackEvent: flow_ids, then terminating_flow_ids. */
  writeFlows(w: ProtoWriter, e: number): void {
    for (let r = this.head[2 * e] as number; r >= 0; r = this.next[r] as number) {
      w.fixed64Words(TrackEvent.flow_ids, this.lo[r] as number, this.hi[r] as number);
    }
    for (let r = this.head[2 * e + 1] as number; r >= 0; r = this.next[r] as number) {
      w.fixed64Words(TrackEvent.terminating_flow_ids, this.lo[r] as number, this.hi[r] as number);
    }
  }
}

/** A slot's hash of a 64-bit value's words (murmur3's 32-bit finalizer over their mix). */
function hash2(lo: number, hi: number): number {
  let h = Math.imul(lo ^ Math.imul(hi, 0x9e3779b1), 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * Entries of a FlowLists by thread span id: an open-addressing hash table (linear probing, at
 * most half full) of the ids' words, holding each id's entry number.
 */
export class SpanFlows {
  /** Per slot: the id's words at 2s and 2s + 1. */
  private keys = new Int32Array(512);
  /** Per slot: its entry + 1; 0 = an empty slot. */
  private vals = new Int32Array(256);
  /** Span ids with an entry. */
  size = 0;

  constructor(readonly lists: FlowLists) {}

  /** The entry of the span id whose words are (lo, hi); -1 when it has none. */
  get(lo: number, hi: number): number {
    const mask = this.vals.length - 1;
    for (let s = hash2(lo, hi) & mask; ; s = (s + 1) & mask) {
      const v = this.vals[s] as number;
      if (v === 0) return -1;
      if (this.keys[2 * s] === lo && this.keys[2 * s + 1] === hi) return v - 1;
    }
  }

  /** The entry of the span id whose words are (lo, hi), made (with empty lists) when it has none. */
  add(lo: number, hi: number): number {
    if (2 * (this.size + 1) > this.vals.length) this.rehash();
    const mask = this.vals.length - 1;
    let s = hash2(lo, hi) & mask;
    for (; ; s = (s + 1) & mask) {
      const v = this.vals[s] as number;
      if (v === 0) break;
      if (this.keys[2 * s] === lo && this.keys[2 * s + 1] === hi) return v - 1;
    }
    const e = this.lists.newEntry();
    this.keys[2 * s] = lo;
    this.keys[2 * s + 1] = hi;
    this.vals[s] = e + 1;
    this.size++;
    return e;
  }

  /** Doubles the table. */
  private rehash(): void {
    const keys = this.keys;
    const vals = this.vals;
    this.keys = new Int32Array(keys.length * 2);
    this.vals = new Int32Array(vals.length * 2);
    const mask = this.vals.length - 1;
    for (let o = 0; o < vals.length; o++) {
      const v = vals[o] as number;
      if (v === 0) continue;
      const lo = keys[2 * o] as number;
      const hi = keys[2 * o + 1] as number;
      let s = hash2(lo, hi) & mask;
      while (this.vals[s] !== 0) s = (s + 1) & mask;
      this.keys[2 * s] = lo;
      this.keys[2 * s + 1] = hi;
      this.vals[s] = v;
    }
  }
}

/**
 * The instants with flow ids of one process, in time order: per position q, its FlowLists
 * entry, its time (ns, as in the view) and its key's words (export_sql.ts instantKey over its
 * name and tid).
 */
export interface InstantFlowsInOrder {
  /** Instants listed. */
  n: number;
  entry: Int32Array;
  time: BigInt64Array;
  keyLo: Int32Array;
  keyHi: Int32Array;
}

/** No instants: a process's `logFlows` until loadFlows fills them. */
export function noInstantFlows(): InstantFlowsInOrder {
  return {
    n: 0,
    entry: new Int32Array(0),
    time: new BigInt64Array(0),
    keyLo: new Int32Array(0),
    keyHi: new Int32Array(0),
  };
}

/** Entries of a FlowLists by instant (time and key); see the file comment. */
export class InstantFlowMap {
  /** The instants' words in order of arrival: time lo, time hi, key lo, key hi. */
  private words = new Int32Array(256);
  /** Per instant (in order of arrival): its FlowLists entry. */
  private entries = new Int32Array(64);
  private n = 0;
  /** Open-addressing table (as SpanFlows'): per slot, the instant's arrival index + 1; 0 = empty. */
  private slots = new Int32Array(128);

  constructor(readonly lists: FlowLists) {}

  /**
   * The entry of the instant at row `i` of the time and key vectors (`tW`, `kW`: their
   * bigintWords), made (with empty lists) when it has none.
   */
  add(tW: Int32Array, kW: Int32Array, i: number): number {
    const tLo = tW[2 * i] as number;
    const tHi = tW[2 * i + 1] as number;
    const kLo = kW[2 * i] as number;
    const kHi = kW[2 * i + 1] as number;
    if (2 * (this.n + 1) > this.slots.length) this.rehash();
    const mask = this.slots.length - 1;
    const ws = this.words;
    let s = hash2(tLo ^ Math.imul(kLo, 0x9e3779b1), tHi ^ kHi) & mask;
    for (; ; s = (s + 1) & mask) {
      const v = this.slots[s] as number;
      if (v === 0) break;
      const w = 4 * (v - 1);
      if (ws[w] === tLo && ws[w + 1] === tHi && ws[w + 2] === kLo && ws[w + 3] === kHi)
        return this.entries[v - 1] as number;
    }
    const q = this.n++;
    if (4 * q + 4 > this.words.length) this.words = grow(this.words, 0);
    if (q >= this.entries.length) this.entries = grow(this.entries, 0);
    const w = 4 * q;
    this.words[w] = tLo;
    this.words[w + 1] = tHi;
    this.words[w + 2] = kLo;
    this.words[w + 3] = kHi;
    const e = this.lists.newEntry();
    this.entries[q] = e;
    this.slots[s] = q + 1;
    return e;
  }

  /** Doubles the table. */
  private rehash(): void {
    const old = this.slots;
    this.slots = new Int32Array(old.length * 2);
    const mask = this.slots.length - 1;
    const ws = this.words;
    for (let o = 0; o < old.length; o++) {
      const v = old[o] as number;
      if (v === 0) continue;
      const w = 4 * (v - 1);
      let s =
        hash2(
          (ws[w] as number) ^ Math.imul(ws[w + 2] as number, 0x9e3779b1),
          (ws[w + 1] as number) ^ (ws[w + 3] as number),
        ) & mask;
      while (this.slots[s] !== 0) s = (s + 1) & mask;
      this.slots[s] = v;
    }
  }

  /** Every instant with an entry, in time order (instants of the same time in order of arrival). */
  inTimeOrder(): InstantFlowsInOrder {
    const w = this.words;
    const order = Array.from({ length: this.n }, (_, q) => q);
    // Signed 64-bit comparison of the times: high words signed, then low words unsigned.
    order.sort(
      (a, b) =>
        (w[4 * a + 1] as number) - (w[4 * b + 1] as number) ||
        ((w[4 * a] as number) >>> 0) - ((w[4 * b] as number) >>> 0),
    );
    const out: InstantFlowsInOrder = {
      n: this.n,
      entry: new Int32Array(this.n),
      time: new BigInt64Array(this.n),
      keyLo: new Int32Array(this.n),
      keyHi: new Int32Array(this.n),
    };
    const tw = bigintWords(out.time);
    order.forEach((q, k) => {
      out.entry[k] = this.entries[q] as number;
      tw[2 * k] = w[4 * q] as number;
      tw[2 * k + 1] = w[4 * q + 1] as number;
      out.keyLo[k] = w[4 * q + 2] as number;
      out.keyHi[k] = w[4 * q + 3] as number;
    });
    return out;
  }
}
