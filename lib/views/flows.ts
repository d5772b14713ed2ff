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
import { releaseAllocatorMemory } from "../duck/allocator.ts";
import { ChunkCursor } from "../duck/cursor.ts";
import { type Engine, sqlString } from "../duck/engine.ts";
import { fillTemplate } from "../duck/template.ts";
import {
  EDGES_SELECT,
  type EdgeColumns,
  EdgeTable,
  grown,
  KIND_INSTANT,
  KIND_SPAN,
  KIND_SPAN_END,
  type TextDictionary,
  TimeWords,
  words,
  writeEdgePartition,
} from "./flow_edges.ts";
import { sourceIdentity } from "./jit_plan.ts";
import { sortBy } from "./sort_by.ts";
import { type BlockRelation, blockRelation, combineInputs, type ThreadPart, threadParts } from "./source.ts";
import { A_OVERLAP, type SpanArrays } from "./span_stack.ts";
import { BATCH_EVENTS, BATCH_SPREAD_NS, batchSpans, passParts, spanPass } from "./thread_spans.ts";
import type { IngestPeer, MaterializeInput, MaterializeResult, ViewSet } from "./view_set.ts";

/** Event kinds of the scan. */
const K_B = 0;
const K_E = 1;
const K_X = 2;
const K_I = 3;
const K_S = 4;
const K_T = 5;
const K_F = 6;

/** Most events (catalog counts of cpu and log blocks) of a process bound in a batch. */
const BATCH_PROCESS_EVENTS = 50_000;
/** Most processes of a batch: SCAN's thread keys (px * PX_TH + a thread's) stay exact doubles. */
const BATCH_PROCESSES = 128;
/** SCAN's thread key of a batch's process px: px * PX_TH + the thread's (sx < 2^40, or 2^40 + a hash < 2^44). */
const PX_TH = 2 ** 45;
/** A thread number from NO_STREAM up (`th` - px * PX_TH) is an instant's tid that no cpu stream of its process has. */
const NO_STREAM = 2 ** 40;

/** Perfetto's several flow ids of an event (args.flow_ids, args.terminating_flow_ids), as JSON text. */
const MANY = `CASE WHEN bind_id IS NOT NULL AND contains(args::VARCHAR, '"flow_ids"') THEN json_extract(args, '$.flow_ids')::VARCHAR END AS many_out,
      CASE WHEN bind_id IS NOT NULL AND contains(args::VARCHAR, '"terminating_flow_ids"') THEN json_extract(args, '$.terminating_flow_ids')::VARCHAR END AS many_in`;

/**
 * The thread events of one process, or of several process after process (bindProcesses), in
 * processing order: cpu-stream B/E/X and flow events (`$src`, source.ts blockRelation of their
 * blocks, with the span pass's pos) and thread-scoped instants of their log blocks (`$logs`,
 * LOGS), by thread (`th`: px * PX_TH + the thread's number, px the process's index, `$px` by
 * stream; a thread's number is its cpu stream's index, or for an instant, that of the process's
 * stream of its tid, or 2^40 + a hash of the tid when no cpu stream has it), time, then B/E, X
 * (longer first, as thread_spans) and the rest (instants, flow events), then input order. `tk`
 * = th; `nk`: a hash of the name (DOUBLE, exact; NAMES gives the names); `t`, `dur`: ns from
 * `$base` (the first event), as DOUBLE (exact below 2^53). A v1 flow event (`s`/`t`/`f`) goes
 * through as numbers, in columns its kind does not use (no column more for every row): `nk` is
 * a hash of its name and category (NAMES gives them), and its key hash(id, cat, name), a
 * UBIGINT, is `pos` (the high word, less 2^31) and `dur` (the low word). The texts only
 * instants and Perfetto flow events need go through the sort in one column `tx`:
 * where `tj` is 1, a JSON array (TX_*: the tid of an instant of a thread without a cpu stream,
 * the bind_id and the Perfetto flow id lists); else the bind_id alone (most flow events and
 * instants: no JSON to parse; an instant's tid is its stream's when the thread has one), or
 * NULL. Seven VARCHAR
 * columns cost the sort 16 bytes each on every row, and the names and categories their text (the
 * 45 MB real protobuf trace's largest process: 209 MB of sort for 600K rows). The v1 events went
 * through `tx` as JSON too, whose parsing took ~0.15 s of CPU (bun --cpu-prof) on the 224 MB
 * real Chromium JSON trace (292K `s`/`f` events in its largest process; cold `flows` 2.12 ->
 * 1.96 s without it). `$where`: empty, or a part's range of `th` (bindProcesses).
 */
