/**
 * findReferences: tables, view_instance calls and one list of function calls (scalar and table)
 * with their arguments, from DuckDB's AST, or from the text scan for statements it refuses.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Engine } from "../../lib/duck/engine.ts";
import { findReferences, literalTexts } from "../../lib/sql/references.ts";

let engine: Engine;
beforeAll(async () => {
  engine = await Engine.open({ threads: 1 });
});
afterAll(() => engine.close());

describe("findReferences", () => {
  test("function calls: kind, literal arguments, NULLs, expressions and casts", async () => {
    const r = await findReferences(
      engine,
      `SELECT upper(name), retire_partition_by_file('a/b.parquet')
       FROM perfetto_trace_chunks('pid:1', 'both', TIMESTAMP '2026-01-02 03:04:05', NULL)
       JOIN view_instance('thread_spans', 'Browser') USING (x), thread_spans`,
    );
    expect(r.selectStatements).toBe(1);
    expect(r.functions.map((f) => [f.name, f.kind])).toEqual([
      ["upper", "scalar"],
      ["retire_partition_by_file", "scalar"],
      ["perfetto_trace_chunks", "table"],
      ["view_instance", "table"],
    ]);
    const pf = r.functions.find((f) => f.name === "perfetto_trace_chunks");
    expect(pf?.args).toEqual([
      { kind: "constant", text: "pid:1", castType: null },
      { kind: "constant", text: "both", castType: null },
      { kind: "constant", text: "2026-01-02 03:04:05", castType: "TIMESTAMP" },
      { kind: "null", text: null, castType: null },
    ]);
    expect(r.functions[0]?.args).toEqual([{ kind: "expression", text: null, castType: null }]);
    expect(literalTexts(r.functions[1] as never)).toEqual(["a/b.parquet"]);
    expect(r.instances).toEqual([{ viewSetName: "thread_spans", instance: "Browser" }]);
    expect(r.tables.has("thread_spans")).toBe(true);
  });

  test("a statement DuckDB cannot serialize falls back to the text scan: calls with unknown arguments", async () => {
    const r = await findReferences(
      engine,
      "COPY (SELECT * FROM perfetto_trace_chunks('p', 'both', NULL, NULL) -- view_instance('x', 'y')\n) TO 'f'",
    );
    expect(r.selectStatements).toBe(0);
    // Any word before "(" counts (here also COPY): the scan may over-report, never miss a call.
    expect(r.functions).toContainEqual({ name: "perfetto_trace_chunks", kind: "unknown", args: null });
    expect(r.functions.every((f) => f.kind === "unknown" && f.args === null)).toBe(true);
    expect(r.instances).toEqual([]);
    expect(literalTexts(r.functions[1] as never)).toBeNull();
  });
});
