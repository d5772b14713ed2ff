/**
 * Child process of hardening_fuzz.test.ts: ingests seeded mutations of a small real input of one
 * format into a lake, in process, one after the other, through the whole `ingest()` (sniffing,
 * the importer, the commit), and reports each case on stdout as it starts and ends, so that the
 * parent can put a time limit on every case. After a rejected case it checks that the lake is
 * exactly as before (catalog row counts and every file with its size).
 *
 * Usage: bun hardening_fuzz_child.ts FORMAT SEED CASES LAKE_DIR
 *   FORMAT: otlp_json, jsonl, chrome_json or gzip (gzip of each of the three: the compressed
 *   bytes mutated, or the content mutated then compressed).
 * Lines: `start <i>`, then `ok <i> imported`, `ok <i> rejected <message>` (an InputError: exit
 * 65), or `crash <i> <error>` (anything else, or a lake changed by a rejected case: a bug).
 */
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync, writeSync } from "node:fs";
import { join, relative } from "node:path";
import { gzipSync } from "node:zlib";
import { Engine } from "../lib/duck/engine.ts";
import { ExitCode, UserError } from "../lib/errors.ts";
import { ingest } from "../lib/ingest/ingest.ts";
import { Lake } from "../lib/lake/lake.ts";
import { mutateText } from "./hardening_fuzz_cases.ts";

const say = (line: string): void => {
  writeSync(1, `${line}\n`);
};

const [format, seedArg, casesArg, lakeDir] = process.argv.slice(2) as [string, string, string, string];
const seed = Number(seedArg);
const fixtures = join(import.meta.dir, "../fixtures");
const enc = new TextEncoder();

/** A small JSON-lines log, made here (fields of the kinds the importer maps). */
function jsonlBase(): Uint8Array {
  const lines: string[] = [];
  for (let i = 0; i < 12; i++) {
    lines.push(
      JSON.stringify({
        ts: `2024-05-01T10:00:${String(i).padStart(2, "0")}.123456Z`,
        level: ["info", "warn", "error", "debug"][i % 4],
        msg: `request ${i} done`,
        target: "svc.http",
        fields: { status: 200 + i, path: `/api/${i}`, tags: ["a", "b"], nested: { ok: i % 2 === 0 } },
      }),
    );
  }
  return enc.encode(`${lines.join("\n")}\n`);
}

const bases: Record<string, Uint8Array[]> = {
  otlp_json: ["otel_js_sdk_traces.json", "otel_js_sdk_logs.json", "otel_js_sdk_metrics.json"].map((f) =>
    readSync(join(fixtures, "otel", f)),
  ),
  jsonl: [jsonlBase()],
  chrome_json: [readSync(join(fixtures, "edge_cases.json")), readSync(join(fixtures, "span_edge_cases.json"))],
};

function readSync(path: string): Uint8Array {
  return new Uint8Array(readFileSync(path));
}

/** The `i`-th input of the run. */
function input(i: number): Uint8Array {
  if (format !== "gzip") {
    const list = bases[format] as Uint8Array[];
    return mutateText(list[i % list.length] as Uint8Array, seed, i);
  }
  const all = [
    ...(bases.otlp_json as Uint8Array[]),
    ...(bases.jsonl as Uint8Array[]),
    ...(bases.chrome_json as Uint8Array[]),
  ];
  const base = all[i % all.length] as Uint8Array;
  // Half the cases: the compressed stream itself mutated (a CRC or length that no longer holds,
  // a cut stream, garbage after it); the other half: mutated content, compressed.
  return i % 2 === 0
    ? mutateText(new Uint8Array(gzipSync(base)), seed, i)
    : new Uint8Array(gzipSync(mutateText(base, seed, i)));
}

/** Catalog row counts and every file under the lake with its size (the catalog file excepted). */
async function fingerprint(engine: Engine, lake: Lake): Promise<string> {
  await lake.attach(engine, "read");
  let counts: unknown;
  try {
    counts = await engine.rows(
      `SELECT (SELECT count(*) FROM lake.processes) AS p, (SELECT count(*) FROM lake.streams) AS s,
        (SELECT count(*) FROM lake.blocks) AS b, (SELECT count(*) FROM lake.ingests) AS i,
        (SELECT count(*) FROM lake.lakehouse_partitions) AS l, (SELECT count(*) FROM lake.temporary_files) AS t`,
    );
  } finally {
    await lake.detach(engine);
  }
  const files: string[] = [];
  const walk = (d: string): void => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else if (!n.startsWith("catalog.duckdb")) files.push(`${relative(lake.root, p)}:${st.size}`);
    }
  };
  walk(lake.root);
  return JSON.stringify({ counts, files: files.sort() }, (_k, v) => (typeof v === "bigint" ? String(v) : v));
}

const engine = await Engine.open({ threads: 1 });
const lake = await Lake.open(engine, lakeDir);
const inputs = join(lakeDir, "..", "inputs");
mkdirSync(inputs, { recursive: true });
for (let i = 0; i < Number(casesArg); i++) {
  const bytes = input(i);
  const path = join(inputs, `case-${i}${format === "gzip" ? ".gz" : ""}`);
  writeFileSync(path, bytes);
  const before = await fingerprint(engine, lake);
  say(`start ${i}`);
  try {
    await ingest(engine, lake, path, { force: true });
    say(`ok ${i} imported`);
  } catch (e) {
    if (!(e instanceof UserError) || e.exitCode !== ExitCode.badInput) {
      say(`crash ${i} ${String((e as Error)?.stack ?? e).replaceAll("\n", " | ")}`);
      continue;
    }
    const after = await fingerprint(engine, lake);
    if (after !== before) say(`crash ${i} a rejected input changed the lake: ${e.message}`);
    else say(`ok ${i} rejected ${e.message.replaceAll("\n", " ")}`);
  }
}
engine.close();
say("done");
