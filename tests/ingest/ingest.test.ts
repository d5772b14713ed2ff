import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { Engine } from "../../lib/duck/engine.ts";
import { InterruptedError } from "../../lib/errors.ts";
import { ingest } from "../../lib/ingest/ingest.ts";
import { Lake } from "../../lib/lake/lake.ts";
import { openQuerySession } from "../../lib/sql/query.ts";
import { ROOT, tempDir } from "../helpers.ts";

const SAMPLE = join(ROOT, "fixtures/chromium_startup.json.gz");
const EDGE = join(ROOT, "fixtures/edge_cases.json");

/** Ingests files into a new lake, then opens a query session on it. */
async function lakeWith(files: string[]) {
  const dir = tempDir();
  const engine = await Engine.open({ threads: 2 });
  const lake = await Lake.open(engine, dir);
  const summaries = [];
  for (const f of files) summaries.push(await ingest(engine, lake, f));
  await openQuerySession(engine, lake);
  return { dir, engine, lake, summaries };
}

describe("real Chromium trace against an oracle computed from the JSON", () => {
  let ctx: Awaited<ReturnType<typeof lakeWith>>;
  const trace = JSON.parse(gunzipSync(readFileSync(SAMPLE)).toString("utf8")) as {
    traceEvents: Record<string, unknown>[];
  };
  const evs = trace.traceEvents;
  beforeAll(async () => {
    ctx = await lakeWith([SAMPLE]);
  });
  afterAll(() => ctx.engine.close());

  test("every event is found and every phase counted", () => {
    const s = ctx.summaries[0];
    expect(s?.eventsFound).toBe(evs.length);
    const byPh = new Map<string, number>();
    for (const e of evs) byPh.set(String(e.ph), (byPh.get(String(e.ph)) ?? 0) + 1);
    const got = new Map<string, number>();
    for (const p of s?.phases ?? []) got.set(p.ph, (got.get(p.ph) ?? 0) + p.count);
    expect(Object.fromEntries(got)).toEqual(Object.fromEntries(byPh));
  });

  test("per (pid, tid, ph) counts of stored events equal the input's", async () => {
    const oracle: Record<string, number> = {};
    for (const e of evs) {
      if (e.ph === "M") continue;
      const k = `${e.pid}/${e.tid ?? e.pid}/${e.ph}`;
      oracle[k] = (oracle[k] ?? 0) + 1;
    }
    const rows = await ctx.engine.rows<{ k: string; n: bigint }>(
      `SELECT p.source_pid || '/' || r.tid || '/' || r.ph AS k, count(*) AS n
       FROM raw_events r JOIN processes p USING (process_id) GROUP BY ALL`,
    );
    expect(Object.fromEntries(rows.map((r) => [r.k, Number(r.n)]))).toEqual(oracle);
  });

  test("process and thread names come from the M events", async () => {
    const procNames: Record<string, string> = {};
    const threadNames: Record<string, string> = {};
    for (const e of evs) {
      const args = e.args as { name?: string } | undefined;
      if (e.ph === "M" && e.name === "process_name") procNames[String(e.pid)] = String(args?.name);
      if (e.ph === "M" && e.name === "thread_name") threadNames[`${e.pid}/${e.tid}`] = String(args?.name);
    }
    const p = await ctx.engine.rows<{ pid: string; exe: string }>(
      "SELECT source_pid AS pid, exe FROM processes WHERE exe IS NOT NULL",
    );
    expect(Object.fromEntries(p.map((r) => [r.pid, r.exe]))).toEqual(procNames);
    const t = await ctx.engine.rows<{ k: string; name: string }>(
      `SELECT p.source_pid || '/' || (s.properties->>'thread-id') AS k, s.properties->>'thread-name' AS name
       FROM streams s JOIN processes p USING (process_id)
       WHERE list_contains(s.tags, 'cpu') AND (s.properties->>'thread-name') IS NOT NULL`,
    );
    expect(Object.fromEntries(t.map((r) => [r.k, r.name]))).toEqual(threadNames);
  });

  test("X durations are kept in ns: total per name equals the input's µs sum × 1000", async () => {
    const oracle = new Map<string, number>();
    for (const e of evs)
      if (e.ph === "X") oracle.set(String(e.name), (oracle.get(String(e.name)) ?? 0) + Number(e.dur) * 1000);
    const rows = await ctx.engine.rows<{ name: string; d: bigint }>(
      "SELECT name, sum(dur)::BIGINT AS d FROM raw_events WHERE ph = 'X' GROUP BY name",
    );
    expect(rows.length).toBe(oracle.size);
    for (const r of rows) expect(Math.abs(Number(r.d) - (oracle.get(r.name) ?? -1))).toBeLessThan(1);
  });

  test("catalog is consistent: each block's nb_objects equals its file's rows, and the file exists", async () => {
    const rows = await ctx.engine.rows<{ file_path: string; nb_objects: bigint }>(
      "SELECT file_path, nb_objects FROM blocks",
    );
    expect(rows.length).toBeGreaterThan(0);
    for (const r of rows) {
      const n = await ctx.engine.rows<{ n: bigint }>(
        `SELECT count(*) AS n FROM read_parquet('${join(ctx.dir, r.file_path).replaceAll("'", "''")}')`,
      );
      expect(n[0]?.n).toBe(r.nb_objects);
    }
    const sum = await ctx.engine.rows<{ n: bigint }>("SELECT sum(nb_objects)::BIGINT AS n FROM blocks");
    expect(Number(sum[0]?.n)).toBe(evs.filter((e) => e.ph !== "M").length);
  });
});

