/**
 * BatchImporter's block files: a group's rows are appended to one block file flush after
 * flush, and the file is finished once full (MAX_BLOCK_ROW_GROUPS), checked by reading the
 * files back with DuckDB.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { BatchImporter, D_CPU } from "../../lib/ingest/batch_importer.ts";
import { MAX_BLOCK_ROW_GROUPS } from "../../lib/ingest/block_file.ts";
import { SEQ_KEY } from "../../lib/ingest/chrome_json_framer.ts";
import { Engine } from "../../lib/sql/engine.ts";
import { tempDir } from "../helpers.ts";

const enc = new TextEncoder();

describe("BatchImporter block files", () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.open({ threads: 2 });
  });
  afterAll(() => engine.close());

  for (const wasm of [true, false]) {
    test(`one flush per batch: one file per stream until ${MAX_BLOCK_ROW_GROUPS} row groups, then the next (${wasm ? "WebAssembly" : "JS"})`, async () => {
      const dir = tempDir("tl-bi-");
      // bufferBytes 1: every batch's rows are written out when the batch is finished.
      const bi = new BatchImporter(dir, 1, undefined, undefined, wasm);
      const batches = MAX_BLOCK_ROW_GROUPS + 44;
      const blocks = [];
      for (let k = 0; k < batches; k++) {
        // Two events of thread 1 (cpu) and one counter of process 7 (metrics) per batch.
        const lines = [
          `{"${SEQ_KEY}":${3 * k},"ph":"X","pid":7,"tid":1,"ts":${10 * k},"dur":3,"name":"a","cat":"c"}`,
          `{"${SEQ_KEY}":${3 * k + 1},"ph":"X","pid":7,"tid":1,"ts":${10 * k + 4},"dur":2,"name":"b","cat":"c"}`,
          `{"${SEQ_KEY}":${3 * k + 2},"ph":"C","pid":7,"tid":1,"ts":${10 * k + 5},"name":"m","args":{"v":${k}}}`,
        ];
        const parsed = bi.parseBatch(enc.encode(`${lines.join("\n")}\n`), lines.length);
        expect(parsed.fallback).toBeNull();
        expect(parsed.wasmEvents).toBe(wasm ? 3 : 0);
        blocks.push(...bi.finishBatch([]));
      }
      // The cpu stream has 2 rows per row group, the metrics stream 1: both files fill up at
      // MAX_BLOCK_ROW_GROUPS appends, during the batches; the rest comes with flushAll.
      expect(blocks.length).toBe(2);
      blocks.push(...bi.flushAll());
      expect(blocks.length).toBe(4);
      const seqs: number[] = [];
      for (const b of blocks) {
        const got = await engine.rows<{ n: bigint; rgs: bigint; mn: bigint; mx: bigint }>(
          `SELECT count(*) AS n, (SELECT count(DISTINCT row_group_id) FROM parquet_metadata('${b.path}')) AS rgs,
             min(epoch_ns(time)) AS mn, max(epoch_ns(time) + coalesce(dur, 0)) AS mx FROM read_parquet('${b.path}')`,
        );
        const perGroup = b.dest === D_CPU ? 2 : 1;
        expect(Number(got[0]?.n)).toBe(b.rows);
        expect(Number(got[0]?.rgs)).toBe(b.rows / perGroup);
        expect([b.beginNs, b.endNs]).toEqual([got[0]?.mn ?? null, got[0]?.mx ?? null]);
        expect(b.size).toBe(Bun.file(b.path).size);
        const s = await engine.rows<{ seq: bigint }>(`SELECT seq FROM read_parquet('${b.path}')`);
        for (const r of s) seqs.push(Number(r.seq));
      }
      // Full files first, each with MAX_BLOCK_ROW_GROUPS row groups; every event exactly once.
      expect(blocks.slice(0, 2).map((b) => b.rows / (b.dest === D_CPU ? 2 : 1))).toEqual([
        MAX_BLOCK_ROW_GROUPS,
        MAX_BLOCK_ROW_GROUPS,
      ]);
      seqs.sort((a, b) => a - b);
      expect(seqs).toEqual(Array.from({ length: 3 * batches }, (_, i) => i));
    });
  }
});
