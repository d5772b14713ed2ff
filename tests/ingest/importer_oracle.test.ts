/**
 * The importer (JS parsing, JS Parquet writer, DuckDB for odd events) against the previous,
 * all-DuckDB importer (tests/ingest/legacy_importer.ts) on the same framed input: same counts
 * by phase/destination/reason, same processes and threads with the same names and properties,
 * and the same rows in the blocks of each stream, column by column, with the same schema.
 * The inputs are fuzzed events full of the cases the JS parser must get right or hand over:
 * escapes, unicode, invalid UTF-8, numbers of every shape, numbers as strings, nested and
 * pretty-printed args, duplicate keys, malformed events.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { Engine } from "../../lib/duck/engine.ts";
import { replaceLoneSurrogateEscapes } from "../../lib/ingest/chrome/canonical.ts";
import { ChromeJsonFramer, SpeculationError } from "../../lib/ingest/chrome/framer.ts";
import { ChromeJsonImporter } from "../../lib/ingest/chrome/importer.ts";
import { prng, ROOT, tempDir } from "../helpers.ts";
import { LegacyChromeJsonImporter } from "./legacy_importer.ts";

const enc = new TextEncoder();

const NUMBERS = [
  // 16-17 significant digits: shortest round-trip forms (as JS and Chrome write doubles) and not.
  "0.08500000000000001",
  "0.07099999999999999",
  "123456789.12345679",
  "123456789.123456789",
  "0.30000000000000004",
  "0.3000000000000000444",
  "-2.2250738585072014",
  "1.0000000000000002",
  "1.00000000000000020",
  "6240147669048946975",
  "0",
  "-0",
  "1",
  "-1",
  "12",
  "1.5",
  "1.50",
  "2.0",
  "2.00",
  "-3.25",
  "0.5",
  "0.0",
  "-0.0",
  "0.0001",
  "0.00012345",
  "0.00001",
  "1e3",
  "1E-7",
  "1.0e+2",
  "123456789012345.0",
  "99999999999999.9",
  "1234567890123.456",
  "263456789012.345678",
  "1.9999999999999998",
  "1000000000000000.5",
  "123456789012345678",
  "1234567890123456789",
  "12345678901234567890",
  "-12345678901234567890",
  "18446744073709551616",
  "9007199254740993",
  "1700000000000000",
  "8.25",
  "1000000123.456",
  "0.1",
  "100",
  "-5.5",
  "4.0005",
  "7.9999999",
  "3.14159265358979",
];
const DURATIONS = NUMBERS.filter((n) => Math.abs(Number(n)) < 1e12 && !/^-?0\.0+1/.test(n)).concat(["NaN", "1e3"]);
const BAD_NUMBERS = ["NaN", "Infinity", "-Infinity", "01", "1.", ".5", "+1", "1e", "-", "0x10", "1e400"];
const STRINGS = [
  '"X"',
  '"B"',
  '"i"',
  '"plain"',
  '""',
  '"with space"',
  '"a\\"b"',
  '"back\\\\slash"',
  '"tab\\tnl\\n"',
  '"\\/slash"',
  '"\\u0041"',
  '"\\u00e9t\\u00E9"',
  '"é"',
  '"日本語"',
  '"😀"',
  '"\\ud83d\\ude00"',
  '"\\ud800"',
  '"\\udc00x"',
  '"\\u001f"',
  '"\\u001F"',
  '"\\b\\f\\r"',
  '"\\x"',
  '"\\u12"',
  '"8.25"',
  '"-0.5"',
  '"12"',
  '"0012"',
  '"1e3"',
  '" 12"',
  '"1.5 "',
  '"1234567890123.4567"',
  '"true"',
  '"soon"',
  '"X\\u0000Y"',
  '"\\u0058"',
  '"ph\\u0068"',
  '"abcdefghijklmnopqrstuvwxyz"',
  '"\\u007f\\u2028"',
];
const LITERALS = ["true", "false", "null"];
/** Values a plausible event has (the JS parser's fast path), for the events that are not hostile. */
const SAFE_NUMBERS = NUMBERS.filter((n) => !/[eE]/.test(n) && n !== "-0.0" && n !== "0.00001");
const SAFE_STRINGS = STRINGS.filter((s) => !["\\ud800", "\\udc00", "\\x", "\\u12"].some((b) => s.includes(b)));
let hostile = true;
const ALL_NUMBERS = NUMBERS;
const ALL_STRINGS = STRINGS;
const PHASES = ["X", "B", "E", "i", "I", "R", "C", "b", "e", "n", "S", "T", "p", "F", "s", "t", "f", "M", "P", "Q", ""];