const SCAN = `SELECT th::DOUBLE AS tk, (epoch_ns(time) - $base)::DOUBLE AS t, k,
    CASE WHEN k >= ${K_S} THEN (v1h & 4294967295)::DOUBLE ELSE coalesce(dur, 0)::DOUBLE END AS dur,
    seq::DOUBLE AS q, CASE WHEN k >= ${K_S} THEN ((v1h >> 32)::BIGINT - 2147483648)::INTEGER ELSE pos END AS pos,
    (CASE WHEN k >= ${K_S} THEN hash(name, cat) ELSE hash(name) END >> 11)::DOUBLE AS nk, bpe, coalesce(flow_in, false)::TINYINT AS fin,
    coalesce(flow_out, false)::TINYINT AS fout, (bind_id IS NOT NULL)::TINYINT AS hb, sx,
    (tid IS NOT NULL OR many_out IS NOT NULL OR many_in IS NOT NULL)::TINYINT AS tj,
    CASE WHEN tid IS NOT NULL OR many_out IS NOT NULL OR many_in IS NOT NULL THEN to_json([tid, bind_id, many_out, many_in])::VARCHAR
      ELSE bind_id END AS tx
  FROM (
    SELECT ($px)[sx + 1]::DOUBLE * ${PX_TH} + sx AS th, NULL::VARCHAR AS tid, sx::INTEGER AS sx, pos::INTEGER AS pos, time, dur, seq, bix, name, cat,
      CASE WHEN ph IN ('s', 't', 'f') THEN hash(id, cat, name) END AS v1h,
      coalesce(bp = 'e', false)::TINYINT AS bpe, bind_id, flow_in, flow_out, ${MANY},
      (CASE ph WHEN 'B' THEN ${K_B} WHEN 'E' THEN ${K_E} WHEN 'X' THEN ${K_X} WHEN 's' THEN ${K_S}
               WHEN 't' THEN ${K_T} ELSE ${K_F} END)::TINYINT AS k,
      CASE WHEN ph IN ('B', 'E') THEN 0 WHEN ph = 'X' THEN 1 ELSE 2 END AS cls
    FROM ($src) WHERE sx IS NOT NULL AND ph IN ('B', 'E', 'X', 's', 't', 'f')
    $logs)
  $where
  ORDER BY th, time, cls, CASE WHEN k = ${K_X} THEN -dur END, seq, bix`;

/**
 * Rows of SCAN read between two full garbage collections (Bun.gc) in the binding pass. Each
 * chunk the pass reads leaves its vectors' copies behind (ChunkCursor: ~70 bytes a row), and the
 * collector let them pile up, as in the Perfetto export (lib/perfetto/export.ts
 * COLLECT_EVERY_BYTES); FlowKeys holds no object per key, so a collection has little to mark.
 * Cold `flows` GROUP BY version, compiled binary, 7 alternating runs (medians of wall and peak
 * RSS, max RSS): the real 45.7 MB Chromium protobuf trace (its largest process: 0.76M scanned
 * rows) 4.96 s, 380 MB (393) -> 4.66 s, 317 MB (330); the real 174 MB Chromium JSON trace
 * 4.12 s, 348 MB (373) -> 3.73 s, 323 MB (347). Collecting with a text and a BigInt per key
 * (93K v1 keys in the JSON trace's largest process) cost that trace 0.2-0.4 s more; 300K rows
 * between collections: 334 MB on the protobuf trace.
 */
const COLLECT_EVERY_ROWS = 150_000;

/**
 * When the binding gives DuckDB's unused allocator memory back (lib/duck/allocator.ts): at a
 * turn (after a batch, between the parts of a process bound in parts) where the process's RSS
 * is at least RELEASE_ABOVE_RSS and DuckDB holds at least RELEASE_MIN_BYTES unused. Each part's
 * scan sorts its rows (~80 MiB of DuckDB memory for the largest part of the real 174 MB Chromium
 * JSON trace), and what the sort freed stays in DuckDB's arenas (one per thread: what one thread
 * freed another does not reuse), 43-103 MiB at those turns, under the next sort and the follow
 * phase. A release costs the purge (10-25 ms) and, as DuckDB allocates again, the faults of the
 * pages (slow on the 2-core test machine): done at every such turn with 48 MiB unused, the
 * samples' cold `flows` (peak RSS 264-270 MB, of 10^6 bytes) took 0.25 s longer for nothing,
 * hence the RSS bound. The same release after each of the JIT's write groups (jit.ts), cold
 * `export perfetto --all`, 5 alternating runs: the 174 MB JSON trace 338 -> 324 MB for +0.77 s,
 * the 45.7 MB protobuf trace 337 -> 342 MB (max 400 -> 345) for +1.06 s: not taken.
 */
const RELEASE_ABOVE_RSS = 240 * 1048576;
/** See RELEASE_ABOVE_RSS. */
const RELEASE_MIN_BYTES = 32 * 1048576;

/** True when the process is near its memory budget: its RSS is at least RELEASE_ABOVE_RSS. */
function nearBudget(): boolean {
  return process.memoryUsage.rss() >= RELEASE_ABOVE_RSS;
}

/** Gives DuckDB's unused memory back when the process is near its budget (nearBudget). */
function releaseWhenLarge(): void {
  if (nearBudget()) releaseAllocatorMemory(RELEASE_MIN_BYTES);
}

/** A v1 flow event's name and category (dictionary indexes) when NAMES has none for it (never). */
const NO_NAMES: [number, number] = [-1, -1];

/** The fields of SCAN's `tx` array. */
const TX_TID = 0;
const TX_BIND = 1;
const TX_MANY_OUT = 2;
const TX_MANY_IN = 3;

/**
 * The names of the slices and instants SCAN reads, by its name key `nk` (a few thousand, where
 * the scan has hundreds of thousands of rows): the cpu streams' B and X events (`$src`) and, with
 * `$logs` (LOG_NAMES), the instants; and (`v1`) the names and categories of the v1 flow events
 * (`$src`), by their `nk` (a hash of both). Ordered, so that should two names share a key (a
 * 53-bit hash) the first, which bindProcesses keeps, is the same at every run (for the
 * processes it binds together).
 */
const NAMES = `SELECT v1, nk, name, cat FROM (
  SELECT DISTINCT false AS v1, (hash(name) >> 11)::DOUBLE AS nk, name, NULL::VARCHAR AS cat FROM ($src)
  WHERE sx IS NOT NULL AND ph IN ('B', 'X')
  UNION SELECT DISTINCT true, (hash(name, cat) >> 11)::DOUBLE, name, cat FROM ($src)
  WHERE sx IS NOT NULL AND ph IN ('s', 't', 'f')
  $logs)
  ORDER BY v1, nk, name, cat`;

