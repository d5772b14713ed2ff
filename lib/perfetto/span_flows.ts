/**
 * The flow ids of a Perfetto export's thread slices, by thread span id (thread_spans.id, a
 * 63-bit BIGINT), and of its instants, by (time, key): export_flows.ts fills them from the
 * `flows` view, export_spans.ts and export_events.ts read them. The ids come from DuckDB's BIGINT vectors read as pairs of 32-bit words
 * (`bigintWords`), and the map is keyed by a JS number made of their low 53 bits, so that no
 * BigInt is made per slice (a Map with BigInt keys made one per read and hashed it: about half
 * of the flows' 550 ms of JS on the 33.5 MB Chromium protobuf trace). The entry keeps the high
 * word, which tells apart two ids with the same key; such a second id goes to a map by its full
 * value. Instants are keyed alike by a number mixed from the words of their time and key (a
 * string made of two BigInts per flow end cost 180 ms there), with their words in the entry.
 */

/** The flow ids one exported slice or instant carries: flow_ids and terminating_flow_ids. */
export interface FlowIds {
  ids: bigint[];
  term: bigint[];
}

/** An entry of the number-keyed map: the ids and the span id's high 32-bit word. */
interface Entry extends FlowIds {
  hi: number;
}

/** The words of a BIGINT vector: entry 2i is value i's low word, 2i + 1 its high word (little-endian). */
export function bigintWords(a: BigInt64Array): Int32Array {
  return new Int32Array(a.buffer, a.byteOffset, a.length * 2);
}

if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) {
  throw new Error("tracelake's Perfetto export reads 64-bit ids as two words: it needs a little-endian machine");
}

/** The number key of a 64-bit value's words (its low 53 bits). */
function key(lo: number, hi: number): number {
  return (hi & 0x1fffff) * 4294967296 + (lo >>> 0);
}

/** The 64-bit value of two words. */
function value(lo: number, hi: number): bigint {
  return (BigInt(hi) << 32n) | BigInt(lo >>> 0);
}

/**
 * The flow ids of one exported instant (a log entry): its time (ns), `k` = the key it is found
 * by (export_sql.ts instantKey over its name and tid), flow_ids (`ids`) and terminating_flow_ids
 * (`term`).
 */
export interface InstantFlows {
  t: bigint;
  k: bigint;
  ids: bigint[];
  term: bigint[];
}

/** An instant's entry: its time's and key's words, and the next entry with the same number key. */
interface InstantEntry extends InstantFlows {
  w: Int32Array;
  next: InstantEntry | null;
}

/** Flow ids of instants by (time, key); see the file comment. */
export class InstantFlowMap {
  private readonly byKey = new Map<number, InstantEntry>();
  private readonly all: InstantEntry[] = [];

  /**
   * The flow ids of the instant at row `i` of the time and key vectors (`tW`, `kW`: their
   * bigintWords; `tA`, `kA`: the vectors), made empty when it has none.
   */
  add(tW: Int32Array, kW: Int32Array, tA: BigInt64Array, kA: BigInt64Array, i: number): InstantFlows {
    const tLo = tW[2 * i] as number;
    const tHi = tW[2 * i + 1] as number;
    const kLo = kW[2 * i] as number;
    const kHi = kW[2 * i + 1] as number;
    const n = ((tLo ^ Math.imul(kLo, 0x9e3779b1)) >>> 0) + ((tHi ^ kHi) & 0x1fffff) * 4294967296;
    const head = this.byKey.get(n);
    for (let e = head ?? null; e !== null; e = e.next) {
      if (e.w[0] === tLo && e.w[1] === tHi && e.w[2] === kLo && e.w[3] === kHi) return e;
    }
    const made: InstantEntry = {
      t: tA[i] as bigint,
      k: kA[i] as bigint,
      ids: [],
      term: [],
      w: Int32Array.of(tLo, tHi, kLo, kHi),
      next: head ?? null,
    };
    this.byKey.set(n, made);
    this.all.push(made);
    return made;
  }

  /** Every instant with an entry, in time order. */
  inTimeOrder(): InstantFlows[] {
    return this.all
      .map(({ t, k, ids, term }) => ({ t, k, ids, term }))
      .sort((a, b) => (a.t < b.t ? -1 : a.t > b.t ? 1 : 0));
  }
}

/** Flow ids by thread span id; see the file comment. */
export class SpanFlows {
  private readonly byKey = new Map<number, Entry>();
  private readonly spill = new Map<bigint, FlowIds>();
  /** Span ids with an entry. */
  size = 0;

  /** The flow ids of the span id whose words are (lo, hi); undefined when it has none. */
  get(lo: number, hi: number): FlowIds | undefined {
    const e = this.byKey.get(key(lo, hi));
    if (e === undefined || e.hi === hi) return e;
    return this.spill.size === 0 ? undefined : this.spill.get(value(lo, hi));
  }

  /** The flow ids of the span id whose words are (lo, hi), made empty when it has none. */
  add(lo: number, hi: number): FlowIds {
    const k = key(lo, hi);
    const e = this.byKey.get(k);
    if (e === undefined) {
      const made: Entry = { ids: [], term: [], hi };
      this.byKey.set(k, made);
      this.size++;
      return made;
    }
    if (e.hi === hi) return e;
    const v = value(lo, hi);
    let s = this.spill.get(v);
    if (s === undefined) {
      s = { ids: [], term: [] };
      this.spill.set(v, s);
      this.size++;
    }
    return s;
  }
}
