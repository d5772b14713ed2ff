/**
 * The thread_spans partition file itself: its column types are the view set's declared ones,
 * its rows are in (stream_id, begin, depth) order, and hostile thread names, categories and lake
 * paths (SQL-like, placeholder-like, quotes) come back unchanged. The materialization builds its SQL from
 * templates and reads the stack pass's results through scalar functions; each check fails if
 * one of those leaks into the file. The names and categories of a large process go through the
 * partition's sort as ENUM values (textTypes): the same file either way.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Engine, sqlString } from "../../lib/duck/engine.ts";
import { ingest } from "../../lib/ingest/ingest.ts";
import { Lake } from "../../lib/lake/lake.ts";
import { prepareQuery } from "../../lib/sql/query.ts";
import { dropTextTypes, textTypes, textTypesAt, threadSpans } from "../../lib/views/thread_spans.ts";
import { tempDir } from "../helpers.ts";

const HOSTILE = ["$src", "$base", "$streams_id", "it's'; DROP TABLE x; --", "ENUM('B')", "名前 🧵"];

/** Events of one thread per hostile name, plus one thread whose spans at one time go up and down in depth. */
function trace(): unknown {
  const ev: Record<string, unknown>[] = [];
  HOSTILE.forEach((name, i) => {
    const tid = `${name}#${i}`;
    ev.push({ ph: "M", pid: 7, tid, name: "thread_name", args: { name } });
    ev.push({ ph: "X", pid: 7, tid, ts: 10, dur: 5, name: `x${i}`, cat: name });
    ev.push({ ph: "X", pid: 7, tid, ts: 10, dur: 20, name: `p${i}`, cat: name });
  });
  // At ts 100: a (depth 0), b (1), c (2) begin; c, b, a end at once; d (0) and e (1) begin then.
  // Processed in (time, array order), d and e come after c: the file must still put d before b.
  const t = "updown";
  ev.push({ ph: "M", pid: 7, tid: t, name: "thread_name", args: { name: t } });
  for (const n of ["a", "b", "c"]) ev.push({ ph: "B", pid: 7, tid: t, ts: 100, name: n });
  for (let k = 0; k < 3; k++) ev.push({ ph: "E", pid: 7, tid: t, ts: 100 });
  ev.push({ ph: "B", pid: 7, tid: t, ts: 100, name: "d" });
  ev.push({ ph: "X", pid: 7, tid: t, ts: 100, dur: 0, name: "e" });
  ev.push({ ph: "E", pid: 7, tid: t, ts: 120 });
  ev.push({ ph: "X", pid: 7, tid: t, ts: 90, dur: 5, name: "before" });
  return { traceEvents: ev };
}

