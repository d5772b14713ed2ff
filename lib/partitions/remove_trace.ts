/**
 * `tracelake rm TRACE...`: removes traces (= ingests, lib/lake/traces.ts) from the lake. Every
 * trace named is resolved first (nothing is removed when one name is unknown or ambiguous); then,
 * in ONE catalog transaction, each trace's partitions, blocks, streams, processes and ingests rows
 * are deleted and the files they named (partition files and raw block blobs) are queued in
 * `temporary_files` with an expiration `graceMs` from now: `gc` deletes them after that (a query
 * that listed them before the removal may still be reading them meanwhile), as it does for
 * retired partitions (lib/partitions/gc.ts).
 */
import type { Engine } from "../duck/engine.ts";
import type { Lake } from "../lake/lake.ts";
import { resolveTrace, type TraceRef } from "../lake/traces.ts";
import { RETIRED_FILE_GRACE_MS } from "./partitions.ts";

/** Options of removeTraces. */
export interface RemoveTraceOptions {
  /** Time before gc may delete the removed files, in ms (default 1 hour). */
  graceMs?: number;
  /** Resolve and count; change nothing. */
  dryRun?: boolean;
}

/** What removing one trace did (or would do, in a dry run). Sizes in bytes. */
export interface RemovedTrace {
  trace: TraceRef;
  processes: number;
  streams: number;
  blocks: number;
  partitions: number;
  /** Files queued for gc: raw block blobs and partition files. */
  files: number;
  bytes: number;
}

/** The processes of the trace, as a SQL list source (parameter $id). */
const PROCS = "(SELECT process_id FROM lake.processes WHERE ingest_id = $id)";

/**
 * Removes the traces `texts` name (trace_id, unique prefix, or name); a trace named twice is
 * removed once. Attaches the catalog for writing and detaches it before returning.
 * @returns one entry per trace, in the order named.
 * @throws InputError when a text names no trace or several (nothing removed); LakeError when the
 *   catalog is busy past its timeout.
 */
export async function removeTraces(
  engine: Engine,
  lake: Lake,
  texts: string[],
  opts: RemoveTraceOptions = {},
): Promise<RemovedTrace[]> {
  const grace = BigInt(opts.graceMs ?? RETIRED_FILE_GRACE_MS);
  await lake.attach(engine, opts.dryRun ? "read" : "write");
  try {
    const traces: TraceRef[] = [];
    for (const t of texts) {
      const r = await resolveTrace(engine, t, "rm");
      if (!traces.some((x) => x.traceId === r.traceId)) traces.push(r);
    }
    const out: RemovedTrace[] = [];
    const work = async (): Promise<void> => {
      for (const trace of traces) {
        const id = { id: trace.traceId };
        const c = (
          await engine.rows<Record<string, bigint | null>>(
            `SELECT (SELECT count(*) FROM lake.processes WHERE ingest_id = $id) AS processes,
               (SELECT count(*) FROM lake.streams WHERE process_id IN ${PROCS}) AS streams,
               (SELECT count(*) FROM lake.blocks WHERE process_id IN ${PROCS}) AS blocks,
               (SELECT coalesce(sum(payload_size), 0) FROM lake.blocks WHERE process_id IN ${PROCS}) AS block_bytes,
               (SELECT count(*) FROM lake.lakehouse_partitions WHERE view_instance_id IN ${PROCS}) AS partitions,
               (SELECT count(*) FROM lake.lakehouse_partitions WHERE view_instance_id IN ${PROCS} AND file_path IS NOT NULL) AS pfiles,
               (SELECT coalesce(sum(file_size), 0) FROM lake.lakehouse_partitions WHERE view_instance_id IN ${PROCS}) AS pbytes`,
            id,
          )
        )[0] as Record<string, bigint | null>;
        const n = (k: string): number => Number(c[k] ?? 0);
        out.push({
          trace,
          processes: n("processes"),
          streams: n("streams"),
          blocks: n("blocks"),
          partitions: n("partitions"),
          files: n("blocks") + n("pfiles"),
          bytes: n("block_bytes") + n("pbytes"),
        });
        if (opts.dryRun) continue;
        const g = { ...id, g: grace };
        await engine.run(
          `INSERT INTO lake.temporary_files SELECT file_path, file_size, now() + to_milliseconds($g::BIGINT)
             FROM lake.lakehouse_partitions WHERE file_path IS NOT NULL AND view_instance_id IN ${PROCS}`,
          g,
        );
        await engine.run(
          `INSERT INTO lake.temporary_files SELECT file_path, payload_size, now() + to_milliseconds($g::BIGINT)
             FROM lake.blocks WHERE process_id IN ${PROCS}`,
          g,
        );
        await engine.run(`DELETE FROM lake.lakehouse_partitions WHERE view_instance_id IN ${PROCS}`, id);
        await engine.run(`DELETE FROM lake.blocks WHERE process_id IN ${PROCS}`, id);
        await engine.run(`DELETE FROM lake.streams WHERE process_id IN ${PROCS}`, id);
        await engine.run("DELETE FROM lake.processes WHERE ingest_id = $id", id);
        await engine.run("DELETE FROM lake.ingests WHERE ingest_id = $id", id);
      }
      await lake.pause("rm-before-commit");
    };
    if (opts.dryRun) await work();
    else await engine.transaction(work);
    return out;
  } finally {
    await lake.detach(engine);
  }
}
