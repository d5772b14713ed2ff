import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { Engine } from "../../lib/duck/engine.ts";
import { ingest } from "../../lib/ingest/ingest.ts";
import { Lake } from "../../lib/lake/lake.ts";
import { prepareQuery } from "../../lib/sql/query.ts";
import { ROOT, tempDir } from "../helpers.ts";

const CHROMIUM = join(ROOT, "fixtures/chromium_startup.json.gz");
const NODE = join(ROOT, "fixtures/node_trace.json.gz");
const EDGES = join(ROOT, "fixtures/span_edge_cases.json");

type Ev = Record<string, unknown> & { ph: string; pid: number | string; tid?: number | string; ts?: number };

function events(path: string): Ev[] {
  const buf = readFileSync(path);
  const text = (path.endsWith(".gz") ? gunzipSync(buf) : buf).toString("utf8");
  const j = JSON.parse(text) as { traceEvents: Ev[] } | Ev[];
  return Array.isArray(j) ? j : j.traceEvents;
}

/** µs (possibly fractional) → ns, as the importer must keep them. */
const ns = (us: number): bigint => BigInt(Math.round(us * 1000));

async function lakeWith(files: string[]) {
  const dir = tempDir();
  const engine = await Engine.open({ threads: 2 });
  const lake = await Lake.open(engine, dir);
  for (const f of files) await ingest(engine, lake, f);
  /** Prepares and runs one query, returning rows with JS values. */
  const q = async <T = Record<string, unknown>>(sql: string): Promise<T[]> => {
    await prepareQuery(engine, lake, sql);
    return engine.rows<T>(sql);
  };
  return { dir, engine, lake, q };
}

/**
 * Oracle for thread spans, independent of the implementation's event stack: every X is the
 * interval [ts, ts + dur]; B/E are paired per thread by a counter in (ts, array order); a B never
 * closed ends at +∞. Depth = number of intervals on the thread that contain the span, found with
 * a sweep over intervals sorted by (begin, -end).
 */
function spanOracle(evs: Ev[]) {
  const threads = new Map<string, { b: number; e: number; name: string; x: boolean }[]>();
  const seqOf = new Map<Ev, number>();
  for (const [i, e] of evs.entries()) seqOf.set(e, i);
  const be = new Map<string, Ev[]>();
  for (const e of evs) {
    const key = `${e.pid}/${e.tid ?? e.pid}`;
    if (e.ph === "X") {
      const l = threads.get(key) ?? [];
      l.push({ b: Number(e.ts), e: Number(e.ts) + Number(e.dur), name: String(e.name), x: true });
      threads.set(key, l);
    } else if (e.ph === "B" || e.ph === "E") {
      const l = be.get(key) ?? [];
      l.push(e);
      be.set(key, l);
    }
  }
  for (const [key, list] of be) {
    list.sort((a, b) => Number(a.ts) - Number(b.ts) || (seqOf.get(a) as number) - (seqOf.get(b) as number));
    const open: Ev[] = [];
    const l = threads.get(key) ?? [];
    for (const e of list) {
      if (e.ph === "B") open.push(e);
      else {
        const b = open.pop();
        if (b) l.push({ b: Number(b.ts), e: Number(e.ts), name: String(b.name), x: false });
      }
    }
    for (const b of open) l.push({ b: Number(b.ts), e: Number.POSITIVE_INFINITY, name: String(b.name), x: false });
    threads.set(key, l);
  }
  const out = new Map<string, { spans: number; maxDepth: number; x: string[] }>();
  for (const [key, list] of threads) {
    const sorted = [...list].sort((a, b) => a.b - b.b || b.e - a.e);
    const stack: number[] = [];
    let maxDepth = 0;
    for (const s of sorted) {
      while (stack.length > 0 && (stack[stack.length - 1] as number) <= s.b) stack.pop();
      maxDepth = Math.max(maxDepth, stack.length);
      stack.push(s.e);
    }
    const x = list
      .filter((s) => s.x)
      .map((s) => `${s.name}|${ns(s.b)}|${ns(s.e) - ns(s.b)}`)
      .sort();
    out.set(key, { spans: list.length, maxDepth, x });
  }
  return out;
}

