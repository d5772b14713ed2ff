/**
 * The flow edges of an ingest, as the flows view's binding pass (flows.ts) draws them, held in
 * columns and handed to DuckDB by a lookup function (`tl_flow_edge(i)`, lib/duck/lookup_functions.ts)
 * when a process's partition is written. Every text (process, stream, tid, thread and slice
 * names, v1 flow name and category, text flow ids) is kept once in a dictionary and an edge
 * holds its index: the dictionary (a few thousand texts) is the only thing appended row by row.
 * Appending the edges themselves row by row (25 values each) cost 2.3 of the 9.7 s of the flows
 * view on a real 33.5 MB Chromium protobuf trace (154K edges).
 */

import type { Engine } from "../duck/engine.ts";
import { LookupFunctions } from "../duck/lookup_functions.ts";
import { fillTemplate } from "../duck/template.ts";
import { sortBy } from "./sort_by.ts";
import { spanIdSql } from "./thread_spans.ts";
import type { MaterializeResult } from "./view_set.ts";
import { writePartitionFile } from "./write.ts";

/** What an edge end is bound to (README "flows": out_kind / in_kind), by code. */
export const END_KINDS = ["span", "span_end", "instant"] as const;
/** END_KINDS's codes. */
export const KIND_SPAN = 0;
export const KIND_SPAN_END = 1;
export const KIND_INSTANT = 2;

/** The fields of one end in the columns, in END_FIELDS order. */
const END_FIELDS = ["process", "stream", "tid", "thread", "id", "kind", "name"] as const;

/** A typed array this file grows (Int8, Int32, Float64 or BigInt64). */
type Column = Int8Array | Int32Array | Float64Array | BigInt64Array;

/** `a`, or a copy of it twice as long (or more) when it has no room for index `need`. */
export function grown<T extends Column>(a: T, need: number): T {
  if (need < a.length) return a;
  let cap = Math.max(a.length * 2, 1024);
  while (cap <= need) cap *= 2;
  const b = new (a.constructor as new (n: number) => T)(cap);
  b.set(a as never);
  return b;
}

/**
 * A BigInt64Array's values as 32-bit words, without a BigInt per read or write: value i is
 * words 2i (low) and 2i + 1 (high, signed), the order of a little-endian machine (the only
 * kind tracelake runs on: lib/ingest/blocks/builder.ts checks it).
 */
export function words(a: BigInt64Array): Int32Array {
  return new Int32Array(a.buffer, a.byteOffset, a.length * 2);
}

/** 2^32: a 64-bit value's high word's weight. */
const TWO32 = 4294967296;

/**
 * The 32-bit words of `base + t` (ns), `base` a BigInt and t a whole number of ns as a double,
 * 0 ≤ t < 2^53 (flows.ts's times from the scan's base), computed without BigInts: the low word
 * is (low(base) + t) mod 2^32, the high word high(base) + ⌊t / 2^32⌋ + the carry, both wrapped
 * to 32 bits as 64-bit addition wraps.
 */
export class TimeWords {
  private readonly hi: number;
  /** The base's low word, unsigned. */
  private readonly lo: number;

  constructor(base: bigint) {
    this.hi = Number(BigInt.asIntN(32, base >> 32n));
    this.lo = Number(BigInt.asUintN(32, base));
  }

  /** The high word of base + t. */
  high(t: number): number {
    const low = this.lo + (t % TWO32);
    return (this.hi + Math.floor(t / TWO32) + (low >= TWO32 ? 1 : 0)) | 0;
  }

  /** The low word of base + t (as a signed 32-bit value, as an Int32Array holds it). */
  low(t: number): number {
    return (this.lo + (t % TWO32)) | 0;
  }
}

/** The texts of an ingest's edges, each kept once: an index stands for it (-1 for null). */
export class TextDictionary {
  readonly strings: string[] = [];
  private readonly index = new Map<string, number>();

  /** The index of `s` (added when new); -1 for null. */
  of(s: string | null): number {
    if (s === null) return -1;
    let i = this.index.get(s);
    if (i === undefined) {
      i = this.strings.length;
      this.strings.push(s);
      this.index.set(s, i);
    }
    return i;
  }
}

/**
 * The slices and instants that edges can end on (flows.ts makes one when a flow operation first
 * names it), as columns indexed by end number: texts as TextDictionary indexes (-1: null).
 * Columns rather than an object per end: on the 45 MB real Chromium protobuf trace (202,822
 * flow points), objects for the ends and operations held ~150 MB of the JS heap.
 */