/** NAMES's instants: those of LOGS, from the log blocks `$list`. */
const LOG_NAMES = `UNION SELECT DISTINCT false, (hash(name) >> 11)::DOUBLE, name, NULL FROM read_parquet($list)
    WHERE ph IN ('i', 'I', 'R') AND coalesce(s, 't') = 't' AND tid IS NOT NULL`;

/** The cpu streams' process index (px) and tid by stream index (sx), for LOGS: filled with the appender (never SQL text). */
const STREAM_TIDS = "memory.main.tl_flow_stream_tids";
/** LOG_ROWS of a process bound in parts. */
const LOG_TABLE = "memory.main.tl_flow_logs";

/**
 * SCAN's instants: the thread-scoped instants of `$list`, the log blocks (a Parquet list), with
 * `$px` the process index of each (`UNION ALL` and LOG_ROWS).
 */
const LOGS = `UNION ALL
    $rows`;

/**
 * LOGS's rows, in the columns of SCAN's inner SELECT. A process bound in parts reads them once,
 * into LOG_TABLE, which each part's scan reads instead (read and joined again for each part,
 * they cost the 208 MB trace's largest process, 89K log rows and 5 parts, 200-300 ms more).
 */
const LOG_ROWS = `SELECT l.px::DOUBLE * ${PX_TH} + coalesce(m.sx::DOUBLE, ${NO_STREAM} + (hash(l.tid) >> 20)::DOUBLE),
      CASE WHEN m.sx IS NULL THEN l.tid END, -1, -1,
      time, 0, seq, 1000000 + l.file_index::BIGINT, name, cat, NULL, 0, bind_id, flow_in, flow_out, ${MANY}, ${K_I}::TINYINT, 2
    FROM (SELECT ($px)[file_index::BIGINT + 1] AS px, file_index, * FROM read_parquet($list)) l
    LEFT JOIN (SELECT px, tid, min(sx) AS sx FROM ${STREAM_TIDS} WHERE tid IS NOT NULL GROUP BY px, tid) m
      ON m.px = l.px AND m.tid = l.tid
    WHERE ph IN ('i', 'I', 'R') AND coalesce(s, 't') = 't' AND l.tid IS NOT NULL`;

/** The flows view set. */
export const flows: ViewSet = {
  name: "flows",
  description: "flow edges: one row per arrow between two slices (Chrome flow v1/v2, Perfetto flow ids)",
  streamTag: "cpu",
  scope: "ingest",
  version: 1,
  sliceMicros: null,
  transformText: `${SCAN}\n${LOGS}\n${LOG_ROWS}\n${NAMES}\n${LOG_NAMES}\n${EDGES_SELECT}`,
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
      // The binding's operations and keys are garbage now (the edges stay for the writes): a
      // full collection (10-25 ms) when the process is large.
      if (nearBudget()) Bun.gc(true);
      for (const k of memo.keys()) if (memo.size > MEMO_INGESTS) memo.delete(k);
    }
    // An ingest's edges are forgotten once each of its processes has taken its rows.
    entry.left.delete(input.process.processId);
    if (entry.left.size > 0) return writeEdgePartition(engine, entry.edges, input.process.processId, input.outPath);
    memo.delete(key);
    const result = await writeEdgePartition(engine, entry.edges, input.process.processId, input.outPath);
    // The edges, their dictionary and the binding's leftovers are garbage now, and the JIT run
    // goes on with the other view sets' sorts: a full collection (10-25 ms) when the process is
    // large. Cold `materialize` of the real 174 MB Chromium JSON trace (flows first, then
    // thread_spans...), compiled, 3 alternating runs: peak RSS 344 -> 313 MB, wall the same
    // (6.05 s both, medians); the JS heap held ~100 MB after the binding until then.
    if (nearBudget()) Bun.gc(true);
    return result;
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

/** Flow tracker operations (flow_tracker.cc). */
const OP_BEGIN = 0;
const OP_STEP = 1;
const OP_END = 2;
const OP_END_CLOSE = 3;
const OP_PENDING = 4;
/** Perfetto flow_ids: step when active, else begin. */
const OP_OUT = 5;

/**
 * The flows that operations name, each by a key number (in the order the binding pass first
 * names them, the same at every run): its version (1: Chrome s/t/f, 2: the rest), found by its
 * id (v1: the hash of (id, cat, name) as two words; v2: a 64-bit id's decimal text, or `h` + a
 * text id), and the id as the edge columns hold it. Held in typed columns: a v1 key has no text
 * (but for one whose top 53 bits another key has) nor a BigInt (a text and a BigInt per key were
 * 190K of the binding's live objects for the 93K v1 flows of the real 174 MB Chromium JSON
 * trace's largest process, which every garbage collection of the pass (COLLECT_EVERY_ROWS) went
 * over).
 */
class FlowKeys {
  /** Keys by id text: v1 keys that share their top 53 bits with another (rare), and v2 keys. */
  private readonly byText = [new Map<string, number>(), new Map<string, number>()];
  /** Keys made. */
  n = 0;
  version = new Int8Array(1024);
  /** The id's 64 bits (unused when fidText ≥ 0). */
  fid = new BigInt64Array(1024);
  /** `fid`'s words (flow_edges.ts words). */
  fidW = words(this.fid);
  /** A text id's dictionary index (hashed by the partition's SELECT), or -1. */
  fidText = new Int32Array(1024);
  /** v1 keys by the top 53 bits of their 64-bit hash (v1's words), the first key with those bits. */
  private readonly byWords = new Map<number, number>();

  constructor(private readonly dict: TextDictionary) {}

