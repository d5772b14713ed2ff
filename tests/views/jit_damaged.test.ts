/**
 * A partition file deleted or truncated by hand is rebuilt, not reused (issue 19, bug 6): the
 * JIT checks that a reused partition's file exists with the catalog's size, writes a new one
 * otherwise and retires the damaged row by metadata; queries give the same answer as before.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, rmSync, statSync, truncateSync } from "node:fs";
import { join } from "node:path";
import { Engine } from "../../lib/duck/engine.ts";
import { ingest } from "../../lib/ingest/ingest.ts";
import { Lake } from "../../lib/lake/lake.ts";
import { prepareQuery } from "../../lib/sql/query.ts";
import { materializeInstances } from "../../lib/views/jit.ts";
import { threadSpans } from "../../lib/views/thread_spans.ts";
import { cli, ROOT, tempDir } from "../helpers.ts";

const T = 120_000;
const SQL = "SELECT count(*) AS n, sum(duration) AS d, count(DISTINCT name) AS k FROM thread_spans";

describe("damaged partition files are rebuilt", () => {
  const dir = tempDir();
  let engine: Engine;
  let lake: Lake;
  const q = async <R = Record<string, unknown>>(sql: string): Promise<R[]> => {
    await prepareQuery(engine, lake, sql);
    return engine.rows<R>(sql);
  };
  /** Live thread_spans partitions with a file, straight from the catalog. */
  const files = async (): Promise<{ file_path: string; file_size: bigint }[]> => {
    await lake.attach(engine, "read");
    try {
      return await engine.rows(
        `SELECT file_path, file_size FROM lake.lakehouse_partitions
         WHERE view_set_name = 'thread_spans' AND file_path IS NOT NULL ORDER BY file_path`,
      );
    } finally {
      await lake.detach(engine);
    }
  };
  let before: Record<string, unknown>[];

  beforeAll(async () => {
    engine = await Engine.open({ threads: 2 });
    lake = await Lake.open(engine, dir);
    await ingest(engine, lake, join(ROOT, "fixtures/span_edge_cases.json"));
    before = await q(SQL);
  }, T);
  afterAll(() => engine?.close());

  test(
    "a deleted file: the next query rebuilds it and answers as before",
    async () => {
      const [victim, ...rest] = await files();
      expect(victim).toBeDefined();
      rmSync(join(dir, victim?.file_path as string));
      expect(await q(SQL)).toEqual(before);
      const now = await files();
      expect(now.length).toBe(rest.length + 1);
      expect(now.map((f) => f.file_path)).not.toContain(victim?.file_path);
      for (const f of now) expect(BigInt(statSync(join(dir, f.file_path)).size)).toBe(f.file_size);
    },
    T,
  );

  test(
    "a truncated file: materialize reports it rebuilt (not reused), the damaged row retired",
    async () => {
      const [victim] = await files();
      const path = join(dir, victim?.file_path as string);
      truncateSync(path, 100);
      const r = await materializeInstances(engine, lake, [{ viewSet: threadSpans, processIds: null }]);
      expect(r.rebuilt).toBe(1);
      expect(r.retired).toBe(1);
      expect(r.reused).toBe(r.partitions - 1);
      expect(await q(SQL)).toEqual(before);
      const again = await materializeInstances(engine, lake, [{ viewSet: threadSpans, processIds: null }]);
      expect([again.reused, again.written, again.rebuilt]).toEqual([again.partitions, 0, 0]);
    },
    T,
  );

  test(
    "tracelake materialize after a deletion: nothing reused for it, one written, one retired",
    async () => {
      expect(cli(dir, ["materialize"]).code).toBe(0);
      const [victim] = await files();
      rmSync(join(dir, victim?.file_path as string));
      const r = cli(dir, ["materialize"]);
      expect(r.code).toBe(0);
      expect(r.stderr + r.stdout).toMatch(/, 1 written \(0 empty; [0-9,]+ rows, .*\), 1 retired/);
      for (const f of await files()) expect(existsSync(join(dir, f.file_path))).toBe(true);
    },
    T,
  );
});
