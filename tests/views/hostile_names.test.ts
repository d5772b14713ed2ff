/**
 * Names from the input that SQL text cannot carry (NUL, quotes, backslashes, `$name`-like text,
 * invalid UTF-8) in every place an input can put one: process and thread names, event names,
 * categories, args keys and values. Every whole-lake view and the Perfetto export must work, and
 * the rows must come back verbatim (invalid UTF-8 as U+FFFD, as TextDecoder reads it). Issue 19,
 * bug 2: one thread name with a NUL byte used to break thread_spans, async_events and
 * `export perfetto --all` for the whole lake.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Engine } from "../../lib/duck/engine.ts";
import { ingest } from "../../lib/ingest/ingest.ts";
import { Lake } from "../../lib/lake/lake.ts";
import { prepareQuery } from "../../lib/sql/query.ts";
import { cli, tempDir } from "../helpers.ts";
import { type PbField, trace } from "../ingest/pb.ts";

const T = 180_000;

/** Names SQL text cannot hold as they are; one process of each. */
const NAMES = ["a\u0000b", "it's", 'say "hi"', "back\\slash\\", "$name", "$streams_name ' $src", "tab\there"];
/**
 * Invalid UTF-8 in a Perfetto string (a lone continuation byte, a truncated sequence, an overlong
 * encoding), read as TextDecoder reads it (U+FFFD). Chrome JSON must be UTF-8 (an event with raw
 * invalid bytes is skipped as malformed, README "Chrome JSON"): its invalid text is a lone
 * surrogate escape, kept as U+FFFD.
 */
const BAD_BYTES = Buffer.from([0x62, 0x61, 0x64, 0xff, 0x80, 0xe2, 0x82, 0x20, 0xc0, 0xaf, 0x21]);
const BAD = new TextDecoder().decode(BAD_BYTES);
const LONE = "lone \ud800 surrogate";

/** A Chrome JSON trace: per name, a process and thread so named with spans, async events, logs, counters. */
function chromeTrace(): Buffer {
  const evs: unknown[] = [];
  [...NAMES, "@@LONE@@"].forEach((n, i) => {
    const pid = i + 1;
    evs.push({ ph: "M", name: "process_name", pid, tid: 2, args: { name: n } });
    evs.push({ ph: "M", name: "thread_name", pid, tid: 2, args: { name: n } });
    evs.push({ ph: "X", name: n, cat: n, pid, tid: 2, ts: 10, dur: 5, args: { [n]: n } });
    evs.push({ ph: "B", name: n, cat: n, pid, tid: 2, ts: 11, args: {} });
    evs.push({ ph: "E", pid, tid: 2, ts: 12 });
    evs.push({ ph: "b", name: n, cat: n, id: "0x1", pid, tid: 2, ts: 10, args: { [n]: 1 } });
    evs.push({ ph: "e", name: n, cat: n, id: "0x1", pid, tid: 2, ts: 14 });
    evs.push({ ph: "i", name: n, cat: n, pid, tid: 2, ts: 13, s: "t", args: { [n]: n } });
    evs.push({ ph: "C", name: n, cat: n, pid, tid: 2, ts: 13, args: { [n]: 7 } });
  });
  return Buffer.from(JSON.stringify({ traceEvents: evs }).replaceAll("@@LONE@@", LONE), "utf8");
}

/** The same names as raw bytes in a Perfetto trace: process, thread, event name and category. */
function perfettoTrace(): Uint8Array {
  const names: (string | Uint8Array)[] = [...NAMES.map((n) => `pf ${n}`), new Uint8Array(BAD_BYTES)];
  const packets: PbField[][] = [];
  names.forEach((n, i) => {
    const pid = 100 + i;
    const proc = 1000 + 2 * i;
    const thread = proc + 1;
    packets.push([
      [
        60,
        [
          [1, proc],
          [
            3,
            [
              [1, pid],
              [6, n],
            ],
          ],
        ],
      ],
    ]);
    packets.push([
      [
        60,
        [
          [1, thread],
          [
            4,
            [
              [1, pid],
              [2, pid + 1],
              [5, n],
            ],
          ],
        ],
      ],
    ]);
    const slice = (ts: number, type: number, named: boolean): PbField[] => [
      [10, 1],
      [8, ts],
      [
        11,
        [
          [9, type],
          [11, thread],
          ...(named
            ? ([
                [23, n],
                [22, n],
              ] as PbField[])
            : []),
        ],
      ],
    ];
    packets.push(slice(1_000_000 + i, 1, true));
    packets.push(slice(2_000_000 + i, 2, false));
  });
  return trace(packets);
}

/** Every name as the lake must give it back: the Chrome process's, the Perfetto one's, all. */
const CHROME = [...NAMES, "lone \ufffd surrogate"].sort();
const PF = [...NAMES.map((n) => `pf ${n}`), BAD].sort();
const EXPECTED = [...CHROME, ...PF].sort();

