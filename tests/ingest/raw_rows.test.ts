/**
 * RawRowSink (the back end of the Perfetto, OTLP and JSON-lines importers), its blocks read back
 * by DuckDB: text of every kind (ASCII, one non-ASCII character, multi-byte, lone surrogates,
 * long, empty) comes back as `TextEncoder` encodes it; UTF-8 given with a name or category is
 * written as given; rows spread over many small blocks of interleaved streams (block builders
 * reused from block to block) all come back, each in its own stream, with its own values.
 * Its block files are those of the Chrome importer (block_file.ts): a stream written out many
 * times makes one file of several row groups, finished at BLOCK_FILE_ROW_GROUPS row groups; and
 * `BlockFileSet` keeps the unfinished files' footers within BLOCK_FILE_META_BUDGET.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { Engine } from "../../lib/duck/engine.ts";
import {
  BLOCK_FILE_META_BUDGET,
  BLOCK_FILE_ROW_GROUPS,
  BlockFileSet,
  type FinishedBlock,
} from "../../lib/ingest/blocks/block_file.ts";
import { BlockBuilder } from "../../lib/ingest/blocks/builder.ts";
import { RawRowSink, resetRow } from "../../lib/ingest/blocks/raw_rows.ts";
import { tempDir } from "../helpers.ts";

interface Back {
  seq: number;
  ph: string;
  tid: string | null;
  name: string | null;
  cat: string | null;
  args: string | null;
  stream: string;
}

describe("RawRowSink", () => {
  let engine: Engine;
  const root = tempDir("tl-rawrows-");
  beforeAll(async () => {
    engine = await Engine.open({ threads: 2 });
  });
  afterAll(() => engine.close());

  /** Every row of every block, with the stream it was written to (`pid/tid`, `pid/log`...). */
  async function readBack(sink: RawRowSink): Promise<Back[]> {
    const streams = new Map<string, string>();
    for (const p of sink.processes.values()) {
      streams.set(p.logStreamId, `${p.pid}/log`);
      streams.set(p.metricsStreamId, `${p.pid}/metrics`);
      for (const t of p.threads.values()) streams.set(t.streamId, `${p.pid}/${t.tid}`);
    }
    const out: Back[] = [];
    for (const b of sink.blocks) {
      const rows = await engine.rows<Omit<Back, "stream"> & { seq: bigint }>(
        `SELECT seq, ph, tid, name, cat, CAST(args AS VARCHAR) AS args FROM read_parquet('${b.stagedPath}')`,
      );
      expect(rows.length).toBe(b.nbObjects);
      for (const r of rows) out.push({ ...r, seq: Number(r.seq), stream: streams.get(b.streamId) as string });
    }
    return out.sort((a, b) => a.seq - b.seq);
  }

  test("text of every kind comes back as TextEncoder encodes it", async () => {
    const dir = join(root, "text");
    mkdirSync(dir);
    const texts = [
      "",
      "a",
      "é",
      "€",
      "😀",
      "\ud800",
      "x\udc00y",
      "RunTask",
      "naïve café — ü",
      "日本語のテキスト",
      "a".repeat(300),
      `${"é".repeat(200)}😀${"b".repeat(100)}`,
      "'; DROP TABLE processes; --",
      "../../etc/passwd",
    ];
    const sink = new RawRowSink(dir);
    texts.forEach((t, i) => {
      const r = resetRow(null, i, "i", 1000 + i);
      r.name = t;
      r.cat = t;
      // (JSON.stringify escapes a lone surrogate as \ud800, which DuckDB's JSON rejects.)
      r.args = t.isWellFormed() ? JSON.stringify({ t }) : null;
      sink.add("1", "2", "log", r);
    });
    sink.flush();
    const back = await readBack(sink);
    // The oracle: what the standard encoder makes of each text, decoded again.
    const roundTrip = (t: string) => new TextDecoder().decode(new TextEncoder().encode(t));
    expect(back.map((r) => r.name)).toEqual(texts.map(roundTrip));
    expect(back.map((r) => r.cat)).toEqual(texts.map(roundTrip));
    expect(back.map((r) => (r.args === null ? null : JSON.parse(r.args).t))).toEqual(
      texts.map((t) => (t.isWellFormed() ? t : null)),
    );
    expect(back.every((r) => r.tid === "2" && r.stream === "1/log")).toBe(true);
  });

  test("UTF-8 given with a name or category is written as given", async () => {
    const dir = join(root, "utf8");
    mkdirSync(dir);
    const sink = new RawRowSink(dir);
    const st = sink.stream("7", "8", "cpu");
    const r = resetRow(null, 0, "B", 5);
    r.name = "Task::Run";
    r.nameUtf8 = new TextEncoder().encode("Task::Run");
    r.cat = "cat€";
    r.catUtf8 = new TextEncoder().encode("cat€");
    sink.addTo(st, r);
    sink.add("7", "8", "cpu", resetRow(r, 1, "E", 6));
    sink.flush();
    const back = await readBack(sink);
    expect(back.map((b) => [b.seq, b.ph, b.name, b.cat, b.stream])).toEqual([
      [0, "B", "Task::Run", "cat€", "7/8"],
      [1, "E", null, null, "7/8"],
    ]);
  });

  /** Row groups of a Parquet file, as DuckDB's parquet_metadata counts them. */
  async function rowGroups(path: string): Promise<number> {
    const r = await engine.rows<{ n: bigint }>(
      `SELECT count(DISTINCT row_group_id) AS n FROM parquet_metadata('${path}')`,
    );
    return Number(r[0]?.n);
  }

  test("many small write-outs of interleaved streams (builders reused): every row once, in its stream, with its values", async () => {
    const dir = join(root, "blocks");
    mkdirSync(dir);
    // 64 KiB buffered at most, blocks of 16 KiB: hundreds of blocks, builders reset and reused.
    const sink = new RawRowSink(dir, 64 * 1024, 16 * 1024);
    const n = 30_000;
    const expected: Back[] = [];
    const row = resetRow(null, 0, "", 0);
    for (let i = 0; i < n; i++) {
      const tid = String(100 + (i % 5));
      // Stream 100 gets long args now and then (a builder grows, then is reused for short rows).
      const args = tid === "100" && i % 1000 === 0 ? JSON.stringify({ big: "z".repeat(5000 + i) }) : null;
      const name = i % 3 === 0 ? null : `name${i % 17}`;
      resetRow(row, i, i % 2 === 0 ? "B" : "E", 1_000_000 + i);
      row.name = name;
      row.args = args;
      const dest = i % 7 === 0 ? "log" : "cpu";
      sink.add("42", tid, dest, row);
      expected.push({
        seq: i,
        ph: row.ph,
        tid,
        name,
        cat: null,
        args,
        stream: dest === "log" ? "42/log" : `42/${tid}`,
      });
    }
    sink.flush();
    // Hundreds of write-outs, appended as row groups to one block file per stream.
    expect(sink.blocks.length).toBe(6);
    let groups = 0;
    for (const b of sink.blocks) groups += await rowGroups(b.stagedPath);
    expect(groups).toBeGreaterThan(50);
    expect(sink.rowCounts.cpu + sink.rowCounts.log).toBe(n);
    const back = await readBack(sink);
    expect(back.length).toBe(n);
    expect(back).toEqual(expected);
  });

  test("a stream written out many times: one block file of several row groups, read back whole by DuckDB", async () => {
    const dir = join(root, "one-file");
    mkdirSync(dir);
    // Blocks of 16 KiB: a write-out every 256 rows or so.
    const sink = new RawRowSink(dir, 64 * 1024, 16 * 1024);
    const n = 20_000;
    const row = resetRow(null, 0, "", 0);
    for (let i = 0; i < n; i++) {
      resetRow(row, i, "X", 5_000 + 10 * i);
      row.dur = 3;
      row.name = `slice ${i % 13}`;
      sink.add("9", "1", "cpu", row);
    }
    sink.flush();
    sink.flush(); // a second flush adds nothing
    expect(sink.blocks.length).toBe(1);
    const b = sink.blocks[0];
    if (!b) throw new Error("no block");
    expect(await rowGroups(b.stagedPath)).toBeGreaterThan(10);
    const got = await engine.rows<{ n: bigint; seqs: bigint; mn: bigint; mx: bigint }>(
      `SELECT count(*) AS n, count(DISTINCT seq) AS seqs, min(epoch_ns(time)) AS mn, max(epoch_ns(time) + dur) AS mx
       FROM read_parquet('${b.stagedPath}')`,
    );
    expect(got[0]).toEqual({ n: BigInt(n), seqs: BigInt(n), mn: 5_000n, mx: BigInt(5_000 + 10 * (n - 1) + 3) });
    expect(b.nbObjects).toBe(n);
    expect([b.beginNs, b.endNs]).toEqual([5_000n, BigInt(5_000 + 10 * (n - 1) + 3)]);
    expect(b.payloadSize).toBe(Bun.file(b.stagedPath).size);
  });

  test(`a block file is finished at ${BLOCK_FILE_ROW_GROUPS} row groups, the stream's next rows start the next`, async () => {
    const dir = join(root, "full");
    mkdirSync(dir);
    // blockBytes 1: a write-out every 256 rows (sizes are checked every 256 rows), one row group each.
    const sink = new RawRowSink(dir, 64 * 1024 * 1024, 1);
    const n = 256 * BLOCK_FILE_ROW_GROUPS + 1000;
    const row = resetRow(null, 0, "", 0);
    for (let i = 0; i < n; i++) sink.add("3", "4", "cpu", resetRow(row, i, "i", i));
    // The first file was finished during the input, the second at the end.
    expect(sink.blocks.length).toBe(1);
    sink.flush();
    expect(sink.blocks.map((b) => b.nbObjects)).toEqual([256 * BLOCK_FILE_ROW_GROUPS, 1000]);
    const [full, rest] = sink.blocks.map((b) => b.stagedPath) as [string, string];
    expect(await rowGroups(full)).toBe(BLOCK_FILE_ROW_GROUPS);
    expect(await rowGroups(rest)).toBe(4);
    const got = await engine.rows<{ n: bigint; mx: bigint }>(
      `SELECT count(DISTINCT seq) AS n, max(seq) AS mx FROM read_parquet(['${full}', '${rest}'])`,
    );
    expect(got[0]).toEqual({ n: BigInt(n), mx: BigInt(n - 1) });
  });

  test("BlockFileSet: many streams' unfinished footers stay within BLOCK_FILE_META_BUDGET (the fullest finished early)", async () => {
    const dir = join(root, "budget");
    mkdirSync(dir);
    const files = new BlockFileSet<number>(dir, (p) => Bun.zstdCompressSync(p, { level: 1 }));
    const b = new BlockBuilder();
    b.beginRow();
    b.setI64(0, 1);
    b.noteSeq(1);
    for (let c = 1; c < 18; c++) b.setNull(c);
    const columns = b.columns();
    const streams = 300;
    const rounds = 40;
    const early: FinishedBlock<number>[] = [];
    for (let k = 0; k < rounds; k++) {
      for (let s = 0; s < streams; s++) {
        files.append(s, 1, columns, null, null);
        files.endWriteOut(s, early);
      }
    }
    // 12,000 row groups of ~0.5-1 KiB of footer each: more than the budget, so files were
    // finished before the end although none is full (40 row groups each).
    expect(early.length).toBeGreaterThan(0);
    const all = [...early];
    files.finishAll(all);
    expect(files.openFiles).toBe(0);
    let footers = 0;
    let rows = 0;
    for (const f of all) {
      const bytes = new Uint8Array(await Bun.file(f.path).arrayBuffer());
      footers += new DataView(bytes.buffer).getUint32(bytes.length - 8, true);
      const got = await engine.rows<{ n: bigint }>(`SELECT count(*) AS n FROM read_parquet('${f.path}')`);
      expect(Number(got[0]?.n)).toBe(f.rows);
      rows += f.rows;
    }
    expect(footers).toBeGreaterThan(BLOCK_FILE_META_BUDGET);
    expect(rows).toBe(streams * rounds);
    // Every stream's rows are in files of that stream only, all of them.
    const perKey = new Map<number, number>();
    for (const f of all) perKey.set(f.key, (perKey.get(f.key) ?? 0) + f.rows);
    expect([...perKey.values()].every((v) => v === rounds)).toBe(true);
    expect(perKey.size).toBe(streams);
  });
});
