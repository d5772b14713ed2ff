/**
 * `flows`: one row per flow edge (an arrow from one slice to another), as trace_processor's
 * `flow` table (slice_out, slice_in) holds them, each end named by its thread span id (or, for
 * an instant, its thread, time and name), process, thread, name and time; and one row per loose
 * end (a flow operation that drew no edge), the other end NULL. An instance holds the rows that
 * arrive in its process (a loose end: its process); edges between processes are kept, so the
 * transform reads every process of the instance's ingest (`scope: "ingest"`).
 *
 * The rules are trace_processor's (importers/json/json_trace_parser_impl.cc,
 * importers/proto/track_event_parser.cc, importers/common/flow_tracker.cc, slice_tracker.cc;
 * README "What `flows` does"):
 * - Each thread has trace_processor's slice stack: its slices, in thread_spans' order, and its
 *   thread-scoped instants (0-duration slices) are pushed as they begin; an X or an instant is
 *   popped only when a later slice begins (or an E comes) at or after its end; an E pops its B.
 *   At equal times instants and flow events come after the B/E and X events, in input order.
 *   A flow event's slice is the top of the stack, which may have ended already.
 * - Chrome v1 (`s`/`t`/`f`, key (id, cat, name)): `s` begins the flow on the top slice (ignored
 *   while it is active), `t` draws an edge to the top slice and moves the flow there, `f` with
 *   `bp: "e"` draws an edge to the top slice without closing the flow; `f` without `bp` waits
 *   for the thread's next slice and draws the edge from the flow's slice at that moment.
 * - Chrome v2 (`bind_id`): on the top slice once the event's own slice began, `flow_out`
 *   begins, `flow_in` + `flow_out` steps, `flow_in` ends without closing.
 * - Perfetto flow ids (as the importer stores them: `bind_id`, `flow_in`/`flow_out`,
 *   `args.flow_ids`/`args.terminating_flow_ids`), on the event's own slice: a flow id steps
 *   when active, else begins; a terminating id ends an active flow and closes it.
 * - A step or an end draws its edge from the slice that began first; flows are followed by
 *   time, then input order.
 * Deliberately different: text bind_ids (hashed) and flows on Chrome JSON instants are kept;
 * an `f` without `bp` whose flow never began draws nothing (trace_processor: an edge from the
 * trace's first slice); flows on async events and on spilled X events are not drawn.
 */
import { ChunkCursor } from "../duck/cursor.ts";
import { type Engine, sqlString } from "../duck/engine.ts";
import { fillTemplate } from "../duck/template.ts";
import { EDGES_SELECT, type EdgeColumns, type EdgeEnd, EdgeTable, writeEdgePartition } from "./flow_edges.ts";
import { sourceIdentity } from "./jit_plan.ts";
import { blockRelation } from "./source.ts";
import { A_OVERLAP } from "./span_stack.ts";
import { spanPass } from "./thread_spans.ts";
import type { IngestPeer, MaterializeInput, MaterializeResult, ViewSet } from "./view_set.ts";

/** Event kinds of the scan. */
const K_B = 0;
const K_E = 1;
const K_X = 2;
const K_I = 3;
const K_S = 4;
const K_T = 5;
const K_F = 6;

/** Perfetto's several flow ids of an event (args.flow_ids, args.terminating_flow_ids), as JSON text. */
const MANY = `CASE WHEN bind_id IS NOT NULL AND contains(args::VARCHAR, '"flow_ids"') THEN json_extract(args, '$.flow_ids')::VARCHAR END AS many_out,
      CASE WHEN bind_id IS NOT NULL AND contains(args::VARCHAR, '"terminating_flow_ids"') THEN json_extract(args, '$.terminating_flow_ids')::VARCHAR END AS many_in`;

/**
 * One process's thread events in processing order: cpu-stream B/E/X and flow events (`$src`,
 * source.ts blockRelation, with the span pass's pos) and thread-scoped instants of its log blocks
 * (`$logs`, LOGS), by thread (`th`: the cpu stream's index; an instant's thread is the stream
 * of its tid, or a hash of the tid when no cpu stream has it), time, then B/E, X (longer
 * first, as thread_spans) and the rest (instants, flow events), then input order. `tk` = th;
 * `nk`: a hash of the name (DOUBLE, exact); `tid` only for an instant; `t`, `dur`: ns from
 * `$base` (the process's first event), as DOUBLE (exact below 2^53).
 */
