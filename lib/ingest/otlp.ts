/**
 * OpenTelemetry OTLP JSON importer: `ExportTraceServiceRequest`, `ExportLogsServiceRequest` and
 * `ExportMetricsServiceRequest` objects (the OTLP/HTTP JSON encoding: opentelemetry-proto's
 * `docs/specification.md` "JSON Protobuf Encoding" and opentelemetry-specification's OTLP
 * "JSON Protobuf Encoding"), either one object (which may span many lines) or the collector file
 * exporter's JSON lines (one request per line; requests of the three kinds may be mixed).
 *
 * Encoding rules followed: field names in lowerCamelCase (the proto's snake_case names are also
 * accepted, as protobuf JSON parsers must); trace and span ids as hex text (base64, which older
 * exporters wrote, is converted to hex); 64-bit integers (times, intValue, counts) as decimal text
 * or numbers; enums as names (`SPAN_KIND_SERVER`) or numbers. Times are Unix ns, so these lakes
 * have wall-clock time (UTC).
 *
 * Mapping (README "OTLP JSON"):
 * - a resource → a process: exe = `service.name`, source pid = `process.pid`, resource attributes
 *   in `processes.properties.resource`; the same resource (same attributes) in several requests
 *   is one process;
 * - a span → `b` (start) and `e` (end) async events on the `cpu` stream of the span's thread
 *   (attribute `thread.id`, named by `thread.name`; tid `0` without one), `id` = the span id (hex),
 *   `cat` = the instrumentation scope name, args = {trace_id, span_id, parent_span_id, kind,
 *   status_code, status_message, trace_state, attributes, links, scope_version}; a span event → an
 *   `n` (async instant) with the same id; so async_events pairs them;
 * - a log record → an `L` log record (level from severityNumber: 1-4 trace, 5-8 debug, 9-12 info,
 *   13-16 warn, 17-20 error, 21-24 fatal; else from severityText; else info), msg = body (text, or
 *   the JSON of a structured body), target = scope name, time = timeUnixNano or else
 *   observedTimeUnixNano;
 * - a metric data point → `V` measures: gauge and sum points as `<name>`; histogram and
 *   exponential histogram points as `<name>.count`, `.sum`, `.min`, `.max`; summary points as
 *   `<name>.count`, `.sum` and `<name>` per quantile (args.quantile); unit = the metric's unit,
 *   args = the point's attributes and the metric's kind, temporality and monotonicity.
 */
import { InputError } from "../errors.ts";
import { type RawRow, type RawRowSink, resetRow } from "./blocks/raw_rows.ts";
import { levelOf } from "./jsonl.ts";
import { type Destination, type PhaseCount, PhaseCounter, type SkipCode } from "./model.ts";

/**
 * Largest single OTLP object (or JSON line) we read, in bytes: it is parsed whole, and a parsed
 * JSON tree takes several times its text's size.
 */
const MAX_OBJECT = 128 * 1024 * 1024;
const MAX_I64 = (1n << 63n) - 1n;

type Json = Record<string, unknown>;

const SPAN_KINDS = ["unspecified", "internal", "server", "client", "producer", "consumer"];
const STATUS_CODES = ["unset", "ok", "error"];

/** Field `camel` (or its snake_case twin) of `o`. */
function get(o: unknown, camel: string): unknown {
  if (!o || typeof o !== "object") return undefined;
  const r = o as Json;
  const v = r[camel];
  if (v !== undefined) return v;
  let snake = SNAKE.get(camel);
  if (snake === undefined) {
    snake = camel.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    SNAKE.set(camel, snake);
  }
  return r[snake];
}

/** snake_case twins of the field names `get` was asked for (a fixed set: this file's names). */
const SNAKE = new Map<string, string>();

function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

function str(v: unknown): string | null {
  return typeof v === "string" ? v : null;
}

