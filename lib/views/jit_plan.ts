/**
 * The JIT's plan (jit.ts step 1): from the attached catalog, the instances a request names, each
 * process's blocks of the view set's stream tag cut into insert-time slices (or one partition for
 * view sets whose rows depend on other blocks, or on the other processes of an ingest), with the
 * source identity of each slice and the instance's live partitions.
 */
import { join } from "node:path";
import type { Engine } from "../duck/engine.ts";
import { LakeError } from "../errors.ts";
import { listPartitions, type PartitionRow } from "../partitions/partitions.ts";
import type { IngestPeer, ProcessMeta, SourceBlock, StreamMeta, ViewSet } from "./view_set.ts";

/** What to materialize: one view set for some processes (null = every process). */
export interface JitRequest {
  viewSet: ViewSet;
  processIds: string[] | null;
}

/** A planned partition. */
export interface Spec {
  beginUs: bigint;
  endUs: bigint;
  blocks: SourceBlock[];
  sourceHash: Uint8Array;
  /** For `scope: "ingest"` view sets: the processes of the ingest. */
  peers?: IngestPeer[];
}

/** The plan of one instance. */
export interface InstancePlan {
  viewSet: ViewSet;
  process: ProcessMeta;
  streams: StreamMeta[];
  specs: Spec[];
  live: PartitionRow[];
}

interface BlockRow {
  process_id: string;
  block_id: string;
  stream_id: string;
  nb_objects: bigint;
  ins: bigint;
  begin_ns: bigint | null;
  file_path: string;
}

/**
 * Catalog reads shared by requests planned together (an export plans five view sets over the
 * same processes): by SQL text and parameters, the read's rows, which planRequest does not
 * modify. Good only while the catalog is attached read-only (nothing changes it meanwhile).
 */
export type PlanReads = Map<string, Promise<unknown[]>>;

/**
 * Plans the instances of one request from the attached catalog: processes, their streams, the
 * blocks of the view set's tag cut into slices, and the live partitions.
 * @param reads where requests planned together share their identical reads (processes, and
 *   streams and blocks of the same tag); none: every read is made.
 * @throws LakeError when a requested process does not exist.
 */
export async function planRequest(
  engine: Engine,
  root: string,
  r: JitRequest,
  reads?: PlanReads,
): Promise<InstancePlan[]> {
  const read = <T>(sql: string, params: Record<string, string>): Promise<T[]> => {
    if (!reads) return engine.rowsApart<T>(sql, params);
    const key = `${sql}\u0000${JSON.stringify(params)}`;
    let rows = reads.get(key);
    if (!rows) {
      rows = engine.rowsApart<T>(sql, params);
      reads.set(key, rows);
    }
    return rows as Promise<T[]>;
  };
  const vs = r.viewSet;
  const ids = r.processIds;
  // The ids travel as a parameter (a JSON array), never as SQL text.
  const idFilter = (col: string) => (ids === null ? "" : `AND list_contains($ids::JSON::VARCHAR[], ${col})`);
  const idParam: Record<string, string> = ids === null ? {} : { ids: JSON.stringify(ids) };
  // The four reads run at once, each on a connection of its own (the catalog is attached
  // read-only, so no other process writes it meanwhile).
  // An ingest-scoped view set's peers are read at the same time.
  const peersRead = vs.scope === "ingest" ? ingestPeers(engine, root, ids) : null;
  peersRead?.catch(() => undefined);
  const all = Promise.all([
    read<{
      process_id: string;
      exe: string | null;
      username: string | null;
      computer: string | null;
      properties: string | null;
      ins: bigint;
    }>(
      `SELECT process_id, exe, username, computer, properties::VARCHAR AS properties, epoch_us(insert_time) AS ins
       FROM lake.processes WHERE true ${idFilter("process_id")} ORDER BY process_id`,
      idParam,
    ),
    read<{ stream_id: string; process_id: string; tid: string | null; tn: string | null }>(
      `SELECT stream_id, process_id, properties->>'thread-id' AS tid, properties->>'thread-name' AS tn
       FROM lake.streams WHERE list_contains(tags, $tag) ${idFilter("process_id")} ORDER BY process_id, stream_id`,
      { tag: vs.streamTag, ...idParam },
    ),
    read<BlockRow>(
      `SELECT b.process_id, b.block_id, b.stream_id, b.nb_objects, epoch_us(b.insert_time) AS ins,
         epoch_ns(b.begin_time) AS begin_ns, b.file_path
       FROM lake.blocks b JOIN lake.streams s USING (stream_id)
       WHERE list_contains(s.tags, $tag) ${idFilter("b.process_id")}
       ORDER BY b.process_id, b.insert_time, b.block_id`,
      { tag: vs.streamTag, ...idParam },
    ),
    listPartitions(engine, vs.name, ids),
  ]);
  // Should a read fail, the peers' reads end too before the error goes up (the caller may
  // detach the catalog next).
  const [procs, streams, blocks, live] = await all.catch(async (e) => {
    await peersRead?.catch(() => undefined);
    throw e;
  });
  if (ids !== null && procs.length < new Set(ids).size) {
    const known = new Set(procs.map((p) => p.process_id));
    const missing = ids.filter((i) => !known.has(i));
    throw new LakeError(
      `no process with id ${missing.join(", ")} in the lake; see SELECT process_id, exe FROM processes`,
    );
  }
  const peersOf = peersRead ? await peersRead : null;
  const group = <T>(rows: T[], key: (t: T) => string): Map<string, T[]> => {
    const m = new Map<string, T[]>();
    for (const row of rows) {
      const k = key(row);
      const l = m.get(k);
      if (l) l.push(row);
      else m.set(k, [row]);
    }
    return m;
  };
  const streamsBy = group(streams, (s) => s.process_id);
  const blocksBy = group(blocks, (b) => b.process_id);
  const liveBy = group(live, (p) => p.viewInstanceId);
  return procs.map((p) => {
    const blockRows = blocksBy.get(p.process_id) ?? [];
    return {
      viewSet: vs,
      process: {
        processId: p.process_id,
        exe: p.exe,
        username: p.username,
        computer: p.computer,
        properties: p.properties,
      },
      streams: (streamsBy.get(p.process_id) ?? []).map((s) => ({
        streamId: s.stream_id,
        tid: s.tid,
        threadName: s.tn,
      })),
      specs: peersOf ? [ingestSpec(peersOf.get(p.process_id) ?? [], p.ins)] : planSpecs(vs, blockRows, p.ins, root),
      live: liveBy.get(p.process_id) ?? [],
    };
  });
}

