/**
 * Just-in-time materialization of process-scoped view instances (DESIGN.md "Views and JIT
 * partitions"; reference/micromegas.md §4, adapted to one machine).
 *
 * For each requested (view set, process):
 * 1. plan (jit_plan.ts): list the process's blocks of the view set's stream tag, ordered by
 *    insert time, and cut them into insert-time slices (or one slice for view sets whose rows depend on other
 *    blocks). Each planned partition gets a source identity: SHA-256 over its sorted
 *    (block_id, nb_objects), so a removed, replaced or added block is detected (micromegas
 *    uses an object count, which misses a replaced block). A process with no such blocks gets
 *    one empty partition (no file, no event range), so the work is not redone.
 * 2. reuse a live partition with the same insert range, schema hash and source identity, if its
 *    file exists with the catalog's size (one deleted or damaged by hand is rebuilt, and the
 *    damaged row retired by metadata in step 4);
 * 3. otherwise write a new Parquet file (new uuid, never overwritten) without holding the
 *    catalog;
 * 4. commit: with the catalog attached for writing, plan again (blocks may have changed), insert
 *    the new rows that still match the plan and retire every other live partition of the
 *    instance (files → temporary_files), in one transaction; an instance whose blocks changed
 *    meanwhile is retried. A second process that wrote the same partition first wins; ours is
 *    deleted.
 *
 * The catalog is held only for the two short catalog steps, so another tracelake process can
 * query or ingest in between.
 */
import { existsSync, mkdirSync, rmSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Engine } from "../duck/engine.ts";
import { LakeError } from "../errors.ts";
import type { Lake } from "../lake/lake.ts";
import { type PartitionRow, replacePartitions, sameContent } from "../partitions/partitions.ts";
import { type InstancePlan, type JitRequest, type PlanReads, planRequest, type Spec } from "./jit_plan.ts";
import { dropSource } from "./source.ts";
import {
  type MaterializeInput,
  type MaterializeResult,
  type StagedWrite,
  schemaHash,
  type ViewSet,
} from "./view_set.ts";

/** What to materialize (jit_plan.ts). */
export type { JitRequest };

/** What a JIT run did. */
export interface JitReport {
  /** Planned partitions looked at. */
  partitions: number;
  /** Reused as they were. */
  reused: number;
  /** Written (files) or recorded empty by this run. */
  written: number;
  /** Of `written`, empty partitions (no file). */
  empty: number;
  /** Live partitions retired (replaced or orphaned). */
  retired: number;
  /** Rows and bytes of the files written. */
  rowsWritten: number;
  bytesWritten: number;
  /** Partitions another process committed first (our identical file was dropped). */
  lostRaces: number;
  /**
   * Of `written`, partitions rebuilt because the live one's file was missing or not the size
   * the catalog says (deleted or damaged by hand); the damaged one is retired by metadata.
   */
  rebuilt: number;
}

/** Options of a JIT run. */
export interface JitOptions {
  /** Called before each partition is written: done and total count partitions to write. */
  onProgress?: (done: number, total: number, what: string) => void;
  /** Grace of retired files before gc may delete them, ms (default 1 h). */
  retiredGraceMs?: number;
  /** Attempts when blocks keep changing under us (default 3). */
  maxAttempts?: number;
}

/** A written (or empty) partition awaiting commit. */
interface Written {
  key: string;
  row: PartitionRow;
}

/**
 * Makes the requested instances current. The catalog is attached here for planning and for
 * the commit, and never held while partitions are written. A caller that holds it read-only
 * (a query preparing its session) gets it back attached read-only; otherwise it is detached on
 * return.
 * @throws LakeError when the catalog is busy past its timeout, a requested process does not
 *   exist, or the blocks keep changing; Error when DuckDB fails to build a partition.
 */
