/**
 * JIT benchmark. Prints one comparable figure per line:
 *   - cold materialization of thread_spans (spans/s) for the largest process of the real
 *     Chromium trace in fixtures/, and for a generated process with JIT_SPANS spans (default
 *     10M; raw blocks written directly with DuckDB in raw block schema v1, 8 threads, depth 0–1);
 *   - warm `SELECT count(*), sum(duration) FROM thread_spans` through tracelake's query path
 *     (JIT freshness check + catalog snapshot + query), against DuckDB's read_parquet over the
 *     same partition files, in the same run. Target: warm ≤ 1.3 × direct + 50 ms;
 *   - cold materialization of async_events (events/s, and the process's CPU time: DuckDB's
 *     threads and JS) for a generated process with JIT_ASYNC_EVENTS async events (default 5M;
 *     b/e/n and legacy S/F/T/p on 4 threads, nested, with unmatched ends and unclosed begins:
 *     bench/gen_spans.ts generateAsyncProcess).
 *
 * Usage: bun bench/jit.ts   (JIT_SPANS=1000000 for a shorter run; JIT_ONLY=async_events for the
 * async_events line alone; BENCH_DIR for the data dir)
 */
import { mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Engine, sqlString } from "../lib/duck/engine.ts";
import { ingest } from "../lib/ingest/ingest.ts";
import { Lake } from "../lib/lake/lake.ts";
import { prepareQuery } from "../lib/sql/query.ts";
import { asyncEvents } from "../lib/views/async_events.ts";
import { materializeInstances } from "../lib/views/jit.ts";
import { threadSpans } from "../lib/views/thread_spans.ts";
import { generateAsyncProcess, generateSpansProcess } from "./gen_spans.ts";

const root = resolve(import.meta.dir, "..");
const spans = Number(process.env.JIT_SPANS ?? 10_000_000);
const asyncCount = Number(process.env.JIT_ASYNC_EVENTS ?? 5_000_000);
const only = process.env.JIT_ONLY;
if (only !== undefined && only !== "async_events") {
  throw new Error(`JIT_ONLY: only 'async_events' is known, not '${only}'`);
}
const dataDir = join(process.env.BENCH_DIR ?? join(tmpdir(), "tracelake-bench"), "jit");
rmSync(dataDir, { recursive: true, force: true });
mkdirSync(dataDir, { recursive: true });

const engine = await Engine.open();
const lake = await Lake.open(engine, join(dataDir, "lake"));

function line(label: string, value: string): void {
  console.log(`${label.padEnd(60)} ${value}`);
}

async function cold(processId: string, label: string): Promise<void> {
  const t0 = performance.now();
  const r = await materializeInstances(engine, lake, [{ viewSet: threadSpans, processIds: [processId] }]);
  const s = (performance.now() - t0) / 1000;
  line(
    `cold thread_spans, ${label}`,
    `${r.rowsWritten.toLocaleString()} spans  ${s.toFixed(2)} s  ${(r.rowsWritten / s / 1e6).toFixed(2)} M spans/s`,
  );
}

if (only === undefined) await threadSpansLines();
await asyncEventsLine();
engine.close();

/** The thread_spans lines: cold on the real trace and on a generated process, then warm. */
async function threadSpansLines(): Promise<void> {
  // 1. The real trace's largest process.
  await ingest(engine, lake, join(root, "fixtures/chromium_startup.json.gz"));
  await lake.attach(engine, "read");
  const big = (
    await engine.rows<{ p: string; n: bigint }>(
      "SELECT process_id AS p, sum(nb_objects) AS n FROM lake.blocks GROUP BY 1 ORDER BY 2 DESC LIMIT 1",
    )
  )[0] as { p: string };
  await lake.detach(engine);
  await cold(big.p, "largest process of the real Chromium trace");

  // 2. A generated process: raw blocks written directly, then registered in the catalog.
  const t0 = performance.now();
  const pid = await generateSpansProcess(engine, lake, spans);
  console.error(`generated ${spans.toLocaleString()} spans in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  await cold(pid, `generated process, ${(spans / 1e6).toFixed(0)}M spans`);

  // 3. Warm query against DuckDB reading the same files.
  const sql = "SELECT count(*), sum(duration) FROM thread_spans";
  await prepareQuery(engine, lake, sql); // materializes every other process once
  const files = await engine.rows<{ f: string }>(
    "SELECT file_path AS f FROM list_partitions() WHERE view_set_name = 'thread_spans' AND file_path IS NOT NULL",
  );
  const direct = `SELECT count(*), sum(duration) FROM read_parquet([${files.map((r) => sqlString(join(lake.root, r.f))).join(", ")}])`;
  const time = async (f: () => Promise<unknown>): Promise<number> => {
    const ms: number[] = [];
    for (let i = 0; i < 7; i++) {
      const s = performance.now();
      await f();
      ms.push(performance.now() - s);
    }
    return ms.sort((a, b) => a - b)[3] as number; // median
  };
  const warm = await time(async () => {
    await prepareQuery(engine, lake, sql);
    await engine.rows(sql);
  });
  const base = await time(() => engine.rows(direct));
  line("warm thread_spans count+sum (tracelake query path, median of 7)", `${warm.toFixed(1)} ms`);
  line("same over read_parquet of the same files (DuckDB, median of 7)", `${base.toFixed(1)} ms`);
  line(
    "target: warm <= 1.3 x direct + 50 ms",
    `${(1.3 * base + 50).toFixed(1)} ms -> ${warm <= 1.3 * base + 50 ? "met" : "MISSED"}`,
  );
}

/** Cold async_events on a generated process: events/s and CPU seconds (user + system, all threads). */
async function asyncEventsLine(): Promise<void> {
  const g0 = performance.now();
  const pid = await generateAsyncProcess(engine, lake, asyncCount);
  console.error(
    `generated ${asyncCount.toLocaleString()} async events in ${((performance.now() - g0) / 1000).toFixed(1)} s`,
  );
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const r = await materializeInstances(engine, lake, [{ viewSet: asyncEvents, processIds: [pid] }]);
  const s = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  line(
    `cold async_events, generated process, ${(asyncCount / 1e6).toFixed(0)}M events`,
    `${r.rowsWritten.toLocaleString()} events  ${s.toFixed(2)} s  ${(r.rowsWritten / s / 1e6).toFixed(2)} M events/s  CPU ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s`,
  );
}