/** A 64-bit integer field (decimal text, number, or a bigint: lib/serve's protobuf decode) → bigint, or null. */
export function int64(v: unknown): bigint | null {
  if (typeof v === "bigint") return v;
  if (typeof v === "number" && Number.isFinite(v)) return BigInt(Math.trunc(v));
  if (typeof v === "string" && /^-?\d+$/.test(v.trim())) return BigInt(v.trim());
  return null;
}

/** A trace/span id → lowercase hex (hex as given, or base64 decoded), null when empty. */
export function hexId(v: unknown): string | null {
  if (typeof v !== "string" || v === "") return null;
  if ((v.length === 32 || v.length === 16) && isHex(v)) return v.toLowerCase();
  try {
    const b = Buffer.from(v, "base64");
    if (b.length === 16 || b.length === 8) return b.toString("hex");
  } catch {
    // not base64
  }
  return v;
}

/** Whether `v` holds only hex digits (a loop: a regular expression test took ~2x as long per id). */
function isHex(v: string): boolean {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46))) return false;
  }
  return true;
}

/** An enum given by number or name (`PREFIX_NAME`) → lowercase name without the prefix. */
function enumName(v: unknown, names: string[], prefix: string): string | null {
  if (typeof v === "number") return names[v] ?? String(v);
  if (typeof v === "string") return v.startsWith(prefix) ? v.slice(prefix.length).toLowerCase() : v.toLowerCase();
  return null;
}

/** An OTLP AnyValue → a plain JSON value. */
export function anyValue(v: unknown): unknown {
  if (!v || typeof v !== "object") return null;
  const o = v as Json;
  if ("stringValue" in o || "string_value" in o) return get(o, "stringValue");
  if ("boolValue" in o || "bool_value" in o) return get(o, "boolValue");
  if ("intValue" in o || "int_value" in o) {
    const i = int64(get(o, "intValue"));
    if (i === null) return null;
    return i >= BigInt(Number.MIN_SAFE_INTEGER) && i <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(i) : i.toString();
  }
  if ("doubleValue" in o || "double_value" in o) {
    const d = get(o, "doubleValue");
    return typeof d === "string" ? Number(d) : d;
  }
  if ("arrayValue" in o || "array_value" in o) return arr(get(get(o, "arrayValue"), "values")).map(anyValue);
  if ("kvlistValue" in o || "kvlist_value" in o) return attributes(get(get(o, "kvlistValue"), "values"));
  if ("bytesValue" in o || "bytes_value" in o) return get(o, "bytesValue");
  return null;
}

/** A KeyValue list → an object. */
export function attributes(v: unknown): Json {
  const out: Json = {};
  for (const kv of arr(v)) {
    const k = str(get(kv, "key"));
    if (k !== null) out[k] = anyValue(get(kv, "value"));
  }
  return out;
}

/** OTLP severityNumber (1..24) → micromegas level (1 fatal … 6 trace), null when unset. */
export function severityLevel(n: number): number | null {
  if (!Number.isInteger(n) || n < 1 || n > 24) return null;
  return [6, 5, 4, 3, 2, 1][Math.floor((n - 1) / 4)] ?? null;
}

const SEVERITY_NAMES: Record<string, number> = {};
for (const [k, name] of ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"].entries()) {
  SEVERITY_NAMES[`SEVERITY_NUMBER_${name}`] = k * 4 + 1;
  for (let i = 2; i <= 4; i++) SEVERITY_NAMES[`SEVERITY_NUMBER_${name}${i}`] = k * 4 + i;
}

/**
 * JSON text of `v`, bigints as decimal text. Without a replacer first (a replacer function makes
 * JSON.stringify several times slower, and values here rarely hold a bigint).
 */
const stringify = (v: unknown): string => {
  try {
    return JSON.stringify(v);
  } catch {
    return JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? x.toString() : x));
  }
};

