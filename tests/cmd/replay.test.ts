/**
 * `tracelake replay` through the CLI: output equal to `tracelake query` for the same SQL,
 * --explain runs nothing, --emit changes, and bad options, refused strategies, SQL errors and
 * hostile input give one clear line and a non-zero exit without touching the lake.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { defaultPartitions } from "../../cmd/replay.ts";
import { cli, ROOT, snapshot, tempDir } from "../helpers.ts";

let lake: string;

beforeAll(() => {
  lake = join(tempDir("tl-replay-cli-"), "lake");
  const r = cli(lake, [
    "ingest",
    join(ROOT, "fixtures/node_trace.json.gz"),
    join(ROOT, "fixtures/span_edge_cases.json"),
  ]);
  expect(r.code).toBe(0);
}, 60_000);

describe("tracelake replay", () => {
  test("prints what query prints, and its figures on stderr", () => {
    const sql =
      "SELECT process_id, name, count(*) AS n, sum(duration) AS d, avg(duration) AS a FROM thread_spans GROUP BY ALL ORDER BY n DESC, name, process_id";
    const q = cli(lake, ["query", "-f", "csv", sql]);
    for (const strategy of ["auto", "always_hash", "round_robin"]) {
      const r = cli(lake, ["replay", "-f", "csv", "--partitions", "3", "--strategy", strategy, sql]);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(q.stdout);
      expect(r.stderr).toMatch(/replayed [\d,]+ rows .* rows\/s\), strategy \w+, 3 partitions/);
      expect(r.stderr).toMatch(/rows per partition: .* \(skew [\d.]+ = max\/mean\)/);
      expect(r.stderr).toMatch(/time: dictionaries .* source .* routing .* backpressure wait .* aggregation .* merge/);
    }
  }, 60_000);

  test("decimal and exponent literals in the select list (the README's /1e6) give query's answer", () => {
    // DuckDB serializes 1e6 as the DOUBLE token 1000000.0; a round trip through a JS number
    // made it an integer, which json_deserialize_sql refused ("expected type 'double'").
    const sql =
      "SELECT name, sum(duration)/1e6 AS ms, round(sum(duration)/1e6, 3) AS r, count(*) * 2.5 AS c, 1e300 AS big, 18446744073709551615 AS u FROM thread_spans GROUP BY name ORDER BY ms DESC, name";
    const q = cli(lake, ["query", "-f", "csv", sql]);
    expect(q.code).toBe(0);
    const r = cli(lake, ["replay", "-f", "csv", "--partitions", "2", sql]);
    expect(r.stderr).not.toContain("error");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(q.stdout);
    expect(r.stdout).toContain(",1e+300,18446744073709551615\n");
  }, 60_000);

  test("--explain prints the analysis and the choice, and runs nothing", () => {
    const r = cli(lake, [
      "replay",
      "--explain",
      "--partitions",
      "4",
      "SELECT time_bucket(INTERVAL '1 ms', begin) AS w, name, count(*) FROM thread_spans GROUP BY ALL ORDER BY w LIMIT 3",
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("tumbling window of CAST('1 ms' AS INTERVAL) on begin");
    expect(r.stdout).toContain("alias w; select item 1");
    expect(r.stdout).toContain("written as ALL");
    expect(r.stdout).toContain("order by:    w  LIMIT 3");
    expect(r.stdout).toMatch(/strategy: +always_hash: /);
    expect(r.stderr).toBe("");
  });

  test("--emit changes prints every window once, in order", () => {
    const sql =
      "SELECT time_bucket(INTERVAL '1 ms', begin) AS w, count(*) AS n FROM thread_spans GROUP BY w ORDER BY w";
    const q = cli(lake, ["query", "-f", "csv", sql]);
    const r = cli(lake, ["replay", "-f", "csv", "--emit", "changes", "--partitions", "2", sql]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(q.stdout);
    expect(r.stderr).toMatch(/\d+ windows closed/);
  });

  test("bad options, refused strategies and SQL errors: one line, non-zero exit, lake untouched", async () => {
    const before = await snapshot(lake);
    const cases: [string[], number, RegExp][] = [
      [["--partitions", "0"], 65, /--partitions must be a whole number from 1 to 64/],
      [["--strategy", "bogus"], 65, /unknown --strategy bogus; use auto, always_hash/],
      [["--speed", "fast"], 65, /--speed must be 'max' or a positive factor/],
      [["--emit", "sometimes"], 65, /--emit must be final or changes/],
      [["--strategy", "smart_repartition"], 65, /smart_repartition refused: .*includes neither/],
    ];
    for (const [opts, code, re] of cases) {
      const r = cli(lake, ["replay", ...opts, "SELECT name, count(*) FROM thread_spans GROUP BY name"]);
      expect(r.code).toBe(code);
      expect(r.stderr).toMatch(re);
      expect(r.stderr.trim().split("\n").length).toBeLessThanOrEqual(2);
    }
    const unknown = cli(lake, ["replay", "SELECT nope, count(*) FROM thread_spans GROUP BY nope"]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/nope/);
    const median = cli(lake, ["replay", "SELECT median(duration) FROM thread_spans"]);
    expect(median.code).toBe(65);
    expect(median.stderr).toContain("aggregate median(duration) is not supported");
    // A SQL-looking string literal is data, not SQL.
    const hostile = cli(lake, [
      "replay",
      "-f",
      "csv",
      "SELECT count(*) AS n FROM thread_spans WHERE name = 'x''; DROP TABLE processes; --'",
    ]);
    expect(hostile.code).toBe(0);
    expect(hostile.stdout).toBe("n\n0\n");
    expect(await snapshot(lake)).toEqual(before);
  }, 60_000);

  test("an empty lake gives DuckDB's answer for an empty view", () => {
    const dir = tempDir("tl-replay-empty-");
    const empty = join(dir, "lake");
    writeFileSync(join(dir, "empty.json"), '{"traceEvents": []}');
    cli(empty, ["ingest", join(dir, "empty.json")]);
    const r = cli(empty, [
      "replay",
      "-f",
      "csv",
      "--quiet",
      "SELECT count(*) AS n, sum(duration) AS s FROM thread_spans",
    ]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("n,s\n0,\n");
  });
});

describe("replay's default worker count", () => {
  test("is one per CPU beyond the main thread, at least 1 and at most 2", () => {
    expect([1, 2, 3, 4, 16].map((cpus) => defaultPartitions(cpus))).toEqual([1, 1, 2, 2, 2]);
  });

  test("without --partitions, replay runs on the default count (one worker: fan_in)", () => {
    const r = cli(lake, ["replay", "-f", "csv", "SELECT name, count(*) AS n FROM thread_spans GROUP BY name"]);
    expect(r.code).toBe(0);
    const n = defaultPartitions();
    expect(r.stderr).toMatch(new RegExp(`, ${n} partitions`));
    if (n === 1) expect(r.stderr).toMatch(/strategy fan_in, 1 partitions/);
  });
});
