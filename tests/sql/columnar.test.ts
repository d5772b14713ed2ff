/**
 * scanColumns: chunks arrive in the query's order with every row once (it fetches the next
 * chunk while the caller works on the current one), and a caller that stops early or throws
 * leaves the engine usable.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { scanColumns } from "../../lib/duck/columnar.ts";
import { Engine } from "../../lib/duck/engine.ts";

describe("scanColumns", () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.open({ threads: 2 });
  });
  afterAll(() => engine.close());

  test("every row once, in ORDER BY order, across many chunks", async () => {
    const n = 100_000;
    const seen: number[] = [];
    let chunks = 0;
    for await (const c of scanColumns(
      engine,
      `SELECT i::DOUBLE AS x, (i % 7)::INTEGER AS m FROM range(${n}) r(i) ORDER BY i DESC`,
    )) {
      const x = c.columns[0] as Float64Array;
      const m = c.columns[1] as Int32Array;
      for (let i = 0; i < c.rowCount; i++) {
        seen.push(x[i] as number);
        expect(m[i]).toBe((x[i] as number) % 7);
      }
      chunks++;
    }
    expect(chunks).toBeGreaterThan(10);
    expect(seen).toEqual(Array.from({ length: n }, (_, i) => n - 1 - i));
  });

  test("a caller that stops early or throws leaves the engine usable", async () => {
    let got = 0;
    for await (const c of scanColumns(engine, "SELECT i::DOUBLE AS x FROM range(1000000) r(i)")) {
      got += c.rowCount;
      if (got > 5000) break;
    }
    expect(got).toBeGreaterThan(5000);
    const fail = async () => {
      for await (const _ of scanColumns(engine, "SELECT i::DOUBLE AS x FROM range(100000) r(i)")) {
        throw new Error("consumer failed");
      }
    };
    await expect(fail()).rejects.toThrow("consumer failed");
    let total = 0;
    for await (const c of scanColumns(engine, "SELECT i::DOUBLE AS x FROM range(10000) r(i)")) total += c.rowCount;
    expect(total).toBe(10000);
    expect(await engine.rows("SELECT 42 AS v")).toEqual([{ v: 42 }]);
  });
});