  /**
   * The key number of the v1 flow whose key hash(id, cat, name) (a UBIGINT) has the 32-bit words
   * `hi` and `lo` (unsigned; SCAN's `pos` + 2^31 and `dur` of the event), added when new: found
   * by a number; a key whose top 53 bits another key has is looked up by its decimal text.
   */
  v1(hi: number, lo: number): number {
    const top = hi * 2097152 + Math.floor(lo / 2048);
    const k = this.byWords.get(top);
    if (k !== undefined && this.fidW[2 * k] === (lo | 0)) return k;
    if (k === undefined) {
      const made = this.add(1, lo | 0, hi | 0, -1);
      this.byWords.set(top, made);
      return made;
    }
    const id = ((BigInt(hi) << 32n) | BigInt(lo)).toString();
    const m = this.byText[0] as Map<string, number>;
    let c = m.get(id);
    if (c === undefined) {
      c = this.add(1, lo | 0, hi | 0, -1);
      m.set(id, c);
    }
    return c;
  }

  /** The key number of v2 flow `id` (decimal text, or `h` + a text id), added when new. */
  v2(id: string): number {
    const m = this.byText[1] as Map<string, number>;
    let k = m.get(id);
    if (k === undefined) {
      const text = id.startsWith("h");
      const v = text ? 0n : BigInt.asIntN(64, BigInt(id));
      k = this.add(2, Number(BigInt.asIntN(32, v)), Number(v >> 32n), text ? this.dict.of(id.slice(1)) : -1);
      m.set(id, k);
    }
    return k;
  }

  /** A new key: its version, id words (low, high; signed) and text id's dictionary index. */
  private add(version: number, lo: number, hi: number, fidText: number): number {
    const k = this.n++;
    if (k >= this.version.length) {
      this.version = grown(this.version, k);
      this.fid = grown(this.fid, k);
      this.fidW = words(this.fid);
      this.fidText = grown(this.fidText, k);
    }
    this.version[k] = version;
    this.fidW[2 * k] = lo;
    this.fidW[2 * k + 1] = hi;
    this.fidText[k] = fidText;
    return k;
  }
}

/**
 * The operations on flows, in the order the binding pass made them, as columns: the flow's key
 * (FlowKeys), the operation (OP_*), the end it names (EndTable), its time (ns), input order (q)
 * and number in its process (n), and the v1 flow name and category (dictionary indexes, -1).
 */
class OpTable {
  n = 0;
  key = new Int32Array(1024);
  op = new Int8Array(1024);
  ref = new Int32Array(1024);
  t = new BigInt64Array(1024);
  /** `t`'s words (flow_edges.ts words). */
  tw = words(this.t);
  q = new Float64Array(1024);
  seq = new Int32Array(1024);
  fname = new Int32Array(1024);
  fcat = new Int32Array(1024);

  /** Adds an operation; its time (ns) as its 32-bit words (TimeWords), `hi` and `lo`. */
  push(
    key: number,
    op: number,
    ref: number,
    hi: number,
    lo: number,
    q: number,
    seq: number,
    fname: number,
    fcat: number,
  ): void {
    const i = this.n++;
    if (i >= this.key.length) {
      this.key = grown(this.key, i);
      this.op = grown(this.op, i);
      this.ref = grown(this.ref, i);
      this.t = grown(this.t, i);
      this.tw = words(this.t);
      this.q = grown(this.q, i);
      this.seq = grown(this.seq, i);
      this.fname = grown(this.fname, i);
      this.fcat = grown(this.fcat, i);
    }
    this.key[i] = key;
    this.op[i] = op;
    this.ref[i] = ref;
    this.tw[2 * i] = lo;
    this.tw[2 * i + 1] = hi;
    this.q[i] = q;
    this.seq[i] = seq;
    this.fname[i] = fname;
    this.fcat[i] = fcat;
  }

  /**
   * The operations' numbers in processing order: by flow (its key number: flows are independent,
   * so any order of them that is the same at every run gives the same edges), time, q, n, then
   * the order they were made in (a counting sort by key, then a sort of each key's few). Flows
   * went in the order of their id texts, made for the purpose: 186-195 ms and ~28 MB of heap for
   * the 111K keys of the real 174 MB Chromium JSON trace (probe marks, compiled binary).
   * @param keys the number of flow keys (FlowKeys.n): every operation's key is below it.
   */
  order(keys: number): Int32Array {
    const start = new Int32Array(keys + 1);
    for (let i = 0; i < this.n; i++) (start[(this.key[i] as number) + 1] as number)++;
    for (let r = 0; r < keys; r++) start[r + 1] = (start[r + 1] as number) + (start[r] as number);
    const fill = start.slice(0, keys);
    const out = new Int32Array(this.n);
    for (let i = 0; i < this.n; i++) out[(fill[this.key[i] as number] as number)++] = i;
    const { tw, q, seq } = this;
    const cmp = (a: number, b: number): number => {
      const ha = tw[2 * a + 1] as number;
      const hb = tw[2 * b + 1] as number;
      if (ha !== hb) return ha - hb;
      const la = (tw[2 * a] as number) >>> 0;
      const lb = (tw[2 * b] as number) >>> 0;
      if (la !== lb) return la - lb;
      return (q[a] as number) - (q[b] as number) || (seq[a] as number) - (seq[b] as number) || a - b;
    };
    for (let r = 0; r < keys; r++) {
      const lo = start[r] as number;
      const hi = start[r + 1] as number;
      if (hi - lo > 1) sortBy(out.subarray(lo, hi), cmp);
    }
    return out;
  }
}

