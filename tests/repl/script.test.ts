import { beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cli, ROOT, tempDir } from "../helpers.ts";
import { LINT } from "../perfetto/decode.ts";

const EDGE = join(ROOT, "fixtures/edge_cases.json");

describe("the REPL reading a script from a pipe", () => {
  const lake = tempDir();
  const dir = tempDir("tl-script-");
  beforeAll(() => {
    expect(cli(lake, ["ingest", EDGE]).code).toBe(0);
  }, 60_000);
  const oracle = (sql: string): string => {
    const r = cli(lake, ["query", "-f", "csv", sql]);
    expect(r.code).toBe(0);
    return r.stdout;
  };

  test("runs statements (multi-line, several per line) and dot-commands, no prompts", () => {
    const script = [
      ".mode csv",
      "SELECT exe, source_pid",
      "  FROM processes -- a comment; not the end",
      "  ORDER BY source_pid; SELECT 'a;b' AS s;",
      "SELECT count(*) AS n FROM thread_spans",
    ].join("\n");
    const r = cli(lake, ["repl"], script);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      oracle("SELECT exe, source_pid FROM processes ORDER BY source_pid") +
        "s\na;b\n" +
        oracle("SELECT count(*) AS n FROM thread_spans"),
    );
    expect(r.stdout).not.toContain("tracelake>");
  }, 60_000);

  test("stops at the first error with a non-zero exit; later statements do not run", () => {
    const after = join(dir, "after.csv");
    const r = cli(lake, ["repl"], `.mode csv\nSELECT 1 AS one;\nSELECT * FROM nope;\n.once ${after}\nSELECT 2;\n`);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("one\n1\n");
    // DuckDB's whole message, as `tracelake query` prints it (issue 18: it was cut to one line).
    const q = cli(lake, ["query", "SELECT * FROM nope"]);
    expect(r.stderr.replace(/^Error: /, "")).toBe(q.stderr.replace(/^error: /, ""));
    expect(r.stderr).toContain("nope");
    expect(existsSync(after)).toBe(false);
  }, 60_000);

  test("a misspelt dot-command is an error that suggests the right one", () => {
    const r = cli(lake, ["repl"], ".tabels\n");
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("did you mean .tables?");
  }, 60_000);

  test(".read runs a file; .once and .output write results to files", () => {
    const sqlFile = join(dir, "q.sql");
    writeFileSync(sqlFile, "SELECT 40 + 2 AS answer;\n.mode ndjson\nSELECT 'x' AS y;\n");
    const once = join(dir, "once.csv");
    const output = join(dir, "output.json");
    const r = cli(
      lake,
      ["repl"],
      `.mode csv\n.once ${once}\nSELECT 1 AS a;\nSELECT 2 AS b;\n.output ${output}\n.mode json\nSELECT 3 AS c;\n.output\n.mode csv\n.read ${sqlFile}\n`,
    );
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(readFileSync(once, "utf8")).toBe("a\n1\n");
    expect(JSON.parse(readFileSync(output, "utf8"))).toEqual([{ c: 3 }]);
    expect(r.stdout).toBe('b\n2\nanswer\n42\n{"y":"x"}\n');
  }, 60_000);

  test(".schema of a JIT view lists its columns without materializing it; .tables lists the views", () => {
    const fresh = tempDir();
    expect(cli(fresh, ["ingest", EDGE]).code).toBe(0);
    const r = cli(
      fresh,
      ["repl"],
      ".schema thread_spans\n.mode csv\nSELECT count(*) AS n FROM lakehouse_partitions;\n.tables\n",
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/│ depth\s+│ UINTEGER\s+│ YES\s+│/);
    expect(r.stdout).toContain("n\n0\n");
    for (const v of ["processes", "raw_events", "thread_spans", "log_entries", "async_events", "measures"]) {
      expect(r.stdout).toContain(`\n${v},`);
    }
    const raw = cli(fresh, ["query", "-f", "csv", "SELECT count(*) FROM raw_events"]).stdout.split("\n")[1];
    expect(r.stdout).toContain(`raw_events,view,${raw},`);
    // Three processes: the fixture's pid-less event is filed under pid 0, as trace_processor does.
    expect(r.stdout).toContain('thread_spans,JIT view,,"materialized for 0 of 3 processes');
    // Once materialized (by a query), the row count is the view's.
    const after = cli(fresh, ["repl"], "SELECT count(*) FROM thread_spans;\n.mode csv\n.tables\n");
    const spans = cli(fresh, ["query", "-f", "csv", "SELECT count(*) FROM thread_spans"]).stdout.split("\n")[1];
    expect(after.stdout).toContain(`thread_spans,JIT view,${spans},"materialized for 3 of 3 processes`);
  }, 60_000);

  test("plain `tracelake` with stdin not a terminal runs the script (`tracelake < script.sql`); an unknown command is a usage error", () => {
    const r = cli(lake, [], ".mode csv\nSELECT 40 + 2 AS answer;\n");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("answer\n42\n");
    const u = cli(lake, ["frobnicate"], "");
    expect(u.code).toBe(2);
    expect(u.stderr).toContain("unknown command 'frobnicate'");
  }, 60_000);

  test(".ingest adds to the lake and the next statement sees it (a fresh catalog snapshot per statement)", () => {
    const fresh = tempDir();
    expect(cli(fresh, ["ingest", EDGE]).code).toBe(0);
    const other = join(ROOT, "fixtures/node_trace.json.gz");
    const r = cli(
      fresh,
      ["repl"],
      `.mode csv\nSELECT count(*) AS n FROM processes;\n.ingest ${other}\nSELECT count(*) AS n FROM processes;\nSELECT count(*) AS spans FROM thread_spans;\n`,
    );
    expect(r.code).toBe(0);
    const n = (dir: string, sql: string): string => cli(dir, ["query", "-f", "csv", sql]).stdout.split("\n")[1] ?? "";
    const lake2 = tempDir();
    expect(cli(lake2, ["ingest", other]).code).toBe(0);
    // The fixture's three processes (its pid-less event is filed under pid 0, as trace_processor does).
    const both = Number(n(lake2, "SELECT count(*) FROM processes")) + 3;
    expect(r.stdout).toContain(`n\n3\n`);
    expect(r.stdout).toContain("ingested");
    expect(r.stdout).toContain(`n\n${both}\n`);
    expect(r.stdout).toContain(`spans\n${n(fresh, "SELECT count(*) FROM thread_spans")}\n`);
  }, 60_000);

  test("a last statement cut off inside a string is DuckDB's parse error, exit 1", () => {
    const r = cli(lake, ["repl"], "SELECT 1;\nSELECT 'unterminated\n");
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("unterminated quoted string");
  }, 60_000);

  test("a JIT view reached by a name prepareQuery cannot see is an error, not an empty result", () => {
    const fresh = tempDir();
    expect(cli(fresh, ["ingest", EDGE]).code).toBe(0);
    const r = cli(fresh, ["repl"], "SELECT count(*) FROM query_table('thread_' || 'spans');\n");
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("thread_spans was not materialized for this statement");
    expect(r.stdout).toBe("");
  }, 60_000);

  test(".export perfetto writes the trace `tracelake export perfetto` writes with the same options", () => {
    const viaRepl = join(dir, "repl export.pftrace");
    const viaCli = join(dir, "cli.pftrace");
    const opts = ["--all", "--spans", "thread", "--no-logs"];
    const r = cli(
      lake,
      ["repl"],
      `.export perfetto ${opts.join(" ")} -o '${viaRepl}'\n.mode csv\nSELECT 1 AS after;\n`,
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("after\n1\n");
    expect(r.stderr).toContain("packets");
    expect(cli(lake, ["export", "perfetto", ...opts, "-o", viaCli]).code).toBe(0);
    // The same bytes (the writer is deterministic), so what the exporter tests prove holds here.
    expect(Buffer.compare(readFileSync(viaRepl), readFileSync(viaCli))).toBe(0);
    const lint = Bun.spawnSync([process.execPath, LINT, "--strict", "--json", viaRepl]);
    expect(lint.exitCode).toBe(0);
    const stats = JSON.parse(lint.stdout.toString()).stats;
    expect(String(stats.slices.complete.total ?? 0)).toBe(
      oracle("SELECT count(*) AS n FROM thread_spans").split("\n")[1] as string,
    );
  }, 60_000);

  test(".export perfetto with bad options: one clear error, exit 1, no file", () => {
    const out = join(dir, "bad.pftrace");
    const cases: [string, string][] = [
      [`.export perfetto --all --bogus -o ${out}`, "unknown option '--bogus'"],
      [".export perfetto --all", "needs -o FILE"],
      [`.export perfetto -o ${out}`, "needs --process P"],
      [`.export perfetto --all --spans some -o ${out}`, "--spans 'some' is not valid"],
      [`.export perfetto --process 'no such' -o ${out}`, "no process matches 'no such'"],
      [".export perfetto --all -o -", "writes to a file"],
      [`.export csv -o ${out}`, ".export perfetto --process P|--all"],
    ];
    for (const [line, msg] of cases) {
      const r = cli(lake, ["repl"], `${line}\nSELECT 1;\n`);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe("");
      expect(r.stderr.trim().split("\n").length).toBe(1);
      expect(r.stderr).toContain(msg);
      expect(existsSync(out)).toBe(false);
    }
  }, 120_000);
});