describe("hand-made edge cases (fixtures/edge_cases.json)", () => {
  let ctx: Awaited<ReturnType<typeof lakeWith>>;
  beforeAll(async () => {
    ctx = await lakeWith([EDGE]);
  });
  afterAll(() => ctx.engine.close());
  const time = async (name: string): Promise<string[]> =>
    (
      await ctx.engine.rows<{ t: bigint }>("SELECT epoch_ns(time) AS t FROM raw_events WHERE name = $n ORDER BY seq", {
        n: name,
      })
    ).map((r) => String(r.t));

  test("counts by destination and skip reason", () => {
    const s = ctx.summaries[0];
    expect(s?.eventsFound).toBe(36);
    expect(s?.eventsImported).toBe(24);
    expect(s?.metadataEvents).toBe(4);
    const reasons: Record<string, number> = {};
    for (const p of s?.phases ?? [])
      if (p.dest === "skipped") reasons[p.reason ?? ""] = (reasons[p.reason ?? ""] ?? 0) + p.count;
    expect(reasons).toEqual({
      "ts not a number or out of range": 1,
      "ts missing": 1,
      "X without a numeric dur": 1,
      "async event without id or id2": 1,
      "counter without args": 1,
      "phase not imported": 2,
      "malformed JSON event": 1,
      "array element is not an object": 1,
    });
    const dest: Record<string, number> = {};
    for (const p of s?.phases ?? []) dest[p.dest] = (dest[p.dest] ?? 0) + p.count;
    // (`nopid` has no pid: filed under pid 0, as trace_processor does.)
    expect(dest).toEqual({ cpu: 19, log: 4, metrics: 1, metadata: 4, skipped: 9 });
  });

  test("duplicate keys keep the first value, so an event cannot forge its sequence number", async () => {
    const r = await ctx.engine.rows<{ name: string; seq: bigint }>(
      "SELECT name, seq FROM raw_events WHERE name LIKE 'dup%'",
    );
    expect(r.map((x) => [x.name, Number(x.seq)])).toEqual([["dup", 34]]);
  });

  test("fractional and string µs become exact ns", async () => {
    expect(await time("outer")).toEqual(["1500", "10000"]);
    expect(await time("inner")).toEqual(["2001"]);
    expect(await time("stringts")).toEqual(["8250"]);
    expect(await time("epoch")).toEqual(["1700000000000000000"]);
    expect(await time("longfrac")).toEqual(["1234567890123456"]);
    const d = await ctx.engine.rows<{ name: string; dur: bigint }>(
      "SELECT name, dur FROM raw_events WHERE name IN ('inner', 'stringts') ORDER BY name",
    );
    expect(d.map((r) => [r.name, Number(r.dur)])).toEqual([
      ["inner", 999],
      ["stringts", 1000],
    ]);
  });

  test("equal timestamps keep source order (B before E of a zero-length slice)", async () => {
    const r = await ctx.engine.rows<{ ph: string }>("SELECT ph FROM raw_events WHERE name = 'zero' ORDER BY time, seq");
    expect(r.map((x) => x.ph)).toEqual(["B", "E"]);
  });

  test("async ids: id2.local is process-scoped, id2.global and id are global", async () => {
    const r = await ctx.engine.rows<{ name: string; id: string; id_scope: string; n: bigint }>(
      "SELECT name, id, id_scope, count(*) AS n FROM raw_events WHERE id IS NOT NULL GROUP BY ALL ORDER BY name",
    );
    expect(r.map((x) => [x.name, x.id, x.id_scope, Number(x.n)])).toEqual([
      ["flow", "7", "global", 2],
      ["glob", "0xabc", "global", 2],
      ["legacy", "42", "global", 2],
      ["load", "0x1", "local", 3],
    ]);
  });

  test("processes, threads and names; string pid/tid; missing tid is the pid", async () => {
    const p = await ctx.engine.rows<{ pid: string; exe: string | null; labels: string | null }>(
      "SELECT source_pid AS pid, exe, properties->>'labels' AS labels FROM processes ORDER BY pid",
    );
    expect(p).toEqual([
      { pid: "0", exe: null, labels: null }, // `nopid`: no pid is pid 0 (trace_processor)
      { pid: "10", exe: "Edge Browser", labels: "tab1" },
      { pid: "gpu-process", exe: null, labels: null },
    ]);
    const t = await ctx.engine.rows<{ pid: string; tid: string; name: string | null }>(
      `SELECT p.source_pid AS pid, s.properties->>'thread-id' AS tid, s.properties->>'thread-name' AS name
       FROM streams s JOIN processes p USING (process_id) WHERE list_contains(s.tags, 'cpu') ORDER BY pid, tid`,
    );
    expect(t).toEqual([
      { pid: "0", tid: "3", name: null },
      { pid: "10", tid: "10", name: null },
      { pid: "10", tid: "11", name: "Main" },
      { pid: "10", tid: "12", name: 'Worker "quoted"' },
      { pid: "gpu-process", tid: "compositor", name: null },
    ]);
  });

  test("instants go to the log stream, counters to metrics, with their thread", async () => {
    const r = await ctx.engine.rows<{ tag: string; ph: string; tid: string; n: bigint }>(
      `SELECT s.tags[1] AS tag, r.ph, r.tid, count(*) AS n FROM raw_events r JOIN streams s USING (stream_id)
       WHERE r.ph IN ('i', 'R', 'C') GROUP BY ALL ORDER BY ALL`,
    );
    expect(r.map((x) => [x.tag, x.ph, x.tid, Number(x.n)])).toEqual([
      ["log", "R", "11", 1],
      ["log", "i", "11", 3],
      ["metrics", "C", "10", 1],
    ]);
  });

  test("trace metadata becomes process and ingest properties", async () => {
    const p = await ctx.engine.rows<{ cd: string; cl: string }>(
      "SELECT properties->'trace'->>'clock-domain' AS cd, properties->'trace'->>'command_line' AS cl FROM processes WHERE source_pid = '10'",
    );
    expect(p).toEqual([{ cd: "LINUX_CLOCK_MONOTONIC", cl: "edge --flag" }]);
    const i = await ctx.engine.rows<{ x: string; u: string }>(
      "SELECT properties->'metadata'->'trace-config'->>'x' AS x, properties->>'displayTimeUnit' AS u FROM ingests",
    );
    expect(i).toEqual([{ x: "1", u: "ns" }]);
  });
});

