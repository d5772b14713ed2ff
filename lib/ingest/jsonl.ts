/**
 * JSON-lines logs importer: one JSON object per line (pino, bunyan, zap, logrus, structlog,
 * Elastic Common Schema...), each line one log record of one process (named by `--process-name`,
 * else by the file name), written as `L` rows (log records, lib/ingest/blocks/raw_rows.ts) to the
 * process's `log` stream, so that they show in `log_entries`.
 *
 * Per line (README "JSON-lines logs"):
 * - time: the first of `@timestamp`, `timestamp`, `time`, `ts` present: ISO 8601 text (date,
 *   `T` or space, time with optional fraction to the ns, `Z` or `±hh:mm`; no zone = UTC), or an
 *   epoch number (or numeric text) whose unit is chosen by magnitude: |v| < 10^11 seconds,
 *   < 10^14 milliseconds, < 10^17 microseconds, else nanoseconds (so any date between 1973 and
 *   5138 is read right in every unit); fractions are kept to the ns;
 * - level: the first of `level`, `severity`, `lvl`, `loglevel`, `log.level`, `severity_text`: a name
 *   (fatal/panic/critical/crit/emerg/alert → 1, error/err → 2, warn/warning → 3,
 *   info/information/notice → 4, debug → 5, trace/verbose → 6, case-insensitive) or a number
 *   (pino/bunyan's 10 trace … 60 fatal when ≥ 10; syslog's 0 emerg … 7 debug below 10); micromegas's
 *   scale (1 fatal … 6 trace), 4 when absent or not recognized;
 * - message: the first of `msg`, `message`, `@message` (non-text values are kept as JSON text);
 * - target: the first of `target`, `logger`, `logger_name`, `module`;
 * - thread: the first of `tid`, `thread_id`, `thread` (kept as the row's thread id);
 * - every other key, as properties (JSON).
 * Lines that are blank are ignored; lines that are not JSON objects, or have no usable
 * timestamp, are skipped and counted.
 */
import { basename } from "node:path";
import { InputError } from "../errors.ts";
import type { RawRowSink } from "./blocks/raw_rows.ts";
import { type PhaseCount, SKIP_REASONS, type SkipCode, skipCount } from "./model.ts";

const TIME_KEYS = ["@timestamp", "timestamp", "time", "ts"];
const LEVEL_KEYS = ["level", "severity", "lvl", "loglevel", "log.level", "severity_text"];
const MSG_KEYS = ["msg", "message", "@message"];
const TARGET_KEYS = ["target", "logger", "logger_name", "module"];
const THREAD_KEYS = ["tid", "thread_id", "thread"];

/** Longest line we parse (bytes); longer ones are skipped and counted. */
const MAX_LINE = 32 * 1024 * 1024;

const LEVEL_NAMES: Record<string, number> = {
  fatal: 1,
  panic: 1,
  critical: 1,
  crit: 1,
  emerg: 1,
  emergency: 1,
  alert: 1,
  error: 2,
  err: 2,
  warn: 3,
  warning: 3,
  info: 4,
  information: 4,
  informational: 4,
  notice: 4,
  debug: 5,
  trace: 6,
  verbose: 6,
};

/** Syslog severities 0..7 → micromegas levels. */
const SYSLOG_LEVEL = [1, 1, 1, 2, 3, 4, 4, 5];

const ISO =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?$/;

/**
 * A timestamp value → ns since the Unix epoch (UTC), or null when not recognized.
 * @param v a JSON value: ISO 8601 text, or an epoch number (or numeric text) in s/ms/µs/ns by
 *   magnitude (see the file comment).
 * @param raw the number's source text when `v` is a number (exact digits beyond 2^53).
 */
export function timestampToNs(v: unknown, raw?: string): bigint | null {
  if (typeof v === "number") return Number.isFinite(v) ? epochToNs(raw ?? String(v)) : null;
  if (typeof v !== "string") return null;
  const t = v.trim();
  if (/^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(t)) return epochToNs(t);
  const m = ISO.exec(t);
  if (!m) return null;
  const [, y, mo, d, h = "0", mi = "0", s = "0", frac = "", zone] = m;
  const ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  const bad = Number(mo) < 1 || Number(mo) > 12 || Number(d) < 1 || Number(d) > 31;
  if (!Number.isFinite(ms) || bad || Number(h) > 23 || Number(mi) > 59 || Number(s) > 60) return null;
  let ns = BigInt(ms) * 1_000_000n + BigInt(`${frac}000000000`.slice(0, 9));
  if (zone && zone !== "Z" && zone !== "z") {
    const sign = zone[0] === "-" ? -1n : 1n;
    const digits = zone.slice(1).replace(":", "");
    const off = BigInt(Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4) || "0")) * 60_000_000_000n;
    ns -= sign * off;
  }
  return ns;
}

