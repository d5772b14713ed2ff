/**
 * Issue 18: the command line with the DuckDB shell's and trace_processor's habits: usage errors
 * exit 2, `-c`, `query --file` / `query -`, `tracelake repl script.sql`, refusing output files
 * whose name says another format, one JSON, the REPL's output settings.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Engine } from "../../lib/duck/engine.ts";
import { BUN, cli, ROOT, tempDir } from "../helpers.ts";

const EDGE = join(ROOT, "fixtures/edge_cases.json");

describe("exit codes", () => {
  const lake = tempDir();
  beforeAll(() => {
    expect(cli(lake, ["ingest", EDGE]).code).toBe(0);
  }, 60_000);

  test("usage errors exit 2, SQL errors 1, --help and --version 0", () => {
    const cases: [string[], string][] = [
      [["query", "--no-such-option", "SELECT 1"], "unknown option '--no-such-option'"],
      [["ingest"], "missing required argument 'files'"],
      [["frobnicate"], "unknown command 'frobnicate'"],
      [["query"], "query needs SQL"],
      [["query", "--file", EDGE, "SELECT 1"], "not both"],
    ];
    for (const [args, msg] of cases) {
      const r = cli(lake, args);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(msg);
      expect(r.stdout).toBe("");
    }
    expect(cli(lake, ["query", "SELEC 1"]).code).toBe(1);
    expect(cli(lake, ["--help"]).code).toBe(0);
    expect(cli(lake, ["--version"]).code).toBe(0);
  }, 60_000);

  test("SQL with no statement (empty, blank, only comments and ';') is a usage error naming where it came from", () => {
    const empty = join(tempDir(), "empty.sql");
    writeFileSync(empty, "-- nothing here\n;\n");
    const cases: [string[], string | undefined, string][] = [
      [["query", ""], undefined, "the SQL argument holds no SQL statement (it is empty)"],
      [["query", "  \n "], undefined, "the SQL argument holds no SQL statement (it is empty)"],
      [["query", "; /* x */ ;"], undefined, "the SQL argument holds no SQL statement (only comments and ';')"],
      [["-c", ""], undefined, "the SQL argument holds no SQL statement"],
      [["query", "-"], "", "standard input holds no SQL statement (it is empty)"],
      [["query", "--file", empty], undefined, `${empty} holds no SQL statement (only comments and ';')`],
    ];
    for (const [args, stdin, msg] of cases) {
      const r = cli(lake, args, stdin);
      expect(r.stderr, args.join(" ")).toContain(msg);
      expect(r.stderr).not.toContain("native callback");
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stdout).toBe("");
    }
  }, 60_000);

  test("a first word that is neither a command nor a file is an unknown command, with a suggestion", () => {
    const r = cli(lake, ["qurey", "SELECT 1"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown command 'qurey'");
    expect(r.stderr).toContain("(Did you mean query?)");
  });
});