describe("unterminated array (fixtures/unterminated.json)", () => {
  test("events before the cut are imported and the cut is reported", async () => {
    const ctx = await lakeWith([join(ROOT, "fixtures/unterminated.json")]);
    try {
      const s = ctx.summaries[0];
      expect(s?.eventsImported).toBe(3);
      expect(s?.phases.find((p) => p.reason === "event cut off by the end of the input")?.count).toBe(1);
      expect(s?.warnings.join(" ")).toContain("no closing ']'");
      const r = await ctx.engine.rows<{ name: string }>("SELECT name FROM raw_events ORDER BY seq");
      expect(r.map((x) => x.name)).toEqual(["a", "b", "c"]);
    } finally {
      ctx.engine.close();
    }
  });
});

describe("line mode (the framer takes one-event lines unscanned; chrome_json_framer.ts)", () => {
  /** Ingests `text` with line mode on and off; returns both lakes' raw events and the seq oracle. */
  async function bothModes(text: string, gzip = false) {
    const dir = tempDir();
    const file = join(dir, gzip ? "t.json.gz" : "t.json");
    writeFileSync(file, gzip ? gzipSync(text) : text);
    const out: { rows: string[]; found: number }[] = [];
    for (const lineMode of [true, false]) {
      const engine = await Engine.open({ threads: 2 });
      try {
        const lake = await Lake.open(engine, join(dir, `lake-${lineMode}`));
        const s = await ingest(engine, lake, file, { lineMode });
        await openQuerySession(engine, lake);
        const rows = await engine.rows<{ r: string }>(
          `SELECT concat_ws('|', seq, ph, name, epoch_ns(time), dur, tid, args) AS r FROM raw_events ORDER BY seq`,
        );
        out.push({ rows: rows.map((x) => x.r), found: s.eventsFound });
      } finally {
        engine.close();
      }
    }
    return { on: out[0] as { rows: string[]; found: number }, off: out[1] as { rows: string[]; found: number } };
  }

  test.each([
    false,
    true,
  ])("lines that look like one event but are not (two events on a line, an event going on over lines): the file (gzip %p) is read again, same events as without line mode, seq = array position", async (gzip) => {
    const text = [
      '{"traceEvents":[',
      '{"ph":"X","pid":1,"tid":1,"ts":1,"dur":5,"name":"a"},',
      '{"ph":"X","pid":1,"tid":1,"ts":2,"dur":1,"name":"b"},{"ph":"X","pid":1,"tid":1,"ts":3,"dur":1,"name":"c"},',
      '{"ph":"X","pid":1,"tid":1,"ts":4,"dur":1,"name":"d","args":{"k":{"v":1}',
      "}},",
      '{"ph":"i","pid":1,"tid":1,"ts":5,"name":"e","s":"t"}',
      "]}",
    ].join("\n");
    const oracle = (JSON.parse(text).traceEvents as { name: string }[]).map((e, i) => `${i}|${e.name}`);
    const { on, off } = await bothModes(text, gzip);
    expect(on.found).toBe(5);
    expect(on.rows).toEqual(off.rows);
    expect(
      on.rows.map((r) =>
        r
          .split("|")
          .slice(0, 3)
          .filter((_, k) => k !== 1)
          .join("|"),
      ),
    ).toEqual(oracle);
  });

  test("CRLF lines, empty objects, blank lines, trailing blanks, a forged __seq, metadata after the array: same as without line mode", async () => {
    const text = [
      '{"traceEvents":[\r',
      '{"ph":"B","pid":1,"tid":1,"ts":1,"name":"a"},\r',
      "{},",
      "",
      '{"__seq":99,"ph":"E","pid":1,"tid":1,"ts":2},',
      '{"ph":"X","pid":1,"tid":1,"ts":3,"dur":1,"name":"b"},   ',
      '{"ph":"X","pid":1,"tid":1,"ts":4,"dur":1,"name":"c \\/ d","args":{"__seq":5}},',
      '{"ph":"X","pid":1,"tid":2,"ts":5,"dur":1,"name":"é"}',
      '],"metadata":{"clock-domain":"LINUX_CLOCK_MONOTONIC"}}',
    ].join("\n");
    const events = JSON.parse(text).traceEvents as unknown[];
    const { on, off } = await bothModes(text);
    expect(on.found).toBe(events.length);
    expect(on.rows).toEqual(off.rows);
    expect(on.rows.map((r) => Number(r.split("|")[0]))).toEqual([0, 2, 3, 4, 5]);
  });
});

