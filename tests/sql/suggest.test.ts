/**
 * Error hints for the names people type (lib/sql/suggest.ts), on DuckDB's own messages: a
 * misspelt view or a trace_processor table name gets tracelake's view, not DuckDB's guess among
 * its system tables; `begin`/`end` unquoted get the quoting hint.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { Engine } from "../../lib/duck/engine.ts";
import { messageOf } from "../../lib/errors.ts";
import { QUERY_VIEWS } from "../../lib/sql/query.ts";
import { explainSqlError } from "../../lib/sql/suggest.ts";
import { cli, ROOT, tempDir } from "../helpers.ts";

let engine: Engine;
beforeAll(async () => {
  engine = await Engine.open({ threads: 1 });
});
afterAll(() => engine.close());

/** DuckDB's message for `sql` run on an empty session, through explainSqlError. */
async function hint(sql: string): Promise<string> {
  try {
    await engine.run(sql);
  } catch (e) {
    return explainSqlError(messageOf(e), Object.keys(QUERY_VIEWS));
  }
  throw new Error(`${sql} did not fail`);
}

test("a misspelt view gets the closest view; DuckDB's system-table guess is gone", async () => {
  const m = await hint("SELECT * FROM thread_span");
  expect(m).toContain('Did you mean "thread_spans"?');
  expect(m).not.toContain("pg_");
  expect(m).toContain("LINE 1:");
  expect(await hint("SELECT * FROM proceses")).toContain('Did you mean "processes"?');
});

test("trace_processor's table names tracelake does not define name its counterpart; near misses get the Perfetto view", async () => {
  expect(await hint("SELECT ts, dur, name FROM thread_slice")).toContain(
    "thread_slice is trace_processor's table; tracelake's is slice",
  );
  expect(await hint("SELECT * FROM android_logs")).toContain("tracelake's is log_entries");
  expect(await hint("SELECT * FROM main.track")).toContain("tracelake's is thread_track");
  expect(await hint("SELECT * FROM slices")).toContain('Did you mean "slice"?');
  expect(await hint("SELECT * FROM threads")).toContain('Did you mean "thread"?');
});

test("a name far from every view lists the views", async () => {
  const m = await hint("SELECT * FROM zzzzzz");
  expect(m).toContain("tracelake's views: processes,");
  expect(m).toContain("thread_spans");
});

test("unquoted begin/end: the quoting hint; other errors unchanged", async () => {
  expect(await hint("SELECT name, begin, end FROM t")).toContain('quote the columns ("begin", "end")');
  const other = "Binder Error: something else";
  expect(explainSqlError(other, ["x"])).toBe(other);
});

test("through the CLI", () => {
  const lake = join(tempDir(), "lake");
  expect(cli(lake, ["ingest", join(ROOT, "fixtures/span_edge_cases.json")]).code).toBe(0);
  const r = cli(lake, ["query", "SELECT * FROM thread_slice"]);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain("tracelake's is slice");
  expect(cli(lake, ["query", "SELECT count(*) FROM slice"]).code).toBe(0);
}, 60_000);
