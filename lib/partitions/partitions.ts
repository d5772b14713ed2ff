/**
 * Partition metadata in `lakehouse_partitions` (reference/micromegas.md §3): reading live
 * partitions, and committing a new partition together with the retirement of the ones it
 * replaces. DuckDB has no exclusion constraints, so micromegas's invariants are checked here,
 * inside the committing transaction:
 * - empty ⇔ no file ⇔ no event range (also CHECK constraints of the table);
 * - live partitions of the same (view set, instance, schema hash) have disjoint insert ranges
 *   (inclusive [begin_insert_time, end_insert_time], as JIT partitions record them).
 *
 * Files of retired partitions are not deleted here: they go to `temporary_files` with an
 * expiration, so a query that listed them keeps working; `gc` deletes them later.
 */

import type { Engine } from "../duck/engine.ts";
import { LakeError } from "../errors.ts";

/** Grace before a retired partition's file may be deleted, in ms (micromegas: 1 h). */
export const RETIRED_FILE_GRACE_MS = 60 * 60 * 1000;

/** A `lakehouse_partitions` row. Times in µs since the Unix epoch except event times (ns). */
export interface PartitionRow {
  viewSetName: string;
  viewInstanceId: string;
  beginInsertUs: bigint;
  endInsertUs: bigint;
  minEventNs: bigint | null;
  maxEventNs: bigint | null;
  /** Path relative to the lake root; null iff empty. */
  filePath: string | null;
  /** Bytes; 0 when empty. */
  fileSize: number;
  fileSchemaHash: Uint8Array;
  sourceDataHash: Uint8Array;
  numRows: number;
}

/** A `lakehouse_partitions` row as `PARTITION_COLUMNS` selects it (the driver's values). */
export interface PartitionRawRow {
  view_set_name: string;
  view_instance_id: string;
  b: bigint;
  e: bigint;
  lo: bigint | null;
  hi: bigint | null;
  file_path: string | null;
  file_size: bigint;
  file_schema_hash: { bytes: Uint8Array } | Uint8Array;
  source_data_hash: { bytes: Uint8Array } | Uint8Array;
  num_rows: bigint;
}

/** The select list of `lakehouse_partitions` that `partitionRow` decodes (insert times in µs, event times in ns). */
export const PARTITION_COLUMNS = `view_set_name, view_instance_id, epoch_us(begin_insert_time) AS b, epoch_us(end_insert_time) AS e,
  epoch_ns(min_event_time) AS lo, epoch_ns(max_event_time) AS hi, file_path, file_size, file_schema_hash,
  source_data_hash, num_rows`;

function bytesOf(v: { bytes: Uint8Array } | Uint8Array): Uint8Array {
  return v instanceof Uint8Array ? v : v.bytes;
}

/** Decodes a row selected with `PARTITION_COLUMNS`. */
export function partitionRow(r: PartitionRawRow): PartitionRow {
  return {
    viewSetName: r.view_set_name,
    viewInstanceId: r.view_instance_id,
    beginInsertUs: r.b,
    endInsertUs: r.e,
    minEventNs: r.lo,
    maxEventNs: r.hi,
    filePath: r.file_path,
    fileSize: Number(r.file_size),
    fileSchemaHash: bytesOf(r.file_schema_hash),
    sourceDataHash: bytesOf(r.source_data_hash),
    numRows: Number(r.num_rows),
  };
}

/**
 * Live partitions of `viewSetName` (all schema hashes), for the given instances (all when
 * null), ordered by instance and begin insert time. The catalog must be attached. Read on a
 * connection of its own (Engine.rowsApart): the JIT plans several view sets at once.
 */
