/**
 * Traces as first-class (issue 24 item 1): the `traces` view, `ingest --name`, `traces --rename`,
 * trace_id and rel_ts on the event views, `TRACE:PROCESS` references, `rm` and its files through
 * gc, and migration 2 on a catalog at version 1. Expected values come from the input JSON
 * (JSON.parse in this test) and from trace_processor's trace_bounds, never from the code under test.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { Engine } from "../../lib/duck/engine.ts";
import { BUN, CHROMIUM_JSON_SAMPLE, type ChromeEvent, cli, queryRows, ROOT, snapshot, tempDir } from "../helpers.ts";

const SAMPLE = CHROMIUM_JSON_SAMPLE;
type Ev = ChromeEvent;
/** The sample's events (the oracle), metadata events aside. */
let events: Ev[] = [];
/** Browser's pid in the sample (from its M process_name event). */
let browserPid = 0;
/** The pid of "Service: storage.mojom.StorageService" (a process name with a ':'). */
let storagePid = 0;

const ns = (us: number): number => Math.round(us * 1000);

beforeAll(() => {
  const all = (
    JSON.parse(gunzipSync(readFileSync(SAMPLE)).toString()) as {
      traceEvents: (Ev & { args?: { name?: string } })[];
    }
  ).traceEvents;
  const pidOf = (name: string) =>
    all.find((e) => e.ph === "M" && e.name === "process_name" && e.args?.name === name)?.pid ?? -1;
  browserPid = pidOf("Browser");
  storagePid = pidOf("Service: storage.mojom.StorageService");
  events = all.filter((e) => e.ph !== "M");
});

