/**
 * The SQL view sets built several processes at once (lib/views/source_many.ts): each
 * log_entries and measures file must hold exactly the rows, in the same order, that the
 * one-process build writes (the oracle: the same lake's partitions rebuilt one process at a
 * time), and each row must carry its own process's columns (exe from the input's process_name
 * events, process_id from the processes table).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Engine } from "../../lib/duck/engine.ts";
import { ingest } from "../../lib/ingest/ingest.ts";
import { Lake } from "../../lib/lake/lake.ts";
import { prepareQuery } from "../../lib/sql/query.ts";
import { logEntries } from "../../lib/views/log_entries.ts";
import { measures } from "../../lib/views/measures.ts";
import { tempDir } from "../helpers.ts";
import { partitionRows } from "./partition_rows.ts";

/** A Chrome JSON trace event. */
type Ev = Record<string, unknown>;

/** Processes 1–5: a name, instants at equal times on two threads, counters with two keys. */
function events(): Ev[] {
  const ev: Ev[] = [];
  for (let pid = 1; pid <= 5; pid++) {
    ev.push({ ph: "M", pid, tid: 0, name: "process_name", args: { name: `proc ${pid} 'q'` } });
    for (let k = 0; k < 4; k++) {
      const ts = pid * 100 + k;
      ev.push({ ph: "i", pid, tid: pid * 10, ts, name: `mark${k}`, cat: "c", s: "t", args: { k } });
      ev.push({ ph: "I", pid, tid: pid * 10 + 1, ts, name: `other${k}`, cat: "c", s: "p" });
      ev.push({ ph: "C", pid, tid: pid * 10, ts, name: "ctr", args: { a: k, b: pid * k } });
    }
  }
  return ev;
}

describe("log_entries and measures built several processes at once", () => {
  let engine: Engine;
  let lake: Lake;
  const batched = new Map<string, Map<string, string[]>>();
  let batches = 0;
  const SQL = "SELECT (SELECT count(*) FROM log_entries) + (SELECT count(*) FROM measures)";
  beforeAll(async () => {
    const dir = tempDir("tl-sql-many-");
    const path = join(dir, "trace.json");
    writeFileSync(path, JSON.stringify({ traceEvents: events() }));
    engine = await Engine.open({ threads: 2 });
    lake = await Lake.open(engine, join(dir, "lake"));
    await ingest(engine, lake, path);
    const run = engine.run.bind(engine);
    engine.run = async (sql, params) => {
      if (sql.includes("tl_sql_batch AS")) batches++;
      return run(sql, params);
    };
    try {
      await prepareQuery(engine, lake, SQL);
    } finally {
      engine.run = run;
    }
    for (const vs of ["log_entries", "measures"]) batched.set(vs, await partitionRows(engine, lake.root, vs));
  });
  afterAll(() => engine.close());

  test("each row carries its own process's columns", async () => {
    // One batch per view set.
    expect(batches).toBe(2);
    for (const view of ["log_entries", "measures"]) {
      const rows = await engine.rows<{ exe: string; pid: string; n: bigint }>(
        `SELECT v.exe, p.source_pid AS pid, count(*) AS n FROM ${view} v JOIN processes p USING (process_id)
         GROUP BY ALL ORDER BY pid`,
      );
      // log_entries: 8 instants a process; measures: 4 counters × 2 keys.
      expect(rows).toEqual([1, 2, 3, 4, 5].map((pid) => ({ exe: `proc ${pid} 'q'`, pid: `${pid}`, n: 8n })));
    }
  });

  test("every file holds the rows, in order, of the one-process build", async () => {
    const files = await engine.rows<{ f: string }>(
      "SELECT file_path AS f FROM list_partitions() WHERE view_set_name IN ('log_entries', 'measures') AND file_path IS NOT NULL",
    );
    expect(files.length).toBe(10);
    for (const f of files) rmSync(join(lake.root, f.f));
    const limits = [logEntries.manyMaxEvents, measures.manyMaxEvents];
    logEntries.manyMaxEvents = 0;
    measures.manyMaxEvents = 0;
    try {
      await prepareQuery(engine, lake, SQL);
    } finally {
      [logEntries.manyMaxEvents, measures.manyMaxEvents] = limits;
    }
    for (const vs of ["log_entries", "measures"]) {
      const single = await partitionRows(engine, lake.root, vs);
      const many = batched.get(vs) as Map<string, string[]>;
      expect(single.size).toBe(5);
      expect(many.size).toBe(5);
      for (const [id, rows] of many) expect(rows).toEqual(single.get(id) as string[]);
    }
  });
});
