/**
 * The write guard of user SQL (lib/sql/guard.ts; issue 19, bug 3): a query cannot write the
 * lake's catalog or files (ATTACH of the catalog under any name or path, COPY/EXPORT into the
 * lake, extensions, settings that move paths), while reading other files and writing results
 * outside the lake keep working, in `tracelake query` and in the REPL's way of running SQL.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, linkSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { Engine } from "../../lib/duck/engine.ts";
import { SqlError } from "../../lib/errors.ts";
import { ingest } from "../../lib/ingest/ingest.ts";
import { Lake } from "../../lib/lake/lake.ts";
import { checkPreparedType, guardStatements, lexStatements } from "../../lib/sql/guard.ts";
import { prepareQuery, runStatements } from "../../lib/sql/query.ts";
import { cli, ROOT, snapshot, tempDir } from "../helpers.ts";

const T = 120_000;

describe("a query cannot write the lake", () => {
  const dir = tempDir();
  const lakeDir = join(dir, "lake");
  const outside = join(dir, "outside");
  mkdirSync(outside);
  const catalog = join(lakeDir, "catalog.duckdb");
  let engine: Engine;
  let lake: Lake;

  /** Runs `sql` the way `tracelake query` and the REPL do; returns the last result's rows. */
  const run = async (sql: string): Promise<unknown[][]> => {
    await prepareQuery(engine, lake, sql);
    let rows: unknown[][] = [];
    for await (const st of runStatements(engine, sql)) {
      rows = [];
      for await (const c of st.chunks()) rows.push(...c);
    }
    return rows;
  };
  const refusedWith = async (sql: string): Promise<string> => {
    try {
      await run(sql);
    } catch (e) {
      expect(e).toBeInstanceOf(SqlError);
      return (e as Error).message;
    }
    throw new Error(`not refused: ${sql}`);
  };

  beforeAll(async () => {
    engine = await Engine.open({ threads: 2 });
    lake = await Lake.open(engine, lakeDir);
    await ingest(engine, lake, join(ROOT, "fixtures/span_edge_cases.json"));
  }, T);
  afterAll(() => engine?.close());

  test(
    "the issue's repro: ATTACH the catalog and DELETE FROM its blocks is refused (exit 1, one sentence); gc keeps every blob",
    async () => {
      await run("SELECT count(*) FROM thread_spans");
      const before = await snapshot(lakeDir);
      const r = cli(lakeDir, ["query", `ATTACH '${catalog}' AS c2; DELETE FROM c2.blocks`]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("query refused");
      expect(r.stderr.trim().split("\n")[0]).toContain(lakeDir);
      const gc = cli(lakeDir, ["gc", "--grace", "0"]);
      expect(gc.code).toBe(0);
      expect(await snapshot(lakeDir)).toEqual(before);
    },
    T,
  );

  test(
    "the catalog under another name or path is refused, read-write or read-only",
    async () => {
      const link = join(outside, "cat-link.duckdb");
      symlinkSync(catalog, link);
      const hard = join(outside, "cat-hard.duckdb");
      linkSync(catalog, hard);
      const rel = relative(process.cwd(), catalog);
      for (const sql of [
        `ATTACH '${catalog}' AS c2`,
        `ATTACH DATABASE IF NOT EXISTS '${catalog}' AS c2 (READ_ONLY)`,
        `ATTACH '${lakeDir}/blobs/../catalog.duckdb' AS c2`,
        `ATTACH '${rel}' AS c2`,
        `ATTACH 'duckdb:${catalog}' AS c2`,
        `ATTACH 'file://${catalog}' AS c2`,
        `ATTACH $$${catalog}$$ AS c2`,
        `ATTACH '${link}' AS c2`,
        `ATTACH '${hard}' AS c2`,
        `ATTACH '${lakeDir}/new.duckdb' AS c2`,
        `/* hidden */ ATTACH '${catalog}' AS c2`,
        `SELECT 1; ATTACH '${catalog}' AS c2; SELECT 2`,
        `ATTACH E'${catalog}' AS c2`,
      ]) {
        expect(await refusedWith(sql)).toContain("query refused");
      }
      expect(existsSync(join(lakeDir, "new.duckdb"))).toBe(false);
      expect((await run("SELECT database_name FROM duckdb_databases() WHERE database_name = 'c2'")).length).toBe(0);
    },
    T,
  );

  test(
    "COPY, EXPORT into the lake, IMPORT, extensions and path settings are refused; nothing is written",
    async () => {
      const files = () => readdirSync(lakeDir, { recursive: true }).map(String).sort();
      const before = files();
      for (const sql of [
        `COPY (SELECT 1 AS x) TO '${lakeDir}/views/x.parquet'`,
        `COPY (SELECT 1 AS x) TO '${lakeDir}/blobs' (FORMAT parquet, PARTITION_BY (x))`,
        `COPY (SELECT 'to' AS "to") TO '${lakeDir}/x.csv'`,
        `EXPLAIN ANALYZE COPY (SELECT 1) TO '${lakeDir}/x.csv'`,
        `EXPORT DATABASE '${lakeDir}/exp'`,
        `IMPORT DATABASE '${outside}'`,
        "INSTALL json",
        "LOAD json",
        "FORCE INSTALL json",
        `SET home_directory = '${lakeDir}'`,
        `SET GLOBAL temp_directory = '${lakeDir}'`,
        "SET file_search_path = '/'",
        "RESET extension_directory",
        "PRAGMA lock_configuration = true",
        "SET allow_unsigned_extensions = true",
      ]) {
        expect(await refusedWith(sql)).toContain("query refused");
      }
      expect(files()).toEqual(before);
    },
    T,
  );

  test(
    "reading other files and writing results outside the lake still work",
    async () => {
      const csv = join(outside, "x.csv");
      await run(`COPY (SELECT count(*) AS n FROM thread_spans) TO '${csv}'`);
      const n = await run("SELECT count(*) FROM thread_spans");
      expect(await run(`SELECT n FROM read_csv('${csv}')`)).toEqual(n);
      writeFileSync(join(outside, "in.csv"), "a,b\n1,2\n");
      expect(await run(`SELECT (a + b)::INTEGER FROM read_csv('${join(outside, "in.csv")}')`)).toEqual([[3]]);
      const db = join(outside, "mine.duckdb");
      await run(`ATTACH '${db}' AS mine; CREATE TABLE mine.t AS SELECT 1 AS x; DETACH mine`);
      expect(existsSync(db)).toBe(true);
      await run(`EXPORT DATABASE '${join(outside, "exp")}'`);
      await run("SET threads = 2; SET VARIABLE v = 'to'; RESET threads");
      expect(await run("SELECT getvariable('v')")).toEqual([["to"]]);
      const r = cli(lakeDir, ["query", "-f", "csv", `COPY (SELECT 42 AS x) TO '${join(outside, "cli.csv")}'`]);
      expect(r.code).toBe(0);
      expect(existsSync(join(outside, "cli.csv"))).toBe(true);
    },
    T,
  );
});

