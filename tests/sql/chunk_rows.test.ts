/**
 * lib/duck/chunk_rows.ts reads result chunks column by column; the oracle is node-api's own
 * `chunk.convertRows(JsonDuckDBValueConverter)` on the same chunks (what tracelake used before),
 * and DuckDB's CAST(... AS VARCHAR) for timestamps. And lib/sql/json_values.ts jsonLine against
 * JSON.stringify(jsonRow(...)).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { duckApi } from "../../lib/duck/api.ts";
import { duckBindings } from "../../lib/duck/bindings.ts";
import { chunkRows, timestampText } from "../../lib/duck/chunk_rows.ts";
import { Engine } from "../../lib/duck/engine.ts";
import { PointerCopy } from "../../lib/duck/pointer_copy.ts";
import { jsonLine, jsonRow } from "../../lib/sql/json_values.ts";

let engine: Engine;
beforeAll(async () => {
  engine = await Engine.open({ threads: 1 });
});
afterAll(() => engine?.close());

/** Every chunk of `sql` read both ways: [ours, node-api's]. */
async function bothWays(sql: string): Promise<[unknown[][], unknown[][]]> {
  const { JsonDuckDBValueConverter } = await duckApi();
  const b = await duckBindings();
  const result = await engine.conn.stream(sql);
  const typeIds = Array.from({ length: result.columnCount }, (_, k) => result.columnTypeId(k) as number);
  const ours: unknown[][] = [];
  const theirs: unknown[][] = [];
  const copy = new PointerCopy();
  for (;;) {
    const chunk = await result.fetchChunk();
    if (!chunk || chunk.rowCount === 0) break;
    ours.push(...chunkRows(b, chunk, typeIds, JsonDuckDBValueConverter, copy));
    theirs.push(...(chunk.convertRows(JsonDuckDBValueConverter) as unknown[][]));
  }
  return [ours, theirs];
}

test("every type chunkRows reads, with NULLs and edge values, as node-api converts them (several chunks)", async () => {
  const [ours, theirs] = await bothWays(`
    SELECT i,
      CASE WHEN i % 7 = 0 THEN NULL ELSE i % 2 = 0 END AS b,
      (i % 256 - 128)::TINYINT AS t8, (i * 37 % 65536 - 32768)::SMALLINT AS t16,
      CASE WHEN i % 11 = 0 THEN NULL ELSE (i * 2654435761 % 4294967296 - 2147483648)::INTEGER END AS t32,
      (i * 1000003 - 9000000000000000000)::BIGINT AS t64,
      (i % 256)::UTINYINT AS u8, (i * 37 % 65536)::USMALLINT AS u16, (i * 2654435761 % 4294967296)::UINTEGER AS u32,
      (i * 7919 + 18446744073709551000 - i * 7919 * 2)::UBIGINT AS u64,
      [1.5, -0.0, 'NaN'::DOUBLE, 'Infinity'::DOUBLE, '-Infinity'::DOUBLE, 1e300, 5e-324, 0.1 + 0.2][i % 8 + 1] AS d,
      ([1.5, -0.0, 'NaN'::FLOAT, 'Infinity'::FLOAT, 3.4e38, 1e-45, 0.1, NULL][i % 8 + 1])::FLOAT AS f,
      CASE i % 6 WHEN 0 THEN NULL WHEN 1 THEN '' WHEN 2 THEN 'short' WHEN 3 THEN repeat('é', i % 40)
        WHEN 4 THEN 'twelve bytes' ELSE 'a "quoted" \\ string with ☃ and \t tab ' || i END AS s,
      ('{"k": ' || i || ', "s": "x"}')::JSON AS j,
      make_timestamp_ns(((i * 86400000000000 // 7) - 3000000000000000000)::BIGINT) AS tns,
      make_timestamp(((i * 86400000000 // 3) - 100000000000000000)::BIGINT) AS tus
    FROM range(5000) r(i)`);
  expect(ours.length).toBe(5000);
  expect(ours).toEqual(theirs);
  // -0 and NaN compare equal under toEqual only by value; check their texts too.
  expect(JSON.stringify(ours.slice(0, 16))).toBe(JSON.stringify(theirs.slice(0, 16)));
});

test("the types chunkRows leaves to node-api (dates, times, intervals, decimals, UUIDs, nested, enums, blobs, HUGEINT, other timestamps) come out as node-api converts them, beside read ones", async () => {
  const [ours, theirs] = await bothWays(`
    SELECT i, 'x' || i AS s,
      DATE '2020-02-28' + (i % 400)::INTEGER AS d, TIME '01:02:03.5' + INTERVAL (i) SECOND AS t,
      INTERVAL (i) MINUTE + INTERVAL (i % 3) MONTH AS iv, (i / 7)::DECIMAL(12, 3) AS dec,
      ('00000000-0000-0000-0000-' || lpad(i::VARCHAR, 12, '0'))::UUID AS u,
      CASE WHEN i % 5 = 0 THEN NULL ELSE [i, i + 1, NULL] END AS l, {'a': i, 'b': 'y' || i} AS st,
      MAP {'k': i} AS m, (['p', 'q', 'r'][i % 3 + 1])::ENUM('p', 'q', 'r') AS e, ('\\x00\\xff' || i)::BLOB AS bl,
      (i::HUGEINT * 17014118346046923173168730371588410 - 1) AS h,
      make_timestamp(i * 1000000)::TIMESTAMPTZ AS tz, make_timestamp(i * 1000000)::TIMESTAMP_MS AS tms,
      make_timestamp(i * 1000000)::TIMESTAMP_S AS ts
    FROM range(3000) r(i)`);
  expect(ours.length).toBe(3000);
  expect(ours).toEqual(theirs);
});