/** Epoch number text → ns, the unit chosen by magnitude (see the file comment). */
function epochToNs(text: string): bigint | null {
  const x = Number(text);
  if (!Number.isFinite(x)) return null;
  const a = Math.abs(x);
  const scale = a < 1e11 ? 9 : a < 1e14 ? 6 : a < 1e17 ? 3 : 0;
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(text.trim());
  if (m) {
    // Exact decimal arithmetic: integer part × 10^scale plus the fraction's first `scale` digits.
    const [, sign, int = "0", frac = ""] = m;
    const v =
      BigInt(int) * 10n ** BigInt(scale) + (scale > 0 ? BigInt((frac + "0".repeat(scale)).slice(0, scale)) : 0n);
    return sign === "-" ? -v : v;
  }
  return BigInt(Math.round(x * 10 ** scale));
}

/** A level value → micromegas level (1 fatal … 6 trace), or null when not recognized. */
export function levelOf(v: unknown): number | null {
  if (typeof v === "string") {
    const n = LEVEL_NAMES[v.trim().toLowerCase()];
    if (n !== undefined) return n;
    if (/^\d+$/.test(v.trim())) return levelOf(Number(v));
    return null;
  }
  if (typeof v === "number" && Number.isInteger(v) && v >= 0) {
    if (v < 10) return SYSLOG_LEVEL[v] ?? null;
    // pino/bunyan: 10 trace, 20 debug, 30 info, 40 warn, 50 error, 60 fatal.
    if (v >= 60) return 1;
    return [6, 6, 5, 4, 3, 2][Math.floor(v / 10)] ?? null;
  }
  return null;
}

/** Imports JSON-lines logs into a RawRowSink: `push` chunks, then `end`. */
export class JsonLinesImporter {
  private carry = "";
  private carryBytes = 0;
  private oversized = false;
  private line = 0;
  private lines = 0;
  private readonly decoder = new TextDecoder();
  private readonly skips = new Map<SkipCode, number>();
  private imported = 0;
  private readonly pid: string;
  private firstPid: string | null = null;

  /**
   * @param processName the process the lines belong to; default: the input's file name without
   *   its extensions (`app.log.jsonl.gz` → `app`), `stdin` for standard input.
   */
  constructor(
    private readonly sink: RawRowSink,
    private readonly inputName: string,
    processName?: string,
  ) {
    const name = processName ?? (inputName === "standard input" ? "stdin" : basename(inputName).replace(/\..*$/, ""));
    this.pid = "jsonl";
    this.sink.process(this.pid).name = name || "jsonl";
  }