export class EndTable {
  n = 0;
  kind = new Int8Array(1024);
  process = new Int32Array(1024);
  /** The thread's cpu stream (-1 for an instant). */
  stream = new Int32Array(1024);
  tid = new Int32Array(1024);
  thread = new Int32Array(1024);
  /** The slice's span number in its process (thread_spans' stack pass); -1 for an instant. */
  id = new Int32Array(1024);
  name = new Int32Array(1024);
  /** Begin time (the instant's time), ns. */
  t = new BigInt64Array(1024);
  /** `t`'s words (see `words`). */
  tw = words(this.t);

  /**
   * Adds an end; returns its number. Texts are TextDictionary indexes; the time (ns) as its
   * 32-bit words (TimeWords), `hi` and `lo`.
   */
  add(
    kind: number,
    process: number,
    stream: number,
    tid: number,
    thread: number,
    id: number,
    name: number,
    hi: number,
    lo: number,
  ): number {
    const i = this.n++;
    if (i >= this.kind.length) this.grow(i);
    this.kind[i] = kind;
    this.process[i] = process;
    this.stream[i] = stream;
    this.tid[i] = tid;
    this.thread[i] = thread;
    this.id[i] = id;
    this.name[i] = name;
    this.tw[2 * i] = lo;
    this.tw[2 * i + 1] = hi;
    return i;
  }

  /** Adds a copy of end `j` with another kind; returns its number. */
  copyAs(j: number, kind: number): number {
    return this.add(
      kind,
      this.process[j] as number,
      this.stream[j] as number,
      this.tid[j] as number,
      this.thread[j] as number,
      this.id[j] as number,
      this.name[j] as number,
      this.tw[2 * j + 1] as number,
      this.tw[2 * j] as number,
    );
  }

  /** True when end `a` begins after end `b`. */
  later(a: number, b: number): boolean {
    const w = this.tw;
    const ha = w[2 * a + 1] as number;
    const hb = w[2 * b + 1] as number;
    return ha !== hb ? ha > hb : (w[2 * a] as number) >>> 0 > (w[2 * b] as number) >>> 0;
  }

  private grow(need: number): void {
    this.kind = grown(this.kind, need);
    this.process = grown(this.process, need);
    this.stream = grown(this.stream, need);
    this.tid = grown(this.tid, need);
    this.thread = grown(this.thread, need);
    this.id = grown(this.id, need);
    this.name = grown(this.name, need);
    this.t = grown(this.t, need);
    this.tw = words(this.t);
  }
}

/** The edges of an ingest (EdgeTable.finish): typed columns, one entry per edge. */
export interface EdgeColumns {
  /** Edges. */
  n: number;
  /** The dictionary: a text field holds an index into it, -1 for NULL. */
  strings: string[];
  /** Numeric flow id (a UBIGINT's 64 bits); unused when `fidText` ≥ 0. */
  fid: BigInt64Array;
  /** A text flow id (hashed by the SELECT), or -1. */
  fidText: Int32Array;
  /** 1 (Chrome s/t/f) or 2. */
  version: Int8Array;
  fname: Int32Array;
  fcat: Int32Array;
  /** Per end ("out", "in"): END_FIELDS as Int32 (id: -1 for NULL; kind: END_KINDS index; process -1: no end), and its ns. */
  ends: Record<"out" | "in", { fields: Int32Array[]; ns: BigInt64Array }>;
  /** in_step: -1 NULL, 0 false, 1 true. */
  step: Int8Array;
}

/** One end's columns while edges are added (`nsw`: `ns`'s words). */
interface EndColumns {
  fields: Int32Array[];
  ns: BigInt64Array;
  nsw: Int32Array;
}

/** An end's empty columns. */
function endColumns(): EndColumns {
  const ns = new BigInt64Array(1024);
  return { fields: END_FIELDS.map(() => new Int32Array(1024)), ns, nsw: words(ns) };
}

/**
 * Collects an ingest's edges (flows.ts ingestEdges) into EdgeColumns: each edge names its ends
 * by their number in `ends`, whose texts are indexes into `dict`.
 */
export class EdgeTable {
  readonly dict = new TextDictionary();
  readonly ends = new EndTable();
  private n = 0;
  private fid = new BigInt64Array(1024);
  /** `fid`'s words (words). */
  private fidW = words(this.fid);
  private fidText = new Int32Array(1024);
  private version = new Int8Array(1024);
  private fname = new Int32Array(1024);
  private fcat = new Int32Array(1024);
  private readonly cols: Record<"out" | "in", EndColumns> = { out: endColumns(), in: endColumns() };
  private step = new Int8Array(1024);