describe("thread_spans and async_events against oracles from the real traces", () => {
  let ctx: Awaited<ReturnType<typeof lakeWith>>;
  beforeAll(async () => {
    ctx = await lakeWith([CHROMIUM, NODE]);
  });
  afterAll(() => ctx.engine.close());

  for (const [label, path] of [
    ["Chromium", CHROMIUM],
    ["Node", NODE],
  ] as const) {
    test(`${label}: per thread, span count, max depth and the (name, begin, duration) set of X events`, async () => {
      const evs = events(path);
      const oracle = spanOracle(evs);
      const rows = await ctx.q<{ k: string; n: bigint; d: number; x: string[] }>(
        `SELECT p.source_pid || '/' || s.tid AS k, count(*) AS n, max(s.depth) AS d,
           list(s.name || '|' || epoch_ns(s.begin) || '|' || s.duration ORDER BY 1) FILTER (WHERE s.phase = 'X') AS x
         FROM thread_spans s JOIN processes p USING (process_id)
         WHERE p.source_file LIKE '%${label === "Node" ? "node_trace" : "chromium"}%' GROUP BY ALL`,
      );
      expect(rows.length).toBe(oracle.size);
      for (const r of rows) {
        const o = oracle.get(r.k);
        expect(o).toBeDefined();
        expect({ k: r.k, n: Number(r.n), d: r.d }).toEqual({ k: r.k, n: o?.spans ?? -1, d: o?.maxDepth ?? -1 });
        expect([...(r.x ?? [])].sort()).toEqual(o?.x ?? []);
      }
    });

    test(`${label}: async begin/end pairing per (cat, id, name), unmatched ends and unclosed begins`, async () => {
      const evs = events(path);
      // Oracle: per (pid, cat, id/id2, name), a counter over events in (ts, array order).
      const asyncEvs = evs
        .map((e, i) => ({ e, i }))
        .filter(({ e }) => ["b", "e", "S", "F"].includes(e.ph))
        .sort((a, b) => Number(a.e.ts) - Number(b.e.ts) || a.i - b.i);
      const open = new Map<string, number>();
      let pairs = 0;
      let unmatched = 0;
      for (const { e } of asyncEvs) {
        expect(typeof e.name === "string" && e.name.length > 0).toBe(true);
        const id2 = e.id2 as { local?: string; global?: string } | undefined;
        const k = `${e.pid}|${e.cat}|${e.id ?? (id2?.local !== undefined ? `L${id2.local}` : id2?.global)}|${e.scope}|${e.name}`;
        if (e.ph === "b" || e.ph === "S") open.set(k, (open.get(k) ?? 0) + 1);
        else if ((open.get(k) ?? 0) > 0) {
          open.set(k, (open.get(k) ?? 0) - 1);
          pairs++;
        } else unmatched++;
      }
      const unclosed = [...open.values()].reduce((a, b) => a + b, 0);
      const src = label === "Node" ? "node_trace" : "chromium";
      const r = await ctx.q<{ pairs: bigint; unmatched: bigint; unclosed: bigint; mismatched: bigint }>(
        `WITH a AS (SELECT a.* FROM async_events a JOIN processes p USING (process_id) WHERE p.source_file LIKE '%${src}%')
         SELECT count(*) FILTER (WHERE event_type = 'end' AND anomaly IS NULL) AS pairs,
                count(*) FILTER (WHERE anomaly = 'unmatched') AS unmatched,
                count(*) FILTER (WHERE anomaly = 'unclosed') AS unclosed,
                (SELECT count(*) FROM (SELECT span_id FROM a WHERE event_type IN ('begin', 'end') AND anomaly IS NULL
                   GROUP BY process_id, span_id HAVING count(*) <> 2 OR min(name) <> max(name) OR min(time) > max(time))) AS mismatched
         FROM a`,
      );
      expect({
        pairs: Number(r[0]?.pairs),
        unmatched: Number(r[0]?.unmatched),
        unclosed: Number(r[0]?.unclosed),
        mismatched: Number(r[0]?.mismatched),
      }).toEqual({ pairs, unmatched, unclosed, mismatched: 0 });
      if (label === "Node") expect(unmatched + unclosed).toBeGreaterThan(0); // Node's trace is unbalanced
    });
  }

  test("instant and counter events of the real traces all reach log_entries (measures: none in these traces)", async () => {
    const all = [...events(CHROMIUM), ...events(NODE)];
    const instants = all.filter((e) => ["i", "I", "R"].includes(e.ph)).length;
    const r = await ctx.q<{ n: bigint; m: bigint }>(
      "SELECT (SELECT count(*) FROM log_entries) AS n, (SELECT count(*) FROM measures) AS m",
    );
    expect(Number(r[0]?.n)).toBe(instants);
    expect(Number(r[0]?.m)).toBe(all.filter((e) => e.ph === "C").length);
  });
});