test("timestamps at day boundaries, before 1970, before year 1 (BC), far out and infinite, as DuckDB prints them", async () => {
  const values: bigint[] = [
    0n,
    -1n,
    1n,
    86_400_000_000_000n - 1n,
    86_400_000_000_000n,
    -86_400_000_000_000n,
    -86_400_000_000_000n - 1n,
    -86_400_000_000_000n + 1n,
    1_765_000_000_123_456_789n,
    9_223_372_036_854_775_806n,
    -9_223_372_036_854_775_806n,
    4_294_967_296n,
    -4_294_967_296n,
  ];
  for (let k = 0; k < 200; k++) {
    // Spread over the whole range (a fixed LCG: the test is the same every run).
    values.push(BigInt.asIntN(64, BigInt(k) * 0x9e3779b97f4a7c15n + 0x632be59bd9b4e019n));
  }
  for (const ns of [true, false]) {
    const list = values.map((v) => (ns ? v : v / 1000n));
    // TIMESTAMP (µs) reaches before year 1 (BC) and has ±infinity.
    if (!ns) list.push(-62_135_596_800_000_000n + 5n, -62_135_596_800_000_000n - 1n, -200_000_000_000_000_000n);
    if (!ns) list.push(9_223_372_036_854_775_807n, -9_223_372_036_854_775_807n);
    // DuckDB prints what it can (NULL: out of its range); node-api's value objects print all.
    const duck = await engine.rows<{ s: string | null }>(
      `SELECT TRY(CAST(${ns ? "make_timestamp_ns(v)" : "make_timestamp(v)"} AS VARCHAR)) AS s
       FROM unnest([${list.join(", ")}]::BIGINT[]) WITH ORDINALITY AS t(v, o) ORDER BY o`,
    );
    const api = await duckApi();
    const w = new Int32Array(new BigInt64Array(list).buffer);
    const got = list.map((_, i) => timestampText(w[2 * i + 1] as number, w[2 * i] as number, ns));
    const nodeApi = list.map((v) =>
      (ns ? new api.DuckDBTimestampNanosecondsValue(v) : new api.DuckDBTimestampValue(v)).toString(),
    );
    // DuckDB's text where it prints the value (the year 1 BC among them: node-api prints it as
    // 0000, DuckDB as 0001 (BC), and tracelake follows DuckDB); node-api's for the rest.
    const want = duck.map((r, i) => r.s ?? (nodeApi[i] as string));
    expect(duck.filter((r) => r.s !== null).length).toBeGreaterThan(list.length / 2);
    expect(got).toEqual(want);
  }
});

test("jsonLine is JSON.stringify(jsonRow(...)): plain names, and names an object would reorder or merge", () => {
  const row = ["7", "12345678901234567890", 1.5, Number.NaN, "tab\there", '{"a":[1,2]}', null, true, ["3", null]];
  const types = ["BIGINT", "BIGINT", "DOUBLE", "DOUBLE", "VARCHAR", "JSON", "VARCHAR", "BOOLEAN", "BIGINT[]"];
  for (const names of [
    ["a", "b", "c", "d", "e", "f", "g", "h", "i"],
    ["a", "a", "c", "d", "e", "f", "g", "h", "i"],
    ["a", "1", "c", "d", "e", "f", "g", "h", "i"],
    ["a", "__proto__", "c", "d", "e", "f", "g", "h", "i"],
  ]) {
    const columns = names.map((name, k) => ({ name, type: types[k] as string }));
    expect(jsonLine(columns, row)).toBe(JSON.stringify(jsonRow(columns, row)));
  }
  expect(jsonLine([], [])).toBe("{}");
});

test("jsonLine's JSON texts, repeated and past its cache's 8,192 entries, are JSON.stringify(jsonRow(...))", () => {
  const columns = [
    { name: "p", type: "JSON" },
    { name: "q", type: "JSON" },
  ];
  const texts = ['{"a": 1, "b": [1.50, "x"]}', "{}", '{"a":{"b":null}}', "not json", '"s"', "12345678901234567890"];
  for (let i = 0; i < 9000; i++) texts.push(`{"i": ${i}, "t": "${"é".repeat(i % 3)}"}`);
  for (let r = 0; r < 2; r++) {
    for (const [i, t] of texts.entries()) {
      const row = [t, texts[(i * 7) % 6] as string];
      expect(jsonLine(columns, row)).toBe(JSON.stringify(jsonRow(columns, row)));
    }
  }
});
