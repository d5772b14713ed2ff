/**
 * The commit of an ingest: in one catalog transaction, insert the processes, streams and blocks
 * an importer staged and the `ingests` row, moving the staged blobs into `blobs/` just before
 * COMMIT (a blob exists before the row that names it commits). An ingest committed in parts
 * (`tracelake serve`'s commit windows) inserts only the processes and streams not committed yet
 * and updates its `ingests` row. A failure leaves the catalog as it was (staged or moved blobs
 * without rows are removed by `tracelake gc`).
 */
import { mkdirSync } from "node:fs";
import { rename, utimes } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Engine } from "../duck/engine.ts";
import { Lake } from "../lake/lake.ts";
import { blobRelPath } from "../lake/layout.ts";
import { RAW_BLOCK_SCHEMA_VERSION } from "../lake/raw_block.ts";
import { chooseTraceName } from "../lake/traces.ts";
import type { IngestSummary } from "./ingest.ts";
import type { ImportOutcome } from "./model.ts";

/**
 * Commits `outcome` (its staged blocks are moved into the lake) with `summary`'s counts.
 * With `info.dedupe`, when the lake already has an ingest of `summary.contentHash`, commits
 * nothing and marks `summary` as a duplicate of it (ingestId, duplicateOfTime).
 * @throws LakeError when the catalog stays locked; any error of the catalog or the file moves
 *   (the transaction is rolled back).
 */
export async function commitImport(
  engine: Engine,
  lake: Lake,
  outcome: ImportOutcome,
  summary: IngestSummary,
  info: CommitInfo,
): Promise<void> {
  await lake.attach(engine, "write");
  try {
    await engine.transaction(async () => {
      if (info.dedupe) {
        const dup = await engine.rowsJson<{ ingest_id: string; insert_time: string }>(
          "SELECT ingest_id, insert_time FROM lake.ingests WHERE content_hash = $h ORDER BY insert_time LIMIT 1",
          { h: summary.contentHash },
        );
        const d = dup[0];
        if (d) {
          summary.duplicate = true;
          summary.ingestId = d.ingest_id;
          summary.duplicateOfTime = d.insert_time;
          return;
        }
      }
      const times = await Lake.nextInsertTimes(engine, Math.max(1, outcome.blocks.length));
      await insertRows(engine, outcome, summary, { ...info, t0: times[0] as bigint });
      // Blobs must exist before the rows that name them commit. One directory per stream,
      // made once; the moves run on libuv's pool, 32 at a time (each waits on the journal).
      const dirs = new Set<string>();
      const moves = outcome.blocks.map((b) => {
        const dst = join(lake.root, blobRelPath(b.processId, b.streamId, b.blockId));
        const dir = dirname(dst);
        if (!dirs.has(dir)) {
          mkdirSync(dir, { recursive: true });
          dirs.add(dir);
        }
        return { from: b.stagedPath, dst };
      });
      for (let k = 0; k < moves.length; k += 32) {
        await Promise.all(
          moves.slice(k, k + 32).map(async (m) => {
            await rename(m.from, m.dst);
            const now = new Date();
            await utimes(m.dst, now, now);
          }),
        );
      }
    });
  } finally {
    await lake.detach(engine);
  }
  lake.noteIngestCommitted();
  const parts = info.parts;
  if (parts && !summary.duplicate) {
    for (const p of outcome.processes) {
      parts.processes.add(p.processId);
      parts.streams.add(p.logStreamId);
      parts.streams.add(p.metricsStreamId);
      for (const t of p.threads.values()) parts.streams.add(t.streamId);
    }
    parts.ingestRowExists = true;
  }
}

