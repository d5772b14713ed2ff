/**
 * The async_events partition file itself: its column types are the view set's declared ones;
 * it holds every async event of the raw blocks once and in (time, input order) order, across
 * blocks of several threads and many DuckDB vectors; hostile names (SQL-like, placeholder-like,
 * quotes) in thread names, categories, ids and lake paths come back unchanged; spans are paired
 * and nested as built into the input. The materialization builds its SQL from templates and
 * reads the pairing pass's results through a scalar function by row position; each check fails
 * if one of those leaks into the file or a result lands on the wrong row.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Engine, sqlString } from "../../lib/duck/engine.ts";
import { ingest } from "../../lib/ingest/ingest.ts";
import { Lake } from "../../lib/lake/lake.ts";
import { prepareQuery } from "../../lib/sql/query.ts";
import { asyncEvents } from "../../lib/views/async_events.ts";
import { tempDir } from "../helpers.ts";

const HOSTILE = ["$src", "$process", "$streams_id", "it's'; DROP TABLE x; --", "ENUM('b')", "名前 🧵", "'"];
/** Groups of generated nested spans (5 events each, spread over 3 threads). */
const GROUPS = 3000;
const THREADS = ["gen0", "gen1", "gen2"];

/**
 * Per hostile name: a thread of that name whose b/n/e events have it as name, category, id and
 * scope. Then GROUPS groups g at ts 1000 + 10g: outer `o<g>` (b), inner `i<g>` (b), instant
 * `m<g>`, inner end, outer end, on key (gen, k<g % 5>), each event on another thread; every
 * 50th group also has an end `stray<g>` that matches nothing and a begin `leak<g>` on a key of
 * its own that is never ended. Last, five instants at one time on one thread, in array order,
 * and ends and begins at equal times on two threads.
 */
function trace(): Record<string, unknown>[] {
  const ev: Record<string, unknown>[] = [];
  HOSTILE.forEach((h, i) => {
    const tid = `${h}#${i}`;
    ev.push({ ph: "M", pid: 7, tid, name: "thread_name", args: { name: h } });
    const common = { pid: 7, tid, cat: h, id: h, scope: h, name: h };
    ev.push({ ph: "b", ts: 10 + i, ...common, args: { src_file: h, src_line: i } });
    ev.push({ ph: "n", ts: 11 + i, ...common });
    ev.push({ ph: "e", ts: 20 + i, ...common });
  });
  for (const t of THREADS) ev.push({ ph: "M", pid: 7, tid: t, name: "thread_name", args: { name: t } });
  for (let g = 0; g < GROUPS; g++) {
    const ts = 1000 + 10 * g;
    const on = (k: number) => THREADS[(g + k) % THREADS.length];
    const key = { pid: 7, cat: "gen", id: `k${g % 5}` };
    ev.push({ ph: "b", ts, tid: on(0), name: `o${g}`, ...key });
    ev.push({ ph: "b", ts: ts + 1, tid: on(1), name: `i${g}`, ...key });
    ev.push({ ph: "n", ts: ts + 2, tid: on(2), name: `m${g}`, ...key });
    ev.push({ ph: "e", ts: ts + 3, tid: on(0), name: `i${g}`, ...key });
    ev.push({ ph: "e", ts: ts + 4, tid: on(1), name: `o${g}`, ...key });
    if (g % 50 === 0) {
      ev.push({ ph: "e", ts: ts + 5, tid: on(2), name: `stray${g}`, ...key });
      ev.push({ ph: "b", ts: ts + 5, tid: on(2), name: `leak${g}`, pid: 7, cat: "gen", id: `leak${g}` });
    }
  }
  for (let k = 0; k < 5; k++) {
    ev.push({ ph: "n", ts: 50_000_000, pid: 7, tid: "gen0", cat: "tie", id: "t", name: `t${k}` });
  }
  // Equal times on two threads: an end written before its begin at T0, and the same at T1 with
  // the threads swapped. Ties are taken in input order (seq), as trace_processor's sorter keeps
  // equal timestamps in parse order, whatever the order of the two threads' blocks: both ends
  // come before their begins, so both are unmatched ends and both begins unclosed.
  const tie = (ph: string, tid: string, ts: number, name: string) =>
    ev.push({ ph, ts, pid: 7, tid, cat: "tie2", id: "u", name });
  tie("e", "gen1", 60_000_000, "x");
  tie("b", "gen2", 60_000_000, "x");
  tie("e", "gen2", 60_000_001, "y");
  tie("b", "gen1", 60_000_001, "y");
  return ev;
}

