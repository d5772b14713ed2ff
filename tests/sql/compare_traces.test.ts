/**
 * compare_traces(a, b) and `tracelake diff` (issue 24 item 5) on the real sample and a filtered
 * copy of it made here (every other event of one slice name and every event of another dropped),
 * so that the expected differences are known from the input JSON: per name count, total and
 * nearest-rank p50/p90 of the X events (JSON.parse in this test), and self time summed over
 * every name = the threads' busy time (the union of their X intervals).
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { CHROMIUM_JSON_SAMPLE, type ChromeEvent, cli, queryRows, tempDir } from "../helpers.ts";

const SAMPLE = CHROMIUM_JSON_SAMPLE;
type Ev = ChromeEvent;

const ns = (us: number): number => Math.round(us * 1000);

/** Per name: count, total, p50, p90 (nearest rank: the value at rank ceil(n·q)) of X events' dur in ns. */
function stats(evs: Ev[]): Map<string, { n: number; total: number; p50: number; p90: number }> {
  const by = new Map<string, number[]>();
  for (const e of evs) {
    if (e.ph !== "X") continue;
    const d = by.get(e.name) ?? [];
    if (d.length === 0) by.set(e.name, d);
    d.push(ns(e.dur ?? 0));
  }
  const out = new Map<string, { n: number; total: number; p50: number; p90: number }>();
  for (const [name, d] of by) {
    d.sort((x, y) => x - y);
    const rank = (q: number) => d[Math.ceil(d.length * q) - 1] as number;
    out.set(name, { n: d.length, total: d.reduce((s, x) => s + x, 0), p50: rank(0.5), p90: rank(0.9) });
  }
  return out;
}

/** The union length of the X intervals of each thread, summed (ns). */
function busy(evs: Ev[]): number {
  const th = new Map<string, [number, number][]>();
  for (const e of evs) {
    if (e.ph !== "X") continue;
    const k = `${e.pid}/${e.tid}`;
    const iv = th.get(k) ?? [];
    if (iv.length === 0) th.set(k, iv);
    iv.push([ns(e.ts), ns(e.ts + (e.dur ?? 0))]);
  }
  let total = 0;
  for (const iv of th.values()) {
    iv.sort((a, b) => a[0] - b[0]);
    let [s, e] = iv[0] as [number, number];
    for (const [a, b] of iv.slice(1)) {
      if (a <= e) e = Math.max(e, b);
      else {
        total += e - s;
        [s, e] = [a, b];
      }
    }
    total += e - s;
  }
  return total;
}

describe("compare_traces on the sample and a filtered copy", () => {
  const dir = tempDir();
  const lake = join(dir, "lake");
  let a: Ev[] = [];
  let b: Ev[] = [];
  let halved = "";
  let dropped = "";
  let bNames = new Set<string>();

  beforeAll(() => {
    const doc = JSON.parse(gunzipSync(readFileSync(SAMPLE)).toString()) as { traceEvents: Ev[] };
    a = doc.traceEvents;
    // Names that are X events only (B/E spans are left out of the oracle).
    bNames = new Set(a.filter((e) => e.ph === "B" || e.ph === "E").map((e) => e.name));
    const sa = [...stats(a)].filter(([n, s]) => !bNames.has(n) && s.n >= 20);
    sa.sort((x, y) => y[1].total - x[1].total || x[0].localeCompare(y[0]));
    halved = sa[0]?.[0] as string;
    dropped = sa[1]?.[0] as string;
    let k = 0;
    b = a.filter((e) => {
      if (e.ph === "X" && e.name === dropped) return false;
      if (e.ph === "X" && e.name === halved) return k++ % 2 === 0;
      return true;
    });
    const copy = join(dir, "filtered.json");
    writeFileSync(copy, JSON.stringify({ ...doc, traceEvents: b }));
    expect(cli(lake, ["ingest", SAMPLE, "--name", "full"]).code).toBe(0);
    expect(cli(lake, ["ingest", copy, "--name", "filtered"]).code).toBe(0);
  });

  test("per name: count, total, p50, p90 in each trace and b - a, as the input JSON says", () => {
    const got = new Map(queryRows(lake, "SELECT * FROM compare_traces('full', 'filtered')").map((r) => [r.name, r]));
    const sa = stats(a);
    const sb = stats(b);
    let checked = 0;
    for (const [name, x] of sa) {
      if (bNames.has(name)) continue;
      const y = sb.get(name);
      expect({ name, ...got.get(name) }).toMatchObject({
        name,
        count_a: x.n,
        count_b: y?.n ?? 0,
        count_diff: (y?.n ?? 0) - x.n,
        total_a: x.total,
        total_b: y?.total ?? 0,
        total_diff: (y?.total ?? 0) - x.total,
        p50_a: x.p50,
        p50_b: y?.p50 ?? null,
        p90_a: x.p90,
        p90_b: y?.p90 ?? null,
      });
      checked++;
    }
    expect(checked).toBeGreaterThan(500);
    expect(got.get(dropped)).toMatchObject({ count_b: 0, p50_b: null, p50_diff: null });
  }, 120_000);

  test("self summed over every name = the threads' busy time in each trace; largest change first", () => {
    const [s] = queryRows(
      lake,
      "SELECT sum(self_a) AS self_a, sum(self_b) AS self_b FROM compare_traces('full', 'filtered', 'thread_spans')",
    );
    expect(s).toEqual({ self_a: busy(a), self_b: busy(b) });
    expect(busy(a)).not.toBe(busy(b));
    const first = queryRows(lake, "SELECT name FROM compare_traces('full', 'filtered') LIMIT 2").map((r) => r.name);
    const sa = stats(a);
    const sb = stats(b);
    const change = (n: string) => Math.abs((sb.get(n)?.total ?? 0) - (sa.get(n)?.total ?? 0));
    expect(first).toEqual([halved, dropped].sort((x, y) => change(y) - change(x)));
    // tracelake diff: the same rows, in ms, largest change first.
    const d = cli(lake, ["diff", "full", "filtered", "-f", "csv"]);
    expect(d.code).toBe(0);
    const lines = d.stdout.trim().split("\n");
    expect(lines[0]).toStartWith("name,count_a,count_b,count_diff,total_a_ms,total_b_ms,total_diff_ms,self_a_ms");
    expect(lines[1]).toStartWith(`${first[0]},`);
    expect(lines[1]).toContain(
      `,${(((sb.get(first[0] as string)?.total ?? 0) - (sa.get(first[0] as string)?.total ?? 0)) / 1e6).toFixed(3).replace(/\.?0+$/, "")},`,
    );
  }, 120_000);

  test("errors name the problem: an unknown trace, a view without durations, non-literal arguments", () => {
    const none = cli(lake, ["query", "SELECT * FROM compare_traces('full', 'nosuch')"]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain("compare_traces: no trace matches 'nosuch'");
    const view = cli(lake, ["query", "SELECT * FROM compare_traces('full', 'filtered', 'log_entries')"]);
    expect(view.code).toBe(1);
    expect(view.stderr).toContain("cannot compare 'log_entries'");
    const expr = cli(lake, ["query", "SELECT * FROM compare_traces('fu' || 'll', 'filtered')"]);
    expect(expr.code).toBe(1);
    expect(expr.stderr).toContain("literal strings");
  }, 120_000);
});