/** What the commit writes besides the import's outcome. */
export interface CommitInfo {
  /** The ingest's id (the `ingests` row, and `processes.ingest_id`). */
  ingestId: string;
  /** The source's name (`ingests.source`, `processes.source_file`). */
  sourceName: string;
  /** Hex SHA-256 of the content's first MiB (`ingests.prefix_hash`). */
  prefixHash: string;
  /** When the ingest started, µs since the Unix epoch. */
  startedUs: bigint;
  /** Stored bytes of the source, null when unknown. */
  sourceSize: number | null;
  /** Chrome JSON's `metadata` object as JSON text, else null. */
  metadataJson: string | null;
  displayTimeUnit: string | null;
  /** Look for an ingest of the same content hash first, and commit nothing when there is one. */
  dedupe: boolean;
  /**
   * The trace's name the user gave (checked: lib/lake/traces.ts checkTraceName), or null/absent
   * for the default one (chooseTraceName: the source's base name, made unique).
   */
  name?: string | null;
  /**
   * For an ingest committed in several parts (`tracelake serve`: one per commit window): the
   * process and stream ids already committed by earlier parts (not inserted again; the ids of
   * this part's new ones are added once it commits), and whether the `ingests` row exists (then
   * its counts are updated to `summary`'s, which must be the totals so far). Default: one part.
   */
  parts?: { processes: Set<string>; streams: Set<string>; ingestRowExists: boolean };
}

/** CommitInfo with the commit's first insert time (µs since the epoch). */
interface RowInfo extends CommitInfo {
  t0: bigint;
}

