/**
 * LookupFunctions: registered by the first run on an engine; inside `run`, each row gets the state's value at its pos (checked against
 * DuckDB computing the same values, over many vectors and both threads); outside it, and after
 * a callback that throws, the functions fail with a message naming the view set; two runs at
 * once on one engine are refused; each engine has its own registration and state.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Engine } from "../../lib/duck/engine.ts";
import { LookupFunctions } from "../../lib/duck/lookup_functions.ts";

/** State: per pos i, a = i * 3 and b = i / 4, held in typed arrays. */
interface State {
  a: Int32Array;
  b: Float64Array;
}

const N = 100_000;

function state(scale: number): State {
  const a = new Int32Array(N);
  const b = new Float64Array(N);
  for (let i = 0; i < N; i++) {
    a[i] = i * 3 * scale;
    b[i] = (i / 4) * scale;
  }
  return { a, b };
}

const FUNCTIONS = new LookupFunctions<State>("test_view", [
  {
    name: "tl_test_a",
    returns: "INTEGER",
    fill: (s, pos, n, [out]) => {
      const o = out as Int32Array;
      for (let i = 0; i < n; i++) o[i] = s.a[pos[i] as number] as number;
    },
  },
  {
    name: "tl_test_ab",
    returns: [
      ["a", "INTEGER"],
      ["b", "DOUBLE"],
    ],
    fill: (s, pos, n, [a, b]) => {
      for (let i = 0; i < n; i++) {
        (a as Int32Array)[i] = s.a[pos[i] as number] as number;
        (b as Float64Array)[i] = s.b[pos[i] as number] as number;
      }
    },
  },
]);

/** Rows whose function results differ from DuckDB's own computation, for a state of `scale`. */
const WRONG = (scale: number) => `SELECT count(*) AS n FROM (
    SELECT i, tl_test_a(i::INTEGER) AS x, tl_test_ab(i::INTEGER) AS s FROM range(${N}) r(i) ORDER BY i DESC)
  WHERE x <> i * 3 * ${scale} OR s.a <> i * 3 * ${scale} OR s.b <> i / 4 * ${scale}`;

describe("LookupFunctions", () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.open({ threads: 2 });
  });
  afterAll(() => engine.close());

  test("do not exist on an engine before its first run", async () => {
    await expect(engine.rows("SELECT tl_test_a(0)")).rejects.toThrow("does not exist");
  });

  test("inside run, every row gets its pos's values, over many vectors", async () => {
    const r = await FUNCTIONS.run(engine, state(1), () => engine.rows<{ n: bigint }>(WRONG(1)));
    expect(r[0]?.n).toBe(0n);
    // A second run reads its own state.
    const r2 = await FUNCTIONS.run(engine, state(2), () => engine.rows<{ n: bigint }>(WRONG(2)));
    expect(r2[0]?.n).toBe(0n);
  });

  test("outside run, and after a callback that threw, they fail with a clear message", async () => {
    await expect(engine.rows("SELECT tl_test_a(0)")).rejects.toThrow(
      "tl_test_a is internal to the materialization of test_view",
    );
    await expect(
      FUNCTIONS.run(engine, state(1), async () => {
        throw new Error("transform failed");
      }),
    ).rejects.toThrow("transform failed");
    await expect(engine.rows("SELECT tl_test_ab(0)")).rejects.toThrow(
      "tl_test_ab is internal to the materialization of test_view",
    );
  });

  test("two runs at once on one engine are refused; the first is unharmed", async () => {
    const first = FUNCTIONS.run(engine, state(1), async () => {
      await expect(FUNCTIONS.run(engine, state(2), async () => 0)).rejects.toThrow(
        "test_view: two materializations at once on one engine",
      );
      return engine.rows<{ n: bigint }>(WRONG(1));
    });
    expect((await first)[0]?.n).toBe(0n);
  });

  test("another engine has its own registration and state", async () => {
    const other = await Engine.open({ threads: 1 });
    try {
      const r = await FUNCTIONS.run(other, state(3), () =>
        FUNCTIONS.run(engine, state(1), async () => [
          ...(await other.rows<{ n: bigint }>(WRONG(3))),
          ...(await engine.rows<{ n: bigint }>(WRONG(1))),
        ]),
      );
      expect(r.map((x) => x.n)).toEqual([0n, 0n]);
    } finally {
      other.close();
    }
  });
});
