/**
 * Retirement benchmark. Prints one comparable figure per line, for RETIRE_N incompatible
 * partitions (default 20 000, over 100 processes; one in ten with a 1 kB file):
 *   - retire_incompatible_partitions through tracelake (list, resolve each by its five keys,
 *     queue files, delete rows, commit), against DuckDB deleting the same rows with one plain
 *     DELETE on a copy of the catalog, in the same run;
 *   - gc of the expired files.
 *
 * Usage: bun bench/retire.ts   (RETIRE_N=2000 for a shorter run; BENCH_DIR for the data dir,
 * default $TMPDIR/tracelake-retire-bench)
 */
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Engine, sqlString } from "../lib/duck/engine.ts";
import { Lake } from "../lib/lake/lake.ts";
import { collectGarbage } from "../lib/partitions/gc.ts";
import { retireIncompatible } from "../lib/partitions/retire.ts";
import { currentSchemaHashes } from "../lib/sql/retire_functions.ts";

const n = Number(process.env.RETIRE_N ?? 20_000);
const dataDir = join(process.env.BENCH_DIR ?? join(tmpdir(), "tracelake-retire-bench"), "retire");
rmSync(dataDir, { recursive: true, force: true });
mkdirSync(dataDir, { recursive: true });

const engine = await Engine.open();
const lake = await Lake.open(engine, join(dataDir, "lake"));
await lake.attach(engine, "write");
await engine.run(
  `INSERT INTO lake.lakehouse_partitions SELECT 'log_entries', 'p' || (i % 100), make_timestamp(i), make_timestamp(i),
     CASE WHEN i % 10 = 0 THEN make_timestamp_ns(i) END, CASE WHEN i % 10 = 0 THEN make_timestamp_ns(i) END, now(),
     CASE WHEN i % 10 = 0 THEN 'views/log_entries/p' || (i % 100) || '/f' || i || '.parquet' END,
     CASE WHEN i % 10 = 0 THEN 1000 ELSE 0 END, '\\x00'::BLOB, '\\x00'::BLOB, CASE WHEN i % 10 = 0 THEN 1 ELSE 0 END
   FROM range(${n}) t(i)`,
);
const files = await engine.rows<{ f: string }>(
  "SELECT file_path AS f FROM lake.lakehouse_partitions WHERE file_path IS NOT NULL",
);
await lake.detach(engine);
for (const { f } of files) {
  const abs = join(lake.root, f);
  mkdirSync(join(abs, ".."), { recursive: true });
  writeFileSync(abs, "x".repeat(1000));
}

// Baseline: one DELETE on a copy of the catalog.
const copy = join(dataDir, "copy.duckdb");
copyFileSync(join(lake.root, "catalog.duckdb"), copy);
await engine.run(`ATTACH ${sqlString(copy)} AS base`);
let t = performance.now();
await engine.run("BEGIN TRANSACTION");
await engine.run("DELETE FROM base.lakehouse_partitions WHERE file_schema_hash = '\\x00'::BLOB");
await engine.run("COMMIT");
const baseMs = performance.now() - t;
await engine.run("DETACH base");

t = performance.now();
const reps = await retireIncompatible(engine, lake, currentSchemaHashes(), null, { graceMs: 0 });
const ms = performance.now() - t;
const retired = reps.reduce((s, r) => s + r.retired, 0);
if (retired !== n) throw new Error(`retired ${retired} of ${n}`);
console.log(
  `retire_incompatible_partitions, ${n} partitions: ${ms.toFixed(0)} ms (${((n / ms) * 1000).toFixed(0)} partitions/s)`,
);
console.log(`baseline: one DuckDB DELETE of the same rows: ${baseMs.toFixed(0)} ms`);
t = performance.now();
const gc = await collectGarbage(engine, lake, { graceMs: 3_600_000 });
console.log(`gc of ${gc.items.length} retired files: ${(performance.now() - t).toFixed(0)} ms`);
engine.close();
rmSync(dataDir, { recursive: true, force: true });
