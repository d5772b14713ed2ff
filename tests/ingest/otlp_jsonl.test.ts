/**
 * OTLP JSON and JSON-lines logs ingest: hand-made inputs with the expected rows written out
 * here, real OTLP JSON written by the OpenTelemetry JS SDK's serializers (fixtures/otel, made by
 * fixtures/otel/generate.mjs.txt with @opentelemetry/sdk-trace-base, sdk-metrics 2.12.1, sdk-logs
 * and otlp-transformer 0.223.1) checked against the JSON itself, and bad inputs.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { timestampToNs } from "../../lib/ingest/jsonl.ts";
import { cli, ROOT, snapshot, tempDir } from "../helpers.ts";

const T = 120_000;

function query<R>(lake: string, sql: string): R[] {
  const r = cli(lake, ["query", "-f", "json", sql]);
  if (r.code !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as R[];
}

interface Summary {
  format: string;
  eventsFound: number;
  phases: { ph: string; dest: string; reason: string | null; count: number }[];
}

function ingest(lake: string, args: string[]): Summary {
  const r = cli(lake, ["ingest", "--json", ...args]);
  if (r.code !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout.trim().split("\n").at(-1) as string) as Summary;
}

const resource = (name: string) => ({
  attributes: [
    { key: "service.name", value: { stringValue: name } },
    { key: "process.pid", value: { intValue: "4242" } },
  ],
});

describe("OTLP JSON", () => {
  const dir = tempDir();
  const lake = join(dir, "lake");

  test(
    "a pretty-printed trace request: hex ids, string and number 64-bit ints, enum names and numbers",
    () => {
      const req = {
        resourceSpans: [
          {
            resource: resource("checkout"),
            scopeSpans: [
              {
                scope: { name: "my.lib", version: "1.0" },
                spans: [
                  {
                    traceId: "5B8EFFF798038103D269B633813FC60C",
                    spanId: "EEE19B7EC3C1B174",
                    parentSpanId: "",
                    name: "GET /cart",
                    kind: 2,
                    startTimeUnixNano: "1544712660000000001",
                    endTimeUnixNano: "1544712661000000002",
                    attributes: [
                      { key: "http.status_code", value: { intValue: 200 } },
                      { key: "thread.id", value: { intValue: "7" } },
                      { key: "thread.name", value: { stringValue: "worker-7" } },
                    ],
                    events: [{ timeUnixNano: "1544712660500000000", name: "cache miss" }],
                    status: { code: "STATUS_CODE_ERROR", message: "boom" },
                  },
                  {
                    trace_id: "5b8efff798038103d269b633813fc60c",
                    span_id: "eee19b7ec3c1b175",
                    parent_span_id: "eee19b7ec3c1b174",
                    name: "SELECT",
                    kind: "SPAN_KIND_CLIENT",
                    start_time_unix_nano: "1544712660100000000",
                    end_time_unix_nano: "1544712660200000000",
                  },
                ],
              },
            ],
          },
        ],
      };
      const file = join(dir, "traces.json");
      writeFileSync(file, JSON.stringify(req, null, 2));
      const s = ingest(lake, [file]);
      expect(s.format).toBe("otlp_json");
      const rows = query<Record<string, unknown>>(
        lake,
        `SELECT event_type, name, target, epoch_ns(time)::VARCHAR AS t, tid, thread_name, async_id, anomaly,
           properties->>'trace_id' AS trace_id, properties->>'parent_span_id' AS parent, properties->>'kind' AS kind,
           properties->>'status_code' AS status
         FROM async_events ORDER BY time`,
      );
      const span1 = { target: "my.lib", tid: 7, thread_name: "worker-7", anomaly: null };
      const t1 = { trace_id: "5b8efff798038103d269b633813fc60c", parent: null, kind: "server", status: "error" };
      const none = { trace_id: null, parent: null, kind: null, status: null };
      expect(rows).toEqual([
        {
          event_type: "begin",
          name: "GET /cart",
          t: "1544712660000000001",
          async_id: "eee19b7ec3c1b174",
          ...span1,
          ...t1,
        },
        {
          event_type: "begin",
          name: "SELECT",
          t: "1544712660100000000",
          async_id: "eee19b7ec3c1b175",
          ...span1,
          tid: 0,
          thread_name: null,
          trace_id: "5b8efff798038103d269b633813fc60c",
          parent: "eee19b7ec3c1b174",
          kind: "client",
          status: "unset",
        },
        {
          event_type: "end",
          name: "SELECT",
          t: "1544712660200000000",
          async_id: "eee19b7ec3c1b175",
          ...span1,
          tid: 0,
          thread_name: null,
          ...none,
        },
        {
          event_type: "instant",
          name: "cache miss",
          t: "1544712660500000000",
          async_id: "eee19b7ec3c1b174",
          ...span1,
          ...none,
        },
        {
          event_type: "end",
          name: "GET /cart",
          t: "1544712661000000002",
          async_id: "eee19b7ec3c1b174",
          ...span1,
          ...none,
        },
      ]);
      const p = query<Record<string, unknown>>(
        lake,
        "SELECT exe, source_pid, properties->>'$.resource.\"service.name\"' AS svc FROM processes",
      );
      expect(p).toEqual([{ exe: "checkout", source_pid: "4242", svc: "checkout" }]);
    },
    T,
  );

  test(
    "collector file exporter form: logs and metrics requests, one per line",
    () => {
      const logs = {
        resourceLogs: [
          {
            resource: resource("inventory"),
            scopeLogs: [
              {
                scope: { name: "app" },
                logRecords: [
                  {
                    timeUnixNano: "1544712660300000000",
                    severityNumber: "SEVERITY_NUMBER_WARN",
                    severityText: "Warning",
                    body: { stringValue: "low stock" },
                    attributes: [{ key: "sku", value: { stringValue: "A1" } }],
                    spanId: "eee19b7ec3c1b174",
                  },
                  {
                    observedTimeUnixNano: "1544712660400000000",
                    severityNumber: 17,
                    body: { kvlistValue: { values: [{ key: "a", value: { intValue: "1" } }] } },
                  },
                  { timeUnixNano: "1544712660500000000", severityText: "debug", body: { stringValue: "text level" } },
                ],
              },
            ],
          },
        ],
      };
      const metrics = {
        resourceMetrics: [
          {
            resource: resource("inventory"),
            scopeMetrics: [
              {
                scope: { name: "meter" },
                metrics: [
                  {
                    name: "queue.depth",
                    unit: "1",
                    gauge: {
                      dataPoints: [
                        { timeUnixNano: "1544712660000000000", asInt: "3" },
                        { timeUnixNano: "1544712661000000000", asDouble: 4.5 },
                      ],
                    },
                  },
                  {
                    name: "latency",
                    unit: "ms",
                    histogram: {
                      aggregationTemporality: 2,
                      dataPoints: [{ timeUnixNano: "1544712662000000000", count: "4", sum: 10.5, min: 1, max: 5 }],
                    },
                  },
                  {
                    name: "rt",
                    summary: {
                      dataPoints: [
                        {
                          timeUnixNano: "1544712663000000000",
                          count: "2",
                          sum: 3,
                          quantileValues: [
                            { quantile: 0.5, value: 1 },
                            { quantile: 0.99, value: 2 },
                          ],
                        },
                      ],
                    },
                  },
                ],
              },
            ],
          },
        ],
      };
      const file = join(dir, "collector.jsonl");
      writeFileSync(file, `${JSON.stringify(logs)}\n${JSON.stringify(metrics)}\n`);
      const s = ingest(lake, [file]);
      expect(s.format).toBe("otlp_json");
      expect(s.eventsFound).toBe(2);
      const l = query<Record<string, unknown>>(
        lake,
        `SELECT epoch_ns(time)::VARCHAR AS t, level, target, msg, l.properties->>'sku' AS sku, l.properties->>'span_id' AS span
         FROM log_entries l JOIN processes p USING (process_id) WHERE p.exe = 'inventory' ORDER BY time`,
      );
      expect(l).toEqual([
        { t: "1544712660300000000", level: 3, target: "app", msg: "low stock", sku: "A1", span: "eee19b7ec3c1b174" },
        { t: "1544712660400000000", level: 2, target: "app", msg: '{"a":1}', sku: null, span: null },
        { t: "1544712660500000000", level: 5, target: "app", msg: "text level", sku: null, span: null },
      ]);
      const m = query<Record<string, unknown>>(
        lake,
        "SELECT epoch_ns(time)::VARCHAR AS t, name, unit, value, properties->>'quantile' AS q FROM measures ORDER BY time, name, value",
      );
      expect(m).toEqual([
        { t: "1544712660000000000", name: "queue.depth", unit: "1", value: 3, q: null },
        { t: "1544712661000000000", name: "queue.depth", unit: "1", value: 4.5, q: null },
        { t: "1544712662000000000", name: "latency.count", unit: "ms", value: 4, q: null },
        { t: "1544712662000000000", name: "latency.max", unit: "ms", value: 5, q: null },
        { t: "1544712662000000000", name: "latency.min", unit: "ms", value: 1, q: null },
        { t: "1544712662000000000", name: "latency.sum", unit: "ms", value: 10.5, q: null },
        { t: "1544712663000000000", name: "rt", unit: null, value: 1, q: "0.5" },
        { t: "1544712663000000000", name: "rt", unit: null, value: 2, q: "0.99" },
        { t: "1544712663000000000", name: "rt.count", unit: null, value: 2, q: null },
        { t: "1544712663000000000", name: "rt.sum", unit: null, value: 3, q: null },
      ]);
    },
    T,
  );

  test(
    "real OTLP JSON from the OpenTelemetry JS SDK: spans, logs and metrics match the JSON",
    () => {
      const tracesFile = join(ROOT, "fixtures/otel/otel_js_sdk_traces.json");
      const logsFile = join(ROOT, "fixtures/otel/otel_js_sdk_logs.json");
      const l2 = join(dir, "lake2");
      ingest(l2, [tracesFile, logsFile]);
      // The oracle: the spans as the JSON holds them.
      type Sp = {
        spanId: string;
        name: string;
        startTimeUnixNano: string;
        endTimeUnixNano: string;
        parentSpanId?: string;
      };
      const req = JSON.parse(readFileSync(tracesFile, "utf8"));
      const spans: Sp[] = req.resourceSpans.flatMap((r: { scopeSpans: { spans: Sp[] }[] }) =>
        r.scopeSpans.flatMap((s) => s.spans),
      );
      expect(spans.length).toBe(9);
      const got = query<{ id: string; name: string; b: string; e: string; parent: string | null }>(
        l2,
        `SELECT async_id AS id, any_value(name) AS name,
           epoch_ns(min(time) FILTER (WHERE event_type = 'begin'))::VARCHAR AS b,
           epoch_ns(max(time) FILTER (WHERE event_type = 'end'))::VARCHAR AS e,
           any_value(properties->>'parent_span_id') FILTER (WHERE event_type = 'begin') AS parent
         FROM async_events WHERE anomaly IS NULL AND event_type <> 'instant' GROUP BY async_id ORDER BY async_id`,
      );
      expect(got).toEqual(
        spans
          .map((s) => ({
            id: s.spanId,
            name: s.name,
            b: s.startTimeUnixNano,
            e: s.endTimeUnixNano,
            parent: s.parentSpanId || null,
          }))
          .sort((a, b) => (a.id < b.id ? -1 : 1)),
      );
      const logs = JSON.parse(readFileSync(logsFile, "utf8")).resourceLogs[0].scopeLogs[0].logRecords as {
        severityNumber: number;
      }[];
      const levels = query<{ level: number }>(l2, "SELECT level FROM log_entries ORDER BY time, msg").map(
        (r) => r.level,
      );
      expect(levels.sort()).toEqual(
        logs.map((r) => [6, 5, 4, 3, 2, 1][Math.floor((r.severityNumber - 1) / 4)] as number).sort(),
      );
      const p = query<{ exe: string; n: number }>(l2, "SELECT exe, count(*)::INTEGER AS n FROM processes GROUP BY exe");
      expect(p).toEqual([{ exe: "otel-demo", n: 2 }]);

      // Metrics: the measures equal the data points as the JSON holds them.
      const metricsFile = join(ROOT, "fixtures/otel/otel_js_sdk_metrics.json");
      const l3 = join(dir, "lake3");
      ingest(l3, [metricsFile]);
      type Pt = {
        timeUnixNano: string;
        asDouble?: number;
        asInt?: string;
        count?: number;
        sum?: number;
        min?: number;
        max?: number;
      };
      type Metric = {
        name: string;
        unit: string;
        gauge?: { dataPoints: Pt[] };
        sum?: { dataPoints: Pt[] };
        histogram?: { dataPoints: Pt[] };
      };
      const metrics: Metric[] = JSON.parse(readFileSync(metricsFile, "utf8")).resourceMetrics[0].scopeMetrics[0]
        .metrics;
      const want: string[] = [];
      for (const m of metrics) {
        for (const pt of [...(m.gauge?.dataPoints ?? []), ...(m.sum?.dataPoints ?? [])])
          want.push(`${m.name}|${m.unit || null}|${pt.asDouble ?? Number(pt.asInt)}|${pt.timeUnixNano}`);
        for (const pt of m.histogram?.dataPoints ?? [])
          for (const f of ["count", "sum", "min", "max"] as const)
            if (pt[f] !== undefined) want.push(`${m.name}.${f}|${m.unit || null}|${pt[f]}|${pt.timeUnixNano}`);
      }
      const measured = query<{ name: string; unit: string | null; value: number; t: string }>(
        l3,
        "SELECT name, unit, value, epoch_ns(time)::VARCHAR AS t FROM measures",
      ).map((r) => `${r.name}|${r.unit}|${r.value}|${r.t}`);
      expect(measured.sort()).toEqual(want.sort());
      expect(want.length).toBe(7);
    },
    T,
  );
});

describe("JSON-lines logs", () => {
  const dir = tempDir();
  const lake = join(dir, "lake");

  test("timestamps: ISO 8601 with zone and fraction, epoch s/ms/µs/ns by magnitude (exact digits)", () => {
    const at = 1_700_000_000_123_456_789n;
    expect(timestampToNs("2023-11-14T22:13:20.123456789Z")).toBe(at);
    expect(timestampToNs("2023-11-14T23:13:20.123456789+01:00")).toBe(at);
    expect(timestampToNs("2023-11-14 22:13:20.123456789")).toBe(at);
    expect(timestampToNs(1700000000.5)).toBe(1_700_000_000_500_000_000n);
    expect(timestampToNs("1700000000.123456789")).toBe(at);
    expect(timestampToNs(1700000000123)).toBe(1_700_000_000_123_000_000n);
    expect(timestampToNs(1700000000123456)).toBe(1_700_000_000_123_456_000n);
    expect(timestampToNs(0, "1700000000123456789")).toBe(at);
    expect(timestampToNs("yesterday")).toBeNull();
    expect(timestampToNs("2023-13-01T00:00:00Z")).toBeNull();
  });

  test("a line nested 100,000 deep is skipped and counted; the lines around it are ingested", () => {
    // JSON.parse takes the line, JSON.stringify of its properties overflowed the stack and the
    // whole file was refused (exit 70, 'Maximum call stack size exceeded').
    const deep = `{"time":2,"msg":"deep","a":${"[".repeat(100_000)}${"]".repeat(100_000)}}`;
    const file = join(dir, "deep.jsonl");
    writeFileSync(file, `{"time":1,"msg":"before"}\n${deep}\n{"time":3,"msg":"after"}\n`);
    const deepLake = join(dir, "deep-lake");
    const r = cli(deepLake, ["ingest", "--json", file]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const q = cli(deepLake, ["query", "-f", "csv", "SELECT msg FROM log_entries ORDER BY time"]);
    expect(q.stdout).toBe("msg\nbefore\nafter\n");
    expect(r.stdout).toContain("JSON nested too deeply");
  }, 60_000);

  test(
    "levels, messages, targets, properties; bad lines counted; --process-name; gzip",
    () => {
      const lines = [
        '{"level":30,"time":1700000000123,"pid":4242,"hostname":"box","msg":"server started","port":8080}',
        '{"level":"ERROR","@timestamp":"2023-11-14T23:13:20.5+01:00","message":"db down","logger":"db","err":{"code":"E1"}}',
        "",
        '{"ts":1700000000.25,"msg":"float seconds","lvl":"debug","tid":7}',
        '{"ts":1700000000123456789,"msg":"ns","severity":"warning"}',
        "not json",
        '{"msg":"no time"}',
        '{"time":"2023-11-14 22:13:20","msg":"no zone","level":60}',
        "[1,2]",
        '{"ts":1e30,"msg":"beyond int64 ns"}',
        '{"time":"2023-11-14T25:99:00Z","msg":"not a time"}',
      ];
      const file = join(dir, "service.log");
      writeFileSync(file, gzipSync(`${lines.join("\n")}\n`));
      const s = ingest(lake, ["--process-name", "api ../x", file]);
      expect(s.format).toBe("jsonl");
      const skipped = s.phases.filter((p) => p.dest === "skipped").map((p) => [p.reason, p.count]);
      expect(skipped.sort()).toEqual([
        ["no timestamp field (@timestamp, timestamp, time, ts)", 1],
        ["not JSON", 1],
        ["not a JSON object", 1],
        ["timestamp is neither ISO 8601 nor an epoch number", 2],
      ]);
      const rows = query<Record<string, unknown>>(
        lake,
        `SELECT epoch_ns(time)::VARCHAR AS t, level, target, msg, properties::VARCHAR AS props, tid, exe
         FROM log_entries ORDER BY time, msg`,
      );
      expect(rows).toEqual([
        { t: "1700000000000000000", level: 1, target: null, msg: "no zone", props: null, tid: null, exe: "api ../x" },
        {
          t: "1700000000123000000",
          level: 4,
          target: null,
          msg: "server started",
          props: '{"pid":4242,"hostname":"box","port":8080}',
          tid: null,
          exe: "api ../x",
        },
        { t: "1700000000123456789", level: 3, target: null, msg: "ns", props: null, tid: null, exe: "api ../x" },
        {
          t: "1700000000250000000",
          level: 5,
          target: null,
          msg: "float seconds",
          props: null,
          tid: 7,
          exe: "api ../x",
        },
        {
          t: "1700000000500000000",
          level: 2,
          target: "db",
          msg: "db down",
          props: '{"err":{"code":"E1"}}',
          tid: null,
          exe: "api ../x",
        },
      ]);
      const p = query<Record<string, unknown>>(lake, "SELECT source_pid, trace_format FROM processes");
      expect(p).toEqual([{ source_pid: "4242", trace_format: "jsonl" }]);
    },
    T,
  );
});

describe("lone UTF-16 surrogates in JSON-lines properties", () => {
  test(
    "become U+FFFD in the stored args, and log_entries stays readable",
    () => {
      const lake = tempDir();
      const dir = tempDir("tl-sur-");
      const f = join(dir, "sur.jsonl");
      // Escapes as JSON.stringify writes lone surrogates; a valid pair, and an escaped backslash
      // before "ud800" (text, not an escape) must stay as they are.
      writeFileSync(
        f,
        [
          String.raw`{"time":"2026-01-01T00:00:00Z","msg":"one","a":"x\ud800y","b":"\udc00","c":"\ud83d\ude00","d":"\\ud800"}`,
          String.raw`{"time":"2026-01-01T00:00:01Z","msg":"two","e":"z\ud800"}`,
          "",
        ].join("\n"),
      );
      ingest(lake, [f]);
      const rows = query<{ msg: string; p: string }>(
        lake,
        "SELECT msg, properties::VARCHAR AS p FROM log_entries ORDER BY time",
      );
      expect(rows.map((r) => r.msg)).toEqual(["one", "two"]);
      // The oracle: JS's own reading of each line, every string made well-formed.
      const src = readFileSync(f, "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as Record<string, string>);
      const props = rows.map((r) => JSON.parse(r.p) as Record<string, string>);
      expect(props[0]?.a).toBe((src[0]?.a as string).toWellFormed());
      expect(props[0]?.a).toBe("x\ufffdy");
      expect(props[0]?.b).toBe("\ufffd");
      expect(props[0]?.c).toBe("\u{1f600}");
      expect(props[0]?.d).toBe("\\ud800");
      expect(props[1]?.e).toBe("z\ufffd");
    },
    T,
  );
});

describe("OTLP and JSON-lines: bad input leaves the lake untouched", () => {
  const dir = tempDir();
  const lake = join(dir, "lake");
  const write = (name: string, text: string): string => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  test(
    "clear errors, nothing written",
    async () => {
      ingest(lake, [write("ok.jsonl", '{"time":1700000000,"msg":"ok"}\n')]);
      const before = await snapshot(lake);
      const cases: [string, string[], string][] = [
        ["OTLP cut short", [write("cut.json", '{"resourceSpans": [{"resource": {')], "not valid OTLP JSON"],
        [
          "OTLP lines that are not requests",
          ["--format", "otlp_json", write("x.otlp", '{"resourceSpanz": []}\n')],
          "no OTLP export request",
        ],
        [
          "--format otlp_json on a log",
          ["--format", "otlp_json", write("l.jsonl", '{"time":1,"msg":"a"}\n')],
          "no OTLP export request",
        ],
        [
          "JSON lines without any timestamp",
          ["--format", "jsonl", write("nots.jsonl", '{"msg":"a"}\n{"msg":"b"}\n')],
          "no importable",
        ],
        ["--format nonsense", ["--format", "nonsense", write("y.jsonl", "{}")], "not a format tracelake reads"],
      ];
      for (const [what, args, mention] of cases) {
        const r = cli(lake, ["ingest", ...args]);
        expect(r.code, what).not.toBe(0);
        expect(r.stderr, what).toContain(mention);
        expect(r.stderr, what).not.toContain("    at ");
      }
      expect(await snapshot(lake)).toEqual(before);
    },
    T,
  );
});