function pick<T>(r: () => number, a: readonly T[]): T {
  return a[Math.floor(r() * a.length)] as T;
}

function scalar(r: () => number): string {
  const x = r();
  if (x < 0.45) return pick(r, hostile ? NUMBERS : SAFE_NUMBERS);
  if (x < 0.85) return pick(r, hostile ? STRINGS : SAFE_STRINGS);
  if (x < 0.97 || !hostile) return pick(r, LITERALS);
  return pick(r, BAD_NUMBERS);
}

/** Chance of whitespace at each place where JSON allows it (fuzzTrace's `plain` lowers it). */
let wsRate = 0.15;
/** Chance of an event with hostile values. */
let hostileRate = 0.3;

function ws(r: () => number): string {
  const x = r();
  return x < 1 - wsRate ? "" : x < 1 - wsRate / 3 ? " " : pick(r, ["  ", "\t", "\n  ", " \r\n"]);
}

function nested(r: () => number, depth: number): string {
  const x = r();
  if (depth > 3 || x < 0.4) return scalar(r);
  if (x < 0.75) {
    const n = Math.floor(r() * 4);
    const members: string[] = [];
    for (let k = 0; k < n; k++) {
      const key =
        r() < 0.1 ? pick(r, STRINGS) : `"${pick(r, ["a", "b", "name", "local", "global", "data", "value", "a"])}"`;
      members.push(`${ws(r)}${key}${ws(r)}:${ws(r)}${nested(r, depth + 1)}${ws(r)}`);
    }
    return `{${members.join(",")}${r() < 0.03 ? "," : ""}${ws(r)}}`;
  }
  const n = Math.floor(r() * 4);
  const items: string[] = [];
  for (let k = 0; k < n; k++) items.push(`${ws(r)}${nested(r, depth + 1)}${ws(r)}`);
  return `[${items.join(",")}${r() < 0.03 ? "," : ""}]`;
}