  /**
   * Adds an edge (or a loose end: one end -1).
   * @param fidLo, fidHi the flow's numeric id (a UBIGINT's 64 bits) as 32-bit words (signed),
   *   used when `fidText` is -1.
   * @param fidText a text flow id's dictionary index (hashed by the SELECT), or -1.
   * @param fname, fcat dictionary indexes (-1: null).
   * @param out, inn end numbers in `ends`, or -1 for none.
   * @param step in_step: -1 null, 0 false, 1 true.
   */
  add(
    fidLo: number,
    fidHi: number,
    fidText: number,
    version: number,
    fname: number,
    fcat: number,
    out: number,
    inn: number,
    step: number,
  ): void {
    const i = this.n++;
    if (i >= this.fid.length) this.grow(i);
    this.fidW[2 * i] = fidLo;
    this.fidW[2 * i + 1] = fidHi;
    this.fidText[i] = fidText;
    this.version[i] = version;
    this.fname[i] = fname;
    this.fcat[i] = fcat;
    this.setEnd(this.cols.out, i, out);
    this.setEnd(this.cols.in, i, inn);
    this.step[i] = step;
  }

  private setEnd(c: EndColumns, i: number, j: number): void {
    const f = c.fields;
    if (j < 0) {
      for (const col of f) col[i] = -1;
      c.nsw[2 * i] = 0;
      c.nsw[2 * i + 1] = 0;
      return;
    }
    const e = this.ends;
    (f[0] as Int32Array)[i] = e.process[j] as number;
    (f[1] as Int32Array)[i] = e.stream[j] as number;
    (f[2] as Int32Array)[i] = e.tid[j] as number;
    (f[3] as Int32Array)[i] = e.thread[j] as number;
    (f[4] as Int32Array)[i] = e.id[j] as number;
    (f[5] as Int32Array)[i] = e.kind[j] as number;
    (f[6] as Int32Array)[i] = e.name[j] as number;
    c.nsw[2 * i] = e.tw[2 * j] as number;
    c.nsw[2 * i + 1] = e.tw[2 * j + 1] as number;
  }

  /**
   * Makes room for `n` edges in all, at once (the caller's estimate), instead of doubling from
   * a small table: every outgrown column lingers until a GC. `add` still grows past it.
   */
  reserve(n: number): void {
    if (n > this.fid.length) this.grow(n - 1, n);
  }

  private grow(need: number, exact?: number): void {
    const g = <T extends Int8Array | Int32Array | BigInt64Array>(a: T): T => {
      if (exact === undefined) return grown(a, need);
      const b = new (a.constructor as new (n: number) => T)(exact);
      b.set(a.subarray(0, this.n) as never);
      return b;
    };
    this.fid = g(this.fid);
    this.fidW = words(this.fid);
    this.fidText = g(this.fidText);
    this.version = g(this.version);
    this.fname = g(this.fname);
    this.fcat = g(this.fcat);
    this.step = g(this.step);
    for (const c of [this.cols.out, this.cols.in]) {
      c.fields = c.fields.map((f) => g(f));
      c.ns = g(c.ns);
      c.nsw = words(c.ns);
    }
  }

  /** The collected edges as typed columns (views of the first `n` entries: no copy). */
  finish(): EdgeColumns {
    const n = this.n;
    const end = (c: EndColumns) => ({ fields: c.fields.map((f) => f.subarray(0, n)), ns: c.ns.subarray(0, n) });
    return {
      n,
      strings: this.dict.strings,
      fid: this.fid.subarray(0, n),
      fidText: this.fidText.subarray(0, n),
      version: this.version.subarray(0, n),
      fname: this.fname.subarray(0, n),
      fcat: this.fcat.subarray(0, n),
      ends: { out: end(this.cols.out), in: end(this.cols.in) },
      step: this.step.subarray(0, n),
    };
  }
}

/** The table the dictionary's strings reach DuckDB through (the appender: never SQL text). */
const STRINGS = "memory.main.tl_flow_strings";

/**
 * The EdgeColumns whose dictionary the engine's variable `tl_flow_strings` (a VARCHAR list, in
 * dictionary order) holds: set once for all the partitions of an ingest's edges, which the JIT
 * writes one process after another.
 */
const loaded = new WeakMap<Engine, EdgeColumns>();

