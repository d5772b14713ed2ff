import { describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Engine } from "../../lib/duck/engine.ts";
import {
  type CompletionSource,
  complete,
  completePath,
  connectionSource,
  openString,
} from "../../lib/repl/complete.ts";
import { closestCommand, parseDotLine } from "../../lib/repl/dot.ts";
import { appendHistory, historyPath, loadHistory, searchHistory } from "../../lib/repl/history.ts";
import { oneLine, splitStatements } from "../../lib/repl/split.ts";
import { tempDir } from "../helpers.ts";

describe("statement splitter", () => {
  test("splits at top-level semicolons and keeps the unfinished rest", () => {
    const r = splitStatements("SELECT 1; SELECT 2;\nSELECT\n  3");
    expect(r.statements).toEqual(["SELECT 1", "SELECT 2"]);
    expect(r.rest).toBe("\nSELECT\n  3");
    expect(r.restBlank).toBe(false);
  });

  test("semicolons inside strings, quoted identifiers, comments and dollar quotes do not split", () => {
    const cases = [
      "SELECT 'a;b', 'it''s;'",
      'SELECT 1 AS "x;y"',
      "SELECT 1 -- no; split\n + 1",
      "SELECT /* a; /* nested; */ still; */ 1",
      "SELECT $$body; with; semis$$",
      "SELECT $fn$ $$ ; $fn$",
      "SELECT E'esc\\'; still'",
    ];
    for (const c of cases) {
      const r = splitStatements(`${c};`);
      expect(r.statements).toEqual([c]);
      expect(r.restBlank).toBe(true);
    }
  });

  test("an open string, comment or dollar quote is unfinished", () => {
    for (const c of ["SELECT 'abc;", "SELECT /* x;", "SELECT $$ x;", 'SELECT "a;']) {
      const r = splitStatements(c);
      expect(r.statements).toEqual([]);
      expect(r.restBlank).toBe(false);
    }
  });

  test("empty statements and comment-only text are blank", () => {
    expect(splitStatements(";;  ;").statements).toEqual([]);
    const r = splitStatements("-- just a comment");
    expect(r.statements).toEqual([]);
    expect(r.restBlank).toBe(true);
    expect(splitStatements("/* c */ ;").statements).toEqual([]);
  });

  test("oneLine keeps the statement's meaning (line comments become block comments)", async () => {
    const stmt = "SELECT 1 AS a, -- first\n  'x\ny' AS b -- second\nFROM range(1)";
    const one = oneLine(stmt);
    expect(one).not.toContain("--");
    expect(one.split("\n").length).toBe(2); // only the line break inside the literal stays
    const e = await Engine.open({ threads: 1 });
    try {
      expect(await e.rows(one)).toEqual(await e.rows(stmt));
    } finally {
      e.close();
    }
  });
});

describe("dot-commands", () => {
  test("parses names, aliases and quoted arguments", () => {
    const d = parseDotLine(`.read "my file.sql" 'it''s' plain`);
    expect(d.command?.name).toBe("read");
    expect(d.args).toEqual(["my file.sql", "it's", "plain"]);
    expect(parseDotLine(".exit").command?.name).toBe("quit");
    expect(parseDotLine(".MODE csv").command?.name).toBe("mode");
    expect(parseDotLine(".nope").command).toBeNull();
    expect(() => parseDotLine(`.read "unclosed`)).toThrow(/unclosed/);
  });

  test("suggests the closest command", () => {
    expect(closestCommand("tabels")).toBe("tables");
    expect(closestCommand("tim")).toBe("timer");
    expect(closestCommand("shcema")).toBe("schema");
    expect(closestCommand("xyzzyplugh")).toBeNull();
  });
});

describe("history", () => {
  test("file location follows TRACELAKE_HISTORY, then XDG_STATE_HOME, then ~/.local/state", () => {
    expect(historyPath({ TRACELAKE_HISTORY: "/x/h", XDG_STATE_HOME: "/s" })).toBe("/x/h");
    expect(historyPath({ XDG_STATE_HOME: "/s", HOME: "/home/u" })).toBe("/s/tracelake/history");
    expect(historyPath({ HOME: "/home/u" })).toBe("/home/u/.local/state/tracelake/history");
  });

  test("append and load round-trip, newest first, capped", () => {
    const p = join(tempDir("tl-hist-"), "deep", "history");
    expect(loadHistory(p)).toEqual([]);
    for (let i = 0; i < 2100; i++) appendHistory(p, `SELECT ${i};`);
    const h = loadHistory(p);
    expect(h.length).toBe(1000);
    expect(h[0]).toBe("SELECT 2099;");
    expect(h[999]).toBe("SELECT 1100;");
  });

  test("reverse search finds the newest entry containing the text, then older ones", () => {
    const h = ["SELECT 3 FROM t", "SELECT 2", "SELECT 1 FROM t"];
    expect(searchHistory(h, "FROM t", 0)).toBe(0);
    expect(searchHistory(h, "FROM t", 1)).toBe(2);
    expect(searchHistory(h, "FROM t", 3)).toBe(-1);
    expect(searchHistory(h, "", 0)).toBe(-1);
  });
});