/** One fuzzed event as JSON text (mostly plausible, sometimes hostile). */
function event(r: () => number, i: number): string {
  hostile = r() < hostileRate;
  const NUMBERS = hostile ? ALL_NUMBERS : SAFE_NUMBERS;
  const STRINGS = hostile ? ALL_STRINGS : SAFE_STRINGS;
  const ph = r() < 0.9 ? `"${pick(r, PHASES)}"` : scalar(r);
  const fields: [string, string][] = [["ph", ph]];
  const pidR = r();
  if (pidR < 0.92) fields.push(["pid", pick(r, ["1", "2", '"gpu"', "3", "1.0", '"1"', "true", "null", "-0"])]);
  if (r() < 0.85) fields.push(["tid", pick(r, ["10", "11", '"main"', "12", "null", '"1\\u0030"', "10.50", "{}"])]);
  const tsR = r();
  if (tsR < 0.7) fields.push(["ts", pick(r, NUMBERS)]);
  else if (tsR < 0.9) fields.push(["ts", pick(r, STRINGS)]);
  else if (tsR < 0.95) fields.push(["ts", scalar(r)]);
  // (Large durations are left out: the previous importer failed on ts + dur overflowing BIGINT.)
  if (r() < 0.6) fields.push(["dur", r() < 0.8 ? pick(r, DURATIONS) : pick(r, STRINGS)]);
  if (r() < 0.3) fields.push(["tts", pick(r, NUMBERS)]);
  if (r() < 0.3) fields.push(["tdur", r() < 0.8 ? pick(r, NUMBERS) : scalar(r)]);
  if (r() < 0.9) fields.push(["name", r() < 0.8 ? pick(r, STRINGS) : nested(r, 1)]);
  if (r() < 0.7) fields.push(["cat", r() < 0.9 ? pick(r, STRINGS) : scalar(r)]);
  if (r() < 0.25) fields.push(["id", r() < 0.5 ? pick(r, NUMBERS) : r() < 0.9 ? pick(r, STRINGS) : nested(r, 1)]);
  if (r() < 0.25) {
    const x = r();
    const v =
      x < 0.5
        ? `{"${pick(r, ["local", "global", "other"])}":${r() < 0.7 ? pick(r, ['"0x1"', '"0xabc"', "7", "1.50"]) : scalar(r)}}`
        : x < 0.7
          ? `{"local":${scalar(r)},"global":${scalar(r)}}`
          : nested(r, 1);
    fields.push(["id2", v]);
  }
  if (r() < 0.15) fields.push(["scope", pick(r, STRINGS)]);
  if (r() < 0.15) fields.push(["s", pick(r, ['"t"', '"g"', '"p"', "1"])]);
  if (r() < 0.1) fields.push(["bp", pick(r, ['"e"', "null"])]);
  if (r() < 0.15) fields.push(["bind_id", pick(r, ['"0x1"', "7", "null"])]);
  if (r() < 0.15) fields.push(["flow_in", pick(r, ["true", "false", '"true"', "1", "null", '"yes"'])]);
  if (r() < 0.15) fields.push(["flow_out", pick(r, ["true", "false", '"true"', "0", "null"])]);
  if (r() < 0.8) {
    const x = r();
    fields.push(["args", x < 0.8 ? nested(r, 0) : x < 0.9 ? "{}" : scalar(r)]);
  }
  if (r() < 0.05) fields.push([pick(r, ["ph", "ts", "pid", "__seq", "args"]), scalar(r)]); // duplicate key
  if (r() < 0.05) fields.push(["extra", nested(r, 0)]);
  if (r() < 0.03) fields.push(["p\\u0068", '"X"']);
  // Shuffle.
  for (let k = fields.length - 1; k > 0; k--) {
    const j = Math.floor(r() * (k + 1));
    [fields[k], fields[j]] = [fields[j] as [string, string], fields[k] as [string, string]];
  }
  let text = `{${fields.map(([k, v]) => `${ws(r)}"${k}"${ws(r)}:${ws(r)}${v}`).join(",")}${ws(r)}}`;
  const bad = hostile ? r() : 1;
  if (bad < 0.01) text = text.replace(":", " ");
  else if (bad < 0.02) text = text.replace(/}$/, ",}");
  else if (bad < 0.03) text = text.replace(/:/, ':NaN,"nan":');
  else if (bad < 0.035) text = text.replace(/"name":"/, '"name":"raw\ttab');
  void i;
  return text;
}

/** Time values around the WebAssembly path's conversion rules (canonical or not, 13-17 digits, signs). */
const PLAIN_TIMES = [
  "0",
  "5",
  "1000001841.220",
  "1000001841.22",
  "1000001841.2",
  "2.00",
  "2.0",
  "12.5000",
  "-3.25",
  "-7",
  "0.001",
  "0.0005",
  "0.00015",
  "999999999999",
  "9999999999999",
  "999999999999999",
  "1234567890123456",
  "123456789012.345",
  "12345678901.2345",
  "1234567890123.4500",
  "1.0000000000000002",
  "0.30000000000000004",
  "-0",
  "1e3",
  '"12"',
  "true",
  "null",
];
/** Durations: the times below 1e12 µs (the previous importer failed on ts + dur overflowing BIGINT). */
const PLAIN_DURS = PLAIN_TIMES.filter((t) => !/^-?\d{13,}/.test(t));
/** Text values: plain, canonical numbers, literals, nested values, and a few that are not plain. */
const PLAIN_TEXTS = [
  '"a"',
  '"RunTask"',
  '""',
  '"0x1a"',
  "7",
  "18446744073709551617",
  "1.5",
  "1.50",
  "-2",
  "true",
  "false",
  "null",
  '{"a":1}',
  "[1,2]",
  '"caf\u00e9"',
  '"tab\tx"',
  '"é"',
];
const PLAIN_ARGS = [
  "{}",
  '{"a":1}',
  '{"data":{"frame":"F1","url":"https://x/1"}}',
  '{"v":[1,2.5,"x",true,null,{}]}',
  '{"n":1.250}',
  '{"n":0.0001}',
  '{"n":-0}',
  '{"big":123456789012345678901234567890}',
  '{"s":"a/b"}',
  '{ "a":1}',
  '"text"',
  "5",
  "true",
  "[]",
  "null",
];

