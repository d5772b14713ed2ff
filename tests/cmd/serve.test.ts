/**
 * `tracelake serve`: the real OpenTelemetry JS SDK (sdk-trace-base, sdk-logs, sdk-metrics and
 * their OTLP/HTTP exporters, protobuf and JSON) sends known spans, log records and metrics to
 * `serve` run as a child process; `tracelake query` from another process (while serve runs)
 * must find exactly them. The oracle is the SDK's own record of what it sent (an in-memory
 * exporter beside the OTLP one) and the values the test recorded, never our decoder. Also: bad
 * and oversized bodies get the spec's statuses, a kill -9 in the middle of a stream leaves a lake
 * `tracelake check` finds whole, and Ctrl-C commits what was received.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { gzipSync } from "node:zlib";
import { context, SpanKind, trace } from "@opentelemetry/api";
import { SeverityNumber } from "@opentelemetry/api-logs";
import { OTLPLogExporter as LogsHttp } from "@opentelemetry/exporter-logs-otlp-http";
import { OTLPLogExporter as LogsProto } from "@opentelemetry/exporter-logs-otlp-proto";
import { OTLPMetricExporter as MetricsHttp } from "@opentelemetry/exporter-metrics-otlp-http";
import { OTLPMetricExporter as MetricsProto } from "@opentelemetry/exporter-metrics-otlp-proto";
import { OTLPTraceExporter as TraceHttp } from "@opentelemetry/exporter-trace-otlp-http";
import { OTLPTraceExporter as TraceProto } from "@opentelemetry/exporter-trace-otlp-proto";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { LoggerProvider, SimpleLogRecordProcessor } from "@opentelemetry/sdk-logs";
import { MeterProvider, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics";
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { BUN, cli, ROOT, tempDir } from "../helpers.ts";

/** A running `tracelake serve`. */
interface Served {
  proc: Bun.Subprocess;
  port: number;
  /** Everything it wrote on stderr so far. */
  stderr: () => string;
}

const running: Bun.Subprocess[] = [];
afterAll(() => {
  for (const p of running) if (p.exitCode === null) p.kill(9);
});

/** Starts `tracelake --lake LAKE serve --port 0 ...args`; resolves once it prints its port. */
async function startServe(lake: string, args: string[] = []): Promise<Served> {
  const proc = Bun.spawn([BUN, `${ROOT}/main.ts`, "--lake", lake, "serve", "--port", "0", ...args], {
    env: { ...process.env, NO_COLOR: "1" },
    stdout: "pipe",
    stderr: "pipe",
  });
  running.push(proc);
  let text = "";
  const reader = (proc.stderr as ReadableStream<Uint8Array>).getReader();
  let port = 0;
  while (port === 0) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`serve ended before printing its port: ${text}`);
    text += new TextDecoder().decode(value);
    const m = text.match(/receiving OTLP\/HTTP on http:\/\/127\.0\.0\.1:(\d+)/);
    if (m) port = Number(m[1]);
  }
  void (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      text += new TextDecoder().decode(value);
    }
  })();
  return { proc, port, stderr: () => text };
}

/** Rows of `tracelake query SQL -f json` (exit 0 asserted). */
function query<T>(lake: string, sql: string): T[] {
  const r = cli(lake, ["query", sql, "-f", "json"]);
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
  return JSON.parse(r.stdout) as T[];
}

/** Polls `fn` until it returns true (the data of the last commit window is visible), at most 10 s. */
async function eventually(fn: () => boolean): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (fn()) return;
    await Bun.sleep(100);
  }
}

