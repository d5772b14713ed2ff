/**
 * Measure units on export: `measures.unit` (from OTLP metrics here) becomes the counter track's
 * CounterDescriptor `unit` enum where the enum has the unit (reference/perfetto.md §2.6:
 * UNIT_TIME_NS = 1, UNIT_COUNT = 2, UNIT_SIZE_BYTES = 3), else `unit_name`; importing the trace
 * again gives each measure its unit text back. Log levels become LogMessage priorities.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUN, cli, ROOT, tempDir } from "../helpers.ts";
import { decodeTrace, LINT } from "./decode.ts";

/** unit text → [CounterDescriptor.unit, unit_name] expected (from the proto, not from the code). */
const EXPECTED: Record<string, [number, string | null]> = {
  By: [3, "By"], // UCUM bytes: the enum for the UI, the text so that it comes back as written
  bytes: [3, null],
  ns: [1, null],
  count: [2, null],
  ms: [0, "ms"],
  "1": [0, "1"],
  "{request}": [0, "{request}"],
  "": [0, null],
};

/** An OTLP ExportMetricsServiceRequest with one gauge per unit of EXPECTED, and logs at each severity. */
function requests(): string {
  const t0 = 1_700_000_000_000_000_000n;
  const metrics = Object.keys(EXPECTED).map((unit, k) => ({
    name: `m${k}`,
    unit,
    gauge: {
      dataPoints: [0, 1].map((j) => ({ timeUnixNano: String(t0 + BigInt(k * 10 + j) * 1000n), asDouble: k + j / 2 })),
    },
  }));
  const resource = { attributes: [{ key: "service.name", value: { stringValue: "units" } }] };
  const logs = [1, 5, 9, 13, 17, 21].map((sev, k) => ({
    timeUnixNano: String(t0 + BigInt(k) * 7n),
    severityNumber: sev,
    body: { stringValue: `severity ${sev}` },
  }));
  return [
    JSON.stringify({ resourceMetrics: [{ resource, scopeMetrics: [{ scope: { name: "s" }, metrics }] }] }),
    JSON.stringify({ resourceLogs: [{ resource, scopeLogs: [{ scope: { name: "s" }, logRecords: logs }] }] }),
  ].join("\n");
}

let dir: string;
let a: string;
let trace: string;

/** CSV rows of a query (header dropped). */
function csv(lake: string, sql: string): string[] {
  const r = cli(lake, ["query", "-f", "csv", sql]);
  expect(r.stderr).toBe("");
  return r.stdout.trim().split("\n").slice(1);
}

beforeAll(() => {
  dir = tempDir("tl-units-");
  a = join(dir, "a");
  const input = join(dir, "otlp.jsonl");
  writeFileSync(input, requests());
  expect(cli(a, ["ingest", input]).code).toBe(0);
  expect(cli(a, ["ingest", join(ROOT, "fixtures/otel/otel_js_sdk_metrics.json")]).code).toBe(0);
  trace = join(dir, "units.pftrace");
  expect(cli(a, ["export", "perfetto", "--all", "-o", trace]).code).toBe(0);
}, 120_000);

describe("export perfetto: measure units and log levels", () => {
  test("each counter track carries its measure's unit as CounterDescriptor unit / unit_name", () => {
    const d = decodeTrace(readFileSync(trace));
    const units = new Map(
      csv(a, "SELECT DISTINCT name || '\t' || coalesce(unit, '') FROM measures").map((l) => {
        const [n, u] = l.split("\t");
        return [n as string, u ?? ""]; // the last line's trailing tab is trimmed away
      }),
    );
    const counters = [...d.tracks.values()].filter((t) => t.kind === "counter");
    expect(counters.length).toBe(units.size);
    // The real SDK fixture's units ('1', 'ms', none) are among the cases.
    for (const t of counters) {
      const unit = units.get(t.name as string);
      expect(units.has(t.name as string)).toBe(true);
      const want = EXPECTED[unit as string];
      expect(want).toBeDefined();
      expect([t.name, t.unit, t.unitName]).toEqual([t.name, ...(want as [number, string | null])]);
    }
    for (const u of Object.keys(EXPECTED)) expect([...units.values()]).toContain(u);
    const lint = Bun.spawnSync([BUN, LINT, "--strict", "--quiet", trace]);
    expect(lint.stdout.toString()).toContain(", 0 errors");
    expect(lint.exitCode).toBe(0);
  });

  test("log levels become LogMessage priorities (FATAL 7, ERROR 6, WARN 5, INFO 4, DEBUG 3, VERBOSE 2)", () => {
    const d = decodeTrace(readFileSync(trace));
    // micromegas level (1 fatal … 6 trace) → android_LogPriority as LogMessage.Priority uses it.
    const prioOf = [0, 7, 6, 5, 4, 3, 2];
    const levels = csv(a, "SELECT msg || '\t' || level FROM log_entries");
    expect(levels.length).toBe(6);
    const want = levels.map((l) => {
      const [msg, level] = l.split("\t");
      return `${msg} ${prioOf[Number(level)]}`;
    });
    expect(d.logs.map((l) => `${l.body} ${l.prio}`).sort()).toEqual(want.sort());
  });

  test("importing the trace gives every measure its unit text back", () => {
    const b = join(dir, "b");
    expect(cli(b, ["ingest", trace]).code).toBe(0);
    const sql = "SELECT DISTINCT name || '\t' || coalesce(unit, '') AS u FROM measures ORDER BY u";
    expect(csv(b, sql)).toEqual(csv(a, sql));
    const levels = "SELECT level, count(*) FROM log_entries GROUP BY level ORDER BY level";
    expect(csv(b, levels)).toEqual(csv(a, levels));
  });
});