/** A catalog block row as the JIT hands it to a view set (its file's path under the lake `root`). */
function sourceBlock(b: BlockRow, root: string): SourceBlock {
  return {
    blockId: b.block_id,
    streamId: b.stream_id,
    nbObjects: Number(b.nb_objects),
    insertTimeUs: b.ins,
    beginTimeNs: b.begin_ns,
    path: join(root, b.file_path),
  };
}

/** Cuts a process's blocks (sorted by insert time) into partition specs. */
function planSpecs(vs: ViewSet, rows: BlockRow[], processInsertUs: bigint, root: string): Spec[] {
  if (rows.length === 0) {
    return [{ beginUs: processInsertUs, endUs: processInsertUs, blocks: [], sourceHash: sourceIdentity([]) }];
  }
  const slices = new Map<bigint, BlockRow[]>();
  for (const b of rows) {
    const k = vs.sliceMicros === null ? 0n : b.ins / BigInt(vs.sliceMicros);
    const l = slices.get(k);
    if (l) l.push(b);
    else slices.set(k, [b]);
  }
  return [...slices.values()].map((group) => {
    const blocks = group.map((b) => sourceBlock(b, root));
    let lo = group[0]?.ins as bigint;
    let hi = lo;
    for (const b of group) {
      if (b.ins < lo) lo = b.ins;
      if (b.ins > hi) hi = b.ins;
    }
    return { beginUs: lo, endUs: hi, blocks, sourceHash: sourceIdentity(blocks) };
  });
}

/** SHA-256 over the sorted `block_id:nb_objects` lines of a partition's source blocks. */
export function sourceIdentity(blocks: { blockId: string; nbObjects: number }[]): Uint8Array {
  const lines = blocks.map((b) => `${b.blockId}:${b.nbObjects}\n`).sort();
  const h = new Bun.CryptoHasher("sha256");
  for (const l of lines) h.update(l);
  return new Uint8Array(h.digest());
}

/**
 * For `scope: "ingest"` view sets: by requested process id (null = all), the processes of its
 * ingest (`processes.ingest_id`) with their cpu streams and cpu and log blocks. Its three reads
 * run at once, each on a connection of its own (Engine.rowsApart), as planRequest's other reads:
 * the streams' and blocks' select the processes of the requested ones' ingests themselves (one
 * after another, they added ~40 ms to a warm export's planning here).
 */
