/**
 * trace_processor's reading of odd Chrome JSON inputs, on hand-made traces: events without
 * `pid` (filed under pid 0), counter values given as strings (C's strtod). The expected values were read from trace_processor_shell v58.2
 * (/work/shared/tools) on the same input, not computed by the code under test.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Engine } from "../../lib/duck/engine.ts";
import { ingest } from "../../lib/ingest/ingest.ts";
import { Lake } from "../../lib/lake/lake.ts";
import { openQuerySession, prepareQuery } from "../../lib/sql/query.ts";
import { counterValue } from "../../lib/views/counter_value.ts";
import { tempDir } from "../helpers.ts";

/** Ingests `text` (one Chrome JSON trace) into a new lake and opens a query session. */
async function lakeWithText(text: string) {
  const dir = tempDir();
  const file = join(dir, "trace.json");
  writeFileSync(file, text);
  const engine = await Engine.open({ threads: 1 });
  const lakeDir = join(dir, "lake");
  const lake = await Lake.open(engine, lakeDir);
  const summary = await ingest(engine, lake, file);
  await openQuerySession(engine, lake);
  return { engine, summary, lakeDir };
}

describe("events without pid are filed under pid 0 (trace_processor's JSON tokenizer)", () => {
  // trace_processor: slices x1, b1 and the thread instant i1 on pid 0 tid 7, x2 and x3 (null
  // pid) on pid 0 tid 0 (a missing tid is the pid), the counter "c1 v" = 3.
  const TRACE = `{"traceEvents":[
{"ph":"X","name":"x1","ts":10,"dur":5,"tid":7},
{"ph":"B","name":"b1","ts":20,"tid":7},
{"ph":"E","ts":30,"tid":7},
{"ph":"C","name":"c1","ts":40,"args":{"v":3}},
{"ph":"i","name":"i1","ts":50,"tid":7,"s":"t"},
{"ph":"X","name":"x2","ts":60,"dur":1},
{"ph":"X","name":"x3","ts":70,"dur":1,"pid":null},
{"ph":"M","name":"thread_name","tid":7,"args":{"name":"T7"}}
]}`;
  let ctx: Awaited<ReturnType<typeof lakeWithText>>;
  beforeAll(async () => {
    ctx = await lakeWithText(TRACE);
  });
  afterAll(() => ctx.engine.close());

  test("nothing is skipped", () => {
    expect(ctx.summary.phases.filter((p) => p.dest === "skipped")).toEqual([]);
  });

  test("slices, the instant and the counter are on pid 0, a missing tid being 0", async () => {
    const r = await ctx.engine.rows<{ pid: string; tid: string; ph: string; name: string | null }>(
      `SELECT p.source_pid AS pid, r.tid, r.ph, r.name FROM raw_events r JOIN processes p USING (process_id)
       ORDER BY r.seq`,
    );
    expect(r.map((x) => [x.pid, x.tid, x.ph, x.name])).toEqual([
      ["0", "7", "X", "x1"],
      ["0", "7", "B", "b1"],
      ["0", "7", "E", null],
      ["0", "0", "C", "c1"],
      ["0", "7", "i", "i1"],
      ["0", "0", "X", "x2"],
      ["0", "0", "X", "x3"],
    ]);
    const t = await ctx.engine.rows<{ tid: string; name: string | null }>(
      `SELECT s.properties->>'thread-id' AS tid, s.properties->>'thread-name' AS name FROM streams s
       WHERE list_contains(s.tags, 'cpu') ORDER BY tid`,
    );
    expect(t).toEqual([
      { tid: "0", name: null },
      { tid: "7", name: "T7" },
    ]);
  });
});

/**
 * Counter values given as strings, value by value: [string, trace_processor's value]. null:
 * rejected (counted under json_parser_failure); "NaN": accepted, its value NULL in
 * trace_processor (a NaN double). Read from trace_processor_shell v58.2 on a trace with one `C`
 * event per value (`{"ph":"C","name":"cNN","args":{"v":<value>}}`).
 */
