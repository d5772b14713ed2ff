/**
 * The raw block writer, read back by DuckDB: the schema of DuckDB-written blocks, several row
 * groups, nulls in every pattern, values outside the safe integer range, empty and long
 * strings, and the `us → ns` conversion against the SQL macro it replaces.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Engine } from "../../lib/duck/engine.ts";
import { BlockFileWriter } from "../../lib/ingest/blocks/block_file.ts";
import { BlockBuilder } from "../../lib/ingest/blocks/builder.ts";
import { encodeRawBlock } from "../../lib/ingest/blocks/parquet_writer.ts";
import { usTextToNs } from "../../lib/ingest/chrome/time.ts";
import { ROW_GROUP_ROWS } from "../../lib/lake/raw_block.ts";
import { prng, tempDir } from "../helpers.ts";

const enc = new TextEncoder();

describe("raw block writer", () => {
  let engine: Engine;
  const dir = tempDir("tl-pq-");
  beforeAll(async () => {
    engine = await Engine.open({ threads: 2 });
  });
  afterAll(() => engine.close());

  test("several row groups, nulls, big values, unicode: DuckDB reads back exactly what was written", async () => {
    const r = prng(7);
    const rows = ROW_GROUP_ROWS * 2 + 1234;
    const b = new BlockBuilder();
    const expected: string[] = [];
    const big = [2n ** 62n + 12345n, -(2n ** 62n) - 7n, 9007199254740993n];
    for (let i = 0; i < rows; i++) {
      b.beginRow();
      b.setI64(0, i);
      b.noteSeq(i);
      const ph = i % 3 === 0 ? null : i % 3 === 1 ? "X" : "é😀";
      if (ph === null) b.setNull(1);
      else {
        const t = enc.encode(ph);
        b.setBytes(1, t, 0, t.length);
      }
      // time: mostly safe integers, sometimes beyond 2^53 or negative; dur sometimes null.
      const time = i % 1000 === 0 ? (big[(i / 1000) % 3] as bigint) : BigInt(Math.floor(r() * 1e15)) - 10n ** 14n;
      if (time > BigInt(Number.MAX_SAFE_INTEGER) || time < -BigInt(Number.MAX_SAFE_INTEGER)) b.setI64Big(2, time);
      else b.setI64(2, Number(time));
      const dur = i % 5 === 0 ? null : Math.floor(r() * 1e6);
      if (dur === null) b.setNull(3);
      else b.setI64(3, dur);
      b.noteRange(time, dur);
      for (let c = 4; c <= 5; c++) b.setNull(c); // all-null columns
      for (let c = 6; c <= 14; c++) {
        if (r() < 0.3) b.setNull(c);
        else {
          const t = enc.encode(c === 7 && i % 7 === 0 ? "x".repeat(5000) : c === 8 ? "" : `v${c}-${i % 97}`);
          b.setBytes(c, t, 0, t.length);
        }
      }
      const fl = i % 4;
      if (fl === 0) b.setNull(15);
      else b.setBool(15, fl === 1);
      b.setBool(16, i % 2 === 0);
      const args = i % 6 === 0 ? null : `{"i":${i},"s":"a\\"b"}`;
      if (args === null) b.setNull(17);
      else {
        const t = enc.encode(args);
        b.setBytes(17, t, 0, t.length);
      }
      expected.push(
        JSON.stringify([
          i,
          ph,
          String(time),
          dur === null ? null : String(dur),
          fl === 0 ? null : fl === 1,
          i % 2 === 0,
          args,
        ]),
      );
    }
    const path = join(dir, "many.parquet");
    const parts = encodeRawBlock(b.rows, b.columns(), (p) => Bun.zstdCompressSync(p, { level: 1 }));
    writeFileSync(path, Buffer.concat(parts));
    const meta = await engine.rows<{ n: bigint }>(
      `SELECT count(DISTINCT row_group_id) AS n FROM parquet_metadata('${path}')`,
    );
    expect(Number(meta[0]?.n)).toBe(3);
    const got = await engine.rows<{ j: string }>(
      `SELECT to_json([seq::VARCHAR, ph, epoch_ns(time)::VARCHAR, dur::VARCHAR, flow_in::VARCHAR, flow_out::VARCHAR, args::VARCHAR])::VARCHAR AS j
       FROM read_parquet('${path}') ORDER BY seq`,
    );
    expect(got.length).toBe(rows);
    for (let i = 0; i < rows; i++) {
      const [seq, ph, time, dur, fin, fout, args] = JSON.parse(got[i]?.j ?? "[]") as (string | null)[];
      const e = JSON.parse(expected[i] as string) as (string | number | boolean | null)[];
      const norm = [Number(seq), ph, time, dur, fin === null ? null : fin === "true", fout === "true", args];
      if (JSON.stringify(norm) !== JSON.stringify(e)) expect(norm).toEqual(e);
    }
    const nulls = await engine.rows<{ a: bigint; b: bigint; name_len: bigint }>(
      `SELECT count(thread_time) AS a, count(thread_dur) AS b, max(length(name)) AS name_len FROM read_parquet('${path}')`,
    );
    expect(nulls[0]).toEqual({ a: 0n, b: 0n, name_len: 5000n });
    const range = b.range();
    const sql = await engine.rows<{ mn: bigint; mx: bigint }>(
      `SELECT min(epoch_ns(time)) AS mn, max(epoch_ns(time) + greatest(coalesce(dur, 0), 0)) AS mx FROM read_parquet('${path}')`,
    );
    expect([range.begin, range.end]).toEqual([sql[0]?.mn ?? null, sql[0]?.mx ?? null]);
  });

  test("a builder growing into buffers another builder released (dirty) writes exactly its own rows", async () => {
    // Builder A fills its buffers with non-zero junk (every column set, long values) and gives
    // them to the pool; B then grows through the same sizes with mostly-null rows, so any byte
    // B does not write itself would show as a wrong value or a wrong null.
    const junk = new BlockBuilder();
    const long = enc.encode("z".repeat(300));
    for (let i = 0; i < 5000; i++) {
      junk.beginRow();
      for (let c = 0; c < 18; c++) {
        if (c === 0 || c === 2 || c === 3 || c === 4 || c === 5) junk.setI64(c, 0x7fffffff + i);
        else if (c === 15 || c === 16) junk.setBool(c, true);
        else junk.setBytes(c, long, 0, long.length);
      }
    }
    junk.release();
    const b = new BlockBuilder();
    const rows = 4000;
    const expected: string[] = [];
    for (let i = 0; i < rows; i++) {
      b.beginRow();
      b.setI64(0, i);
      b.noteSeq(i);
      b.setNull(1);
      b.setI64(2, 1000 + i);
      b.noteRange(1000 + i, null);
      if (i % 3 === 0) b.setI64(3, i);
      else b.setNull(3);
      for (let c = 4; c <= 14; c++) b.setNull(c);
      if (i % 4 === 0) b.setBool(15, false);
      else b.setNull(15);
      b.setBool(16, false);
      const args = i % 5 === 0 ? `{"i":${i}}` : null;
      if (args === null) b.setNull(17);
      else {
        const t = enc.encode(args);
        b.setBytes(17, t, 0, t.length);
      }
      expected.push(
        JSON.stringify([i, null, 1000 + i, i % 3 === 0 ? i : null, i % 4 === 0 ? false : null, false, args]),
      );
    }
    const path = join(dir, "pooled.parquet");
    writeFileSync(
      path,
      Buffer.concat(encodeRawBlock(b.rows, b.columns(), (p) => Bun.zstdCompressSync(p, { level: 1 }))),
    );
    const got = await engine.rows<{ j: string }>(
      `SELECT json_array(seq, ph, epoch_ns(time), dur, flow_in, flow_out, args::VARCHAR)::VARCHAR AS j
       FROM read_parquet('${path}') ORDER BY seq`,
    );
    expect(got.length).toBe(rows);
    const stray = await engine.rows<{ n: bigint }>(
      `SELECT count(*) AS n FROM read_parquet('${path}')
       WHERE coalesce(tid, name, cat, id, id_scope, scope, s, bp, bind_id) IS NOT NULL OR thread_time IS NOT NULL OR thread_dur IS NOT NULL`,
    );
    expect(stray[0]?.n).toBe(0n);
    expect(got.map((r) => r.j)).toEqual(expected);
  });

  test("a block file appended in several flushes: DuckDB reads every row, and each row group's min/max are its own", async () => {
    const r = prng(11);
    const path = join(dir, "appended.parquet");
    const w = new BlockFileWriter(path, (p) => Bun.zstdCompressSync(p, { level: 1 }));
    // Flushes of 1 row, a few rows, and one over ROW_GROUP_ROWS (two row groups in one append,
    // where the writer keeps no statistics); times jump around between flushes.
    const sizes = [1, 37, 2000, ROW_GROUP_ROWS + 5, 3, 500];
    let seq = 0;
    const expected: string[] = [];
    let minNs: bigint | null = null;
    let maxNs: bigint | null = null;
    for (const n of sizes) {
      const b = new BlockBuilder();
      const base = Math.floor(r() * 1e12);
      for (let i = 0; i < n; i++) {
        b.beginRow();
        b.setI64(0, seq);
        b.noteSeq(seq);
        const name = enc.encode(`n${seq % 13}`);
        b.setBytes(1, name, 0, name.length);
        const time = base + Math.floor(r() * 1e9);
        const dur = Math.floor(r() * 1000);
        b.setI64(2, time);
        b.setI64(3, dur);
        b.noteRange(BigInt(time), dur);
        for (let c = 4; c < 18; c++) b.setNull(c);
        expected.push(`${seq}|${time}|${dur}`);
        const end = BigInt(time + dur);
        if (minNs === null || BigInt(time) < minNs) minNs = BigInt(time);
        if (maxNs === null || end > maxNs) maxNs = end;
        seq++;
      }
      const range = b.range();
      w.append(b.rows, b.columns(), range.begin, range.end);
    }
    const done = w.finish();
    expect(done.rows).toBe(seq);
    expect(done.size).toBe(statSync(path).size);
    expect([done.beginNs, done.endNs]).toEqual([minNs, maxNs]);

    const got = await engine.rows<{ v: string }>(
      `SELECT seq::VARCHAR || '|' || epoch_ns(time)::VARCHAR || '|' || dur::VARCHAR AS v FROM read_parquet('${path}') ORDER BY seq`,
    );
    expect(got.length).toBe(seq);
    for (let i = 0; i < seq; i++) if (got[i]?.v !== expected[i]) expect(got[i]?.v).toBe(expected[i] as string);
    const groups = await engine.rows<{ n: bigint }>(
      `SELECT count(DISTINCT row_group_id) AS n FROM parquet_metadata('${path}')`,
    );
    expect(Number(groups[0]?.n)).toBe(sizes.length + 1);
    // Tiny pages (the all-null columns, the 1-row group) are stored uncompressed, the rest in
    // zstd: the rows above read back through both.
    const codecs = await engine.rows<{ c: string }>(
      `SELECT DISTINCT compression AS c FROM parquet_metadata('${path}') ORDER BY c`,
    );
    expect(codecs.map((r) => r.c)).toEqual(["UNCOMPRESSED", "ZSTD"]);
    // Each row group's statistics against the min/max of its own rows (by file_row_number).
    const stats = await engine.rows<{ col: string; lo: string | null; hi: string | null; mn: string; mx: string }>(
      `WITH m AS (
         SELECT row_group_id, path_in_schema AS col, stats_min_value AS lo, stats_max_value AS hi,
           sum(row_group_num_rows) OVER (PARTITION BY path_in_schema ORDER BY row_group_id) - row_group_num_rows AS r0,
           row_group_num_rows AS n
         FROM parquet_metadata('${path}') WHERE path_in_schema IN ('seq', 'time')),
       d AS (SELECT file_row_number AS rn, seq, time FROM read_parquet('${path}', file_row_number = true))
       SELECT m.col, m.lo, m.hi,
         CASE m.col WHEN 'seq' THEN min(d.seq)::VARCHAR ELSE min(d.time)::VARCHAR END AS mn,
         CASE m.col WHEN 'seq' THEN max(d.seq)::VARCHAR ELSE max(d.time)::VARCHAR END AS mx
       FROM m JOIN d ON d.rn >= m.r0 AND d.rn < m.r0 + m.n
       GROUP BY m.row_group_id, m.col, m.lo, m.hi ORDER BY m.row_group_id, m.col`,
    );
    expect(stats.length).toBe(2 * (sizes.length + 1));
    let withStats = 0;
    for (const s of stats) {
      if (s.lo === null) continue;
      withStats++;
      expect([s.col, s.lo, s.hi]).toEqual([s.col, s.mn, s.mx]);
    }
    expect(withStats).toBe(2 * (sizes.length - 1)); // all but the two groups of the big append
    // Filters pushed down on those statistics find every row (a wrong min/max would skip a group).
    for (const [lo, hi] of [
      [0, 0],
      [30, 40],
      [2000, 2100],
      [seq - 600, seq - 1],
    ]) {
      const c = await engine.rows<{ n: bigint }>(
        `SELECT count(*) AS n FROM read_parquet('${path}') WHERE seq BETWEEN ${lo} AND ${hi}`,
      );
      expect(Number(c[0]?.n)).toBe((hi as number) - (lo as number) + 1);
    }
  });

  test("definition levels of every length, at every byte offset of their buffer: the NULLs DuckDB reads are the rows set null", async () => {
    // The writer reads levels four at a time where the buffer is 4-byte aligned, byte by byte
    // elsewhere (the WebAssembly importer's columns sit anywhere in its heap): each length from
    // 1 to 41 (RLE runs, bit-packed runs, partial last bytes), each offset 0-3.
    const r = prng(11);
    const files: string[] = [];
    const want: string[] = [];
    const wantCounts: string[] = [];
    for (let rows = 1; rows <= 41; rows++) {
      for (let shift = 0; shift < 4; shift++) {
        const b = new BlockBuilder();
        const pattern = rows % 7 === 0 ? "all-null" : rows % 5 === 0 ? "none-null" : "random";
        const nulls: number[] = [];
        for (let i = 0; i < rows; i++) {
          b.beginRow();
          b.setI64(0, i);
          b.noteSeq(i);
          for (let c = 1; c < 18; c++) if (c !== 2) b.setNull(c);
          const isNull = pattern === "all-null" || (pattern === "random" && r() < 0.5);
          if (isNull) {
            b.setNull(2);
            nulls.push(i);
          } else b.setI64(2, i * 10);
          b.noteRange(i, null);
        }
        // Every column's levels copied to `shift` bytes into a buffer of their own.
        const cols = b.columns().map((c) => {
          const moved = new Uint8Array(rows + 8);
          moved.set(c.defs.subarray(0, rows), shift);
          return { ...c, defs: moved.subarray(shift, shift + rows) };
        });
        const path = join(dir, `defs-${rows}-${shift}.parquet`);
        writeFileSync(path, Buffer.concat(encodeRawBlock(rows, cols, (p) => Bun.zstdCompressSync(p, { level: 1 }))));
        files.push(path);
        want.push(`${rows}/${shift}:${nulls.join(",")}`);
        wantCounts.push(`${rows}/${shift}:${nulls.length}`);
      }
    }
    const got = await engine.rows<{ k: string }>(
      `SELECT regexp_extract(filename, 'defs-([0-9]+-[0-9]+)', 1) AS f,
         replace(f, '-', '/') || ':' || coalesce(string_agg(CASE WHEN time IS NULL THEN seq::VARCHAR END, ',' ORDER BY seq), '') AS k
       FROM read_parquet([${files.map((f) => `'${f}'`).join(", ")}], filename = true) GROUP BY filename ORDER BY filename`,
    );
    expect(got.map((x) => x.k).sort()).toEqual([...want].sort());
    // The column chunk's statistics count them too (Statistics.null_count).
    const counts = await engine.rows<{ k: string }>(
      `SELECT replace(regexp_extract(file_name, 'defs-([0-9]+-[0-9]+)', 1), '-', '/') || ':' || stats_null_count AS k
       FROM parquet_metadata([${files.map((f) => `'${f}'`).join(", ")}]) WHERE path_in_schema = 'time'`,
    );
    expect(counts.map((x) => x.k).sort()).toEqual([...wantCounts].sort());
  });

  test("an empty block is a valid file", async () => {
    const path = join(dir, "empty.parquet");
    const b = new BlockBuilder();
    writeFileSync(path, Buffer.concat(encodeRawBlock(0, b.columns(), (p) => Bun.zstdCompressSync(p, { level: 1 }))));
    const n = await engine.rows<{ n: bigint }>(`SELECT count(*) AS n FROM read_parquet('${path}')`);
    expect(n[0]?.n).toBe(0n);
  });

  test("µs text → ns: the same as the SQL macro tl_us_to_ns on random decimal texts", async () => {
    await engine.run(`CREATE OR REPLACE TEMP MACRO tl_us_to_ns(x) AS
      CASE
        WHEN x IS NULL THEN NULL
        WHEN NOT (contains(x, '.') OR contains(x, 'e') OR contains(x, 'E')) THEN
          CASE WHEN length(x) <= 17 THEN TRY_CAST(TRY_CAST(x AS HUGEINT) * 1000 AS BIGINT) END
        WHEN length(x) <= 15 THEN TRY_CAST(round(TRY_CAST(x AS DOUBLE) * 1000) AS BIGINT)
        WHEN contains(x, 'e') OR contains(x, 'E') THEN TRY_CAST(round(TRY_CAST(x AS DOUBLE) * 1000) AS BIGINT)
        WHEN length(split_part(x, '.', 1)) <= 17 THEN TRY_CAST(
          TRY_CAST(split_part(x, '.', 1) AS HUGEINT) * 1000
          + (CASE WHEN starts_with(trim(x), '-') THEN -1 ELSE 1 END)
            * TRY_CAST(rpad(left(split_part(x, '.', 2), 3), 3, '0') AS HUGEINT) AS BIGINT)
      END`);
    const r = prng(11);
    const texts: string[] = [];
    const digits = (n: number): string => {
      let s = "";
      for (let k = 0; k < n; k++) s += String(Math.floor(r() * 10));
      return s;
    };
    for (let k = 0; k < 4000; k++) {
      const neg = r() < 0.3 ? "-" : "";
      const intLen = Math.floor(r() * 20);
      const ip = intLen === 0 ? "0" : digits(intLen);
      const frac = r() < 0.4 ? "" : `.${digits(1 + Math.floor(r() * 12))}`;
      texts.push(`${neg}${ip}${frac}`);
    }
    texts.push("0", "-0", "0.0005", "-0.0005", "0.0015", "2.5", "-2.5", "0.4995", "999999999999.9995", "00012.5");
    await engine.run("CREATE OR REPLACE TEMP TABLE tl_t(x VARCHAR)");
    await engine.append(
      "tl_t",
      texts.map((t) => [t]),
    );
    const rows = await engine.rows<{ x: string; ns: bigint | null }>("SELECT x, tl_us_to_ns(x) AS ns FROM tl_t");
    for (const row of rows) {
      const b = enc.encode(row.x);
      const v = usTextToNs(b, 0, b.length);
      const got = v === null ? null : BigInt(v);
      if (got !== row.ns) expect(`${row.x} → ${got}`).toBe(`${row.x} → ${row.ns}`);
    }
  });
});
