import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { Engine } from "../../lib/duck/engine.ts";
import { ingest } from "../../lib/ingest/ingest.ts";
import { Lake } from "../../lib/lake/lake.ts";
import { prepareQuery } from "../../lib/sql/query.ts";
import { ROOT, snapshot, tempDir } from "../helpers.ts";

const NODE = join(ROOT, "fixtures/node_trace.json.gz");
const EDGES = join(ROOT, "fixtures/span_edge_cases.json");

interface Part {
  view_set_name: string;
  view_instance_id: string;
  b: bigint;
  e: bigint;
  file_path: string | null;
  num_rows: bigint;
  h: string;
}

async function setup(files: string[]) {
  const dir = tempDir();
  const engine = await Engine.open({ threads: 2 });
  const lake = await Lake.open(engine, dir);
  for (const f of files) await ingest(engine, lake, f);
  const q = async <T = Record<string, unknown>>(sql: string): Promise<T[]> => {
    await prepareQuery(engine, lake, sql);
    return engine.rows<T>(sql);
  };
  /** Live partitions, straight from the catalog. */
  const parts = async (): Promise<Part[]> => {
    await lake.attach(engine, "read");
    try {
      return await engine.rows<Part>(
        `SELECT view_set_name, view_instance_id, epoch_us(begin_insert_time) AS b, epoch_us(end_insert_time) AS e,
           file_path, num_rows, hex(file_schema_hash) AS h FROM lake.lakehouse_partitions
         ORDER BY view_set_name, view_instance_id, begin_insert_time`,
      );
    } finally {
      await lake.detach(engine);
    }
  };
  /** Runs catalog statements with the catalog attached for writing. */
  const write = async (sql: string, params?: Record<string, string | bigint>): Promise<void> => {
    await lake.attach(engine, "write");
    try {
      await engine.run(sql, params);
    } finally {
      await lake.detach(engine);
    }
  };
  const pid = async (exe: string): Promise<string> => {
    const r = await q<{ id: string }>(`SELECT process_id AS id FROM processes WHERE exe = '${exe}'`);
    return r[0]?.id as string;
  };
  return { dir, engine, lake, q, parts, write, pid };
}

