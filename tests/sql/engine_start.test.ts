/**
 * Engine.start: the instance it begins creating is taken by the next Engine.open, which gives
 * it the options its configuration would have carried. The expected settings are the options
 * passed (and DuckDB's own names for them), not values read from the code under test.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { Engine } from "../../lib/duck/engine.ts";

/** The settings an engine runs with. */
async function settings(e: Engine): Promise<Record<string, string | undefined>> {
  const rows = await e.rows<{ name: string; value: string }>(
    `SELECT name, value FROM duckdb_settings()
     WHERE name IN ('memory_limit', 'threads', 'TimeZone', 'temp_directory', 'autoinstall_known_extensions',
       'autoload_known_extensions', 'disabled_compression_methods', 'enable_external_file_cache')`,
  );
  return Object.fromEntries(rows.map((r) => [r.name, r.value]));
}

describe("Engine.start", () => {
  test("the next open takes the started instance, with its options set as a created one has them", async () => {
    const options = { memoryLimit: "123MB", threads: 1 };
    await Engine.start();
    const started = await Engine.open(options);
    const created = await Engine.open(options);
    try {
      expect([started.fromStart, created.fromStart]).toEqual([true, false]);
      const a = await settings(started);
      const b = await settings(created);
      expect(a.threads).toBe("1");
      // DuckDB shows 123MB as 117.3 MiB: the same text for both.
      expect(a.memory_limit).toBe(b.memory_limit);
      expect(b.memory_limit).toMatch(/^117\.\d MiB$/);
      expect(a.TimeZone).toBe("UTC");
      expect([a.disabled_compression_methods, b.disabled_compression_methods]).toEqual(["FSST", "FSST"]);
      expect([a.autoinstall_known_extensions, a.autoload_known_extensions]).toEqual(["false", "true"]);
      // No copy of the Parquet files read in DuckDB's memory (the page cache has them).
      expect([a.enable_external_file_cache, b.enable_external_file_cache]).toEqual(["false", "false"]);
      // Each engine spills to a private directory of its own.
      expect(String(a.temp_directory).startsWith(`${tmpdir()}/tracelake-duckdb-${process.pid}-`)).toBe(true);
      expect(String(b.temp_directory).startsWith(`${tmpdir()}/tracelake-duckdb-${process.pid}-`)).toBe(true);
      expect(a.temp_directory).not.toBe(b.temp_directory);
      expect({ ...a, temp_directory: "" }).toEqual({ ...b, temp_directory: "" });
    } finally {
      started.close();
      created.close();
    }
  });

  test("an open with its own temp directory leaves the started instance to the next open", async () => {
    await Engine.start();
    const own = await Engine.open({ tempDirectory: `${tmpdir()}/tracelake-test-own-${process.pid}` });
    const next = await Engine.open({ memoryLimit: "64MB" });
    try {
      expect([own.fromStart, next.fromStart]).toEqual([false, true]);
      expect((await settings(own)).temp_directory).toBe(`${tmpdir()}/tracelake-test-own-${process.pid}`);
      const s = await settings(next);
      expect(String(s.temp_directory).startsWith(`${tmpdir()}/tracelake-duckdb-${process.pid}-`)).toBe(true);
      expect(s.memory_limit).toMatch(/^61\.\d MiB$/);
    } finally {
      own.close();
      next.close();
    }
  });

  test("an open called while the start is under way waits for it and takes its instance", async () => {
    // main.ts does not await the start: the command's modules load meanwhile.
    const starting = Engine.start();
    expect(Engine.start()).toBe(starting);
    const e = await Engine.open();
    const next = await Engine.open();
    try {
      expect([e.fromStart, next.fromStart]).toEqual([true, false]);
      expect((await settings(e)).TimeZone).toBe("UTC");
    } finally {
      e.close();
      next.close();
    }
    await starting;
  });
});