async function ingestPeers(engine: Engine, root: string, ids: string[] | null): Promise<Map<string, IngestPeer[]>> {
  const idFilter = ids === null ? "" : "WHERE list_contains($ids::JSON::VARCHAR[], process_id)";
  const idParam: Record<string, string> = ids === null ? {} : { ids: JSON.stringify(ids) };
  // The processes of the requested ones' ingests.
  const mates = `(SELECT p.process_id FROM (SELECT ingest_id FROM lake.processes ${idFilter}) w
     JOIN lake.processes p USING (ingest_id))`;
  const procsRead = engine.rowsApart<{
    want: string;
    process_id: string;
    exe: string | null;
    username: string | null;
    computer: string | null;
    properties: string | null;
    trace_format: string | null;
  }>(
    `SELECT w.process_id AS want, p.process_id, p.exe, p.username, p.computer, p.properties::VARCHAR AS properties, p.trace_format
     FROM (SELECT process_id, ingest_id FROM lake.processes ${idFilter}) w
     JOIN lake.processes p USING (ingest_id) ORDER BY w.process_id, p.process_id`,
    idParam,
  );
  const streamsRead = engine.rowsApart<{
    stream_id: string;
    process_id: string;
    tid: string | null;
    tn: string | null;
  }>(
    `SELECT stream_id, process_id, properties->>'thread-id' AS tid, properties->>'thread-name' AS tn
     FROM lake.streams WHERE list_contains(tags, 'cpu') AND process_id IN ${mates}
     ORDER BY process_id, stream_id`,
    idParam,
  );
  const blocksRead = engine.rowsApart<BlockRow & { cpu: boolean }>(
    `SELECT b.process_id, b.block_id, b.stream_id, b.nb_objects, epoch_us(b.insert_time) AS ins,
       epoch_ns(b.begin_time) AS begin_ns, b.file_path, list_contains(s.tags, 'cpu') AS cpu
     FROM lake.blocks b JOIN lake.streams s USING (stream_id)
     WHERE (list_contains(s.tags, 'cpu') OR list_contains(s.tags, 'log'))
       AND b.process_id IN ${mates}
     ORDER BY b.process_id, b.insert_time, b.block_id`,
    idParam,
  );
  // All three settled before returning (the catalog may be detached after).
  const [procsR, streamsR, blocksR] = await Promise.allSettled([procsRead, streamsRead, blocksRead]);
  for (const r of [procsR, streamsR, blocksR]) if (r.status === "rejected") throw r.reason;
  const procs = (procsR as PromiseFulfilledResult<Awaited<typeof procsRead>>).value;
  const streams = (streamsR as PromiseFulfilledResult<Awaited<typeof streamsRead>>).value;
  const blocks = (blocksR as PromiseFulfilledResult<Awaited<typeof blocksRead>>).value;
  const peer = new Map<string, IngestPeer>();
  for (const p of procs) {
    if (peer.has(p.process_id)) continue;
    const { process_id: processId, exe, username, computer, properties } = p;
    peer.set(processId, {
      process: { processId, exe, username, computer, properties },
      traceFormat: p.trace_format,
      cpuStreams: [],
      cpuBlocks: [],
      logBlocks: [],
    });
  }
  for (const s of streams) {
    peer.get(s.process_id)?.cpuStreams.push({ streamId: s.stream_id, tid: s.tid, threadName: s.tn });
  }
  for (const b of blocks) {
    const p = peer.get(b.process_id);
    if (p) (b.cpu ? p.cpuBlocks : p.logBlocks).push(sourceBlock(b, root));
  }
  const out = new Map<string, IngestPeer[]>();
  for (const p of procs) {
    const list = out.get(p.want) ?? [];
    list.push(peer.get(p.process_id) as IngestPeer);
    out.set(p.want, list);
  }
  return out;
}

/** The one partition of an ingest-scoped instance: every peer's blocks (none: an empty one). */
function ingestSpec(peers: IngestPeer[], processInsertUs: bigint): Spec {
  const blocks = peers.flatMap((p) => [...p.cpuBlocks, ...p.logBlocks]);
  const first = blocks[0];
  if (first === undefined) {
    return { beginUs: processInsertUs, endUs: processInsertUs, blocks, sourceHash: sourceIdentity([]) };
  }
  let lo = first.insertTimeUs;
  let hi = lo;
  for (const b of blocks) {
    if (b.insertTimeUs < lo) lo = b.insertTimeUs;
    if (b.insertTimeUs > hi) hi = b.insertTimeUs;
  }
  return { beginUs: lo, endUs: hi, blocks, sourceHash: sourceIdentity(blocks), peers };
}