describe("lone UTF-16 surrogate escapes (\\ud800 without its pair)", () => {
  test("the event is imported with U+FFFD in its place, as the other formats do; pairs and escaped backslashes stay", async () => {
    const events = [
      '{"ph":"X","pid":1,"tid":1,"ts":1,"dur":1,"name":"lone high \\ud83d end","cat":"c"}',
      '{"ph":"X","pid":1,"tid":1,"ts":2,"dur":1,"name":"lone low \\ude00","cat":"\\udbff"}',
      '{"ph":"X","pid":1,"tid":1,"ts":3,"dur":1,"name":"pair \\ud83d\\ude00 ok","args":{"t":"\\udc00x","k":[1,"\\ud800"]}}',
      '{"ph":"X","pid":1,"tid":1,"ts":4,"dur":1,"name":"not an escape \\\\ud800"}',
      '{"ph":"i","pid":1,"tid":1,"ts":5,"s":"t","name":"two \\ud800\\ud800"}',
    ];
    const text = `{"traceEvents":[\n${events.join(",\n")}\n]}`;
    // The oracle: JSON.parse keeps lone surrogates in JS strings; a UTF-8 encoder (and so
    // the stored text) has U+FFFD for each.
    const lone = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
    const fix = (v: unknown): unknown =>
      typeof v === "string"
        ? v.replace(lone, "\ufffd")
        : Array.isArray(v)
          ? v.map(fix)
          : v && typeof v === "object"
            ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fix(x)]))
            : v;
    const input = JSON.parse(text).traceEvents as { name: string; cat?: string; args?: unknown }[];
    const dir = tempDir();
    const file = join(dir, "s.json");
    writeFileSync(file, text);
    const ctx = await lakeWith([file]);
    try {
      expect(ctx.summaries[0]?.eventsImported).toBe(5);
      const rows = await ctx.engine.rows<{ name: string; cat: string | null; args: string | null }>(
        "SELECT name, cat, args FROM raw_events ORDER BY seq",
      );
      expect(rows.map((r): unknown => r.name)).toEqual(input.map((e) => fix(e.name)));
      expect(rows.map((r): unknown => r.cat)).toEqual(input.map((e) => (e.cat === undefined ? null : fix(e.cat))));
      expect(rows.map((r) => (r.args === null ? null : JSON.parse(r.args)))).toEqual(
        input.map((e) => (e.args === undefined ? null : fix(e.args))),
      );
      expect(rows[0]?.name).toBe("lone high \ufffd end");
    } finally {
      ctx.engine.close();
    }
  });
});