export async function materializeInstances(
  engine: Engine,
  lake: Lake,
  requests: JitRequest[],
  options: JitOptions = {},
): Promise<JitReport> {
  const report: JitReport = {
    partitions: 0,
    reused: 0,
    written: 0,
    empty: 0,
    retired: 0,
    rowsWritten: 0,
    bytesWritten: 0,
    lostRaces: 0,
    rebuilt: 0,
  };
  const held = lake.attachedMode === "read";
  let pending = requests.filter((r) => r.processIds === null || r.processIds.length > 0);
  const maxAttempts = options.maxAttempts ?? 3;
  for (let attempt = 0; pending.length > 0; attempt++) {
    if (attempt >= maxAttempts) {
      throw new LakeError(
        `the blocks of ${pending.map((r) => r.viewSet.name).join(", ")} kept changing while they were materialized; retry when ingests have finished`,
      );
    }
    // 1. Plan, holding the catalog read-only.
    await lake.attach(engine, "read");
    let plans: InstancePlan[];
    try {
      // The requests' reads at once (an export plans five view sets over the same processes),
      // all ended before the catalog may be detached.
      const reads: PlanReads = new Map();
      const settled = await Promise.allSettled(pending.map((r) => planRequest(engine, lake.root, r, reads)));
      const failed = settled.find((x) => x.status === "rejected");
      if (failed) throw (failed as PromiseRejectedResult).reason;
      plans = settled.flatMap((x) => (x as PromiseFulfilledResult<InstancePlan[]>).value);
    } catch (e) {
      if (!held) await lake.detach(engine);
      throw e;
    }
    if (attempt === 0) report.partitions += plans.reduce((n, p) => n + p.specs.length, 0);
    // 2–3. Write what is stale, without the catalog.
    const toWrite: { plan: InstancePlan; spec: Spec }[] = [];
    let toRetire = 0;
    for (const plan of plans) {
      const hash = schemaHash(plan.viewSet);
      const kept = new Set<PartitionRow>();
      for (const spec of plan.specs) {
        const want = specRow(plan, spec, hash, null, null);
        const same = plan.live.find((r) => sameContent(r, want));
        const fresh = same && fileIntact(lake.root, same) ? same : undefined;
        if (fresh) {
          kept.add(fresh);
          if (attempt === 0) report.reused++;
        } else toWrite.push({ plan, spec });
      }
      toRetire += plan.live.filter((r) => !kept.has(r)).length;
    }
    // Everything current: no need to take the catalog for writing.
    if (toWrite.length === 0 && toRetire === 0) {
      if (!held) await lake.detach(engine);
      return report;
    }
    await lake.detach(engine);
    const written = new Map<string, Written>();
    const committed = new Set<string>();
    // Several view sets written in one run share what they compute alike (MaterializeInput.shared).
    const shared = new Set(toWrite.map((w) => w.plan.viewSet)).size > 1 ? new Map<string, unknown>() : undefined;
    try {
      // Every core for the writes, should the engine run with fewer (an export's).
      await engine.withDefaultThreads(async () => {
        await writeAll(engine, lake, writeGroups(toWrite), shared, written, (group) => {
          const { plan } = group[0] as { plan: InstancePlan };
          const what = group.length > 1 ? `processes (${group.length})` : (plan.process.exe ?? plan.process.processId);
          options.onProgress?.(written.size, toWrite.length, `${plan.viewSet.name} ${what}`);
        });
      });
      options.onProgress?.(toWrite.length, toWrite.length, "");
      // 4. Commit, holding the catalog for writing.
      const unresolved = await commit(engine, lake, pending, written, committed, report, options.retiredGraceMs);
      pending = unresolved;
    } finally {
      // Files not committed (lost races, changed plans, errors) were never referenced.
      for (const w of written.values()) {
        if (w.row.filePath !== null && !committed.has(w.row.filePath)) {
          rmSync(join(lake.root, w.row.filePath), { force: true });
        }
      }
    }
  }
  if (held) await lake.attach(engine, "read");
  return report;
}