/** Sets the variable `tl_flow_strings` to the dictionary of `cols`, unless it holds it. */
async function loadStrings(engine: Engine, cols: EdgeColumns): Promise<void> {
  if (loaded.get(engine) === cols) return;
  loaded.delete(engine);
  await engine.run(`CREATE OR REPLACE TABLE ${STRINGS}(ix BIGINT, s VARCHAR)`);
  try {
    await engine.append(
      "tl_flow_strings",
      cols.strings.map((s, i) => [BigInt(i), s]),
      "memory",
    );
    await engine.run(`SET VARIABLE tl_flow_strings = (SELECT coalesce(list(s ORDER BY ix), []) FROM ${STRINGS})`);
  } finally {
    await engine.run(`DROP TABLE IF EXISTS ${STRINGS}`);
  }
  loaded.set(engine, cols);
}

/**
 * A partition's rows: `tl_flow_edge(i)` for i < $n (the process's edges), texts from the
 * dictionary list `d` (index + 1; -1 gives NULL: the variable STRINGS_VARIABLE, a constant),
 * in the order of `tl_flow_edge`'s rows (partitionOrder: by the edge's time, then in the order the
 * binding pass drew the edges, so the file is the same at every run). `range` is read by one
 * thread and singleWriter's COPY keeps the order it gets: no ORDER BY, whose sort of these wide
 * rows took 40% of the writes (the 45 MB real protobuf trace: 0.45 of 1.0 s).
 */
const SELECT = `SELECT coalesce(in_process_id, out_process_id) AS process_id,
    make_timestamp_ns(coalesce(in_ns, out_ns)) AS time,
    CASE WHEN fid_text IS NOT NULL THEN hash(fid_text) ELSE fid END AS flow_id,
    version, flow_name, flow_target,
    out_process_id, out_stream_id, out_tid, out_thread_name,
    CASE WHEN out_n IS NOT NULL THEN ${spanIdSql("out_process_id", "out_n")} END AS out_id,
    out_kind, out_name, make_timestamp_ns(out_ns) AS out_time,
    in_process_id, in_stream_id, in_tid, in_thread_name,
    CASE WHEN in_n IS NOT NULL THEN ${spanIdSql("in_process_id", "in_n")} END AS in_id,
    in_kind, in_name, make_timestamp_ns(in_ns) AS in_time,
    in_step
  FROM (
    SELECT d[e.fid_text + 1] AS fid_text,
      CASE WHEN e.fid < 0 THEN (e.fid::HUGEINT + 18446744073709551616)::UBIGINT ELSE e.fid::UBIGINT END AS fid,
      e.version::INTEGER AS version, d[e.fname + 1] AS flow_name, d[e.fcat + 1] AS flow_target,
      $out, $in,
      CASE e.step WHEN 1 THEN true WHEN 0 THEN false END AS in_step, i
    FROM (SELECT i, tl_flow_edge(i::INTEGER) AS e, getvariable('tl_flow_strings') AS d FROM range($n) r(i))) x`;

/** SELECT's columns of one end (`out` or `in`) from the edge struct `e`. */
function endSql(end: "out" | "in"): string {
  return `d[e.${end}_process + 1] AS ${end}_process_id, d[e.${end}_stream + 1] AS ${end}_stream_id,
      d[e.${end}_tid + 1] AS ${end}_tid, d[e.${end}_thread + 1] AS ${end}_thread_name,
      CASE WHEN e.${end}_id >= 0 THEN e.${end}_id::BIGINT END AS ${end}_n,
      ([${END_KINDS.map((k) => `'${k}'`).join(", ")}])[e.${end}_kind + 1] AS ${end}_kind, d[e.${end}_name + 1] AS ${end}_name,
      CASE WHEN e.${end}_process >= 0 THEN e.${end}_ns END AS ${end}_ns`;
}

/** The partition SELECT's text (part of the flows view set's transformText). */
export const EDGES_SELECT = fillTemplate(SELECT, { out: endSql("out"), in: endSql("in") });

/** The state `tl_flow_edge` reads: the ingest's edges and the rows (edge indexes) of the partition. */
interface EdgeState {
  cols: EdgeColumns;
  rows: Int32Array;
}

/** dst[i] = src[idx[i]] for i < n. One function per array type, each monomorphic. */
function gather32(dst: Int32Array, src: Int32Array, idx: Int32Array, n: number): void {
  for (let i = 0; i < n; i++) dst[i] = src[idx[i] as number] as number;
}

