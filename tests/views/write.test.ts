/**
 * writePartitionFile (lib/views/write.ts): a partition file is written by one thread in the
 * SELECT's order (singleWriter), in row groups of ROW_GROUP_ROWS rows, with the SELECT's columns
 * only; an empty SELECT writes no file. The engine has two threads: with one, DuckDB never
 * chooses its parallel copy, and the plan test would prove nothing.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { Engine, sqlString } from "../../lib/duck/engine.ts";
import { ROW_GROUP_ROWS, singleWriter, writePartitionFile } from "../../lib/views/write.ts";
import { tempDir } from "../helpers.ts";

/** 100,000 rows whose order (by h, a hash) is unrelated to their order in `range`. */
const SORTED = `SELECT range AS i, hash(range) AS h, make_timestamp_ns(range * 1000) AS t, repeat('x', 40) AS s
  FROM range(100000) ORDER BY h`;

describe("writePartitionFile", () => {
  let engine: Engine;
  let dir: string;
  beforeAll(async () => {
    engine = await Engine.open({ threads: 2 });
    dir = tempDir("tl-write-");
  });
  afterAll(() => engine.close());

  test("DuckDB plans the single-threaded copy for singleWriter, the parallel one without it", async () => {
    const plan = async (select: string): Promise<string> => {
      const rows = await engine.rows<{ explain_value: string }>(
        `EXPLAIN COPY (${select}) TO ${sqlString(join(dir, "plan.parquet"))} (FORMAT parquet)`,
      );
      return rows.map((r) => r.explain_value).join("\n");
    };
    const single = await plan(singleWriter(SORTED));
    expect(single).toContain("COPY_TO_FILE");
    expect(single).not.toContain("BATCH_COPY_TO_FILE");
    // The control: the same SELECT alone gets the order-preserving parallel copy.
    expect(await plan(SORTED)).toContain("BATCH_COPY_TO_FILE");
  });

  test("keeps the SELECT's order and columns, in row groups of ROW_GROUP_ROWS rows", async () => {
    const out = join(dir, "sorted.parquet");
    const result = await writePartitionFile(engine, SORTED, out, "t", "t");
    expect(result.numRows).toBe(100000);
    // The time range read back from the file: t is i µs, i over 0..99,999.
    expect(result.minEventTimeNs).toBe(0n);
    expect(result.maxEventTimeNs).toBe(99_999_000n);
    const f = sqlString(out);
    const [check] = await engine.rows<{ n: bigint; distinct_i: bigint; max_i: bigint; descents: bigint }>(
      `SELECT count(*) AS n, count(DISTINCT i) AS distinct_i, max(i) AS max_i,
         count(*) FILTER (WHERE h < prev_h) AS descents
       FROM (SELECT i, h, lag(h) OVER (ORDER BY file_row_number) AS prev_h
             FROM read_parquet(${f}, file_row_number = true))`,
    );
    expect(check).toEqual({ n: 100000n, distinct_i: 100000n, max_i: 99999n, descents: 0n });
    const columns = await engine.rows<{ name: string }>(
      `SELECT name FROM parquet_schema(${f}) WHERE name <> 'duckdb_schema'`,
    );
    expect(columns.map((c) => c.name)).toEqual(["i", "h", "t", "s"]);
    const groups = await engine.rows<{ g: bigint; n: bigint }>(
      `SELECT row_group_id AS g, any_value(row_group_num_rows) AS n FROM parquet_metadata(${f}) GROUP BY g ORDER BY g`,
    );
    expect(ROW_GROUP_ROWS).toBe(32768);
    expect(groups.map((x) => Number(x.n))).toEqual([32768, 32768, 32768, 100000 - 3 * 32768]);
  });

  test("an empty SELECT writes no file", async () => {
    const out = join(dir, "empty.parquet");
    const result = await writePartitionFile(engine, `SELECT * FROM (${SORTED}) WHERE i < 0`, out, "t", "t");
    expect(result).toEqual({ numRows: 0, minEventTimeNs: null, maxEventTimeNs: null });
    expect(existsSync(out)).toBe(false);
  });
});
