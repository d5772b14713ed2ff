/**
 * Replay against DuckDB as the oracle: every query × every strategy that accepts it × N in
 * {1, 2, 3, 8} must give exactly DuckDB's batch result over the same rows (float sums within
 * 1e-9 relative; sorted first when the query has no ORDER BY). Refused pairs and unsupported
 * queries assert their message. Data: a generated Chrome trace (3 processes, 9 threads,
 * spans with nesting, NULL filenames, non-ASCII and prefix-colliding names, counters,
 * instants, async pairs) ingested through the real importer.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Engine } from "../../lib/duck/engine.ts";
import { ingest } from "../../lib/ingest/ingest.ts";
import { Lake } from "../../lib/lake/lake.ts";
import { analyzeQuery, STRATEGIES, type Strategy, validateStrategy } from "../../lib/replay/analyze.ts";
import { WorkerPool } from "../../lib/replay/pool.ts";
import { planReplay, type ReplayPlan, type ReplayRows, runReplay } from "../../lib/replay/replay.ts";
import { keyHash } from "../../lib/replay/state.ts";
import { prepareQuery } from "../../lib/sql/query.ts";
import { streamedSql, tempDir } from "../helpers.ts";

/** A deterministic trace: returns the Chrome JSON text. */
function generateTrace(): string {
  let seed = 12345;
  const rnd = (n: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  const names = ["task0", "task1", "task2", "ab", "a", "bc", "c", "Ünïcødé", "𝄞clef", "it's", "x,y"];
  const evs: Record<string, unknown>[] = [];
  const threads: [number, number][] = [
    [1, 1],
    [1, 2],
    [1, 3],
    [1, 4],
    [2, 1],
    [2, 2],
    [2, 3],
    [2, 4],
    [3, 7],
  ];
  for (const pid of [1, 2, 3]) evs.push({ ph: "M", pid, name: "process_name", args: { name: `proc${pid}` } });
  for (const [pid, tid] of threads) {
    evs.push({ ph: "M", pid, tid, name: "thread_name", args: { name: `t${tid}` } });
    let ts = 1000 + rnd(50);
    const count = pid === 3 ? 40 : 450; // process 3 is nearly idle
    for (let i = 0; i < count; i++) {
      const dur = 5 + rnd(200);
      const args = rnd(3) === 0 ? { src_file: `f${rnd(3)}.cc`, src_line: rnd(100) } : {};
      const ev: Record<string, unknown> = {
        ph: "X",
        pid,
        tid,
        ts,
        dur,
        name: names[rnd(names.length)],
        cat: "c",
        args,
      };
      if (rnd(4) === 0) ev.tdur = rnd(50);
      evs.push(ev);
      if (rnd(3) === 0) {
        evs.push({ ph: "X", pid, tid, ts: ts + 1, dur: Math.max(1, dur - 3), name: names[rnd(4)], cat: "c" });
      }
      if (rnd(10) === 0) evs.push({ ph: "i", pid, tid, ts: ts + 2, name: `log${rnd(3)}`, s: "t", cat: "log" });
      if (rnd(8) === 0) evs.push({ ph: "C", pid, tid, ts, name: "mem", args: { used: rnd(1000) / 7, free: rnd(99) } });
      if (rnd(12) === 0) {
        const id = `0x${rnd(1000).toString(16)}`;
        evs.push({ ph: "b", pid, tid, ts, name: `req${rnd(3)}`, cat: "net", id });
        evs.push({ ph: "e", pid, tid, ts: ts + dur, name: `req${rnd(3)}`, cat: "net", id });
      }
      ts += dur + rnd(40);
    }
  }
  return JSON.stringify({ traceEvents: evs });
}

/** Queries with the strategies that must accept them (the others must be refused). */
const QUERIES: string[] = [
  "SELECT name, count(*), sum(duration) FROM thread_spans GROUP BY name",
  "SELECT process_id, count(*) FROM thread_spans GROUP BY process_id",
  'SELECT process_id, stream_id, min(begin), max("end"), avg(duration) FROM thread_spans GROUP BY ALL',
  "SELECT time_bucket(INTERVAL '1 ms', begin) AS w, count(*) AS n FROM thread_spans GROUP BY w ORDER BY w",
  "SELECT process_id AS p, time_bucket(INTERVAL '500 us', begin) AS w, name, count(*), sum(duration) FROM thread_spans GROUP BY ALL ORDER BY w, p, name",
  "SELECT count(*), sum(duration), min(duration), max(duration), avg(duration) FROM thread_spans",
  "SELECT count(*) FROM thread_spans WHERE depth > 0",
  "SELECT lower(name) AS ln, depth, count(*) FROM thread_spans GROUP BY 1, 2 HAVING count(*) > 3 ORDER BY 3 DESC, 1, 2 LIMIT 10",
  "SELECT name, count(DISTINCT stream_id) AS streams FROM thread_spans GROUP BY name",
  "SELECT duration // 50 AS bucket, count(*) FROM thread_spans GROUP BY duration // 50 ORDER BY bucket",
  "SELECT filename, count(filename), count(*) FROM thread_spans GROUP BY filename",
  "SELECT name, sum(duration) * 2 + count(*) AS x FROM thread_spans GROUP BY name ORDER BY x DESC, name LIMIT 5",
  "SELECT tid, thread_name, max(depth), min(name), max(name) FROM thread_spans GROUP BY ALL",
  "SELECT name, avg(thread_duration), sum(thread_duration) FROM thread_spans GROUP BY name",
  "SELECT time_bucket(INTERVAL '2 ms', begin) AS w, process_id, count(*), max(duration) FROM thread_spans GROUP BY w, process_id HAVING count(*) >= 2 ORDER BY w, process_id",
  "SELECT name, count(*), sum(value), avg(value), min(value), max(value) FROM measures GROUP BY name",
  "SELECT time_bucket(INTERVAL '3 ms', time) AS w, sum(value) AS s FROM measures GROUP BY w ORDER BY w",
  "SELECT msg, level, count(*) FROM log_entries GROUP BY ALL",
  "SELECT event_type, name, count(*), min(time) FROM async_events GROUP BY ALL",
  "SELECT ph, count(*), sum(dur), max(args::VARCHAR) FROM raw_events WHERE ph <> 'M' GROUP BY ph ORDER BY ph",
  "SELECT name, count(*) FROM view_instance('thread_spans', 'pid:2') GROUP BY name",
  "SELECT stream_id, count(*) AS n FROM thread_spans WHERE name LIKE 'task%' GROUP BY stream_id ORDER BY n DESC, stream_id",
  "SELECT name || '/' || CAST(depth AS VARCHAR) AS nd, count(*) FROM thread_spans GROUP BY nd",
  "SELECT count(*), sum(duration) FROM thread_spans WHERE false",
  "SELECT name, count(*) FROM thread_spans WHERE duration < 0 GROUP BY name",
  "SELECT time_bucket(INTERVAL '1 ms', begin) AS w, name, count(*) FROM thread_spans WHERE depth = 0 GROUP BY ALL ORDER BY w, name LIMIT 20",
  "SELECT max(duration) - min(duration) AS spread, max(name) FROM thread_spans",
  // Integers far beyond 2^53 apart (carried exactly on the side), epoch-scale timestamps, a LIST key.
  "SELECT duration * 1000000000000 AS big, count(*), sum(duration * 1000000000000), min(duration * -1000000000000) FROM thread_spans GROUP BY big",
  "SELECT time_bucket(INTERVAL '1 ms', begin + INTERVAL '50 years') AS w, count(*), max(begin + INTERVAL '50 years') FROM thread_spans GROUP BY w ORDER BY w",
  "SELECT list_value(name, target) AS l, count(*), min(thread_name), max(properties::VARCHAR) FROM thread_spans GROUP BY ALL",
];

let dir: string;
let engine: Engine;
let lake: Lake;
let pool: WorkerPool;

beforeAll(async () => {
  dir = tempDir("tl-replay-");
  writeFileSync(join(dir, "gen.json"), generateTrace());
  engine = await Engine.open({ threads: 2 });
  lake = await Lake.open(engine, join(dir, "lake"));
  await ingest(engine, lake, join(dir, "gen.json"));
  pool = WorkerPool.create(8);
});

afterAll(() => {
  pool?.close();
  engine?.close();
});

/** A block of replay rows as read during onRows (ReplayRows.read), or the oracle's rows. */
interface Block {
  columns: { name: string; type: string }[];
  rows: unknown[][];
  window: string | null;
  routedRows: number;
}

/** What onRows gets, read while it runs (the groups' table is replaced after). */
async function block(r: ReplayRows): Promise<Block> {
  return { ...(await r.read()), window: r.window, routedRows: r.routedRows };
}

/** Rows as JSON values, with DuckDB's column names and types. */
async function oracle(sql: string): Promise<Block> {
  await prepareQuery(engine, lake, sql);
  const r = await engine.read(sql);
  return {
    columns: r.columnNames().map((name, i) => ({ name, type: r.columnTypes()[i]?.toString() ?? "" })),
    rows: r.getRowsJson() as unknown[][],
    window: null,
    routedRows: 0,
  };
}

function same(a: unknown, b: unknown): boolean {
  if (typeof a === "number" && typeof b === "number") {
    return a === b || Math.abs(a - b) <= 1e-9 * Math.max(Math.abs(a), Math.abs(b));
  }
  return JSON.stringify(a) === JSON.stringify(b);
}

function expectSame(got: Block, want: Block, ordered: boolean, label: string): void {
  expect(got.columns, label).toEqual(want.columns);
  const sort = (rows: unknown[][]) =>
    ordered ? rows : [...rows].sort((x, y) => (JSON.stringify(x) < JSON.stringify(y) ? -1 : 1));
  const g = sort(got.rows);
  const w = sort(want.rows);
  expect(g.length, label).toBe(w.length);
  for (let i = 0; i < w.length; i++) {
    const gr = g[i] as unknown[];
    const wr = w[i] as unknown[];
    const ok = wr.every((v, k) => same(gr[k], v));
    if (!ok) expect({ label, row: i, got: gr }).toEqual({ label, row: i, got: wr });
  }
}

async function replayRows(plan: ReplayPlan, strategy: Strategy, n: number, batchRows?: number) {
  const p = { ...plan, partitions: n, choice: validateStrategy(plan.analysis, strategy) };
  const blocks: Block[] = [];
  const stats = await runReplay(
    engine,
    p,
    // N=3: closed windows handed to DuckDB a few groups at a time (many INSERTs into one result).
    { partitions: n, strategy, emit: "final", speed: null, pool, batchRows, handOverGroups: n === 3 ? 3 : undefined },
    async (r) => {
      blocks.push(await block(r));
    },
  );
  expect(blocks.length).toBe(1);
  return { rows: blocks[0] as Block, stats };
}

describe("replay equals DuckDB's batch result", () => {
  for (const sql of QUERIES) {
    test(sql, async () => {
      const want = await oracle(sql);
      const plan = await planReplay(engine, lake, sql, { partitions: 2, strategy: "auto" });
      const ordered = plan.analysis.orderBy !== null;
      let accepted = 0;
      for (const s of STRATEGIES) {
        try {
          validateStrategy(plan.analysis, s);
        } catch (e) {
          expect(String(e)).toContain(`--strategy ${s} refused`);
          continue;
        }
        accepted++;
        for (const n of [1, 2, 3, 8]) {
          // Small batches for half the runs: many watermarks, windows closing mid-stream.
          const { rows, stats } = await replayRows(plan, s, n, n % 2 === 0 ? 512 : undefined);
          expectSame(rows, want, ordered, `${s} N=${n}`);
          expect(stats.rowsPerPartition.reduce((x, y) => x + y, 0)).toBe(stats.rows);
          if (s === "fan_in") expect(stats.rowsPerPartition.slice(1).every((x) => x === 0)).toBe(true);
        }
      }
      expect(accepted).toBeGreaterThanOrEqual(3);
    }, 60_000);
  }
});

describe("strategies", () => {
  test("round_robin spreads rows evenly; always_hash keeps a key in one partition", async () => {
    const plan = await planReplay(engine, lake, "SELECT name, count(*) FROM thread_spans GROUP BY name", {
      partitions: 3,
      strategy: "auto",
    });
    expect(plan.choice.strategy).toBe("always_hash");
    const { stats } = await replayRows(plan, "round_robin", 3);
    const max = Math.max(...stats.rowsPerPartition);
    const min = Math.min(...stats.rowsPerPartition);
    expect(max - min).toBeLessThanOrEqual(1);
    // sticky_partition follows the 9 source streams: it does not collapse to one partition.
    const sticky = await replayRows(plan, "sticky_partition", 3);
    expect(sticky.stats.rowsPerPartition.filter((x) => x > 0).length).toBeGreaterThan(1);
  });

  test("auto choice follows the query", async () => {
    const choice = async (sql: string, n = 4) =>
      (await planReplay(engine, lake, sql, { partitions: n, strategy: "auto" })).choice;
    expect((await choice("SELECT process_id, count(*) FROM thread_spans GROUP BY 1")).strategy).toBe(
      "smart_repartition",
    );
    expect((await choice("SELECT stream_id, count(*) FROM thread_spans GROUP BY 1")).sourceColumn).toBe("stream_id");
    expect((await choice("SELECT count(*) FROM thread_spans")).strategy).toBe("round_robin");
    expect(
      (await choice("SELECT time_bucket(INTERVAL '1 ms', begin) w, count(*) FROM thread_spans GROUP BY w")).strategy,
    ).toBe("round_robin");
    const h = await choice(
      "SELECT time_bucket(INTERVAL '1 ms', begin) w, name, count(*) FROM thread_spans GROUP BY ALL",
    );
    expect(h.strategy).toBe("always_hash");
    expect(h.hashKeys).toEqual([1]); // the entity key only: every window of a name in one partition
    expect((await choice("SELECT name, count(*) FROM thread_spans GROUP BY 1", 1)).strategy).toBe("fan_in");
  });

  test("GROUP BY aliases, positions and ALL resolve to the select items", async () => {
    const a = await analyzeQuery(
      engine,
      "SELECT time_bucket(INTERVAL '1 ms', begin) AS w, lower(name) AS ln, depth, count(*) FROM thread_spans GROUP BY w, 2, depth",
    );
    expect(a.keys.map((k) => [k.sql, k.alias, k.position, k.writtenAs])).toEqual([
      ["time_bucket(CAST('1 ms' AS INTERVAL), \"begin\")", "w", 1, "w"],
      ['lower("name")', "ln", 2, "2"],
      ["depth", null, 3, "depth"],
    ]);
    expect(a.windowKey).toBe(0);
    const all = await analyzeQuery(
      engine,
      "SELECT name, depth + 1 AS d, sum(duration) * 2 FROM thread_spans GROUP BY ALL",
    );
    expect(all.keys.map((k) => [k.sql, k.position, k.writtenAs])).toEqual([
      ['"name"', 1, "ALL"],
      ["(depth + 1)", 2, "ALL"],
    ]);
    expect(all.aggregates.map((g) => g.kind)).toEqual(["sum"]);
    const off = await analyzeQuery(
      engine,
      "SELECT time_bucket(INTERVAL '1 month', begin) AS m, count(*) FROM thread_spans GROUP BY m",
    );
    expect(off.windowKey).toBeNull();
    expect(off.notes.join(" ")).toContain("not a fixed interval");
  });

  test("refused pairs name the reason", async () => {
    const a = await analyzeQuery(engine, "SELECT name, count(*) FROM thread_spans GROUP BY name");
    expect(() => validateStrategy(a, "smart_repartition")).toThrow(
      /partitioned by process_id and stream_id.*includes neither/,
    );
    const g = await analyzeQuery(engine, "SELECT count(*) FROM thread_spans");
    expect(() => validateStrategy(g, "always_hash")).toThrow(/global aggregate has no GROUP BY key/);
  });

  test("the key hash is type-tagged and length-prefixed", () => {
    const h = (...vals: unknown[]) => keyHash(vals);
    expect(h("ab", "c")).not.toBe(h("a", "bc"));
    expect(h(1)).not.toBe(h("1"));
    expect(h(null)).not.toBe(h("N"));
    expect(h(5)).toBe(h(5));
  });
});

describe("unsupported queries are refused by name", () => {
  const cases: [string, RegExp][] = [
    ["SELECT median(duration) FROM thread_spans", /aggregate median\(duration\) is not supported/],
    ["SELECT count(*) FILTER (WHERE depth = 0) FROM thread_spans", /FILTER/],
    ["SELECT a.name, count(*) FROM thread_spans a JOIN thread_spans b ON a.id = b.parent GROUP BY 1", /joins/],
    ["SELECT count(*) FROM (SELECT * FROM thread_spans)", /subqueries/],
    ["SELECT name, row_number() OVER () FROM thread_spans", /window function/],
    ["SELECT name FROM thread_spans", /no GROUP BY and no aggregate/],
    ["SELECT count(*) FROM processes", /FROM must name one event view/],
    ["SELECT name, count(*) FROM thread_spans GROUP BY ROLLUP (name)", /ROLLUP/],
    ["SELECT sum(DISTINCT duration) FROM thread_spans", /DISTINCT is only supported in count/],
    ["SELECT count(*) FROM thread_spans UNION ALL SELECT 1", /set operations/],
    ["SELEC count(*)", /syntax error/i],
  ];
  for (const [sql, re] of cases) {
    test(sql, async () => {
      await expect(analyzeQuery(engine, sql)).rejects.toThrow(re);
    });
  }
  test("sum over a VARCHAR is refused before any row moves", async () => {
    await expect(
      planReplay(engine, lake, "SELECT sum(depth::DECIMAL(10,2)) FROM thread_spans", {
        partitions: 2,
        strategy: "auto",
      }),
    ).rejects.toThrow(/sum and avg take integer or DOUBLE/);
  });
});

describe("pacing", () => {
  test("--speed 1 takes at least the event-time span of the rows; max does not wait", async () => {
    const sql = "SELECT count(*) FROM thread_spans";
    const plan = await planReplay(engine, lake, sql, { partitions: 2, strategy: "auto" });
    const span = await engine.rows<{ ms: number }>(
      "SELECT (epoch_ns(max(begin)) - epoch_ns(min(begin))) / 1e6 AS ms FROM thread_spans",
    );
    const ms = span[0]?.ms as number;
    expect(ms).toBeGreaterThan(20);
    const run = (speed: number | null) =>
      runReplay(
        engine,
        plan,
        { partitions: 2, strategy: "auto", emit: "final", speed, pool, batchRows: 256 },
        async () => undefined,
      );
    const paced = await run(1);
    // Batches start on event-time boundaries; the last one starts within its 256 rows of the end.
    expect(paced.wallMs).toBeGreaterThan(ms * 0.8);
    const fast = await run(null);
    expect(fast.rows).toBe(paced.rows);
    expect(fast.wallMs).toBeLessThan(paced.wallMs);
  });
});

describe("source order", () => {
  /** The source query (its event time `__t`) that runReplay streams for `sql` at `speed`. */
  const sourceOf = async (sql: string, speed: number | null): Promise<string | undefined> => {
    const plan = await planReplay(engine, lake, sql, { partitions: 2, strategy: "auto" });
    const streamed = await streamedSql(engine, () =>
      runReplay(
        engine,
        plan,
        { partitions: 2, strategy: "auto", emit: "final", speed, pool, batchRows: 256 },
        async () => undefined,
      ),
    );
    return streamed.find((q) => q.includes(" AS __t"));
  };

  test("unsorted without a window or pacing; by event time with a window or --speed", async () => {
    const byName = "SELECT name, count(*), sum(duration) FROM thread_spans GROUP BY name";
    const unsorted = await sourceOf(byName, null);
    expect(unsorted).toBeDefined();
    expect(unsorted).not.toContain("ORDER BY");
    expect(await sourceOf(byName, 1000)).toEndWith("ORDER BY __t");
    const windowed = "SELECT time_bucket(INTERVAL '1 ms', begin) AS w, count(*) FROM thread_spans GROUP BY w";
    expect(await sourceOf(windowed, null)).toEndWith("ORDER BY __t");
  });
});

describe("windows", () => {
  test("emit changes: each window once, closed mid-stream, even with idle partitions", async () => {
    const sql =
      "SELECT time_bucket(INTERVAL '1 ms', begin) AS w, process_id, count(*) AS n FROM thread_spans GROUP BY ALL ORDER BY w, process_id";
    const want = await oracle(sql);
    const plan = await planReplay(engine, lake, sql, { partitions: 8, strategy: "auto" });
    // smart_repartition by process: 3 processes on 8 partitions, so 5 partitions never get a row.
    expect(plan.choice.strategy).toBe("smart_repartition");
    const blocks: Block[] = [];
    const stats = await runReplay(
      engine,
      plan,
      // One batch in flight per worker: acknowledgements (and so window closings) keep pace with routing.
      { partitions: 8, strategy: "auto", emit: "changes", speed: null, pool, batchRows: 256, queueCapacity: 1 },
      async (r) => {
        blocks.push(await block(r));
      },
    );
    expect(stats.rowsPerPartition.filter((x) => x === 0).length).toBeGreaterThanOrEqual(5);
    const windows = new Set(want.rows.map((r) => r[0]));
    expect(blocks.length).toBe(windows.size);
    expect(stats.windowsClosed).toBe(windows.size);
    // Windows come in time order, each with its own rows.
    const labels = blocks.map((b) => b.rows[0]?.[0]);
    expect(labels).toEqual([...windows]);
    // The first window was emitted long before the last row was routed.
    expect(blocks[0]?.routedRows ?? Number.POSITIVE_INFINITY).toBeLessThan(stats.rows / 2);
    expectSame({ ...want, rows: blocks.flatMap((b) => b.rows) }, want, true, "changes");
  });

  // Windows that close together are loaded and read in one statement (Finalizer.windowRows):
  // each block must still be exactly its window's result, in the query's order, under its label,
  // whatever the ORDER BY (positional, ALL) and whether the window key is selected. The oracle:
  // DuckDB running the query on that window's rows alone ($where).
  for (const [label, template] of [
    [
      "window key not selected, positional ORDER BY",
      "SELECT process_id, count(*) AS n, min(begin) AS first FROM thread_spans $where GROUP BY process_id, time_bucket(INTERVAL '1 ms', begin) ORDER BY 2 DESC, 1",
    ],
    [
      "ORDER BY ALL DESC",
      "SELECT time_bucket(INTERVAL '1 ms', begin) AS w, process_id, count(*) AS n FROM thread_spans $where GROUP BY ALL ORDER BY ALL DESC",
    ],
  ] as const) {
    test(`emit changes, windows closing together: ${label}`, async () => {
      const starts = (
        await oracle("SELECT DISTINCT time_bucket(INTERVAL '1 ms', begin)::VARCHAR AS s FROM thread_spans ORDER BY 1")
      ).rows.map((r) => String(r[0]));
      const want: Block[] = [];
      for (const s of starts) {
        want.push(
          await oracle(
            template.replace("$where", `WHERE time_bucket(INTERVAL '1 ms', begin) = CAST('${s}' AS TIMESTAMP_NS)`),
          ),
        );
      }
      const sql = template.replace("$where", "");
      for (const handOverGroups of [2, 1000]) {
        const plan = await planReplay(engine, lake, sql, { partitions: 2, strategy: "auto" });
        const blocks: Block[] = [];
        await runReplay(
          engine,
          plan,
          { partitions: 2, strategy: "auto", emit: "changes", speed: null, pool, batchRows: 4096, handOverGroups },
          async (r) => {
            blocks.push(await block(r));
          },
        );
        const what = `${label}, handOverGroups ${handOverGroups}`;
        expect(
          blocks.map((b) => b.window),
          what,
        ).toEqual(starts);
        for (const [i, b] of blocks.entries()) expectSame(b, want[i] as Block, true, `${what}, window ${starts[i]}`);
      }
    });
  }
});