describe("hand-made edge cases: exactly what happens to messy spans", () => {
  let ctx: Awaited<ReturnType<typeof lakeWith>>;
  beforeAll(async () => {
    ctx = await lakeWith([EDGES]);
  });
  afterAll(() => ctx.engine.close());

  test("thread spans: nesting, end before begin, overlap, unclosed, orphan end, zero length", async () => {
    const rows = await ctx.q<Record<string, unknown>>(
      `SELECT thread_name, name, depth, (SELECT name FROM thread_spans p WHERE p.id = s.parent) AS parent_name,
         epoch_ns(begin) AS b, duration, anomaly, filename, line
       FROM thread_spans s ORDER BY thread_name, begin, depth`,
    );
    const show = rows.map((r) => [r.thread_name, r.name, r.depth, r.parent_name, r.b, r.duration, r.anomaly]);
    expect(show).toEqual([
      ["messy", "outer", 0, null, 5000n, 95000n, "unclosed"],
      ["messy", "a", 1, "outer", 10000n, 10000n, null],
      ["messy", "b_overlaps_a", 1, "outer", 15000n, 10000n, "overlap"],
      ["messy", "inner", 1, "outer", 30000n, 10000n, null],
      ["messy", "never_closed", 1, "outer", 50000n, 50000n, "unclosed"],
      ["messy", "last", 2, "never_closed", 60000n, 40000n, null],
      ["nested", "parent", 0, null, 10000n, 20000n, null],
      ["nested", "child_first", 1, "parent", 10000n, 5000n, null],
      ["nested", "fractional", 2, "child_first", 12500n, 250n, null],
      ["nested", "after_parent", 0, null, 30000n, 10000n, null],
      ["zero", "zero_length", 0, null, 100000n, 0n, null],
      ["zero", "next", 0, null, 100000n, 10000n, null],
    ]);
    const parent = rows.find((r) => r.name === "parent");
    expect([parent?.filename, parent?.line]).toEqual(["a.cc", 42]);
  });

  test("async events: nesting by key, instants, unmatched end, unclosed begin, id2.local", async () => {
    const rows = await ctx.q<Record<string, unknown>>(
      `SELECT event_type, name, depth, (SELECT DISTINCT name FROM async_events p WHERE p.span_id = a.parent_span_id AND p.event_type = 'begin') AS parent_name,
         anomaly, id_scope
       FROM async_events a ORDER BY time, event_type, name`,
    );
    expect(rows.map((r) => [r.event_type, r.name, r.depth, r.parent_name, r.anomaly, r.id_scope])).toEqual([
      ["begin", "request", 0, null, null, "global"],
      ["begin", "dns", 1, "request", null, "global"],
      ["instant", "mark", 2, "dns", null, "global"],
      ["end", "dns", 1, "request", null, "global"],
      ["end", "request", 0, null, null, "global"],
      ["end", "stray_end", 0, null, "unmatched", "global"],
      ["begin", "local_id_open", 0, null, "unclosed", "local"],
    ]);
  });

  test("measures: one row per numeric key, named as trace_processor names counter tracks", async () => {
    const rows = await ctx.q<{ name: string; value: number }>("SELECT name, value FROM measures ORDER BY time, name");
    expect(rows.map((r) => [r.name, r.value])).toEqual([
      ["mem free", 5],
      ["mem used", 10],
      ["mem id: 7 used", 11],
    ]);
  });

  test("log_entries: instants with level info, category as target, args as properties", async () => {
    const rows = await ctx.q<Record<string, unknown>>(
      "SELECT msg, target, level, properties::VARCHAR AS p, scope, epoch_ns(time) AS t FROM log_entries",
    );
    expect(rows).toEqual([{ msg: "hello", target: "log", level: 4, p: '{"k":"v"}', scope: "t", t: 7000n }]);
  });
});