/** Imports OTLP JSON into a RawRowSink: `push` chunks, then `end`. */
export class OtlpJsonImporter {
  private mode: "unknown" | "lines" | "whole" = "unknown";
  private readonly decoder = new TextDecoder();
  private pendingText = "";
  private wholeParts: Uint8Array[] = [];
  private wholeBytes = 0;
  private seq = 0;
  private records = 0;
  private readonly countMap = new PhaseCounter();
  private readonly processKeys = new Map<string, string>();
  /** Processes made so far (their keys are `otlp:<n>`). */
  private processCount = 0;
  private readonly warn: string[] = [];
  /** The row object reused for every span row (resetRow). */
  private row: RawRow | null = null;

  /**
   * @param sink where processes, threads and rows go.
   * @param inputName the input's name for error messages.
   */
  constructor(
    private readonly sink: RawRowSink,
    private readonly inputName: string,
  ) {}

  /** Takes the next bytes. @throws InputError for a single object over 512 MiB. */
  push(chunk: Uint8Array): void {
    if (this.mode === "whole") {
      // Through the decoder, which may hold the first bytes of a character cut by the last chunk.
      this.addWhole(new TextEncoder().encode(this.decoder.decode(chunk, { stream: true })));
      return;
    }
    const text = this.pendingText + this.decoder.decode(chunk, { stream: true });
    let start = 0;
    for (;;) {
      const nl = text.indexOf("\n", start);
      if (nl < 0) break;
      const line = text.slice(start, nl);
      start = nl + 1;
      if (this.mode === "unknown") {
        if (line.trim() === "") continue;
        if (this.tryParse(line) === undefined) {
          // Not a complete JSON value on one line: the whole input is one object.
          this.mode = "whole";
          this.addWhole(new TextEncoder().encode(text));
          this.pendingText = "";
          return;
        }
        this.mode = "lines";
      }
      this.line(line);
    }
    this.pendingText = text.slice(start);
    if (this.pendingText.length > MAX_OBJECT) this.tooBig();
  }

  /**
   * Ends the input.
   * @throws InputError when the input is not OTLP JSON (not JSON, no resourceSpans/Logs/Metrics).
   */
  end(): void {
    const rest = this.pendingText + this.decoder.decode();
    // Input without a line break: one object, complete or not.
    if (this.mode === "unknown") this.mode = "whole";
    if (this.mode === "whole") {
      if (rest.length > 0) this.addWhole(new TextEncoder().encode(rest));
      const buf = new Uint8Array(this.wholeBytes);
      let o = 0;
      for (const p of this.wholeParts) {
        buf.set(p, o);
        o += p.length;
      }
      this.wholeParts = [];
      let v: unknown;
      try {
        v = JSON.parse(new TextDecoder().decode(buf));
      } catch (e) {
        throw new InputError(
          `${this.inputName} is not valid OTLP JSON (${(e as Error).message}); nothing was ingested — check that the file is complete`,
        );
      }
      if (!this.request(v)) {
        throw new InputError(
          `${this.inputName} is a JSON value without resourceSpans, resourceLogs or resourceMetrics, so not an OTLP export request; nothing was ingested`,
        );
      }
    } else if (rest.trim() !== "") this.line(rest);
    if (this.records === 0 && this.skippedLines() > 0) {
      throw new InputError(
        `${this.inputName} holds no OTLP export request (each line must be a JSON object with resourceSpans, resourceLogs or resourceMetrics); nothing was ingested`,
      );
    }
  }

  /**
   * Takes one export request already parsed (the OTLP/HTTP receiver's bodies: lib/serve), as a
   * line of JSON text would be taken.
   * @param v an `Export{Trace,Logs,Metrics}ServiceRequest` in the JSON shape (object).
   * @returns false (and nothing counted) when `v` has none of resourceSpans, resourceLogs,
   *   resourceMetrics.
   */
  pushRequest(v: unknown): boolean {
    return this.request(v);
  }

  /**
   * Starts new processes: resources seen from now on get new processes, even those seen before
   * (tracelake serve's long runs, so that no process grows without bound).
   */
  newProcesses(): void {
    this.processKeys.clear();
  }