async function commit(
  engine: Engine,
  lake: Lake,
  requests: JitRequest[],
  written: Map<string, Written>,
  committed: Set<string>,
  report: JitReport,
  graceMs: number | undefined,
): Promise<JitRequest[]> {
  await lake.attach(engine, "write");
  const unresolved = new Map<ViewSet, string[]>();
  try {
    await engine.transaction(async () => {
      // Every instance's rows go to the catalog in one replacePartitions call (a few statements
      // for the whole run, not a few per instance).
      const allInsert: PartitionRow[] = [];
      const allRetire: PartitionRow[] = [];
      for (const r of requests) {
        const plans = await planRequest(engine, lake.root, r);
        for (const plan of plans) {
          const hash = schemaHash(plan.viewSet);
          const keep: PartitionRow[] = [];
          const insert: PartitionRow[] = [];
          let resolved = true;
          for (const spec of plan.specs) {
            const want = specRow(plan, spec, hash, null, null);
            const same = plan.live.find((row) => sameContent(row, want));
            const existing = same && fileIntact(lake.root, same) ? same : undefined;
            if (existing) {
              keep.push(existing);
              const ours = written.get(specKey(plan, spec));
              if (ours && ours.row.filePath !== existing.filePath) report.lostRaces++;
              continue;
            }
            const ours = written.get(specKey(plan, spec));
            if (ours && sameContent(ours.row, want)) {
              insert.push(ours.row);
              if (same) report.rebuilt++;
            } else resolved = false;
          }
          if (!resolved) {
            const list = unresolved.get(plan.viewSet) ?? [];
            list.push(plan.process.processId);
            unresolved.set(plan.viewSet, list);
            continue;
          }
          const retire = plan.live.filter((row) => !keep.includes(row));
          // A catalog row never names a missing file: a gc with a grace period shorter than this
          // materialization may have taken our files for orphans.
          for (const row of insert) {
            if (row.filePath !== null && !existsSync(join(lake.root, row.filePath))) {
              throw new LakeError(
                `the partition file ${row.filePath} disappeared before its commit (a gc with a short --grace ran meanwhile?); retry`,
              );
            }
          }
          allInsert.push(...insert);
          allRetire.push(...retire);
        }
      }
      await replacePartitions(engine, allInsert, allRetire, graceMs);
      for (const row of allInsert) {
        if (row.filePath !== null) committed.add(row.filePath);
        report.written++;
        if (row.numRows === 0) report.empty++;
        report.rowsWritten += row.numRows;
        report.bytesWritten += row.fileSize;
      }
      report.retired += allRetire.length;
    });
  } catch (e) {
    committed.clear();
    throw e;
  } finally {
    await lake.detach(engine);
  }
  return [...unresolved.entries()].map(([viewSet, processIds]) => ({ viewSet, processIds }));
}

/**
 * True when a live partition can be trusted: it is empty (no file), or its file exists with the
 * size the catalog records (a file deleted or truncated by hand is rebuilt, not reused).
 */
function fileIntact(root: string, row: PartitionRow): boolean {
  if (row.filePath === null) return true;
  try {
    return statSync(join(root, row.filePath)).size === row.fileSize;
  } catch {
    return false;
  }
}

function specKey(plan: InstancePlan, spec: Spec): string {
  return `${plan.viewSet.name}\u0000${plan.process.processId}\u0000${spec.beginUs}\u0000${spec.endUs}\u0000${Buffer.from(spec.sourceHash).toString("hex")}`;
}

function specRow(
  plan: InstancePlan,
  spec: Spec,
  hash: Uint8Array,
  filePath: string | null,
  result: { numRows: number; minEventTimeNs: bigint | null; maxEventTimeNs: bigint | null; fileSize: number } | null,
): PartitionRow {
  return {
    viewSetName: plan.viewSet.name,
    viewInstanceId: plan.process.processId,
    beginInsertUs: spec.beginUs,
    endInsertUs: spec.endUs,
    minEventNs: result?.minEventTimeNs ?? null,
    maxEventNs: result?.maxEventTimeNs ?? null,
    filePath,
    fileSize: result?.fileSize ?? 0,
    fileSchemaHash: hash,
    sourceDataHash: spec.sourceHash,
    numRows: result?.numRows ?? 0,
  };
}

/**
 * The relative path of a new partition file: `views/<set>/<instance>/<YYYY-MM-DD>/<HH-MM-SS>_<uuid>.parquet`,
 * date and time (UTC) from the begin insert time (reference/micromegas.md §3 `file_path`).
 * The instance is a process_id tracelake generated.
 */
export function partitionPath(viewSetName: string, instanceId: string, beginInsertUs: bigint): string {
  const iso = new Date(Number(beginInsertUs / 1000n)).toISOString();
  const day = iso.slice(0, 10);
  const time = iso.slice(11, 19).replaceAll(":", "-");
  return join("views", viewSetName, instanceId, day, `${time}_${crypto.randomUUID()}.parquet`);
}

/**
 * `toWrite` cut into the calls that write it: partitions with blocks of a view set with
 * materializeMany, of at most its manyMaxEvents events, together (one group per view set);
 * every other partition alone. The groups come largest first (by their blocks' events, ties in
 * `toWrite` order): the memory that the largest partition's sorts leave mapped (DuckDB's
 * allocator keeps it) is then reused by the smaller builds after it, where built last it came
 * on top of what theirs had left. Cold `thread_spans` of the real 208 MB Chromium JSON trace,
 * compiled binary, 5 alternating runs: peak RSS 311 MB in process_id order, 289 MB so.
 */
