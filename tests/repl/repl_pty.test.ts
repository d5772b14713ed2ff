import { beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { cli, ROOT, tempDir } from "../helpers.ts";
import { Pty } from "../pty.ts";

const SAMPLE_GZ = join(ROOT, "fixtures/chromium_startup.json.gz");

/** One CSV value from `tracelake query` (the oracle: the one-shot CLI, not the REPL). */
function oracle(lake: string, sql: string): string {
  const r = cli(lake, ["query", "-f", "csv", sql]);
  expect(r.code).toBe(0);
  return r.stdout.trim().split("\n").slice(1).join("\n");
}

describe("the REPL on a terminal", () => {
  const lake = tempDir();
  const state = tempDir("tl-state-");
  const env = { TRACELAKE_HISTORY: join(state, "history") };
  beforeAll(() => {
    expect(cli(lake, ["ingest", SAMPLE_GZ]).code).toBe(0);
  }, 60_000);

  test("a multi-line query shows a table; Tab completes a view name; Ctrl-C cancels a long query; history survives a restart", async () => {
    const t = Pty.tracelake(["--lake", lake, "repl"], env);
    try {
      await t.expect(/tracelake .* 10 processes/);
      await t.expect("tracelake> ");
      // A statement over three lines: continuation prompts, then one table.
      t.type("SELECT exe,\r");
      await t.expect("...> ");
      t.type("  count(*) AS n\r");
      await t.expect("...> ");
      t.type("FROM processes WHERE exe IS NOT NULL GROUP BY exe ORDER BY n DESC, exe;\r");
      const table = await t.expect(/\d+ rows?\r?\n/);
      expect(table).toContain("│ exe");
      expect(table).toMatch(/│ varchar\s+│ bigint\s+│/);
      const expected = oracle(
        lake,
        "SELECT exe, count(*) AS n FROM processes WHERE exe IS NOT NULL GROUP BY exe ORDER BY n DESC, exe",
      ).split("\n");
      for (const line of expected) {
        const [exe, n] = line.split(",");
        expect(table).toMatch(new RegExp(`│ ${exe}\\s+│\\s+${n} │`));
      }
      expect(table).toContain(`${expected.length} rows`);
      await t.expect(/Run Time: [\d.]+ m?s/);
      await t.expect("tracelake> ");

      // Tab after a partial view name completes it on the line.
      t.type("SELECT count(*) AS spans FROM thread_sp");
      await t.expect("thread_sp");
      t.type("\t");
      await t.expect("ans"); // readline writes only what the completion adds
      t.type(";\r");
      const spans = await t.expect(/1 row/);
      expect(spans).toContain(oracle(lake, "SELECT count(*) FROM thread_spans"));
      await t.expect("tracelake> ");

      // Tab inside view_instance's second argument offers processes.
      t.type("SELECT count(*) FROM view_instance('thread_sp");
      await t.expect("thread_sp");
      t.type("\t");
      await t.expect("ans'");
      t.type(", 'pid:948");
      await t.expect("pid:948");
      t.type("\t");
      await t.expect("9'");
      t.type(");\r");
      const one = await t.expect(/1 row/);
      expect(one).toContain(oracle(lake, "SELECT count(*) FROM view_instance('thread_spans', 'pid:9489')"));
      await t.expect("tracelake> ");

      // Ctrl-C during a long query: DuckDB is interrupted and the prompt comes back.
      t.type("SELECT count(*) FROM range(1000000000) a, range(1000000) b WHERE a.range + b.range = -1;\r");
      await Bun.sleep(700);
      const t0 = Date.now();
      t.type("\x03");
      await t.expect("Interrupted");
      await t.expect("tracelake> ");
      expect(Date.now() - t0).toBeLessThan(10_000);
      t.type("SELECT 6 * 7 AS answer;\r");
      expect(await t.expect(/1 row/)).toMatch(/│\s+42 │/);
      await t.expect("tracelake> ");

      // An error is one line, and the REPL goes on.
      t.type("SELECT * FROM no_such_table;\r");
      const err = await t.expect("tracelake> ");
      expect(err).toContain("Error: ");
      expect(err).toContain("no_such_table");
      t.type(".quit\r");
      expect(await t.close()).toBe(0);
    } finally {
      t.proc.kill();
    }
    // The history file has whole statements, the multi-line one on one line.
    const hist = readFileSync(env.TRACELAKE_HISTORY, "utf8").split("\n");
    expect(hist).toContain(
      "SELECT exe, count(*) AS n FROM processes WHERE exe IS NOT NULL GROUP BY exe ORDER BY n DESC, exe;",
    );

    // Restart: Up finds the previous statements; Ctrl-R searches them.
    const r = Pty.tracelake(["--lake", lake, "repl"], env);
    try {
      await r.expect("tracelake> ");
      r.type("\x1b[A"); // Up: the last entry (.quit)
      await r.expect(".quit");
      r.type("\x1b[A"); // Up again: the statement before it
      await r.expect("SELECT * FROM no_such_table;");
      r.type("\x15"); // Ctrl-U: clear the line
      r.type("\x12"); // Ctrl-R
      await r.expect("(reverse-i-search)");
      r.type("6 * 7");
      await r.expect("SELECT 6 * 7 AS answer;");
      r.type("\r");
      expect(await r.expect(/1 row/)).toMatch(/│\s+42 │/);
      await r.expect("tracelake> ");
      // Ctrl-C on an empty line warns; a second one exits.
      r.type("\x03");
      await r.expect("press Ctrl-C again");
      r.type("\x03");
      expect(await r.close()).toBe(0);
    } finally {
      r.proc.kill();
    }
  }, 120_000);

  test("plain `tracelake` on a terminal opens the REPL; Ctrl-D leaves it", async () => {
    const t = Pty.tracelake(["--lake", lake], env);
    try {
      await t.expect("tracelake> ");
      t.type(".mode csv\r");
      await t.expect("tracelake> ");
      t.type("SELECT 1 AS x, 'a,b' AS y;\r");
      await t.expect('x,y\r\n1,"a,b"');
      await t.expect("tracelake> ");
      t.type("\x04");
      expect(await t.close()).toBe(0);
    } finally {
      t.proc.kill();
    }
    expect(existsSync(env.TRACELAKE_HISTORY)).toBe(true);
  }, 60_000);

  test("Ctrl-C while views are being materialized stops it cleanly; the next query materializes them", async () => {
    const fresh = tempDir();
    expect(cli(fresh, ["ingest", SAMPLE_GZ]).code).toBe(0);
    const t = Pty.tracelake(["--lake", fresh], env);
    try {
      await t.expect("tracelake> ");
      t.type("SELECT count(*) AS n FROM thread_spans;\r");
      await t.expect(/materializing .*partitions/);
      t.type("\x03");
      await t.expect("Interrupted");
      await t.expect("tracelake> ");
      // Nothing was committed and the files written before the interrupt were removed.
      const files = (dir: string): string[] =>
        readdirSync(dir, { recursive: true, withFileTypes: true })
          .filter((e) => e.isFile())
          .map((e) => e.name);
      expect(oracle(fresh, "SELECT count(*) FROM lakehouse_partitions")).toBe("0");
      expect(files(join(fresh, "views"))).toEqual([]);
      t.type("SELECT count(*) AS n FROM thread_spans;\r");
      const r = await t.expect(/1 row/);
      expect(r).toMatch(new RegExp(`│\\s+${oracle(lake, "SELECT count(*) FROM thread_spans")} │`));
      t.type(".quit\r");
      expect(await t.close()).toBe(0);
    } finally {
      t.proc.kill();
    }
  }, 120_000);

  test("Ctrl-C during .export perfetto stops it: no trace file, no partial file, the REPL goes on", async () => {
    const fresh = tempDir();
    const outDir = tempDir("tl-export-");
    const out = join(outDir, "all.pftrace");
    expect(cli(fresh, ["ingest", SAMPLE_GZ]).code).toBe(0);
    const t = Pty.tracelake(["--lake", fresh], env);
    try {
      await t.expect("tracelake> ");
      t.type(`.export perfetto --all -o ${out}\r`);
      await t.expect(/materializing .*partitions/);
      t.type("\x03");
      await t.expect("Interrupted");
      await t.expect("tracelake> ");
      expect(readdirSync(outDir)).toEqual([]);
      expect(oracle(fresh, "SELECT count(*) FROM lakehouse_partitions")).toBe("0");
      // The same command runs to the end afterwards.
      t.type(`.export perfetto --all -o ${out}\r`);
      // Materializing and exporting every process takes ~5 s on a quiet machine, far more on
      // a loaded one: a generous wait (the assertion is that it completes).
      await t.expect(/all\.pftrace: [0-9,]+ packets/, 120_000);
      await t.expect("tracelake> ");
      expect(readdirSync(outDir)).toEqual(["all.pftrace"]);
      t.type(".quit\r");
      expect(await t.close()).toBe(0);
    } finally {
      t.proc.kill();
    }
  }, 240_000);
});
