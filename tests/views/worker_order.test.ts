/**
 * Input order across the blocks of a stream. With worker threads, a stream's rows are split
 * between the workers' block files (each worker gets every other batch or so), so events that
 * follow each other in the input may sit in different blocks, in either block order. The views
 * must still process equal-time events in input order (`seq`): an `E` and the next `B` at the
 * same timestamp close the first span and open the next, whatever blocks they are in.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Engine } from "../../lib/duck/engine.ts";
import { ingest } from "../../lib/ingest/ingest.ts";
import { Lake } from "../../lib/lake/lake.ts";
import { prepareQuery } from "../../lib/sql/query.ts";
import { tempDir } from "../helpers.ts";

describe("views keep input order across the workers' blocks", () => {
  const dir = tempDir();
  let engine: Engine;
  let lake: Lake;
  const spans = 150_000;
  beforeAll(async () => {
    // Thread 1: B at 10i µs, E at 10i + 10 µs, so each E has the same ts as the next B; async
    // b/e pairs of one id on thread 2 likewise (ids reused: each e must end the b before it).
    const lines: string[] = [];
    for (let i = 0; i < spans; i++) {
      lines.push(`{"ph":"B","pid":1,"tid":1,"ts":${10 * i},"name":"s${i}","cat":"c"}`);
      lines.push(`{"ph":"E","pid":1,"tid":1,"ts":${10 * i + 10}}`);
      lines.push(`{"ph":"b","pid":1,"tid":2,"ts":${10 * i},"name":"a","cat":"c","id":"0x1","args":{"i":${i}}}`);
      lines.push(`{"ph":"e","pid":1,"tid":2,"ts":${10 * i + 10},"name":"a","cat":"c","id":"0x1"}`);
    }
    const file = join(dir, "order.json");
    writeFileSync(file, `{"traceEvents":[\n${lines.join(",\n")}\n]}\n`);
    engine = await Engine.open({ threads: 2 });
    lake = await Lake.open(engine, join(dir, "lake"));
    // Two workers and 1 MiB batches: ~20 batch boundaries, half of them between an E and a B.
    await ingest(engine, lake, file, { workers: 2, batchBytes: 1024 * 1024 });
  });
  afterAll(() => engine.close());

  const q = async <T>(sql: string): Promise<T[]> => {
    await prepareQuery(engine, lake, sql);
    return engine.rows<T>(sql);
  };

  test("the thread's stream has several blocks (the split this checks)", async () => {
    const b = await q<{ n: bigint }>(
      "SELECT count(*) AS n FROM blocks JOIN streams USING (stream_id) WHERE list_contains(tags, 'cpu')",
    );
    expect(Number(b[0]?.n)).toBeGreaterThanOrEqual(4);
  });

  test("thread_spans: every span is its own B..E, 10 µs, at depth 0", async () => {
    const r = await q<{ n: bigint; dmin: bigint; dmax: bigint; depth: number; anomalies: bigint }>(
      `SELECT count(*) AS n, min(duration) AS dmin, max(duration) AS dmax, max(depth) AS depth,
         count(anomaly) AS anomalies FROM thread_spans WHERE tid = '1'`,
    );
    expect(r[0]).toEqual({ n: BigInt(spans), dmin: 10_000n, dmax: 10_000n, depth: 0, anomalies: 0n });
  });

  test("async_events: every b is ended by the e that follows it", async () => {
    const r = await q<{ n: bigint; bad: bigint }>(
      `WITH b AS (SELECT * FROM async_events WHERE event_type = 'begin'),
         e AS (SELECT * FROM async_events WHERE event_type = 'end')
       SELECT count(*) AS n,
         count(*) FILTER (WHERE e.time IS NULL OR epoch_ns(e.time) - epoch_ns(b.time) <> 10000
           OR b.anomaly IS NOT NULL OR e.anomaly IS NOT NULL OR b.depth <> 0) AS bad
       FROM b LEFT JOIN e USING (span_id)`,
    );
    expect(r[0]).toEqual({ n: BigInt(spans), bad: 0n });
  });
});
