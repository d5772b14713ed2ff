/**
 * Format sniffing from content, not from the file name (README "ingest": formats and sniffing).
 */
import { InputError } from "../errors.ts";

/** Formats tracelake can ingest. */
export type TraceFormat = "chrome_json" | "perfetto" | "otlp_json" | "jsonl";

/** The formats, for `--format` and messages. */
export const TRACE_FORMATS: readonly TraceFormat[] = ["chrome_json", "perfetto", "otlp_json", "jsonl"];

const OTLP_KEYS = ["resourceSpans", "resourceLogs", "resourceMetrics"];
const JSONL_TIME_KEYS = ["@timestamp", "timestamp", "time", "ts"];

/**
 * Decides the format from the first decompressed bytes of `name` (at least the first line,
 * when the input has one within `head`). JSON is tried first, then protobuf, as trace_processor
 * does (util/trace_type.cc):
 * - JSON: after an optional UTF-8 BOM and whitespace, `[` followed (after whitespace) by `{` or
 *   `]`, or `{` followed by `"` or `}`; a JSON trace may start with a newline (0x0A);
 * - Perfetto protobuf: otherwise, the first byte is 0x0A, the tag of `Trace.packet` (field 1,
 *   LEN; reference/perfetto.md §0), followed by a varint length;
 * - `[` (after an optional UTF-8 BOM and whitespace): Chrome JSON, array form;
 * - `{`: OTLP JSON when the object's first key is `resourceSpans`, `resourceLogs` or
 *   `resourceMetrics` (an ExportTrace/Logs/MetricsServiceRequest, or the collector's file
 *   exporter, one request per line), or when the first line is a complete JSON object holding one
 *   of those keys; else JSON-lines logs when the first line is a complete JSON object without
 *   `traceEvents` and with a timestamp key (`@timestamp`, `timestamp`, `time` or `ts`); else
 *   Chrome JSON, object form (`{"traceEvents": ...}`,
 *   possibly spread over many lines). A first line that does not end within `head` is decided by
 *   the object's top-level keys seen in `head`, first decisive one wins (`traceEvents`, an OTLP
 *   key, a timestamp key); none: Chrome JSON. A first line that is not valid JSON is skipped
 *   when the head holds no `"traceEvents"` and most of the next whole lines (up to 8) are
 *   JSON-lines records: JSON-lines, whose importer skips the lines that are not.
 * @throws InputError naming the input when the content is empty or not a supported format.
 */
export function sniffFormat(name: string, head: Uint8Array | null): TraceFormat {
  if (!head || head.length === 0) {
    throw new InputError(`${name} is empty; there is nothing to ingest`);
  }
  let i = 0;
  if (head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) i = 3;
  i = skipSpace(head, i);
  const b = head[i];
  // JSON first, then protobuf, as trace_processor does (util/trace_type.cc): a JSON trace may
  // start with a newline, and 0x0A is also the tag of Trace.packet. JSON means '[' or '{'
  // followed (after whitespace) by what JSON allows there.
  const next = head[skipSpace(head, i + 1)];
  const json =
    (b === 0x5b && (next === 0x7b || next === 0x5d || next === undefined)) ||
    (b === 0x7b && (next === 0x22 || next === 0x7d || next === undefined));
  if (!json && head[0] === 0x0a && head.length >= 2) return "perfetto";
  if (b === 0x5b) return "chrome_json";
  if (b === 0x7b) {
    const key = firstKey(head, i + 1);
    if (key !== null && OTLP_KEYS.includes(key)) return "otlp_json";
    let nl = head.indexOf(0x0a, i);
    if (nl < 0) nl = head.length;
    const line = new TextDecoder().decode(head.subarray(i, nl)).trim();
    let first: unknown;
    try {
      first = JSON.parse(line);
    } catch {
      // A first line longer than the head (a 40 MB log record): its top-level keys seen so far.
      if (nl === head.length) {
        for (const k of topLevelKeys(head, i)) {
          if (k === "traceEvents") return "chrome_json";
          if (OTLP_KEYS.includes(k)) return "otlp_json";
          if (JSONL_TIME_KEYS.includes(k)) return "jsonl";
        }
      }
      // A malformed first line (a log cut by rotation): the next whole lines decide.
      if (nl < head.length && nextLinesAreJsonLines(head, nl + 1)) return "jsonl";
      return "chrome_json";
    }
    if (first && typeof first === "object" && !Array.isArray(first)) {
      const keys = Object.keys(first);
      if (keys.some((k) => OTLP_KEYS.includes(k))) return "otlp_json";
      if (keys.includes("traceEvents")) return "chrome_json";
      if (keys.some((k) => JSONL_TIME_KEYS.includes(k))) return "jsonl";
    }
    return "chrome_json";
  }
  if (i >= head.length) throw new InputError(`${name} holds only whitespace; there is nothing to ingest`);
  throw new InputError(
    `${name} is not a trace tracelake recognizes: not Perfetto protobuf (first byte 0x0A), not JSON (Chrome trace, OTLP or JSON lines, starting with '[' or '{'); pass --format to force one`,
  );
}

