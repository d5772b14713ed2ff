/**
 * Partition retirement (DESIGN.md "Retirement"; reference/micromegas.md §5 and §9.4).
 *
 * A retired partition's row leaves `lakehouse_partitions` and its file (if any) goes to
 * `temporary_files` with an expiration `graceMs` from now, in one catalog transaction; `gc`
 * deletes the file once it has expired, so a query that already listed it can finish. Nothing
 * here deletes a file.
 *
 * - `retireBatch`: retire_partition_by_metadata (exact match on the five keys view_set_name,
 *   view_instance_id, begin_insert_time, end_insert_time, file_schema_hash: micromegas's fix of
 *   its issue 1540, where the 4-field key also hit the live partition of the new schema) and the
 *   deprecated retire_partition_by_file. All or nothing: when any request fails (not found,
 *   ambiguous, NULL or malformed argument), nothing is retired.
 * - `retireRange`: retire_partitions, every partition whose insert range lies inside a range.
 * - `listIncompatible` / `retireIncompatible`: partitions whose schema hash is not the view
 *   set's current one.
 *
 * Every function attaches the catalog for writing itself (it must not be attached by the
 * caller) and detaches it before returning.
 */
import { isAbsolute, relative } from "node:path";
import type { Engine } from "../duck/engine.ts";
import { LakeError } from "../errors.ts";
import type { Lake } from "../lake/lake.ts";
import {
  PARTITION_COLUMNS,
  type PartitionRawRow,
  type PartitionRow,
  partitionRow,
  RETIRED_FILE_GRACE_MS,
} from "./partitions.ts";

/** retire_partition_by_metadata's arguments; null where the caller passed NULL. */
export interface MetadataRequest {
  kind: "metadata";
  viewSetName: string | null;
  viewInstanceId: string | null;
  /** µs since the Unix epoch (the catalog's TIMESTAMPTZ precision). */
  beginInsertUs: bigint | null;
  endInsertUs: bigint | null;
  /** The schema hash as hex (either case), as `list_partitions()` shows it. */
  fileSchemaHash: string | null;
}

/** retire_partition_by_file's argument (deprecated: it cannot reach empty partitions). */
export interface FileRequest {
  kind: "file";
  /** Path relative to the lake root as `lakehouse_partitions.file_path` holds it, or absolute inside the lake. */
  filePath: string | null;
}

/** One retirement request. */
export type RetireRequest = MetadataRequest | FileRequest;

/** Options of a retirement. */
export interface RetireOptions {
  /** Time before gc may delete a retired file, ms (default RETIRED_FILE_GRACE_MS, 1 h). */
  graceMs?: number;
  /** Work out everything, then roll back: nothing changes. */
  dryRun?: boolean;
}

/** What `retireBatch` did. */
export interface BatchResult {
  /** True when the retirement committed (false when a request failed, or on a dry run). */
  committed: boolean;
  /** One `SUCCESS: ...` or `ERROR: ...` message per request, in request order. */
  messages: string[];
  /** Requests that failed. */
  failures: number;
  /** Partitions retired (or that a dry run would retire), each once. */
  retired: PartitionRow[];
  /** Bytes of the files queued for deletion (freed by gc after the grace period). */
  bytesQueued: number;
}

/** A live partition whose schema hash is not its view set's current one. */
export interface IncompatiblePartition extends PartitionRow {
  /** The view set's current hash; null when tracelake knows no view set of that name. */
  currentSchemaHash: Uint8Array | null;
}

/** What `retireIncompatible` did for one (view set, instance). */
export interface InstanceRetirement {
  viewSetName: string;
  viewInstanceId: string;
  retired: number;
  failed: number;
  /** Bytes of the files queued for deletion (freed by gc after the grace period). */
  bytesFreed: number;
  /** One `SUCCESS: ...`/`ERROR: ...` message per partition. */
  messages: string[];
}

const COLUMNS = `rowid AS tl_rowid, ${PARTITION_COLUMNS}`;

type RawRow = PartitionRawRow & { tl_rowid: bigint };

/**
 * Row ids of the rows read in the current transaction: a retirement deletes exactly the rows it
 * resolved (rowids are stable inside the transaction that read them).
 */
const rowIds = new WeakMap<PartitionRow, bigint>();

function toRow(r: RawRow): PartitionRow {
  const p = partitionRow(r);
  rowIds.set(p, r.tl_rowid);
  return p;
}