const SCAN = `SELECT th::DOUBLE AS tk, (epoch_ns(time) - $base)::DOUBLE AS t, k, coalesce(dur, 0)::DOUBLE AS dur,
    seq::DOUBLE AS q, pos, (hash(name) >> 11)::DOUBLE AS nk, bpe, coalesce(flow_in, false)::TINYINT AS fin,
    coalesce(flow_out, false)::TINYINT AS fout, (bind_id IS NOT NULL)::TINYINT AS hb, sx,
    tid, name, cat, v1key, bind_id, many_out, many_in
  FROM (
    SELECT sx::DOUBLE AS th, NULL::VARCHAR AS tid, sx::INTEGER AS sx, pos::INTEGER AS pos, time, dur, seq, bix, name, cat,
      CASE WHEN ph IN ('s', 't', 'f') THEN hash(id, cat, name)::VARCHAR END AS v1key,
      coalesce(bp = 'e', false)::TINYINT AS bpe, bind_id, flow_in, flow_out, ${MANY},
      (CASE ph WHEN 'B' THEN ${K_B} WHEN 'E' THEN ${K_E} WHEN 'X' THEN ${K_X} WHEN 's' THEN ${K_S}
               WHEN 't' THEN ${K_T} ELSE ${K_F} END)::TINYINT AS k,
      CASE WHEN ph IN ('B', 'E') THEN 0 WHEN ph = 'X' THEN 1 ELSE 2 END AS cls
    FROM ($src) WHERE sx IS NOT NULL AND ph IN ('B', 'E', 'X', 's', 't', 'f')
    $logs)
  ORDER BY th, time, cls, CASE WHEN k = ${K_X} THEN -dur END, seq, bix`;

/** The process's cpu streams' tids by index (sx), for LOGS: filled with the appender (never SQL text). */
const STREAM_TIDS = "memory.main.tl_flow_stream_tids";

/** SCAN's instants: the thread-scoped instants of `$list`, the log blocks (a Parquet list). */
const LOGS = `UNION ALL
    SELECT coalesce(m.sx::DOUBLE, ${2 ** 40} + (hash(l.tid) >> 20)::DOUBLE), l.tid, -1, -1, time, 0, seq,
      1000000 + file_index::BIGINT, name, cat, NULL, 0, bind_id, flow_in, flow_out, ${MANY}, ${K_I}::TINYINT, 2
    FROM read_parquet($list) l
    LEFT JOIN (SELECT tid, min(sx) AS sx FROM ${STREAM_TIDS} WHERE tid IS NOT NULL GROUP BY tid) m
      ON m.tid = l.tid
    WHERE ph IN ('i', 'I', 'R') AND coalesce(s, 't') = 't' AND l.tid IS NOT NULL`;

/** The flows view set. */
export const flows: ViewSet = {
  name: "flows",
  description: "flow edges: one row per arrow between two slices (Chrome flow v1/v2, Perfetto flow ids)",
  streamTag: "cpu",
  scope: "ingest",
  version: 1,
  sliceMicros: null,
  transformText: `${SCAN}\n${LOGS}\n${EDGES_SELECT}`,
  columns: [
    {
      name: "process_id",
      type: "VARCHAR",
      description: "process the edge arrives in (a loose end's process) (view_instance_id)",
    },
    { name: "time", type: "TIMESTAMP_NS", description: "in_time (a loose end's time)" },
    {
      name: "flow_id",
      type: "UBIGINT",
      description: "v1: 64-bit hash of (id, cat, name); v2: the bind_id / Perfetto flow id",
    },
    { name: "version", type: "INTEGER", description: "1: Chrome s/t/f; 2: bind_id or Perfetto flow ids" },
    { name: "flow_name", type: "VARCHAR", description: "v1: the flow events' name" },
    { name: "flow_target", type: "VARCHAR", description: "v1: the flow events' category" },
    ...endColumns("out", "where the arrow leaves"),
    ...endColumns("in", "where the arrow arrives"),
    {
      name: "in_step",
      type: "BOOLEAN",
      description: "the flow continues from the in end (v1 t, v2 flow_in + flow_out, an active Perfetto flow_ids id)",
    },
  ],
  async materialize(input: MaterializeInput): Promise<MaterializeResult> {
    const { engine } = input;
    const empty = { numRows: 0, minEventTimeNs: null, maxEventTimeNs: null };
    const peers = input.peers ?? [];
    if (input.blocks.length === 0 || peers.length === 0) return empty;
    const key = Buffer.from(sourceIdentity(input.blocks)).toString("hex");
    let entry = memo.get(key);
    if (entry === undefined) {
      entry = {
        edges: await ingestEdges(engine, peers, input.shared),
        left: new Set(peers.map((p) => p.process.processId)),
      };
      memo.set(key, entry);
      for (const k of memo.keys()) if (memo.size > MEMO_INGESTS) memo.delete(k);
    }
    // An ingest's edges are forgotten once each of its processes has taken its rows.
    entry.left.delete(input.process.processId);
    if (entry.left.size === 0) memo.delete(key);
    return writeEdgePartition(engine, entry.edges, input.process.processId, input.outPath);
  },
};