/** One event in the WebAssembly path's shape (minified), with values around its rules. */
function plainEvent(r: () => number): string {
  const fields: [string, string][] = [];
  const ph = pick(r, ["X", "X", "X", "B", "E", "i", "I", "C", "b", "e", "n", "s", "t", "f", "M", "P", "Q"]);
  fields.push(["ph", r() < 0.97 ? `"${ph}"` : pick(r, ['"XX"', "1", "null"])]);
  if (r() < 0.97) fields.push(["pid", pick(r, ["1", "2", "1001", "9999999", "10000000", "0", '"7"', "-1", "1.0"])]);
  if (r() < 0.9)
    fields.push(["tid", pick(r, ["10", "11", "100511", "9999999", "12345678", "null", '"main"', "10.50"])]);
  if (r() < 0.97) fields.push(["ts", pick(r, PLAIN_TIMES)]);
  if (ph === "X" ? r() < 0.95 : r() < 0.2) fields.push(["dur", pick(r, PLAIN_DURS)]);
  if (r() < 0.3) fields.push(["tts", pick(r, PLAIN_TIMES)]);
  if (r() < 0.3) fields.push(["tdur", pick(r, PLAIN_DURS)]);
  if (r() < 0.95) fields.push(["name", pick(r, PLAIN_TEXTS)]);
  if (r() < 0.8) fields.push(["cat", pick(r, PLAIN_TEXTS)]);
  const async = "benstf".includes(ph);
  if (r() < (async ? 0.5 : 0.1)) fields.push(["id", pick(r, ['"0x1"', "7", "1.50", "true", '{"a":1}', "null"])]);
  if (r() < (async ? 0.5 : 0.05))
    fields.push([
      "id2",
      pick(r, [
        '{"local":"0x1"}',
        '{"global":"0x2"}',
        '{"local":7}',
        '{"global":-3}',
        '{"other":1,"local":"0x5"}',
        '{"local":{"a":1}}',
        '{"x":[1],"global":"g"}',
        '{"local":true}',
        "{}",
        '"0x1"',
        "null",
      ]),
    ]);
  if (r() < 0.15) fields.push(["scope", pick(r, PLAIN_TEXTS)]);
  if (r() < 0.15) fields.push(["s", pick(r, ['"t"', '"g"', "1"])]);
  if (r() < 0.1) fields.push(["bp", pick(r, ['"e"', "null"])]);
  if (r() < 0.15) fields.push(["bind_id", pick(r, ['"0x1"', "7", "null"])]);
  if (r() < 0.15) fields.push(["flow_in", pick(r, ["true", "false", '"true"', "1", "null", "{}"])]);
  if (r() < 0.15) fields.push(["flow_out", pick(r, ["true", "false", '"x"', "0", "null"])]);
  if (r() < 0.85) fields.push(["args", pick(r, PLAIN_ARGS)]);
  if (r() < 0.04) fields.push([pick(r, ["ph", "ts", "pid", "args", "name"]), pick(r, PLAIN_TEXTS)]); // duplicate key
  if (r() < 0.05) fields.push(["extra", pick(r, PLAIN_ARGS)]);
  for (let k = fields.length - 1; k > 0; k--) {
    const j = Math.floor(r() * (k + 1));
    [fields[k], fields[j]] = [fields[j] as [string, string], fields[k] as [string, string]];
  }
  return `{${fields.map(([k, v]) => `"${k}":${v}`).join(",")}}`;
}

