/**
 * A large process's threads sorted in parts (source.ts threadParts; thread_spans' stack pass and
 * flows' binding, lib/views/thread_spans.ts passParts): the parts of a relation cover its listed
 * streams once, in sx order, each within the limit but for a stream that alone exceeds it, with
 * the whole relation's bix, sx and pos (oracle: blockRelation's rows and the block layout the
 * test writes); and on the real Chromium JSON sample, `thread_spans` and `flows` files built
 * with small parts hold exactly the rows, in order, of the build without parts.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { Engine, sqlString } from "../../lib/duck/engine.ts";
import { ingest } from "../../lib/ingest/ingest.ts";
import { Lake } from "../../lib/lake/lake.ts";
import { prepareQuery } from "../../lib/sql/query.ts";
import { blockRelation, threadParts } from "../../lib/views/source.ts";
import { passParts, threadSpans } from "../../lib/views/thread_spans.ts";
import type { MaterializeInput, SourceBlock } from "../../lib/views/view_set.ts";
import { CHROMIUM_JSON_SAMPLE, streamedSql, tempDir } from "../helpers.ts";
import { partitionRows } from "./partition_rows.ts";

describe("threadParts", () => {
  let engine: Engine;
  let input: MaterializeInput;
  /** By block, in input order: its stream and row count (stream "z" is not listed). */
  const layout: [string, number][] = [
    ["c", 2],
    ["a", 3],
    ["b", 10],
    ["z", 2],
    ["a", 3],
    ["e", 4],
    ["c", 2],
  ];
  beforeAll(async () => {
    const dir = tempDir("tl-parts-");
    engine = await Engine.open({ threads: 2 });
    const blocks: SourceBlock[] = [];
    for (const [i, [streamId, n]] of layout.entries()) {
      const path = join(dir, `b${i}.parquet`);
      await engine.run(
        `COPY (SELECT ${i} * 100 + r AS seq FROM range(${n}) t(r)) TO ${sqlString(path)} (FORMAT parquet)`,
      );
      blocks.push({ blockId: `b${i}`, streamId, nbObjects: n, insertTimeUs: 0n, beginTimeNs: null, path });
    }
    const streams = ["a", "b", "c", "d", "e"].map((s) => ({ streamId: s, tid: s, threadName: s }));
    input = {
      engine,
      process: { processId: "p", exe: null, username: null, computer: null, properties: null },
      streams,
      blocks,
      outPath: "",
    };
  });
  afterAll(() => engine.close());

  /** Rows (bix, sx, pos, seq) of a relation, by pos. */
  const rowsOf = (sql: string) =>
    engine.rows<{ bix: bigint; sx: number | null; pos: bigint; seq: bigint }>(
      `SELECT bix, sx, pos, seq FROM (${sql}) ORDER BY pos`,
    );

  test("streams of at most maxEvents events together, a larger one alone, in sx order", () => {
    // a: 6 events, b: 10, c: 4, d: none, e: 4 (limit 5): a alone (over), b alone (over), c + d, e.
    const parts = threadParts(input, 5);
    expect(parts.map((p) => [p.firstSx, p.endSx])).toEqual([
      [0, 1],
      [1, 2],
      [2, 4],
      [4, 5],
    ]);
    expect(threadParts(input, 8).map((p) => [p.firstSx, p.endSx])).toEqual([
      [0, 1],
      [1, 2],
      [2, 5],
    ]);
  });

  test("the parts' rows are the whole relation's listed rows, with its bix, sx and pos", async () => {
    const whole = await rowsOf(blockRelation(input).sql);
    // The layout's own numbering: pos runs over the blocks in input order.
    expect(whole.map((r) => Number(r.pos))).toEqual([...Array(26).keys()]);
    expect(whole.filter((r) => r.sx === null).map((r) => [Number(r.bix), Number(r.pos)])).toEqual([
      [3, 15],
      [3, 16],
    ]);
    const got = [];
    for (const part of threadParts(input, 5)) {
      const rows = await rowsOf(part.sql);
      for (const r of rows) {
        expect(r.sx).not.toBeNull();
        expect(r.sx as number).toBeGreaterThanOrEqual(part.firstSx);
        expect(r.sx as number).toBeLessThan(part.endSx);
      }
      got.push(...rows);
    }
    got.sort((x, y) => Number(x.pos - y.pos));
    expect(got).toEqual(whole.filter((r) => r.sx !== null));
  });

  test("one part, the whole relation, when every event fits or no listed stream has a block", () => {
    expect(threadParts(input, 26)).toEqual([{ sql: blockRelation(input).sql, firstSx: 0, endSx: 5 }]);
    const unlisted = { ...input, streams: [{ streamId: "y", tid: "y", threadName: "y" }] };
    expect(threadParts(unlisted, 5)).toEqual([{ sql: blockRelation(unlisted).sql, firstSx: 0, endSx: 1 }]);
  });
});