/** As gather32, for bytes. */
function gather8(dst: Int8Array, src: Int8Array, idx: Int32Array, n: number): void {
  for (let i = 0; i < n; i++) dst[i] = src[idx[i] as number] as number;
}

/** As gather32, for 64-bit values, moved as two 32-bit words (a BigInt64Array read boxes a BigInt). */
function gather64(dst: BigInt64Array, src: BigInt64Array, idx: Int32Array, n: number): void {
  const d = words(dst);
  const s = words(src);
  for (let i = 0; i < n; i++) {
    const j = (idx[i] as number) * 2;
    d[2 * i] = s[j] as number;
    d[2 * i + 1] = s[j + 1] as number;
  }
}

const EDGE_FUNCTIONS = new LookupFunctions<EdgeState>("flows", [
  {
    name: "tl_flow_edge",
    returns: [
      ["fid", "BIGINT"],
      ["fid_text", "INTEGER"],
      ["version", "TINYINT"],
      ["fname", "INTEGER"],
      ["fcat", "INTEGER"],
      ...(["out", "in"] as const).flatMap((e) => [
        ...END_FIELDS.map((f): [string, "INTEGER"] => [`${e}_${f}`, "INTEGER"]),
        [`${e}_ns`, "BIGINT"] as [string, "BIGINT"],
      ]),
      ["step", "TINYINT"],
    ],
    fill: ({ cols, rows }, pos, n, out) => {
      const idx = new Int32Array(n);
      for (let i = 0; i < n; i++) idx[i] = rows[pos[i] as number] as number;
      const sources = [
        cols.fid,
        cols.fidText,
        cols.version,
        cols.fname,
        cols.fcat,
        ...cols.ends.out.fields,
        cols.ends.out.ns,
        ...cols.ends.in.fields,
        cols.ends.in.ns,
        cols.step,
      ];
      for (let k = 0; k < sources.length; k++) {
        const src = sources[k] as Int32Array | Int8Array | BigInt64Array;
        const dst = out[k] as typeof src;
        if (src instanceof BigInt64Array) gather64(dst as BigInt64Array, src, idx, n);
        else if (src instanceof Int32Array) gather32(dst as Int32Array, src, idx, n);
        else gather8(dst as Int8Array, src, idx, n);
      }
    },
  },
]);

/**
 * `rows` (edge indexes, ascending) sorted in a partition's order: by the edge's time (the in
 * end's, a loose end's only end's), then the out end's time, the in end's and the out end's span
 * numbers (a missing one last, as SQL's NULLS LAST), then the edge index. Times are compared as
 * doubles from the least of them when they span less than 2^53 ns (104 days), else as BigInts.
 */