/** The columns of one end of an edge. */
function endColumns(end: "out" | "in", what: string): ViewSet["columns"] {
  return [
    { name: `${end}_process_id`, type: "VARCHAR", description: `process ${what}` },
    { name: `${end}_stream_id`, type: "VARCHAR", description: "its thread's cpu stream (NULL for an instant)" },
    { name: `${end}_tid`, type: "VARCHAR", description: "its source thread id" },
    { name: `${end}_thread_name`, type: "VARCHAR", description: "its thread name" },
    {
      name: `${end}_id`,
      type: "BIGINT",
      description:
        "its thread_spans id, unique across the lake (NULL for an instant: a log_entries row of that thread and time)",
    },
    {
      name: `${end}_kind`,
      type: "VARCHAR",
      description: "span, span_end (bound by the span's END event: Perfetto SLICE_END flow ids) or instant",
    },
    { name: `${end}_name`, type: "VARCHAR", description: "the slice's (or instant's) name" },
    { name: `${end}_time`, type: "TIMESTAMP_NS", description: "the slice's begin (the instant's time)" },
  ];
}

/**
 * The edges of the ingests being materialized, by source identity of their blocks: computed
 * once for all processes of an ingest, whose instances the JIT writes one after another (in
 * process_id order, so interleaved with other ingests' processes).
 */
const memo = new Map<string, { edges: EdgeColumns; left: Set<string> }>();
/** Most ingests whose edges memo keeps at once (the oldest goes first). */
const MEMO_INGESTS = 8;

/** A slice or instant that an edge can end on. */
type Ref = EdgeEnd;

/** Flow tracker operations (flow_tracker.cc). */
const OP_BEGIN = 0;
const OP_STEP = 1;
const OP_END = 2;
const OP_END_CLOSE = 3;
const OP_PENDING = 4;
/** Perfetto flow_ids: step when active, else begin. */
const OP_OUT = 5;

/** One operation on a flow, in processing order (t, q, n). */
interface Op {
  key: string;
  op: number;
  ref: Ref;
  t: bigint;
  q: number;
  n: number;
  /** 1 or 2; flow_id text; v1 name and category. */
  version: number;
  id: string;
  fname: string | null;
  fcat: string | null;
}

/** A 64-bit flow id from a v2 id text: decimal or 0x hex below 2^64; else null (hashed by the caller). */
function numericId(text: string): string | null {
  if (/^(?:[0-9]{1,20}|0[xX][0-9a-fA-F]{1,16})$/.test(text)) {
    const v = BigInt(text);
    if (v < 1n << 64n) return v.toString();
  }
  return null;
}

/** Texts of a JSON array of ids, or null. */
function idTexts(json: string | null): string[] | null {
  if (json === null) return null;
  try {
    const a: unknown = JSON.parse(json);
    return Array.isArray(a) ? a.map((x) => String(x)) : null;
  } catch {
    return null;
  }
}

/**
 * Every flow edge of an ingest's processes, as columns: binds each process's flow events to
 * its slices (bindProcess), then follows each flow through its operations in processing order.
 * Operations that draw no edge (a begin never followed, a step or end of a flow not active) are
 * loose ends: rows with the other end NULL.
 */
