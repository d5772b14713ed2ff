/**
 * Issue 18 on a terminal: `tracelake repl SCRIPT` runs the script then stays open; errors show
 * DuckDB's whole message; `.timer`, `.maxwidth`.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { cli, ROOT, tempDir } from "../helpers.ts";
import { Pty } from "../pty.ts";

const EDGE = join(ROOT, "fixtures/edge_cases.json");

describe("the REPL on a terminal, with DuckDB's habits", () => {
  const lake = tempDir();
  const dir = tempDir("tl-habits-pty-");
  const env = { TRACELAKE_HISTORY: join(dir, "history") };
  beforeAll(() => {
    expect(cli(lake, ["ingest", EDGE]).code).toBe(0);
  }, 60_000);

  test("`repl SCRIPT` runs it, then prompts; an error is DuckDB's whole message; .timer off and .maxwidth hold", async () => {
    const script = join(dir, "init.sql");
    writeFileSync(script, ".mode csv\nSELECT 40 + 2 AS answer;\n");
    const t = Pty.tracelake(["--lake", lake, "repl", script], env, 100);
    try {
      await t.expect(/tracelake .* processes/);
      await t.expect("answer\r\n42\r\n");
      await t.expect("tracelake> ");
      // The same message `tracelake query` prints (the oracle), with its candidates and caret.
      const q = cli(lake, ["query", "SELECT nme FROM processes"]).stderr.replace(/^error: /, "");
      expect(q).toContain("Candidate bindings");
      t.type("SELECT nme FROM processes;\r");
      const err = await t.expect("tracelake> ");
      for (const line of q.trim().split("\n")) expect(err).toContain(line.trimEnd());
      t.type(".timer off\r");
      await t.expect("tracelake> ");
      t.type(".mode table\r");
      await t.expect("tracelake> ");
      t.type(".maxwidth 60\r");
      await t.expect("tracelake> ");
      t.type("SELECT * FROM raw_events LIMIT 2;\r");
      const table = await t.expect("tracelake> ");
      expect(table).not.toContain("Run Time");
      const lines = table.split(/\r?\n/).filter((l) => l.startsWith("│") || l.startsWith("┌"));
      expect(lines.length).toBeGreaterThan(3);
      for (const l of lines) expect(Bun.stringWidth(l)).toBeLessThanOrEqual(60);
      expect(table).toMatch(/│ name\s/);
      t.type(".quit\r");
      expect(await t.close()).toBe(0);
    } finally {
      t.proc.kill();
    }
  }, 60_000);

  test("`tracelake TRACE` on a terminal ingests it and opens the REPL on the lake", async () => {
    const fresh = join(tempDir(), "lake");
    const t = Pty.tracelake(["--lake", fresh, EDGE], env, 120);
    try {
      await t.expect(`ingested ${EDGE}`);
      await t.expect(/tracelake .* · lake .* · 3 processes/);
      await t.expect("tracelake> ");
      t.type(".mode csv\r");
      await t.expect("tracelake> ");
      t.type("SELECT count(*) AS n FROM processes;\r");
      await t.expect("n\r\n3\r\n");
      t.type("\x04");
      expect(await t.close()).toBe(0);
    } finally {
      t.proc.kill();
    }
  }, 60_000);

  test("`query` on a terminal fits its table to the terminal's width, as the REPL does", async () => {
    const t = Pty.tracelake(["--lake", lake, "query", "SELECT * FROM raw_events ORDER BY seq LIMIT 2"], env, 90);
    try {
      const out = await t.expect(/2 rows, \d+ columns \(\d+ shown\)/);
      const lines = out.split(/\r?\n/).filter((l) => l.startsWith("│") || l.startsWith("┌"));
      expect(lines.length).toBeGreaterThan(3);
      for (const l of lines) expect(Bun.stringWidth(l)).toBeLessThanOrEqual(90);
      expect(out).toMatch(/│ name\s/);
      expect(await t.close()).toBe(0);
    } finally {
      t.proc.kill();
    }
  }, 60_000);
});