const BASE_S = 1_760_000_000;
/** The known spans of one encoding: a root with an event, three children, a grandchild. */
function sendSpans(tracerProvider: BasicTracerProvider, tag: string): void {
  const tracer = tracerProvider.getTracer(`scope-${tag}`, "1.2.3");
  const root = tracer.startSpan(`root-${tag}`, {
    kind: SpanKind.SERVER,
    startTime: [BASE_S, 123_456_789],
    attributes: { "http.method": "GET", n: 42, ok: true, ratio: 0.5, list: ["a", "b"] },
  });
  root.addEvent("cache-miss", { key: "k1" }, [BASE_S, 200_000_000]);
  const rootCtx = trace.setSpan(context.active(), root);
  for (let i = 0; i < 3; i++) {
    const child = tracer.startSpan(
      `child-${tag}-${i}`,
      { kind: SpanKind.CLIENT, startTime: [BASE_S, 300_000_000 + i * 1000], attributes: { i } },
      rootCtx,
    );
    if (i === 1) {
      const g = tracer.startSpan(
        `grandchild-${tag}`,
        { startTime: [BASE_S, 300_500_000], attributes: { deep: "yes" } },
        trace.setSpan(rootCtx, child),
      );
      g.end([BASE_S, 300_600_001]);
    }
    child.end([BASE_S + 1, i]);
  }
  root.end([BASE_S + 2, 999]);
}

const hrNs = (t: [number, number]): string => (BigInt(t[0]) * 1_000_000_000n + BigInt(t[1])).toString();