  /** Requests (lines or the single object) found. */
  found(): number {
    return this.records + this.skippedLines();
  }

  /** Counts by record kind and destination. */
  counts(): PhaseCount[] {
    return this.countMap.values().sort((a, b) => b.count - a.count);
  }

  /** Problems recovered from, in words (e.g. spans without an end). */
  warnings(): string[] {
    return this.warn;
  }

  private skippedLines(): number {
    let n = 0;
    for (const c of this.countMap.values()) if (c.ph === "line" && c.dest === "skipped") n += c.count;
    return n;
  }

  private tooBig(): never {
    throw new InputError(
      `${this.inputName} is a single OTLP JSON object larger than ${MAX_OBJECT / 1024 / 1024} MiB; write it as JSON lines (one request per line, as the collector's file exporter does)`,
    );
  }

  private addWhole(b: Uint8Array): void {
    this.wholeBytes += b.length;
    if (this.wholeBytes > MAX_OBJECT) this.tooBig();
    this.wholeParts.push(b);
  }

  private tryParse(line: string): unknown {
    try {
      return JSON.parse(line);
    } catch {
      return undefined;
    }
  }

  private count(ph: string, dest: Destination, code: SkipCode | null, n = 1): void {
    this.countMap.add(ph, dest, code, n);
  }

  private line(line: string): void {
    if (line.trim() === "") return;
    const v = this.tryParse(line);
    if (v === undefined) {
      this.count("line", "skipped", "otlp.not_json");
      return;
    }
    if (!this.request(v)) this.count("line", "skipped", "otlp.not_request");
  }

  /** One export request (of any of the three kinds). @returns false when it is none. */
  private request(v: unknown): boolean {
    if (!v || typeof v !== "object" || Array.isArray(v)) return false;
    const spans = get(v, "resourceSpans");
    const logs = get(v, "resourceLogs");
    const metrics = get(v, "resourceMetrics");
    if (spans === undefined && logs === undefined && metrics === undefined) return false;
    this.records++;
    for (const rs of arr(spans)) {
      const pid = this.resource(get(rs, "resource"));
      for (const ss of [...arr(get(rs, "scopeSpans")), ...arr(get(rs, "instrumentationLibrarySpans"))]) {
        const scope = get(ss, "scope") ?? get(ss, "instrumentationLibrary");
        for (const sp of arr(get(ss, "spans"))) this.span(pid, scope, sp);
      }
    }
    for (const rl of arr(logs)) {
      const pid = this.resource(get(rl, "resource"));
      for (const sl of [...arr(get(rl, "scopeLogs")), ...arr(get(rl, "instrumentationLibraryLogs"))]) {
        const scope = get(sl, "scope") ?? get(sl, "instrumentationLibrary");
        for (const lr of arr(get(sl, "logRecords"))) this.log(pid, scope, lr);
      }
    }
    for (const rm of arr(metrics)) {
      const pid = this.resource(get(rm, "resource"));
      for (const sm of [...arr(get(rm, "scopeMetrics")), ...arr(get(rm, "instrumentationLibraryMetrics"))]) {
        const scope = get(sm, "scope") ?? get(sm, "instrumentationLibrary");
        for (const m of arr(get(sm, "metrics"))) this.metric(pid, scope, m);
      }
    }
    return true;
  }

