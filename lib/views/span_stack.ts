/**
 * thread_spans' stack pass: reads a process's B/E/X events in processing order (thread, time,
 * ...: thread_spans.ts SCAN) and builds its spans: each begin event's span id, and by span id the
 * parent, depth, end, closing E's thread time, anomaly and self time. The rules are
 * thread_spans.ts's file comment; the results reach DuckDB through that file's lookup functions.
 */
import type { ColumnArray } from "../duck/columnar.ts";
import { sortBy } from "./sort_by.ts";
/** Phase codes of the scan. */
export const K_B = 0;
export const K_E = 1;
export const K_X = 2;
/** Anomaly codes of the stack pass (0: none). */
export const A_UNCLOSED = 1;
export const A_OVERLAP = 2;

/**
 * What the stack pass computed: the span id of each begin event, by its `pos` (source.ts
 * blockRelation; other rows' entries mean nothing), and by span id (0, 1, ... in processing order)
 * the parent id (-1 at top level), depth, end relative to the base time (ns), the closing E's
 * thread time, the anomaly code, the begin and the self time. Memory: 4 bytes per source row and 41 per span.
 */
export class SpanArrays {
  readonly idOf: Int32Array;
  parent: Int32Array;
  depth: Int32Array;
  end: Float64Array;
  /** The closing E's thread time (ns; NaN when none: X spans, unclosed B spans, no tts). */
  threadEnd: Float64Array;
  anomaly: Int8Array;
  /** Begin relative to the base time (ns). */
  begin: Float64Array;
  /** Self time (ns): end - begin minus the time its children cover within it (selfTimes). */
  self: Float64Array;
  /**
   * The first span id of each thread's run of ids, in the pass's thread order (sx order): a
   * thread's spans are numbered one after another, in begin order; a run ends where the next
   * begins, the last at the span count (spanRanks).
   */
  runs: number[] = [];

  /**
   * @param rows source rows (the largest pos + 1).
   * @param spans room for this many spans (reserve grows it): by default `rows`, the most
   *   there can be (a span per begin event), so that the pass never grows the arrays. Grown by
   *   doubling from 1024, they took 1M spans' room (43 MB) for the 547K spans of the 224 MB real
   *   Chromium JSON trace's largest process, and left as much garbage from the smaller ones.
   */
  constructor(rows: number, spans = rows) {
    this.idOf = new Int32Array(rows);
    this.parent = new Int32Array(spans);
    this.depth = new Int32Array(spans);
    this.end = new Float64Array(spans);
    this.threadEnd = new Float64Array(spans);
    this.anomaly = new Int8Array(spans);
    this.begin = new Float64Array(spans);
    this.self = new Float64Array(spans);
  }

  /**
   * Cuts the per-span arrays down to spans 0..n-1 (the pass's count) when they have room for an
   * eighth more: the constructor gives them a span per source row, and the E, flow and other
   * events of a process's rows are a third of them in real Chromium traces. A pass stays held
   * through the partition's write, and in a JIT run that writes flows too, from flows' binding
   * until thread_spans writes that process (MaterializeInput.shared): the real 174 MB Chromium
   * JSON trace's largest process (594K rows, 399K spans) 27 -> 19 MB.
   */
  fit(n: number): void {
    if (this.parent.length - n < this.parent.length / 8) return;
    this.parent = this.parent.slice(0, n);
    this.depth = this.depth.slice(0, n);
    this.end = this.end.slice(0, n);
    this.threadEnd = this.threadEnd.slice(0, n);
    this.anomaly = this.anomaly.slice(0, n);
    this.begin = this.begin.slice(0, n);
    this.self = this.self.slice(0, n);
  }

  /** Makes room for span id `id` (ids come in order). */
  reserve(id: number): void {
    if (id < this.parent.length) return;
    const n = Math.max(id + 1, this.parent.length * 2, 1024);
    const g = <T extends Int32Array | Float64Array | Int8Array>(a: T, b: T): T => {
      b.set(a);
      return b;
    };
    this.parent = g(this.parent, new Int32Array(n));
    this.depth = g(this.depth, new Int32Array(n));
    this.end = g(this.end, new Float64Array(n));
    this.threadEnd = g(this.threadEnd, new Float64Array(n));
    this.anomaly = g(this.anomaly, new Int8Array(n));
    this.begin = g(this.begin, new Float64Array(n));
    this.self = g(this.self, new Float64Array(n));
  }
}