describe("JIT: reuse, targeted materialization, re-materialization of what changed", () => {
  let ctx: Awaited<ReturnType<typeof setup>>;
  beforeAll(async () => {
    ctx = await setup([NODE, EDGES]);
  });
  afterAll(() => ctx.engine.close());

  test("view_instance materializes only that instance; a process without data gets an empty partition", async () => {
    const node = await ctx.pid("node");
    const n = await ctx.q<{ n: bigint }>(`SELECT count(*) AS n FROM view_instance('measures', '${node}')`);
    expect(Number(n[0]?.n)).toBe(0);
    const parts = await ctx.parts();
    expect(parts.map((p) => [p.view_set_name, p.view_instance_id, p.file_path, Number(p.num_rows)])).toEqual([
      ["measures", node, null, 0],
    ]);
  });

  test("view_instance works in CTEs, joins and subqueries, several per statement, by id, prefix, pid: or name", async () => {
    const node = await ctx.pid("node");
    const direct = await ctx.q<{ spans: bigint; logs: bigint }>(
      `SELECT count(*) FILTER (WHERE ph IN ('X', 'B')) AS spans, count(*) FILTER (WHERE ph IN ('i', 'I', 'R')) AS logs
       FROM raw_events WHERE process_id = '${node}'`,
    );
    const r = await ctx.q<{ spans: bigint; logs: bigint; sub: bigint }>(
      `WITH s AS (SELECT * FROM view_instance('thread_spans', '${node}'))
       SELECT (SELECT count(*) FROM s) AS spans,
              (SELECT count(*) FROM view_instance('log_entries', 'node') l JOIN processes p USING (process_id) WHERE p.exe = 'node') AS logs,
              (SELECT count(*) FROM view_instance('thread_spans', 'pid:1') WHERE name IN (SELECT name FROM view_instance('thread_spans', '${node.slice(0, 8)}'))) AS sub`,
    );
    expect(Number(r[0]?.spans)).toBe(Number(direct[0]?.spans));
    expect(Number(r[0]?.logs)).toBe(Number(direct[0]?.logs));
    expect(Number(r[0]?.sub)).toBe(0); // the two processes share no span name
    await expect(ctx.q("SELECT * FROM view_instance('thread_spans', 'no-such-process')")).rejects.toThrow(
      /no process matches 'no-such-process'/,
    );
    await expect(ctx.q("SELECT * FROM view_instance('no_such_view', 'node')")).rejects.toThrow(/unknown view set/);
  });

  test("a second query reuses every partition: no new rows, no new files", async () => {
    await ctx.q(
      "SELECT count(*) FROM thread_spans, (SELECT count(*) FROM async_events), (SELECT count(*) FROM log_entries)",
    );
    const before = await snapshot(ctx.dir);
    const partsBefore = await ctx.parts();
    await ctx.q(
      "SELECT count(*) FROM thread_spans, (SELECT count(*) FROM async_events), (SELECT count(*) FROM log_entries)",
    );
    expect(await ctx.parts()).toEqual(partsBefore);
    expect(await snapshot(ctx.dir)).toEqual(before);
  });

  test("a new block re-materializes only its view and slice; a removed block is detected", async () => {
    const node = await ctx.pid("node");
    await ctx.q("SELECT 1 FROM log_entries, thread_spans, async_events, measures LIMIT 1");
    const before = await ctx.parts();
    const count = async () =>
      Number((await ctx.q<{ n: bigint }>(`SELECT count(*) AS n FROM log_entries WHERE process_id = '${node}'`))[0]?.n);
    const n0 = await count();
    // Another block for node's log stream, inserted two hours later: a new insert-time slice.
    await ctx.lake.attach(ctx.engine, "read");
    const blk = (
      await ctx.engine.rows<{ block_id: string; stream_id: string; file_path: string; ins: bigint }>(
        `SELECT b.block_id, b.stream_id, b.file_path, epoch_us(b.insert_time) AS ins FROM lake.blocks b
         JOIN lake.streams s USING (stream_id) WHERE b.process_id = $p AND list_contains(s.tags, 'log')`,
        { p: node },
      )
    )[0] as { block_id: string; stream_id: string; file_path: string; ins: bigint };
    await ctx.lake.detach(ctx.engine);
    const addBlock = async (blockId: string, ins: bigint) => {
      const rel = join("blobs", node, blk.stream_id, `${blockId}.parquet`);
      mkdirSync(dirname(join(ctx.dir, rel)), { recursive: true });
      copyFileSync(join(ctx.dir, blk.file_path), join(ctx.dir, rel));
      await ctx.write(
        `INSERT INTO lake.blocks SELECT $id, stream_id, process_id, begin_time, end_time, nb_objects, payload_size, $path,
           make_timestamp($ins::BIGINT), schema_version FROM lake.blocks WHERE block_id = $src`,
        { id: blockId, path: rel, ins, src: blk.block_id },
      );
    };
    const later = "00000000-0000-4000-8000-000000000001";
    await addBlock(later, blk.ins + 2n * 3_600_000_000n);
    expect(await count()).toBe(2 * n0);
    const after = await ctx.parts();
    const key = (p: Part) => `${p.view_set_name}/${p.view_instance_id}/${p.b}/${p.e}/${p.file_path}/${p.h}`;
    const changed = after.filter((p) => !before.some((q) => key(q) === key(p)));
    expect(changed.map((p) => [p.view_set_name, p.view_instance_id, p.b])).toEqual([
      ["log_entries", node, blk.ins + 2n * 3_600_000_000n],
    ]);
    expect(after.length).toBe(before.length + 1); // the first slice's partition was kept as it was

    // A block in the first slice: that slice's partition is rewritten, its old file retired.
    await addBlock("00000000-0000-4000-8000-000000000002", blk.ins + 1n);
    expect(await count()).toBe(3 * n0);
    const old = before.find((p) => p.view_set_name === "log_entries" && p.view_instance_id === node);
    const now = await ctx.parts();
    expect(now.some((p) => p.file_path === old?.file_path)).toBe(false);
    await ctx.lake.attach(ctx.engine, "read");
    const tmp = await ctx.engine.rows<{ f: string }>("SELECT file_path AS f FROM lake.temporary_files");
    await ctx.lake.detach(ctx.engine);
    expect(tmp.map((t) => t.f)).toContain(old?.file_path as string);
    expect(existsSync(join(ctx.dir, old?.file_path as string))).toBe(true); // kept for readers until gc

    // Removing the later block: its slice's partition is retired.
    await ctx.write("DELETE FROM lake.blocks WHERE block_id = $id", { id: later });
    expect(await count()).toBe(2 * n0);
    const last = await ctx.parts();
    expect(last.filter((p) => p.view_set_name === "log_entries" && p.view_instance_id === node).length).toBe(1);
    // Other view sets of the process were never rewritten.
    for (const vs of ["thread_spans", "async_events", "measures"]) {
      expect(last.filter((p) => p.view_set_name === vs)).toEqual(before.filter((p) => p.view_set_name === vs));
    }
  });

  test("a partition with another schema hash is invisible to queries and replaced", async () => {
    const node = await ctx.pid("node");
    const n = Number(
      (await ctx.q<{ n: bigint }>(`SELECT count(*) AS n FROM view_instance('thread_spans', 'node')`))[0]?.n,
    );
    await ctx.write(
      "UPDATE lake.lakehouse_partitions SET file_schema_hash = '\\x00'::BLOB WHERE view_set_name = 'thread_spans' AND view_instance_id = $p",
      { p: node },
    );
    expect(
      Number((await ctx.q<{ n: bigint }>("SELECT count(*) AS n FROM view_instance('thread_spans', 'node')"))[0]?.n),
    ).toBe(n);
    const ts = (await ctx.parts()).filter((p) => p.view_set_name === "thread_spans" && p.view_instance_id === node);
    expect(ts.length).toBe(1);
    expect(ts[0]?.h).not.toBe("00");
  });
});

