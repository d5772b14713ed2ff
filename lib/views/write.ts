/**
 * Writes a transform's rows to a partition file: one Parquet file (zstd, row groups of at most
 * 128 Ki rows as micromegas writes them, reference/micromegas.md §4.2 step 12), or no file when
 * there are no rows (an empty partition has no file: §3 invariants). zstd at level 1, as the
 * raw blocks (lib/ingest/blocks): on the Chromium sample's largest thread_spans partition
 * (63,716 rows) DuckDB's default level 3 took 63-66 ms to write it and level 1 47 ms, for a file
 * 1.3% larger.
 */
import { rmSync } from "node:fs";
import { type Engine, type Params, sqlString } from "../duck/engine.ts";
import type { MaterializeResult } from "./view_set.ts";

/**
 * Runs `COPY (select) TO outPath` and returns the row count and the event-time range.
 * @param minColumn column of the rows holding the event time (TIMESTAMP_NS) whose min is the
 *   partition's `min_event_time`.
 * @param maxColumn the column whose max is `max_event_time` (for spans, `end`).
 * @param range the min of `minColumn` and max of `maxColumn` over the rows when the caller knows
 *   them (ns): the file is then not read back for them.
 * @param how `params`: the parameters of `select`; `apart`: on a connection of its own
 *   (Engine.rowsApart), so that several files are written at once (`writeEach`).
 * @throws Error from DuckDB; a partial file is removed first.
 */
export async function writePartitionFile(
  engine: Engine,
  select: string,
  outPath: string,
  minColumn: string,
  maxColumn: string,
  range?: { min: bigint; max: bigint },
  how: { params?: Params; apart?: boolean } = {},
): Promise<MaterializeResult> {
  const rows = <T>(sql: string, params?: Params): Promise<T[]> =>
    how.apart ? engine.rowsApart<T>(sql, params) : engine.rows<T>(sql, params);
  try {
    // COPY returns the rows it wrote (one row, `Count`). RETURN_STATS would add per-column
    // statistics as MAPs, whose conversion to JS took 259 ms of a 5.6 s cold `flows` build.
    const written = await rows<{ Count: bigint }>(
      `COPY (${select}) TO ${sqlString(outPath)} (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1, ROW_GROUP_SIZE 131072)`,
      how.params,
    );
    const numRows = written.reduce((n, s) => n + Number(s.Count), 0);
    if (numRows === 0) {
      rmSync(outPath, { force: true });
      return { numRows: 0, minEventTimeNs: null, maxEventTimeNs: null };
    }
    if (range) return { numRows, minEventTimeNs: range.min, maxEventTimeNs: range.max };
    const r = await rows<{ lo: bigint; hi: bigint }>(
      `SELECT epoch_ns(min("${minColumn}")) AS lo, epoch_ns(max("${maxColumn}")) AS hi FROM read_parquet(${sqlString(outPath)})`,
    );
    return { numRows, minEventTimeNs: r[0]?.lo ?? null, maxEventTimeNs: r[0]?.hi ?? null };
  } catch (e) {
    rmSync(outPath, { force: true });
    throw e;
  }
}

/**
 * Files written at once by `writeEach`: each small COPY of a batch's table costs 10-20 ms, most
 * of it fixed and single-threaded (the sample's 8 small processes: 63-105 ms one after the
 * other, 42-56 ms four at a time).
 */
const AT_ONCE = 4;

/**
 * Runs `write` on every item (with its index), at most AT_ONCE at a time (writes meant for writePartitionFile's
 * `apart`), and returns the results in item order. Every write has ended when it returns or throws.
 * @throws the first error of a write, once all have settled.
 */
export async function writeEach<T, R>(
  items: readonly T[],
  write: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  let failed: { e: unknown } | null = null;
  const lane = async (): Promise<void> => {
    while (next < items.length && failed === null) {
      const i = next++;
      try {
        out[i] = await write(items[i] as T, i);
      } catch (e) {
        failed ??= { e };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(AT_ONCE, items.length) }, lane));
  if (failed !== null) throw (failed as { e: unknown }).e;
  return out;
}