/**
 * Fills `spans.self` for spans 0..n-1: a span's length minus the union of its children's
 * intervals clipped to it, so that a point of a thread's busy time counts in the self time of
 * exactly one span when the spans nest (equal to trace_processor's slice_self_dur, dur minus the
 * children's dur, there), and a child marked 'overlap' that runs past its parent takes from it
 * only what lies inside it. Children come in id order, which is begin order (the pass numbers a
 * thread's spans as it meets their begins), so one running "covered up to" per parent suffices.
 */
export function selfTimes(spans: SpanArrays, n: number): void {
  const { parent, begin, end, self } = spans;
  const cover = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    cover[i] = begin[i] as number;
    self[i] = (end[i] as number) - (begin[i] as number);
  }
  for (let c = 0; c < n; c++) {
    const p = parent[c] as number;
    if (p < 0) continue;
    const lo = Math.max(begin[c] as number, cover[p] as number);
    const hi = Math.min(end[c] as number, end[p] as number);
    if (hi > lo) {
      self[p] = (self[p] as number) - (hi - lo);
      cover[p] = hi;
    }
  }
}

/** Counts of what the stack pass saw, for tests and diagnostics. */
export interface SpanStats {
  spans: number;
  unmatchedEnds: number;
  unclosed: number;
  overlaps: number;
  /** Min begin and max end of the spans, ns relative to the base time (±Infinity: no span). */
  minBegin: number;
  maxEnd: number;
}

/**
 * The stack pass. Reads events (pos INTEGER, sx INTEGER, k TINYINT, t DOUBLE ns relative to
 * the process's base time, d DOUBLE ns, q DOUBLE the event's seq, tt DOUBLE its thread time in
 * ns or NaN) in processing order and writes each span into `spans`: its id at the pos of its
 * begin event, its parent, depth, end (relative ns), closing E's thread time and anomaly code at
 * its id. See thread_spans.ts's file comment for the rules.
 * @param perStream when given, counts per thread (entry sx of each array, at least as long as
 *   the largest sx + 1): the spans begun on it, and its E events that closed nothing.
 */
