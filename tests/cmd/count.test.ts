/**
 * cmd/common.ts count(): the thousands-separated integers of every command's summary line,
 * formatted by hand (ICU's number formatting costs its first caller 9-15 ms), checked against
 * ICU's own `toLocaleString("en-US")` as the oracle.
 */
import { describe, expect, test } from "bun:test";
import { count } from "../../cmd/common.ts";

describe("count", () => {
  test("formats as ICU's en-US toLocaleString does (the oracle), for integers of every length and sign", () => {
    const cases = [0, -0, 1, -1, 7, 12, 123, 999, 1000, -1000, 1234, 99_999, 100_000, 1_234_567, -987_654_321];
    cases.push(Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, 2 ** 53 + 2, 1234.5678, -0.5, 1e21);
    for (let d = 1; d <= 16; d++) cases.push(Number("9".repeat(d)), Number(`1${"0".repeat(d - 1)}`));
    for (const n of cases) expect(count(n)).toBe(n.toLocaleString("en-US"));
  });
});
