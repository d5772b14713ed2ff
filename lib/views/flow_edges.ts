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
import { spanIdSql } from "./thread_spans.ts";
import type { MaterializeResult } from "./view_set.ts";
import { writePartitionFile } from "./write.ts";

/** What an edge end is bound to (README "flows": out_kind / in_kind), by code. */
export const END_KINDS = ["span", "span_end", "instant"] as const;

/** One end of an edge: a slice or an instant (flows.ts Ref). */
export interface EdgeEnd {
  kind: (typeof END_KINDS)[number];
  process: string;
  stream: string | null;
  tid: string | null;
  thread: string | null;
  /** The slice's span number in its process (thread_spans' stack pass); null for an instant. */
  id: number | null;
  name: string | null;
  /** Begin time (the instant's time), ns. */
  t: bigint;
}

/** The fields of one end in the columns, in END_FIELDS order. */
const END_FIELDS = ["process", "stream", "tid", "thread", "id", "kind", "name"] as const;

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

/** Collects an ingest's edges (flows.ts ingestEdges) into EdgeColumns. */
export class EdgeTable {
  private readonly strings: string[] = [];
  private readonly index = new Map<string, number>();
  private readonly fid: bigint[] = [];
  private readonly fidText: number[] = [];
  private readonly version: number[] = [];
  private readonly fname: number[] = [];
  private readonly fcat: number[] = [];
  private readonly ends = {
    out: { fields: END_FIELDS.map((): number[] => []), ns: [] as bigint[] },
    in: { fields: END_FIELDS.map((): number[] => []), ns: [] as bigint[] },
  };
  private readonly step: number[] = [];

  /** The dictionary index of a text, -1 for null. */
  private sid(s: string | null): number {
    if (s === null) return -1;
    let i = this.index.get(s);
    if (i === undefined) {
      i = this.strings.length;
      this.strings.push(s);
      this.index.set(s, i);
    }
    return i;
  }

  /**
   * Adds an edge (or a loose end: one end null).
   * @param flowId the flow's id: the decimal text of a UBIGINT, or `h` + a text id (hashed by the SELECT).
   */
  add(
    flowId: string,
    version: number,
    fname: string | null,
    fcat: string | null,
    out: EdgeEnd | null,
    inn: EdgeEnd | null,
    step: boolean | null,
  ): void {
    const text = flowId.startsWith("h");
    this.fid.push(text ? 0n : BigInt.asIntN(64, BigInt(flowId)));
    this.fidText.push(text ? this.sid(flowId.slice(1)) : -1);
    this.version.push(version);
    this.fname.push(this.sid(fname));
    this.fcat.push(this.sid(fcat));
    for (const [e, end] of [
      [this.ends.out, out],
      [this.ends.in, inn],
    ] as const) {
      const f = e.fields;
      if (end === null) {
        for (const col of f) col.push(-1);
        e.ns.push(0n);
        continue;
      }
      (f[0] as number[]).push(this.sid(end.process));
      (f[1] as number[]).push(this.sid(end.stream));
      (f[2] as number[]).push(this.sid(end.tid));
      (f[3] as number[]).push(this.sid(end.thread));
      (f[4] as number[]).push(end.id ?? -1);
      (f[5] as number[]).push(END_KINDS.indexOf(end.kind));
      (f[6] as number[]).push(this.sid(end.name));
      e.ns.push(end.t);
    }
    this.step.push(step === null ? -1 : step ? 1 : 0);
  }

  /** The collected edges as typed columns. */
  finish(): EdgeColumns {
    const end = (e: { fields: number[][]; ns: bigint[] }) => ({
      fields: e.fields.map((f) => Int32Array.from(f)),
      ns: BigInt64Array.from(e.ns),
    });
    return {
      n: this.fid.length,
      strings: this.strings,
      fid: BigInt64Array.from(this.fid),
      fidText: Int32Array.from(this.fidText),
      version: Int8Array.from(this.version),
      fname: Int32Array.from(this.fname),
      fcat: Int32Array.from(this.fcat),
      ends: { out: end(this.ends.out), in: end(this.ends.in) },
      step: Int8Array.from(this.step),
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
 * ordered by the edge's time, then in the order the binding pass drew the edges (so the file is
 * the same at every run).
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
    FROM (SELECT i, tl_flow_edge(i::INTEGER) AS e, getvariable('tl_flow_strings') AS d FROM range($n) r(i))) x
  ORDER BY coalesce(x.in_ns, x.out_ns), x.out_ns, x.in_n, x.out_n, x.i`;

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
      const scalar = [cols.fid, cols.fidText, cols.version, cols.fname, cols.fcat];
      const sources = [
        ...scalar,
        ...cols.ends.out.fields,
        cols.ends.out.ns,
        ...cols.ends.in.fields,
        cols.ends.in.ns,
        cols.step,
      ];
      sources.forEach((src, k) => {
        const dst = out[k] as typeof src;
        for (let i = 0; i < n; i++) dst[i] = src[rows[pos[i] as number] as number] as never;
      });
    },
  },
]);

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
  return await EDGE_FUNCTIONS.run(engine, { cols, rows: Int32Array.from(rows) }, () =>
    writePartitionFile(engine, select, outPath, "time", "time", { min, max }),
  );
}