describe("completion", () => {
  const fake = (over: Partial<CompletionSource> = {}): CompletionSource => ({
    sql: async () => [],
    processes: async () => [
      { process_id: "2e9b673c-3279-4af0-abbf-facd5aa36a6f", exe: "Browser", source_pid: "9489" },
      { process_id: "530fdc24-dbbb-486b-8e37-f9dd54468bda", exe: "Renderer", source_pid: "9596" },
    ],
    tables: async () => ["processes", "thread_spans", "my_table"],
    keywords: async () => new Map(),
    ...over,
  });

  test("view_instance arguments: view set names, then process ids, pids and names", async () => {
    const a = await complete("SELECT * FROM view_instance('thr", fake());
    expect(a.items).toEqual(["thread_spans'"]);
    const b = await complete("SELECT * FROM view_instance('thread_spans', 'pid:9", fake());
    expect(b.items.sort()).toEqual(["pid:9489'", "pid:9596'"]);
    const c = await complete("SELECT * FROM view_instance('log_entries', 'Ren", fake());
    expect(c.items).toEqual(["Renderer'"]);
    expect(c.start).toBe("SELECT * FROM view_instance('log_entries', '".length);
  });

  test("file paths inside any quoted string, and in path arguments of dot-commands", async () => {
    const dir = tempDir("tl-paths-");
    mkdirSync(join(dir, "sub dir"));
    writeFileSync(join(dir, "trace.json"), "{}");
    writeFileSync(join(dir, "trace.json.gz"), "");
    writeFileSync(join(dir, ".hidden"), "");
    expect(completePath(`${dir}/tr`)).toEqual([`${dir}/trace.json`, `${dir}/trace.json.gz`]);
    expect(completePath(`${dir}/su`)).toEqual([`${dir}/sub dir/`]);
    expect(completePath(`${dir}/`)).not.toContain(`${dir}/.hidden`);
    const q = await complete(`SELECT * FROM read_json('${dir}/trace.json.`, fake());
    expect(q.items).toEqual([`${dir}/trace.json.gz`]);
    const d = await complete(`.ingest ${dir}/trace.json.`, fake());
    expect(d.items).toEqual([`${dir}/trace.json.gz`]);
    expect(openString("SELECT 'a''b")).toBe("a''b");
    expect(openString("SELECT 'done' -- it's")).toBeNull();
  });

  test("dot-command names and their arguments", async () => {
    expect((await complete(".ta", fake())).items).toEqual([".tables "]);
    expect((await complete(".mode ma", fake())).items).toEqual(["markdown"]);
    expect((await complete(".timer o", fake())).items).toEqual(["on", "off"]);
    expect((await complete(".schema thr", fake())).items).toEqual(["thread_spans"]);
    // .export: perfetto, then `tracelake export perfetto`'s options and their values.
    expect((await complete(".export p", fake())).items).toEqual(["perfetto"]);
    expect((await complete(".export perfetto --no-", fake())).items).toEqual([
      "--no-logs",
      "--no-counters",
      "--no-flows",
      "--no-args",
    ]);
    const used = (await complete(".export perfetto --all --process x ", fake())).items;
    expect(used).toContain("--process");
    expect(used).toContain("--output");
    expect(used).not.toContain("--all");
    expect((await complete(".export perfetto --process Bro", fake())).items).toEqual(["Browser"]);
    expect((await complete(".export perfetto --process pid:95", fake())).items).toEqual(["pid:9596"]);
    expect((await complete(".export perfetto --spans a", fake())).items).toEqual(["async"]);
  });

  test("SQL through DuckDB's sql_auto_complete: our views, their columns, keywords in the case typed", async () => {
    const e = await Engine.open({ threads: 1 });
    const conn = await e.connect();
    try {
      await e.run("CREATE VIEW thread_spans AS SELECT 1 AS depth, 'x' AS name, 2 AS \"end\"");
      await e.run("CREATE TABLE tl_internal AS SELECT 1 AS x");
      const src = connectionSource(conn);
      expect((await complete("SELECT * FROM thread_s", src)).items[0]).toBe("thread_spans");
      expect((await complete("SELECT * FROM tl_", src)).items).toContain("tl_internal");
      expect((await complete("SELECT * FROM t", src)).items).not.toContain("tl_internal");
      expect((await complete("SELECT name FROM thread_spans WHERE dep", src)).items[0]).toBe("depth");
      // "name" is an unreserved keyword: offered bare, so that it extends what was typed.
      expect((await complete("SELECT na", src)).items).toContain("name");
      // "end" is reserved: kept quoted.
      expect((await complete('SELECT "en', src)).items).toContain('"end"');
      expect((await complete("SELECT en", src)).items).toContain('"end"');
      expect((await complete("SEL", src)).items[0]).toBe("SELECT ");
      expect((await complete("sel", src)).items[0]).toBe("select ");
      // Completion works on the statement being typed, after earlier ones.
      const r = await complete("SELECT 1; SELECT * FROM thread_s", src);
      expect(r.items[0]).toBe("thread_spans");
      expect(r.start).toBe("SELECT 1; SELECT * FROM ".length);
    } finally {
      conn.closeSync();
      e.close();
    }
  });
});
