/**
 * thread_spans' materializeMany (lib/views/thread_spans.ts): the JIT builds the partitions of
 * small processes in batches, one stack pass and one SELECT for several processes. Each file
 * must hold exactly the rows, in the same order, that the one-process build writes (the
 * oracle: the same lake's partitions rebuilt one process at a time), each process's span ids
 * must number its own spans from 0 (checked against DuckDB's hash of (process, n) for every n),
 * and a batch whose processes lie days apart, or whose pass cannot be exact, still gives each
 * span the input's own times.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Engine } from "../../lib/duck/engine.ts";
import { ingest } from "../../lib/ingest/ingest.ts";
import { Lake } from "../../lib/lake/lake.ts";
import { prepareQuery } from "../../lib/sql/query.ts";
import { threadSpans } from "../../lib/views/thread_spans.ts";
import { tempDir } from "../helpers.ts";
import { partitionRows } from "./partition_rows.ts";

/** A Chrome JSON trace event. */
type Ev = Record<string, unknown>;

/** ts of trace 2's events: 3 days after trace 1's (µs), so that the two do not share a batch. */
const DAYS_3_US = 3 * 86_400_000_000;

/**
 * Processes 1–4 with two threads each (nested B/E, X, ties at one time, an unclosed B, an E
 * without B, an X that does not nest), process 5 with no span at all, process 6 with more
 * events than the test's batch limit (built alone), and process 7 whose cpu stream starts with
 * a flow event at ts 0 before spans on the Unix epoch clock (a batch with it cannot be exact).
 */
function events(shift: number): Ev[] {
  const ev: Ev[] = [];
  for (let pid = 1; pid <= 4; pid++) {
    for (const tid of [pid * 10, pid * 10 + 1]) {
      const t = shift + pid * 1000 + tid;
      ev.push({ ph: "M", pid, tid, name: "thread_name", args: { name: `t${tid}` } });
      ev.push({ ph: "B", pid, tid, ts: t, name: "outer", cat: "c" });
      ev.push({ ph: "X", pid, tid, ts: t + 1, dur: 5, name: "x1", cat: "c", args: { n: pid } });
      ev.push({ ph: "X", pid, tid, ts: t + 1, dur: 2, name: "x2", cat: "c" });
      ev.push({ ph: "X", pid, tid, ts: t + 4, dur: 9, name: "spill", cat: "c" });
      ev.push({ ph: "B", pid, tid, ts: t + 20, name: "tie", cat: "c" });
      ev.push({ ph: "X", pid, tid, ts: t + 20, dur: 0, name: "zero", cat: "c" });
      ev.push({ ph: "E", pid, tid, ts: t + 30 });
      ev.push({ ph: "E", pid, tid, ts: t + 40 });
      ev.push({ ph: "E", pid, tid, ts: t + 41 });
      ev.push({ ph: "B", pid, tid, ts: t + 50, name: "unclosed", cat: "c" });
      ev.push({ ph: "X", pid, tid, ts: t + 60, dur: 1, name: "last", cat: "c" });
    }
    // A flow from the first thread (inside x1 and x2) into the second (at the tie slice).
    const t = shift + pid * 1000;
    ev.push({ ph: "s", pid, tid: pid * 10, ts: t + pid * 10 + 2, id: pid, name: "fl", cat: "c" });
    ev.push({ ph: "f", bp: "e", pid, tid: pid * 10 + 1, ts: t + pid * 10 + 1 + 25, id: pid, name: "fl", cat: "c" });
  }
  ev.push({ ph: "M", pid: 5, tid: 50, name: "thread_name", args: { name: "idle" } });
  ev.push({ ph: "C", pid: 5, tid: 50, ts: shift + 5000, name: "counter", args: { v: 1 } });
  for (let k = 0; k < 60; k++)
    ev.push({ ph: "X", pid: 6, tid: 60, ts: shift + 6000 + k * 10, dur: 5, name: `big${k}` });
  return ev;
}

/** Process 7 of trace 1 (see `events`): its expected spans are the input's own times. */
const EPOCH_EVENTS: Ev[] = [
  { ph: "s", pid: 7, tid: 70, ts: 0, id: 7, name: "flow", cat: "c" },
  { ph: "X", pid: 7, tid: 70, ts: 1700000000000001, dur: 3, name: "a", cat: "c" },
  { ph: "B", pid: 7, tid: 70, ts: 1700000000000005, name: "b", cat: "c" },
  { ph: "E", pid: 7, tid: 70, ts: 1700000000000007 },
];

