import { describe, expect, test } from "bun:test";
import { EventParser, F_DUR, F_NAME, F_PID } from "../../lib/ingest/chrome/event_parser.ts";
import { prng } from "../helpers.ts";

// EventParser.parse scans the common shapes inline (plain strings, positive numbers ended by
// `,` or `}`) and everything else with its general scanners. A space after a value makes the
// inline number path step aside, so the same literal goes through both: they must agree on
// whether the event is on the fast path, on the value's bytes and on its flags (FL_REWRITE
// decides whether the stored text is rewritten to DuckDB's form). The importer oracle tests
// check the general scanners against DuckDB itself.

const enc = new TextEncoder();

/** kind, value text and flags of `dur` in `{"__seq":1,"dur":LIT<sep>"pid":1}`, or null off the fast path. */
function durOf(p: EventParser, lit: string, sep: string): { kind: number; text: string; flags: number } | null {
  const line = enc.encode(`{"__seq":1,"dur":${lit}${sep}"pid":1}`);
  if (!p.parse(line, 0, line.length)) return null;
  const s = p.start[F_DUR] as number;
  const e = p.end[F_DUR] as number;
  return {
    kind: p.kind[F_DUR] as number,
    text: new TextDecoder().decode(line.subarray(s, e)),
    flags: p.flags[F_DUR] as number,
  };
}

describe("EventParser inline paths", () => {
  test("numbers: the inline path and the general scanner agree (hand-picked and 20,000 random literals)", () => {
    const p = new EventParser();
    const lits = [
      "1",
      "10",
      "1.5",
      "1.50",
      "2.0",
      "2.00",
      "100.000",
      "1000001853.860",
      "123456789012345.0",
      "123456789012345.5",
      "1234567890123456.5",
      "99999999999999.9",
      "1.0000000000000002",
      "1.00000000000000020",
      "12345678901234567890",
      "1.",
      "1.e3",
      "1e3",
      "1.5e3",
      "7E-7",
      "01",
      "0.5",
      "-1.5",
    ];
    const rand = prng(0x9e3779b9);
    const digits = (n: number, first: boolean): string => {
      let t = "";
      for (let k = 0; k < n; k++) t += String(first && k === 0 ? 1 + Math.floor(rand() * 9) : Math.floor(rand() * 10));
      return t;
    };
    for (let k = 0; k < 20000; k++) {
      let t = digits(1 + Math.floor(rand() * 18), true);
      if (rand() < 0.8) t += `.${digits(Math.floor(rand() * 20), false)}`;
      if (rand() < 0.3) t += "0".repeat(1 + Math.floor(rand() * 3));
      lits.push(t);
    }
    let inlineOnPath = 0;
    for (const lit of lits) {
      const inline = durOf(p, lit, ",");
      const general = durOf(p, lit, " ,");
      expect({ lit, r: inline }).toEqual({ lit, r: general });
      if (inline) inlineOnPath++;
    }
    // Most random literals are on the fast path (the test would prove little otherwise).
    expect(inlineOnPath).toBeGreaterThan(15000);
  });

  test("strings and keys: plain ASCII inline, escapes and UTF-8 through the general scanner, same fields", () => {
    const p = new EventParser();
    const cases: [string, boolean][] = [
      ['"Layout"', true],
      ['"caf\u00e9"', true],
      ['"a\\"b"', true],
      ['"a\\u0041"', true],
      ['"\ud83d\ude00"', true],
      ['"tab\there"', false], // a raw control byte
      ['"unterminated', false],
    ];
    for (const [lit, ok] of cases) {
      const line = enc.encode(`{"__seq":7,"name":${lit},"pid":42}`);
      const parsed = p.parse(line, 0, line.length);
      expect({ lit, parsed }).toEqual({ lit, parsed: ok });
      if (!ok) continue;
      // The value is the literal without its quotes; the key after it was still found.
      const s = p.start[F_NAME] as number;
      const e = p.end[F_NAME] as number;
      expect(new TextDecoder().decode(line.subarray(s - 1, e + 1))).toBe(lit);
      expect(new TextDecoder().decode(line.subarray(p.start[F_PID] as number, p.end[F_PID] as number))).toBe("42");
      expect(p.seq).toBe(7);
    }
    // A non-ASCII key is unknown but on the fast path; a key with an escape is not.
    const k1 = enc.encode('{"__seq":1,"n\u00e4me":"x","pid":1}');
    expect(p.parse(k1, 0, k1.length)).toBe(true);
    const k2 = enc.encode('{"__seq":1,"n\\u0061me":"x","pid":1}');
    expect(p.parse(k2, 0, k2.length)).toBe(false);
  });
});