async function ingestEdges(
  engine: Engine,
  peers: IngestPeer[],
  shared: Map<string, unknown> | undefined,
): Promise<EdgeColumns> {
  const ops: Op[] = [];
  for (const p of peers) await bindProcess(engine, p, ops, shared);
  ops.sort((a, b) =>
    a.key < b.key ? -1 : a.key > b.key ? 1 : a.t < b.t ? -1 : a.t > b.t ? 1 : a.q - b.q || a.n - b.n,
  );
  const table = new EdgeTable();
  const row = (o: Op, out: Ref | null, inn: Ref | null, step: boolean | null): void => {
    table.add(o.id, o.version, o.fname, o.fcat, out, inn, step);
  };
  let key = "";
  /** The flow's source: the operation that set it, and whether an edge left it yet. */
  let src: Op | null = null;
  let used = false;
  const drop = (): void => {
    if (src !== null && !used) row(src, src.ref, null, null);
  };
  for (const o of ops) {
    if (o.key !== key) {
      drop();
      key = o.key;
      src = null;
    }
    let op = o.op;
    if (op === OP_OUT) op = src === null ? OP_BEGIN : OP_STEP;
    if (op === OP_BEGIN) {
      if (src === null) {
        src = o;
        used = false;
      } else row(o, o.ref, null, null);
      continue;
    }
    const step = op === OP_STEP;
    if (src === null) {
      row(o, null, o.ref, step);
      continue;
    }
    used = true;
    // The earlier slice (by begin time) is the edge's source; a pending end's is the flow's.
    if (op !== OP_PENDING && src.ref.t > o.ref.t) row(o, o.ref, src.ref, step);
    else row(o, src.ref, o.ref, step);
    if (step) {
      src = o;
      used = false;
    } else if (op === OP_END_CLOSE) src = null;
  }
  drop();
  return table.finish();
}

/**
 * Binds one process's flow events to its slices (see the file comment), appending one Op per
 * flow operation to `ops`. Reads the process's cpu blocks through thread_spans' span pass (for
 * the span ids) and its log blocks' instants.
 */