/**
 * A trace of fuzzed events, with raw invalid UTF-8 in some; with `oneLine`, no raw line break
 * inside an event (each event on its line, as Chrome writes them); with `plain`, little
 * whitespace and fewer hostile events (most events are then in the WebAssembly path's shape).
 */
function fuzzTrace(seed: number, n: number, oneLine = false, plain = false): Uint8Array {
  wsRate = plain ? 0.005 : 0.15;
  hostileRate = plain ? 0.1 : 0.3;
  const r = prng(seed);
  const parts: Uint8Array[] = [enc.encode('{"traceEvents":[\n')];
  for (let i = 0; i < n; i++) {
    const text = plain && r() < 0.8 ? plainEvent(r) : event(r, i);
    let ev = enc.encode(`${oneLine ? text.replace(/[\r\n]/g, " ") : text},\n`);
    if (r() < 0.01) {
      const bytes = pick(r, [[0xff], [0xc3], [0xed, 0xa0, 0x80], [0xc0, 0xaf], [0xf4, 0x90, 0x80, 0x80], [0xc3, 0xa9]]);
      const at = ev.indexOf(0x22, 2) + 1;
      const out = new Uint8Array(ev.length + bytes.length);
      out.set(ev.subarray(0, at));
      out.set(bytes, at);
      out.set(ev.subarray(at), at + bytes.length);
      ev = out;
    }
    parts.push(ev);
  }
  parts.push(enc.encode('{"ph":"i","pid":1,"ts":0,"name":"end"}]}'));
  const total = parts.reduce((s, p) => s + p.length, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

interface Outcome {
  counts: Record<string, number>;
  processes: unknown[];
  rows: string[];
  /** Per stream, the time range covered by its blocks. */
  ranges: string[];
  schema: string;
}

type AnyImporter = {
  processes: Map<
    string,
    {
      pid: string;
      name: string | null;
      labels: string | null;
      sortIndex: number | null;
      metadata: Record<string, unknown>;
      logStreamId: string;
      metricsStreamId: string;
      threads: Map<string, { streamId: string; tid: string; name: string | null; sortIndex: number | null }>;
    }
  >;
  blocks: { streamId: string; stagedPath: string; nbObjects: number; beginNs: bigint | null; endNs: bigint | null }[];
  phaseCounts(): { ph: string; dest: string; reason: string | null; count: number }[];
};

async function outcome(engine: Engine, imp: AnyImporter): Promise<Outcome> {
  const counts: Record<string, number> = {};
  for (const c of imp.phaseCounts()) {
    const k = `${c.ph}|${c.dest}|${c.reason}`;
    counts[k] = (counts[k] ?? 0) + c.count;
  }
  const streamKey = new Map<string, string>();
  const processes = [...imp.processes.values()]
    .map((p) => {
      streamKey.set(p.logStreamId, `${p.pid}|log|`);
      streamKey.set(p.metricsStreamId, `${p.pid}|metrics|`);
      for (const t of p.threads.values()) streamKey.set(t.streamId, `${p.pid}|cpu|${t.tid}`);
      return {
        pid: p.pid,
        name: p.name,
        labels: p.labels,
        sortIndex: p.sortIndex,
        metadata: p.metadata,
        threads: [...p.threads.values()].map((t) => [t.tid, t.name, t.sortIndex]).sort(),
      };
    })
    .sort((a, b) => (a.pid < b.pid ? -1 : 1));
  const rows: string[] = [];
  let schema = "";
  // Each block's range must be its rows' (min time, max time + max(dur, 0)); per stream, the
  // union of the ranges compares across importers (they cut blocks differently).
  const streamRange = new Map<string, [bigint, bigint]>();
  for (const b of imp.blocks) {
    const f = b.stagedPath.replaceAll("'", "''");
    const key = streamKey.get(b.streamId) ?? "?";
    const rs = await engine.rowsJson<Record<string, unknown>>(
      `SELECT * REPLACE (epoch_ns(time)::VARCHAR AS time) FROM read_parquet('${f}')`,
    );
    expect(rs.length).toBe(b.nbObjects);
    for (const r of rs) rows.push(`${key}|${JSON.stringify(r)}`);
    const own = await engine.rows<{ b: bigint; e: bigint }>(
      `SELECT min(epoch_ns(time)) AS b, max(epoch_ns(time) + greatest(coalesce(dur, 0), 0)) AS e FROM read_parquet('${f}')`,
    );
    expect([b.beginNs, b.endNs]).toEqual([own[0]?.b ?? null, own[0]?.e ?? null]);
    if (b.beginNs !== null && b.endNs !== null) {
      const prev = streamRange.get(key);
      streamRange.set(key, [
        prev && prev[0] < b.beginNs ? prev[0] : b.beginNs,
        prev && prev[1] > b.endNs ? prev[1] : b.endNs,
      ]);
    }
    if (!schema) {
      const d = await engine.rowsJson<{ column_name: string; column_type: string }>(
        `DESCRIBE SELECT * FROM read_parquet('${f}')`,
      );
      schema = d.map((c) => `${c.column_name} ${c.column_type}`).join(", ");
    }
  }
  const ranges = [...streamRange].map(([k, [b, e]]) => `${k}|${b}|${e}`);
  rows.sort();
  ranges.sort();
  return { counts, processes, rows, ranges, schema };
}

/** Frames `input` and imports it with both importers; returns both outcomes. */
async function both(
  engine: Engine,
  input: Uint8Array,
  batchBytes: number,
  workers = 0,
  bufferBytes?: number,
  maxEvent = 1 << 20,
  rawLines = false,
  wasm = true,
): Promise<[Outcome, Outcome, { fast: number; wasm: number; duckdb: number; blocks: number }]> {
  const dir = tempDir("tl-oracle-");
  const legacyDir = join(dir, "legacy");
  const newDir = join(dir, "new");
  mkdirSync(legacyDir, { recursive: true });
  mkdirSync(newDir, { recursive: true });
  const legacy = new LegacyChromeJsonImporter(engine, legacyDir, maxEvent);
  await legacy.init();
  const imp = new ChromeJsonImporter(newDir, workers, bufferBytes, undefined, wasm);
  await imp.init();
  expect(imp.stats.workers).toBe(workers);
  const batches: { bytes: Uint8Array; events: number }[] = [];
  const framer = new ChromeJsonFramer(
    (bytes, events) => batches.push({ bytes: bytes.slice(), events }),
    batchBytes,
    maxEvent,
  );
  for (let i = 0; i < input.length; i += 4096) framer.push(input.slice(i, i + 4096));
  framer.end();
  // The new importer gets its batches from a framer in line mode when asked (the legacy one
  // always from the byte-wise framer: the oracle).
  let newBatches = batches;
  if (rawLines) {
    newBatches = [];
    const lineFramer = new ChromeJsonFramer(
      (bytes, events) => newBatches.push({ bytes: bytes.slice(), events }),
      batchBytes,
      maxEvent,
      true,
    );
    for (let i = 0; i < input.length; i += 65536) lineFramer.push(input.slice(i, i + 65536));
    lineFramer.end();
  }
  let k = 0;
  for (const b of batches) {
    const path = join(legacyDir, `in-${k++}.ndjson`);
    // The new importer keeps a lone surrogate escape as U+FFFD where DuckDB refuses the event:
    // the oracle gets the same repair (tests/ingest/ingest.test.ts checks it independently).
    const repaired = b.bytes.slice();
    replaceLoneSurrogateEscapes(repaired, 0, repaired.length);
    await Bun.write(path, repaired);
    await legacy.importBatch(path, b.events);
  }
  // (After the legacy importer: both use DuckDB temp table tl_batch.)
  const pending: Promise<void>[] = [];
  for (const b of newBatches) {
    // Several batches in flight, as ingest() has with workers.
    pending.push(imp.importBatch(b.bytes, b.events));
    if (pending.length > imp.parallelism) await pending.shift();
  }
  await Promise.all(pending);
  await imp.drain();
  imp.close();
  return [
    await outcome(engine, legacy),
    await outcome(engine, imp),
    {
      fast: imp.stats.fastEvents,
      wasm: imp.stats.wasmEvents,
      // (Events off both fast paths: DuckDB imported them before, the slow path now.)
      duckdb: imp.stats.slowEvents,
      blocks: imp.blocks.length,
    },
  ];
}

describe("importer against the previous all-DuckDB importer", () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.open({ threads: 2 });
  });
  afterAll(() => engine.close());

  // [seed, workers, line mode, WebAssembly fast path, plain events]
  for (const [seed, workers, rawLines, wasm, plain] of [
    [1, 0, false, true, true],
    [2, 0, false, true, true],
    [3, 2, false, true, false],
    [4, 2, false, false, false],
    [5, 0, true, false, false],
    [6, 0, true, true, true],
    [7, 2, true, true, true],
    [8, 2, true, false, false],
    [9, 0, false, false, true],
    [10, 2, true, true, false],
  ] as const) {
    const mode = `${rawLines ? ", line mode" : ""}${wasm ? ", WebAssembly fast path" : ", JS only"}${plain ? ", plain events" : ""}`;
    test(`fuzzed events, seed ${seed}, ${workers} workers${mode}: same counts, processes, rows and schema`, async () => {
      const input = fuzzTrace(seed, 3000, rawLines, plain);
      // Even seeds: small batches, and blocks written whenever 64 KiB of rows are held.
      const even = seed % 2 === 0;
      const [a, b, paths] = await both(
        engine,
        input,
        even ? 64 * 1024 : 1 << 20,
        workers,
        even ? 64 * 1024 : undefined,
        1 << 20,
        rawLines,
        wasm,
      );
      if (even) expect(paths.blocks).toBeGreaterThan(30);
      // The WebAssembly path takes the plain events when on, none when off.
      if (!wasm) expect(paths.wasm).toBe(0);
      else if (plain) expect(paths.wasm).toBeGreaterThan(60);
      // The fuzz must exercise both paths, and import a good share of events.
      expect(paths.fast).toBeGreaterThan(800);
      expect(paths.duckdb).toBeGreaterThan(plain ? 300 : 800);
      expect(a.rows.length).toBeGreaterThan(400);
      expect(b.counts).toEqual(a.counts);
      expect(b.ranges).toEqual(a.ranges);
      expect(b.processes).toEqual(a.processes);
      expect(b.schema).toBe(a.schema);
      expect(b.rows.length).toBe(a.rows.length);
      for (let i = 0; i < a.rows.length; i++) if (b.rows[i] !== a.rows[i]) expect(b.rows[i]).toBe(a.rows[i] as string);
    }, 60_000);
  }

  test("line mode on fuzzed events going on over several lines: the importer throws SpeculationError (ingest then frames the input again)", async () => {
    const input = fuzzTrace(5, 3000);
    let err: unknown = null;
    try {
      await both(engine, input, 1 << 20, 0, undefined, 1 << 20, true);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SpeculationError);
  }, 60_000);

  test.each([
    [false, true],
    [true, true],
    [true, false],
  ])(
    "real Chromium trace, in workers (line mode %p, WebAssembly fast path %p): same outcome, every event parsed in JS",
    async (rawLines, wasm) => {
      const input = new Uint8Array(gunzipSync(readFileSync(join(ROOT, "fixtures/chromium_startup.json.gz"))));
      const [a, b, paths] = await both(engine, input, 8 << 20, 2, undefined, 1 << 20, rawLines, wasm);
      // The real trace's events are nearly all plain: the WebAssembly path takes 99% of them.
      if (wasm) expect(paths.wasm).toBeGreaterThan(0.99 * paths.fast);
      else expect(paths.wasm).toBe(0);
      expect(b.ranges).toEqual(a.ranges);
      expect(b.counts).toEqual(a.counts);
      expect(b.processes).toEqual(a.processes);
      expect(b.schema).toBe(a.schema);
      expect(b.rows).toEqual(a.rows);
      // Every event of this real trace is on the JS path (64-bit ids, non-shortest doubles included).
      expect(paths.duckdb).toBe(0);
    },
    300_000,
  );

  test.each([
    false,
    true,
  ])("huge events (MB-long strings, 100k-element args, deep nesting) and one over the limit (line mode %p)", async (rawLines) => {
    const parts = ['{"traceEvents":[\n'];
    parts.push(
      `{"ph":"X","pid":1,"tid":2,"ts":1.5,"dur":2,"name":"${"n".repeat(2_000_000)}","args":{"s":"${'a\\"'.repeat(300_000)}"}},\n`,
    );
    parts.push(
      `{"ph":"X","pid":1,"tid":2,"ts":2,"dur":1,"name":"array","args":{"v":[${Array.from({ length: 100_000 }, (_, i) => (i % 3 === 0 ? `${i}.50` : String(i))).join(", ")}]}},\n`,
    );
    parts.push(`{"ph":"i","pid":1,"tid":2,"ts":3,"name":"deep","args":${"[".repeat(300)}1${"]".repeat(300)}},\n`);
    parts.push(`{"ph":"i","pid":1,"tid":2,"ts":4,"name":"too big","args":{"s":"${"z".repeat(9_000_000)}"}},\n`);
    parts.push('{"ph":"i","pid":1,"tid":2,"ts":5,"name":"after"}]}');
    const input = enc.encode(parts.join(""));
    const [a, b, paths] = await both(engine, input, 4 << 20, 2, undefined, 8 << 20, rawLines);
    // The MB-long strings and the long array in JS; the 300-deep nesting (over the parser's 256)
    // in DuckDB.
    expect(paths).toMatchObject({ fast: 3, duckdb: 1 });
    expect(b.counts).toEqual(a.counts);
    expect(b.processes).toEqual(a.processes);
    expect(b.ranges).toEqual(a.ranges);
    expect(b.rows).toEqual(a.rows);
    expect(a.rows.length).toBe(4);
  }, 120_000);

  test.each([
    false,
    true,
  ])("a trace whose every event needs DuckDB (`\\/` escapes inside args), in workers (line mode %p): same outcome", async (rawLines) => {
    const lines: string[] = [];
    for (let i = 0; i < 500; i++)
      lines.push(`{"ph":"X","pid":7,"tid":${i % 3},"ts":${i},"dur":1,"name":"a\\/b ${i}","args":{"u":"c\\/d ${i}"}}`);
    const input = enc.encode(`{"traceEvents":[${lines.join(",\n")}]}`);
    const [a, b, paths] = await both(engine, input, 16 * 1024, 2, undefined, 1 << 20, rawLines);
    expect(paths).toMatchObject({ fast: 0, duckdb: 500 });
    expect(b.counts).toEqual(a.counts);
    expect(b.processes).toEqual(a.processes);
    expect(b.ranges).toEqual(a.ranges);
    expect(b.rows).toEqual(a.rows);
    expect(a.rows.length).toBe(500);
    const all = b.rows.join("\n");
    expect(all).toContain("a/b 499");
    expect(all).toContain("c/d 499");
  }, 60_000);

  test("events of every size around the size limit: line mode skips exactly the ones the byte scan skips", async () => {
    const lines: string[] = [];
    for (let pad = 100; pad < 200; pad++)
      lines.push(`{"ph":"i","pid":1,"tid":1,"ts":${pad},"name":"${"x".repeat(pad)}"}`);
    const input = enc.encode(`{"traceEvents":[\n${lines.join(",\n")}\n]}`);
    const [a, b] = await both(engine, input, 1 << 20, 0, undefined, 200, true);
    expect(b.counts).toEqual(a.counts);
    expect(b.rows).toEqual(a.rows);
    // Some were skipped, some imported.
    expect(a.rows.length).toBeGreaterThan(10);
    expect(a.rows.length).toBeLessThan(100);
  });

  test.each([false, true])("edge cases fixture (line mode %p): same outcome", async (rawLines) => {
    const input = new Uint8Array(readFileSync(join(ROOT, "fixtures/edge_cases.json")));
    const [a, b] = await both(engine, input, 1 << 20, 0, undefined, 1 << 20, rawLines);
    expect(b.counts).toEqual(a.counts);
    expect(b.ranges).toEqual(a.ranges);
    expect(b.processes).toEqual(a.processes);
    expect(b.rows).toEqual(a.rows);
  });
});