/** Inserts processes, streams, blocks and the ingests row (catalog attached, in a transaction). */
async function insertRows(engine: Engine, importer: ImportOutcome, summary: IngestSummary, c: RowInfo): Promise<void> {
  const known = c.parts;
  const traceProps = smallScalars(c.metadataJson);
  const startOf = new Map<string, bigint>();
  for (const b of importer.blocks) {
    if (b.beginNs === null) continue;
    const prev = startOf.get(b.processId);
    if (prev === undefined || b.beginNs < prev) startOf.set(b.processId, b.beginNs);
  }
  await engine.run(`CREATE OR REPLACE TEMP TABLE tl_new_processes(process_id VARCHAR, exe VARCHAR, start_ns BIGINT, properties VARCHAR, source_pid VARCHAR);
    CREATE OR REPLACE TEMP TABLE tl_new_streams(stream_id VARCHAR, process_id VARCHAR, tag VARCHAR, properties VARCHAR);
    CREATE OR REPLACE TEMP TABLE tl_new_blocks(block_id VARCHAR, stream_id VARCHAR, process_id VARCHAR, begin_ns BIGINT, end_ns BIGINT, nb_objects BIGINT, payload_size BIGINT, file_path VARCHAR, ord BIGINT)`);
  const procRows: (string | bigint | null)[][] = [];
  const streamRows: string[][] = [];
  for (const p of importer.processes) {
    if (known?.processes.has(p.processId)) {
      for (const t of p.threads.values()) {
        if (known.streams.has(t.streamId)) continue;
        const tp: Record<string, unknown> = { "thread-id": t.tid };
        if (t.name !== null) tp["thread-name"] = t.name;
        streamRows.push([t.streamId, p.processId, "cpu", JSON.stringify(tp)]);
      }
      continue;
    }
    const sourcePid = p.sourcePid !== undefined ? p.sourcePid : p.pid;
    const props: Record<string, unknown> = sourcePid !== null ? { pid: sourcePid } : {};
    if (p.labels !== null) props.labels = p.labels;
    if (p.sortIndex !== null) props.sort_index = p.sortIndex;
    if (Object.keys(p.metadata).length > 0) props.metadata = p.metadata;
    if (Object.keys(traceProps).length > 0) props.trace = traceProps;
    if (p.properties) Object.assign(props, p.properties);
    procRows.push([p.processId, p.name, startOf.get(p.processId) ?? null, JSON.stringify(props), sourcePid]);
    streamRows.push([p.logStreamId, p.processId, "log", "{}"], [p.metricsStreamId, p.processId, "metrics", "{}"]);
    for (const t of p.threads.values()) {
      const tp: Record<string, unknown> = { "thread-id": t.tid };
      if (t.name !== null) tp["thread-name"] = t.name;
      if (t.sortIndex !== null) tp.sort_index = t.sortIndex;
      streamRows.push([t.streamId, p.processId, "cpu", JSON.stringify(tp)]);
    }
  }
  await engine.append("tl_new_processes", procRows);
  await engine.append("tl_new_streams", streamRows);
  await engine.append(
    "tl_new_blocks",
    importer.blocks.map((b, k) => [
      b.blockId,
      b.streamId,
      b.processId,
      b.beginNs,
      b.endNs,
      BigInt(b.nbObjects),
      BigInt(b.payloadSize),
      blobRelPath(b.processId, b.streamId, b.blockId),
      BigInt(k),
    ]),
  );
  const params = { t0: c.t0, ingest: c.ingestId, source: c.sourceName };
  await engine.run(
    `INSERT INTO lake.processes (process_id, exe, start_time, properties, insert_time, source_pid, source_file, trace_format, ingest_id)
     SELECT process_id, exe, make_timestamp_ns(start_ns), properties::JSON, make_timestamp($t0::BIGINT)::TIMESTAMPTZ,
            source_pid, $source, $format, $ingest FROM tl_new_processes`,
    { ...params, format: summary.format },
  );
  await engine.run(
    `INSERT INTO lake.streams SELECT stream_id, process_id, [tag], properties::JSON, make_timestamp($t0::BIGINT)::TIMESTAMPTZ FROM tl_new_streams`,
    { t0: c.t0 },
  );
  await engine.run(
    `INSERT INTO lake.blocks SELECT block_id, stream_id, process_id, make_timestamp_ns(begin_ns), make_timestamp_ns(end_ns),
       nb_objects, payload_size, file_path, make_timestamp($t0::BIGINT + ord)::TIMESTAMPTZ, ${RAW_BLOCK_SCHEMA_VERSION} FROM tl_new_blocks`,
    { t0: c.t0 },
  );
  const ingestProps: Record<string, unknown> = {};
  if (c.metadataJson) {
    try {
      ingestProps.metadata = JSON.parse(c.metadataJson);
    } catch {
      ingestProps.metadata_unparsed = c.metadataJson.slice(0, 4096);
    }
  }
  if (c.displayTimeUnit) ingestProps.displayTimeUnit = c.displayTimeUnit;
  if (known?.ingestRowExists) {
    await engine.run(
      `UPDATE lake.ingests SET content_size = $csize, nb_events = $events, nb_processes = $np, nb_streams = $ns,
         nb_blocks = $nb, summary = $summary::JSON WHERE ingest_id = $id`,
      {
        id: c.ingestId,
        csize: BigInt(summary.contentBytes),
        events: BigInt(summary.eventsImported),
        np: BigInt(summary.processes),
        ns: BigInt(summary.streams),
        nb: BigInt(summary.blocks),
        summary: JSON.stringify({
          phases: summary.phases,
          warnings: summary.warnings,
          eventsFound: summary.eventsFound,
        }),
      },
    );
    return;
  }
  summary.name = await chooseTraceName(engine, c.name ?? null, c.sourceName);
  await engine.run(
    `INSERT INTO lake.ingests (ingest_id, source, source_size, content_size, content_hash, prefix_hash, format, status,
       nb_events, nb_processes, nb_streams, nb_blocks, summary, properties, started, insert_time, name)
     VALUES ($id, $source, $ssize, $csize, $hash, $phash, $format, 'complete', $events, $np, $ns, $nb,
       $summary::JSON, $props::JSON, make_timestamp($started::BIGINT)::TIMESTAMPTZ, make_timestamp($t0::BIGINT)::TIMESTAMPTZ, $name)`,
    {
      name: summary.name,
      id: c.ingestId,
      source: c.sourceName,
      ssize: c.sourceSize === null ? null : BigInt(c.sourceSize),
      csize: BigInt(summary.contentBytes),
      hash: summary.contentHash,
      phash: c.prefixHash,
      format: summary.format,
      events: BigInt(summary.eventsImported),
      np: BigInt(summary.processes),
      ns: BigInt(summary.streams),
      nb: BigInt(summary.blocks),
      summary: JSON.stringify({ phases: summary.phases, warnings: summary.warnings, eventsFound: summary.eventsFound }),
      props: JSON.stringify(ingestProps),
      started: c.startedUs,
      t0: c.t0,
    },
  );
}

/** Keeps the small scalar values of the trace metadata (clock domain, command line...). */
function smallScalars(json: string | null): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  if (!json) return out;
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch {
    return out;
  }
  if (!v || typeof v !== "object" || Array.isArray(v)) return out;
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if ((typeof x === "string" && x.length <= 1024) || typeof x === "number" || typeof x === "boolean") {
      out[k] = x;
    }
  }
  return out;
}
