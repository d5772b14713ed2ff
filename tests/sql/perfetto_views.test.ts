/**
 * The Perfetto-shaped views (lib/sql/perfetto_views.ts) and the ts/dur columns
 * (lib/sql/time_columns.ts) without trace_processor: what a statement materializes, ids across a
 * lake of two traces, Perfetto's documentation query against the raw X events, and ts/dur
 * against raw_events. trace_processor itself is the oracle in perfetto_views_tp.test.ts.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { cli, queryRows, ROOT, tempDir } from "../helpers.ts";

const JSON_TRACE = join(ROOT, "fixtures", "chromium_startup.json.gz");
const PROTO_TRACE = join(ROOT, "fixtures", "chromium_startup.pftrace.gz");

/** The view sets with partitions in the lake. */
function materialized(lake: string): string[] {
  return queryRows(lake, "SELECT DISTINCT view_set_name AS v FROM list_partitions() ORDER BY 1").map((r) =>
    String(r.v),
  );
}

describe("what a statement materializes", () => {
  test("thread/process/thread_track: nothing; counter: measures; slice: the three it reads", () => {
    const lake = join(tempDir(), "lake");
    expect(cli(lake, ["ingest", JSON_TRACE]).code).toBe(0);
    const [t] = queryRows(
      lake,
      `SELECT count(*) AS n, (SELECT count(DISTINCT stream_id) FROM blocks JOIN streams USING (stream_id)
         WHERE list_contains(tags, 'cpu')) AS threads FROM thread JOIN thread_track USING (utid) JOIN process USING (upid)`,
    );
    // trace_processor: 107 threads of processes with a pid, plus its pid 0 placeholder and swapper.
    expect(t?.n).toBe(107);
    expect(t?.n).toBe(t?.threads);
    expect(materialized(lake)).toEqual([]);
    queryRows(lake, "SELECT count(*) FROM counter JOIN counter_track ON counter.track_id = counter_track.id");
    expect(materialized(lake)).toEqual(["measures"]);
    expect(queryRows(lake, "SELECT count(*) AS n FROM slice")[0]?.n).toBe(111037);
    expect(materialized(lake)).toEqual(["async_events", "log_entries", "measures", "thread_spans"]);
  }, 120_000);
});

