/**
 * `tracelake check --repair`: acts on a check report (lib/lake/check.ts).
 * - A partition whose file is missing, the wrong size, unreadable or with the wrong row count
 *   is retired by metadata (its row leaves lakehouse_partitions, its path goes to
 *   temporary_files for gc): the next query that needs it materializes it again from the raw
 *   blocks.
 * - Orphan files (no catalog row names them, older than the grace period) and leftover staging
 *   are deleted, after checking again with the catalog held for writing (so no commit can name
 *   them meanwhile) that they are still unnamed, and that the staging's owner is still gone.
 * - A damaged raw block cannot be rebuilt from the lake: the report names its trace (ingest) to
 *   ingest again. With `force`, that trace is removed: its partitions are retired, its ingests,
 *   processes, streams and blocks rows deleted in one transaction, then its blob files deleted
 *   (so that `tracelake ingest` of the same file is not taken for a duplicate).
 * All catalog changes are one transaction; files are deleted only after it commits.
 */
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Engine } from "../duck/engine.ts";
import type { CheckProblem, CheckReport } from "../lake/check.ts";
import { isAlive, readOwner } from "../lake/files.ts";
import type { Lake } from "../lake/lake.ts";
import { RETIRED_FILE_GRACE_MS } from "./partitions.ts";

/** Options of `repairLake`. */
export interface RepairOptions {
  /** Remove the traces whose raw blocks are damaged (default false: only name them). */
  force?: boolean;
  /** Time before gc may delete a retired partition's file, in ms (default 1 hour). */
  graceMs?: number;
}

/** A trace that has damaged raw blocks. */
export interface DamagedTrace {
  /** The ingest id; null when the damaged blocks' process has no ingest row. */
  ingestId: string | null;
  /** The source as ingested (file name), when known. */
  source: string | null;
  /** Processes of the damaged blocks. */
  processIds: string[];
  /** Damaged blocks. */
  blocks: number;
  /** True when `force` removed it from the lake. */
  removed: boolean;
}

/** What a repair did. */
export interface RepairReport {
  /** Partitions retired (their files queued in temporary_files), as `view_set/instance path`. */
  retiredPartitions: string[];
  /** Orphan files and staging entries deleted (paths relative to the lake root). */
  deleted: string[];
  /** Traces with damaged raw blocks: re-ingest them (or removed, with force). */
  traces: DamagedTrace[];
  /** Reported problems left alone, and why (a concurrent change, a live owner...). */
  skipped: string[];
}

/**
 * Repairs what `report` found (see the file comment). Attaches the catalog for writing and
 * detaches it before returning.
 * @returns what was done.
 * @throws LakeError when the catalog cannot be attached for writing (busy, read-only).
 */
export async function repairLake(
  engine: Engine,
  lake: Lake,
  report: CheckReport,
  opts: RepairOptions = {},
): Promise<RepairReport> {
  const grace = BigInt(opts.graceMs ?? RETIRED_FILE_GRACE_MS);
  const out: RepairReport = { retiredPartitions: [], deleted: [], traces: [], skipped: [] };
  const partitions = report.problems.filter((p) => p.object === "partition");
  const blocks = report.problems.filter((p) => p.object === "block");
  const loose = report.problems.filter((p) => p.object === "orphan" || p.object === "staging");

  const byTrace = new Map<string, { t: DamagedTrace; blockIds: string[] }>();
  for (const b of blocks) {
    const key = b.ingestId ?? `process:${b.processId}`;
    let e = byTrace.get(key);
    if (!e) {
      e = {
        t: { ingestId: b.ingestId, source: b.source, processIds: [], blocks: 0, removed: false },
        blockIds: [],
      };
      byTrace.set(key, e);
    }
    e.t.blocks++;
    if (b.processId && !e.t.processIds.includes(b.processId)) e.t.processIds.push(b.processId);
    if (b.blockId) e.blockIds.push(b.blockId);
  }

  await lake.attach(engine, "write");
  try {
    let blobsToDelete: string[] = [];
    await engine.transaction(async () => {
      for (const p of partitions) {
        if (await retireDamagedPartition(engine, p, grace)) {
          out.retiredPartitions.push(`${p.viewSet}/${p.processId} ${p.path}`);
        } else out.skipped.push(`${p.path}: its partition is no longer live (retired meanwhile)`);
      }
      if (opts.force) {
        for (const { t, blockIds } of byTrace.values()) {
          blobsToDelete = blobsToDelete.concat(await removeTrace(engine, t, blockIds, grace));
          t.removed = true;
        }
      }
      await lake.pause("repair-before-commit");
    });
    out.traces = [...byTrace.values()].map((e) => e.t);
    for (const rel of blobsToDelete) rmSync(join(lake.root, rel), { force: true });

    // Loose files, checked again while no commit can name them.
    const named = new Set<string>();
    for (const sql of [
      "SELECT file_path AS f FROM lake.blocks",
      "SELECT file_path AS f FROM lake.lakehouse_partitions WHERE file_path IS NOT NULL",
      "SELECT file_path AS f FROM lake.temporary_files",
    ]) {
      for (const r of await engine.rows<{ f: string }>(sql)) named.add(r.f);
    }
    for (const p of loose) {
      const abs = join(lake.root, p.path);
      if (p.object === "orphan" && named.has(p.path)) {
        out.skipped.push(`${p.path}: a catalog row names it now`);
        continue;
      }
      if (p.object === "staging") {
        const owner = readOwner(join(abs, "owner.json"));
        if (owner && isAlive(owner.pid)) {
          out.skipped.push(`${p.path}: its ingest (process ${owner.pid}) is running`);
          continue;
        }
      }
      if (!existsSync(abs)) continue;
      rmSync(abs, { recursive: true, force: true });
      out.deleted.push(p.path);
    }
  } finally {
    await lake.detach(engine);
  }
  return out;
}

