/**
 * ChunkCursor.num: each fixed-width type as its typed array, across chunks.
 * ChunkCursor.textBytes and text: NULLs read from DuckDB's validity bitmask at every bit
 * position (rows 0-63 of a word and past it, across chunks), short (inline) and long strings.
 * The expected value of each row is computed from its index, as the query makes it.
 * Long strings are copied into buffers the cursor reuses: the bytes textBytes found stay as they
 * are while `text` reads other long values, until the next textBytes; values larger than the
 * buffer (100 KB) come whole.
 * ChunkCursor.start: queries started at once give their own rows; a failing one throws from its
 * first next(), not from start; one closed before its first row leaves the engine usable.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ChunkCursor } from "../../lib/duck/cursor.ts";
import { Engine } from "../../lib/duck/engine.ts";

describe("ChunkCursor", () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.open({ threads: 2 });
  });
  afterAll(() => engine.close());

  test("textBytes and text give NULL exactly where the row is NULL, and the bytes elsewhere", async () => {
    const n = 10_000;
    // NULL when i % 3 = 0 or i % 64 = 63 (the last bit of a word); long (> 12 bytes) when i % 5 = 0.
    const cur = await ChunkCursor.open(
      engine,
      `SELECT i, CASE WHEN i % 3 = 0 OR i % 64 = 63 THEN NULL WHEN i % 5 = 0 THEN 'long text number ' || i ELSE 's' || i END AS s,
         'all' || i AS t
       FROM range(${n}) r(i) ORDER BY i`,
    );
    const dec = new TextDecoder();
    let rows = 0;
    let nulls = 0;
    try {
      while (await cur.next()) {
        const iA = cur.num<BigInt64Array>(0);
        for (let r = 0; r < cur.rowCount; r++) {
          const i = Number(iA[r]);
          const want = i % 3 === 0 || i % 64 === 63 ? null : i % 5 === 0 ? `long text number ${i}` : `s${i}`;
          const got = cur.textBytes(1, r) ? dec.decode(cur.refBuf.subarray(cur.refOff, cur.refOff + cur.refLen)) : null;
          if (got !== want) expect(`${i}: ${got}`).toBe(`${i}: ${want}`);
          if (cur.text(1, r) !== want) expect(`${i}: ${cur.text(1, r)}`).toBe(`${i}: ${want}`);
          // A column without NULLs (DuckDB may give it no bitmask).
          expect(cur.textBytes(2, r)).toBe(true);
          if (want === null) nulls++;
          rows++;
        }
      }
    } finally {
      cur.close();
    }
    expect(rows).toBe(n);
    expect(nulls).toBe(Array.from({ length: n }, (_, i) => i).filter((i) => i % 3 === 0 || i % 64 === 63).length);
  });

  test("textBytes' long bytes survive text reads of other long values; a 100 KB value comes whole", async () => {
    const cur = await ChunkCursor.open(
      engine,
      `SELECT i, 'first column, row ' || i || ' of the query' AS a, 'second column, row ' || i || ' again' AS b,
         CASE WHEN i % 100 = 0 THEN repeat(chr(65 + (i % 26)::INTEGER), 100000 + i) END AS big
       FROM range(3000) r(i) ORDER BY i`,
    );
    const dec = new TextDecoder();
    let rows = 0;
    try {
      while (await cur.next()) {
        const iA = cur.num<BigInt64Array>(0);
        for (let r = 0; r < cur.rowCount; r++) {
          const i = Number(iA[r]);
          expect(cur.textBytes(1, r)).toBe(true);
          const held = { buf: cur.refBuf, off: cur.refOff, len: cur.refLen };
          expect(cur.text(2, r)).toBe(`second column, row ${i} again`);
          if (i % 100 === 0) {
            const big = cur.text(3, r) as string;
            expect(big.length).toBe(100000 + i);
            expect(big === String.fromCharCode(65 + (i % 26)).repeat(100000 + i)).toBe(true);
          }
          expect(dec.decode(held.buf.subarray(held.off, held.off + held.len))).toBe(
            `first column, row ${i} of the query`,
          );
          rows++;
        }
      }
    } finally {
      cur.close();
    }
    expect(rows).toBe(3000);
  });

  test("text decodes empty, multi-byte and JSON values as written", async () => {
    const cur = await ChunkCursor.open(
      engine,
      `SELECT * FROM (VALUES (0, '', '{}'::JSON), (1, 'é', '{"k":"名前 🧵"}'::JSON), (2, '名前 🧵 and a longer tail', NULL::JSON)) t(i, s, j) ORDER BY i`,
    );
    try {
      expect(await cur.next()).toBe(true);
      expect([0, 1, 2].map((r) => [cur.text(1, r), cur.text(2, r)])).toEqual([
        ["", "{}"],
        ["é", '{"k":"名前 🧵"}'],
        ["名前 🧵 and a longer tail", null],
      ]);
    } finally {
      cur.close();
    }
  });

  test("num reads each fixed-width type as its typed array, across chunks; a column of another type is refused", async () => {
    const n = 5_000;
    // Values computed here from i as the query computes them; 2^63 + i only fits a UBIGINT.
    const cur = await ChunkCursor.open(
      engine,
      `SELECT (i % 100 - 50)::TINYINT AS t, (i * 7 - 3)::INTEGER AS n, (i * 1000003)::BIGINT AS b,
         (9223372036854775808 + i)::UBIGINT AS u, i / 4 AS d, i::SMALLINT AS s
       FROM range(${n}) r(i) ORDER BY i`,
    );
    let i = 0;
    try {
      while (await cur.next()) {
        const t = cur.num<Int8Array>(0);
        const nA = cur.num<Int32Array>(1);
        const b = cur.num<BigInt64Array>(2);
        const u = cur.num<BigUint64Array>(3);
        const d = cur.num<Float64Array>(4);
        expect([t, nA, b, u, d].map((a) => a.constructor.name)).toEqual([
          "Int8Array",
          "Int32Array",
          "BigInt64Array",
          "BigUint64Array",
          "Float64Array",
        ]);
        expect(t.length).toBe(cur.rowCount);
        for (let r = 0; r < cur.rowCount; r++, i++) {
          const got = [t[r], nA[r], b[r], u[r], d[r]];
          const want = [(i % 100) - 50, i * 7 - 3, BigInt(i) * 1000003n, 2n ** 63n + BigInt(i), i / 4];
          if (got.some((g, k) => g !== want[k])) expect(got).toEqual(want);
        }
        expect(() => cur.num(5)).toThrow(/type id 3 is not a fixed-width number/);
      }
    } finally {
      cur.close();
    }
    expect(i).toBe(n);
  });

  test("start returns before the rows; each of several cursors started at once reads its own rows", async () => {
    // Sorted queries: each sorts its rows before the first one.
    const sizes = [50_000, 3, 20_000, 0, 70_000];
    const curs = await Promise.all(
      sizes.map((n, k) => ChunkCursor.start(engine, `SELECT i * 10 + ${k} AS v FROM range(${n}) r(i) ORDER BY i DESC`)),
    );
    for (const [k, cur] of curs.entries()) {
      const n = sizes[k] as number;
      let next = n - 1;
      try {
        while (await cur.next()) {
          const v = cur.num<BigInt64Array>(0);
          for (let r = 0; r < cur.rowCount; r++, next--) {
            if (v[r] !== BigInt(next * 10 + k)) expect(`${k}: ${v[r]}`).toBe(`${k}: ${next * 10 + k}`);
          }
        }
      } finally {
        cur.close();
      }
      expect(next).toBe(-1);
    }
  });

  test("a query that fails to start throws from the first next(), with DuckDB's message", async () => {
    const cur = await ChunkCursor.start(engine, "SELECT * FROM no_such_table_for_cursor");
    await expect(cur.next()).rejects.toThrow(/no_such_table_for_cursor/);
    cur.close();
  });

  test("closing a cursor whose query is still starting neither throws nor leaves the engine unusable", async () => {
    const curs = await Promise.all(
      [0, 1, 2].map(() =>
        ChunkCursor.start(engine, "SELECT sum(i) FROM (SELECT i FROM range(3000000) r(i) ORDER BY i DESC)"),
      ),
    );
    for (const cur of curs) cur.close();
    const failing = await ChunkCursor.start(engine, "SELECT * FROM no_such_table_either");
    failing.close();
    // Let the interrupted starts land.
    await Bun.sleep(200);
    expect(await engine.rows("SELECT 42 AS x")).toEqual([{ x: 42 }]);
  });
});