describe("gc and partition files", () => {
  test("gc removes partition files no row names once past the grace period, and never a live one", async () => {
    const ctx = await setup([EDGES]);
    try {
      await ctx.q("SELECT count(*) FROM thread_spans");
      const live = (await ctx.parts()).filter((p) => p.file_path !== null);
      expect(live.length).toBe(1);
      const orphan = join(ctx.dir, "views/thread_spans/x/2026-01-01/00-00-00_orphan.parquet");
      mkdirSync(dirname(orphan), { recursive: true });
      copyFileSync(join(ctx.dir, live[0]?.file_path as string), orphan);
      const { collectGarbage } = await import("../../lib/partitions/gc.ts");
      const young = await collectGarbage(ctx.engine, ctx.lake, { graceMs: 3_600_000 });
      expect(young.items.map((i) => i.path)).toEqual([]);
      const old = await collectGarbage(ctx.engine, ctx.lake, { graceMs: 0 });
      expect(old.items.map((i) => i.path)).toEqual(["views/thread_spans/x/2026-01-01/00-00-00_orphan.parquet"]);
      expect(existsSync(orphan)).toBe(false);
      expect(existsSync(join(ctx.dir, live[0]?.file_path as string))).toBe(true);
      expect(Number((await ctx.q<{ n: bigint }>("SELECT count(*) AS n FROM thread_spans"))[0]?.n)).toBe(12);
    } finally {
      ctx.engine.close();
    }
  });
});
