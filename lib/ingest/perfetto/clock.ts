/**
 * Perfetto clocks: reads ClockSnapshots and converts packet timestamps to the trace clock (ns),
 * as trace_processor does (reference/perfetto.md §2.13 and §3 "Clocks").
 *
 * The trace clock is the `primary_trace_clock` of a ClockSnapshot, BOOTTIME by default. A packet
 * without any clock id is taken as trace time. Builtin clocks convert through the latest global
 * ClockSnapshot that relates them to the trace clock; sequence-scoped clocks (ids 64..127) through
 * their sequence's latest snapshot, and may be incremental (each timestamp a delta from the
 * previous one) with a `unit_multiplier_ns` (Chromium: clock 64, µs deltas).
 */
import { BuiltinClock, ClockSnapshot, ClockSnapshotClock } from "../../perfetto/fields.ts";
import { WireReader, WT_LEN, WT_VARINT } from "../../perfetto/wire_reader.ts";

/** A timestamp in ns: a safe integer, or a bigint beyond that. */
export type Ns = number | bigint;

const { SEQUENCE_SCOPED_FIRST, SEQUENCE_SCOPED_END } = BuiltinClock;

/** A sequence-scoped clock, as its sequence's ClockSnapshot describes it. */
export interface ClockState {
  /** ns per unit (`unit_multiplier_ns`). */
  multiplier: number;
  incremental: boolean;
  /** Last value in the clock's units (for incremental clocks). */
  last: Ns;
}

/**
 * A sequence-scoped clock's conversion through the sequence's snapshot, valid while `snapshot`
 * is still the sequence's and `traceClock` the trace clock: `trace ns = direct + (ns - base)`.
 */
export interface ClockMemo {
  clock: number;
  state: ClockState;
  snapshot: Map<number, Ns>;
  traceClock: number;
  base: Ns;
  direct: Ns;
}

/** The clock part of a sequence's state (see sequence.ts `SeqState`). */
export interface SeqClocks {
  /** The sequence's default `timestamp_clock_id` (TracePacketDefaults), if any. */
  defaultClock: number | null;
  /** Sequence-scoped clocks (64..127) from the sequence's ClockSnapshots. */
  clocks: Map<number, ClockState>;
  /** The readings (ns) of the sequence's latest ClockSnapshot, by clock id. */
  snapshot: Map<number, Ns> | null;
  /** The last conversion of a sequence-scoped clock to the trace clock (see `eventTime`). */
  clockMemo: ClockMemo | null;
}

/** The trace's clocks: the trace clock, the latest global snapshot, and conversions to trace ns. */
export class Clocks {
  /** Latest reading of each builtin clock in a ClockSnapshot with the trace clock (ns). */
  private globalSnapshot: Map<number, Ns> | null = null;
  private traceClock: number = BuiltinClock.BOOTTIME;
  private lastTs: Ns = 0;

  /**
   * Converts a packet's timestamp to trace-clock ns (and advances an incremental clock).
   * @param ts the packet's `timestamp` (null when absent: the latest converted time is returned).
   * @param packetClock the packet's `timestamp_clock_id`, else the sequence default is used.
   * @returns trace ns, or null when the clock cannot be converted (no snapshot relates it).
   */
  eventTime(seq: SeqClocks | null, ts: Ns | null, packetClock: number | null): Ns | null {
    const clock = packetClock ?? seq?.defaultClock ?? null;
    if (ts === null) return this.lastTs;
    if (clock === null || clock === this.traceClock) {
      this.lastTs = ts;
      return ts;
    }
    let ns: Ns;
    let snap: Map<number, Ns> | null;
    if (clock >= SEQUENCE_SCOPED_FIRST && clock < SEQUENCE_SCOPED_END) {
      const m = seq === null ? null : seq.clockMemo;
      if (m !== null && m.clock === clock && m.snapshot === seq?.snapshot && m.traceClock === this.traceClock) {
        // The same conversion as below, without its lookups.
        const c = m.state;
        let units: Ns = ts;
        if (c.incremental) {
          units = add(c.last, ts);
          c.last = units;
        }
        const out = add(m.direct, sub(mul(units, c.multiplier), m.base));
        this.lastTs = out;
        return out;
      }
      const c = seq?.clocks.get(clock);
      if (!seq || !c) return null;
      const base = seq.snapshot?.get(clock);
      const direct = seq.snapshot?.get(this.traceClock);
      if (seq.snapshot && base !== undefined && direct !== undefined) {
        seq.clockMemo = { clock, state: c, snapshot: seq.snapshot, traceClock: this.traceClock, base, direct };
      }
      let units: Ns = ts;
      if (c.incremental) {
        units = add(c.last, ts);
        c.last = units;
      }
      ns = mul(units, c.multiplier);
      snap = seq.snapshot;
    } else {
      ns = ts;
      snap = this.globalSnapshot;
    }
    const out = this.toTrace(clock, ns, snap);
    if (out !== null) this.lastTs = out;
    return out;
  }