describe("traces, names, trace_id and rel_ts on a lake of two ingests of the sample", () => {
  const lake = join(tempDir(), "lake");
  beforeAll(() => {
    expect(cli(lake, ["ingest", SAMPLE, "--name", "run1"]).code).toBe(0);
    const second = cli(lake, ["ingest", "--force", SAMPLE]);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain("as trace chromium_startup.json.gz into");
  });

  test("the traces view: one row per ingest, range = the earliest/latest event (trace_processor's trace_bounds)", () => {
    const t = queryRows(lake, "SELECT * FROM traces ORDER BY insert_time");
    expect(t.map((r) => r.name)).toEqual(["run1", "chromium_startup.json.gz"]);
    const start = Math.min(...events.map((e) => ns(e.ts)));
    const end = Math.max(...events.map((e) => ns(e.ts + (e.dur ?? 0))));
    // trace_processor v58.2 on the same file: SELECT start_ts, end_ts FROM trace_bounds.
    expect([start, end]).toEqual([623898246000, 629992130000]);
    for (const r of t) {
      expect(r).toMatchObject({
        source: SAMPLE,
        format: "chrome_json",
        start_ts: start,
        end_ts: end,
        duration: end - start,
        processes: new Set(events.map((e) => e.pid)).size,
        events: events.length,
      });
    }
    expect(t[0]?.start_time).toBe("1970-01-01 00:10:23.898246");
    // tracelake traces prints the same view.
    const out = cli(lake, ["traces", "-f", "csv"]);
    expect(out.code).toBe(0);
    expect(out.stdout.split("\n")[0]).toStartWith("trace_id,name,source,format,start_time,end_time,start_ts,end_ts");
    expect(out.stdout).toContain(String(t[1]?.trace_id));
  });

  test("every event view carries trace_id and rel_ts = ts - the trace's start", () => {
    const start = Math.min(...events.map((e) => ns(e.ts)));
    const spans = events.filter((e) => e.ph === "X" || e.ph === "B");
    const logs = events.filter((e) => e.ph === "I" || e.ph === "i" || e.ph === "R");
    const [t1, t2] = queryRows(lake, "SELECT trace_id FROM traces ORDER BY insert_time").map((r) => r.trace_id);
    const per = queryRows(
      lake,
      `SELECT 'thread_spans' AS v, trace_id, count(*) AS n, min(rel_ts) AS r0, count(*) FILTER (WHERE rel_ts <> ts - ${start}) AS bad FROM thread_spans GROUP BY ALL
       UNION ALL SELECT 'log_entries', trace_id, count(*), min(rel_ts), count(*) FILTER (WHERE rel_ts <> ts - ${start}) FROM log_entries GROUP BY ALL
       UNION ALL SELECT 'async_events', trace_id, count(*), min(rel_ts), count(*) FILTER (WHERE rel_ts <> ts - ${start}) FROM async_events GROUP BY ALL
       UNION ALL SELECT 'flows', trace_id, count(*), NULL, count(*) FILTER (WHERE rel_ts <> ts - ${start}) FROM flows GROUP BY ALL
       ORDER BY v, trace_id`,
    );
    const byView = (v: string) => per.filter((r) => r.v === v);
    for (const v of ["thread_spans", "log_entries", "async_events", "flows"]) {
      expect(byView(v).map((r) => r.trace_id)).toEqual([t1, t2].sort());
      for (const r of byView(v)) expect(r.bad).toBe(0);
    }
    for (const r of byView("thread_spans")) {
      expect(r.n).toBe(spans.length);
      expect(r.r0).toBe(Math.min(...spans.map((e) => ns(e.ts))) - start);
    }
    for (const r of byView("log_entries")) {
      expect(r.n).toBe(logs.length);
      expect(r.r0).toBe(Math.min(...logs.map((e) => ns(e.ts))) - start);
    }
    // The trace's earliest event is an async one here: rel_ts 0.
    for (const r of byView("async_events")) expect(r.r0).toBe(0);
    // Column order: materialized columns, trace_id, rel_ts, ts, dur.
    const cols = queryRows(lake, "SELECT column_name AS c FROM (DESCRIBE SELECT * FROM thread_spans)").map((r) => r.c);
    expect(cols.slice(-4)).toEqual(["trace_id", "rel_ts", "ts", "dur"]);
  });

  test("TRACE:PROCESS picks the Browser of one trace; a bare Browser is ambiguous and lists both traces", () => {
    const browserSpans = events.filter((e) => (e.ph === "X" || e.ph === "B") && e.pid === browserPid).length;
    expect(browserSpans).toBeGreaterThan(1000);
    const [t2] = queryRows(lake, "SELECT trace_id FROM traces WHERE name = 'chromium_startup.json.gz'");
    const [r] = queryRows(
      lake,
      "SELECT count(*) AS n, min(trace_id) AS t, count(DISTINCT trace_id) AS k FROM view_instance('thread_spans', 'chromium_startup.json.gz:Browser')",
    );
    expect(r).toEqual({ n: browserSpans, t: t2?.trace_id, k: 1 });
    const [byPid] = queryRows(
      lake,
      `SELECT count(*) AS n FROM view_instance('thread_spans', 'run1:pid:${browserPid}')`,
    );
    expect(byPid?.n).toBe(browserSpans);
    // A process name holding a ':' after a trace.
    const [svc] = queryRows(
      lake,
      "SELECT count(*) AS n FROM view_instance('thread_spans', 'run1:Service: storage.mojom.StorageService')",
    );
    expect(svc?.n).toBe(events.filter((e) => (e.ph === "X" || e.ph === "B") && e.pid === storagePid).length);
    expect(svc?.n).toBeGreaterThan(0);
    const amb = cli(lake, ["query", "SELECT count(*) FROM view_instance('thread_spans', 'Browser')"]);
    expect(amb.code).toBe(1);
    expect(amb.stderr).toContain("matches 2 processes");
    expect(amb.stderr).toContain("trace run1");
    expect(amb.stderr).toContain("trace chromium_startup.json.gz");
    // partitions --process takes the same forms (as a filter).
    const [run1Browser] = queryRows(
      lake,
      `SELECT p.process_id FROM processes p JOIN traces t ON t.trace_id = p.ingest_id WHERE t.name = 'run1' AND p.source_pid = '${browserPid}'`,
    );
    const parts = cli(lake, ["partitions", "--process", "run1:Browser", "-f", "csv"]);
    expect(parts.code).toBe(0);
    const ids = new Set(
      parts.stdout
        .trim()
        .split("\n")
        .slice(1)
        .map((l) => l.split(",")[1]),
    );
    expect([...ids]).toEqual([String(run1Browser?.process_id)]);
    const none = cli(lake, ["query", "SELECT count(*) FROM view_instance('thread_spans', 'nosuch:Browser')"]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain("no process matches 'nosuch:Browser'");
  });

  test("processes.start_time is the process's earliest event of any kind, not its first span", () => {
    const first = new Map<number, number>();
    const firstSpan = new Map<number, number>();
    for (const e of events) {
      first.set(e.pid, Math.min(first.get(e.pid) ?? Number.POSITIVE_INFINITY, ns(e.ts)));
      if (e.ph === "X" || e.ph === "B")
        firstSpan.set(e.pid, Math.min(firstSpan.get(e.pid) ?? Number.POSITIVE_INFINITY, ns(e.ts)));
    }
    const got = queryRows(
      lake,
      "SELECT source_pid, epoch_ns(start_time) AS s FROM processes WHERE ingest_id = (SELECT trace_id FROM traces WHERE name = 'run1')",
    );
    expect(Object.fromEntries(got.map((r) => [String(r.source_pid), r.s]))).toEqual(
      Object.fromEntries([...first].map(([pid, t]) => [String(pid), t])),
    );
    // The observation: Browser's first span comes 578 ms after its first event.
    expect((firstSpan.get(browserPid) ?? 0) - (first.get(browserPid) ?? 0)).toBe(578_197_000);
  });

  test("names: --name must be new, --rename checks and renames, the default is made unique", () => {
    const dup = cli(lake, ["ingest", "--force", SAMPLE, "--name", "run1"]);
    expect(dup.code).toBe(65);
    expect(dup.stderr).toContain("already has that name");
    expect(cli(lake, ["ingest", "--force", SAMPLE, "--name", "a:b"]).stderr).toContain("holds a ':'");
    expect(queryRows(lake, "SELECT count(*) AS n FROM traces")[0]?.n).toBe(2);
    const bad = cli(lake, ["traces", "--rename", "chromium_startup.json.gz", "run1"]);
    expect(bad.code).toBe(65);
    const ok = cli(lake, ["traces", "--rename", "chromium_startup.json.gz", "run2"]);
    expect(ok.code).toBe(0);
    expect(queryRows(lake, "SELECT name FROM traces ORDER BY insert_time").map((r) => r.name)).toEqual([
      "run1",
      "run2",
    ]);
    // A default name already taken gets #2.
    expect(cli(lake, ["traces", "--rename", "run2", "chromium_startup.json.gz"]).code).toBe(0);
    expect(cli(lake, ["ingest", "--force", SAMPLE]).stdout).toContain("as trace chromium_startup.json.gz#2 into");
  });
});

describe("rm", () => {
  test("removes one trace's rows in one go, queues its files for gc, leaves the other trace whole", () => {
    const lake = join(tempDir(), "lake");
    expect(cli(lake, ["ingest", SAMPLE, "--name", "keep"]).code).toBe(0);
    expect(cli(lake, ["ingest", "--force", SAMPLE, "--name", "drop"]).code).toBe(0);
    queryRows(lake, "SELECT count(*) FROM thread_spans, log_entries");
    const [before] = queryRows(
      lake,
      `SELECT (SELECT count(*) FROM blocks b JOIN processes p USING (process_id) JOIN traces t ON t.trace_id = p.ingest_id WHERE t.name = 'drop') AS blocks,
              (SELECT count(*) FROM list_partitions() l JOIN processes p ON p.process_id = l.view_instance_id JOIN traces t ON t.trace_id = p.ingest_id WHERE t.name = 'drop' AND l.file_path IS NOT NULL) AS files`,
    );
    const dry = cli(lake, ["rm", "--dry-run", "drop"]);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain("would remove trace drop");
    expect(queryRows(lake, "SELECT count(*) AS n FROM traces")[0]?.n).toBe(2);
    const unknown = cli(lake, ["rm", "drop", "nosuch"]);
    expect(unknown.code).toBe(65);
    expect(queryRows(lake, "SELECT count(*) AS n FROM traces")[0]?.n).toBe(2);
    const r = cli(lake, ["rm", "drop"], undefined);
    expect(r.code).toBe(0);
    const [after] = queryRows(
      lake,
      `SELECT (SELECT count(*) FROM traces) AS traces, (SELECT count(*) FROM processes) AS processes,
              (SELECT count(*) FROM ingests) AS ingests,
              (SELECT count(*) FROM temporary_files WHERE starts_with(file_path, 'blobs/')) AS blobs_queued,
              (SELECT count(*) FROM temporary_files WHERE starts_with(file_path, 'views/')) AS parts_queued,
              (SELECT count(*) FROM thread_spans) AS spans`,
    );
    expect(after).toEqual({
      traces: 1,
      processes: new Set(events.map((e) => e.pid)).size,
      ingests: 1,
      blobs_queued: before?.blocks,
      parts_queued: before?.files,
      spans: events.filter((e) => e.ph === "X" || e.ph === "B").length,
    });
    // Files stay until their expiration; check sees them as retired, not orphans.
    expect(cli(lake, ["check"]).code).toBe(0);
    expect(cli(lake, ["gc"]).stdout).toContain("freed 0 B");
  });

  test("with a zero grace period, gc deletes the removed trace's blobs and partition files", () => {
    const lake = join(tempDir(), "lake");
    expect(cli(lake, ["ingest", SAMPLE]).code).toBe(0);
    queryRows(lake, "SELECT count(*) FROM thread_spans");
    const files = (dir: string): number =>
      existsSync(dir) ? readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).length : 0;
    expect(files(join(lake, "blobs"))).toBeGreaterThan(0);
    expect(cli(lake, ["rm", "--grace", "0", "chromium_startup.json.gz"]).code).toBe(0);
    expect(cli(lake, ["gc"]).code).toBe(0);
    expect(files(join(lake, "blobs"))).toBe(0);
    expect(files(join(lake, "views"))).toBe(0);
    expect(queryRows(lake, "SELECT count(*) AS n FROM temporary_files")[0]?.n).toBe(0);
    // The content can be ingested again: not taken for a duplicate.
    expect(cli(lake, ["ingest", SAMPLE]).stdout).toContain("as trace chromium_startup.json.gz into");
  });
});

