/**
 * instancesInTimeOrder (lib/sql/query.ts): an instance reads in time order when each of its
 * current files (in begin insert time, then path order) begins at or after the end of the one
 * before it. Files of another view set, of an old schema, and empty partitions (no file) do not
 * count. The partitions are written by hand, with times chosen to fall on each side of the rule.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Engine } from "../../lib/duck/engine.ts";
import { instancesInTimeOrder } from "../../lib/sql/query.ts";
import { logEntries } from "../../lib/views/log_entries.ts";
import { hex, schemaHash } from "../../lib/views/view_set.ts";

describe("instancesInTimeOrder", () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.open({ threads: 1 });
  });
  afterAll(() => engine.close());

  test("orders by insert time, then path; ignores other view sets, old schemas and empty partitions", async () => {
    const current = hex(schemaHash(logEntries));
    // (instance, view set, insert time, path, min event, max event, schema: 'cur' or 'old')
    const rows: [string, string, number, string | null, number | null, number | null, string][] = [
      // a: back to back (the second begins where the first ends).
      ["a", "log_entries", 1, "a1", 0, 10, "cur"],
      ["a", "log_entries", 2, "a2", 10, 20, "cur"],
      // b: overlapping.
      ["b", "log_entries", 1, "b1", 0, 10, "cur"],
      ["b", "log_entries", 2, "b2", 5, 20, "cur"],
      // c: the later insert holds the earlier events.
      ["c", "log_entries", 1, "c1", 10, 20, "cur"],
      ["c", "log_entries", 2, "c2", 0, 5, "cur"],
      // d: one file, an overlapping one of an old schema, and an empty partition.
      ["d", "log_entries", 1, "d1", 0, 10, "cur"],
      ["d", "log_entries", 2, "d2", 0, 10, "old"],
      ["d", "log_entries", 3, null, null, null, "cur"],
      // e: same insert time, so the path decides: e1 (later events) before e2.
      ["e", "log_entries", 1, "e1", 10, 20, "cur"],
      ["e", "log_entries", 1, "e2", 0, 5, "cur"],
      // f: overlapping, but in another view set.
      ["f", "measures", 1, "f1", 0, 10, "cur"],
      ["f", "measures", 2, "f2", 5, 20, "cur"],
      ["f", "log_entries", 1, "f3", 0, 10, "cur"],
    ];
    const t = (x: number | null) => (x === null ? "NULL" : `make_timestamp_ns(${x})`);
    await engine.run(
      `CREATE OR REPLACE TABLE test_partitions AS SELECT * FROM (VALUES ${rows
        .map(
          ([id, vs, ins, path, lo, hi, schema]) =>
            `('${id}', '${vs}', make_timestamp(${ins}), ${path === null ? "NULL" : `'${path}'`}, ${t(lo)}, ${t(hi)}, unhex('${schema === "cur" ? current : "00"}'))`,
        )
        .join(
          ", ",
        )}) p(view_instance_id, view_set_name, begin_insert_time, file_path, min_event_time, max_event_time, file_schema_hash)`,
    );
    const got = await instancesInTimeOrder(engine, logEntries, "test_partitions");
    expect([...got].sort()).toEqual(["a", "d", "f"]);
  });
});