describe("tracelake serve with the OpenTelemetry JS SDK", () => {
  const lake = `${tempDir("tl-serve-")}/lake`;
  let served: Served;
  const sent: Record<string, ReadableSpan[]> = {};

  test("spans in both encodings: exactly the SDK's spans, ids, parents, attributes and times", async () => {
    served = await startServe(lake, ["--max-body-mb", "4"]);
    for (const [tag, exporter] of [
      ["proto", new TraceProto({ url: `http://127.0.0.1:${served.port}/v1/traces` })],
      ["json", new TraceHttp({ url: `http://127.0.0.1:${served.port}/v1/traces` })],
    ] as const) {
      const memory = new InMemorySpanExporter();
      const provider = new BasicTracerProvider({
        resource: resourceFromAttributes({ "service.name": `svc-${tag}`, "process.pid": 4242 }),
        spanProcessors: [new BatchSpanProcessor(exporter), new SimpleSpanProcessor(memory)],
      });
      sendSpans(provider, tag);
      await provider.forceFlush();
      sent[tag] = [...memory.getFinishedSpans()];
      await provider.shutdown();
      expect(sent[tag]?.length).toBe(5);
    }
    type Row = { exe: string; async_id: string; name: string; phase: string; ts: string; target: string; p: string };
    const sql = `SELECT p.exe, a.async_id, a.name, a.phase, a.ts::VARCHAR AS ts, a.target, a.properties::VARCHAR AS p
      FROM async_events a JOIN processes p USING (process_id) WHERE a.phase IN ('b', 'e', 'n') ORDER BY a.ts, a.phase`;
    let rows: Row[] = [];
    await eventually(() => {
      rows = query<Row>(lake, sql);
      return rows.length >= 2 * (5 * 2 + 1);
    });
    // Per encoding: 5 spans → 5 begins + 5 ends, and the root's event.
    for (const tag of ["proto", "json"]) {
      const mine = rows.filter((r) => r.exe === `svc-${tag}`);
      expect(mine.length).toBe(11);
      for (const s of sent[tag] as ReadableSpan[]) {
        const ctx = s.spanContext();
        const b = mine.find((r) => r.async_id === ctx.spanId && r.phase === "b");
        const e = mine.find((r) => r.async_id === ctx.spanId && r.phase === "e");
        expect(b && e).toBeTruthy();
        const props = JSON.parse((b as Row).p);
        expect({
          name: b?.name,
          start: b?.ts,
          end: e?.ts,
          target: b?.target,
          trace: props.trace_id,
          parent: props.parent_span_id,
          kind: props.kind,
          attributes: props.attributes,
          scope_version: props.scope_version,
        }).toEqual({
          name: s.name,
          start: hrNs(s.startTime),
          end: hrNs(s.endTime),
          target: `scope-${tag}`,
          trace: ctx.traceId,
          parent: s.parentSpanContext?.spanId ?? null,
          kind: ["internal", "server", "client", "producer", "consumer"][s.kind],
          attributes: s.attributes,
          scope_version: "1.2.3",
        });
      }
      const ev = mine.find((r) => r.phase === "n");
      expect({ name: ev?.name, ts: ev?.ts, p: JSON.parse(ev?.p ?? "null") }).toEqual({
        name: "cache-miss",
        ts: hrNs([BASE_S, 200_000_000]),
        p: { key: "k1" },
      });
    }
    // One process per resource, its pid and resource kept.
    const procs = query<{ exe: string; pid: string }>(
      lake,
      "SELECT exe, source_pid AS pid FROM processes ORDER BY exe",
    );
    expect(procs).toEqual([
      { exe: "svc-json", pid: "4242" },
      { exe: "svc-proto", pid: "4242" },
    ]);
  }, 60_000);

  test("logs and metrics in both encodings land in log_entries and measures", async () => {
    for (const [tag, logExp, metricExp] of [
      [
        "proto",
        new LogsProto({ url: `http://127.0.0.1:${served.port}/v1/logs` }),
        new MetricsProto({ url: `http://127.0.0.1:${served.port}/v1/metrics` }),
      ],
      [
        "json",
        new LogsHttp({ url: `http://127.0.0.1:${served.port}/v1/logs` }),
        new MetricsHttp({ url: `http://127.0.0.1:${served.port}/v1/metrics` }),
      ],
    ] as const) {
      const resource = resourceFromAttributes({ "service.name": `svc-${tag}`, "process.pid": 4242 });
      const logs = new LoggerProvider({ resource, processors: [new SimpleLogRecordProcessor({ exporter: logExp })] });
      const logger = logs.getLogger(`logs-${tag}`);
      logger.emit({
        timestamp: [BASE_S, 5],
        severityNumber: SeverityNumber.WARN,
        severityText: "WARN",
        body: `disk almost full (${tag})`,
        attributes: { free_mb: 12 },
      });
      logger.emit({ timestamp: [BASE_S, 6], severityNumber: SeverityNumber.ERROR, body: `failed (${tag})` });
      await logs.forceFlush();
      await logs.shutdown();
      const reader = new PeriodicExportingMetricReader({ exporter: metricExp, exportIntervalMillis: 600_000 });
      const meters = new MeterProvider({ resource, readers: [reader] });
      const meter = meters.getMeter(`meter-${tag}`);
      const counter = meter.createCounter(`requests_${tag}`, { unit: "1" });
      counter.add(5, { route: "/a" });
      counter.add(7, { route: "/a" });
      const hist = meter.createHistogram(`latency_${tag}`, { unit: "ms" });
      for (const v of [1, 10, 100]) hist.record(v);
      // shutdown exports once (a forceFlush before it would export the cumulative points twice).
      await meters.shutdown();
    }
    type Log = { exe: string; level: number; msg: string; ts: string; target: string; p: string };
    let logRows: Log[] = [];
    type M = { exe: string; name: string; value: number; unit: string | null };
    let measures: M[] = [];
    await eventually(() => {
      logRows = query<Log>(
        lake,
        `SELECT exe, level, msg, ts::VARCHAR AS ts, target, properties::VARCHAR AS p FROM log_entries ORDER BY exe, ts`,
      );
      measures = query<M>(lake, "SELECT exe, name, value, unit FROM measures ORDER BY exe, name");
      return logRows.length >= 4 && measures.length >= 10;
    });
    expect(logRows.map((r) => ({ ...r, p: JSON.parse(r.p) }))).toEqual([
      {
        exe: "svc-json",
        level: 3,
        msg: "disk almost full (json)",
        ts: hrNs([BASE_S, 5]),
        target: "logs-json",
        p: { free_mb: 12, severity_text: "WARN" },
      },
      { exe: "svc-json", level: 2, msg: "failed (json)", ts: hrNs([BASE_S, 6]), target: "logs-json", p: null },
      {
        exe: "svc-proto",
        level: 3,
        msg: "disk almost full (proto)",
        ts: hrNs([BASE_S, 5]),
        target: "logs-proto",
        p: { free_mb: 12, severity_text: "WARN" },
      },
      { exe: "svc-proto", level: 2, msg: "failed (proto)", ts: hrNs([BASE_S, 6]), target: "logs-proto", p: null },
    ]);
    for (const tag of ["json", "proto"]) {
      const mine = measures.filter((m) => m.exe === `svc-${tag}`).map(({ exe: _, ...m }) => m);
      expect(mine).toEqual([
        { name: `latency_${tag}.count`, value: 3, unit: "ms" },
        { name: `latency_${tag}.max`, value: 100, unit: "ms" },
        { name: `latency_${tag}.min`, value: 1, unit: "ms" },
        { name: `latency_${tag}.sum`, value: 111, unit: "ms" },
        { name: `requests_${tag}`, value: 12, unit: "1" },
      ]);
    }
  }, 60_000);

  test("bad, oversized, wrong-type and gzip bodies get the spec's answers", async () => {
    const url = `http://127.0.0.1:${served.port}/v1/traces`;
    const post = (body: Uint8Array | string, type: string, headers: Record<string, string> = {}) =>
      fetch(url, { method: "POST", body, headers: { "content-type": type, ...headers } });
    let r = await post("not json", "application/json");
    expect(r.status).toBe(400);
    expect(((await r.json()) as { code: number }).code).toBe(3);
    r = await post(new Uint8Array([0x0a, 0xff, 0xff, 0xff]), "application/x-protobuf");
    expect(r.status).toBe(400);
    r = await post(new Uint8Array([1, 2, 3]), "application/json", { "content-encoding": "gzip" });
    expect(r.status).toBe(400);
    r = await post("{}", "text/plain");
    expect(r.status).toBe(415);
    r = await fetch(url);
    expect(r.status).toBe(405);
    // Over --max-body-mb 4: declared by content-length, and hidden behind gzip (8 MiB → 8 kB).
    r = await post(new Uint8Array(5 * 1024 * 1024), "application/x-protobuf");
    expect(r.status).toBe(413);
    // The refused body is read to its end, so the client's next request on the same connection
    // gets its answer (answered mid-upload, 6-7 rounds of 40 ended in ECONNRESET).
    for (let i = 0; i < 20; i++) {
      expect((await post(new Uint8Array(5 * 1024 * 1024 + i), "application/x-protobuf")).status).toBe(413);
      expect((await post("{}", "application/json")).status).toBe(200);
    }
    const bomb = gzipSync(new Uint8Array(8 * 1024 * 1024));
    expect(bomb.length).toBeLessThan(4 * 1024 * 1024);
    r = await post(bomb, "application/x-protobuf", { "content-encoding": "gzip" });
    expect(r.status).toBe(413);
    // An empty request is a success with an empty response.
    r = await post("{}", "application/json");
    expect({ status: r.status, body: await r.json() }).toEqual({ status: 200, body: {} });
    // A span without a span id: partial success, counted.
    const one = (id: string | undefined) => ({
      resourceSpans: [
        {
          resource: { attributes: [{ key: "service.name", value: { stringValue: "svc-gzip" } }] },
          scopeSpans: [{ spans: [{ spanId: id, name: "g", startTimeUnixNano: "1760000000000000000" }] }],
        },
      ],
    });
    r = await post(
      gzipSync(
        JSON.stringify({ resourceSpans: [...one("00000000000000aa").resourceSpans, ...one(undefined).resourceSpans] }),
      ),
      "application/json",
      { "content-encoding": "gzip" },
    );
    const body = (await r.json()) as { partialSuccess?: { rejectedSpans?: string } };
    expect({ status: r.status, rejected: body.partialSuccess?.rejectedSpans }).toEqual({ status: 200, rejected: "1" });
    await eventually(() => query(lake, "SELECT 1 FROM async_events WHERE async_id = '00000000000000aa'").length === 1);
    expect(query(lake, "SELECT 1 FROM async_events WHERE async_id = '00000000000000aa'").length).toBe(1);
  }, 60_000);

  test("Ctrl-C commits what was received and exits 0; check finds the lake whole", async () => {
    const r = await fetch(`http://127.0.0.1:${served.port}/v1/traces`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        resourceSpans: [
          {
            scopeSpans: [
              { spans: [{ spanId: "00000000000000bb", name: "last", startTimeUnixNano: "1760000000000000000" }] },
            ],
          },
        ],
      }),
    });
    expect(r.status).toBe(200);
    // Another process ingests into the same lake while serve runs (the catalog is held only for
    // transactions), and serve keeps committing.
    const ing = cli(lake, ["ingest", `${ROOT}/fixtures/chromium_startup.json.gz`]);
    expect({ code: ing.code, stderr: ing.stderr }).toEqual({ code: 0, stderr: "" });
    served.proc.kill("SIGINT");
    expect(await served.proc.exited).toBe(0);
    expect(served.stderr()).toContain("committing what was received");
    expect(query(lake, "SELECT 1 FROM async_events WHERE async_id = '00000000000000bb'").length).toBe(1);
    const check = cli(lake, ["check"]);
    expect({ code: check.code, out: check.stdout }).toMatchObject({ code: 0 });
    // The run is one ingest, committed in parts: its counts are the totals of every part.
    const ingests = query<{ source: string; format: string; nb_events: number; nb_processes: number; raw: number }>(
      lake,
      "SELECT source, format, nb_events::INT AS nb_events, nb_processes::INT AS nb_processes, (SELECT count(*)::INT FROM raw_events r JOIN processes p USING (process_id) WHERE p.source_file LIKE 'otlp-http://%') AS raw FROM ingests WHERE format = 'otlp_json'",
    );
    const procs = query<{ n: number }>(
      lake,
      "SELECT count(*)::INT AS n FROM processes WHERE source_file LIKE 'otlp-http://%'",
    )[0]?.n;
    expect(ingests).toEqual([
      {
        source: `otlp-http://127.0.0.1:${served.port}`,
        format: "otlp_json",
        nb_events: ingests[0]?.raw as number,
        nb_processes: procs as number,
        raw: ingests[0]?.raw as number,
      },
    ]);
  }, 60_000);
});

