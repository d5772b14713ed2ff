/**
 * THE rule for a Chrome counter (`C`) value given as a JSON string, and the SQL function
 * `tl_counter_value(VARCHAR) → DOUBLE` that applies it in the `measures` view. The Chrome
 * importer counts the values it rejects with the same function (chrome.counter_value_invalid),
 * so the view and the ingest's losses agree.
 *
 * The rule is trace_processor's (json_trace_parser: `base::StringToDouble`, i.e. C's `strtod`
 * over the whole string, in the C locale; checked value by value against trace_processor_shell
 * v58.2, tests/ingest/trace_processor_rules.test.ts): optional leading white space (space, \t,
 * \n, \v, \f, \r; none after the number), an optional sign, then a decimal number (digits with an
 * optional point, or a point and digits, and an optional exponent `e[+-]digits`: "050" → 50,
 * "246." → 246, ".75" → 0.75, "+10.5" → 10.5, "1e400" → Infinity, "1e-400" → 0), a hexadecimal
 * one (`0x` hex digits with an optional point and an optional binary exponent `p[+-]digits`:
 * "0x10" → 16, "0x1p4" → 16), `inf` / `infinity` or `nan` / `nan(chars)` (any case). Anything
 * else is rejected: "", ".", "+", "1.5e", "2e+", "0x", "5 ", "1,5", "abc".
 */

import { duckApi } from "../duck/api.ts";
import type { Engine } from "../duck/engine.ts";

const WS = /^[ \t\n\v\f\r]*/;
const DECIMAL = /^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;
const HEX = /^([+-]?)0[xX](?:([0-9a-fA-F]+)\.?([0-9a-fA-F]*)|\.([0-9a-fA-F]+))(?:[pP]([+-]?[0-9]+))?$/;
const INF = /^([+-]?)inf(?:inity)?$/i;
const NAN = /^[+-]?nan(?:\([0-9A-Za-z_]*\))?$/i;

/**
 * The value of a counter value given as string `text` (see the file comment), or null when the
 * rule rejects it. May be NaN or ±Infinity. A hexadecimal value with more than 13 significant
 * hex digits is rounded twice (to double, then scaled), which may differ from strtod in the
 * last bit.
 */
export function counterValue(text: string): number | null {
  const t = text.slice((WS.exec(text) as RegExpExecArray)[0].length);
  if (DECIMAL.test(t)) return Number(t);
  const h = HEX.exec(t);
  if (h !== null) {
    const int = h[2] ?? "";
    const frac = h[4] ?? h[3] ?? "";
    let m = 0;
    for (const c of int + frac) m = m * 16 + Number.parseInt(c, 16);
    const exp = Number(h[5] ?? "0") - 4 * frac.length;
    const v = exp < -1000 ? m * 2 ** -1000 * 2 ** (exp + 1000) : m * 2 ** exp;
    return h[1] === "-" ? -v : v;
  }
  const inf = INF.exec(t);
  if (inf !== null) return inf[1] === "-" ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  if (NAN.test(t)) return Number.NaN;
  return null;
}

const registered = new WeakSet<Engine>();

/**
 * Registers `tl_counter_value(VARCHAR) → DOUBLE` on `engine` (once per engine): counterValue of
 * its argument, NULL for NULL and for rejected texts.
 */
export async function registerCounterValue(engine: Engine): Promise<void> {
  if (registered.has(engine)) return;
  registered.add(engine);
  const { DuckDBScalarFunction, VARCHAR, DOUBLE } = await duckApi();
  type Chunk = { rowCount: number; getColumnVector(k: number): { getItem(i: number): unknown } };
  type Out = { setItem(i: number, v: number | null): void; flush(): void };
  engine.conn.registerScalarFunction(
    DuckDBScalarFunction.create({
      name: "tl_counter_value",
      returnType: DOUBLE,
      parameterTypes: [VARCHAR],
      specialHandling: true,
      mainFunction: ((_info: unknown, chunk: Chunk, out: Out): void => {
        const col = chunk.getColumnVector(0);
        for (let i = 0; i < chunk.rowCount; i++) {
          const v = col.getItem(i);
          out.setItem(i, typeof v === "string" ? counterValue(v) : null);
        }
        out.flush();
      }) as never,
    }),
  );
}
