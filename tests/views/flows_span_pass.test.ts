/**
 * `flows` names each slice end by its thread_spans id, from thread_spans' span pass, which a
 * JIT run that writes both view sets runs once per process and hands from one to the other
 * (MaterializeInput.shared). Checked without that hand-off's code: every edge's ends are looked
 * up in thread_spans by id, and the span found must have the name and begin time the trace
 * gives the slice (written down here), whether the two view sets are built in one run or
 * flows first and thread_spans after. The trace has a process of more than 50K events (bound
 * alone, BATCH_PROCESS_EVENTS) and three small ones (bound together).
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { cli, tempDir } from "../helpers.ts";

/** Events of the big process's thread, and the flows from it (one every OUT_EVERY slices). */
const BIG_EVENTS = 60_000;
const OUT_EVERY = 2_000;
const FLOWS = BIG_EVENTS / OUT_EVERY;

/** One edge as the trace makes it: out slice (name, begin µs), in slice (name, begin µs). */
interface Edge {
  out: string;
  outUs: number;
  in: string;
  inUs: number;
}

let file: string;
let dir: string;
const want: Edge[] = [];

beforeAll(() => {
  dir = tempDir("tl-flows-pass-");
  const events: Record<string, unknown>[] = [];
  for (let i = 0; i < BIG_EVENTS; i++) {
    const e: Record<string, unknown> = { ph: "X", pid: 1, tid: 1, ts: i * 10, dur: 5, name: `a${i % 7}`, cat: "c" };
    if (i % OUT_EVERY === 0) Object.assign(e, { bind_id: `0x${(i / OUT_EVERY + 1).toString(16)}`, flow_out: true });
    events.push(e);
  }
  for (let k = 0; k < FLOWS; k++) {
    const pid = 2 + (k % 3);
    const i = k * OUT_EVERY;
    const ts = i * 10 + 7;
    events.push({
      ph: "X",
      pid,
      tid: pid * 10,
      ts,
      dur: 2,
      name: `b${pid}`,
      cat: "c",
      bind_id: `0x${(k + 1).toString(16)}`,
      flow_in: true,
    });
    want.push({ out: `a${i % 7}`, outUs: i * 10, in: `b${pid}`, inUs: ts });
  }
  file = join(dir, "t.json");
  writeFileSync(file, JSON.stringify({ traceEvents: events }));
});

/** Each edge's ends as found in thread_spans by id: names and begin times (µs). */
const ENDS = `SELECT o.name AS "out", epoch_us(o.begin) AS "outUs", i.name AS "in", epoch_us(i.begin) AS "inUs",
    f.out_name = o.name AND f.out_time = o.begin AND f.in_name = i.name AND f.in_time = i.begin AS agree
  FROM flows f JOIN thread_spans o ON o.id = f.out_id JOIN thread_spans i ON i.id = f.in_id
  ORDER BY "outUs"`;

/** A new lake with the trace ingested. */
function lake(name: string): string {
  const l = join(dir, name);
  const r = cli(l, ["ingest", file]);
  expect(r.code).toBe(0);
  return l;
}

/** The rows of ENDS (and checks every edge has both ends in thread_spans). */
function ends(l: string): (Edge & { agree: boolean })[] {
  const r = cli(l, ["query", "--format", "json", ENDS]);
  expect(r.stderr).toBe("");
  const rows = JSON.parse(r.stdout) as (Edge & { agree: boolean })[];
  const n = cli(l, [
    "query",
    "--format",
    "csv",
    "SELECT count(*) FROM flows WHERE out_id IS NOT NULL AND in_id IS NOT NULL",
  ]);
  expect(n.stdout.trim().split("\n")[1]).toBe(String(rows.length));
  return rows.map((x) => ({ ...x, outUs: Number(x.outUs), inUs: Number(x.inUs) }));
}

describe("flows' span ids from the shared span pass", () => {
  test("both view sets built in one run: every end is the thread_spans row of its slice", () => {
    const rows = ends(lake("one_run"));
    expect(rows.map(({ agree, ...e }) => e)).toEqual(want);
    expect(rows.every((x) => x.agree)).toBe(true);
  }, 60_000);

  test("flows built first, thread_spans in a later run: the same", () => {
    const l = lake("apart");
    expect(cli(l, ["query", "SELECT count(*) FROM flows"]).code).toBe(0);
    const rows = ends(l);
    expect(rows.map(({ agree, ...e }) => e)).toEqual(want);
    expect(rows.every((x) => x.agree)).toBe(true);
  }, 60_000);
});
