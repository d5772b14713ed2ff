/**
 * BatchImporter's block files: a group's rows are appended to one block file flush after
 * flush, and the file is finished once full (BLOCK_FILE_ROW_GROUPS), checked by reading the
 * files back with DuckDB.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Engine } from "../../lib/duck/engine.ts";
import { BLOCK_FILE_META_BUDGET, BLOCK_FILE_ROW_GROUPS } from "../../lib/ingest/blocks/block_file.ts";
import { BatchImporter, D_CPU } from "../../lib/ingest/chrome/batch_importer.ts";
import { SEQ_KEY } from "../../lib/ingest/chrome/framer.ts";
import { tempDir } from "../helpers.ts";

const enc = new TextEncoder();

describe("BatchImporter block files", () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.open({ threads: 2 });
  });
  afterAll(() => engine.close());

  for (const wasm of [true, false]) {
    test(`one flush per batch: one file per stream until ${BLOCK_FILE_ROW_GROUPS} row groups, then the next (${wasm ? "WebAssembly" : "JS"})`, async () => {
      const dir = tempDir("tl-bi-");
      // bufferBytes 1: every batch's rows are written out when the batch is finished.
      const bi = new BatchImporter(dir, 1, undefined, undefined, wasm);
      const batches = BLOCK_FILE_ROW_GROUPS + 44;
      const blocks = [];
      for (let k = 0; k < batches; k++) {
        // Two events of thread 1 (cpu) and one counter of process 7 (metrics) per batch.
        const lines = [
          `{"${SEQ_KEY}":${3 * k},"ph":"X","pid":7,"tid":1,"ts":${10 * k},"dur":3,"name":"a","cat":"c"}`,
          `{"${SEQ_KEY}":${3 * k + 1},"ph":"X","pid":7,"tid":1,"ts":${10 * k + 4},"dur":2,"name":"b","cat":"c"}`,
          `{"${SEQ_KEY}":${3 * k + 2},"ph":"C","pid":7,"tid":1,"ts":${10 * k + 5},"name":"m","args":{"v":${k}}}`,
        ];
        const parsed = bi.parseBatch(enc.encode(`${lines.join("\n")}\n`), lines.length);
        expect(parsed.slowEvents).toBe(0);
        expect(parsed.wasmEvents).toBe(wasm ? 3 : 0);
        blocks.push(...(await bi.finishBatch()));
      }
      // The cpu stream has 2 rows per row group, the metrics stream 1: both files fill up at
      // BLOCK_FILE_ROW_GROUPS appends, during the batches; the rest comes with flushAll.
      expect(blocks.length).toBe(2);
      blocks.push(...(await bi.flushAll()));
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
      // Full files first, each with BLOCK_FILE_ROW_GROUPS row groups; every event exactly once.
      expect(blocks.slice(0, 2).map((b) => b.rows / (b.dest === D_CPU ? 2 : 1))).toEqual([
        BLOCK_FILE_ROW_GROUPS,
        BLOCK_FILE_ROW_GROUPS,
      ]);
      seqs.sort((a, b) => a - b);
      expect(seqs).toEqual(Array.from({ length: 3 * batches }, (_, i) => i));
    });
  }

  test("many streams: unfinished files' footers stay within BLOCK_FILE_META_BUDGET (the fullest are finished early)", async () => {
    const dir = tempDir("tl-bi-");
    const bi = new BatchImporter(dir, 1);
    const threads = 300;
    const batches = 40;
    const early = [];
    let seq = 0;
    for (let k = 0; k < batches; k++) {
      const lines: string[] = [];
      for (let t = 0; t < threads; t++) {
        lines.push(`{"${SEQ_KEY}":${seq++},"ph":"X","pid":1,"tid":${t},"ts":${k * 100 + t},"dur":1,"name":"x"}`);
      }
      bi.parseBatch(enc.encode(`${lines.join("\n")}\n`), lines.length);
      early.push(...(await bi.finishBatch()));
    }
    // 12,000 row groups: their footers (the length in each file's last 8 bytes) add up to more
    // than the budget, so files were finished before the end although none is full (40 row
    // groups each).
    expect(early.length).toBeGreaterThan(0);
    const all = [...early, ...(await bi.flushAll())];
    let footers = 0;
    for (const b of all) {
      const bytes = new Uint8Array(await Bun.file(b.path).arrayBuffer());
      footers += new DataView(bytes.buffer).getUint32(bytes.length - 8, true);
    }
    expect(footers).toBeGreaterThan(BLOCK_FILE_META_BUDGET);
    let rows = 0;
    for (const b of all) {
      const got = await engine.rows<{ n: bigint }>(`SELECT count(*) AS n FROM read_parquet('${b.path}')`);
      expect(Number(got[0]?.n)).toBe(b.rows);
      rows += b.rows;
    }
    expect(rows).toBe(seq);
    const distinct = await engine.rows<{ n: bigint; mx: bigint }>(
      `SELECT count(DISTINCT seq) AS n, max(seq) AS mx FROM read_parquet([${all.map((b) => `'${b.path}'`).join(",")}])`,
    );
    expect(distinct[0]).toEqual({ n: BigInt(seq), mx: BigInt(seq - 1) });
  });
});