function writeGroups(toWrite: { plan: InstancePlan; spec: Spec }[]): { plan: InstancePlan; spec: Spec }[][] {
  const groups: { plan: InstancePlan; spec: Spec }[][] = [];
  const many = new Map<ViewSet, { plan: InstancePlan; spec: Spec }[]>();
  for (const w of toWrite) {
    const vs = w.plan.viewSet;
    const events = w.spec.blocks.reduce((n, b) => n + b.nbObjects, 0);
    if (vs.materializeMany === undefined || w.spec.blocks.length === 0 || events > (vs.manyMaxEvents ?? 0)) {
      groups.push([w]);
      continue;
    }
    const group = many.get(vs);
    if (group) group.push(w);
    else {
      const g = [w];
      many.set(vs, g);
      groups.push(g);
    }
  }
  const events = new Map(
    groups.map((g) => [g, g.reduce((n, w) => n + w.spec.blocks.reduce((k, b) => k + b.nbObjects, 0), 0)]),
  );
  return groups.sort((a, b) => (events.get(b) as number) - (events.get(a) as number));
}

/** A group's partitions as materialize inputs (their directories made): `made` by spec, `inputs` of those with blocks. */
interface GroupInputs {
  made: { plan: InstancePlan; spec: Spec; key: string; rel: string | null; hash: Uint8Array }[];
  inputs: MaterializeInput[];
}

/** The inputs of one writeGroups group on `engine` (see GroupInputs). */
function groupInputs(
  engine: Engine,
  lake: Lake,
  group: { plan: InstancePlan; spec: Spec }[],
  shared: Map<string, unknown> | undefined,
): GroupInputs {
  const made = group.map(({ plan, spec }) => {
    const key = specKey(plan, spec);
    const rel =
      spec.blocks.length === 0 ? null : partitionPath(plan.viewSet.name, plan.process.processId, spec.beginUs);
    return { plan, spec, key, rel, hash: schemaHash(plan.viewSet) };
  });
  const inputs: MaterializeInput[] = [];
  for (const m of made) {
    if (m.rel === null) continue;
    const abs = join(lake.root, m.rel);
    mkdirSync(dirname(abs), { recursive: true });
    inputs.push({
      engine,
      process: m.plan.process,
      streams: m.plan.streams,
      blocks: m.spec.blocks,
      outPath: abs,
      ...(m.spec.peers ? { peers: m.spec.peers } : {}),
      ...(shared ? { shared } : {}),
    });
  }
  return { made, inputs };
}

/** The catalog rows of a group's partitions from the results of its inputs (in order). */
function writtenOf(lake: Lake, g: GroupInputs, results: MaterializeResult[]): Written[] {
  let k = 0;
  return g.made.map((m) => {
    if (m.rel === null) return { key: m.key, row: specRow(m.plan, m.spec, m.hash, null, null) };
    const result = results[k++] as MaterializeResult;
    if (result.numRows === 0) return { key: m.key, row: specRow(m.plan, m.spec, m.hash, null, null) };
    const fileSize = statSync(join(lake.root, m.rel)).size;
    return { key: m.key, row: specRow(m.plan, m.spec, m.hash, m.rel, { ...result, fileSize }) };
  });
}

/**
 * Writes the partitions of one writeGroups group: through the view set's materializeMany when
 * it has several, else its materialize (an empty partition: no call, no file). On error no file
 * of the group is left.
 * @throws Error from the transform.
 */
async function writeSpecs(
  engine: Engine,
  lake: Lake,
  group: { plan: InstancePlan; spec: Spec }[],
  shared: Map<string, unknown> | undefined,
): Promise<Written[]> {
  const g = groupInputs(engine, lake, group, shared);
  const { inputs } = g;
  const vs = (group[0] as { plan: InstancePlan }).plan.viewSet;
  try {
    let results: MaterializeResult[] = [];
    if (inputs.length > 1 && vs.materializeMany) results = await vs.materializeMany(inputs);
    else for (const i of inputs) results.push(await vs.materialize(i));
    return writtenOf(lake, g, results);
  } catch (e) {
    for (const i of inputs) rmSync(i.outPath, { force: true });
    throw e;
  } finally {
    await dropSource(engine);
  }
}

