/**
 * A generated process for benchmarks: raw blocks (raw block schema v1) written directly with
 * DuckDB and registered in the catalog, without going through ingest. Span j of a thread:
 * groups of 10, one parent [g*1000, +900) ns and 9 children inside it (depth 0–1), names
 * task0..task49, args {"j": j}.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { Lake } from "../lib/lake/lake.ts";
import { type Engine, sqlString } from "../lib/sql/engine.ts";

/**
 * Writes `spans` X events over `threads` threads (one cpu stream each, blocks of at most
 * 1M events) for a new process named 'generated'; returns its process_id.
 */
export async function generateSpanProcess(engine: Engine, lake: Lake, spans: number, threads = 8): Promise<string> {
  const pid = crypto.randomUUID();
  const perBlock = 1_000_000;
  const blocks: { block: string; stream: string; n: number; rel: string }[] = [];
  const streams = Array.from({ length: threads }, () => crypto.randomUUID());
  for (let first = 0; first < spans; first += perBlock * threads) {
    for (let t = 0; t < threads; t++) {
      const lo = first / threads;
      const n = Math.min(perBlock, Math.ceil((spans - first) / threads));
      if (n <= 0) continue;
      const block = crypto.randomUUID();
      const stream = streams[t] as string;
      const rel = join("blobs", pid, stream, `${block}.parquet`);
      mkdirSync(join(lake.root, "blobs", pid, stream), { recursive: true });
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
  try {
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
  } finally {
    await lake.detach(engine);
  }
  return pid;
}
