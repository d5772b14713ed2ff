import { beforeEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { Engine } from "../../lib/duck/engine.ts";
import { Lake } from "../../lib/lake/lake.ts";
import { BUN, cli, ROOT, snapshot, tempDir, withCatalog } from "../helpers.ts";

const EDGES = join(ROOT, "fixtures/span_edge_cases.json");

function cliEnv(lake: string, args: string[], env: Record<string, string>) {
  const p = Bun.spawnSync([BUN, join(ROOT, "main.ts"), "--lake", lake, ...args], {
    env: { ...process.env, NO_COLOR: "1", ...env },
  });
  return { code: p.exitCode ?? -1, stdout: p.stdout.toString(), stderr: p.stderr.toString() };
}

interface Row {
  view_set_name: string;
  view_instance_id: string;
  b: string;
  e: string;
  h: string;
  file_path: string | null;
}

/** Partitions as the CLI prints them (the text a user copies into `retire`). */
function partitions(lake: string, where = ""): Row[] {
  const r = cli(lake, [
    "query",
    "-f",
    "json",
    `SELECT view_set_name, view_instance_id, begin_insert_time::VARCHAR AS b, end_insert_time::VARCHAR AS e,
       lower(hex(file_schema_hash)) AS h, file_path FROM list_partitions() ${where} ORDER BY ALL`,
  ]);
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as Row[];
}

describe("tracelake retire and partitions --incompatible", () => {
  let lake: string;
  beforeEach(async () => {
    lake = tempDir();
    expect(cli(lake, ["ingest", EDGES]).code).toBe(0);
    expect(cli(lake, ["materialize"]).code).toBe(0);
    const e = await Engine.open({ threads: 1 });
    try {
      const l = await Lake.open(e, lake, { create: false });
      await l.attach(e, "write");
      await e.run(
        "UPDATE lake.lakehouse_partitions SET file_schema_hash = '\\x00\\x01'::BLOB WHERE view_set_name = 'thread_spans'",
      );
      await l.detach(e);
    } finally {
      e.close();
    }
  });

  test("partitions --incompatible lists the old-schema partition; --dry-run changes nothing; --incompatible retires it", async () => {
    const inc = cli(lake, ["partitions", "--incompatible", "-f", "json"]);
    expect(inc.code).toBe(0);
    const rows = JSON.parse(inc.stdout) as { view_set_name: string; incompatible_schema_hash: string }[];
    expect(rows.map((r) => [r.view_set_name, r.incompatible_schema_hash])).toEqual([["thread_spans", "0001"]]);
    const before = await snapshot(lake);
    const dry = cli(lake, ["retire", "--incompatible", "--dry-run"]);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/SUCCESS: would retire thread_spans\//);
    expect(dry.stdout).toMatch(/dry run: would retire 1 incompatible partition, 0 failed/);
    expect(await snapshot(lake)).toEqual(before);
    const real = cli(lake, ["retire", "--incompatible", "--view", "thread_spans"]);
    expect(real.code).toBe(0);
    expect(real.stdout).toMatch(/retired 1 incompatible partition, 0 failed/);
    expect(partitions(lake).map((p) => p.view_set_name)).toEqual(["async_events", "flows", "log_entries", "measures"]);
    expect(JSON.parse(cli(lake, ["partitions", "--incompatible", "-f", "json"]).stdout)).toEqual([]);
  });

  test("--metadata takes what list_partitions prints; a wrong hash or a bad row fails the whole batch", async () => {
    const ps = partitions(lake);
    const args = (p: Row, h = p.h) => ["--metadata", p.view_set_name, p.view_instance_id, p.b, p.e, h];
    const before = await snapshot(lake);
    const ts = ps.find((p) => p.view_set_name === "thread_spans") as Row;
    const le = ps.find((p) => p.view_set_name === "log_entries") as Row;
    const wrong = cli(lake, ["retire", ...args(ts, "c471b901f1ee4075")]);
    expect(wrong.code).toBe(65);
    expect(wrong.stdout).toMatch(/^ERROR: no live partition thread_spans\/.*this range has file_schema_hash 0001/);
    expect(await snapshot(lake)).toEqual(before);
    const batch = cli(lake, ["retire", ...args(ts), ...args(le, "00")]);
    expect(batch.code).toBe(65);
    expect(batch.stdout).toMatch(/ERROR: thread_spans\/.* not retired: the batch was rolled back/);
    expect(await snapshot(lake)).toEqual(before);
    const dry = cli(lake, ["retire", "--dry-run", ...args(ts), ...args(le)]);
    expect(dry.code).toBe(0);
    expect(await snapshot(lake)).toEqual(before);
    const ok = cli(lake, ["retire", ...args(ts), ...args(le)]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/retired 2 partitions/);
    expect(partitions(lake).map((p) => p.view_set_name)).toEqual(["async_events", "flows", "measures"]);
    const tmp = await withCatalog(lake, (e) =>
      e.rows<{ f: string }>("SELECT file_path AS f FROM lake.temporary_files ORDER BY f"),
    );
    expect(tmp.map((t) => t.f)).toEqual([ts.file_path as string, le.file_path as string].sort());
  });

  test("--range and --file (deprecated); argument errors; TRACELAKE_GRACE_SECONDS sets the expiration", async () => {
    const ps = partitions(lake);
    const ae = ps.find((p) => p.view_set_name === "async_events") as Row;
    const me = ps.find((p) => p.view_set_name === "measures") as Row;
    const before = await snapshot(lake);
    const dry = cli(lake, [
      "retire",
      "--dry-run",
      "--range",
      "async_events",
      ae.view_instance_id,
      "2000-01-01",
      "2100-01-01",
    ]);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/would retire 1 partition/);
    expect(await snapshot(lake)).toEqual(before);
    const range = cliEnv(lake, ["retire", "--range", "async_events", ae.view_instance_id, "2000-01-01", "2100-01-01"], {
      TRACELAKE_GRACE_SECONDS: "0",
    });
    expect(range.code).toBe(0);
    const file = cli(lake, ["retire", "--file", me.file_path as string]);
    expect(file.code).toBe(0);
    expect(file.stdout).toMatch(/SUCCESS: retired measures\//);
    const exp = await withCatalog(lake, (e) =>
      e.rows<{ f: string; left: number }>(
        "SELECT file_path AS f, epoch(expiration - now()) AS left FROM lake.temporary_files ORDER BY expiration",
      ),
    );
    expect(exp[0]?.f).toBe(ae.file_path as string);
    expect(exp[0]?.left).toBeLessThanOrEqual(0); // grace 0
    expect(exp[1]?.left).toBeGreaterThan(3500); // default 1 h
    for (const [args, msg] of [
      [["retire"], /exactly one of/],
      [["retire", "--metadata", "a", "b", "c"], /five values/],
      [["retire", "--range", "a", "b", "c"], /four values/],
      [["retire", "--range", "a", "b", "yesterday", "today"], /not a timestamp/],
      [["retire", "--incompatible", "--view", "nope"], /unknown view nope/],
      [["retire", "--incompatible", "--grace", "-1"], /--grace takes a number of seconds/],
      [["gc", "--grace", "soon"], /--grace takes a number of seconds/],
    ] as [string[], RegExp][]) {
      const r = cli(lake, args);
      expect(r.code).toBe(65);
      expect(r.stderr).toMatch(msg);
    }
    const env = cliEnv(lake, ["gc"], { TRACELAKE_GRACE_SECONDS: "abc" });
    expect(env.code).toBe(65);
    expect(env.stderr).toMatch(/TRACELAKE_GRACE_SECONDS takes a number of seconds/);
  });

  test("query: a retirement batch that rolls back exits 1 and says so on stderr", async () => {
    const before = await snapshot(lake);
    const r = cli(lake, [
      "query",
      "-f",
      "csv",
      "SELECT retire_partition_by_metadata(view_set_name, view_instance_id, begin_insert_time, end_insert_time, 'ff') AS m FROM list_partitions()",
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/retirement rolled back, nothing retired/);
    expect(r.stdout.split("\n").filter((l) => l.startsWith('"ERROR')).length).toBe(5);
    expect(await snapshot(lake)).toEqual(before);
    const ok = cli(lake, [
      "query",
      "-f",
      "csv",
      "SELECT retire_partition_by_metadata(view_set_name, view_instance_id, begin_insert_time, end_insert_time, file_schema_hash) AS m FROM list_partitions() WHERE view_set_name = 'thread_spans'",
    ]);
    expect(ok.code).toBe(0);
    expect(ok.stderr).toMatch(/retired 1 partition;/);
  });
});