  /** Splits `chunk` into lines and imports the complete ones. */
  push(chunk: Uint8Array): void {
    let s = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, s);
      if (nl < 0) break;
      this.takeLine(chunk, s, nl);
      s = nl + 1;
    }
    if (s < chunk.length) {
      this.carryBytes += chunk.length - s;
      if (this.carryBytes > MAX_LINE) this.oversized = true;
      else this.carry += this.decoder.decode(chunk.subarray(s), { stream: true });
    }
  }

  /**
   * Imports the last line.
   * @throws InputError when no line was a JSON object (not JSON-lines logs).
   */
  end(): void {
    if (this.carryBytes > 0) {
      this.finishLine(this.oversized ? null : this.carry + this.decoder.decode());
    }
    if (this.imported === 0 && this.lines > 0) {
      const reasons = [...this.skips.keys()].map((c) => SKIP_REASONS[c].description).join("; ");
      throw new InputError(
        `${this.inputName} has no importable JSON-lines log record (${reasons}); nothing was ingested — each line must be a JSON object with a timestamp (@timestamp, timestamp, time or ts)`,
      );
    }
    // The source pid: the first line's `pid` field, else none (NULL in processes.source_pid).
    this.sink.process(this.pid).sourcePid = this.firstPid;
  }

  /** Lines found (blank lines excluded). */
  found(): number {
    return this.lines;
  }

  /** Counts: imported records and skipped lines by reason. */
  counts(): PhaseCount[] {
    const out: PhaseCount[] = [];
    if (this.imported > 0) out.push({ ph: "line", dest: "log", reason: null, count: this.imported });
    for (const [code, count] of this.skips) out.push(skipCount("line", code, count));
    return out;
  }

  /** Problems recovered from, in words (none for this format: skips are counted). */
  warnings(): string[] {
    return [];
  }

  private takeLine(chunk: Uint8Array, s: number, e: number): void {
    if (this.carryBytes > 0 || this.oversized) {
      const total = this.carryBytes + (e - s);
      const text = this.oversized || total > MAX_LINE ? null : this.carry + this.decoder.decode(chunk.subarray(s, e));
      this.carry = "";
      this.carryBytes = 0;
      this.oversized = false;
      this.finishLine(text);
      return;
    }
    this.finishLine(e - s > MAX_LINE ? null : this.decoder.decode(chunk.subarray(s, e)));
  }

  private skip(code: SkipCode): void {
    this.skips.set(code, (this.skips.get(code) ?? 0) + 1);
  }

  private finishLine(text: string | null): void {
    const seq = this.line++;
    if (text === null) {
      this.lines++;
      this.skip("jsonl.too_long");
      return;
    }
    const t = text.trim();
    if (t === "") return;
    this.lines++;
    let o: unknown;
    try {
      o = JSON.parse(t);
    } catch {
      this.skip("jsonl.not_json");
      return;
    }
    if (!o || typeof o !== "object" || Array.isArray(o)) {
      this.skip("jsonl.not_object");
      return;
    }
    const rec = o as Record<string, unknown>;
    const timeKey = TIME_KEYS.find((k) => rec[k] !== undefined && rec[k] !== null);
    if (timeKey === undefined) {
      this.skip("jsonl.time_missing");
      return;
    }
    const tv = rec[timeKey];
    let raw = typeof tv === "number" && !Number.isSafeInteger(tv) ? rawNumber(t, timeKey) : undefined;
    // The text found must be this value (not the same key nested elsewhere in the line).
    if (raw !== undefined && Number(raw) !== tv) raw = undefined;
    const ns = timestampToNs(tv, raw);
    if (ns === null || ns > 9223372036854775807n || ns < -9223372036854775808n) {
      this.skip("jsonl.time_invalid");
      return;
    }
    const used = new Set<string>([timeKey]);
    const pick = (keys: string[]): unknown => {
      const k = keys.find((x) => rec[x] !== undefined && rec[x] !== null);
      if (k === undefined) return undefined;
      used.add(k);
      return rec[k];
    };
    const level = levelOf(pick(LEVEL_KEYS)) ?? 4;
    const msg = pick(MSG_KEYS);
    const target = pick(TARGET_KEYS);
    const thread = pick(THREAD_KEYS);
    if (this.firstPid === null && (typeof rec.pid === "number" || typeof rec.pid === "string")) {
      this.firstPid = String(rec.pid);
    }
    const props: Record<string, unknown> = {};
    let nprops = 0;
    for (const [k, v] of Object.entries(rec)) {
      if (used.has(k)) continue;
      props[k] = v;
      nprops++;
    }
    // JSON.parse takes any depth, but JSON.stringify recurses: a value nested ~100,000 deep
    // overflows the stack. Such a line is skipped and counted, as a malformed one is.
    let texts: { thread: string | null; name: string | null; cat: string | null; args: string | null };
    try {
      texts = {
        thread: thread === undefined ? null : text1(thread),
        name: msg === undefined ? null : text1(msg),
        cat: target === undefined ? null : text1(target),
        args: nprops > 0 ? JSON.stringify(props) : null,
      };
    } catch (e) {
      if (!(e instanceof RangeError)) throw e;
      this.skip("jsonl.too_deep");
      return;
    }
    this.sink.add(this.pid, texts.thread, "log", {
      seq,
      ph: "L",
      time: ns,
      name: texts.name,
      cat: texts.cat,
      s: String(level),
      args: texts.args,
    });
    this.imported++;
  }
}

function text1(v: unknown): string {
  return typeof v === "string" ? v : JSON.stringify(v);
}

/** The source text of the number value of `key` in a JSON line (digits beyond 2^53 kept). */
function rawNumber(line: string, key: string): string | undefined {
  const re = new RegExp(
    `"${key.replace(/[.*+?^${}()|[\]\\@]/g, "\\$&")}"\\s*:\\s*(-?\\d+(?:\\.\\d+)?(?:[eE][+-]?\\d+)?)`,
  );
  return re.exec(line)?.[1];
}
