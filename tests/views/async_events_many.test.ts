/**
 * async_events' materializeMany (lib/views/async_events.ts): the JIT pairs the async events of
 * several processes in one pass. Each file must hold exactly the rows, in the same order, that
 * the one-process build writes (the oracle: the same lake's partitions rebuilt one process at a
 * time); an async id used by two processes must not pair across them (the expected anomalies
 * come from the input: a begin in one process and an end in the other are 'unclosed' and
 * 'unmatched'); and each process numbers its spans from 0.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Engine } from "../../lib/duck/engine.ts";
import { ingest } from "../../lib/ingest/ingest.ts";
import { Lake } from "../../lib/lake/lake.ts";
import { prepareQuery } from "../../lib/sql/query.ts";
import { asyncEvents } from "../../lib/views/async_events.ts";
import { tempDir } from "../helpers.ts";
import { partitionRows } from "./partition_rows.ts";

/** A Chrome JSON trace event. */
type Ev = Record<string, unknown>;

/**
 * Processes 1–4, two threads each: nested async spans (b/e), an instant (n), legacy S/T/F, an
 * end without begin; processes 5 and 6 share an async id: 5 begins it, 6 ends it; process 7 has
 * more events than the test's batch limit (built alone).
 */
function events(): Ev[] {
  const ev: Ev[] = [];
  for (let pid = 1; pid <= 4; pid++) {
    for (const tid of [pid * 10, pid * 10 + 1]) {
      const t = pid * 1000 + tid;
      const a = { pid, tid, cat: "c", id: `0x${tid}` };
      ev.push({ ph: "b", ts: t, name: "outer", ...a });
      ev.push({ ph: "b", ts: t + 1, name: "inner", ...a });
      ev.push({ ph: "n", ts: t + 2, name: "mark", ...a });
      ev.push({ ph: "e", ts: t + 3, name: "inner", ...a });
      ev.push({ ph: "e", ts: t + 9, name: "outer", ...a });
      ev.push({ ph: "S", ts: t + 10, name: "legacy", ...a, id: "7" });
      ev.push({ ph: "T", ts: t + 11, name: "legacy", ...a, id: "7", args: { step: "s1" } });
      ev.push({ ph: "F", ts: t + 12, name: "legacy", ...a, id: "7" });
      ev.push({ ph: "e", ts: t + 13, name: "stray", ...a, id: "99" });
    }
  }
  ev.push({ ph: "b", pid: 5, tid: 50, ts: 5000, name: "shared", cat: "c", id: "0x1" });
  ev.push({ ph: "e", pid: 6, tid: 60, ts: 5001, name: "shared", cat: "c", id: "0x1" });
  for (let k = 0; k < 30; k++) {
    ev.push({ ph: "b", pid: 7, tid: 70, ts: 7000 + k * 10, name: `big${k}`, cat: "c", id: k });
    ev.push({ ph: "e", pid: 7, tid: 70, ts: 7005 + k * 10, name: `big${k}`, cat: "c", id: k });
  }
  return ev;
}

describe("async_events built several processes at once", () => {
  let engine: Engine;
  let lake: Lake;
  let batched: Map<string, string[]>;
  let batches = 0;
  const limit = asyncEvents.manyMaxEvents;
  beforeAll(async () => {
    const dir = tempDir("tl-async-many-");
    const path = join(dir, "trace.json");
    writeFileSync(path, JSON.stringify({ traceEvents: events() }));
    engine = await Engine.open({ threads: 2 });
    lake = await Lake.open(engine, join(dir, "lake"));
    await ingest(engine, lake, path);
    // Processes 1–6 go to materializeMany; process 7 (60 events) is built alone.
    asyncEvents.manyMaxEvents = 40;
    const run = engine.run.bind(engine);
    engine.run = async (sql, params) => {
      if (sql.includes("tl_async_batch AS")) batches++;
      return run(sql, params);
    };
    try {
      await prepareQuery(engine, lake, "SELECT count(*) FROM async_events");
    } finally {
      asyncEvents.manyMaxEvents = limit;
      engine.run = run;
    }
    batched = await partitionRows(engine, lake.root, "async_events");
  });
  afterAll(() => engine.close());

  test("an async id shared by two processes does not pair across them", async () => {
    expect(batches).toBe(1);
    const rows = await engine.rows<{ pid: string; event_type: string; anomaly: string | null; span_id: bigint }>(
      `SELECT p.source_pid AS pid, event_type, anomaly, span_id FROM async_events a JOIN processes p USING (process_id)
       WHERE name = 'shared' ORDER BY pid`,
    );
    expect(rows).toEqual([
      { pid: "5", event_type: "begin", anomaly: "unclosed", span_id: 0n },
      { pid: "6", event_type: "end", anomaly: "unmatched", span_id: 0n },
    ]);
  });

  test("each process numbers its spans from 0", async () => {
    // Per thread of processes 1–4: outer, inner, mark, legacy, stray: 5 span ids; 10 a process.
    const rows = await engine.rows<{ pid: string; ids: bigint; lo: bigint; hi: bigint }>(
      `SELECT p.source_pid AS pid, count(DISTINCT span_id) AS ids, min(span_id) AS lo, max(span_id) AS hi
       FROM async_events a JOIN processes p USING (process_id) WHERE p.source_pid IN ('1', '2', '3', '4')
       GROUP BY ALL ORDER BY pid`,
    );
    expect(rows).toEqual(["1", "2", "3", "4"].map((pid) => ({ pid, ids: 10n, lo: 0n, hi: 9n })));
  });

  test("every file holds the rows, in order, of the one-process build", async () => {
    expect(batched.size).toBe(7);
    const files = await engine.rows<{ f: string }>(
      "SELECT file_path AS f FROM list_partitions() WHERE view_set_name = 'async_events' AND file_path IS NOT NULL",
    );
    for (const f of files) rmSync(join(lake.root, f.f));
    asyncEvents.manyMaxEvents = 0;
    try {
      await prepareQuery(engine, lake, "SELECT count(*) FROM async_events");
    } finally {
      asyncEvents.manyMaxEvents = limit;
    }
    const single = await partitionRows(engine, lake.root, "async_events");
    expect(single.size).toBe(batched.size);
    for (const [id, rows] of batched) expect(rows).toEqual(single.get(id) as string[]);
  });
});