/** Bytes as lowercase hex. */
function hexOf(b: Uint8Array): string {
  return Buffer.from(b).toString("hex");
}

/**
 * A time in µs since the epoch as DuckDB shows a TIMESTAMPTZ in UTC
 * (`2026-01-02 03:04:05.123456+00`), so it can be pasted back into SQL.
 */
export function formatInsertTime(us: bigint): string {
  const ms = us / 1000n;
  const frac = ((us % 1_000_000n) + 1_000_000n) % 1_000_000n;
  const iso = new Date(Number(ms)).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}.${frac.toString().padStart(6, "0")}+00`;
}

/** `view_set/instance [begin, end] file_schema_hash H`: how messages name a partition. */
export function describePartition(p: {
  viewSetName: string;
  viewInstanceId: string;
  beginInsertUs: bigint;
  endInsertUs: bigint;
  fileSchemaHash: Uint8Array;
}): string {
  return `${p.viewSetName}/${p.viewInstanceId} [${formatInsertTime(p.beginInsertUs)}, ${formatInsertTime(p.endInsertUs)}] file_schema_hash ${hexOf(p.fileSchemaHash)}`;
}

/** Thrown inside a transaction to roll it back on purpose (dry run, failed batch). */
class Rollback extends Error {}

/** Runs `fn` with the catalog attached for writing, in a transaction rolled back when `commit()` says no. */
async function inWriteTransaction<T>(
  engine: Engine,
  lake: Lake,
  fn: () => Promise<{ value: T; commit: boolean }>,
): Promise<T> {
  await lake.attach(engine, "write");
  try {
    let out: T | undefined;
    try {
      await engine.transaction(async () => {
        const r = await fn();
        out = r.value;
        if (!r.commit) throw new Rollback();
      });
    } catch (e) {
      if (!(e instanceof Rollback)) throw e;
    }
    return out as T;
  } finally {
    await lake.detach(engine);
  }
}

/** A stable key of a request, so that repeated identical requests get one answer. */
export function requestKey(r: RetireRequest): string {
  return JSON.stringify(
    r.kind === "file"
      ? ["file", r.filePath]
      : [
          "metadata",
          r.viewSetName,
          r.viewInstanceId,
          r.beginInsertUs?.toString() ?? null,
          r.endInsertUs?.toString() ?? null,
          r.fileSchemaHash?.toLowerCase() ?? null,
        ],
  );
}

/** The first four keys of a partition (all but the schema hash) as SQL computes them. */
const KEY4 = `[view_set_name, view_instance_id, epoch_us(begin_insert_time)::VARCHAR, epoch_us(end_insert_time)::VARCHAR]`;

/** A list of keys as one parameter (JSON text), for `KEY IN (SELECT unnest(...))`. */
const KEYS_PARAM = `(SELECT unnest(from_json($keys::VARCHAR, '[["VARCHAR"]]')))`;

function key5(p: PartitionRow): string[] {
  return [
    p.viewSetName,
    p.viewInstanceId,
    p.beginInsertUs.toString(),
    p.endInsertUs.toString(),
    hexOf(p.fileSchemaHash),
  ];
}

/**
 * Resolves distinct requests against the attached catalog in two queries (whatever their
 * number): each to the one partition it names, or to why not.
 */
async function resolveAll(engine: Engine, lake: Lake, requests: RetireRequest[]): Promise<(PartitionRow | string)[]> {
  const out: (PartitionRow | string)[] = requests.map(() => "");
  const meta: { i: number; k4: string[]; hash: string; key: Parameters<typeof describePartition>[0] }[] = [];
  const files: { i: number; path: string; asGiven: string }[] = [];
  requests.forEach((r, i) => {
    if (r.kind === "file") {
      if (r.filePath === null) out[i] = "retire_partition_by_file: file_path is NULL";
      else
        files.push({
          i,
          path: isAbsolute(r.filePath) ? relative(lake.root, r.filePath) : r.filePath,
          asGiven: r.filePath,
        });
      return;
    }
    const missing = (
      [
        ["view_set_name", r.viewSetName],
        ["view_instance_id", r.viewInstanceId],
        ["begin_insert_time", r.beginInsertUs],
        ["end_insert_time", r.endInsertUs],
        ["file_schema_hash", r.fileSchemaHash],
      ] as const
    ).filter(([, v]) => v === null);
    if (missing.length > 0) {
      out[i] =
        `retire_partition_by_metadata: ${missing.map(([n]) => n).join(", ")} ${missing.length === 1 ? "is" : "are"} NULL; all five keys are required`;
      return;
    }
    const hash = (r.fileSchemaHash as string).toLowerCase();
    if (!/^([0-9a-f]{2})+$/.test(hash)) {
      out[i] =
        `retire_partition_by_metadata: file_schema_hash '${r.fileSchemaHash}' is not hex bytes (pass it as list_partitions() shows it, e.g. 'a1b2c3d4e5f60718', or as a BLOB)`;
      return;
    }
    const key = {
      viewSetName: r.viewSetName as string,
      viewInstanceId: r.viewInstanceId as string,
      beginInsertUs: r.beginInsertUs as bigint,
      endInsertUs: r.endInsertUs as bigint,
      fileSchemaHash: new Uint8Array(Buffer.from(hash, "hex")),
    };
    meta.push({
      i,
      hash,
      key,
      k4: [key.viewSetName, key.viewInstanceId, key.beginInsertUs.toString(), key.endInsertUs.toString()],
    });
  });
  if (meta.length > 0) {
    // By the 4-field key, so that a hash mismatch can be explained.
    const rows = (
      await engine.rows<RawRow>(`SELECT ${COLUMNS} FROM lake.lakehouse_partitions WHERE ${KEY4} IN ${KEYS_PARAM}`, {
        keys: JSON.stringify(meta.map((m) => m.k4)),
      })
    ).map(toRow);
    const byK4 = new Map<string, PartitionRow[]>();
    for (const p of rows) {
      const k = JSON.stringify(key5(p).slice(0, 4));
      const l = byK4.get(k);
      if (l) l.push(p);
      else byK4.set(k, [p]);
    }
    for (const m of meta) {
      const sameRange = byK4.get(JSON.stringify(m.k4)) ?? [];
      const matches = sameRange.filter((p) => hexOf(p.fileSchemaHash) === m.hash);
      if (matches.length === 1) out[m.i] = matches[0] as PartitionRow;
      else if (matches.length > 1) {
        out[m.i] = `${matches.length} live partitions match ${describePartition(m.key)} (ambiguous)`;
      } else {
        const others = sameRange.map((p) => hexOf(p.fileSchemaHash));
        out[m.i] = `no live partition ${describePartition(m.key)}${
          others.length > 0 ? ` (this range has file_schema_hash ${others.join(", ")})` : ""
        }; see list_partitions()`;
      }
    }
  }
  if (files.length > 0) {
    const rows = (
      await engine.rows<RawRow>(
        `SELECT ${COLUMNS} FROM lake.lakehouse_partitions WHERE file_path IN (SELECT unnest(from_json($paths::VARCHAR, '["VARCHAR"]')))`,
        { paths: JSON.stringify(files.map((f) => f.path)) },
      )
    ).map(toRow);
    for (const f of files) {
      const matches = rows.filter((p) => p.filePath === f.path);
      if (matches.length === 1) out[f.i] = matches[0] as PartitionRow;
      else if (matches.length > 1) {
        out[f.i] = `${matches.length} live partitions name the file ${f.asGiven}; retire them by metadata`;
      } else {
        out[f.i] =
          `no live partition has the file ${f.asGiven} (empty partitions have no file: use retire_partition_by_metadata)`;
      }
    }
  }
  return out;
}

/**
 * Inside the caller's write transaction: moves the files of `rows` (read in this transaction) to
 * temporary_files (expiring `graceMs` from now) and deletes exactly those rows, in two statements.
 * @returns bytes of the files queued.
 */
async function retireRows(engine: Engine, rows: PartitionRow[], graceMs: number): Promise<number> {
  if (rows.length === 0) return 0;
  const ids = rows.map((p) => rowIds.get(p));
  if (ids.some((id) => id === undefined)) throw new Error("retireRows: a row was not read in this transaction");
  const param = { ids: JSON.stringify(ids.map(String)) };
  const match = `rowid IN (SELECT unnest(from_json($ids::VARCHAR, '["VARCHAR"]'))::BIGINT)`;
  await engine.run(
    `INSERT INTO lake.temporary_files SELECT file_path, file_size, now() + to_milliseconds($g::BIGINT)
     FROM lake.lakehouse_partitions WHERE file_path IS NOT NULL AND ${match}`,
    { ...param, g: BigInt(graceMs) },
  );
  await engine.run(`DELETE FROM lake.lakehouse_partitions WHERE ${match}`, param);
  return rows.reduce((n, p) => n + p.fileSize, 0);
}

/**
 * Retires the partitions named by `requests` (retire_partition_by_metadata and
 * retire_partition_by_file), all in one catalog transaction: if any request fails, nothing is
 * retired and every message says so. Identical requests name the same partition once.
 * @returns one message per request and what was retired.
 * @throws LakeError when the catalog is busy past its timeout or an invariant check fails.
 */
export async function retireBatch(
  engine: Engine,
  lake: Lake,
  requests: RetireRequest[],
  opts: RetireOptions = {},
): Promise<BatchResult> {
  if (requests.length === 0) return { committed: false, messages: [], failures: 0, retired: [], bytesQueued: 0 };
  return inWriteTransaction(engine, lake, async () => {
    const distinct = new Map<string, RetireRequest>();
    for (const r of requests) if (!distinct.has(requestKey(r))) distinct.set(requestKey(r), r);
    const answers = await resolveAll(engine, lake, [...distinct.values()]);
    const byKey = new Map<string, PartitionRow | string>();
    [...distinct.keys()].forEach((k, i) => {
      byKey.set(k, answers[i] as PartitionRow | string);
    });
    const resolved = requests.map((r) => byKey.get(requestKey(r)) as PartitionRow | string);
    const failed = [...byKey.values()].filter((v): v is string => typeof v === "string");
    const retired: PartitionRow[] = [];
    const seen = new Set<string>();
    for (const v of byKey.values()) {
      if (typeof v === "string" || seen.has(JSON.stringify(key5(v)))) continue;
      seen.add(JSON.stringify(key5(v)));
      retired.push(v);
    }
    if (failed.length > 0) {
      const failures = resolved.filter((v) => typeof v === "string").length;
      const why =
        byKey.size === 1
          ? ""
          : ` (the whole statement is one transaction: ${failed.length} of ${byKey.size} distinct requests failed, first: ${failed[0]})`;
      const messages = resolved.map((v) =>
        typeof v === "string"
          ? `ERROR: ${v}; nothing retired${why ? " (the whole statement was rolled back)" : ""}`
          : `ERROR: ${describePartition(v)} not retired: the batch was rolled back${why}`,
      );
      return { value: { committed: false, messages, failures, retired: [], bytesQueued: 0 }, commit: false };
    }
    const bytesQueued = await retireRows(engine, retired, opts.graceMs ?? RETIRED_FILE_GRACE_MS);
    await lake.pause("retire-before-commit");
    const messages = resolved.map((v) => successMessage(v as PartitionRow, opts.dryRun ?? false));
    return {
      value: { committed: !opts.dryRun, messages, failures: 0, retired, bytesQueued },
      commit: !opts.dryRun,
    };
  });
}

function successMessage(p: PartitionRow, dryRun: boolean): string {
  const what = `${dryRun ? "would retire" : "retired"} ${describePartition(p)}`;
  const file =
    p.filePath === null
      ? " (empty partition, no file)"
      : `; its file ${p.filePath} (${p.fileSize} bytes) ${dryRun ? "would be" : "is"} deleted by gc after the grace period`;
  return `SUCCESS: ${what}${file}`;
}

/**
 * retire_partitions: retires every live partition of (`viewSetName`, `viewInstanceId`), any
 * schema hash, whose insert range lies inside [`beginUs`, `endUs`] (µs, inclusive), in one
 * transaction.
 * @returns the partitions retired (or that a dry run would retire), and the bytes queued.
 * @throws LakeError when an argument is missing or the range is reversed, or the catalog is busy.
 */
export async function retireRange(
  engine: Engine,
  lake: Lake,
  viewSetName: string | null,
  viewInstanceId: string | null,
  beginUs: bigint | null,
  endUs: bigint | null,
  opts: RetireOptions = {},
): Promise<{ retired: PartitionRow[]; bytesQueued: number }> {
  if (viewSetName === null || viewInstanceId === null || beginUs === null || endUs === null) {
    throw new LakeError(
      "retire_partitions needs view_set_name, view_instance_id, begin and end (none may be NULL); nothing retired",
    );
  }
  if (beginUs > endUs) {
    throw new LakeError(
      `retire_partitions: begin ${formatInsertTime(beginUs)} is after end ${formatInsertTime(endUs)}; nothing retired`,
    );
  }
  return inWriteTransaction(engine, lake, async () => {
    const retired = (
      await engine.rows<RawRow>(
        `SELECT ${COLUMNS} FROM lake.lakehouse_partitions WHERE view_set_name = $vs AND view_instance_id = $id
           AND epoch_us(begin_insert_time) >= $b AND epoch_us(end_insert_time) <= $e
         ORDER BY begin_insert_time, file_path`,
        { vs: viewSetName, id: viewInstanceId, b: beginUs, e: endUs },
      )
    ).map(toRow);
    const bytesQueued = await retireRows(engine, retired, opts.graceMs ?? RETIRED_FILE_GRACE_MS);
    return { value: { retired, bytesQueued }, commit: !opts.dryRun };
  });
}

/**
 * Live partitions whose file_schema_hash differs from their view set's current hash (a view set
 * tracelake does not know counts as incompatible), empty ones included, ordered by view set,
 * instance and begin insert time. The catalog must be attached.
 * @param currentHashes view set name → current schema hash.
 * @param viewSetName only this view set, or all when null.
 */
export async function listIncompatible(
  engine: Engine,
  currentHashes: ReadonlyMap<string, Uint8Array>,
  viewSetName: string | null,
): Promise<IncompatiblePartition[]> {
  const rows = (
    await engine.rows<RawRow>(
      `SELECT ${COLUMNS} FROM lake.lakehouse_partitions ${viewSetName === null ? "" : "WHERE view_set_name = $vs"}
       ORDER BY view_set_name, view_instance_id, begin_insert_time, file_path`,
      viewSetName === null ? undefined : { vs: viewSetName },
    )
  ).map(toRow);
  const out: IncompatiblePartition[] = [];
  for (const p of rows) {
    const current = currentHashes.get(p.viewSetName) ?? null;
    if (current !== null && hexOf(current) === hexOf(p.fileSchemaHash)) continue;
    const q: IncompatiblePartition = { ...p, currentSchemaHash: current };
    const id = rowIds.get(p);
    if (id !== undefined) rowIds.set(q, id);
    out.push(q);
  }
  return out;
}

/**
 * retire_incompatible_partitions: lists the incompatible partitions and retires each by its
 * five keys, in one catalog transaction (so the list cannot change under it; a SIGKILL leaves
 * either everything or nothing retired).
 * @returns one report per (view set, instance), ordered by view set and instance.
 * @throws LakeError when the catalog is busy past its timeout.
 */
export async function retireIncompatible(
  engine: Engine,
  lake: Lake,
  currentHashes: ReadonlyMap<string, Uint8Array>,
  viewSetName: string | null,
  opts: RetireOptions = {},
): Promise<InstanceRetirement[]> {
  return inWriteTransaction(engine, lake, async () => {
    const list = await listIncompatible(engine, currentHashes, viewSetName);
    // The list comes from this transaction: each entry names itself, unless another row has
    // the same five keys (a corrupt catalog), which makes both ambiguous.
    const keyCount = new Map<string, number>();
    const keys = list.map((p) => JSON.stringify(key5(p)));
    for (const k of keys) keyCount.set(k, (keyCount.get(k) ?? 0) + 1);
    const answers = list.map((p, i): PartitionRow | string => {
      const c = keyCount.get(keys[i] as string) as number;
      return c === 1 ? p : `${c} live partitions match ${describePartition(p)} (ambiguous)`;
    });
    const reports = new Map<string, InstanceRetirement>();
    const toRetire: PartitionRow[] = [];
    list.forEach((p, i) => {
      const k = `${p.viewSetName}\u0000${p.viewInstanceId}`;
      let rep = reports.get(k);
      if (!rep) {
        rep = {
          viewSetName: p.viewSetName,
          viewInstanceId: p.viewInstanceId,
          retired: 0,
          failed: 0,
          bytesFreed: 0,
          messages: [],
        };
        reports.set(k, rep);
      }
      const r = answers[i] as PartitionRow | string;
      if (typeof r === "string") {
        rep.failed++;
        rep.messages.push(`ERROR: ${r}`);
        return;
      }
      rep.retired++;
      rep.bytesFreed += r.fileSize;
      rep.messages.push(successMessage(r, opts.dryRun ?? false));
      toRetire.push(r);
    });
    await retireRows(engine, toRetire, opts.graceMs ?? RETIRED_FILE_GRACE_MS);
    await lake.pause("retire-incompatible-before-commit");
    return { value: [...reports.values()], commit: !opts.dryRun };
  });
}