describe("thread counts (an export's engine: one thread, every core for the JIT's writes)", () => {
  /** DuckDB's default thread count, as an instance created with its defaults reports it (the oracle). */
  async function duckDefaultThreads(): Promise<string> {
    const c = await (await DuckDBInstance.create(":memory:")).connect();
    try {
      return String((await c.runAndReadAll("SELECT current_setting('threads')::VARCHAR AS t")).getRowObjectsJS()[0]?.t);
    } finally {
      c.closeSync();
    }
  }
  const threadsOf = async (e: Engine) => (await settings(e)).threads;

  test("a start with a thread count creates the instance with it; an open asking for another gets its own", async () => {
    const byDefault = await duckDefaultThreads();
    await Engine.start(undefined, 1);
    const one = await Engine.open({ threads: 1 });
    await Engine.start(undefined, 1);
    const dflt = await Engine.open();
    try {
      expect([one.fromStart, dflt.fromStart]).toEqual([true, true]);
      expect(await threadsOf(one)).toBe("1");
      expect(await threadsOf(dflt)).toBe(byDefault);
    } finally {
      one.close();
      dflt.close();
    }
  });

  test("withDefaultThreads: the default inside, the engine's count after, also when it throws; a default engine unchanged", async () => {
    const byDefault = await duckDefaultThreads();
    const one = await Engine.open({ threads: 1 });
    const dflt = await Engine.open();
    try {
      expect(await one.withDefaultThreads(() => threadsOf(one))).toBe(byDefault);
      expect(await threadsOf(one)).toBe("1");
      await expect(
        one.withDefaultThreads(async () => {
          throw new Error("boom");
        }),
      ).rejects.toThrow("boom");
      expect(await threadsOf(one)).toBe("1");
      expect(await dflt.withDefaultThreads(() => threadsOf(dflt))).toBe(byDefault);
      expect(await threadsOf(dflt)).toBe(byDefault);
    } finally {
      one.close();
      dflt.close();
    }
  });
});

describe("the catalog's storage", () => {
  /** The compressions of the string segments of a table of lake-like file paths, written and checkpointed by `run`. */
  async function stringCompressions(
    run: (sql: string) => Promise<unknown>,
    rows: (sql: string) => Promise<{ c: string }[]>,
  ) {
    const dir = mkdtempSync(join(tmpdir(), "tracelake-test-fsst-"));
    try {
      await run(`ATTACH '${join(dir, "c.duckdb")}' AS c`);
      await run(
        "CREATE TABLE c.blocks AS SELECT 'blobs/' || (i % 10) || '/stream-' || (i % 137) || '/block-' || i || '.parquet' AS file_path FROM range(50000) r(i)",
      );
      await run("DETACH c");
      await run(`ATTACH '${join(dir, "c.duckdb")}' AS c (READ_ONLY)`);
      const r = await rows(
        "SELECT DISTINCT compression AS c FROM pragma_storage_info('c.blocks') WHERE segment_type = 'VARCHAR'",
      );
      await run("DETACH c");
      return r.map((x) => x.c).sort();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  test("is written without FSST (its analysis cost every DETACH 7-17 ms), which DuckDB would otherwise choose", async () => {
    // The oracle: a DuckDB instance with its defaults compresses the same strings with FSST.
    const plain = await (await DuckDBInstance.create(":memory:")).connect();
    const defaults = await stringCompressions(
      (sql) => plain.run(sql),
      async (sql) => (await plain.runAndReadAll(sql)).getRowObjectsJS() as { c: string }[],
    );
    plain.closeSync();
    expect(defaults).toContain("FSST");
    const e = await Engine.open();
    try {
      const ours = await stringCompressions(
        (sql) => e.run(sql),
        (sql) => e.rows<{ c: string }>(sql),
      );
      expect(ours).not.toContain("FSST");
      expect(ours.length).toBeGreaterThan(0);
    } finally {
      e.close();
    }
  });
});
