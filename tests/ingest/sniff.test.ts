/** Format sniffing from content: each format's first bytes, and the ambiguous `{` cases. */
import { expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { sniffFormat, type TraceFormat } from "../../lib/ingest/sniff.ts";
import { cli, tempDir } from "../helpers.ts";

const t = (s: string): Uint8Array => new TextEncoder().encode(s);

test("each format is recognized from its first bytes", () => {
  const cases: [string, Uint8Array, TraceFormat][] = [
    ["perfetto packet tag", Uint8Array.from([0x0a, 0x05, 0x40, 0x01]), "perfetto"],
    ["chrome array", t('[{"ph":"X"}]'), "chrome_json"],
    ["chrome array after a BOM and blanks", t('\ufeff \n[ {"ph":"B"}'), "chrome_json"],
    ["chrome object on one line", t('{"traceEvents":[],"metadata":{}}'), "chrome_json"],
    ["chrome object, pretty", t('{\n  "traceEvents": [\n'), "chrome_json"],
    ["chrome object with metadata first, pretty", t('{\n "metadata": {},\n "traceEvents": ['), "chrome_json"],
    ["otlp pretty", t('{\n  "resourceSpans": [\n'), "otlp_json"],
    ["otlp logs line", t('{"resourceLogs":[]}\n{"resourceMetrics":[]}\n'), "otlp_json"],
    ["otlp line with another key first", t('{"x":1,"resourceMetrics":[]}\n'), "otlp_json"],
    ["jsonl (pino)", t('{"level":30,"time":1700000000000,"msg":"hi"}\n{"level":30'), "jsonl"],
    ["jsonl (ECS)", t('{"@timestamp":"2023-11-14T22:13:20Z","message":"hi"}'), "jsonl"],
    // JSON first, then protobuf (trace_processor's order): a newline is also the packet tag 0x0A.
    ["chrome array after a newline", t('\n[{"ph":"X","ts":1}]'), "chrome_json"],
    ["chrome object after a newline", t('\n{"traceEvents":[]}'), "chrome_json"],
    ["empty chrome array after newlines", t("\n\r\n[]"), "chrome_json"],
    ["otlp after a newline", t('\n{"resourceSpans":[]}'), "otlp_json"],
    ["jsonl after a newline", t('\n{"time":1,"msg":"a"}\n'), "jsonl"],
    // A packet of 91 or 123 bytes: '[' or '{' after the tag, but not followed by JSON.
    ["perfetto packet of 91 bytes", Uint8Array.from([0x0a, 0x5b, 0x40, 0x01, 0x12]), "perfetto"],
    ["perfetto packet of 123 bytes", Uint8Array.from([0x0a, 0x7b, 0x08, 0x01, 0x12]), "perfetto"],
    [
      "an object without trace or time keys goes to chrome (whose error names traceEvents)",
      t('{"foo":1}'),
      "chrome_json",
    ],
  ];
  for (const [what, head, format] of cases) expect(sniffFormat("x", head), what).toBe(format);
});

test("empty, blank and unknown content are errors naming the input", () => {
  expect(() => sniffFormat("a.bin", new Uint8Array(0))).toThrow("a.bin is empty");
  expect(() => sniffFormat("a.bin", t(" \n\t"))).toThrow("only whitespace");
  expect(() => sniffFormat("a.bin", t("hello"))).toThrow("a.bin is not a trace tracelake recognizes");
  expect(() => sniffFormat("a.bin", t("hello"))).toThrow("--format");
});

test("a sniffed format that fails in its first bytes names the other formats and --format (issue 23 item 1)", () => {
  const dir = tempDir("tl-sniff-");
  const lake = join(dir, "lake");
  // A newline then text: sniffed as Perfetto protobuf (0x0A is Trace.packet's tag), not a trace.
  const text = join(dir, "notes.txt");
  writeFileSync(text, "\nhello, these are notes, not a trace\n");
  // A JSON object without traceEvents: sniffed as Chrome JSON, refused by its importer.
  const obj = join(dir, "config.json");
  writeFileSync(obj, '{"traceEvents": 5}');
  for (const [file, sniffed, others] of [
    [text, "perfetto", "chrome_json, otlp_json, jsonl"],
    [obj, "chrome_json", "perfetto, otlp_json, jsonl"],
  ] as const) {
    const r = cli(lake, ["ingest", file]);
    expect(r.code).toBe(65);
    expect(r.stderr).toContain(
      `(its first bytes looked like ${sniffed}; if it is another format, pass --format with one of ${others})`,
    );
  }
  // With --format given, the importer's own message only.
  const forced = cli(lake, ["ingest", "--format", "chrome_json", obj]);
  expect(forced.code).toBe(65);
  expect(forced.stderr).toContain('without a "traceEvents" array');
  expect(forced.stderr).not.toContain("looked like");
  // Nothing reached the lake.
  expect(cli(lake, ["query", "-f", "csv", "SELECT count(*) AS n FROM ingests"]).stdout).toBe("n\n0\n");
});