describe("a lake of two traces", () => {
  let lake = "";
  beforeAll(() => {
    lake = join(tempDir(), "lake");
    for (const t of [JSON_TRACE, PROTO_TRACE]) expect(cli(lake, ["ingest", t]).code).toBe(0);
  });

  test("slice.id unique across the lake; every parent_id and arg_set_id names a slice", () => {
    const [r] = queryRows(
      lake,
      `SELECT count(*) AS n, count(DISTINCT id) AS ids,
         count(*) FILTER (WHERE parent_id IS NOT NULL AND parent_id NOT IN (SELECT id FROM slice)) AS orphans,
         count(*) FILTER (WHERE arg_set_id IS NOT NULL AND arg_set_id <> id) AS foreign_args,
         count(DISTINCT track_id) AS tracks FROM slice`,
    );
    // Both samples' slices (trace_processor: 111,037 and 123,171) in one view.
    expect(r?.n).toBe(111037 + 123171);
    expect(r?.ids).toBe(r?.n);
    expect(r?.orphans).toBe(0);
    expect(r?.foreign_args).toBe(0);
    // Every slice below the top has its parent, one level up and begun no later (joins on ids
    // unique in the lake: the same join on thread_spans.id/parent matched spans of other processes).
    const [j] = queryRows(
      lake,
      `SELECT count(*) FILTER (WHERE c.depth > 0) AS deep, count(p.id) AS joined,
         count(*) FILTER (WHERE p.depth <> c.depth - 1 OR p.ts > c.ts) AS bad FROM slice c LEFT JOIN slice p ON c.parent_id = p.id`,
    );
    expect(j?.deep).toBeGreaterThan(200000);
    expect(j?.joined).toBe(j?.deep);
    expect(j?.bad).toBe(0);
  }, 120_000);

  test("upid and utid: 1.. in ingest order, one per process and per cpu stream with events", () => {
    const p = queryRows(lake, "SELECT upid, pid FROM process ORDER BY upid");
    expect(p.map((r) => r.upid)).toEqual(p.map((_, k) => k + 1));
    const [t] = queryRows(
      lake,
      `SELECT count(*) AS n, max(utid) AS m, (SELECT count(DISTINCT stream_id) FROM blocks JOIN streams USING (stream_id)
         WHERE list_contains(tags, 'cpu')) AS cpu FROM thread`,
    );
    expect(t?.n).toBe(t?.cpu);
    expect(t?.m).toBe(t?.cpu);
  }, 120_000);

  test("Perfetto's documentation query: every X event of CrBrowserMain, as raw_events has it", () => {
    const doc = queryRows(
      lake,
      `SELECT ts, dur, slice.name FROM slice JOIN thread_track ON slice.track_id = thread_track.id
       JOIN thread USING (utid) WHERE thread.name = 'CrBrowserMain'`,
    );
    const x = queryRows(
      lake,
      `SELECT epoch_ns(e.time) AS ts, e.dur, e.name FROM raw_events e JOIN streams s USING (stream_id)
       WHERE e.ph = 'X' AND (s.properties->>'thread-name') = 'CrBrowserMain'`,
    );
    expect(x.length).toBeGreaterThan(10000);
    const key = (r: Record<string, unknown>) => `${r.ts}|${r.dur}|${r.name}`;
    const have = new Map<string, number>();
    for (const r of doc) have.set(key(r), (have.get(key(r)) ?? 0) + 1);
    const missing = x.filter((r) => {
      const n = have.get(key(r)) ?? 0;
      have.set(key(r), n - 1);
      return n <= 0;
    });
    expect(missing).toEqual([]);
  }, 120_000);
});

describe("ts and dur on the event views", () => {
  test("thread_spans: ts = the event's time, dur = its dur (X) or -1 (unclosed), after the materialized columns", () => {
    const lake = join(tempDir(), "lake");
    expect(cli(lake, ["ingest", JSON_TRACE]).code).toBe(0);
    const cols = queryRows(lake, "SELECT column_name AS c FROM (DESCRIBE SELECT * FROM thread_spans)").map((r) => r.c);
    expect(cols.slice(-2)).toEqual(["ts", "dur"]);
    const [r] = queryRows(
      lake,
      `WITH s AS (SELECT ts, dur, name FROM thread_spans WHERE phase = 'X'),
            x AS (SELECT epoch_ns(time) AS ts, dur, name FROM raw_events WHERE ph = 'X')
       SELECT (SELECT count(*) FROM s) AS n, (SELECT count(*) FROM (SELECT * FROM s EXCEPT ALL SELECT * FROM x)) AS extra,
              (SELECT count(*) FROM (SELECT * FROM x EXCEPT ALL SELECT * FROM s)) AS missing`,
    );
    expect(Number(r?.n)).toBeGreaterThan(80000);
    expect(r?.extra).toBe(0);
    expect(r?.missing).toBe(0);
    const [u] = queryRows(
      lake,
      `SELECT count(*) FILTER (WHERE dur = -1) AS minus, count(*) FILTER (WHERE anomaly = 'unclosed') AS unclosed,
         count(*) FILTER (WHERE dur = -1 AND duration >= 0) AS kept FROM thread_spans`,
    );
    expect(u?.minus).toBe(88);
    expect(u?.unclosed).toBe(88);
    expect(u?.kept).toBe(88);
    for (const v of ["async_events", "log_entries", "measures"]) {
      const [t] = queryRows(lake, `SELECT count(*) FILTER (WHERE ts <> epoch_ns(time)) AS bad FROM ${v}`);
      expect(t?.bad).toBe(0);
    }
    const [vi] = queryRows(lake, "SELECT count(ts) AS n FROM view_instance('thread_spans', 'Browser')");
    expect(Number(vi?.n)).toBeGreaterThan(1000);
  }, 120_000);
});