/**
 * Retires the live partition a problem names (its five keys and its file path), queueing its
 * file in temporary_files. Inside the caller's write transaction.
 * @returns false when no such live partition exists any more.
 */
async function retireDamagedPartition(engine: Engine, p: CheckProblem, grace: bigint): Promise<boolean> {
  if (!p.partition || !p.viewSet || !p.processId) return false;
  const match = `view_set_name = $vs AND view_instance_id = $id AND epoch_us(begin_insert_time) = $b::BIGINT
    AND epoch_us(end_insert_time) = $e::BIGINT AND hex(file_schema_hash) = $h AND file_path = $f`;
  const params = {
    vs: p.viewSet,
    id: p.processId,
    b: p.partition.beginInsertUs,
    e: p.partition.endInsertUs,
    h: p.partition.fileSchemaHash,
    f: p.path,
  };
  const n = await engine.rows<{ n: bigint }>(
    `SELECT count(*) AS n FROM lake.lakehouse_partitions WHERE ${match}`,
    params,
  );
  if (Number(n[0]?.n ?? 0) === 0) return false;
  await engine.run(
    `INSERT INTO lake.temporary_files SELECT file_path, file_size, now() + to_milliseconds($g::BIGINT)
       FROM lake.lakehouse_partitions WHERE ${match}`,
    { ...params, g: grace },
  );
  await engine.run(`DELETE FROM lake.lakehouse_partitions WHERE ${match}`, params);
  return true;
}

/**
 * Removes a trace from the catalog inside the caller's write transaction: every partition of its
 * processes is retired (files to temporary_files), and its blocks, streams, processes and ingests
 * rows deleted. A trace without an ingest row (`ingestId` null) loses only the damaged blocks.
 * @returns the blob paths (relative to the lake root) to delete once the transaction commits.
 */
async function removeTrace(engine: Engine, t: DamagedTrace, blockIds: string[], grace: bigint): Promise<string[]> {
  const procs = t.ingestId
    ? (
        await engine.rows<{ process_id: string }>("SELECT process_id FROM lake.processes WHERE ingest_id = $i", {
          i: t.ingestId,
        })
      ).map((r) => r.process_id)
    : t.processIds;
  const ids = { ids: JSON.stringify(procs) };
  const inProcs = `(SELECT unnest(from_json($ids::VARCHAR, '["VARCHAR"]')))`;
  await engine.run(
    `INSERT INTO lake.temporary_files SELECT file_path, file_size, now() + to_milliseconds($g::BIGINT)
       FROM lake.lakehouse_partitions WHERE file_path IS NOT NULL AND view_instance_id IN ${inProcs}`,
    { ...ids, g: grace },
  );
  await engine.run(`DELETE FROM lake.lakehouse_partitions WHERE view_instance_id IN ${inProcs}`, ids);
  if (!t.ingestId) {
    const bids = { bids: JSON.stringify(blockIds) };
    const inBlocks = `(SELECT unnest(from_json($bids::VARCHAR, '["VARCHAR"]')))`;
    const paths = await engine.rows<{ f: string }>(
      `SELECT file_path AS f FROM lake.blocks WHERE block_id IN ${inBlocks}`,
      bids,
    );
    await engine.run(`DELETE FROM lake.blocks WHERE block_id IN ${inBlocks}`, bids);
    return paths.map((r) => r.f);
  }
  const paths = await engine.rows<{ f: string }>(
    `SELECT file_path AS f FROM lake.blocks WHERE process_id IN ${inProcs}`,
    ids,
  );
  await engine.run(`DELETE FROM lake.blocks WHERE process_id IN ${inProcs}`, ids);
  await engine.run(`DELETE FROM lake.streams WHERE process_id IN ${inProcs}`, ids);
  await engine.run(`DELETE FROM lake.processes WHERE process_id IN ${inProcs}`, ids);
  await engine.run("DELETE FROM lake.ingests WHERE ingest_id = $i", { i: t.ingestId });
  return paths.map((r) => r.f);
}
