import { beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { gzipSync } from "node:zlib";
import { Engine } from "../../lib/duck/engine.ts";
import { BUN, cli, ROOT, snapshot, tempDir } from "../helpers.ts";

const EDGE = join(ROOT, "fixtures/edge_cases.json");
const SAMPLE_GZ = join(ROOT, "fixtures/chromium_startup.json.gz");

/** One sentence on stderr, no stack trace. */
function expectCleanError(stderr: string, mention: string): void {
  const lines = stderr.trim().split("\n");
  expect(lines.length).toBe(1);
  expect(lines[0]).toStartWith("error: ");
  expect(lines[0]).toContain(mention);
  expect(stderr).not.toMatch(/\n\s+at /);
}

describe("bad input: a clear error, a non-zero exit, and the lake untouched", () => {
  const lake = tempDir();
  const dir = tempDir("tl-inputs-");
  let before: Awaited<ReturnType<typeof snapshot>>;
  beforeAll(async () => {
    expect(cli(lake, ["ingest", EDGE]).code).toBe(0);
    before = await snapshot(lake);
  });
  const cases: [string, () => string, string][] = [
    ["not JSON", () => write("notjson.txt", "hello, this is not a trace\n"), "is not a trace tracelake recognizes"],
    ["an empty file", () => write("empty.json", ""), "is empty"],
    ["only whitespace", () => write("blank.json", "  \n\n "), "only whitespace"],
    ["a directory", () => dir, "is a directory"],
    ["a missing file", () => join(dir, "nope.json"), "no such file"],
    ["a protobuf-looking file", () => write("x.pftrace", "\n\u0005hello"), "Perfetto protobuf"],
    [
      "a JSON object that is not a trace",
      () => write("obj.json", '{"foo": [1, 2], "bar": {}}'),
      'without a "traceEvents" array',
    ],
    ["corrupt gzip", () => corruptGzip(), "gzip data is corrupt"],
  ];
  for (const [what, make, mention] of cases) {
    test(what, async () => {
      const r = cli(lake, ["ingest", make()]);
      expect(r.code).not.toBe(0);
      expectCleanError(r.stderr, mention);
      expect(await snapshot(lake)).toEqual(before);
    });
  }

  function write(name: string, content: string): string {
    const p = join(dir, name);
    writeFileSync(p, content);
    return p;
  }
  function corruptGzip(): string {
    const gz = Buffer.from(gzipSync(readFileSync(EDGE)));
    for (let i = 40; i < gz.length - 20; i += 7) gz[i] = (gz[i] ?? 0) ^ 0x5a;
    const p = join(dir, "corrupt.json.gz");
    writeFileSync(p, gz);
    return p;
  }
});

describe("best-effort inputs", () => {
  test("a truncated gzip imports what it holds and warns", () => {
    const lake = tempDir();
    const dir = tempDir("tl-inputs-");
    const gz = readFileSync(SAMPLE_GZ);
    const p = join(dir, "cut.json.gz");
    writeFileSync(p, gz.subarray(0, Math.floor(gz.length / 2)));
    const r = cli(lake, ["ingest", "--json", p]);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.eventsImported).toBeGreaterThan(1000);
    expect(s.warnings.join(" ")).toContain("gzip stream ends early");
    expect(s.warnings.join(" ")).toContain("no closing ']'");
  });

  test("hostile names stay data: stored verbatim, no path outside the lake, catalog intact", async () => {
    const lake = tempDir();
    const dir = tempDir("tl-inputs-");
    const evil = "'; DROP TABLE blocks; --";
    const events = [
      { ph: "M", name: "process_name", pid: "../../x", args: { name: evil } },
      { ph: "M", name: "thread_name", pid: "../../x", tid: "/etc/passwd", args: { name: '"quoted" \\ name' } },
      { ph: "X", name: evil, cat: "../..", ts: 1, dur: 2, pid: "../../x", tid: "/etc/passwd" },
      { ph: "i", name: "\u0000nul\u202e", ts: 2, pid: "../../x", tid: "..", args: { "../k": "v" } },
    ];
    const p = join(dir, "evil.json");
    writeFileSync(p, JSON.stringify(events));
    const r = cli(lake, ["ingest", p]);
    expect(r.code).toBe(0);
    const q = cli(lake, [
      "query",
      "-f",
      "json",
      "SELECT source_pid, exe, (SELECT count(*) FROM blocks) AS nblocks FROM processes",
    ]);
    expect(q.code).toBe(0);
    // a cpu stream (X) and the log stream (i); a count is a JSON number (issue 18: it was "2")
    expect(JSON.parse(q.stdout)).toEqual([{ source_pid: "../../x", exe: evil, nblocks: 2 }]);
    const n = cli(lake, ["query", "-f", "csv", "SELECT name FROM raw_events WHERE ph = 'X'"]);
    expect(n.stdout).toBe(`name\n${evil}\n`);
    const uuid = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
    const blob = new RegExp(`^blobs/${uuid}/${uuid}/${uuid}\\.parquet$`);
    for (const f of walk(lake)) {
      if (f.startsWith("catalog.duckdb")) continue;
      expect(f).toMatch(blob);
    }
    expect(readdirSync(join(lake, ".."))).not.toContain("x");
  });

  test("a 100 MB single-line trace with one oversized event", () => {
    const lake = tempDir();
    const dir = tempDir("tl-inputs-");
    const p = join(dir, "oneline.json");
    const ev = (i: number) =>
      `{"name":"e${i % 97}","cat":"c","ph":"X","ts":${i},"dur":1,"pid":1,"tid":${i % 7},"args":{"pad":"${"x".repeat(150)}"}}`;
    const parts: string[] = ["["];
    let n = 0;
    let size = 0;
    while (size < 60 * 1024 * 1024) {
      const s = ev(n++);
      parts.push(s, ",");
      size += s.length + 1;
    }
    parts.push(
      `{"name":"huge","ph":"X","ts":1,"dur":1,"pid":1,"tid":1,"args":{"blob":"${"y".repeat(40 * 1024 * 1024)}"}}]`,
    );
    writeFileSync(p, parts.join(""));
    expect(statSync(p).size).toBeGreaterThan(100 * 1000 * 1000);
    const r = cli(lake, ["ingest", "--json", p]);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.eventsImported).toBe(n);
    expect(s.phases.find((x: { reason: string }) => x.reason === "event larger than the size limit")?.count).toBe(1);
  }, 120_000);
});