describe("the guard's lexer and DuckDB's statement types", () => {
  test("statements split where DuckDB splits them; strings, comments and dollar quotes hide ';' and keywords", () => {
    const kinds = guardStatements(
      `SELECT 'a;b', "x;y" FROM t -- ; ATTACH '/lake/catalog.duckdb'
       ; /* ; COPY x TO '/lake/x' */ SELECT $$;$$, $tag$ ATTACH $tag$; COPY t FROM '/lake/x.csv'; COPY (SELECT 1) TO '/tmp/y.csv'`,
      "/lake",
    );
    expect(kinds).toEqual(["other", "other", "copy_from", "copy_to"]);
    expect(lexStatements("SELECT 1;;  ; SELECT 2;").length).toBe(2);
  });

  test("a prepared statement that opens or writes files must be the one the lexer read at that place", () => {
    const ATTACH = 25;
    const COPY = 11;
    const LOAD = 21;
    const SELECT = 1;
    expect(() => checkPreparedType(ATTACH, 0, 1, ["attach"])).not.toThrow();
    expect(() => checkPreparedType(ATTACH, 0, 1, ["other"])).toThrow(SqlError);
    expect(() => checkPreparedType(COPY, 1, 2, ["other", "copy_to"])).not.toThrow();
    // DuckDB split the text into more statements than the lexer: nothing file-related runs.
    expect(() => checkPreparedType(COPY, 1, 3, ["other", "copy_to"])).toThrow(SqlError);
    expect(() => checkPreparedType(SELECT, 2, 3, ["other", "copy_to"])).not.toThrow();
    expect(() => checkPreparedType(LOAD, 0, 1, ["other"])).toThrow(SqlError);
  });
});

test("query -o into the lake is refused by the guard; outside it, it writes", () => {
  const lake = join(tempDir(), "lake");
  expect(cli(lake, ["ingest", join(ROOT, "fixtures/span_edge_cases.json")]).code).toBe(0);
  const inside = join(lake, "blobs", "x.csv");
  const r = cli(lake, ["query", "-o", inside, "SELECT 1 AS a"]);
  expect(r.code).not.toBe(0);
  expect(existsSync(inside)).toBe(false);
  const outside = join(tempDir(), "x.csv");
  const ok = cli(lake, ["query", "-o", outside, "SELECT 1 AS a"]);
  expect(ok.code).toBe(0);
  expect(readFileSync(outside, "utf8")).toBe("a\n1\n");
}, 60_000);

test("runStatements refuses text with no statement with a sentence (DuckDB's extraction says 'Error in native callback')", async () => {
  const e = await Engine.open({ threads: 1 });
  try {
    for (const sql of ["", " \n", ";;", "-- only a comment", "/* a */ ; /* b */"]) {
      let err: unknown = null;
      try {
        for await (const _ of runStatements(e, sql)) throw new Error(`a statement came out of ${JSON.stringify(sql)}`);
      } catch (x) {
        err = x;
      }
      expect(err, JSON.stringify(sql)).toBeInstanceOf(SqlError);
      expect((err as Error).message).toBe("no SQL statement: the text is empty, or only comments and ';'");
    }
    // A statement after a comment still runs.
    const got: unknown[][] = [];
    for await (const st of runStatements(e, "-- c\nSELECT 42 AS x")) for await (const c of st.chunks()) got.push(...c);
    expect(got).toEqual([[42]]);
  } finally {
    e.close();
  }
});