describe("interrupting an ingest (AbortSignal, as the REPL's Ctrl-C during .ingest)", () => {
  test("aborted after its first chunk: InterruptedError, exit code 130, and the lake is as before (a later ingest of the same file is not a duplicate)", async () => {
    const dir = tempDir();
    const file = join(dir, "t.json");
    const g = Bun.spawnSync([process.execPath, join(ROOT, "bench/gen_chrome_trace.ts"), file, "12"]);
    expect(g.exitCode).toBe(0);
    const engine = await Engine.open({ threads: 2 });
    try {
      const lake = await Lake.open(engine, join(dir, "lake"));
      const ac = new AbortController();
      let err: unknown = null;
      try {
        await ingest(engine, lake, file, { signal: ac.signal, onProgress: () => ac.abort() });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(InterruptedError);
      expect((err as InterruptedError).exitCode).toBe(130);
      expect((err as Error).message).toContain("nothing of it was written");
      expect(readdirSync(lake.layout.tmp).filter((f) => f.startsWith("ingest-"))).toEqual([]);
      await openQuerySession(engine, lake);
      const n = await engine.rows<{ p: bigint; i: bigint }>(
        "SELECT (SELECT count(*) FROM processes) AS p, (SELECT count(*) FROM ingests) AS i",
      );
      expect(n[0]).toEqual({ p: 0n, i: 0n });
      const s = await ingest(engine, lake, file);
      expect(s.duplicate).toBe(false);
      expect(s.eventsImported).toBeGreaterThan(10_000);
    } finally {
      engine.close();
    }
  });
});

test("Lake.knownEmpty: true on the lake Lake.open created, false once an ingest committed and on a lake that existed", async () => {
  const engine = await Engine.open({ threads: 1 });
  try {
    const dir = join(tempDir(), "lake");
    const lake = await Lake.open(engine, dir);
    expect(lake.knownEmpty).toBe(true);
    await ingest(engine, lake, join(ROOT, "fixtures/edge_cases.json"));
    expect(lake.knownEmpty).toBe(false);
    const again = await Lake.open(engine, dir);
    expect(again.knownEmpty).toBe(false);
    // An existing lake with no ingest is not known empty either (another process may ingest).
    const other = join(tempDir(), "lake2");
    await Lake.open(engine, other);
    expect((await Lake.open(engine, other)).knownEmpty).toBe(false);
  } finally {
    engine.close();
  }
});