describe("several files", () => {
  test("a bad file among good ones: the good ones are ingested, the exit code says one failed", async () => {
    const lake = tempDir();
    const bad = join(tempDir("tl-inputs-"), "bad.json");
    writeFileSync(bad, "nope");
    const r = cli(lake, ["ingest", EDGE, bad, join(ROOT, "fixtures/unterminated.json")]);
    expect(r.code).toBe(65);
    expectCleanError(r.stderr, "bad.json");
    expect((await snapshot(lake)).counts.ingests).toBe(2);
  });
});

describe("idempotent ingest", () => {
  test("same content is recognized (file, gzip, stdin); --force ingests again as new processes", async () => {
    const lake = tempDir();
    expect(cli(lake, ["ingest", EDGE]).code).toBe(0);
    const once = await snapshot(lake);
    const again = cli(lake, ["ingest", EDGE]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("already ingested");
    const viaStdin = cli(lake, ["ingest", "-"], gzipSync(readFileSync(EDGE)));
    expect(viaStdin.code).toBe(0);
    expect(viaStdin.stdout).toContain("already ingested");
    expect(await snapshot(lake)).toEqual(once);
    const forced = cli(lake, ["ingest", "--force", EDGE]);
    expect(forced.code).toBe(0);
    const twice = await snapshot(lake);
    expect(twice.counts.processes).toBe(2 * (once.counts.processes ?? 0));
    expect(twice.counts.ingests).toBe(2);
  });

  test("a new lake skips the early duplicate check for its first file only: the same file twice in one command is one ingest", async () => {
    // The lake this command creates holds no ingest (Lake.knownEmpty), so the first file goes
    // straight to the import; once it committed, the second file is checked before any work.
    const lake = join(tempDir(), "new");
    const r = cli(lake, ["ingest", EDGE, EDGE]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("already ingested");
    const snap = await snapshot(lake);
    expect(snap.counts.ingests).toBe(1);
    // The oracle: one ingest of the file into another new lake.
    const other = join(tempDir(), "other");
    expect(cli(other, ["ingest", EDGE]).code).toBe(0);
    expect(snap.counts.processes).toBe((await snapshot(other)).counts.processes);
  });
});

describe("query", () => {
  const lake = tempDir();
  beforeAll(() => {
    expect(cli(lake, ["ingest", EDGE]).code).toBe(0);
  });
  const sql = "SELECT source_pid, exe, properties->>'labels' AS labels FROM processes ORDER BY source_pid";
  // pid "0": the fixture's pid-less event, filed under pid 0 as trace_processor does.
  const expected = [
    { source_pid: "0", exe: null, labels: null },
    { source_pid: "10", exe: "Edge Browser", labels: "tab1" },
    { source_pid: "gpu-process", exe: null, labels: null },
  ];

  test("a reader that goes away stops the query: `| head -1` of ten billion rows ends", async () => {
    // Bun's process.stdout reported no EPIPE on a pipe, so the query ran to its end (here:
    // never). Each format that streams rows, and the REPL reading a script from a pipe.
    const huge = "SELECT range AS n, 'x' AS s FROM range(10000000000)";
    const runs = [
      ["query", "-f", "csv", huge],
      ["query", "-f", "ndjson", huge],
      ["query", "-f", "json", huge],
      ["replay", "--quiet", "-f", "csv", "SELECT name, count(*) AS n FROM thread_spans GROUP BY name"],
    ];
    for (const args of runs) {
      const cmd = [BUN, join(ROOT, "main.ts"), "--lake", lake, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`);
      const p = Bun.spawn(["sh", "-c", `${cmd.join(" ")} | head -c 20`], { stdout: "pipe", stderr: "pipe" });
      const killer = setTimeout(() => p.kill(), 50_000);
      const code = await p.exited;
      clearTimeout(killer);
      expect(p.signalCode).toBeNull();
      expect(code).toBe(0);
      expect((await new Response(p.stdout).text()).length).toBe(20);
      expect(await new Response(p.stderr).text()).toBe("");
    }
    const script = `.mode csv\n${huge};\n`;
    const r = Bun.spawn(["sh", "-c", `'${BUN}' '${join(ROOT, "main.ts")}' --lake '${lake}' repl | head -c 20`], {
      stdin: new TextEncoder().encode(script),
      stdout: "pipe",
      stderr: "pipe",
    });
    const killer = setTimeout(() => r.kill(), 50_000);
    await r.exited;
    clearTimeout(killer);
    expect(r.signalCode).toBeNull();
    expect((await new Response(r.stdout).text()).length).toBe(20);
  }, 240_000);

  test("json, ndjson and csv carry the same rows", () => {
    const j = cli(lake, ["query", "-f", "json", sql]);
    expect(j.code).toBe(0);
    expect(JSON.parse(j.stdout)).toEqual(expected);
    const nd = cli(lake, ["query", "-f", "ndjson", sql]);
    expect(
      nd.stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l)),
    ).toEqual(expected);
    const csv = cli(lake, ["query", "-f", "csv", sql]);
    expect(csv.stdout).toBe("source_pid,exe,labels\n0,,\n10,Edge Browser,tab1\ngpu-process,,\n");
  });

  test("table shows names, types, NULL and the row count", () => {
    const t = cli(lake, ["query", "-f", "table", sql]);
    expect(t.stdout).toContain("│ source_pid  │ exe          │ labels  │");
    expect(t.stdout).toContain("│ varchar     │ varchar      │ varchar │");
    expect(t.stdout).toContain("│ gpu-process │ NULL         │ NULL    │");
    expect(t.stdout.trim().split("\n").at(-1)).toBe("3 rows");
  });

  test("-o writes Parquet that DuckDB reads back with the same rows", async () => {
    const out = join(tempDir(), "out.parquet");
    const r = cli(lake, ["query", "-o", out, "SELECT name, epoch_ns(time) AS t FROM raw_events ORDER BY seq"]);
    expect(r.code).toBe(0);
    const e = await Engine.open({ threads: 1 });
    try {
      const rows = await e.rows<{ n: bigint }>(`SELECT count(*) AS n FROM read_parquet('${out}')`);
      // 24 events imported (the pid-less one under pid 0).
      expect(Number(rows[0]?.n)).toBe(24);
    } finally {
      e.close();
    }
  });

  test("SQL errors are DuckDB's message, one line, exit 1", () => {
    const r = cli(lake, ["query", "SELEC 1"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("Parser Error");
    expect(r.stderr).not.toMatch(/\n\s+at /);
    const c = cli(lake, ["query", "SELECT * FROM no_such_table"]);
    expect(c.code).toBe(1);
    expect(c.stderr).toContain("no_such_table");
  });

  test("queries cannot modify the catalog: they see a snapshot, the catalog file is not attached", async () => {
    const before = await snapshot(lake);
    const r = cli(lake, ["query", "DELETE FROM lake.blocks"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('schema "lake" does not exist');
    const v = cli(lake, ["query", "DELETE FROM blocks; DROP TABLE tl_cat_blocks"]);
    expect(v.code).toBe(1);
    expect(await snapshot(lake)).toEqual(before);
  });
});

describe("lake", () => {
  test("a lake written by a newer tracelake is refused with a clear message", async () => {
    const lake = tempDir();
    expect(cli(lake, ["ingest", EDGE]).code).toBe(0);
    const e = await Engine.open({ threads: 1 });
    await e.run(`ATTACH '${join(lake, "catalog.duckdb")}' AS c`);
    await e.run("INSERT INTO c.migrations VALUES (999, 'from the future', now())");
    e.close();
    const r = cli(lake, ["query", "SELECT 1"]);
    expect(r.code).toBe(73);
    expectCleanError(r.stderr, "newer tracelake");
  });

  test("a non-empty directory that is not a lake is refused", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "precious.txt"), "keep me");
    const r = cli(dir, ["ingest", EDGE]);
    expect(r.code).toBe(73);
    expectCleanError(r.stderr, "not a tracelake lake");
    expect(readdirSync(dir)).toEqual(["precious.txt"]);
  });

  test("TRACELAKE_LAKE names the lake when --lake is absent", () => {
    const lake = tempDir();
    const p = Bun.spawnSync([process.execPath, join(ROOT, "main.ts"), "ingest", EDGE], {
      env: { ...process.env, TRACELAKE_LAKE: lake },
    });
    expect(p.exitCode).toBe(0);
    expect(readdirSync(lake)).toContain("catalog.duckdb");
  });
});

function walk(root: string): string[] {
  const out: string[] = [];
  const go = (d: string): void => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) go(p);
      else out.push(relative(root, p));
    }
  };
  go(root);
  return out;
}