async function bindProcess(
  engine: Engine,
  peer: IngestPeer,
  ops: Op[],
  shared: Map<string, unknown> | undefined,
): Promise<void> {
  if (peer.cpuBlocks.length === 0) return;
  const input: MaterializeInput = {
    engine,
    process: peer.process,
    streams: peer.cpuStreams,
    blocks: peer.cpuBlocks,
    outPath: "",
    ...(shared ? { shared } : {}),
  };
  const pass = await spanPass(input);
  const streams = [...peer.cpuStreams].sort((a, b) => Buffer.compare(Buffer.from(a.streamId), Buffer.from(b.streamId)));
  const src = pass?.src ?? (await blockRelation({ ...input, streams }));
  const logList = `[${peer.logBlocks.map((b) => sqlString(b.path)).join(", ")}]::VARCHAR[]`;
  const logs = peer.logBlocks.length > 0;
  const probe = await engine.rows<{ cpu: boolean; log: boolean; base: bigint | null }>(
    `SELECT EXISTS (SELECT 1 FROM (${src.sql}) WHERE ph IN ('s', 't', 'f') OR bind_id IS NOT NULL) AS cpu,
       ${logs ? `EXISTS (SELECT 1 FROM read_parquet(${logList}) WHERE bind_id IS NOT NULL)` : "false"} AS log,
       least((SELECT epoch_ns(min(time)) FROM (${src.sql})) ${logs ? `, (SELECT epoch_ns(min(time)) FROM read_parquet(${logList}))` : ""}) AS base`,
  );
  const pr = probe[0];
  if (!pr || (!pr.cpu && !pr.log) || pr.base === null) return;
  const base = pr.base;
  const chromeJson = peer.traceFormat === "chrome_json";
  const spans = pass?.spans ?? null;
  if (logs) {
    await engine.run(`CREATE OR REPLACE TABLE ${STREAM_TIDS}(sx INTEGER, tid VARCHAR)`);
    await engine.append(
      STREAM_TIDS.slice(STREAM_TIDS.lastIndexOf(".") + 1),
      streams.map((s, i) => [BigInt(i), s.tid]),
      "memory",
    );
  }
  const sql = fillTemplate(SCAN, {
    src: src.sql,
    logs: logs ? fillTemplate(LOGS, { list: logList }) : "",
    base: `${base}`,
  });
  const cur = await ChunkCursor.open(engine, sql);
  const names = new Map<number, string | null>();
  const threadNames = new Map<string, string | null>();
  for (const s of peer.cpuStreams) if (s.tid !== null && !threadNames.has(s.tid)) threadNames.set(s.tid, s.threadName);
  const processId = peer.process.processId;
  // The current thread and its stack (trace_processor's slice stack), one array per field:
  // begin and end (ns from base; end = Infinity for an open B), duration (-1 for a B), thread_spans
  // id (-1 for an instant), name key, stream index, and the entry's Ref, made when an operation
  // first needs it. `pending`: `f` events waiting for the thread's next slice.
  let tk = Number.NaN;
  let tid: string | null = null;
  const sT: number[] = [];
  const sEnd: number[] = [];
  const sDur: number[] = [];
  const sId: number[] = [];
  const sNk: number[] = [];
  const sSx: number[] = [];
  const sRef: (Ref | null)[] = [];
  let top = 0;
  const pending: Op[] = [];
  let n = 0;
  const next = () => n++;
  const refOf = (t: number, id: number, nk: number, sx: number, kind: Ref["kind"]): Ref => {
    const instant = id < 0;
    const s = instant ? undefined : streams[sx];
    return {
      kind,
      process: processId,
      stream: s?.streamId ?? null,
      tid,
      thread: (instant ? threadNames.get(tid ?? "") : s?.threadName) ?? null,
      id: instant ? null : id,
      name: names.get(nk) ?? null,
      t: base + BigInt(t),
    };
  };
  /** The Ref of stack entry j. */
  const refAt = (j: number): Ref => {
    let r = sRef[j] ?? null;
    if (r === null) {
      r = refOf(
        sT[j] as number,
        sId[j] as number,
        sNk[j] as number,
        sSx[j] as number,
        (sId[j] as number) < 0 ? "instant" : "span",
      );
      sRef[j] = r;
    }
    return r;
  };
  /** MaybeCloseStack: pops slices that ended before t (or at t, unless both are instants). */
  const closeUntil = (t: number, newDur: number): void => {
    while (top > 0) {
      const e = sEnd[top - 1] as number;
      if (e === Number.POSITIVE_INFINITY) return;
      if (e < t || (e === t && !(sDur[top - 1] === 0 && newDur === 0))) top--;
      else return;
    }
  };
  try {
    while (await cur.next()) {
      const tkA = cur.num<Float64Array>(0);
      const tA = cur.num<Float64Array>(1);
      const kA = cur.num<Int8Array>(2);
      const dA = cur.num<Float64Array>(3);
      const qA = cur.num<Float64Array>(4);
      const posA = cur.num<Int32Array>(5);
      const nkA = cur.num<Float64Array>(6);
      const bpA = cur.num<Int8Array>(7);
      const finA = cur.num<Int8Array>(8);
      const foutA = cur.num<Int8Array>(9);
      const hbA = cur.num<Int8Array>(10);
      const sxA = cur.num<Int32Array>(11);
      for (let i = 0; i < cur.rowCount; i++) {
        if (tkA[i] !== tk) {
          tk = tkA[i] as number;
          const sx = sxA[i] as number;
          tid = sx >= 0 ? (streams[sx]?.tid ?? null) : cur.text(12, i);
          top = 0;
          pending.length = 0;
        }
        const k = kA[i] as number;
        const t = tA[i] as number;
        const q = qA[i] as number;
        if (k === K_X || k === K_B || k === K_I) {
          const nk = nkA[i] as number;
          if (!names.has(nk)) names.set(nk, cur.text(13, i));
          const dur = k === K_B ? -1 : (dA[i] as number);
          closeUntil(t, dur);
          const id = k === K_I || spans === null ? -1 : (spans.idOf[posA[i] as number] as number);
          const sx = sxA[i] as number;
          // An X that trace_processor spills onto an overflow track is not on this stack.
          const spilled = k === K_X && spans !== null && spans.anomaly[id] === A_OVERLAP;
          let own: Ref | null = null;
          if (!spilled) {
            sT[top] = t;
            sEnd[top] = k === K_B ? Number.POSITIVE_INFINITY : t + dur;
            sDur[top] = dur;
            sId[top] = id;
            sNk[top] = nk;
            sSx[top] = sx;
            sRef[top] = null;
            top++;
            if (pending.length > 0) {
              const ref = refAt(top - 1);
              const at = base + BigInt(t);
              for (const o of pending) ops.push({ ...o, ref, t: at, q, n: n++ });
              pending.length = 0;
            }
          } else own = refOf(t, id, nk, sx, "span");
          if (hbA[i] === 1) {
            own ??= refAt(top - 1);
            const flowIn = finA[i] === 1;
            const flowOut = foutA[i] === 1;
            const tr = top > 0 ? refAt(top - 1) : null;
            const at = base + BigInt(t);
            flowOps(
              ops,
              chromeJson,
              cur.text(16, i) as string,
              flowIn,
              flowOut,
              cur.text(17, i),
              cur.text(18, i),
              tr,
              own,
              at,
              q,
              next,
            );
          }
          continue;
        }
        if (k === K_E) {
          closeUntil(t, -1);
          let j = top - 1;
          while (j >= 0 && sEnd[j] !== Number.POSITIVE_INFINITY) j--;
          if (j < 0) continue;
          const closed: Ref | null = hbA[i] === 1 && !chromeJson ? { ...refAt(j), kind: "span_end" } : null;
          // The closed B leaves the stack (entries above it, X spans that outlive it, stay).
          for (let m = j; m < top - 1; m++) {
            sT[m] = sT[m + 1] as number;
            sEnd[m] = sEnd[m + 1] as number;
            sDur[m] = sDur[m + 1] as number;
            sId[m] = sId[m + 1] as number;
            sNk[m] = sNk[m + 1] as number;
            sSx[m] = sSx[m + 1] as number;
            sRef[m] = sRef[m + 1] ?? null;
          }
          top--;
          if (closed !== null) {
            const at = base + BigInt(t);
            flowOps(
              ops,
              false,
              cur.text(16, i) as string,
              finA[i] === 1,
              foutA[i] === 1,
              cur.text(17, i),
              cur.text(18, i),
              closed,
              closed,
              at,
              q,
              next,
            );
          }
          continue;
        }
        // Flow v1.
        const v1 = cur.text(15, i) as string;
        const at = base + BigInt(t);
        const o = { key: `1:${v1}`, t: at, q, version: 1, id: v1, fname: cur.text(13, i), fcat: cur.text(14, i) };
        if (k === K_F && bpA[i] !== 1) {
          pending.push({ ...o, op: OP_PENDING, ref: null as unknown as Ref, n: 0 });
          continue;
        }
        if (top === 0) continue;
        ops.push({ ...o, op: k === K_S ? OP_BEGIN : k === K_T ? OP_STEP : OP_END, ref: refAt(top - 1), n: n++ });
      }
    }
  } finally {
    cur.close();
    if (logs) await engine.run(`DROP TABLE IF EXISTS ${STREAM_TIDS}`);
  }
}