describe("rm killed before its commit", () => {
  test("SIGKILL at rm-before-commit: the lake is as before (rows, files, check), and rm then works", async () => {
    const lake = join(tempDir(), "lake");
    const node = join(ROOT, "fixtures", "node_trace.json.gz");
    expect(cli(lake, ["ingest", node, "--name", "a"]).code).toBe(0);
    expect(cli(lake, ["ingest", "--force", node, "--name", "b"]).code).toBe(0);
    queryRows(lake, "SELECT count(*) FROM thread_spans");
    const before = await snapshot(lake);
    const marker = join(tempDir("tl-marker-"), "paused");
    const p = Bun.spawn([BUN, join(ROOT, "main.ts"), "--lake", lake, "rm", "b"], {
      stdout: "ignore",
      stderr: "pipe",
      env: { ...process.env, TRACELAKE_TEST_PAUSE: `rm-before-commit:${marker}`, NO_COLOR: "1" },
    });
    const deadline = Date.now() + 60_000;
    while (!existsSync(marker)) {
      if (p.exitCode !== null) throw new Error(`rm ended early: ${await new Response(p.stderr).text()}`);
      if (Date.now() > deadline) throw new Error("rm never reached rm-before-commit");
      await Bun.sleep(20);
    }
    p.kill("SIGKILL");
    await p.exited;
    expect(await snapshot(lake)).toEqual(before);
    expect(cli(lake, ["check"]).code).toBe(0);
    expect(cli(lake, ["rm", "b"]).code).toBe(0);
    expect(queryRows(lake, "SELECT name FROM traces").map((r) => r.name)).toEqual(["a"]);
  });
});