describe("`tracelake TRACE...`, and a REPL without a lake", () => {
  test("`tracelake TRACE -c SQL` ingests the trace when new, then runs the SQL", () => {
    const lake = join(tempDir(), "lake");
    const sql = "SELECT count(*) AS n FROM processes";
    const r = cli(lake, [EDGE, "-c", sql]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("ingested");
    // The oracle: the fixture's processes as a plain ingest + query counts them.
    const other = tempDir();
    expect(cli(other, ["ingest", EDGE]).code).toBe(0);
    const want = cli(other, ["query", "-f", "csv", sql]).stdout;
    expect(r.stdout.endsWith(want)).toBe(true);
    const again = cli(lake, [EDGE, "-c", sql]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("already ingested");
    expect(again.stdout.endsWith(want)).toBe(true);
  }, 60_000);

  test("`tracelake TRACE < script` ingests, then runs the script as the REPL does", () => {
    const lake = join(tempDir(), "lake");
    const r = cli(lake, [EDGE], ".mode csv\nSELECT count(*) AS n FROM processes;\n");
    expect(r.code).toBe(0);
    expect(r.stdout).toEndWith("n\n3\n");
  }, 60_000);

  test("the REPL starts without a lake; .ingest creates it; .open switches lakes", () => {
    const lake = join(tempDir(), "new-lake");
    const other = tempDir();
    expect(cli(other, ["ingest", join(ROOT, "fixtures/node_trace.json.gz")]).code).toBe(0);
    const n = (dir: string): string => cli(dir, ["query", "-f", "csv", "SELECT count(*) AS n FROM processes"]).stdout;
    const r = cli(
      lake,
      [],
      [
        ".mode csv",
        "SELECT 1 AS plain;",
        `.ingest ${EDGE}`,
        "SELECT count(*) AS n FROM processes;",
        `.open ${other}`,
        "SELECT count(*) AS n FROM processes;",
      ].join("\n"),
    );
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toStartWith("plain\n1\n");
    expect(r.stdout).toContain(`ingested ${EDGE}`);
    expect(r.stdout).toContain(`\n${n(lake)}`);
    expect(r.stdout).toContain(`lake ${other} · `);
    expect(r.stdout).toEndWith(n(other));
    expect(n(lake)).not.toBe(n(other));
    // Without a lake, what needs one says how to get one.
    const none = cli(join(tempDir(), "none"), [], ".tables\n");
    expect(none.code).toBe(1);
    expect(none.stderr).toContain(".ingest FILE creates it");
    const notLake = tempDir();
    writeFileSync(join(notLake, "precious.txt"), "keep");
    const bad = cli(lake, [], `.open ${notLake}\n`);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("is not a tracelake lake");
  }, 60_000);
});

describe("SQL from -c, --file, stdin, and a REPL script", () => {
  const lake = tempDir();
  const dir = tempDir("tl-habits-");
  const sql = "SELECT exe, source_pid FROM processes ORDER BY source_pid";
  let expected = "";
  beforeAll(() => {
    expect(cli(lake, ["ingest", EDGE]).code).toBe(0);
    expected = cli(lake, ["query", "-f", "csv", sql]).stdout;
    expect(expected.split("\n").length).toBeGreaterThan(3);
  }, 60_000);

  test("`tracelake -c SQL` is `tracelake query SQL`", () => {
    const r = cli(lake, ["-c", sql]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(expected);
  });

  test("`query --file FILE` and `query -` read the SQL from a file and from stdin", () => {
    const file = join(dir, "q.sql");
    writeFileSync(file, `-- a script\n${sql};\n`);
    const f = cli(lake, ["query", "-f", "csv", "--file", file]);
    expect(f.code).toBe(0);
    expect(f.stdout).toBe(expected);
    const s = cli(lake, ["query", "-f", "csv", "-"], `${sql};\n`);
    expect(s.code).toBe(0);
    expect(s.stdout).toBe(expected);
    const missing = cli(lake, ["query", "--file", join(dir, "nope.sql")]);
    expect(missing.code).toBe(66);
    expect(missing.stderr).toContain("nope.sql");
  });

  test("`tracelake repl script.sql` runs the script, then goes on with stdin", () => {
    const file = join(dir, "init.sql");
    writeFileSync(file, `.mode csv\n${sql};\n`);
    const r = cli(lake, ["repl", file], "SELECT 7 AS seven;\n");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${expected}seven\n7\n`);
    const bad = join(dir, "bad.sql");
    writeFileSync(bad, "SELECT * FROM nope;\n");
    const b = cli(lake, ["repl", bad], "SELECT 7 AS seven;\n");
    expect(b.code).toBe(1);
    expect(b.stdout).toBe("");
  });
});

describe("output files say their format: refused or honoured, never the wrong bytes", () => {
  const lake = tempDir();
  const dir = tempDir("tl-habits-");
  beforeAll(() => {
    expect(cli(lake, ["ingest", EDGE]).code).toBe(0);
  }, 60_000);

  test("`.once out.parquet` writes a Parquet file DuckDB reads back; `.output x.parquet` is refused", async () => {
    const pq = join(dir, "once.parquet");
    const r = cli(lake, ["repl"], `.once ${pq}\nSELECT source_pid, exe FROM processes ORDER BY source_pid;\n`);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const e = await Engine.open({ threads: 1 });
    try {
      const rows = await e.rowsJson(`SELECT * FROM read_parquet('${pq}') ORDER BY source_pid`);
      const want = JSON.parse(
        cli(lake, ["query", "-f", "json", "SELECT source_pid, exe FROM processes ORDER BY source_pid"]).stdout,
      );
      expect(rows).toEqual(want);
    } finally {
      e.close();
    }
    const out = join(dir, "output.parquet");
    const o = cli(lake, ["repl"], `.output ${out}\nSELECT 1;\n`);
    expect(o.code).toBe(1);
    expect(o.stderr).toContain("use .once");
    expect(existsSync(out)).toBe(false);
  }, 60_000);

  test("`.once FILE.csv` / `.json` write that format whatever the .mode", () => {
    const csv = join(dir, "once.csv");
    const json = join(dir, "once.json");
    const r = cli(lake, ["repl"], `.once ${csv}\nSELECT 1 AS a;\n.once ${json}\nSELECT 2 AS b;\n`);
    expect(r.code).toBe(0);
    expect(readFileSync(csv, "utf8")).toBe("a\n1\n");
    expect(JSON.parse(readFileSync(json, "utf8"))).toEqual([{ b: 2 }]);
  });

  test("`query -f json -o out.csv` is refused; no file is written", () => {
    const out = join(dir, "out.csv");
    const r = cli(lake, ["query", "-f", "json", "-o", out, "SELECT 1"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("-f json and -o");
    expect(existsSync(out)).toBe(false);
    expect(cli(lake, ["query", "-f", "csv", "-o", out, "SELECT 1 AS x"]).code).toBe(0);
    expect(readFileSync(out, "utf8")).toBe("x\n1\n");
  });

  test("`export perfetto -o x.json` is refused with a sentence, in the CLI and the REPL", () => {
    for (const name of ["x.json", "x.json.gz", "x.csv"]) {
      const out = join(dir, name);
      const r = cli(lake, ["export", "perfetto", "--all", "-o", out]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("export perfetto writes a Perfetto protobuf trace; name it .pftrace");
      expect(existsSync(out)).toBe(false);
      const repl = cli(lake, ["repl"], `.export perfetto --all -o ${out}\n`);
      expect(repl.code).toBe(1);
      expect(repl.stderr).toContain("name it .pftrace");
      expect(existsSync(out)).toBe(false);
    }
  });

  test("one JSON for -f json, -f ndjson, -o .json and -o .ndjson: numbers, objects, big integers as strings", () => {
    const sql = `SELECT 9007199254740993::BIGINT AS big, -42::BIGINT AS n, 1.25::DECIMAL(5,2) AS d,
      170141183460469231731687303715884105727::HUGEINT AS huge, '{"a": [1, 2]}'::JSON AS j,
      [1::BIGINT, NULL] AS l, {'k': 3::BIGINT, 's': 'x'} AS s, 'text' AS t, NULL::BIGINT AS z`;
    // Written by hand: the oracle is JSON.parse of what the README promises.
    const want = {
      big: "9007199254740993",
      n: -42,
      d: 1.25,
      huge: "170141183460469231731687303715884105727",
      j: { a: [1, 2] },
      l: [1, null],
      s: { k: 3, s: "x" },
      t: "text",
      z: null,
    };
    const j = cli(lake, ["query", "-f", "json", sql]);
    expect(j.code).toBe(0);
    expect(JSON.parse(j.stdout)).toEqual([want]);
    const nd = cli(lake, ["query", "-f", "ndjson", sql]);
    expect(JSON.parse(nd.stdout)).toEqual(want);
    const jf = join(dir, "out.json");
    expect(cli(lake, ["query", "-o", jf, sql]).code).toBe(0);
    expect(readFileSync(jf, "utf8")).toBe(j.stdout);
    const nf = join(dir, "out.ndjson");
    expect(cli(lake, ["query", "-o", nf, sql]).code).toBe(0);
    expect(readFileSync(nf, "utf8")).toBe(nd.stdout);
    // The args column (JSON) is an object, as in the lake's files.
    const args = cli(lake, ["query", "-f", "json", "SELECT args FROM raw_events WHERE args IS NOT NULL LIMIT 1"]);
    expect(typeof JSON.parse(args.stdout)[0].args).toBe("object");
  });

  test("CSV to a pipe is DuckDB's CSV writer, byte for byte what -o out.csv writes; `>>` keeps what the file held", () => {
    const sql = "SELECT seq, name, args, [1, 2] AS l, '' AS empty, time FROM raw_events ORDER BY seq";
    const f = join(dir, "raw.csv");
    expect(cli(lake, ["query", "-o", f, sql]).code).toBe(0);
    const piped = cli(lake, ["query", "-f", "csv", sql]);
    expect(piped.code).toBe(0);
    expect(piped.stdout).toBe(readFileSync(f, "utf8"));
    expect(piped.stdout).toContain('"[1, 2]",""');
    // DOUBLEs written row by row (the REPL, several statements) as DuckDB's CSV writer writes them.
    const dbl = "SELECT 10000::DOUBLE AS whole, 1 / 3 AS third, 2.5e-5::DOUBLE AS small, 1e16::DOUBLE AS big";
    const df = join(dir, "doubles.csv");
    expect(cli(lake, ["query", "-o", df, dbl]).code).toBe(0);
    expect(readFileSync(df, "utf8")).toBe("whole,third,small,big\n10000.0,0.3333333333333333,2.5e-05,1e+16\n");
    expect(cli(lake, ["repl"], `.mode csv\n${dbl};\n`).stdout).toBe(readFileSync(df, "utf8"));
    const app = join(dir, "append.csv");
    writeFileSync(app, "kept\n");
    const sh = Bun.spawnSync([
      "sh",
      "-c",
      `'${process.execPath}' '${join(ROOT, "main.ts")}' --lake '${lake}' query "SELECT 1 AS a" >> '${app}'`,
    ]);
    expect(sh.exitCode).toBe(0);
    expect(readFileSync(app, "utf8")).toBe("kept\na\n1\n");
    // Output redirected once for several commands: each writes after the one before (the COPY
    // to /dev/stdout wrote from offset 0 of the file, and the next command overwrote it).
    const group = join(dir, "group.csv");
    const me = `'${process.execPath}' '${join(ROOT, "main.ts")}' --lake '${lake}'`;
    const sh2 = Bun.spawnSync([
      "sh",
      "-c",
      `{ ${me} query "SELECT 42 AS answer"; echo done; ${me} query "SELECT 7 AS b"; } > '${group}'`,
    ]);
    expect(sh2.exitCode).toBe(0);
    expect(readFileSync(group, "utf8")).toBe("answer\n42\ndone\nb\n7\n");
  });

  test("CSV to a socket (Node's and Bun.spawn's pipe) is DuckDB's CSV writer too, byte for byte what -o writes", async () => {
    const sql = "SELECT seq, name, args, [1, 2] AS l, '' AS empty, time FROM raw_events ORDER BY seq";
    const f = join(dir, "raw_socket.csv");
    expect(cli(lake, ["query", "-o", f, sql]).code).toBe(0);
    const proc = Bun.spawn([BUN, join(ROOT, "main.ts"), "--lake", lake, "query", "-f", "csv", sql], {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    const [out, err, code] = await Promise.all([
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
      proc.exited,
    ]);
    expect(err).toBe("");
    expect(code).toBe(0);
    // The row-by-row writer would write the list as JSON ([1,2]) and the empty string as nothing.
    expect(out).toContain('"[1, 2]",""');
    expect(out).toBe(readFileSync(f, "utf8"));
  });

  test("-o FILE.json: a statement failing mid-way leaves no file, as COPY leaves none", () => {
    const out = join(dir, "failed.json");
    const sql = "SELECT CASE WHEN range < 5000 THEN range ELSE error('boom') END AS x FROM range(10000)";
    const r = cli(lake, ["query", "-o", out, sql]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("boom");
    expect(existsSync(out)).toBe(false);
  });

  test("-o FILE.json inside the lake is refused as -o FILE.parquet is", () => {
    const r = cli(lake, ["query", "-o", join(lake, "x.json"), "SELECT 1"]);
    expect(r.code).toBe(1);
    expect(existsSync(join(lake, "x.json"))).toBe(false);
  });
});

describe("output settings: timer, width, modes, headers, NULL", () => {
  const lake = tempDir();
  beforeAll(() => {
    expect(cli(lake, ["ingest", EDGE]).code).toBe(0);
  }, 60_000);

  test("`query --timer` and `.timer on` print the time on stderr after the result", () => {
    const q = cli(lake, ["query", "--timer", "-f", "csv", "SELECT 1 AS a"]);
    expect(q.code).toBe(0);
    expect(q.stdout).toBe("a\n1\n");
    expect(q.stderr).toMatch(/^Run Time: [\d.]+ m?s\n$/);
    expect(cli(lake, ["query", "-f", "csv", "SELECT 1 AS a"]).stderr).toBe("");
    const r = cli(lake, ["repl"], ".mode csv\nSELECT 1 AS a;\n.timer on\nSELECT 2 AS b;\n.timer off\nSELECT 3 AS c;\n");
    expect(r.stdout).toBe("a\n1\nb\n2\nc\n3\n");
    expect(r.stderr).toMatch(/^Run Time: [\d.]+ m?s\n$/);
  });

  test("--max-width N fits the table; hidden columns are the UUIDs first, name/ts/dur stay; 0 is no limit", () => {
    const sql = "SELECT * FROM raw_events ORDER BY seq LIMIT 3";
    const t = cli(lake, ["query", "-f", "table", "--max-width", "100", sql]);
    expect(t.code).toBe(0);
    const lines = t.stdout.trimEnd().split("\n");
    for (const l of lines.slice(0, -1)) expect(Bun.stringWidth(l)).toBeLessThanOrEqual(100);
    const heads = (lines[1] ?? "")
      .split("│")
      .map((c) => c.trim())
      .filter((c) => c !== "");
    expect(heads).toContain("name");
    expect(heads).toContain("dur");
    for (const uuid of ["process_id", "stream_id", "block_id"]) expect(heads).not.toContain(uuid);
    expect(lines.at(-1)).toMatch(/^3 rows, \d+ columns \(\d+ shown\)$/);
    const wide = cli(lake, ["query", "-f", "table", "--max-width", "0", sql]);
    expect(wide.stdout).toContain("process_id");
    expect(wide.stdout.trimEnd().split("\n").at(-1)).toBe("3 rows");
    const r = cli(lake, ["repl"], `.maxwidth 100\n${sql};\n.maxwidth 0\n${sql};\n`);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(t.stdout + wide.stdout);
  });

  test(".mode list|tabs|columns, .headers, .nullvalue and .print", () => {
    const sql = "SELECT 1 AS a, NULL AS b, 'x\ty' AS c";
    const r = cli(
      lake,
      ["repl"],
      [
        ".mode list",
        `${sql};`,
        ".nullvalue -",
        ".mode tabs",
        `${sql};`,
        ".headers off",
        `${sql};`,
        ".headers on",
        ".mode columns",
        "SELECT 'long value' AS name, 5 AS n UNION ALL SELECT NULL, 12345 ORDER BY n;",
        ".print hello  'big world'",
      ].join("\n"),
    );
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      [
        "a|b|c",
        "1|NULL|x\ty",
        "a\tb\tc",
        "1\t-\tx\\ty",
        "1\t-\tx\\ty",
        "name            n",
        "----------  -----",
        "long value      5",
        "-           12345",
        "hello big world",
        "",
      ].join("\n"),
    );
  });
});