/**
 * The operations of a flow v2 event: Chrome JSON (`chromeJson`) on the thread's top slice
 * `topRef` (flow_out begins, both step, flow_in ends without closing; legacy Perfetto ids in
 * `0x` hex the same), Perfetto flow ids on the event's own slice `own` (flow_ids: OP_OUT,
 * terminating_flow_ids: end and close).
 */
function flowOps(
  ops: Op[],
  chromeJson: boolean,
  bind: string,
  fin: boolean,
  fout: boolean,
  manyOut: string | null,
  manyIn: string | null,
  topRef: Ref | null,
  own: Ref,
  t: bigint,
  q: number,
  next: () => number,
): void {
  const idOf = (x: string): string => numericId(x) ?? `h${x}`;
  const add = (id: string, op: number, ref: Ref): void => {
    ops.push({ key: `2:${id}`, op, ref, t, q, n: next(), version: 2, id, fname: null, fcat: null });
  };
  const legacy = !chromeJson && bind.startsWith("0x");
  if (chromeJson || legacy) {
    const ref = chromeJson ? topRef : own;
    if (ref === null) return;
    const id = idOf(bind);
    add(id, fin && fout ? OP_STEP : fout ? OP_BEGIN : OP_END, ref);
    return;
  }
  const outs = idTexts(manyOut);
  const ins = idTexts(manyIn);
  if ((outs !== null || ins !== null) && (outs ?? ins ?? [])[0] === bind) {
    for (const x of outs ?? []) add(idOf(x), OP_OUT, own);
    for (const x of ins ?? []) add(idOf(x), OP_END_CLOSE, own);
  } else add(idOf(bind), fout ? OP_OUT : OP_END_CLOSE, own);
}
