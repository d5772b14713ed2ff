/**
 * The import_stats view (lib/sql/import_stats.ts) on a hand-made Chrome JSON trace whose losses
 * are known by construction: one row per (ingest, code, phase, dest) with the count, severity,
 * description and the first examples (seq = position in the event array, name).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Engine } from "../../lib/duck/engine.ts";
import { ingest } from "../../lib/ingest/ingest.ts";
import { Lake } from "../../lib/lake/lake.ts";
import { prepareQuery } from "../../lib/sql/query.ts";
import { tempDir } from "../helpers.ts";

// Positions: 0 ok, 1-4 X without dur (4 of them: examples keep the first 3), 5 phase P,
// 6 malformed, 7 counter with one bad string value and one good, 8 ts missing, 9 ok.
const TRACE = `{"traceEvents":[
{"ph":"X","name":"ok","ts":1,"dur":1,"pid":1,"tid":1},
{"ph":"X","name":"nodur1","ts":2,"pid":1,"tid":1},
{"ph":"X","name":"nodur2","ts":3,"pid":1,"tid":1},
{"ph":"X","name":"nodur3","ts":4,"pid":1,"tid":1},
{"ph":"X","name":"nodur4","ts":5,"pid":1,"tid":1},
{"ph":"P","name":"sample","ts":6,"pid":1,"tid":1},
{"ph":"X","name":"bad" "ts":7},
{"ph":"C","name":"ctr","ts":8,"pid":1,"args":{"good":"050","bad":"1.5e"}},
{"ph":"i","name":"nots","pid":1,"tid":1},
{"ph":"X","name":"ok2","ts":10,"dur":1,"pid":1,"tid":1}
]}`;

describe("import_stats", () => {
  let engine: Engine;
  let lake: Lake;
  let ingestId: string;
  beforeAll(async () => {
    const dir = tempDir();
    const file = join(dir, "losses.json");
    writeFileSync(file, TRACE);
    engine = await Engine.open({ threads: 1 });
    lake = await Lake.open(engine, join(dir, "lake"));
    ingestId = (await ingest(engine, lake, file)).ingestId;
  });
  afterAll(() => engine.close());

  test("one row per (ingest, code, phase, dest), with severity, description, count and examples", async () => {
    const sql = `SELECT ingest_id, code, phase, dest, severity, description, count, examples FROM import_stats`;
    await prepareQuery(engine, lake, sql);
    const rows = await engine.rows<Record<string, unknown>>(sql);
    const norm: Record<string, unknown>[] = rows.map((r) => ({
      ...r,
      count: Number(r.count),
      examples: (r.examples as { seq: bigint; name: string | null }[] | null)?.map((e) => [Number(e.seq), e.name]),
    }));
    expect(norm).toEqual([
      {
        ingest_id: ingestId,
        code: "chrome.malformed",
        phase: "",
        dest: "skipped",
        severity: "error",
        description: "malformed JSON event",
        count: 1,
        examples: [[6, null]],
      },
      {
        ingest_id: ingestId,
        code: "chrome.x_dur_missing",
        phase: "X",
        dest: "skipped",
        severity: "warning",
        description: "X without a numeric dur",
        count: 4,
        examples: [
          [1, "nodur1"],
          [2, "nodur2"],
          [3, "nodur3"],
        ],
      },
      {
        ingest_id: ingestId,
        code: "chrome.counter_value_invalid",
        phase: "C",
        dest: "dropped",
        severity: "warning",
        description: "counter value that is not a number (strtod rule), counted per value",
        count: 1,
        examples: [[7, "ctr"]],
      },
      {
        ingest_id: ingestId,
        code: "chrome.ts_missing",
        phase: "i",
        dest: "skipped",
        severity: "warning",
        description: "ts missing",
        count: 1,
        examples: [[8, "nots"]],
      },
      {
        ingest_id: ingestId,
        code: "chrome.phase_not_imported",
        phase: "P",
        dest: "skipped",
        severity: "info",
        description: "phase not imported",
        count: 1,
        examples: [[5, "sample"]],
      },
    ]);
  });
});