export async function buildSpans(
  events: AsyncIterable<{ rowCount: number; columns: ColumnArray[] }>,
  spans: SpanArrays,
  perStream?: { spans: Int32Array; unmatchedEnds: Int32Array },
): Promise<SpanStats> {
  const stats: SpanStats = {
    spans: 0,
    unmatchedEnds: 0,
    unclosed: 0,
    overlaps: 0,
    minBegin: Number.POSITIVE_INFINITY,
    maxEnd: Number.NEGATIVE_INFINITY,
  };
  const out = (id: number, parent: number, depth: number, end: number, anom: number, threadEnd = Number.NaN) => {
    if (end > stats.maxEnd) stats.maxEnd = end;
    spans.parent[id] = parent;
    spans.depth[id] = depth;
    spans.end[id] = end;
    spans.threadEnd[id] = threadEnd;
    spans.anomaly[id] = anom;
    stats.spans++;
    if (anom === A_UNCLOSED) stats.unclosed++;
    else if (anom === A_OVERLAP) stats.overlaps++;
  };

  // The open-span stack of the current thread (structure of arrays; end = Infinity for B).
  let cap = 256;
  let sId = new Int32Array(cap);
  let sEnd = new Float64Array(cap);
  let sIsB = new Uint8Array(cap);
  let sAnom = new Int8Array(cap);
  let top = 0; // number of open spans
  const grow = (): void => {
    cap *= 2;
    const g = <T extends ColumnArray | Uint8Array>(a: T, make: (n: number) => T): T => {
      const b = make(cap);
      (b as unknown as { set(x: T): void }).set(a);
      return b;
    };
    sId = g(sId, (n) => new Int32Array(n));
    sEnd = g(sEnd, (n) => new Float64Array(n));
    sIsB = g(sIsB, (n) => new Uint8Array(n));
    sAnom = g(sAnom, (n) => new Int8Array(n));
  };
  /** Emits and pops the top span, ending at `end` (thread time `threadEnd` for an E). */
  const closeTop = (end: number, anom: number, threadEnd = Number.NaN): void => {
    top--;
    const parentId = top > 0 ? (sId[top - 1] as number) : -1;
    out(sId[top] as number, parentId, top, end, anom, threadEnd);
  };
  // The B-spans opened at the current time on the current thread: their stack index and seq,
  // so that a zero-duration X written before such a B (which sorts after it) is placed before
  // it, outside it, as trace_processor reads it in input order.
  let tieT = Number.NaN;
  let tieN = 0;
  const tieIdx: number[] = [];
  const tieId: number[] = [];
  const tieSeq: number[] = [];

  let nextId = 0;
  let curSx = -1;
  let threadMax = 0;
  const finishThread = (): void => {
    while (top > 0) {
      if (sIsB[top - 1]) closeTop(threadMax, A_UNCLOSED);
      else closeTop(sEnd[top - 1] as number, sAnom[top - 1] as number);
    }
  };

  for await (const { rowCount, columns } of events) {
    const posA = columns[0] as Int32Array;
    const sxA = columns[1] as Int32Array;
    const kA = columns[2] as Int8Array;
    const tA = columns[3] as Float64Array;
    const dA = columns[4] as Float64Array;
    const qA = columns[5] as Float64Array;
    const ttA = columns[6] as Float64Array;
    for (let i = 0; i < rowCount; i++) {
      const sx = sxA[i] as number;
      if (sx !== curSx) {
        finishThread();
        curSx = sx;
        spans.runs.push(nextId);
        threadMax = Number.NEGATIVE_INFINITY;
        tieT = Number.NaN;
      }
      const k = kA[i] as number;
      const t = tA[i] as number;
      if (t !== tieT) {
        tieT = t;
        tieN = 0;
      }
      const end = k === K_X ? t + (dA[i] as number) : t;
      if (end > threadMax) threadMax = end;
      // End before begin: X-spans that ended by t close first.
      while (top > 0 && !sIsB[top - 1] && (sEnd[top - 1] as number) <= t) {
        closeTop(sEnd[top - 1] as number, sAnom[top - 1] as number);
      }
      if (k === K_E) {
        let j = top - 1;
        while (j >= 0 && !sIsB[j]) j--;
        if (j < 0) {
          stats.unmatchedEnds++;
          if (perStream) perStream.unmatchedEnds[curSx] = (perStream.unmatchedEnds[curSx] as number) + 1;
          continue;
        }
        // X-spans above the B-span outlive it: they do not nest.
        while (top - 1 > j) closeTop(sEnd[top - 1] as number, A_OVERLAP);
        // A B-span that outlives its X parent does not nest either.
        const anom = j > 0 && !sIsB[j - 1] && (sEnd[j - 1] as number) < t ? A_OVERLAP : 0;
        closeTop(t, anom, ttA[i] as number);
        continue;
      }
      const id = nextId++;
      if (perStream) perStream.spans[sx] = (perStream.spans[sx] as number) + 1;
      if (t < stats.minBegin) stats.minBegin = t;
      spans.reserve(id);
      spans.idOf[posA[i] as number] = id;
      spans.begin[id] = t;
      if (k === K_X && end === t && tieN > 0) {
        // A zero-duration X at the time of B-spans opened after it in input order: before the
        // first such B that is still open, at its depth.
        const q = qA[i] as number;
        let j = -1;
        for (let n = 0; n < tieN && j < 0; n++) {
          const at = tieIdx[n] as number;
          if ((tieSeq[n] as number) > q && at < top && sId[at] === tieId[n]) j = at;
        }
        if (j >= 0) {
          out(id, j > 0 ? (sId[j - 1] as number) : -1, j, end, 0);
          continue;
        }
      }
      if (k === K_X && top > 0 && !sIsB[top - 1] && (sEnd[top - 1] as number) < end) {
        // Does not nest in the top span: hang it under the nearest enclosing one, on the side.
        let j = top - 2;
        while (j >= 0 && !sIsB[j] && (sEnd[j] as number) < end) j--;
        out(id, j >= 0 ? (sId[j] as number) : -1, j + 1, end, A_OVERLAP);
        continue;
      }
      if (top === cap) grow();
      sId[top] = id;
      sEnd[top] = k === K_X ? end : Number.POSITIVE_INFINITY;
      sIsB[top] = k === K_B ? 1 : 0;
      sAnom[top] = 0;
      if (k === K_B) {
        tieIdx[tieN] = top;
        tieId[tieN] = id;
        tieSeq[tieN] = qA[i] as number;
        tieN++;
      }
      top++;
    }
  }
  finishThread();
  selfTimes(spans, stats.spans);
  return stats;
}