const STRING_VALUES: [string, number | "NaN" | null][] = [
  ["050", 50],
  ["01.23", 1.23],
  ["+10.5", 10.5],
  [".75", 0.75],
  ["246.", 246],
  ["1.5e", null],
  ["2e+", null],
  [".", null],
  ["+", null],
  ["-", null],
  ["abc", null],
  [" 5", 5],
  ["5 ", null],
  ["0x10", 16],
  ["0X1A", 26],
  ["nan", "NaN"],
  ["NaN", "NaN"],
  ["inf", Number.POSITIVE_INFINITY],
  ["-inf", Number.NEGATIVE_INFINITY],
  ["Infinity", Number.POSITIVE_INFINITY],
  ["1e400", Number.POSITIVE_INFINITY],
  ["-1e400", Number.NEGATIVE_INFINITY],
  ["1e-400", 0],
  ["", null],
  ["0x1p4", 16],
  ["  -3", -3],
  ["\t7", 7],
  ["\n8", 8],
  ["1,5", null],
  ["1_000", null],
  ["0x", null],
  ["1e5", 100000],
  ["5e-1", 0.5],
  ["\u00a05", null],
  ["0b11", null],
  ["1.", 1],
  ["-.5", -0.5],
  ["+.5e2", 50],
  ["nan(123)", "NaN"],
  ["infinityx", null],
  ["in", null],
];

describe("counter values given as strings: trace_processor's strtod rule (lib/views/counter_value.ts)", () => {
  test.each(STRING_VALUES)("%p → %p", (text, want) => {
    const v = counterValue(text);
    if (want === "NaN") expect(Number.isNaN(v)).toBe(true);
    else expect(v).toBe(want);
  });

  // The same values in a trace: the measures view reads what the rule accepts, and the ingest
  // counts the others (plus a null and an object value) under chrome.counter_value_invalid.
  const TRACE = `{"traceEvents":[
${STRING_VALUES.map(([t], i) => `{"ph":"C","name":"c${String(i).padStart(2, "0")}","ts":${10 + i},"pid":1,"args":{"v":${JSON.stringify(t)}}}`).join(",\n")},
{"ph":"C","name":"mixed","ts":100,"pid":1,"args":{"a":1,"b":null,"c":{"x":1},"d":"7"}}
]}`;
  let ctx: Awaited<ReturnType<typeof lakeWithText>>;
  beforeAll(async () => {
    ctx = await lakeWithText(TRACE);
  });
  afterAll(() => ctx.engine.close());

  test("rejected values are counted per value, the events are kept", () => {
    const rejected = STRING_VALUES.filter(([, w]) => w === null).length + 2;
    expect(
      ctx.summary.phases.filter((p) => p.code === "chrome.counter_value_invalid").map((p) => [p.ph, p.dest, p.count]),
    ).toEqual([["C", "dropped", rejected]]);
    expect(ctx.summary.eventsImported).toBe(STRING_VALUES.length + 1);
  });

  test("the measures view holds the accepted values", async () => {
    const lake = await Lake.open(ctx.engine, ctx.lakeDir);
    const sql = "SELECT name, value AS v FROM measures ORDER BY name";
    await prepareQuery(ctx.engine, lake, sql);
    const rows = await ctx.engine.rows<{ name: string; v: number }>(sql);
    const want = STRING_VALUES.flatMap(([, w], i) =>
      w === null ? [] : [{ name: `c${String(i).padStart(2, "0")} v`, v: w === "NaN" ? Number.NaN : w }],
    );
    want.push({ name: "mixed a", v: 1 }, { name: "mixed d", v: 7 });
    const fmt = (r: { name: string; v: number }) => `${r.name}=${r.v}`;
    expect(rows.map(fmt)).toEqual(want.map(fmt));
  });
});
