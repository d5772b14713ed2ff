/**
 * `tracelake --version`'s text. Its own module, which imports nothing but two package.json
 * files, so that the compiled binary's entry (scripts/build.ts) can answer `--version` without
 * loading main.ts and commander.
 */
import bindings from "@duckdb/node-bindings/package.json" with { type: "json" };
import pkg from "../package.json" with { type: "json" };

declare global {
  /** Set by the compiled binary's entry (scripts/build.ts): the commit and target it was built from. */
  var __TRACELAKE_BUILD: { commit: string; target: string } | undefined;
}

/** tracelake's version (package.json). */
export const VERSION: string = pkg.version;

/**
 * tracelake's version, the platform, the DuckDB version (the @duckdb/node-bindings release, whose
 * version is DuckDB's with a -r.N suffix) and the commit the binary was built from, e.g.
 * `tracelake 0.1.0 (linux-x64; DuckDB 1.5.5, @duckdb/node-bindings 1.5.5-r.5; commit 4073e00e5ae7)`.
 */
export function versionText(): string {
  const build = globalThis.__TRACELAKE_BUILD;
  const platform = `${process.platform === "win32" ? "windows" : process.platform}-${process.arch}`;
  const duckdb = bindings.version.replace(/-r\.\d+$/, "");
  return `tracelake ${VERSION} (${platform}; DuckDB ${duckdb}, @duckdb/node-bindings ${bindings.version}; ${build ? `commit ${build.commit}` : "from source"})`;
}