describe("thread_spans built several processes at once", () => {
  let engine: Engine;
  let lake: Lake;
  let batched: Map<string, string[]>;
  let batchedFlows: Map<string, string[]>;
  let batches = 0;
  const limit = threadSpans.manyMaxEvents;
  beforeAll(async () => {
    const dir = tempDir("tl-many-");
    const one = join(dir, "one.json");
    const two = join(dir, "two.json");
    writeFileSync(one, JSON.stringify({ traceEvents: [...events(0), ...EPOCH_EVENTS] }));
    writeFileSync(two, JSON.stringify({ traceEvents: events(DAYS_3_US) }));
    engine = await Engine.open({ threads: 2 });
    lake = await Lake.open(engine, join(dir, "lake"));
    await ingest(engine, lake, one);
    await ingest(engine, lake, two);
    // Processes 1–5 and 7 go to materializeMany; process 6 (60 events) is built alone. Trace 1's
    // batch holds process 7, so its pass is inexact and each is built alone; trace 2's is one batch.
    threadSpans.manyMaxEvents = 40;
    const run = engine.run.bind(engine);
    engine.run = async (sql, params) => {
      if (sql.includes("tl_spans_batch AS")) batches++;
      return run(sql, params);
    };
    try {
      // flows in the same run: it takes each batched process's pass from the batch.
      await prepareQuery(engine, lake, "SELECT (SELECT count(*) FROM thread_spans) + (SELECT count(*) FROM flows)");
    } finally {
      threadSpans.manyMaxEvents = limit;
      engine.run = run;
    }
    batched = await partitionRows(engine, lake.root, "thread_spans");
    batchedFlows = await partitionRows(engine, lake.root, "flows");
  });
  afterAll(() => engine.close());

  test("each process numbers its spans from 0", async () => {
    await prepareQuery(engine, lake, "SELECT 1");
    const bad = await engine.rows<{ process_id: string; n: bigint }>(
      `WITH s AS (SELECT process_id, id, parent FROM thread_spans),
         want AS (SELECT process_id, (hash('thread_span', process_id, n::BIGINT) >> 1)::BIGINT AS id
                  FROM (SELECT process_id, count(*) AS c FROM s GROUP BY ALL), range(c) r(n))
       SELECT process_id, count(*) AS n FROM (
         (SELECT process_id, id FROM s EXCEPT ALL SELECT process_id, id FROM want)
         UNION ALL (SELECT process_id, id FROM want EXCEPT ALL SELECT process_id, id FROM s))
       GROUP BY ALL`,
    );
    expect(bad).toEqual([]);
    const orphans = await engine.rows<{ n: bigint }>(
      "SELECT count(*) AS n FROM thread_spans c WHERE parent <> -1 AND parent NOT IN (SELECT id FROM thread_spans p WHERE p.process_id = c.process_id)",
    );
    expect(orphans).toEqual([{ n: 0n }]);
  });

  test("every file holds the rows, in order, of the one-process build", async () => {
    // 2 × (4 + big) + the epoch process; process 5 has no span (no file).
    expect(batched.size).toBe(11);
    expect(batches).toBe(1);
    // The oracle: delete the files and let the JIT rebuild each process alone.
    const files = await engine.rows<{ f: string }>(
      "SELECT file_path AS f FROM list_partitions() WHERE view_set_name = 'thread_spans' AND file_path IS NOT NULL",
    );
    for (const f of files) rmSync(join(lake.root, f.f));
    threadSpans.manyMaxEvents = 0;
    try {
      await prepareQuery(engine, lake, "SELECT count(*) FROM thread_spans");
    } finally {
      threadSpans.manyMaxEvents = limit;
    }
    const single = await partitionRows(engine, lake.root, "thread_spans");
    expect(single.size).toBe(batched.size);
    for (const [id, rows] of batched) expect(rows).toEqual(single.get(id) as string[]);
  });

  test("spans keep the input's times in a trace 3 days later and beside an inexact pass", async () => {
    const rows = await engine.rows<{ name: string; b: bigint; e: bigint; n: bigint }>(
      `SELECT name, epoch_ns(min("begin")) AS b, epoch_ns(max("end")) AS e, count(*) AS n FROM thread_spans
       WHERE name IN ('outer', 'a', 'b') GROUP BY name ORDER BY name`,
    );
    // outer: pids 1–4 × 2 threads × 2 traces; the first begins at 1000 + 10 µs, the last ends at
    // 3 days + 4000 + 41 + 40 µs.
    expect(rows).toEqual([
      { name: "a", b: 1700000000000001000n, e: 1700000000000004000n, n: 1n },
      { name: "b", b: 1700000000000005000n, e: 1700000000000007000n, n: 1n },
      { name: "outer", b: 1_010_000n, e: BigInt(DAYS_3_US + 4041 + 40) * 1000n, n: 16n },
    ]);
  });
  test("flows built in the same run bind to the batch's spans as a flows-only build does", async () => {
    // One edge per process 1–4 of each trace: from x2 (the top of the stack at the s, inside x1)
    // to zero (the top at the f, ended but not yet popped: flows.test.ts's first rule).
    const sql = `SELECT count(*) AS n FROM flows WHERE out_name = 'x2' AND in_name = 'zero'
      AND out_id IN (SELECT id FROM thread_spans WHERE name = 'x2') AND in_id IN (SELECT id FROM thread_spans WHERE name = 'zero')`;
    await prepareQuery(engine, lake, sql);
    expect(await engine.rows(sql)).toEqual([{ n: 8n }]);
    const files = await engine.rows<{ f: string }>(
      "SELECT file_path AS f FROM list_partitions() WHERE view_set_name = 'flows' AND file_path IS NOT NULL",
    );
    for (const f of files) rmSync(join(lake.root, f.f));
    await prepareQuery(engine, lake, "SELECT count(*) FROM flows");
    const alone = await partitionRows(engine, lake.root, "flows");
    expect(alone.size).toBe(batchedFlows.size);
    for (const [id, rows] of batchedFlows) expect(rows).toEqual(alone.get(id) as string[]);
  });
});