describe("hostile names in the input", () => {
  const dir = tempDir();
  const lakeDir = join(dir, "lake");
  let engine: Engine;
  let lake: Lake;
  const q = async <R = Record<string, unknown>>(sql: string): Promise<R[]> => {
    await prepareQuery(engine, lake, sql);
    return engine.rows<R>(sql);
  };
  const names = (rows: { n: string | null }[]) => rows.map((r) => r.n as string).sort();

  beforeAll(async () => {
    writeFileSync(join(dir, "names.json"), chromeTrace());
    writeFileSync(join(dir, "names.pftrace"), perfettoTrace());
    engine = await Engine.open({ threads: 2 });
    lake = await Lake.open(engine, lakeDir);
    await ingest(engine, lake, join(dir, "names.json"));
    await ingest(engine, lake, join(dir, "names.pftrace"));
  }, T);
  afterAll(() => engine?.close());

  const chrome = `(SELECT process_id FROM processes WHERE trace_format = 'chrome_json')`;
  const pf = `(SELECT process_id FROM processes WHERE trace_format <> 'chrome_json')`;

  test(
    "processes and streams keep the names",
    async () => {
      expect(names(await q(`SELECT exe AS n FROM processes WHERE process_id IN ${chrome}`))).toEqual(CHROME);
      expect(names(await q(`SELECT exe AS n FROM processes WHERE process_id IN ${pf}`))).toEqual(PF);
      expect(
        names(await q(`SELECT properties->>'thread-name' AS n FROM streams WHERE list_contains(tags, 'cpu')`)),
      ).toEqual(EXPECTED);
    },
    T,
  );

  test(
    "thread_spans over the whole lake: thread names, names, categories, args verbatim",
    async () => {
      const rows = await q<{ tn: string; name: string; target: string; n: bigint; p: string | null }>(
        `SELECT thread_name AS tn, name, target, count(*) AS n, any_value(properties::VARCHAR) FILTER (phase = 'X') AS p
         FROM thread_spans WHERE process_id IN ${chrome} GROUP BY ALL ORDER BY tn`,
      );
      expect(rows.map((r) => r.tn).sort()).toEqual(CHROME);
      for (const r of rows) {
        expect(r.name).toBe(r.tn);
        expect(r.target).toBe(r.tn);
        expect(r.n).toBe(2n);
        expect(Object.keys(JSON.parse(r.p as string))).toEqual([r.tn]);
      }
      const pfRows = await q<{ tn: string; name: string; target: string }>(
        `SELECT thread_name AS tn, name, target FROM thread_spans WHERE process_id IN ${pf}`,
      );
      expect(pfRows.map((r) => r.tn).sort()).toEqual(PF);
      for (const r of pfRows) expect(r.name).toBe(r.tn);
      const tids = await q<{ n: bigint }>("SELECT count(DISTINCT (process_id, tid)) AS n FROM thread_spans");
      expect(tids[0]?.n).toBe(BigInt(EXPECTED.length));
    },
    T,
  );

  test(
    "async_events over the whole lake",
    async () => {
      const rows = await q<{ tn: string; name: string; target: string; n: bigint }>(
        "SELECT thread_name AS tn, name, target, count(*) FILTER (anomaly IS NULL) AS n FROM async_events GROUP BY ALL",
      );
      expect(rows.map((r) => r.tn).sort()).toEqual(CHROME);
      for (const r of rows) {
        expect([r.name, r.target, r.n]).toEqual([r.tn, r.tn, 2n]);
      }
    },
    T,
  );

  test(
    "log_entries and measures",
    async () => {
      const logs = await q<{ msg: string; target: string; p: string }>(
        `SELECT msg, target, properties::VARCHAR AS p FROM log_entries WHERE process_id IN ${chrome}`,
      );
      expect(logs.map((r) => r.msg).sort()).toEqual(CHROME);
      for (const r of logs) {
        expect(r.target).toBe(r.msg);
        expect(JSON.parse(r.p)).toEqual({ [r.msg]: r.msg });
      }
      const measures = await q<{ name: string; counter: string; key: string; target: string; value: number }>(
        `SELECT name, counter, key, target, value FROM measures WHERE process_id IN ${chrome}`,
      );
      expect(measures.map((r) => r.key).sort()).toEqual(CHROME);
      for (const r of measures) {
        expect([r.name, r.counter, r.target, r.value]).toEqual([`${r.key} ${r.key}`, r.key, r.key, 7]);
      }
    },
    T,
  );

  test(
    "raw_events, and view_instance by process name, on every view set",
    async () => {
      const raw = await q<{ n: string }>(
        `SELECT DISTINCT name AS n FROM raw_events WHERE ph = 'X' AND process_id IN ${chrome}`,
      );
      expect(names(raw)).toEqual(CHROME);
      for (const n of NAMES.filter((x) => !x.includes("\u0000"))) {
        const lit = n.replaceAll("'", "''");
        for (const [vs, col] of [
          ["thread_spans", "thread_name"],
          ["async_events", "thread_name"],
          ["log_entries", "msg"],
          ["measures", "key"],
        ]) {
          const rows = await q<{ v: string }>(`SELECT DISTINCT ${col} AS v FROM view_instance('${vs}', '${lit}')`);
          expect([vs, rows.map((r) => r.v)]).toEqual([vs, [n]]);
        }
      }
    },
    T,
  );

  test(
    "export perfetto --all writes every name",
    () => {
      const out = join(dir, "all.pftrace");
      const r = cli(lakeDir, ["export", "perfetto", "--all", "-o", out]);
      expect(r.stderr).not.toContain("Error");
      expect(r.code).toBe(0);
      const bytes = readFileSync(out);
      for (const n of EXPECTED) expect(bytes.includes(Buffer.from(n, "utf8"))).toBe(true);
    },
    T,
  );
});