/** A 64-bit flow id from a v2 id text: decimal or 0x hex below 2^64; else null (hashed by the caller). */
function numericId(text: string): string | null {
  if (canonicalDecimal(text)) return text;
  if (/^(?:[0-9]{1,20}|0[xX][0-9a-fA-F]{1,16})$/.test(text)) {
    const v = BigInt(text);
    if (v < 1n << 64n) return v.toString();
  }
  return null;
}

/**
 * True when `text` is a decimal without leading zeros below 10^19 (so below 2^64): its own
 * canonical text. A loop over the characters: 5-7 ms for 200K ids against 28-30 ms for a regular
 * expression (bun 1.3).
 */
function canonicalDecimal(text: string): boolean {
  const n = text.length;
  if (n === 0 || n > 19 || (n > 1 && text.charCodeAt(0) === 48)) return false;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
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
  const table = new EdgeTable();
  const keys = new FlowKeys(table.dict);
  const ops = new OpTable();
  const read = { rows: 0, scanned: 0 };
  for (const batch of bindBatches(peers)) {
    const before = read.scanned;
    await bindProcesses(engine, batch, ops, keys, table, shared, read);
    // A large batch leaves its span pass's arrays and its chunks' copies behind (the largest
    // process of the real 174 MB Chromium JSON trace: ~40 MB).
    if (read.scanned - before >= COLLECT_EVERY_ROWS) {
      read.rows = 0;
      Bun.gc(true);
    }
    releaseWhenLarge();
  }
  // Most operations draw one edge (a begin when dropped or when its flow is active; a step that
  // nothing follows draws a loose end too, and `add` grows past this when it must).
  table.reserve(ops.n);
  const { key: opKey, fname, fcat, op: opCode, ref } = ops;
  const { ends } = table;
  const row = (o: number, out: number, inn: number, step: number): void => {
    const k = opKey[o] as number;
    table.add(
      keys.fidW[2 * k] as number,
      keys.fidW[2 * k + 1] as number,
      keys.fidText[k] as number,
      keys.version[k] as number,
      fname[o] as number,
      fcat[o] as number,
      out,
      inn,
      step,
    );
  };
  let key = -1;
  /** The flow's source: the operation that set it (-1: none), and whether an edge left it yet. */
  let src = -1;
  let used = false;
  const drop = (): void => {
    if (src >= 0 && !used) row(src, ref[src] as number, -1, -1);
  };
  for (const o of ops.order(keys.n)) {
    if (opKey[o] !== key) {
      drop();
      key = opKey[o] as number;
      src = -1;
    }
    let op = opCode[o] as number;
    if (op === OP_OUT) op = src < 0 ? OP_BEGIN : OP_STEP;
    if (op === OP_BEGIN) {
      if (src < 0) {
        src = o;
        used = false;
      } else row(o, ref[o] as number, -1, -1);
      continue;
    }
    const step = op === OP_STEP ? 1 : 0;
    if (src < 0) {
      row(o, -1, ref[o] as number, step);
      continue;
    }
    used = true;
    // The earlier slice (by begin time) is the edge's source; a pending end's is the flow's.
    const from = ref[src] as number;
    const to = ref[o] as number;
    if (op !== OP_PENDING && ends.later(from, to)) row(o, to, from, step);
    else row(o, from, to, step);
    if (step === 1) {
      src = o;
      used = false;
    } else if (op === OP_END_CLOSE) src = -1;
  }
  drop();
  return table.finish();
}

/**
 * The peers bound together by one bindProcesses call, in `peers`' order (the binding numbers
 * operations process after process): a process of more than BATCH_PROCESS_EVENTS events (its
 * cpu and log blocks' catalog counts) alone, the others in runs of at most BATCH_EVENTS events
 * and BATCH_PROCESSES processes whose blocks begin within BATCH_SPREAD_NS (the scan's times are
 * exact within 2^53 ns of the batch's base). Peers without cpu blocks bind nothing and are left out.
 */
function bindBatches(peers: readonly IngestPeer[]): IngestPeer[][] {
  const out: IngestPeer[][] = [];
  let batch: IngestPeer[] = [];
  let events = 0;
  /** The least and greatest begin time (ns) of the batch's processes (each its blocks' least). */
  let lo = 0n;
  let hi = 0n;
  for (const peer of peers) {
    if (peer.cpuBlocks.length === 0) continue;
    const blocks = [...peer.cpuBlocks, ...peer.logBlocks];
    const n = blocks.reduce((sum, b) => sum + b.nbObjects, 0);
    const begins = blocks.map((b) => b.beginTimeNs);
    if (n > BATCH_PROCESS_EVENTS || begins.includes(null)) {
      if (batch.length > 0) out.push(batch);
      out.push([peer]);
      batch = [];
      continue;
    }
    const begin = (begins as bigint[]).reduce((m, b) => (b < m ? b : m));
    const fits =
      batch.length > 0 &&
      events + n <= BATCH_EVENTS &&
      batch.length < BATCH_PROCESSES &&
      (begin > hi ? begin : hi) - (begin < lo ? begin : lo) <= BATCH_SPREAD_NS;
    if (!fits) {
      if (batch.length > 0) out.push(batch);
      batch = [];
      events = 0;
      lo = begin;
      hi = begin;
    }
    batch.push(peer);
    events += n;
    if (begin < lo) lo = begin;
    if (begin > hi) hi = begin;
  }
  if (batch.length > 0) out.push(batch);
  return out;
}