  /** Trace-clock ns of `ns` in `clock`, through `snap` (and the global snapshot for a second hop). */
  private toTrace(clock: number, ns: Ns, snap: Map<number, Ns> | null): Ns | null {
    if (!snap) return null;
    const base = snap.get(clock);
    if (base === undefined) return null;
    const direct = snap.get(this.traceClock);
    if (direct !== undefined) return add(direct, sub(ns, base));
    const g = this.globalSnapshot;
    if (!g || g === snap) return null;
    for (const [other, v] of snap) {
      const go = g.get(other);
      const gt = g.get(this.traceClock);
      if (other !== clock && go !== undefined && gt !== undefined) return add(gt, sub(add(v, sub(ns, base)), go));
    }
    return null;
  }

  /**
   * Reads a ClockSnapshot `buf[s, e)`: sets the trace clock, and records the readings as the
   * global snapshot (builtin clocks only) or as `seq`'s (when it holds sequence-scoped clocks).
   * @throws WireError on malformed data.
   */
  clockSnapshot(seq: SeqClocks | null, buf: Uint8Array, s: number, e: number): void {
    const r = new WireReader(buf, s, e);
    const readings = new Map<number, Ns>();
    const seqClocks: [number, ClockState][] = [];
    while (r.next()) {
      if (r.field === ClockSnapshot.primary_trace_clock && r.wireType === WT_VARINT) this.traceClock = r.varint();
      else if (r.field === ClockSnapshot.clocks && r.wireType === WT_LEN) {
        const c = new WireReader(buf, r.lenStart, r.lenEnd);
        r.bytes();
        let id = 0;
        let value: Ns = 0;
        let incremental = false;
        let multiplier = 1;
        while (c.next()) {
          if (c.field === ClockSnapshotClock.clock_id) id = c.varint();
          else if (c.field === ClockSnapshotClock.timestamp) value = c.i64();
          else if (c.field === ClockSnapshotClock.is_incremental) incremental = c.varint() !== 0;
          else if (c.field === ClockSnapshotClock.unit_multiplier_ns) multiplier = c.varint() || 1;
          else c.skip();
        }
        readings.set(id, mul(value, multiplier));
        if (id >= SEQUENCE_SCOPED_FIRST && id < SEQUENCE_SCOPED_END) {
          seqClocks.push([id, { multiplier, incremental, last: value }]);
        }
      } else r.skip();
    }
    if (seqClocks.length > 0) {
      if (!seq) return; // sequence-scoped clocks need a sequence (reference §3 rule 4)
      for (const [id, c] of seqClocks) seq.clocks.set(id, c);
      seq.snapshot = readings;
    } else if (readings.size >= 2) {
      this.globalSnapshot = readings;
    }
  }
}

/** `a + b` in ns, exact (bigint beyond 2^53). */
export function add(a: Ns, b: Ns): Ns {
  if (typeof a === "number" && typeof b === "number") {
    const s = a + b;
    if (Number.isSafeInteger(s)) return s;
  }
  return norm(BigInt(a) + BigInt(b));
}

/** `a - b` in ns, exact. */
export function sub(a: Ns, b: Ns): Ns {
  if (typeof a === "number" && typeof b === "number") {
    const s = a - b;
    if (Number.isSafeInteger(s)) return s;
  }
  return norm(BigInt(a) - BigInt(b));
}

/** `a * m` (m an integer multiplier such as ns per µs), exact. */
export function mul(a: Ns, m: number): Ns {
  if (m === 1) return a;
  if (typeof a === "number") {
    const s = a * m;
    if (Number.isSafeInteger(s)) return s;
  }
  return norm(BigInt(a) * BigInt(m));
}

/** A bigint as a number when it is a safe integer. */
function norm(v: bigint): Ns {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}
