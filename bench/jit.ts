/**
 * JIT benchmark. Prints one comparable figure per line:
 *   - cold materialization of thread_spans (spans/s) for the largest process of the real
 *     Chromium trace in fixtures/, and for a generated process with JIT_SPANS spans (default
 *     10M; raw blocks written directly with DuckDB in raw block schema v1, 8 threads, depth 0–1);
 *   - warm `SELECT count(*), sum(duration) FROM thread_spans` through tracelake's query path
 *     (JIT freshness check + catalog snapshot + query), against DuckDB's read_parquet over the
 *     same partition files, in the same run. Target: warm ≤ 1.3 × direct + 50 ms.
 *
 * Usage: bun bench/jit.ts   (JIT_SPANS=1000000 for a shorter run; BENCH_DIR for the data dir)
 */
import { mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ingest } from "../lib/ingest/ingest.ts";
import { Lake } from "../lib/lake/lake.ts";
import { Engine, sqlString } from "../lib/sql/engine.ts";
import { prepareQuery } from "../lib/sql/query.ts";
import { materializeInstances } from "../lib/views/jit.ts";
import { threadSpans } from "../lib/views/thread_spans.ts";

const root = resolve(import.meta.dir, "..");
const spans = Number(process.env.JIT_SPANS ?? 10_000_000);
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
const pid = crypto.randomUUID();
const threads = 8;
const perBlock = 1_000_000;
const blocks: { block: string; stream: string; n: number; rel: string }[] = [];
const streams = Array.from({ length: threads }, () => crypto.randomUUID());
const t0 = performance.now();
for (let first = 0; first < spans; first += perBlock * threads) {
  for (let t = 0; t < threads; t++) {
    const lo = first / threads;
    const n = Math.min(perBlock, Math.ceil((spans - first) / threads));
    if (n <= 0) continue;
    const block = crypto.randomUUID();
    const stream = streams[t] as string;
    const rel = join("blobs", pid, stream, `${block}.parquet`);
    mkdirSync(join(lake.root, "blobs", pid, stream), { recursive: true });
    // Span j of a thread: groups of 10, one parent [g*1000, +900) and 9 children inside it.
    await engine.run(`COPY (
      SELECT j AS seq, 'X' AS ph,
        make_timestamp_ns(1000000000000 + (j // 10) * 1000 + CASE WHEN j % 10 = 0 THEN 0 ELSE (j % 10) * 90 END) AS time,
        (CASE WHEN j % 10 = 0 THEN 900 ELSE 80 END)::BIGINT AS dur, NULL::BIGINT AS thread_time, NULL::BIGINT AS thread_dur,
        '${t}' AS tid, 'task' || (j % 50) AS name, 'bench' AS cat, NULL::VARCHAR AS id, NULL::VARCHAR AS id_scope,
        NULL::VARCHAR AS scope, NULL::VARCHAR AS s, NULL::VARCHAR AS bp, NULL::VARCHAR AS bind_id,
        NULL::BOOLEAN AS flow_in, NULL::BOOLEAN AS flow_out, json_object('j', j) AS args
      FROM range(${lo}, ${lo + n}) r(j)) TO ${sqlString(join(lake.root, rel))} (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1)`);
    blocks.push({ block, stream, n, rel });
  }
}
await lake.attach(engine, "write");
await engine.transaction(async () => {
  const ins = await Lake.nextInsertTimes(engine, 1 + blocks.length);
  await engine.run(
    "INSERT INTO lake.processes (process_id, exe, insert_time, ingest_id, source_pid) VALUES ($p, 'generated', make_timestamp($t::BIGINT), 'bench', '1')",
    { p: pid, t: ins[0] as bigint },
  );
  for (const [t, s] of streams.entries()) {
    await engine.run(
      `INSERT INTO lake.streams VALUES ($s, $p, ['cpu'], json_object('thread-id', $tid), make_timestamp($t::BIGINT))`,
      { s, p: pid, tid: String(t), t: ins[0] as bigint },
    );
  }
  for (const [k, b] of blocks.entries()) {
    await engine.run(
      `INSERT INTO lake.blocks VALUES ($b, $s, $p, NULL, NULL, $n, 0, $f, make_timestamp($t::BIGINT), 1)`,
      { b: b.block, s: b.stream, p: pid, n: BigInt(b.n), f: b.rel, t: ins[k + 1] as bigint },
    );
  }
});
await lake.detach(engine);
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
engine.close();
