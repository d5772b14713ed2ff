/**
 * RawRowSink (the back end of the Perfetto, OTLP and JSON-lines importers), its blocks read back
 * by DuckDB: text of every kind (ASCII, one non-ASCII character, multi-byte, lone surrogates,
 * long, empty) comes back as `TextEncoder` encodes it; UTF-8 given with a name or category is
 * written as given; rows spread over many small blocks of interleaved streams (block builders
 * reused from block to block) all come back, each in its own stream, with its own values.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { Engine } from "../../lib/duck/engine.ts";
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

  test("many small blocks of interleaved streams (builders reused): every row once, in its stream, with its values", async () => {
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
    expect(sink.blocks.length).toBeGreaterThan(50);
    expect(sink.rowCounts.cpu + sink.rowCounts.log).toBe(n);
    const back = await readBack(sink);
    expect(back.length).toBe(n);
    expect(back).toEqual(expected);
  });
});