/** The index of the first byte at or after `i` that is not JSON whitespace (head.length if none). */
function skipSpace(head: Uint8Array, i: number): number {
  while (i < head.length && (head[i] === 0x20 || head[i] === 0x0a || head[i] === 0x0d || head[i] === 0x09)) i++;
  return i;
}

/** The first key of the JSON object whose body starts at `head[i]`, or null when not found. */
function firstKey(head: Uint8Array, i: number): string | null {
  while (i < head.length && (head[i] === 0x20 || head[i] === 0x0a || head[i] === 0x0d || head[i] === 0x09)) i++;
  if (head[i] !== 0x22) return null;
  const end = head.indexOf(0x22, i + 1);
  if (end < 0 || end - i > 64) return null;
  return new TextDecoder().decode(head.subarray(i + 1, end));
}

/**
 * The top-level keys of the JSON object whose `{` is at `head[i]`, in order, as far as `head`
 * goes (nested values and strings skipped; escapes in keys left as written).
 */
function topLevelKeys(head: Uint8Array, i: number): string[] {
  const keys: string[] = [];
  let depth = 0;
  let expectKey = false;
  for (let k = i; k < head.length; k++) {
    const c = head[k];
    if (c === 0x22) {
      let end = k + 1;
      while (end < head.length && head[end] !== 0x22) end += head[end] === 0x5c ? 2 : 1;
      if (end >= head.length) break;
      if (depth === 1 && expectKey) {
        keys.push(new TextDecoder().decode(head.subarray(k + 1, end)));
        expectKey = false;
      }
      k = end;
    } else if (c === 0x7b || c === 0x5b) {
      depth++;
      if (depth === 1) expectKey = true;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
      if (depth === 0) break;
    } else if (c === 0x2c && depth === 1) expectKey = true;
  }
  return keys;
}

/**
 * True when the head has no `"traceEvents"` and, of the whole lines from `from` (up to 8, blank
 * ones skipped), more are JSON-lines records (a JSON object with a timestamp key and no OTLP key)
 * than not, and at least two are (or one, when the head ends after it).
 */
function nextLinesAreJsonLines(head: Uint8Array, from: number): boolean {
  if (Buffer.from(head.buffer, head.byteOffset, head.byteLength).includes('"traceEvents"')) return false;
  const dec = new TextDecoder();
  let records = 0;
  let others = 0;
  let p = from;
  for (let k = 0; k < 8 && p < head.length; ) {
    const nl = head.indexOf(0x0a, p);
    if (nl < 0) break;
    const line = dec.decode(head.subarray(p, nl)).trim();
    p = nl + 1;
    if (line === "") continue;
    k++;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      others++;
      continue;
    }
    const keys = v && typeof v === "object" && !Array.isArray(v) ? Object.keys(v) : [];
    if (keys.some((x) => OTLP_KEYS.includes(x))) return false;
    if (keys.some((x) => JSONL_TIME_KEYS.includes(x))) records++;
    else others++;
  }
  return records > others && (records >= 2 || (records === 1 && skipSpace(head, p) >= head.length));
}
