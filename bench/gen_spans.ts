/**
 * Benchmark data: generated processes written directly as raw blocks (the layout of
 * lib/lake/raw_block.ts, spelled out in the SQL below) with DuckDB and registered in the catalog, blocks of at most 1M
 * events:
 * - generateSpansProcess: `spans` thread spans (X) on 8 threads; span j of a thread: groups of
 *   10, one parent [g*1000, +900) ns and 9 children inside it; names task0..task49. Shared by
 *   bench/jit.ts, bench/replay.ts and bench/perfetto.ts.
 * - generateAsyncProcess: `events` async events (b/e/n, legacy S/F/T/p) on 4 threads, with
 *   nesting, unmatched ends and unclosed begins (bench/jit.ts).
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { type Engine, sqlString } from "../lib/duck/engine.ts";
import { Lake } from "../lib/lake/lake.ts";
import { RAW_BLOCK_SCHEMA_VERSION } from "../lib/lake/raw_block.ts";

/** The raw block columns after seq, ph, time and dur, NULL (for generators that leave them out). */
const NULL_TAIL = `NULL::BIGINT AS thread_time, NULL::BIGINT AS thread_dur`;

/** Writes and registers the process; returns its process_id. */
export async function generateSpansProcess(engine: Engine, lake: Lake, spans: number): Promise<string> {
  // Span j of a thread: groups of 10, one parent [g*1000, +900) and 9 children inside it.
  return generateProcess(
    engine,
    lake,
    spans,
    8,
    (t, range) => `SELECT j AS seq, 'X' AS ph,
          make_timestamp_ns(1000000000000 + (j // 10) * 1000 + CASE WHEN j % 10 = 0 THEN 0 ELSE (j % 10) * 90 END) AS time,
          (CASE WHEN j % 10 = 0 THEN 900 ELSE 80 END)::BIGINT AS dur, ${NULL_TAIL},
          '${t}' AS tid, 'task' || (j % 50) AS name, 'bench' AS cat, NULL::VARCHAR AS id, NULL::VARCHAR AS id_scope,
          NULL::VARCHAR AS scope, NULL::VARCHAR AS s, NULL::VARCHAR AS bp, NULL::VARCHAR AS bind_id,
          NULL::BOOLEAN AS flow_in, NULL::BOOLEAN AS flow_out, json_object('j', j) AS args
        FROM ${range}`,
  );
}

/**
 * Writes and registers a process with `events` async events; returns its process_id. Thread t's
 * event j belongs to group G = (j // 10) * 4 + t, which starts at G * 250 ns (groups of the 4
 * threads overlap in time) on key (cat 'bench', id G % 97, id_scope 'local' when G % 5 = 0):
 *   0 b outer (S when G % 13 = 0) · 1 b inner · 2 n · 3 e inner (same time as 2) · 4 b inner2 ·
 *   5 T inner2 (p when G % 3 = 0) · 6 e without name (closes inner2) · 7 e outer (F when S) ·
 *   8 e orphan (unmatched) when G % 7 = 0, else n · 9 b leak (never closed: later groups of the
 *   key nest under it) when G % 1001 = 0, else n.
 * Args: {"g": G}, with src_file/src_line when G % 100 = 0 and location when G % 100 = 50.
 */
export async function generateAsyncProcess(engine: Engine, lake: Lake, events: number): Promise<string> {
  return generateProcess(
    engine,
    lake,
    events,
    4,
    (
      t,
      range,
    ) => `SELECT seq, ph, make_timestamp_ns(1000000000000 + g * 250 + off) AS time, NULL::BIGINT AS dur, ${NULL_TAIL},
          '${t}' AS tid, name, 'bench' AS cat, printf('0x%x', g % 97) AS id,
          CASE WHEN g % 5 = 0 THEN 'local' END AS id_scope, NULL::VARCHAR AS scope, NULL::VARCHAR AS s,
          NULL::VARCHAR AS bp, NULL::VARCHAR AS bind_id, NULL::BOOLEAN AS flow_in, NULL::BOOLEAN AS flow_out,
          CASE g % 100 WHEN 0 THEN json_object('src_file', 'gen.cc', 'src_line', g % 1000)
            WHEN 50 THEN json_object('location', json_object('file_name', 'loc.cc', 'line_number', 7))
            ELSE json_object('g', g) END AS args
        FROM (SELECT j AS seq, j % 10 AS k, (j // 10) * 4 + ${t} AS g,
            [0, 100, 200, 200, 300, 400, 500, 600, 700, 800][k + 1] AS off,
            CASE k WHEN 0 THEN CASE WHEN g % 13 = 0 THEN 'S' ELSE 'b' END
              WHEN 1 THEN 'b' WHEN 2 THEN 'n' WHEN 3 THEN 'e' WHEN 4 THEN 'b'
              WHEN 5 THEN CASE WHEN g % 3 = 0 THEN 'p' ELSE 'T' END
              WHEN 6 THEN 'e' WHEN 7 THEN CASE WHEN g % 13 = 0 THEN 'F' ELSE 'e' END
              WHEN 8 THEN CASE WHEN g % 7 = 0 THEN 'e' ELSE 'n' END
              ELSE CASE WHEN g % 1001 = 0 THEN 'b' ELSE 'n' END END AS ph,
            CASE k WHEN 0 THEN 'outer' WHEN 1 THEN 'inner' WHEN 2 THEN 'mark' WHEN 3 THEN 'inner'
              WHEN 4 THEN 'inner2' WHEN 5 THEN 'inner2' WHEN 6 THEN NULL WHEN 7 THEN 'outer'
              WHEN 8 THEN CASE WHEN g % 7 = 0 THEN 'orphan' ELSE 'tick' END
              ELSE CASE WHEN g % 1001 = 0 THEN 'leak' ELSE 'tock' END END AS name
          FROM ${range})`,
  );
}

/**
 * Writes `rows` rows on `threads` cpu streams (rows/threads each, blocks of at most 1M) from
 * `select(t, range)`, a SELECT over `range` (`range(lo, hi) r(j)`) giving the raw block columns
 * in order; registers the process, streams and blocks in the catalog; returns the process_id.
 */
async function generateProcess(
  engine: Engine,
  lake: Lake,
  rows: number,
  threads: number,
  select: (thread: number, range: string) => string,
): Promise<string> {
  const pid = crypto.randomUUID();
  const perBlock = 1_000_000;
  const blocks: { block: string; stream: string; n: number; rel: string }[] = [];
  const streams = Array.from({ length: threads }, () => crypto.randomUUID());
  for (let first = 0; first < rows; first += perBlock * threads) {
    for (let t = 0; t < threads; t++) {
      const lo = first / threads;
      const n = Math.min(perBlock, Math.ceil((rows - first) / threads));
      if (n <= 0) continue;
      const block = crypto.randomUUID();
      const stream = streams[t] as string;
      const rel = join("blobs", pid, stream, `${block}.parquet`);
      mkdirSync(join(lake.root, "blobs", pid, stream), { recursive: true });
      await engine.run(`COPY (
        ${select(t, `range(${lo}, ${lo + n}) r(j)`)}) TO ${sqlString(join(lake.root, rel))} (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1)`);
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
        `INSERT INTO lake.blocks VALUES ($b, $s, $p, NULL, NULL, $n, 0, $f, make_timestamp($t::BIGINT), ${RAW_BLOCK_SCHEMA_VERSION})`,
        { b: b.block, s: b.stream, p: pid, n: BigInt(b.n), f: b.rel, t: ins[k + 1] as bigint },
      );
    }
  });
  await lake.detach(engine);
  return pid;
}
