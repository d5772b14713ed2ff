/**
 * replay's list of DuckDB's aggregate functions (lib/replay/aggregate_names.ts) is the running
 * library's: duckdb_functions() is the oracle, so a DuckDB upgrade that adds, renames or drops an
 * aggregate fails here instead of letting replay take an aggregate for a plain function.
 */
import { expect, test } from "bun:test";
import { Engine } from "../../lib/duck/engine.ts";
import { DUCKDB_AGGREGATES } from "../../lib/replay/aggregate_names.ts";

test("the list is DuckDB's aggregate functions", async () => {
  const engine = await Engine.open({ threads: 1 });
  try {
    const rows = await engine.rows<{ n: string }>(
      "SELECT DISTINCT lower(function_name) AS n FROM duckdb_functions() WHERE function_type = 'aggregate' ORDER BY n",
    );
    expect([...DUCKDB_AGGREGATES].sort()).toEqual(rows.map((r) => r.n).sort());
  } finally {
    engine.close();
  }
});
