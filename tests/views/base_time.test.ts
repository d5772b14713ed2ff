/**
 * thread_spans's base time (lib/views/thread_spans.ts): the stack pass works on times relative
 * to the blocks' catalog begin_time, exact within ±2^53 ns of it. A thread whose cpu stream holds
 * an event far earlier than its spans (here a flow start at ts 0 before spans on the Unix epoch
 * clock, 1.7e18 ns) must still give every span its exact begin, end and duration, to the ns:
 * the expected values are the input's own.
 */
import { expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { cli, tempDir } from "../helpers.ts";

test("spans far from the blocks' begin_time keep their exact ns times", () => {
  const dir = tempDir("tl-base-");
  const trace = join(dir, "epoch.json");
  // ts in integer µs: 1.7e18 ns, where a double's spacing is 256 ns, so the times relative to a
  // base of 0 would not be exact.
  const ev = (fields: string) => `{"pid":1,"tid":1,"cat":"c",${fields}}`;
  writeFileSync(
    trace,
    `[${[
      ev('"ph":"s","id":7,"ts":0,"name":"flow"'),
      ev('"ph":"X","ts":1700000000000001,"dur":3,"name":"a"'),
      ev('"ph":"B","ts":1700000000000005,"name":"b"'),
      ev('"ph":"E","ts":1700000000000007'),
    ].join(",\n")}]`,
  );
  const lake = join(dir, "lake");
  expect(cli(lake, ["ingest", trace]).code).toBe(0);
  const q = cli(lake, [
    "query",
    "-f",
    "csv",
    `SELECT name, epoch_ns("begin") AS b, epoch_ns("end") AS e, duration, depth FROM thread_spans ORDER BY b`,
  ]);
  expect(q.stderr).toBe("");
  expect(q.stdout).toBe(
    "name,b,e,duration,depth\na,1700000000000001000,1700000000000004000,3000,0\nb,1700000000000005000,1700000000000007000,2000,0\n",
  );
  // The partition's event range in the catalog: the first begin and the last end.
  const p = cli(lake, [
    "query",
    "-f",
    "csv",
    "SELECT epoch_ns(min_event_time) AS lo, epoch_ns(max_event_time) AS hi FROM lakehouse_partitions WHERE view_set_name = 'thread_spans'",
  ]);
  expect(p.stdout).toBe("lo,hi\n1700000000000001000,1700000000000007000\n");
});
