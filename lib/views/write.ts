/**
 * Writes a transform's rows to a partition file: one Parquet file (zstd, row groups of at most
 * ROW_GROUP_ROWS rows), or no file when there are no rows (an empty partition has no file:
 * reference/micromegas.md §3 invariants). zstd at level 1, as the raw blocks
 * (lib/ingest/blocks): on the Chromium sample's largest thread_spans partition (63,716 rows)
 * DuckDB's default level 3 took 63-66 ms to write it and level 1 47 ms, for a file 1.3% larger.
 */
import { rmSync } from "node:fs";
import { type Engine, type Params, sqlString } from "../duck/engine.ts";
import type { MaterializeResult } from "./view_set.ts";

/**
 * Rows per row group of a partition file. micromegas writes 128 Ki (reference/micromegas.md
 * §4.2 step 12); here the file is written by one thread (`singleWriter`), which holds a whole
 * row group before it encodes it, so fewer rows bound the write's memory: on the 153 MB real
 * Chromium JSON trace (a 240,679-span thread_spans partition), the compiled binary's cold
 * `thread_spans` query peaked at 301-361 MB with 128 Ki rows, 287-291 MB with 64 Ki and
 * 257-289 MB with 32 Ki (3 runs each).
 */
export const ROW_GROUP_ROWS = 32_768;

/**
 * What makes DuckDB write a COPY's file from one thread, in the query's order, as its rows come
 * (PhysicalCopyToFile, "REGULAR_COPY_TO_FILE"): a POSITIONAL JOIN with an empty relation, whose
 * scan has no batch index (DuckDB's plan_copy_to_file.cpp chooses the order-preserving parallel
 * copy only when every source of the plan has one). That parallel copy (PhysicalFixedBatchCopy)
 * buffers the sorted batches until it has encoded and flushed the ones before them, and its
 * buffer does not follow `memory_limit`: up to 155 MB of COLUMN_DATA beside the sort's own
 * 118 MB for a 493K-span partition. The join adds no row and no column (`* EXCLUDE`); an empty
 * `select` stays empty. tests/views/write.test.ts checks the plan, so a DuckDB that gives the
 * positional scan a batch index is noticed.
 */
export function singleWriter(select: string): string {
  return `SELECT * EXCLUDE (tl_single_writer) FROM (${select}) POSITIONAL JOIN (SELECT NULL::BOOLEAN AS tl_single_writer WHERE false)`;
}

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
      `COPY (${singleWriter(select)}) TO ${sqlString(outPath)} (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1, ROW_GROUP_SIZE ${ROW_GROUP_ROWS})`,
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