describe("migration 2 on a catalog at version 1", () => {
  test("ingests get a name (the base name, #2 for a second ingest of the same file) and the views work", async () => {
    const lake = join(tempDir(), "lake");
    expect(cli(lake, ["ingest", SAMPLE]).code).toBe(0);
    expect(cli(lake, ["ingest", "--force", SAMPLE]).code).toBe(0);
    // Back to catalog version 1: migration 1's ingests table (no name), no migration 2 row.
    const e = await Engine.open({ threads: 1 });
    try {
      await e.run(`ATTACH '${join(lake, "catalog.duckdb")}' AS c`);
      await e.run("DROP INDEX c.ingests_content_hash");
      await e.run("ALTER TABLE c.ingests DROP COLUMN name");
      await e.run("CREATE INDEX ingests_content_hash ON c.ingests(content_hash)");
      await e.run("DELETE FROM c.migrations WHERE version >= 2");
      await e.run("DETACH c");
    } finally {
      e.close();
    }
    const t = queryRows(lake, "SELECT name FROM traces ORDER BY insert_time");
    expect(t.map((r) => r.name)).toEqual(["chromium_startup.json.gz", "chromium_startup.json.gz#2"]);
    expect(cli(lake, ["info"]).stdout).toContain("(catalog version 2)");
    expect(
      queryRows(
        lake,
        "SELECT count(DISTINCT trace_id) AS k FROM view_instance('thread_spans', 'chromium_startup.json.gz#2:Browser')",
      )[0]?.k,
    ).toBe(1);
  });
});

const TP = process.env.TRACE_PROCESSOR_SHELL ?? "/work/shared/tools/trace_processor_shell";
const tpRuns = existsSync(TP) && Bun.spawnSync([TP, "--version"]).exitCode === 0;

describe.skipIf(!tpRuns)("the traces view's range against trace_processor's trace_bounds", () => {
  test("both samples (Chrome JSON and Perfetto protobuf): start_ts, end_ts as trace_processor reads them", () => {
    const lake = join(tempDir(), "lake");
    const q = join(tempDir(), "q.sql");
    writeFileSync(q, "SELECT start_ts || ',' || end_ts AS r FROM trace_bounds;");
    for (const name of ["chromium_startup.json.gz", "chromium_startup.pftrace.gz"]) {
      const file = existsSync(join("/work/shared/samples", name))
        ? join("/work/shared/samples", name)
        : join(ROOT, "fixtures", name);
      expect(cli(lake, ["ingest", file]).code).toBe(0);
      const r = Bun.spawnSync([TP, "-q", q, file], { stdout: "pipe", stderr: "pipe" });
      expect(r.exitCode).toBe(0);
      const bounds = r.stdout.toString().trim().split("\n").pop()?.replaceAll('"', "");
      const [t] = queryRows(lake, `SELECT start_ts || ',' || end_ts AS r FROM traces WHERE name = '${name}'`);
      expect(t?.r).toBe(bounds);
    }
  }, 120_000);
});