/**
 * Binds the flow events of one or several processes (bindBatches) to their slices (see the file
 * comment), adding one operation per flow operation to `ops` (its ends to `table.ends`), as
 * binding each process alone, one after another, would: one scan reads them all, process after
 * process (SCAN's thread key `th` is px * PX_TH + the thread's); one process alone is scanned
 * in parts of its threads (thread_spans.ts passParts), part after part, which is the same order.
 * Reads the cpu blocks (span ids from thread_spans' span pass: batchSpans) and the log blocks'
 * instants. `read`: `rows`, the rows scanned since the last garbage collection
 * (COLLECT_EVERY_ROWS), and `scanned`, all rows scanned, both carried from call to call.
 */
async function bindProcesses(
  engine: Engine,
  peers: IngestPeer[],
  ops: OpTable,
  keys: FlowKeys,
  table: EdgeTable,
  shared: Map<string, unknown> | undefined,
  read: { rows: number; scanned: number },
): Promise<void> {
  const inputs: MaterializeInput[] = peers.map((peer) => ({
    engine,
    process: peer.process,
    streams: peer.cpuStreams,
    blocks: peer.cpuBlocks,
    outPath: "",
    ...(shared ? { shared } : {}),
  }));
  const sortedStreams = (input: MaterializeInput) =>
    [...input.streams].sort((a, b) => Buffer.compare(Buffer.from(a.streamId), Buffer.from(b.streamId)));
  let passSrc: BlockRelation | null = null;
  let spansOf: (SpanArrays | null)[];
  if (inputs.length === 1) {
    const pass = await spanPass(inputs[0] as MaterializeInput);
    passSrc = pass?.src ?? null;
    spansOf = [pass?.spans ?? null];
  } else spansOf = await batchSpans(inputs);
  const all = combineInputs(inputs, sortedStreams);
  const { streams } = all.input;
  const src = passSrc ?? blockRelation(all.input);
  const logBlocks = peers.flatMap((p) => p.logBlocks);
  const logList = `[${logBlocks.map((b) => sqlString(b.path)).join(", ")}]::VARCHAR[]`;
  const logs = logBlocks.length > 0;
  const probe = await engine.rows<{ cpu: boolean; log: boolean; base: bigint | null }>(
    `SELECT EXISTS (SELECT 1 FROM (${src.sql}) WHERE ph IN ('s', 't', 'f') OR bind_id IS NOT NULL) AS cpu,
       ${logs ? `EXISTS (SELECT 1 FROM read_parquet(${logList}) WHERE bind_id IS NOT NULL)` : "false"} AS log,
       least((SELECT epoch_ns(min(time)) FROM (${src.sql})) ${logs ? `, (SELECT epoch_ns(min(time)) FROM read_parquet(${logList}))` : ""}) AS base`,
  );
  const pr = probe[0];
  if (!pr || (!pr.cpu && !pr.log) || pr.base === null) return;
  const base = pr.base;
  /** A time of the scan (ns from base) as its words. */
  const at = new TimeWords(base);
  if (logs) {
    await engine.run(`CREATE OR REPLACE TABLE ${STREAM_TIDS}(px INTEGER, sx INTEGER, tid VARCHAR)`);
    await engine.append(
      STREAM_TIDS.slice(STREAM_TIDS.lastIndexOf(".") + 1),
      streams.map((s, i) => [BigInt(all.streamPx[i] as number), BigInt(i), s.tid]),
      "memory",
    );
  }
  // By stream, and by log block, its process's index px (SQL lists indexed by sx, file_index).
  const streamPx = `[${all.streamPx.join(", ")}]::INTEGER[]`;
  const logPx = `[${peers.flatMap((p, px) => p.logBlocks.map(() => px)).join(", ")}]::INTEGER[]`;
  // One process's threads are bound in parts (its span pass's), each part's scan sorted alone:
  // part p takes the threads th in [parts[p].firstSx, parts[p + 1].firstSx) (px is 0), so that
  // an instant's thread (one with no cpu stream: 2^40 + a hash) falls in exactly one.
  const parts: ThreadPart[] =
    inputs.length === 1
      ? threadParts(all.input, passParts.maxEvents)
      : [{ sql: src.sql, firstSx: 0, endSx: streams.length }];
  const logRows = fillTemplate(LOG_ROWS, { list: logList, px: logPx });
  if (logs && parts.length > 1) await engine.run(`CREATE OR REPLACE TABLE ${LOG_TABLE} AS ${logRows}`);
  const scanSql = (p: number): string => {
    const part = parts[p] as ThreadPart;
    const bounds = [
      ...(p > 0 ? [`th >= ${part.firstSx}`] : []),
      ...(p < parts.length - 1 ? [`th < ${(parts[p + 1] as ThreadPart).firstSx}`] : []),
    ];
    return fillTemplate(SCAN, {
      src: part.sql,
      px: streamPx,
      logs: logs ? fillTemplate(LOGS, { rows: parts.length > 1 ? `SELECT * FROM ${LOG_TABLE}` : logRows }) : "",
      base: `${base}`,
      where: bounds.length > 0 ? `WHERE ${bounds.join(" AND ")}` : "",
    });
  };
  const { dict, ends } = table;
  /** Slice and instant names by name key (SCAN's nk), as dictionary indexes. */
  const names = new Map<number, number>();
  /** v1 flow events' names and categories by their `nk`, as dictionary indexes (name, category). */
  const v1Names = new Map<number, [number, number]>();
  const nameRows = await engine.rows<{ v1: boolean; nk: number; name: string | null; cat: string | null }>(
    fillTemplate(NAMES, { src: src.sql, logs: logs ? fillTemplate(LOG_NAMES, { list: logList }) : "" }),
  );
  for (const r of nameRows) {
    if (!r.v1) {
      if (!names.has(r.nk)) names.set(r.nk, dict.of(r.name));
    } else if (!v1Names.has(r.nk)) v1Names.set(r.nk, [dict.of(r.name), dict.of(r.cat)]);
  }
  let cur = await ChunkCursor.open(engine, scanSql(0));
  /** Row i's `tx` array (SCAN; a `tj` 0 row's bind_id as TX_BIND). */
  const texts = (i: number): (string | null)[] => {
    if (cur.num<Int8Array>(12)[i] === 1) return JSON.parse(cur.text(13, i) as string) as (string | null)[];
    const bind = cur.text(13, i);
    return [null, bind, null, null];
  };
  // By process (px): its thread names by tid (an instant's thread name), its id, whether it is
  // Chrome JSON, and the pos of its first row in `src` (spans index rows by their process's pos).
  const threadNamesOf = peers.map((peer) => {
    const m = new Map<string, string | null>();
    for (const s of peer.cpuStreams) if (s.tid !== null && !m.has(s.tid)) m.set(s.tid, s.threadName);
    return m;
  });
  const processIxOf = peers.map((peer) => dict.of(peer.process.processId));
  const chromeJsonOf = peers.map((peer) => peer.traceFormat === "chrome_json");
  const posStartOf: number[] = [];
  let block = 0;
  for (const peer of peers) {
    posStartOf.push(block < src.offsets.length ? (src.offsets[block] as number) : src.rowCount);
    block += peer.cpuBlocks.length;
  }
  const streamIx = streams.map((s) => dict.of(s.streamId));
  const streamThreadIx = streams.map((s) => dict.of(s.threadName));
  // The current process and thread, and the thread's stack (trace_processor's slice stack), one
  // array per field: begin and end (ns from base; end = Infinity for an open B), duration (-1 for
  // a B), thread_spans id (-1 for an instant), name key, stream index, and the entry's end
  // (EndTable number, -1 until an operation first names it). `pending`: the keys, names and
  // categories of the `f` events waiting for the thread's next slice.
  let px = -1;
  let threadNames = threadNamesOf[0] as Map<string, string | null>;
  let processIx = -1;
  let chromeJson = false;
  let spans: SpanArrays | null = null;
  let posStart = 0;
  let tk = Number.NaN;
  /** The thread's tid, and the thread name an instant of it takes, as dictionary indexes. */
  let tidIx = -1;
  let instantThreadIx = -1;
  const sT: number[] = [];
  const sEnd: number[] = [];
  const sDur: number[] = [];
  const sId: number[] = [];
  const sNk: number[] = [];
  const sSx: number[] = [];
  const sRef: number[] = [];
  let top = 0;
  const pending: number[] = [];
  /** The operation's number in its process. */
  let n = 0;
  /** A new end: a span of stream sx (its thread_spans number `id`), or an instant (id < 0). */
  const refOf = (t: number, id: number, nk: number, sx: number, kind: number): number => {
    const instant = id < 0;
    const stream = instant ? -1 : (streamIx[sx] ?? -1);
    const thread = instant ? instantThreadIx : (streamThreadIx[sx] ?? -1);
    const name = names.get(nk) ?? -1;
    return ends.add(kind, processIx, stream, tidIx, thread, instant ? -1 : id, name, at.high(t), at.low(t));
  };
  /** The end of stack entry j. */
  const refAt = (j: number): number => {
    let r = sRef[j] as number;
    if (r < 0) {
      const id = sId[j] as number;
      r = refOf(sT[j] as number, id, sNk[j] as number, sSx[j] as number, id < 0 ? KIND_INSTANT : KIND_SPAN);
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
  /**
   * Adds the operations of row i's flow v2 event (flowOps), at its time (ns from base) and q:
   * on `own` and, for Chrome JSON (`json`), the thread's top slice `topRef`.
   */
  const v2 = (i: number, topRef: number, own: number, json: boolean, t: number, q: number): void => {
    const tx = texts(i);
    const hi = at.high(t);
    const lo = at.low(t);
    const fin = cur.num<Int8Array>(8)[i] === 1;
    const fout = cur.num<Int8Array>(9)[i] === 1;
    flowOps(
      json,
      tx[TX_BIND] as string,
      fin,
      fout,
      tx[TX_MANY_OUT] ?? null,
      tx[TX_MANY_IN] ?? null,
      topRef,
      own,
      (id, op, ref) => {
        ops.push(keys.v2(id), op, ref, hi, lo, q, n++, -1, -1);
      },
    );
  };
  try {
    for (let p = 0; ; ) {
      while (await cur.next()) {
        read.rows += cur.rowCount;
        read.scanned += cur.rowCount;
        if (read.rows >= COLLECT_EVERY_ROWS) {
          read.rows = 0;
          Bun.gc(true);
        }
        const tkA = cur.num<Float64Array>(0);
        const tA = cur.num<Float64Array>(1);
        const kA = cur.num<Int8Array>(2);
        const dA = cur.num<Float64Array>(3);
        const qA = cur.num<Float64Array>(4);
        const posA = cur.num<Int32Array>(5);
        const nkA = cur.num<Float64Array>(6);
        const bpA = cur.num<Int8Array>(7);
        const hbA = cur.num<Int8Array>(10);
        const sxA = cur.num<Int32Array>(11);
        for (let i = 0; i < cur.rowCount; i++) {
          if (tkA[i] !== tk) {
            tk = tkA[i] as number;
            const tpx = Math.floor(tk / PX_TH);
            if (tpx !== px) {
              px = tpx;
              threadNames = threadNamesOf[px] as Map<string, string | null>;
              processIx = processIxOf[px] as number;
              chromeJson = chromeJsonOf[px] as boolean;
              spans = spansOf[px] ?? null;
              posStart = posStartOf[px] as number;
              n = 0;
            }
            // The thread's number: its cpu stream's index, or an instant's tid no stream has.
            const thn = tk - px * PX_TH;
            const tid =
              thn < NO_STREAM ? (streams[thn]?.tid ?? null) : ((texts(i)[TX_TID] as string | undefined) ?? null);
            tidIx = dict.of(tid);
            instantThreadIx = dict.of(threadNames.get(tid ?? "") ?? null);
            top = 0;
            pending.length = 0;
          }
          const k = kA[i] as number;
          const t = tA[i] as number;
          const q = qA[i] as number;
          if (k === K_X || k === K_B || k === K_I) {
            const nk = nkA[i] as number;
            const dur = k === K_B ? -1 : (dA[i] as number);
            closeUntil(t, dur);
            const id = k === K_I || spans === null ? -1 : (spans.idOf[(posA[i] as number) - posStart] as number);
            const sx = sxA[i] as number;
            // An X that trace_processor spills onto an overflow track is not on this stack.
            const spilled = k === K_X && spans !== null && spans.anomaly[id] === A_OVERLAP;
            if (!spilled) {
              sT[top] = t;
              sEnd[top] = k === K_B ? Number.POSITIVE_INFINITY : t + dur;
              sDur[top] = dur;
              sId[top] = id;
              sNk[top] = nk;
              sSx[top] = sx;
              sRef[top] = -1;
              top++;
              if (pending.length > 0) {
                const ref = refAt(top - 1);
                const hi = at.high(t);
                const lo = at.low(t);
                for (let p = 0; p < pending.length; p += 3) {
                  ops.push(
                    pending[p] as number,
                    OP_PENDING,
                    ref,
                    hi,
                    lo,
                    q,
                    n++,
                    pending[p + 1] as number,
                    pending[p + 2] as number,
                  );
                }
                pending.length = 0;
              }
            }
            if (hbA[i] === 1) {
              const own = spilled ? refOf(t, id, nk, sx, KIND_SPAN) : refAt(top - 1);
              const topRef = chromeJson && top > 0 ? refAt(top - 1) : -1;
              v2(i, topRef, own, chromeJson, t, q);
            }
            continue;
          }
          if (k === K_E) {
            closeUntil(t, -1);
            let j = top - 1;
            while (j >= 0 && sEnd[j] !== Number.POSITIVE_INFINITY) j--;
            if (j < 0) continue;
            const closed = hbA[i] === 1 && !chromeJson ? ends.copyAs(refAt(j), KIND_SPAN_END) : -1;
            // The closed B leaves the stack (entries above it, X spans that outlive it, stay).
            for (let m = j; m < top - 1; m++) {
              sT[m] = sT[m + 1] as number;
              sEnd[m] = sEnd[m + 1] as number;
              sDur[m] = sDur[m + 1] as number;
              sId[m] = sId[m + 1] as number;
              sNk[m] = sNk[m + 1] as number;
              sSx[m] = sSx[m + 1] as number;
              sRef[m] = sRef[m + 1] as number;
            }
            top--;
            if (closed >= 0) v2(i, closed, closed, false, t, q);
            continue;
          }
          // Flow v1.
          const key = keys.v1((posA[i] as number) + 2147483648, dA[i] as number);
          const [fname, fcat] = v1Names.get(nkA[i] as number) ?? NO_NAMES;
          if (k === K_F && bpA[i] !== 1) {
            pending.push(key, fname, fcat);
            continue;
          }
          if (top === 0) continue;
          const op = k === K_S ? OP_BEGIN : k === K_T ? OP_STEP : OP_END;
          ops.push(key, op, refAt(top - 1), at.high(t), at.low(t), q, n++, fname, fcat);
        }
      }
      if (++p >= parts.length) break;
      cur.close();
      releaseWhenLarge();
      cur = await ChunkCursor.open(engine, scanSql(p));
    }
  } finally {
    cur.close();
    if (logs) await engine.run(`DROP TABLE IF EXISTS ${STREAM_TIDS}; DROP TABLE IF EXISTS ${LOG_TABLE}`);
  }
}

/**
 * The operations of a flow v2 event, given to `add` (flow id text, OP_*, end): Chrome JSON
 * (`chromeJson`) on the thread's top slice `topRef` (flow_out begins, both step, flow_in ends
 * without closing; legacy Perfetto ids in `0x` hex the same), Perfetto flow ids on the event's
 * own slice `own` (flow_ids: OP_OUT, terminating_flow_ids: end and close). Ends are EndTable
 * numbers (-1: none).
 */
function flowOps(
  chromeJson: boolean,
  bind: string,
  fin: boolean,
  fout: boolean,
  manyOut: string | null,
  manyIn: string | null,
  topRef: number,
  own: number,
  add: (id: string, op: number, ref: number) => void,
): void {
  const idOf = (x: string): string => numericId(x) ?? `h${x}`;
  const legacy = !chromeJson && bind.startsWith("0x");
  if (chromeJson || legacy) {
    const ref = chromeJson ? topRef : own;
    if (ref < 0) return;
    add(idOf(bind), fin && fout ? OP_STEP : fout ? OP_BEGIN : OP_END, ref);
    return;
  }
  const outs = idTexts(manyOut);
  const ins = idTexts(manyIn);
  if ((outs !== null || ins !== null) && (outs ?? ins ?? [])[0] === bind) {
    for (const x of outs ?? []) add(idOf(x), OP_OUT, own);
    for (const x of ins ?? []) add(idOf(x), OP_END_CLOSE, own);
  } else add(idOf(bind), fout ? OP_OUT : OP_END_CLOSE, own);
}
