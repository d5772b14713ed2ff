/**
 * Span trees (issue 24 item 3) on the real Chromium JSON sample, ingested twice (`--force`: two
 * traces whose processes number their spans alike): span ids unique across the lake, so the
 * natural self-join on id/parent pairs each span with its own parent only; self_dur; the tree
 * table functions; async_spans. Expected values come from the input JSON (JSON.parse) or DuckDB
 * over raw_events, never from the views under test.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { Engine } from "../../lib/duck/engine.ts";
import { ingest } from "../../lib/ingest/ingest.ts";
import { Lake } from "../../lib/lake/lake.ts";
import { prepareQuery } from "../../lib/sql/query.ts";
import { ROOT, tempDir } from "../helpers.ts";

const CHROMIUM = join(ROOT, "fixtures/chromium_startup.json.gz");
const TP = process.env.TRACE_PROCESSOR_SHELL ?? "/work/shared/tools/trace_processor_shell";
const tpRuns = existsSync(TP) && Bun.spawnSync([TP, "--version"]).exitCode === 0;

/** Rows of a one-column query from trace_processor on `trace` (values without newlines). */
function tp(trace: string, sql: string): string[] {
  const q = join(tempDir(), "q.sql");
  writeFileSync(q, sql);
  const r = Bun.spawnSync([TP, "-q", q, trace], { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`trace_processor_shell failed: ${r.stderr.toString()}`);
  const lines = r.stdout
    .toString()
    .split("\n")
    .filter((l) => l !== "");
  return lines.slice(1).map((l) => (l.startsWith('"') ? l.slice(1, -1).replaceAll('""', '"') : l));
}

type Ev = Record<string, unknown> & { ph: string; pid: number; tid: number; ts: number; dur?: number; name: string };

function events(path: string): Ev[] {
  const j = JSON.parse(gunzipSync(readFileSync(path)).toString("utf8")) as { traceEvents: Ev[] } | Ev[];
  return Array.isArray(j) ? j : j.traceEvents;
}

/** µs (possibly fractional) → ns, as the importer keeps them. */
const ns = (us: number): number => Math.round(us * 1000);

/**
 * Per thread (`pid/tid`), its busy time in ns: the length of the union of its X intervals and of
 * the periods when a B is open (B/E paired by a counter in (ts, array order)); threads with a B
 * never closed or an E never opened are left out (their busy time depends on where the trace ends).
 */
function busyTimes(evs: Ev[]): Map<string, number> {
  const byThread = new Map<string, { t: number; k: number; i: number; d: number }[]>();
  for (const [i, e] of evs.entries()) {
    if (e.ph !== "X" && e.ph !== "B" && e.ph !== "E") continue;
    const key = `${e.pid}/${e.tid}`;
    const l = byThread.get(key) ?? [];
    l.push({ t: ns(e.ts), k: e.ph === "X" ? 2 : e.ph === "B" ? 1 : -1, i, d: ns(e.ts + (e.dur ?? 0)) - ns(e.ts) });
    byThread.set(key, l);
  }
  const out = new Map<string, number>();
  for (const [key, l] of byThread) {
    const intervals: [number, number][] = [];
    const be = l.filter((x) => x.k !== 2).sort((a, b) => a.t - b.t || a.i - b.i);
    let open = 0;
    let from = 0;
    let bad = false;
    for (const x of be) {
      if (x.k === 1 && open++ === 0) from = x.t;
      if (x.k === -1) {
        if (open === 0) bad = true;
        else if (--open === 0) intervals.push([from, x.t]);
      }
    }
    if (bad || open > 0) continue;
    for (const x of l) if (x.k === 2) intervals.push([x.t, x.t + x.d]);
    intervals.sort((a, b) => a[0] - b[0]);
    let total = 0;
    let end = Number.NEGATIVE_INFINITY;
    for (const [b, e] of intervals) {
      if (e <= end) continue;
      total += e - Math.max(b, end);
      end = e;
    }
    out.set(key, total);
  }
  return out;
}

describe("span trees on the Chromium sample, ingested twice", () => {
  let engine: Engine;
  let lake: Lake;
  /** Prepares and runs one query, returning rows with JS values. */
  const q = async <T = Record<string, unknown>>(sql: string): Promise<T[]> => {
    await prepareQuery(engine, lake, sql);
    return engine.rows<T>(sql);
  };

  beforeAll(async () => {
    engine = await Engine.open({ threads: 2 });
    lake = await Lake.open(engine, tempDir());
    await ingest(engine, lake, CHROMIUM);
    await ingest(engine, lake, CHROMIUM, { force: true });
  }, 120_000);
  afterAll(() => engine.close());

  test("span ids are unique in the lake: the self-join on parent = id pairs each span with its own parent", async () => {
    const [r] = await q<{ n: bigint; ids: bigint; children: bigint; procs: bigint }>(
      `SELECT count(*) AS n, count(DISTINCT id) AS ids, count(*) FILTER (parent <> -1) AS children,
         count(DISTINCT process_id) AS procs FROM thread_spans`,
    );
    // The processes of both copies: raw_events has the same spans twice.
    const [raw] = await q<{ n: bigint }>(`SELECT count(*) AS n FROM raw_events WHERE ph IN ('B', 'X')`);
    expect(r?.n).toBe(raw?.n);
    expect(r?.ids).toBe(r?.n);
    const [j] = await q<{ n: bigint; same: bigint }>(
      `SELECT count(*) AS n, count(*) FILTER (p.process_id = c.process_id AND p.stream_id = c.stream_id
           AND p.depth + 1 = c.depth AND p."begin" <= c."begin") AS same
       FROM thread_spans c JOIN thread_spans p ON c.parent = p.id`,
    );
    // Each child once (the old per-process ids gave each child a parent in every process).
    expect(j?.n).toBe(r?.children);
    expect(j?.same).toBe(j?.n);
    expect(Number(j?.n)).toBeGreaterThan(150_000);
  }, 120_000);

  test("slice.id and parent_id are thread_spans' id and parent; flows' ends name one span each", async () => {
    const [s] = await q<{ n: bigint; m: bigint }>(
      `SELECT count(*) AS n, count(*) FILTER (t.id IS NOT NULL AND coalesce(s.parent_id, -1) = t.parent
           AND s.name = t.name AND s.ts = epoch_ns(t."begin")) AS m
       FROM slice s JOIN thread_track k ON k.id = s.track_id LEFT JOIN thread_spans t ON t.id = s.id WHERE s.dur <> 0`,
    );
    expect(Number(s?.n)).toBeGreaterThan(150_000);
    expect(s?.m).toBe(s?.n);
    const [f] = await q<{ n: bigint; m: bigint; ends: bigint }>(
      `SELECT count(*) AS n, count(*) FILTER (s.process_id = f.out_process_id AND s.name = f.out_name
           AND s."begin" = f.out_time) AS m, (SELECT count(*) FROM flows WHERE out_id IS NOT NULL) AS ends
       FROM flows f JOIN thread_spans s ON s.id = f.out_id`,
    );
    expect(Number(f?.n)).toBeGreaterThan(1000);
    expect(f?.n).toBe(f?.ends);
    expect(f?.m).toBe(f?.n);
  }, 120_000);

  test("self_dur summed over a thread is its busy time (from the input JSON)", async () => {
    const busy = busyTimes(events(CHROMIUM));
    const rows = await q<{ k: string; self: bigint; over: bigint }>(
      `SELECT p.source_pid || '/' || s.tid AS k, sum(s.self_dur) AS self, count(*) FILTER (s.anomaly IS NOT NULL) AS over
       FROM thread_spans s JOIN processes p USING (process_id)
       WHERE p.ingest_id = (SELECT min(ingest_id) FROM processes) GROUP BY 1`,
    );
    let compared = 0;
    for (const r of rows) {
      const b = busy.get(r.k);
      if (b === undefined || r.over > 0n) continue;
      expect([r.k, Number(r.self)]).toEqual([r.k, b]);
      compared++;
    }
    expect(compared).toBeGreaterThan(50);
    // Unclosed spans: self_dur -1, like dur.
    const [u] = await q<{ n: bigint; bad: bigint }>(
      `SELECT count(*) AS n, count(*) FILTER (self_dur <> -1 OR dur <> -1) AS bad FROM thread_spans WHERE anomaly = 'unclosed'`,
    );
    expect(Number(u?.n)).toBeGreaterThan(0);
    expect(u?.bad).toBe(0n);
  }, 120_000);

  test("children, descendants, ancestors: the spans of the thread that contain or are contained in the span", async () => {
    // The span with the most descendants among those of depth 2, and one of its deepest leaves.
    const [p] = await q<{ id: bigint; n: bigint }>(
      `SELECT p.id, count(*) AS n FROM thread_spans p JOIN thread_spans c ON c.stream_id = p.stream_id
         AND c."begin" >= p."begin" AND c."end" <= p."end" AND c.depth > p.depth
       WHERE p.depth = 2 AND p.anomaly IS NULL GROUP BY p.id ORDER BY n DESC, p.id LIMIT 1`,
    );
    expect(Number(p?.n)).toBeGreaterThan(20);
    // Oracle: containment in time on the same thread (thread_spans' begin, end, depth and stream,
    // not its ids), for a span whose subtree has no 'overlap' span.
    const [d] = await q<{ n: bigint; kids: bigint; direct: bigint }>(
      `SELECT (SELECT count(*) FROM descendants(${p?.id})) AS n,
         (SELECT count(*) FROM children(${p?.id})) AS kids,
         (SELECT count(*) FROM thread_spans c, (SELECT * FROM thread_spans WHERE id = ${p?.id}) p
          WHERE c.stream_id = p.stream_id AND c."begin" >= p."begin" AND c."end" <= p."end" AND c.depth = p.depth + 1) AS direct`,
    );
    expect(d?.n).toBe(p?.n);
    expect(d?.kids).toBe(d?.direct);
    const leaf = await q<{ id: bigint; depth: number }>(
      `SELECT id, depth FROM descendants(${p?.id}) ORDER BY depth DESC, id LIMIT 1`,
    );
    const l = leaf[0] as { id: bigint; depth: number };
    const anc = await q<{ name: string; depth: number }>(`SELECT name, depth FROM ancestors(${l.id})`);
    const expected = await q<{ name: string; depth: number }>(
      `SELECT a.name, a.depth FROM thread_spans a, (SELECT * FROM thread_spans WHERE id = ${l.id}) c
       WHERE a.stream_id = c.stream_id AND a."begin" <= c."begin" AND a."end" >= c."end" AND a.depth < c.depth ORDER BY a.depth`,
    );
    expect(anc.length).toBe(l.depth);
    expect(anc).toEqual(expected);
  }, 120_000);

  test("heaviest_path: from the span down, each step the child with the largest duration", async () => {
    const path = await q<{ id: bigint; depth: number; duration: bigint }>(
      `SELECT id, depth, duration FROM heaviest_path((SELECT id FROM thread_spans WHERE depth = 0 AND anomaly IS NULL ORDER BY duration DESC, id LIMIT 1))`,
    );
    expect(path.length).toBeGreaterThan(2);
    for (const [i, r] of path.entries()) {
      expect(r.depth).toBe((path[0]?.depth as number) + i);
      // The largest child (by time containment on the thread) of the previous step; none after the last.
      const prev = path[i - 1];
      const [m] = await q<{ mx: bigint | null }>(
        `SELECT max(c.duration) AS mx FROM thread_spans c, (SELECT * FROM thread_spans WHERE id = ${(prev ?? r).id}) p
         WHERE c.stream_id = p.stream_id AND c."begin" >= p."begin" AND c."end" <= p."end" AND c.depth = p.depth + 1`,
      );
      if (prev) expect(m?.mx).toBe(r.duration);
    }
    const last = path[path.length - 1] as { id: bigint };
    const [k] = await q<{ n: bigint }>(`SELECT count(*) AS n FROM children(${last.id})`);
    expect(k?.n).toBe(0n);
  }, 120_000);

  test.skipIf(!tpRuns)(
    "ancestor_slice, descendant_slice and async spans as trace_processor has them",
    async () => {
      // A deep thread slice, named by its ts and name.
      const [c] = await q<{ ts: bigint; name: string; id: bigint }>(
        `SELECT ts, name, id FROM thread_spans WHERE depth = 6 AND anomaly IS NULL
         AND process_id IN (SELECT process_id FROM processes WHERE ingest_id = (SELECT min(ingest_id) FROM processes))
       ORDER BY duration DESC LIMIT 1`,
      );
      const at = `(SELECT id FROM slice WHERE ts = ${c?.ts} AND name = '${c?.name}' AND dur <> 0 LIMIT 1)`;
      const up = `SELECT name || '|' || depth || '|' || ts AS r FROM ancestor_slice(${at}) ORDER BY depth`;
      // Instants' depths aside: trace_processor nests an instant in another of the same ts
      // (tests/sql/perfetto_views_tp.test.ts).
      const down = `SELECT name || '|' || CASE WHEN dur = 0 THEN -1 ELSE depth END || '|' || ts || '|' || dur AS r
        FROM descendant_slice(${at}) ORDER BY r`;
      const ourUp = (await q<{ r: string }>(up.replace(at, `${c?.id}`))).map((x) => x.r);
      expect(ourUp.length).toBe(6);
      expect(ourUp).toEqual(tp(CHROMIUM, up));
      const ourDown = (await q<{ r: string }>(down.replace(at, `${c?.id}`))).map((x) => x.r);
      expect(ourDown.length).toBeGreaterThan(10);
      expect(ourDown).toEqual(tp(CHROMIUM, down));
      // Async spans: ts, dur and name of trace_processor's slices off the thread tracks (dur <> 0).
      const theirs = tp(
        CHROMIUM,
        `SELECT s.ts || '|' || s.dur || '|' || s.name AS r FROM slice s
       WHERE s.dur <> 0 AND s.track_id NOT IN (SELECT id FROM thread_track) ORDER BY r`,
      );
      const mine = (
        await q<{ r: string }>(
          `SELECT a.ts || '|' || a.dur || '|' || a.name AS r FROM async_spans a JOIN processes p USING (process_id)
         WHERE p.ingest_id = (SELECT min(ingest_id) FROM processes) AND a.dur <> 0 ORDER BY r`,
        )
      ).map((x) => x.r);
      expect(mine.length).toBeGreaterThan(1000);
      expect(mine).toEqual(theirs);
    },
    300_000,
  );

  test("tid is the source's integer thread id (numeric order), tid_text its text, in every event view", async () => {
    const evs = events(CHROMIUM);
    const threads = new Set(evs.filter((e) => e.ph === "X" || e.ph === "B").map((e) => `${e.pid}/${e.tid}`));
    const rows = await q<{ pid: string; tid: bigint; tid_text: string }>(
      `SELECT DISTINCT p.source_pid AS pid, s.tid, s.tid_text FROM thread_spans s JOIN processes p USING (process_id)`,
    );
    expect(new Set(rows.map((r) => `${r.pid}/${r.tid}`))).toEqual(threads);
    for (const r of rows) {
      expect(typeof r.tid).toBe("bigint");
      expect(r.tid_text).toBe(String(r.tid));
    }
    const sorted = [...new Set(rows.map((r) => r.tid))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const ordered = await q<{ tid: bigint }>("SELECT DISTINCT tid FROM thread_spans ORDER BY tid");
    expect(ordered.map((r) => r.tid)).toEqual(sorted);
    for (const view of ["async_events", "log_entries"]) {
      const [t] = await q<{ n: bigint; ok: bigint }>(
        `SELECT count(*) AS n, count(*) FILTER (tid::VARCHAR = tid_text) AS ok FROM ${view}`,
      );
      expect(Number(t?.n)).toBeGreaterThan(1000);
      expect(t?.ok).toBe(t?.n);
    }
  }, 120_000);

  test("async_events.dur: the span's length on its begin and its end, -1 never ended, 0 on instants", async () => {
    // Oracle: the begin and end rows' own times (a self-join on the pairing's span_id).
    const [r] = await q<{ pairs: bigint; ok: bigint; unclosed: bigint; u_ok: bigint; inst: bigint; i_ok: bigint }>(
      `SELECT (SELECT count(*) FROM async_events b JOIN async_events e ON e.process_id = b.process_id AND e.span_id = b.span_id
               AND b.event_type = 'begin' AND e.event_type = 'end') AS pairs,
        (SELECT count(*) FROM async_events b JOIN async_events e ON e.process_id = b.process_id AND e.span_id = b.span_id
               AND b.event_type = 'begin' AND e.event_type = 'end'
         WHERE b.dur = epoch_ns(e.time) - epoch_ns(b.time) AND e.dur = b.dur) AS ok,
        (SELECT count(*) FROM async_events WHERE anomaly = 'unclosed') AS unclosed,
        (SELECT count(*) FROM async_events WHERE anomaly = 'unclosed' AND dur = -1) AS u_ok,
        (SELECT count(*) FROM async_events WHERE event_type = 'instant') AS inst,
        (SELECT count(*) FROM async_events WHERE event_type = 'instant' AND dur = 0) AS i_ok`,
    );
    expect(Number(r?.pairs)).toBeGreaterThan(1000);
    expect(r?.ok).toBe(r?.pairs);
    expect(Number(r?.unclosed)).toBeGreaterThan(0);
    expect(r?.u_ok).toBe(r?.unclosed);
    expect(r?.i_ok).toBe(r?.inst);
  }, 120_000);

  test.skipIf(!tpRuns)(
    "self_dur equals trace_processor's slice_self_dur on every closed thread slice",
    async () => {
      const theirs = tp(
        CHROMIUM,
        `INCLUDE PERFETTO MODULE slices.self_dur;
       SELECT s.ts || '|' || s.name || '|' || s.depth || '|' || d.self_dur AS r
       FROM slice s JOIN slice_self_dur d USING (id) JOIN thread_track t ON t.id = s.track_id WHERE s.dur > 0`,
      ).sort();
      const mine = (
        await q<{ r: string }>(
          `SELECT ts || '|' || name || '|' || depth || '|' || self_dur AS r FROM thread_spans JOIN processes p USING (process_id)
         WHERE p.ingest_id = (SELECT min(ingest_id) FROM processes) AND dur > 0`,
        )
      )
        .map((x) => x.r)
        .sort();
      expect(mine.length).toBeGreaterThan(80_000);
      expect(mine).toEqual(theirs);
    },
    300_000,
  );
});

describe("tid: integer when the source's is, its text in tid_text", () => {
  test("numeric order, a text tid kept in tid_text with tid NULL", async () => {
    const dir = tempDir();
    const file = join(dir, "tids.json");
    const evs = [
      { ph: "X", pid: 1, tid: 100, ts: 1, dur: 1, name: "a" },
      { ph: "X", pid: 1, tid: 9, ts: 2, dur: 1, name: "b" },
      { ph: "X", pid: 1, tid: 10, ts: 3, dur: 1, name: "c" },
      { ph: "X", pid: 1, tid: "worker-1", ts: 4, dur: 1, name: "d" },
      { ph: "i", pid: 1, tid: "worker-1", ts: 5, name: "e", s: "t" },
      { ph: "i", pid: 1, tid: 9, ts: 6, name: "f", s: "t" },
      { ph: "X", pid: 29184, tid: 1, ts: 7, dur: 1, name: "g" },
      { ph: "X", pid: 9153, tid: 1, ts: 8, dur: 1, name: "h" },
    ];
    writeFileSync(file, JSON.stringify({ traceEvents: evs }));
    const engine = await Engine.open({ threads: 1 });
    try {
      const lake = await Lake.open(engine, join(dir, "lake"));
      await ingest(engine, lake, file);
      const q = async <T>(sql: string): Promise<T[]> => {
        await prepareQuery(engine, lake, sql);
        return engine.rows<T>(sql);
      };
      // processes.pid: the source pid as an integer (numeric order: 9153 before 29184), beside source_pid.
      const procs = await q<{ pid: bigint; source_pid: string }>("SELECT pid, source_pid FROM processes ORDER BY pid");
      expect(procs).toEqual([
        { pid: 1n, source_pid: "1" },
        { pid: 9153n, source_pid: "9153" },
        { pid: 29184n, source_pid: "29184" },
      ]);
      const spans = await q<{ name: string; tid: bigint | null; tid_text: string }>(
        "SELECT name, tid, tid_text FROM thread_spans JOIN processes p USING (process_id) WHERE p.pid = 1 ORDER BY tid NULLS LAST",
      );
      expect(spans).toEqual([
        { name: "b", tid: 9n, tid_text: "9" },
        { name: "c", tid: 10n, tid_text: "10" },
        { name: "a", tid: 100n, tid_text: "100" },
        { name: "d", tid: null, tid_text: "worker-1" },
      ]);
      const logs = await q<{ msg: string; tid: bigint | null; tid_text: string }>(
        "SELECT msg, tid, tid_text FROM log_entries ORDER BY msg",
      );
      expect(logs).toEqual([
        { msg: "e", tid: null, tid_text: "worker-1" },
        { msg: "f", tid: 9n, tid_text: "9" },
      ]);
    } finally {
      engine.close();
    }
  }, 60_000);
});