describe("async_events partition file", () => {
  let engine: Engine;
  let file: string;
  beforeAll(async () => {
    const dir = tempDir();
    const path = join(dir, "hostile.json");
    writeFileSync(path, JSON.stringify({ traceEvents: trace() }));
    engine = await Engine.open({ threads: 2 });
    // The block paths go into the SQL too: a lake directory with placeholder-like text and a quote.
    const lake = await Lake.open(engine, join(dir, "lake $src $process 'q"));
    await ingest(engine, lake, path);
    await prepareQuery(engine, lake, "SELECT count(*) FROM async_events, raw_events, blocks");
    const rows = await engine.rows<{ f: string }>(
      "SELECT file_path AS f FROM list_partitions() WHERE view_set_name = 'async_events' AND file_path IS NOT NULL",
    );
    expect(rows.length).toBe(1);
    file = sqlString(join(lake.root, (rows[0] as { f: string }).f));
  });
  afterAll(() => engine.close());

  test("has the declared column names and types", async () => {
    const d = await engine.rowsJson<{ column_name: string; column_type: string }>(
      `DESCRIBE SELECT * FROM read_parquet(${file})`,
    );
    expect(d.map((c) => [c.column_name, c.column_type])).toEqual(asyncEvents.columns.map((c) => [c.name, c.type]));
  });

  test("holds every async raw event once, in (time, seq) order, spread over several blocks", async () => {
    const blocks = await engine.rows<{ n: bigint }>(
      "SELECT count(DISTINCT block_id) AS n FROM raw_events WHERE ph IN ('b', 'e', 'n')",
    );
    expect(Number(blocks[0]?.n)).toBeGreaterThanOrEqual(THREADS.length + HOSTILE.length);
    // Oracle: the raw events in time order, then input order (seq; then the blocks' order).
    const cols = `stream_id, epoch_ns(time) AS t, name, target, async_id, id_scope, scope, phase, properties::VARCHAR AS p`;
    const want = await engine.rows<Record<string, unknown>>(
      `SELECT ${cols} FROM (SELECT r.stream_id, r.time, r.name, r.cat AS target, r.id AS async_id, r.id_scope, r.scope,
           r.ph AS phase, r.args AS properties
         FROM raw_events r JOIN blocks b USING (block_id)
         WHERE r.ph IN ('b', 'e', 'n', 'S', 'T', 'p', 'F')
         ORDER BY r.time, r.seq, b.insert_time, r.block_id)`,
    );
    const got = await engine.rows<Record<string, unknown>>(
      `SELECT ${cols} FROM read_parquet(${file}, file_row_number = true) ORDER BY file_row_number`,
    );
    expect(got.length).toBe(HOSTILE.length * 3 + GROUPS * 5 + (GROUPS / 50) * 2 + 5 + 4);
    expect(got).toEqual(want);
    // Equal times on one thread keep the array order.
    expect(got.filter((r) => r.target === "tie").map((r) => r.name)).toEqual(["t0", "t1", "t2", "t3", "t4"]);
  });

  test("keeps hostile thread names, categories, ids and scopes, with the begin and end of each paired", async () => {
    const rows = await engine.rows<{ h: string; n: bigint; spans: bigint; types: string; file: string; line: number }>(
      `SELECT thread_name AS h, count(*) AS n, count(DISTINCT span_id) FILTER (WHERE event_type <> 'instant') AS spans,
         string_agg(event_type, ',' ORDER BY time) AS types, min(filename) AS file, min(line) AS line
       FROM read_parquet(${file})
       WHERE thread_name = name AND thread_name = target AND thread_name = async_id AND thread_name = scope
         AND anomaly IS NULL
       GROUP BY ALL ORDER BY ALL`,
    );
    const want = HOSTILE.map((h, i) => ({ h, n: 3n, spans: 1n, types: "begin,instant,end", file: h, line: i })).sort(
      (a, b) => Buffer.compare(Buffer.from(a.h), Buffer.from(b.h)),
    );
    expect(rows).toEqual(want);
  });

  test("pairs and nests spans across threads as built into the input; unmatched and unclosed kept", async () => {
    // Oracle by construction: per group, outer at depth 0 under nothing, inner under outer,
    // the instant under inner; a begin and its end share one span_id.
    const bad = await engine.rows<{ g: bigint; why: string }>(
      `WITH a AS (SELECT * FROM read_parquet(${file}) WHERE target = 'gen'),
       g AS (SELECT i AS g FROM range(${GROUPS}) r(i)),
       one AS (SELECT g.g,
           (SELECT list(struct_pack(t := event_type, s := span_id, p := parent_span_id, d := depth, x := anomaly)) FROM a WHERE name = 'o' || g.g) AS o,
           (SELECT list(struct_pack(t := event_type, s := span_id, p := parent_span_id, d := depth, x := anomaly)) FROM a WHERE name = 'i' || g.g) AS i,
           (SELECT list(struct_pack(t := event_type, s := span_id, p := parent_span_id, d := depth, x := anomaly)) FROM a WHERE name = 'm' || g.g) AS m
         FROM g)
       SELECT g, CASE
           WHEN coalesce(len(o), 0) <> 2 OR coalesce(len(i), 0) <> 2 OR coalesce(len(m), 0) <> 1 THEN 'count'
           WHEN list_sort([o[1].t, o[2].t]) <> ['begin', 'end'] OR list_sort([i[1].t, i[2].t]) <> ['begin', 'end'] THEN 'types'
           WHEN o[1].s <> o[2].s OR i[1].s <> i[2].s THEN 'pair'
           WHEN o[1].p <> -1 OR o[1].d <> 0 OR o[2].p <> -1 OR o[2].d <> 0 THEN 'outer'
           WHEN i[1].p <> o[1].s OR i[1].d <> 1 OR i[2].p <> o[1].s OR i[2].d <> 1 THEN 'inner'
           WHEN m[1].p <> i[1].s OR m[1].d <> 2 OR m[1].t <> 'instant' THEN 'instant'
           WHEN o[1].x IS NOT NULL OR o[2].x IS NOT NULL OR i[1].x IS NOT NULL OR i[2].x IS NOT NULL OR m[1].x IS NOT NULL THEN 'anomaly'
         END AS why
       FROM one WHERE why IS NOT NULL ORDER BY g LIMIT 5`,
    );
    expect(bad).toEqual([]);
    const odd = await engine.rows<{ name: string; event_type: string; anomaly: string; depth: number; n: bigint }>(
      `SELECT regexp_extract(name, '^[a-z]+') AS name, event_type, anomaly, depth, count(*) AS n
       FROM read_parquet(${file}) WHERE name LIKE 'stray%' OR name LIKE 'leak%' GROUP BY ALL ORDER BY ALL`,
    );
    expect(odd).toEqual([
      { name: "leak", event_type: "begin", anomaly: "unclosed", depth: 0, n: BigInt(GROUPS / 50) },
      { name: "stray", event_type: "end", anomaly: "unmatched", depth: 0, n: BigInt(GROUPS / 50) },
    ]);
    const ids = await engine.rows<{ n: bigint; d: bigint }>(
      `SELECT count(*) AS n, count(DISTINCT span_id) AS d FROM read_parquet(${file}) WHERE event_type = 'begin'`,
    );
    expect(ids[0]?.n).toBe(ids[0]?.d as bigint);
  });

  test("equal times on two threads are paired in input order, not block order", async () => {
    const rows = await engine.rows<{ name: string; spans: bigint; anomalies: (string | null)[] }>(
      `SELECT name, count(DISTINCT span_id) AS spans, list(anomaly ORDER BY anomaly) AS anomalies
       FROM read_parquet(${file}) WHERE target = 'tie2' GROUP BY name ORDER BY spans, name`,
    );
    expect(rows.map((r) => [r.name, r.spans, r.anomalies])).toEqual([
      ["x", 2n, ["unclosed", "unmatched"]],
      ["y", 2n, ["unclosed", "unmatched"]],
    ]);
  });

  test("the pairing pass's scalar function refuses to run outside a materialization", async () => {
    await expect(engine.rows("SELECT tl_async_event(0)")).rejects.toThrow(
      "tl_async_event is internal to the materialization of async_events",
    );
  });
});