/**
 * The rank of each of spans 0..n-1 of a pass in thread_spans' partition order: by begin, thread
 * (the pass's run order: sx), depth, end, then id (thread_spans.ts SELECT). Each thread's run is
 * in begin order already (the pass numbers a thread's spans as it meets their begins), so the
 * rank is a merge of the runs by (begin, run), after the few spans of a run that begin together
 * are put in (depth, end, id) order. The partition's sort then has one INTEGER key instead of
 * (begin, sx, depth, end, id), and carries none of them but begin and sx. Falls back to a full
 * sort should a run not be in begin order (not expected: checked as the merge goes).
 * @returns rank by span id (0..n-1, each once).
 */
export function spanRanks(spans: SpanArrays, n: number): Int32Array {
  const { begin, depth, end } = spans;
  const runs = spans.runs.filter((r) => r < n);
  const byKey = (a: number, b: number): number =>
    (depth[a] as number) - (depth[b] as number) || (end[a] as number) - (end[b] as number) || a - b;
  const seq = new Int32Array(n);
  for (let i = 0; i < n; i++) seq[i] = i;
  const runEnd = (r: number): number => (r + 1 < runs.length ? (runs[r + 1] as number) : n);
  // Spans of a run that begin together (usually one or two): by (depth, end, id).
  for (let r = 0; r < runs.length; r++) {
    const hi = runEnd(r);
    for (let i = runs[r] as number; i < hi; ) {
      let j = i + 1;
      while (j < hi && begin[j] === begin[i]) j++;
      if (j - i > 1) sortBy(seq.subarray(i, j), byKey);
      i = j;
    }
  }
  // Merge the runs by (begin, run): a binary heap of run indexes, each with its next position.
  const next = Int32Array.from(runs);
  const heap: number[] = [];
  const less = (r: number, q: number): boolean => {
    const br = begin[seq[next[r] as number] as number] as number;
    const bq = begin[seq[next[q] as number] as number] as number;
    return br < bq || (br === bq && r < q);
  };
  const siftDown = (i: number): void => {
    for (;;) {
      const l = 2 * i + 1;
      if (l >= heap.length) return;
      const c = l + 1 < heap.length && less(heap[l + 1] as number, heap[l] as number) ? l + 1 : l;
      if (!less(heap[c] as number, heap[i] as number)) return;
      const t = heap[i] as number;
      heap[i] = heap[c] as number;
      heap[c] = t;
      i = c;
    }
  };
  for (let r = 0; r < runs.length; r++) if ((next[r] as number) < runEnd(r)) heap.push(r);
  for (let i = (heap.length >> 1) - 1; i >= 0; i--) siftDown(i);
  const rank = new Int32Array(n);
  let out = 0;
  let prev = -1;
  let sorted = true;
  while (heap.length > 0) {
    const r = heap[0] as number;
    const id = seq[next[r] as number] as number;
    if (prev >= 0 && (begin[id] as number) < (begin[prev] as number)) sorted = false;
    rank[id] = out++;
    prev = id;
    next[r] = (next[r] as number) + 1;
    if ((next[r] as number) >= runEnd(r)) {
      const last = heap.pop() as number;
      if (heap.length > 0) heap[0] = last;
    }
    if (heap.length > 0) siftDown(0);
  }
  if (sorted && out === n) return rank;
  // Not expected: a run out of begin order. The full order, with the thread of each span.
  const runOf = new Int32Array(n);
  for (let r = 0; r < runs.length; r++) runOf.fill(r, runs[r] as number, runEnd(r));
  const all = Int32Array.from({ length: n }, (_, i) => i);
  sortBy(
    all,
    (a, b) => (begin[a] as number) - (begin[b] as number) || (runOf[a] as number) - (runOf[b] as number) || byKey(a, b),
  );
  for (let r = 0; r < n; r++) rank[all[r] as number] = r;
  return rank;
}