export async function listPartitions(
  engine: Engine,
  viewSetName: string,
  instances: string[] | null,
): Promise<PartitionRow[]> {
  // The instances travel as a parameter (a JSON array), never as SQL text.
  const filter = instances === null ? "" : "AND list_contains($ids::JSON::VARCHAR[], view_instance_id)";
  const rows = await engine.rowsApart<PartitionRawRow>(
    `SELECT ${PARTITION_COLUMNS} FROM lake.lakehouse_partitions WHERE view_set_name = $vs ${filter}
     ORDER BY view_instance_id, begin_insert_time, file_path`,
    instances === null ? { vs: viewSetName } : { vs: viewSetName, ids: JSON.stringify(instances) },
  );
  return rows.map(partitionRow);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** True when two rows name the same partition (the five keys of retire_partition_by_metadata). */
export function samePartitionKey(a: PartitionRow, b: PartitionRow): boolean {
  return (
    a.viewSetName === b.viewSetName &&
    a.viewInstanceId === b.viewInstanceId &&
    a.beginInsertUs === b.beginInsertUs &&
    a.endInsertUs === b.endInsertUs &&
    sameBytes(a.fileSchemaHash, b.fileSchemaHash)
  );
}

/** True when `a` has the same range, schema hash and source identity as `b`. */
export function sameContent(a: PartitionRow, b: PartitionRow): boolean {
  return samePartitionKey(a, b) && sameBytes(a.sourceDataHash, b.sourceDataHash);
}

/**
 * Inside the caller's transaction (catalog attached for writing): deletes `retire` rows (each
 * matched on its five keys; a file goes to `temporary_files` with an expiration `graceMs` from
 * now), inserts `insert` rows, then checks the invariants for the touched (view set, instance)
 * pairs.
 * @returns bytes of the files queued for deletion.
 * @throws LakeError when a row is invalid or two live partitions would overlap (the caller's
 *   transaction must then roll back).
 */
export async function replacePartitions(
  engine: Engine,
  insert: PartitionRow[],
  retire: PartitionRow[],
  graceMs = RETIRED_FILE_GRACE_MS,
): Promise<number> {
  for (const p of insert) {
    const empty = p.numRows === 0;
    if (empty !== (p.filePath === null) || empty !== (p.minEventNs === null) || empty !== (p.maxEventNs === null)) {
      throw new LakeError(
        `invalid partition ${p.viewSetName}/${p.viewInstanceId}: empty ⇔ no file ⇔ no event range does not hold`,
      );
    }
  }
  // One statement per step whatever the number of rows (a JIT of 10 processes made 20+
  // statements here): the rows travel as one JSON parameter; 64-bit values and blobs as text.
  const freed = retire.reduce((n, r) => n + (r.filePath === null ? 0 : r.fileSize), 0);
  const files = retire.filter((r) => r.filePath !== null).map((r) => ({ p: r.filePath, s: `${r.fileSize}` }));
  if (files.length > 0) {
    await engine.run(
      `INSERT INTO lake.temporary_files
       SELECT p, s::BIGINT, now() + to_milliseconds($g::BIGINT) FROM (SELECT unnest(from_json($rows, '[{"p":"VARCHAR","s":"VARCHAR"}]'), recursive := true))`,
      { rows: JSON.stringify(files), g: BigInt(graceMs) },
    );
  }
  if (retire.length > 0) {
    await engine.run(
      `DELETE FROM lake.lakehouse_partitions l WHERE EXISTS (
         SELECT 1 FROM (SELECT unnest(from_json($rows, '[{"vs":"VARCHAR","id":"VARCHAR","b":"VARCHAR","e":"VARCHAR","h":"VARCHAR"}]'), recursive := true)) r
         WHERE l.view_set_name = r.vs AND l.view_instance_id = r.id AND l.begin_insert_time = make_timestamp(r.b::BIGINT)
           AND l.end_insert_time = make_timestamp(r.e::BIGINT) AND l.file_schema_hash = unhex(r.h))`,
      { rows: JSON.stringify(retire.map((r) => ({ ...keyJson(r) }))) },
    );
  }
  if (insert.length > 0) {
    const rows = insert.map((p) => ({
      ...keyJson(p),
      lo: p.minEventNs === null ? null : `${p.minEventNs}`,
      hi: p.maxEventNs === null ? null : `${p.maxEventNs}`,
      f: p.filePath,
      fs: `${p.fileSize}`,
      sh: hex(p.sourceDataHash),
      n: `${p.numRows}`,
    }));
    await engine.run(
      `INSERT INTO lake.lakehouse_partitions
       SELECT vs, id, make_timestamp(b::BIGINT), make_timestamp(e::BIGINT), make_timestamp_ns(lo::BIGINT),
         make_timestamp_ns(hi::BIGINT), now(), f, fs::BIGINT, unhex(h), unhex(sh), n::BIGINT
       FROM (SELECT unnest(from_json($rows, '[{"vs":"VARCHAR","id":"VARCHAR","b":"VARCHAR","e":"VARCHAR","h":"VARCHAR","lo":"VARCHAR","hi":"VARCHAR","f":"VARCHAR","fs":"VARCHAR","sh":"VARCHAR","n":"VARCHAR"}]'), recursive := true))`,
      { rows: JSON.stringify(rows) },
    );
    const touched = [...new Set(insert.map((p) => JSON.stringify([p.viewSetName, p.viewInstanceId])))].map(
      (k) => JSON.parse(k) as [string, string],
    );
    const overlaps = await engine.rows<{ vs: string; id: string }>(
      `SELECT a.view_set_name AS vs, a.view_instance_id AS id FROM lake.lakehouse_partitions a JOIN lake.lakehouse_partitions b
         ON a.view_set_name = b.view_set_name AND a.view_instance_id = b.view_instance_id
        AND a.file_schema_hash = b.file_schema_hash
        AND a.rowid <> b.rowid
        AND a.begin_insert_time <= b.end_insert_time AND b.begin_insert_time <= a.end_insert_time
       WHERE EXISTS (SELECT 1 FROM (SELECT unnest(from_json($keys, '[["VARCHAR"]]')) AS t) k
         WHERE k.t[1] = a.view_set_name AND k.t[2] = a.view_instance_id)
       LIMIT 1`,
      { keys: JSON.stringify(touched) },
    );
    const o = overlaps[0];
    if (o) {
      throw new LakeError(
        `new partitions of ${o.vs}/${o.id} would overlap live partitions with the same schema hash; retire the conflicting partitions and retry`,
      );
    }
  }
  return freed;
}

/** A row's five keys for a JSON parameter (64-bit values and the hash as text). */
function keyJson(r: PartitionRow): { vs: string; id: string; b: string; e: string; h: string } {
  return {
    vs: r.viewSetName,
    id: r.viewInstanceId,
    b: `${r.beginInsertUs}`,
    e: `${r.endInsertUs}`,
    h: hex(r.fileSchemaHash),
  };
}

/** Lower-case hex of bytes (for DuckDB's unhex). */
function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}
