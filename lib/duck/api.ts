/**
 * Loads @duckdb/node-api on first use (it loads DuckDB's native library, which
 * lib/duck/native.ts must have prepared first, and `--version` must not pay for).
 */

/** The module's exports. */
export type DuckApi = typeof import("@duckdb/node-api");

let api: DuckApi | null = null;

/**
 * Returns @duckdb/node-api's exports. The package is CommonJS; Bun's code splitting (the
 * compiled binary) hands a dynamic import of it back as `{ default: exports }`, running from
 * source as the exports themselves: both shapes are accepted.
 */
export async function duckApi(): Promise<DuckApi> {
  if (api) return api;
  const m = (await import("@duckdb/node-api")) as DuckApi & { default?: DuckApi };
  api = m.DuckDBInstance ? m : (m.default as DuckApi);
  return api;
}