describe("tracelake serve killed with SIGKILL in the middle of a stream", () => {
  test("the lake stays whole and holds every window committed before the kill", async () => {
    const lake = `${tempDir("tl-serve-kill-")}/lake`;
    const served = await startServe(lake, ["--window-ms", "200"]);
    const url = `http://127.0.0.1:${served.port}/v1/traces`;
    let acked = 0;
    const batch = (k: number) =>
      JSON.stringify({
        resourceSpans: [
          {
            resource: { attributes: [{ key: "service.name", value: { stringValue: "svc-kill" } }] },
            scopeSpans: [
              {
                spans: Array.from({ length: 200 }, (_, i) => ({
                  spanId: (k * 1000 + i + 1).toString(16).padStart(16, "0"),
                  name: `s${i}`,
                  startTimeUnixNano: String(1_760_000_000_000_000_000n + BigInt(k * 1000 + i)),
                  endTimeUnixNano: String(1_760_000_000_000_000_000n + BigInt(k * 1000 + i + 10)),
                })),
              },
            ],
          },
        ],
      });
    const started = Date.now();
    let killedAt = -1;
    for (let k = 0; Date.now() - started < 3000; k++) {
      if (k === 30) {
        served.proc.kill(9);
        killedAt = acked;
        break;
      }
      const r = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: batch(k) });
      expect(r.status).toBe(200);
      acked++;
      await Bun.sleep(30);
    }
    await served.proc.exited;
    expect(killedAt).toBe(30);
    // The catalog is whole; what the killed run had not committed is its staging directory,
    // which check reports and gc removes, as after a killed `tracelake ingest`.
    const before = cli(lake, ["check", "--json"]);
    const kinds = (JSON.parse(before.stdout).problems as { kind: string }[]).map((p) => p.kind);
    expect(kinds).toEqual(["staging"]);
    expect(cli(lake, ["gc", "--grace", "0"]).code).toBe(0);
    expect(cli(lake, ["check"]).code).toBe(0);
    const n = query<{ n: number }>(lake, "SELECT count(*)::INT AS n FROM async_events WHERE phase = 'b'");
    const spans = n[0]?.n ?? 0;
    // Whole requests only (200 spans each), at most the last windows (~200 ms each) lost.
    expect(spans % 200).toBe(0);
    expect(spans).toBeLessThanOrEqual(acked * 200);
    expect(spans).toBeGreaterThanOrEqual((acked - 15) * 200);
  }, 60_000);
});