export function partitionOrder(cols: EdgeColumns, rows: Int32Array): Int32Array {
  const inProcess = cols.ends.in.fields[0] as Int32Array;
  const outProcess = cols.ends.out.fields[0] as Int32Array;
  const inId = cols.ends.in.fields[4] as Int32Array;
  const outId = cols.ends.out.fields[4] as Int32Array;
  // The times as their 32-bit words: no BigInt per row.
  const inW = words(cols.ends.in.ns);
  const outW = words(cols.ends.out.ns);
  const m = rows.length;
  /** By row: its edge time's words (from `inW` when `timeIn`, else `outW`), whether it has an out end. */
  const timeIn = new Uint8Array(m);
  const hasOut = new Uint8Array(m);
  // The least and greatest of the times, as (high word, signed; low word, unsigned).
  let loHi = 0;
  let loLo = 0;
  let hiHi = 0;
  let hiLo = 0;
  let any = false;
  const see = (h: number, l: number): void => {
    if (!any || h < loHi || (h === loHi && l < loLo)) {
      loHi = h;
      loLo = l;
    }
    if (!any || h > hiHi || (h === hiHi && l > hiLo)) {
      hiHi = h;
      hiLo = l;
    }
    any = true;
  };
  for (let k = 0; k < m; k++) {
    const r = rows[k] as number;
    const inside = (inProcess[r] as number) >= 0;
    timeIn[k] = inside ? 1 : 0;
    const w = inside ? inW : outW;
    see(w[2 * r + 1] as number, (w[2 * r] as number) >>> 0);
    if ((outProcess[r] as number) >= 0) {
      hasOut[k] = 1;
      see(outW[2 * r + 1] as number, (outW[2 * r] as number) >>> 0);
    }
  }
  const inN = new Float64Array(m);
  const outN = new Float64Array(m);
  for (let k = 0; k < m; k++) {
    const r = rows[k] as number;
    inN[k] = (inId[r] as number) >= 0 ? (inId[r] as number) : Number.POSITIVE_INFINITY;
    outN[k] = (outId[r] as number) >= 0 ? (outId[r] as number) : Number.POSITIVE_INFINITY;
  }
  const order = Int32Array.from({ length: m }, (_, k) => k);
  const rest = (a: number, b: number): number =>
    (inN[a] as number) - (inN[b] as number) ||
    (outN[a] as number) - (outN[b] as number) ||
    (rows[a] as number) - (rows[b] as number);
  // The span as a double: it can only round up to 2^53 or more when it is near it, never down
  // below it, so a span this test passes is below 2^53 and every time's offset is exact.
  if (!any || (hiHi - loHi) * TWO32 + (hiLo - loLo) < 2 ** 53) {
    const t = new Float64Array(m);
    const o = new Float64Array(m);
    for (let k = 0; k < m; k++) {
      const r = rows[k] as number;
      const w = timeIn[k] === 1 ? inW : outW;
      t[k] = ((w[2 * r + 1] as number) - loHi) * TWO32 + (((w[2 * r] as number) >>> 0) - loLo);
      o[k] =
        hasOut[k] === 1
          ? ((outW[2 * r + 1] as number) - loHi) * TWO32 + (((outW[2 * r] as number) >>> 0) - loLo)
          : Number.POSITIVE_INFINITY;
    }
    sortBy(
      order,
      (a, b) => (t[a] as number) - (t[b] as number) || cmpInf(o[a] as number, o[b] as number) || rest(a, b),
    );
  } else {
    const time: bigint[] = new Array(m);
    const out: (bigint | null)[] = new Array(m);
    for (let k = 0; k < m; k++) {
      const r = rows[k] as number;
      time[k] = (timeIn[k] === 1 ? cols.ends.in.ns[r] : cols.ends.out.ns[r]) as bigint;
      out[k] = hasOut[k] === 1 ? (cols.ends.out.ns[r] as bigint) : null;
    }
    const big = (x: bigint | null, y: bigint | null): number =>
      x === y ? 0 : x === null ? 1 : y === null ? -1 : x < y ? -1 : 1;
    sortBy(
      order,
      (a, b) => big(time[a] as bigint, time[b] as bigint) || big(out[a] ?? null, out[b] ?? null) || rest(a, b),
    );
  }
  return order.map((k) => rows[k] as number);
}

/** Compares two doubles where +Infinity stands for NULL (NULLS LAST; Infinity - Infinity is NaN). */
function cmpInf(x: number, y: number): number {
  return x === y ? 0 : x < y ? -1 : 1;
}

/**
 * Writes the partition of `processId`: the edges arriving in it (a loose end: its only end's
 * process), in time order, as the flows view's columns.
 * @returns the partition's rows and event-time range (writePartitionFile).
 * @throws Error from DuckDB.
 */
export async function writeEdgePartition(
  engine: Engine,
  cols: EdgeColumns,
  processId: string,
  outPath: string,
): Promise<MaterializeResult> {
  const p = cols.strings.indexOf(processId);
  const outProcess = cols.ends.out.fields[0] as Int32Array;
  const inProcess = cols.ends.in.fields[0] as Int32Array;
  const rows: number[] = [];
  if (p >= 0) {
    for (let i = 0; i < cols.n; i++)
      if (((inProcess[i] as number) >= 0 ? inProcess[i] : outProcess[i]) === p) rows.push(i);
  }
  if (rows.length === 0) return { numRows: 0, minEventTimeNs: null, maxEventTimeNs: null };
  await loadStrings(engine, cols);
  // The rows' time range (SELECT's time: the in end's, a loose end's only end's), so the file
  // is not read back for it.
  let min = 0n;
  let max = 0n;
  rows.forEach((r, k) => {
    const t = ((inProcess[r] as number) >= 0 ? cols.ends.in.ns[r] : cols.ends.out.ns[r]) as bigint;
    if (k === 0 || t < min) min = t;
    if (k === 0 || t > max) max = t;
  });
  const select = fillTemplate(EDGES_SELECT, { n: `${rows.length}` });
  return await EDGE_FUNCTIONS.run(engine, { cols, rows: partitionOrder(cols, Int32Array.from(rows)) }, () =>
    writePartitionFile(engine, select, outPath, "time", "time", { min, max }),
  );
}