describe("thread_spans partition file", () => {
  let engine: Engine;
  let files: string[];
  beforeAll(async () => {
    const dir = tempDir();
    const path = join(dir, "hostile.json");
    writeFileSync(path, JSON.stringify(trace()));
    engine = await Engine.open({ threads: 2 });
    // The block paths go into the SQL too: a lake directory with placeholder-like text and a quote.
    const lake = await Lake.open(engine, join(dir, "lake $base $process 'q"));
    await ingest(engine, lake, path);
    await prepareQuery(engine, lake, "SELECT count(*) FROM thread_spans");
    const rows = await engine.rows<{ f: string }>(
      "SELECT file_path AS f FROM list_partitions() WHERE view_set_name = 'thread_spans' AND file_path IS NOT NULL",
    );
    files = rows.map((r) => join(lake.root, r.f));
  });
  afterAll(() => engine.close());

  /** Expects the partition file's rows in (begin, stream_id, depth, end) order, sorted here. */
  async function expectPartitionOrder(file: string): Promise<void> {
    const rows = await engine.rows<{ s: string; b: bigint; d: number; e: bigint }>(
      `SELECT stream_id AS s, epoch_ns("begin") AS b, depth AS d, epoch_ns("end") AS e FROM read_parquet(${sqlString(file)})`,
    );
    const sorted = [...rows].sort((x, y) => {
      if (x.b !== y.b) return x.b < y.b ? -1 : 1;
      const c = Buffer.compare(Buffer.from(x.s), Buffer.from(y.s));
      if (c !== 0) return c;
      if (x.d !== y.d) return x.d - y.d;
      return x.e < y.e ? -1 : x.e > y.e ? 1 : 0;
    });
    expect(rows).toEqual(sorted);
  }

  test("has the declared column names and types", async () => {
    expect(files.length).toBe(1);
    const d = await engine.rowsJson<{ column_name: string; column_type: string }>(
      `DESCRIBE SELECT * FROM read_parquet(${sqlString(files[0] as string)})`,
    );
    expect(d.map((c) => [c.column_name, c.column_type])).toEqual(threadSpans.columns.map((c) => [c.name, c.type]));
  });

  test("keeps hostile thread names and categories, one thread each", async () => {
    const rows = await engine.rows<{ thread_name: string; target: string; n: bigint }>(
      `SELECT thread_name, target, count(*) AS n FROM read_parquet(${sqlString(files[0] as string)})
       WHERE thread_name <> 'updown' GROUP BY ALL ORDER BY ALL`,
    );
    const want = HOSTILE.map((h) => ({ thread_name: h, target: h, n: 2n })).sort((a, b) =>
      Buffer.compare(Buffer.from(a.thread_name), Buffer.from(b.thread_name)),
    );
    expect(rows).toEqual(want);
  });

  test("rows are in (begin, stream_id, depth, end) order, also where depth goes down at one time", async () => {
    await expectPartitionOrder(files[0] as string);
    const updown = (
      await engine.rows<{ name: string; depth: number }>(
        `SELECT name, depth FROM read_parquet(${sqlString(files[0] as string)}) WHERE thread_name = 'updown'`,
      )
    ).map((r) => `${r.name}${r.depth}`);
    // Ties (same begin and depth) may come in either order.
    expect(updown[0]).toBe("before0");
    expect(new Set(updown.slice(1, 3))).toEqual(new Set(["a0", "d0"]));
    expect(new Set(updown.slice(3, 5))).toEqual(new Set(["b1", "e1"]));
    expect(updown[5]).toBe("c2");
  });

  test("names and categories through the sort as ENUM values: the same rows, in the partition order", async () => {
    const dir = tempDir();
    const path = join(dir, "hostile.json");
    writeFileSync(path, JSON.stringify(trace()));
    const lake = await Lake.open(engine, join(dir, "lake"));
    await ingest(engine, lake, path);
    const saved = { ...textTypesAt };
    Object.assign(textTypesAt, { minRows: 0, maxShare: 1 });
    try {
      await prepareQuery(engine, lake, "SELECT count(*) FROM thread_spans");
    } finally {
      Object.assign(textTypesAt, saved);
    }
    // The materialization dropped its types.
    expect(await engine.rows("SELECT type_name FROM duckdb_types() WHERE type_name LIKE 'tl_span_%'")).toEqual([]);
    const rows = await engine.rows<{ f: string }>(
      "SELECT file_path AS f FROM list_partitions() WHERE view_set_name = 'thread_spans' AND file_path IS NOT NULL",
    );
    expect(rows.length).toBe(1);
    const read = (file: string) =>
      engine.rowsJson(
        `SELECT * EXCLUDE (process_id, stream_id, id, parent), typeof(name) AS tn, typeof(target) AS tt
         FROM read_parquet(${sqlString(file)})`,
      );
    // The two lakes' stream ids differ (sx order between threads), so the rows are compared as
    // sets, and the ENUM file's order is checked on its own.
    const sorted = (rows: unknown[]) => rows.map((r) => JSON.stringify(r)).sort();
    const file = join(lake.root, (rows[0] as { f: string }).f);
    const enums = await read(file);
    expect(enums.length).toBe(HOSTILE.length * 2 + 6);
    expect(sorted(enums)).toEqual(sorted(await read(files[0] as string)));
    await expectPartitionOrder(file);
  });

  test("textTypes: an ENUM of each column's distinct values, unless it has too many", async () => {
    const src = `SELECT * FROM (VALUES ('a', 'c', 'X', 0), ('it''s', 'c', 'B', 1), ('名前 🧵', NULL, 'X', 0), ('a', 'd', 'X', 2),
      ('e', 'c', 'E', 0), ('f', 'c', 'X', NULL)) t(name, cat, ph, sx)`;
    const made = async () =>
      (
        await engine.rows<{ t: string }>("SELECT type_name AS t FROM duckdb_types() WHERE type_name LIKE 'tl_span_%'")
      ).map((r) => r.t);
    const types = await textTypes(engine, src, 12);
    try {
      expect(types.name).toMatch(/^memory\.main\.tl_span_name_\d+$/);
      expect(types.target).toMatch(/^memory\.main\.tl_span_target_\d+$/);
      expect([types.nameOut, types.targetOut]).toEqual([types.name, types.target]);
      const values = await engine.rows<{ n: string[]; t: string[] }>(
        `SELECT list_sort(enum_range(NULL::${types.name})) AS n, list_sort(enum_range(NULL::${types.target})) AS t`,
      );
      expect(values[0]?.n).toEqual(["a", "it's", "名前 🧵"]);
      expect(values[0]?.t).toEqual(["c", "d"]);
      // Another call's types are its own.
      const other = await textTypes(engine, src, 12);
      expect(other.name).not.toBe(types.name);
      await dropTextTypes(engine, other);
      expect((await made()).length).toBe(2);
    } finally {
      await dropTextTypes(engine, types);
    }
    expect(await made()).toEqual([]);
    // 3 names in 8 rows is more than a quarter: VARCHAR; 2 categories are not.
    const few = await textTypes(engine, src, 8);
    expect([few.name, few.nameOut]).toEqual(["VARCHAR", "VARCHAR"]);
    expect(few.targetOut).toBe(few.target);
    expect(few.target).toMatch(/tl_span_target_/);
    await dropTextTypes(engine, few);
    // 1,025 names: through the sort as an ENUM, but written as VARCHAR (each row group's
    // dictionary would hold them all).
    const many = await textTypes(
      engine,
      "SELECT 'n' || (i % 1025)::VARCHAR AS name, 'c' AS cat, 'X' AS ph, 0 AS sx FROM range(5000) r(i)",
      5000,
    );
    expect(many.name).toMatch(/tl_span_name_/);
    expect(many.nameOut).toBe("VARCHAR");
    expect(many.targetOut).toBe(many.target);
    await dropTextTypes(engine, many);
    expect(await made()).toEqual([]);
  });

  test("the stack pass's scalar functions refuse to run outside a materialization", async () => {
    for (const f of ["tl_span(0)", "tl_span_rank(0)"]) {
      await expect(engine.rows(`SELECT ${f}`)).rejects.toThrow("internal to the materialization of thread_spans");
    }
  });
});
