/**
 * A thread instant at the time a slice begins on its thread nests in that slice, in our export
 * as trace_processor nests it reading the input (the export merges its row sources by time,
 * then rank: lib/perfetto/export_state.ts SOURCE_RANK). On the real Chromium sample there are
 * 12 such instants; their (tid, ts, name, depth) as trace_processor v58.2 reads the source
 * JSON are written down here, and trace_processor is asked again when it runs on this machine.
 */
import { expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { cli, ROOT, tempDir } from "../helpers.ts";

/** trace_processor's rows for the sample JSON (query below). */
const EXPECTED = [
  '9489,624781486000,"SequenceManager PostTask",10',
  '9580,624766335000,"All active surfaces ready",11',
  '9580,625000339000,"Waiting for next BeginFrame",7',
  '9583,624651430000,"responseEnd",10',
  '9583,624659343000,"TaskQueueThrottler::InsertFence",9',
  '9583,624799176000,"unloadEventStart",12',
  '9594,624854091000,"responseEnd",10',
  '9594,624862688000,"responseEnd",12',
  '9594,624925646000,"responseEnd",10',
  '9594,624925852000,"domComplete",9',
  '9594,624944778000,"unloadEventStart",15',
  '9596,624802395000,"responseEnd",10',
];

const QUERY = `SELECT t.tid AS tid, s.ts AS ts, s.name AS name, s.depth AS depth
  FROM slice s JOIN thread_track tt ON s.track_id = tt.id JOIN thread t USING (utid)
  WHERE s.dur = 0 AND EXISTS (SELECT 1 FROM slice p WHERE p.track_id = s.track_id AND p.ts = s.ts AND p.dur > 0)
  ORDER BY 1, 2, 3, 4;`;

test("instants at a slice's begin nest in it in the exported trace, as trace_processor reads the input", () => {
  // ../shared from the main checkout, ../../shared from a worktree under wt/.
  const TP =
    [join(ROOT, "../shared/tools/trace_processor_shell"), join(ROOT, "../../shared/tools/trace_processor_shell")].find(
      existsSync,
    ) ?? "";
  const probe = TP ? Bun.spawnSync([TP, "--version"], { stdout: "pipe", stderr: "pipe" }) : null;
  if (!probe || probe.exitCode !== 0) {
    console.warn("trace_processor_shell does not run here (needs libprotobuf32): skipped");
    return;
  }
  const dir = tempDir("tl-ties-");
  const lake = join(dir, "lake");
  const sample = join(ROOT, "fixtures/chromium_startup.json.gz");
  expect(cli(lake, ["ingest", sample]).code).toBe(0);
  const out = join(dir, "all.pftrace");
  const ex = cli(lake, ["export", "perfetto", "--all", "-o", out]);
  expect(ex.code).toBe(0);
  const sql = join(dir, "q.sql");
  writeFileSync(sql, QUERY);
  const json = join(dir, "sample.json");
  writeFileSync(json, gunzipSync(readFileSync(sample)));
  const rows = (trace: string): string[] => {
    const r = Bun.spawnSync([TP, "-q", sql, trace], { stdout: "pipe", stderr: "pipe" });
    expect(r.exitCode).toBe(0);
    return r.stdout.toString().trim().split("\n").slice(1);
  };
  expect(rows(json)).toEqual(EXPECTED);
  expect(rows(out)).toEqual(EXPECTED);
}, 300_000);