describe("thread_spans and flows sorted in parts, on the Chromium sample", () => {
  let engine: Engine;
  let lake: Lake;
  /** The SQL of the streaming queries DuckDB ran while the parts build ran. */
  const streamed: string[] = [];
  let whole: Map<string, string[]>[];
  let parted: Map<string, string[]>[];
  const limit = { parts: passParts.maxEvents, many: threadSpans.manyMaxEvents };

  /** Deletes the views' files and builds both again; returns their files' rows. */
  const build = async (): Promise<Map<string, string[]>[]> => {
    await prepareQuery(engine, lake, "SELECT 1");
    const files = await engine.rows<{ f: string }>(
      "SELECT file_path AS f FROM list_partitions() WHERE view_set_name IN ('thread_spans', 'flows') AND file_path IS NOT NULL",
    );
    for (const f of files) rmSync(join(lake.root, f.f));
    await prepareQuery(engine, lake, "SELECT (SELECT count(*) FROM thread_spans) + (SELECT count(*) FROM flows)");
    return [await partitionRows(engine, lake.root, "thread_spans"), await partitionRows(engine, lake.root, "flows")];
  };

  beforeAll(async () => {
    const dir = tempDir("tl-parts-sample-");
    engine = await Engine.open({ threads: 2 });
    lake = await Lake.open(engine, join(dir, "lake"));
    await ingest(engine, lake, CHROMIUM_JSON_SAMPLE);
    // Every process's spans built alone (its own pass), with and without parts.
    threadSpans.manyMaxEvents = 0;
    try {
      passParts.maxEvents = Number.POSITIVE_INFINITY;
      whole = await build();
      passParts.maxEvents = 5_000;
      streamed.push(
        ...(await streamedSql(engine, async () => {
          parted = await build();
        })),
      );
    } finally {
      passParts.maxEvents = limit.parts;
      threadSpans.manyMaxEvents = limit.many;
    }
  }, 120_000);
  afterAll(() => engine.close());

  test("the builds sorted in parts", () => {
    // A part's relation names its blocks' bix (blockRelation's is file_index itself).
    const partial = streamed.filter((s) => s.includes("[file_index::BIGINT + 1] AS bix"));
    // thread_spans' stack pass (SCAN's `tt`) and flows' binding (its `tk`, bounded by thread).
    expect(partial.filter((s) => s.includes(" AS tt")).length).toBeGreaterThan(2);
    expect(partial.filter((s) => s.includes(" AS tk") && s.includes("WHERE th >=")).length).toBeGreaterThan(1);
  });

  test("the same files, row for row", () => {
    const [spansWhole, flowsWhole] = whole as Map<string, string[]>[];
    const [spansParted, flowsParted] = parted as Map<string, string[]>[];
    expect((spansWhole as Map<string, string[]>).size).toBeGreaterThan(5);
    expect((flowsWhole as Map<string, string[]>).size).toBeGreaterThan(1);
    for (const [a, b] of [
      [spansWhole, spansParted],
      [flowsWhole, flowsParted],
    ] as Map<string, string[]>[][]) {
      expect((b as Map<string, string[]>).size).toBe((a as Map<string, string[]>).size);
      for (const [id, rows] of a as Map<string, string[]>) expect((b as Map<string, string[]>).get(id)).toEqual(rows);
    }
  });
});

describe("flows bound in parts, with instants that begin flows", () => {
  let engine: Engine;
  let lake: Lake;
  const limit = passParts.maxEvents;
  /** Edges with both ends, as "out_name>in_name", of builds without parts and with one thread a part. */
  let whole: string[];
  let parted: string[];
  let wholeRows: Map<string, string[]>;
  let partedRows: Map<string, string[]>;

  /** Deletes the flows files and builds them again. */
  const build = async (): Promise<[string[], Map<string, string[]>]> => {
    await prepareQuery(engine, lake, "SELECT 1");
    const files = await engine.rows<{ f: string }>(
      "SELECT file_path AS f FROM list_partitions() WHERE view_set_name = 'flows' AND file_path IS NOT NULL",
    );
    for (const f of files) rmSync(join(lake.root, f.f));
    const sql = "SELECT out_name || '>' || in_name AS e FROM flows WHERE out_name IS NOT NULL AND in_name IS NOT NULL";
    await prepareQuery(engine, lake, sql);
    const edges = (await engine.rows<{ e: string }>(sql)).map((r) => r.e).sort();
    return [edges, await partitionRows(engine, lake.root, "flows")];
  };

  beforeAll(async () => {
    const dir = tempDir("tl-parts-flows-");
    // One process: threads 10, 11, 12 with spans; 13 with an instant only. An instant on 10
    // begins flow 0x1, which ends on 11's span; the instant of 13 begins 0x2, which ends on 12's.
    const ev = [
      { ph: "X", pid: 1, tid: 10, ts: 100, dur: 50, name: "a", cat: "c" },
      { ph: "i", s: "t", pid: 1, tid: 10, ts: 120, name: "i10", cat: "c", bind_id: "0x1", flow_out: true },
      { ph: "X", pid: 1, tid: 11, ts: 200, dur: 50, name: "b", cat: "c", bind_id: "0x1", flow_in: true },
      { ph: "i", s: "t", pid: 1, tid: 13, ts: 300, name: "i13", cat: "c", bind_id: "0x2", flow_out: true },
      { ph: "X", pid: 1, tid: 12, ts: 400, dur: 10, name: "c", cat: "c", bind_id: "0x2", flow_in: true },
    ];
    const file = join(dir, "t.json");
    await Bun.write(file, JSON.stringify({ traceEvents: ev }));
    engine = await Engine.open({ threads: 2 });
    lake = await Lake.open(engine, join(dir, "lake"));
    await ingest(engine, lake, file);
    try {
      passParts.maxEvents = Number.POSITIVE_INFINITY;
      [whole, wholeRows] = await build();
      passParts.maxEvents = 1;
      [parted, partedRows] = await build();
    } finally {
      passParts.maxEvents = limit;
    }
  }, 60_000);
  afterAll(() => engine.close());

  test("each instant's flow is bound once, in its thread's part", () => {
    expect(whole).toEqual(["i10>b", "i13>c"]);
    expect(parted).toEqual(whole);
    expect([...partedRows.entries()]).toEqual([...wholeRows.entries()]);
  });
});