  /** The process key of a resource (created on first sight). */
  private resource(r: unknown): string {
    const attrs = attributes(get(r, "attributes"));
    const key = stringify(Object.entries(attrs).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    let pid = this.processKeys.get(key);
    if (pid === undefined) {
      pid = `otlp:${this.processCount++}`;
      this.processKeys.set(key, pid);
      const p = this.sink.process(pid);
      const svc = attrs["service.name"];
      p.name = typeof svc === "string" ? svc : "unknown_service";
      p.properties = { resource: attrs };
      const sp = attrs["process.pid"];
      p.sourcePid = sp === undefined || sp === null ? null : String(sp);
    }
    return pid;
  }

  private time(v: unknown): bigint | null {
    const t = int64(v);
    return t === null || t <= 0n || t > MAX_I64 ? null : t;
  }

  private span(pid: string, scope: unknown, sp: unknown): void {
    const seq = this.seq++;
    const name = str(get(sp, "name"));
    const spanId = hexId(get(sp, "spanId"));
    const start = this.time(get(sp, "startTimeUnixNano"));
    const end = this.time(get(sp, "endTimeUnixNano"));
    if (spanId === null || start === null) {
      this.count("span", "skipped", spanId === null ? "otlp.span_id_missing" : "otlp.span_start_invalid");
      return;
    }
    const attrs = attributes(get(sp, "attributes"));
    const tid = attrs["thread.id"] !== undefined && attrs["thread.id"] !== null ? String(attrs["thread.id"]) : "0";
    const tname = attrs["thread.name"];
    const th = this.sink.thread(pid, tid);
    if (typeof tname === "string" && th.name === null) th.name = tname;
    const status = get(sp, "status");
    const args: Json = {
      trace_id: hexId(get(sp, "traceId")),
      span_id: spanId,
      parent_span_id: hexId(get(sp, "parentSpanId")),
      kind: enumName(get(sp, "kind"), SPAN_KINDS, "SPAN_KIND_"),
      status_code: enumName(get(status, "code"), STATUS_CODES, "STATUS_CODE_") ?? "unset",
      status_message: str(get(status, "message")) || null,
      trace_state: str(get(sp, "traceState")) || null,
      attributes: attrs,
    };
    const linkList = arr(get(sp, "links"));
    if (linkList.length > 0) {
      args.links = linkList.map((l) => ({
        trace_id: hexId(get(l, "traceId")),
        span_id: hexId(get(l, "spanId")),
        attributes: attributes(get(l, "attributes")),
      }));
    }
    const sv = str(get(scope, "version"));
    if (sv) args.scope_version = sv;
    const cat = str(get(scope, "name")) || null;
    const json = stringify(args);
    // One row object for every row (the sink copies its fields): two 19-field objects per span
    // less to collect.
    const st = this.sink.stream(pid, tid, "cpu");
    const row = resetRow(this.row, seq, "b", start);
    this.row = row;
    row.name = name;
    row.cat = cat;
    row.id = spanId;
    row.idScope = "global";
    row.args = json;
    this.sink.addTo(st, row);
    this.count("span", "cpu", null);
    for (const e of arr(get(sp, "events"))) {
      const t = this.time(get(e, "timeUnixNano"));
      if (t === null) {
        this.count("span event", "skipped", "otlp.span_event_time_missing");
        continue;
      }
      const ea = attributes(get(e, "attributes"));
      resetRow(row, this.seq++, "n", t);
      row.name = str(get(e, "name"));
      row.cat = cat;
      row.id = spanId;
      row.idScope = "global";
      row.args = Object.keys(ea).length > 0 ? stringify(ea) : null;
      this.sink.addTo(st, row);
      this.count("span event", "cpu", null);
    }
    if (end !== null) {
      resetRow(row, this.seq++, "e", end);
      row.name = name;
      row.cat = cat;
      row.id = spanId;
      row.idScope = "global";
      this.sink.addTo(st, row);
    } else this.warnOnce("spans without endTimeUnixNano are kept as unclosed begins");
  }

  private warnOnce(w: string): void {
    if (!this.warn.includes(w)) this.warn.push(w);
  }

  private log(pid: string, scope: unknown, lr: unknown): void {
    const seq = this.seq++;
    const t = this.time(get(lr, "timeUnixNano")) ?? this.time(get(lr, "observedTimeUnixNano"));
    if (t === null) {
      this.count("log record", "skipped", "otlp.log_time_missing");
      return;
    }
    const sn = get(lr, "severityNumber");
    const num = typeof sn === "number" ? sn : typeof sn === "string" ? (SEVERITY_NAMES[sn] ?? Number(sn)) : 0;
    const text = str(get(lr, "severityText"));
    const level = severityLevel(num) ?? (text ? levelOf(text) : null) ?? 4;
    const attrs = attributes(get(lr, "attributes"));
    const tid = attrs["thread.id"] !== undefined && attrs["thread.id"] !== null ? String(attrs["thread.id"]) : null;
    const body = anyValue(get(lr, "body"));
    const props: Json = { ...attrs };
    if (text) props.severity_text = text;
    const traceId = hexId(get(lr, "traceId"));
    const spanId = hexId(get(lr, "spanId"));
    if (traceId) props.trace_id = traceId;
    if (spanId) props.span_id = spanId;
    this.sink.add(pid, tid, "log", {
      seq,
      ph: "L",
      time: t,
      name: body === null || body === undefined ? null : typeof body === "string" ? body : stringify(body),
      cat: str(get(scope, "name")) || null,
      s: String(level),
      args: Object.keys(props).length > 0 ? stringify(props) : null,
    });
    this.count("log record", "log", null);
  }

  private metric(pid: string, scope: unknown, m: unknown): void {
    const name = str(get(m, "name")) ?? "";
    const unit = str(get(m, "unit")) || null;
    const cat = str(get(scope, "name")) || null;
    const emit = (t: bigint, mname: string, value: number, props: Json): void => {
      const args: Json = { value, ...props };
      if (unit) args.unit = unit;
      this.sink.add(pid, null, "metrics", {
        seq: this.seq++,
        ph: "V",
        time: t,
        name: mname,
        cat,
        args: stringify(args),
      });
      this.count("data point value", "metrics", null);
    };
    const kinds: [string, unknown][] = [
      ["gauge", get(m, "gauge")],
      ["sum", get(m, "sum")],
      ["histogram", get(m, "histogram")],
      ["exponential_histogram", get(m, "exponentialHistogram")],
      ["summary", get(m, "summary")],
    ];
    let any = false;
    for (const [kind, body] of kinds) {
      if (body === undefined || body === null) continue;
      any = true;
      const temporality = enumName(
        get(body, "aggregationTemporality"),
        ["unspecified", "delta", "cumulative"],
        "AGGREGATION_TEMPORALITY_",
      );
      const monotonic = get(body, "isMonotonic");
      for (const dp of arr(get(body, "dataPoints"))) {
        const t = this.time(get(dp, "timeUnixNano"));
        if (t === null) {
          this.count("data point", "skipped", "otlp.point_time_missing");
          continue;
        }
        const props: Json = { kind, attributes: attributes(get(dp, "attributes")) };
        if (temporality) props.temporality = temporality;
        if (typeof monotonic === "boolean") props.monotonic = monotonic;
        const st = int64(get(dp, "startTimeUnixNano"));
        if (st !== null && st > 0n) props.start_time_unix_nano = st.toString();
        if (kind === "gauge" || kind === "sum") {
          const d = get(dp, "asDouble");
          const i = int64(get(dp, "asInt"));
          const v = d !== undefined ? Number(d) : i !== null ? Number(i) : null;
          if (v === null || !Number.isFinite(v)) {
            this.count("data point", "skipped", "otlp.point_value_missing");
            continue;
          }
          emit(t, name, v, props);
        } else {
          const c = int64(get(dp, "count"));
          if (c !== null) emit(t, `${name}.count`, Number(c), props);
          for (const f of ["sum", "min", "max"]) {
            const x = get(dp, f);
            if (x !== undefined && x !== null && Number.isFinite(Number(x))) emit(t, `${name}.${f}`, Number(x), props);
          }
          for (const q of arr(get(dp, "quantileValues"))) {
            const qv = Number(get(q, "value"));
            if (Number.isFinite(qv)) emit(t, name, qv, { ...props, quantile: Number(get(q, "quantile") ?? 0) });
          }
        }
      }
    }
    if (!any) this.count("metric", "skipped", "otlp.metric_data_missing");
  }
}
