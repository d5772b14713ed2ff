/**
 * README "Questions and answers" (issue 24): each one-line SQL of the section, read from the
 * README itself, runs through `tracelake query` on a lake of a real sample, and its rows equal an
 * independent answer: trace_processor v58.2 running the same SQL on the same file (questions 1-8,
 * on trace_processor's tables; skipped where trace_processor_shell cannot run), or DuckDB over
 * `raw_events` (9, 10: tracelake's own views).
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cli, ROOT, tempDir } from "../helpers.ts";

const TP = process.env.TRACE_PROCESSOR_SHELL ?? "/work/shared/tools/trace_processor_shell";
const tpRuns = existsSync(TP) && Bun.spawnSync([TP, "--version"]).exitCode === 0;
const JSON_TRACE = join(ROOT, "fixtures", "chromium_startup.json.gz");
const PROTO_TRACE = join(ROOT, "fixtures", "chromium_startup.pftrace.gz");

/** The SQL of each numbered question of README "Questions and answers", in order. */
function readmeQuestions(): string[] {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const start = readme.indexOf("#### Questions and answers");
  const end = readme.indexOf("\n### ", start);
  const section = readme.slice(start, end);
  return [...section.matchAll(/```sql\n\s*(.*?)\n\s*```/g)].map((m) => m[1] as string);
}

/** Rows of a CSV with a header (RFC 4180 quoting), numbers as numbers (rounded to 1e-6). */
function csvRows(text: string): (string | number)[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let i = 0;
  let cell = "";
  let quoted = false;
  while (i < text.length) {
    const c = text[i] as string;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i += 2;
        continue;
      }
      if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      row.push(cell);
      cell = "";
    } else if (c === "\n") {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = "";
    } else if (c !== "\r") cell += c;
    i++;
  }
  if (cell !== "" || row.length > 0) rows.push([...row, cell]);
  const num = (v: string): string | number =>
    v !== "" && Number.isFinite(Number(v)) ? Math.round(Number(v) * 1e6) / 1e6 : v;
  return rows.slice(1).map((r) => r.map(num));
}

/** Rows of `sql` through tracelake on `lake`. */
function ours(lake: string, sql: string): (string | number)[][] {
  const r = cli(lake, ["query", "-f", "csv", sql]);
  if (r.code !== 0) throw new Error(`${sql}\n${r.stderr}`);
  return csvRows(r.stdout);
}

/** Rows of `sql` through trace_processor on `trace`. */
function tp(trace: string, sql: string): (string | number)[][] {
  const q = join(tempDir(), "q.sql");
  writeFileSync(q, sql);
  const r = Bun.spawnSync([TP, "-q", q, trace], { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`trace_processor_shell failed: ${r.stderr.toString()}`);
  return csvRows(r.stdout.toString().trim());
}

const questions = readmeQuestions();
let jsonLake = "";
let protoLake = "";
beforeAll(() => {
  jsonLake = join(tempDir(), "json");
  protoLake = join(tempDir(), "proto");
  for (const [lake, trace] of [
    [jsonLake, JSON_TRACE],
    [protoLake, PROTO_TRACE],
  ] as const) {
    const r = cli(lake, ["ingest", trace]);
    if (r.code !== 0) throw new Error(r.stderr);
  }
});

test("the README has ten questions, one line of SQL each", () => {
  expect(questions.length).toBe(10);
  for (const q of questions) expect(q).not.toContain("\n");
});

describe.skipIf(!tpRuns)("questions 1-8: the same rows as trace_processor on the same file", () => {
  for (let k = 0; k < 8; k++) {
    test(`question ${k + 1}`, () => {
      const sql = questions[k] as string;
      const expected = tp(JSON_TRACE, sql);
      expect(expected.length).toBeGreaterThan(0);
      expect(ours(jsonLake, sql)).toEqual(expected);
    }, 120_000);
  }
});

test("question 9 (median and p90 of a task): DuckDB over raw_events (X events only carry that name)", () => {
  const sql = questions[8] as string;
  const oracle = ours(
    jsonLake,
    `SELECT count(*) AS n, median(dur) AS p50, quantile_cont(dur, 0.9) AS p90 FROM raw_events
     WHERE name = 'WorkerThread active' AND ph = 'X'`,
  );
  const kinds = ours(jsonLake, "SELECT DISTINCT ph FROM raw_events WHERE name = 'WorkerThread active'");
  expect(kinds).toEqual([["X"]]);
  expect((oracle[0] as number[])[0]).toBeGreaterThan(100);
  expect(ours(jsonLake, sql)).toEqual(oracle);
}, 120_000);

test("question 10 (counter values, protobuf sample): DuckDB over raw_events' V rows", () => {
  const sql = questions[9] as string;
  const oracle = ours(
    protoLake,
    `SELECT name, count(*) AS samples, min(v) AS low, max(v) AS peak
     FROM (SELECT name, TRY_CAST(args->>'$.value' AS DOUBLE) AS v FROM raw_events WHERE ph = 'V')
     GROUP BY name ORDER BY peak DESC, name LIMIT 5`,
  );
  expect(oracle.length).toBe(5);
  expect(ours(protoLake, sql)).toEqual(oracle);
}, 120_000);
