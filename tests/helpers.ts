/** Shared test helpers: temp lakes, running the CLI, reading the catalog directly. */
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { Engine } from "../lib/duck/engine.ts";
import { Lake } from "../lib/lake/lake.ts";

export const ROOT = resolve(import.meta.dir, "..");
export const BUN = process.execPath;

/** Temp directories made by `tempDir`, removed by `removeTempDirs` (tests/setup.ts runs it after all tests). */
const made: string[] = [];

/** Removes every directory `tempDir` made so far, with its contents. */
export function removeTempDirs(): void {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
}

/**
 * A new empty temp directory, removed with its contents after the test run (runs used to leave
 * every lake and binary behind: tens of GB over a few hundred runs).
 */
export function tempDir(prefix = "tl-test-"): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  made.push(d);
  return d;
}

/** Result of a CLI run. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `bun main.ts --lake LAKE ...args` with optional stdin. */
export function cli(lake: string, args: string[], stdin?: Uint8Array | string): CliResult {
  const p = Bun.spawnSync([BUN, join(ROOT, "main.ts"), "--lake", lake, ...args], {
    stdin: stdin === undefined ? "ignore" : typeof stdin === "string" ? new TextEncoder().encode(stdin) : stdin,
    env: { ...process.env, NO_COLOR: "1" },
  });
  return { code: p.exitCode ?? -1, stdout: p.stdout.toString(), stderr: p.stderr.toString() };
}

/** The Chromium startup sample (the same file as ../shared/samples/chromium_startup.json.gz). */
export const CHROMIUM_JSON_SAMPLE = join(ROOT, "fixtures", "chromium_startup.json.gz");

/** A Chrome JSON trace event as the oracle tests read it from the sample (JSON.parse). */
export interface ChromeEvent {
  ph: string;
  pid: number;
  tid: number;
  ts: number;
  dur?: number;
  name: string;
}

/**
 * Rows of `sql` as `tracelake query -f json` prints them, with integers (BIGINT values, which
 * -f json writes as text) as numbers.
 * @throws Error with the statement and stderr when the query fails.
 */
export function queryRows(lake: string, sql: string): Record<string, unknown>[] {
  const r = cli(lake, ["query", "-f", "json", sql]);
  if (r.code !== 0) throw new Error(`${sql}\n${r.stderr}`);
  return (JSON.parse(r.stdout) as Record<string, unknown>[]).map((row) =>
    Object.fromEntries(
      Object.entries(row).map(([k, v]) => [k, typeof v === "string" && /^-?[0-9]+$/.test(v) ? Number(v) : v]),
    ),
  );
}

/** Opens the lake's catalog read-only in a fresh engine and runs `fn`. */
export async function withCatalog<T>(lakeDir: string, fn: (e: Engine) => Promise<T>): Promise<T> {
  const e = await Engine.open({ threads: 1 });
  try {
    const lake = await Lake.open(e, lakeDir, { create: false });
    await lake.attach(e, "read");
    return await fn(e);
  } finally {
    e.close();
  }
}

/** A snapshot of a lake's state: row counts of every catalog table and every file under it. */
export async function snapshot(lakeDir: string): Promise<{ counts: Record<string, number>; files: string[] }> {
  const counts = await withCatalog(lakeDir, async (e) => {
    const out: Record<string, number> = {};
    for (const t of [
      "processes",
      "streams",
      "blocks",
      "ingests",
      "lakehouse_partitions",
      "temporary_files",
      "migrations",
    ]) {
      const r = await e.rows<{ n: bigint }>(`SELECT count(*) AS n FROM lake.${t}`);
      out[t] = Number(r[0]?.n);
    }
    return out;
  });
  const files: string[] = [];
  const walk = (d: string): void => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (!n.startsWith("catalog.duckdb")) files.push(relative(lakeDir, p));
    }
  };
  walk(lakeDir);
  return { counts, files: files.sort() };
}

/**
 * A deterministic xorshift32 PRNG for fuzzed test inputs.
 * @param seed any integer (0 is taken as 1).
 * @returns a function giving numbers in [0, 1).
 */
export function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

/**
 * Runs `fn` with every connection `engine.connect()` makes recording the SQL of its streaming
 * queries (`stream`), and returns that SQL, in order (the engine's own `connect` is restored
 * after, whatever `fn` does).
 */
export async function streamedSql(engine: Engine, fn: () => Promise<unknown>): Promise<string[]> {
  const streamed: string[] = [];
  const connect = engine.connect.bind(engine);
  engine.connect = async () => {
    const conn = await connect();
    const stream = conn.stream.bind(conn);
    conn.stream = ((sql: string, ...rest: unknown[]) => {
      streamed.push(sql);
      return (stream as (...a: unknown[]) => ReturnType<typeof stream>)(sql, ...rest);
    }) as typeof conn.stream;
    return conn;
  };
  try {
    await fn();
  } finally {
    engine.connect = connect;
  }
  return streamed;
}