/** A group whose view set staged it (stageSpecs): `write` its files or `discard` it, once. */
interface StagedGroup {
  write(): Promise<Written[]>;
  discard(): Promise<void>;
}

/**
 * The first step of writeSpecs for a view set with ViewSet.stage, on `engine`; the returned
 * group's `write` is the rest. On error (of either step, or a discard) no file of the group is
 * left. The source's tables (dropSource) stay: another group may be staging over them; writeAll
 * drops them once no stage or write runs.
 * @throws Error from the transform.
 */
async function stageSpecs(
  engine: Engine,
  lake: Lake,
  group: { plan: InstancePlan; spec: Spec }[],
  shared: Map<string, unknown> | undefined,
  stage: NonNullable<ViewSet["stage"]>,
): Promise<StagedGroup> {
  const g = groupInputs(engine, lake, group, shared);
  const { inputs } = g;
  const removeFiles = (): void => {
    for (const i of inputs) rmSync(i.outPath, { force: true });
  };
  if (inputs.length === 0) return { write: async () => writtenOf(lake, g, []), discard: async () => {} };
  let staged: StagedWrite;
  try {
    staged = await stage(inputs);
  } catch (e) {
    removeFiles();
    throw e;
  }
  return {
    write: async () => {
      try {
        return writtenOf(lake, g, await staged.write());
      } catch (e) {
        removeFiles();
        throw e;
      }
    },
    discard: async () => {
      try {
        await staged.discard();
      } finally {
        removeFiles();
      }
    },
  };
}

/**
 * Writes the groups (writeGroups' order) and puts their rows in `written`. A group whose view
 * set has ViewSet.stage is staged while the previous staged group's files are written (its
 * COPYs write on one DuckDB thread, the other core then stages): the two alternate between
 * `engine` and a fork of it (Engine.fork, closed at the end), and one group's write at most
 * runs at a time. Other groups run alone, after every write before them. Every write has ended
 * when it returns or throws. Cold `thread_spans` GROUP BY, compiled, alternating runs (medians):
 * the 174 MB real Chromium JSON trace 1763 -> 1680 ms, the 45.7 MB protobuf one 2029 -> 1833 ms,
 * the JSON sample 881 -> 839 ms; peak RSS +1-7 MB.
 * @throws Error from a transform (the first; no file of a failed group is left).
 */
async function writeAll(
  engine: Engine,
  lake: Lake,
  groups: { plan: InstancePlan; spec: Spec }[][],
  shared: Map<string, unknown> | undefined,
  written: Map<string, Written>,
  onGroup: (group: { plan: InstancePlan; spec: Spec }[]) => void,
): Promise<void> {
  let fork: Engine | null = null;
  /** The staged group being written, and the engine it writes on. */
  let writing: { done: Promise<Written[]>; on: Engine } | null = null;
  const finishWrite = async (): Promise<void> => {
    const w = writing;
    writing = null;
    if (w) for (const x of await w.done) written.set(x.key, x);
  };
  try {
    for (const group of groups) {
      onGroup(group);
      const vs = (group[0] as { plan: InstancePlan }).plan.viewSet;
      if (!vs.stage) {
        await finishWrite();
        for (const w of await writeSpecs(engine, lake, group, shared)) written.set(w.key, w);
        continue;
      }
      // The engine the write in progress does not use.
      let on = engine;
      if (writing?.on === engine) {
        fork ??= await engine.fork();
        on = fork;
      }
      const staged = await stageSpecs(on, lake, group, shared, vs.stage.bind(vs));
      try {
        await finishWrite();
      } catch (e) {
        await staged.discard().catch(() => undefined);
        throw e;
      }
      const done = staged.write();
      done.catch(() => undefined);
      writing = { done, on };
    }
    await finishWrite();
  } finally {
    // Never leave a write running; what it wrote goes to `written`, whose files the caller
    // removes when they are not committed (its failure, if any, follows the error thrown).
    const w = writing as { done: Promise<Written[]> } | null;
    if (w) {
      try {
        for (const x of await w.done) written.set(x.key, x);
      } catch {
        // The error already thrown is the one reported.
      }
    }
    (fork as Engine | null)?.close();
    await dropSource(engine);
  }
}
