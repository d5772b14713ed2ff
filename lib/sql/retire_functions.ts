/**
 * The SQL-visible retirement functions (lib/partitions/retire.ts does the work).
 *
 * A query runs on an in-memory snapshot of the catalog with the catalog detached, and DuckDB
 * scalar UDFs written in JS are synchronous (they cannot run a catalog transaction). So:
 *
 * - Scalar `retire_partition_by_metadata(...)` and `retire_partition_by_file(path)` run in two
 *   passes over the same snapshot (`runScalarRetirement`, called by prepareQuery): pass 1 runs
 *   the statement with the UDFs in "collect" mode (they record their argument tuples and return
 *   NULL); the collected requests are then resolved and applied in ONE catalog write transaction
 *   (all or nothing); pass 2 (the caller running the statement) finds the UDFs in "answer" mode,
 *   returning each tuple's `SUCCESS: ...`/`ERROR: ...` message. The snapshot tables do not change
 *   between the passes, so both evaluate the same calls. A call DuckDB evaluates and then drops
 *   (rows cut by a LIMIT after the projection) still retires: the stderr summary of `query`
 *   counts what was retired.
 * - Table functions with side effects, `retire_partitions(...)` and
 *   `retire_incompatible_partitions([view_set])`, take literal arguments: they run before the
 *   statement (`runTableRetirements`), and their results become memory tables behind table
 *   macros, as `view_instance` does.
 * - `list_incompatible_partitions([view_set])` is a plain macro over the snapshot.
 */
import { duckApi } from "../duck/api.ts";
import { type Engine, sqlString } from "../duck/engine.ts";
import { SqlError, UserError } from "../errors.ts";
import type { Lake } from "../lake/lake.ts";
import type { PartitionRow } from "../partitions/partitions.ts";
import {
  type BatchResult,
  describePartition,
  type InstanceRetirement,
  type RetireRequest,
  requestKey,
  retireBatch,
  retireIncompatible,
  retireRange,
} from "../partitions/retire.ts";
import { VIEW_SETS } from "../views/registry.ts";
import { hex, schemaHash } from "../views/view_set.ts";
import { type FunctionCall, literalTexts, type References } from "./references.ts";

/** Scalar retirement functions (two-pass). */
const SCALAR = new Set(["retire_partition_by_metadata", "retire_partition_by_file"]);
/** Table functions with side effects (run before the statement). */
const TABLE = new Set(["retire_partitions", "retire_incompatible_partitions"]);

/** Every view set's current schema hash, by name. */
export function currentSchemaHashes(): Map<string, Uint8Array> {
  return new Map(VIEW_SETS.map((v) => [v.name, schemaHash(v)]));
}

interface UdfState {
  mode: "off" | "collect" | "answer";
  collected: Map<string, RetireRequest>;
  answers: Map<string, string>;
}

const states = new WeakMap<Engine, UdfState>();

/** Registers the two scalar UDFs on `engine` once; returns their shared state. */
async function udfState(engine: Engine): Promise<UdfState> {
  const existing = states.get(engine);
  if (existing) return existing;
  const state: UdfState = { mode: "off", collected: new Map(), answers: new Map() };
  states.set(engine, state);
  const { DuckDBScalarFunction, VARCHAR, BIGINT } = await duckApi();
  type Info = { setError(e: string): void };
  type Chunk = { rowCount: number; getColumnVector(k: number): { getItem(i: number): unknown } };
  type Out = { setItem(i: number, v: string | null): void; flush(): void };
  const main =
    (name: string, toRequest: (args: unknown[]) => RetireRequest, arity: number) =>
    (info: Info, chunk: Chunk, out: Out): void => {
      if (state.mode === "off") {
        info.setError(`${name} runs only inside a statement prepared by tracelake (tracelake query or the REPL)`);
        return;
      }
      const cols = Array.from({ length: arity }, (_, k) => chunk.getColumnVector(k));
      for (let i = 0; i < chunk.rowCount; i++) {
        const req = toRequest(cols.map((c) => c.getItem(i)));
        const key = requestKey(req);
        if (state.mode === "collect") {
          state.collected.set(key, req);
          out.setItem(i, null);
        } else {
          out.setItem(
            i,
            state.answers.get(key) ??
              `ERROR: ${name} was called with arguments that the first run of this statement did not see; nothing retired for them`,
          );
        }
      }
      out.flush();
    };
  const str = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));
  const big = (v: unknown): bigint | null => (v === null || v === undefined ? null : BigInt(v as bigint));
  engine.conn.registerScalarFunction(
    DuckDBScalarFunction.create({
      name: "tl_retire_by_metadata",
      returnType: VARCHAR,
      parameterTypes: [VARCHAR, VARCHAR, BIGINT, BIGINT, VARCHAR],
      volatile: true,
      specialHandling: true,
      mainFunction: main(
        "retire_partition_by_metadata",
        (a) => ({
          kind: "metadata",
          viewSetName: str(a[0]),
          viewInstanceId: str(a[1]),
          beginInsertUs: big(a[2]),
          endInsertUs: big(a[3]),
          fileSchemaHash: str(a[4]),
        }),
        5,
      ) as never,
    }),
  );
  engine.conn.registerScalarFunction(
    DuckDBScalarFunction.create({
      name: "tl_retire_by_file",
      returnType: VARCHAR,
      parameterTypes: [VARCHAR],
      volatile: true,
      specialHandling: true,
      mainFunction: main("retire_partition_by_file", (a) => ({ kind: "file", filePath: str(a[0]) }), 1) as never,
    }),
  );
  return state;
}

/** Whether `refs` calls a retirement function (scalar or table). */
export function usesRetirement(refs: References): boolean {
  return refs.functions.some((f) => SCALAR.has(f.name) || TABLE.has(f.name));
}

/** What the retirement functions of one statement did, for the caller to report. */
export interface RetirementSummary {
  /** Distinct retirement requests of the scalar functions. */
  requests: number;
  /** Partitions retired by the statement (scalar and table functions). */
  retired: number;
  /** Bytes of files queued for deletion by gc. */
  bytesQueued: number;
  /** Why the scalar batch was rolled back, if it was. */
  rolledBack: string | null;
}

/** A partition retired by retire_partitions, with its message. */
type PartitionRowWithMessage = PartitionRow & { message: string };

/** Precomputed results of the table functions, turned into memory tables by `defineRetireFunctions`. */
export interface TableRetirements {
  incompatible: Map<string, InstanceRetirement[]>;
  ranges: Map<string, PartitionRowWithMessage[]>;
  summary: RetirementSummary;
}

const SEP = "\u001f";

/** Memory table name of a retire_partitions call (the macro computes the same md5 in SQL). */
function rangeTable(vs: string, id: string, b: bigint, e: bigint): string {
  return `rp_${new Bun.CryptoHasher("md5").update([vs, id, b.toString(), e.toString()].join(SEP)).digest("hex")}`;
}

function incompatibleTable(vs: string | null): string {
  return vs === null ? "rip_all" : `rip_${new Bun.CryptoHasher("md5").update(vs).digest("hex")}`;
}

/**
 * Checks where retirement functions are called and runs the table ones (retire_partitions,
 * retire_incompatible_partitions), each in its own catalog transaction, before the statement.
 * @throws SqlError when a retirement function is used outside SELECT statements, a table one
 *   has non-literal arguments, or a scalar one is used in a text of several statements;
 *   LakeError from the retirement itself.
 */
export async function runTableRetirements(
  engine: Engine,
  lake: Lake,
  refs: References,
  graceMs: number | undefined,
): Promise<TableRetirements> {
  const out: TableRetirements = {
    incompatible: new Map(),
    ranges: new Map(),
    summary: { requests: 0, retired: 0, bytesQueued: 0, rolledBack: null },
  };
  if (!usesRetirement(refs)) return out;
  if (refs.selectStatements === 0) {
    throw new SqlError(
      "retirement functions (retire_*) can only be called from SELECT statements, e.g. SELECT retire_partition_by_metadata(...) FROM list_incompatible_partitions()",
    );
  }
  if (refs.functions.some((f) => SCALAR.has(f.name)) && refs.selectStatements !== 1) {
    throw new SqlError(
      "retire_partition_by_metadata and retire_partition_by_file must be the only statement of the text (it is one transaction); run other statements separately",
    );
  }
  const calls = refs.functions.filter((f) => TABLE.has(f.name));
  for (const c of calls) {
    if (c.name === "retire_incompatible_partitions") {
      const vs = literalArgs(c, [0, 1])[0] ?? null;
      const key = incompatibleTable(vs);
      if (out.incompatible.has(key)) continue;
      const reps = await retireIncompatible(engine, lake, currentSchemaHashes(), vs, { graceMs });
      out.incompatible.set(key, reps);
      for (const r of reps) {
        out.summary.retired += r.retired;
        out.summary.bytesQueued += r.bytesFreed;
      }
    } else {
      const [vs, id, b, e] = literalArgs(c, [4]);
      const [bu, eu] = [await epochUs(engine, b ?? null), await epochUs(engine, e ?? null)];
      if (bu === null || eu === null) {
        throw new SqlError(
          "retire_partitions: begin and end must be timestamps (e.g. '2026-01-02 03:04:05.123456+00')",
        );
      }
      const key = rangeTable(vs ?? "", id ?? "", bu, eu);
      if (out.ranges.has(key)) continue;
      const r = await retireRange(engine, lake, vs ?? null, id ?? null, bu, eu, { graceMs });
      out.ranges.set(
        key,
        r.retired.map((p) => ({
          ...p,
          message: `SUCCESS: retired ${describePartition(p)}${p.filePath === null ? " (empty partition, no file)" : `; its file ${p.filePath} is deleted by gc after the grace period`}`,
        })),
      );
      out.summary.retired += r.retired.length;
      out.summary.bytesQueued += r.bytesQueued;
    }
  }
  return out;
}

/** The literal arguments of a table-function call, checking their count against `arities`. */
function literalArgs(c: FunctionCall, arities: number[]): string[] {
  const args = literalTexts(c);
  if (args === null || !arities.includes(args.length)) {
    throw new SqlError(`${c.name} takes ${arities.join(" or ")} argument(s)`);
  }
  if (args.some((a) => a === null)) {
    throw new SqlError(
      `${c.name} takes literal arguments (strings and timestamps written in the statement), not columns, expressions or NULL`,
    );
  }
  return args as string[];
}

async function epochUs(engine: Engine, text: string | null): Promise<bigint | null> {
  if (text === null) return null;
  try {
    const r = await engine.rows<{ t: bigint | null }>("SELECT epoch_us($t::VARCHAR::TIMESTAMPTZ) AS t", { t: text });
    return r[0]?.t ?? null;
  } catch {
    return null;
  }
}

/**
 * Defines the retirement macros and the memory tables of precomputed table functions in
 * `memory.main` (the query's database). Call after the catalog snapshot (`snap` names the
 * snapshot of lakehouse_partitions).
 */
export async function defineRetireFunctions(
  engine: Engine,
  snapPartitions: string,
  pre: TableRetirements,
): Promise<void> {
  await udfState(engine);
  await engine.run(`CREATE OR REPLACE MACRO retire_partition_by_metadata(view_set_name, view_instance_id,
      begin_insert_time, end_insert_time, file_schema_hash) AS
    tl_retire_by_metadata(view_set_name::VARCHAR, view_instance_id::VARCHAR,
      epoch_us(begin_insert_time::TIMESTAMPTZ), epoch_us(end_insert_time::TIMESTAMPTZ),
      if(typeof(file_schema_hash) = 'BLOB', lower(hex(file_schema_hash::BLOB)), lower(file_schema_hash::VARCHAR)))`);
  await engine.run(
    "CREATE OR REPLACE MACRO retire_partition_by_file(file_path) AS tl_retire_by_file(file_path::VARCHAR)",
  );
  const current = VIEW_SETS.map((v) => `(${sqlString(v.name)}, '${hex(schemaHash(v))}')`).join(", ");
  const incompatible = (where: string) => `(SELECT p.view_set_name, p.view_instance_id, p.begin_insert_time,
      p.end_insert_time, p.min_event_time, p.max_event_time, p.file_path, p.file_size,
      lower(hex(p.file_schema_hash)) AS incompatible_schema_hash, c.h AS current_schema_hash, p.num_rows
    FROM ${snapPartitions} p LEFT JOIN (VALUES ${current}) c(n, h) ON c.n = p.view_set_name
    WHERE c.h IS DISTINCT FROM lower(hex(p.file_schema_hash)) ${where}
    ORDER BY p.view_set_name, p.view_instance_id, p.begin_insert_time, p.file_path)`;
  await engine.run(`CREATE OR REPLACE MACRO list_incompatible_partitions() AS TABLE ${incompatible("")},
    (view_set) AS TABLE ${incompatible("AND p.view_set_name = view_set")}`);
  // Precomputed table functions.
  await engine.run("CREATE SCHEMA IF NOT EXISTS memory.tl_rt");
  // The zero-argument macro names its table literally, which DuckDB checks when it is created.
  const incompatibleTables = new Map(pre.incompatible);
  if (!incompatibleTables.has("rip_all")) incompatibleTables.set("rip_all", []);
  for (const [name, reps] of incompatibleTables) {
    await engine.run(`CREATE OR REPLACE TABLE memory.tl_rt.${name}(view_set_name VARCHAR, view_instance_id VARCHAR,
      partitions_retired BIGINT, partitions_failed BIGINT, bytes_freed BIGINT, messages VARCHAR[])`);
    for (const r of reps) {
      await engine.run(`INSERT INTO memory.tl_rt.${name} VALUES ($1, $2, $3, $4, $5, from_json($6, '["VARCHAR"]'))`, [
        r.viewSetName,
        r.viewInstanceId,
        BigInt(r.retired),
        BigInt(r.failed),
        BigInt(r.bytesFreed),
        JSON.stringify(r.messages),
      ]);
    }
  }
  for (const [name, rows] of pre.ranges) {
    await engine.run(`CREATE OR REPLACE TABLE memory.tl_rt.${name}(view_set_name VARCHAR, view_instance_id VARCHAR,
      begin_insert_time TIMESTAMPTZ, end_insert_time TIMESTAMPTZ, file_schema_hash VARCHAR, file_path VARCHAR,
      file_size BIGINT, num_rows BIGINT, message VARCHAR)`);
    for (const p of rows) {
      await engine.run(
        `INSERT INTO memory.tl_rt.${name} VALUES ($1, $2, make_timestamptz($3::BIGINT), make_timestamptz($4::BIGINT), $5, $6, $7, $8, $9)`,
        [
          p.viewSetName,
          p.viewInstanceId,
          p.beginInsertUs,
          p.endInsertUs,
          hex(p.fileSchemaHash),
          p.filePath,
          BigInt(p.fileSize),
          BigInt(p.numRows),
          p.message,
        ],
      );
    }
  }
  await engine.run(`CREATE OR REPLACE MACRO retire_incompatible_partitions() AS TABLE
      (SELECT * FROM query_table('memory.tl_rt.rip_all')),
    (view_set) AS TABLE (SELECT * FROM query_table('memory.tl_rt.rip_' || md5(view_set::VARCHAR)))`);
  await engine.run(`CREATE OR REPLACE MACRO retire_partitions(view_set_name, view_instance_id, begin_insert_time, end_insert_time) AS TABLE
    (SELECT * FROM query_table('memory.tl_rt.rp_' || md5(concat_ws(chr(31), view_set_name::VARCHAR, view_instance_id::VARCHAR,
      epoch_us(begin_insert_time::VARCHAR::TIMESTAMPTZ)::VARCHAR, epoch_us(end_insert_time::VARCHAR::TIMESTAMPTZ)::VARCHAR))))`);
}

/**
 * Two-pass scalar retirement (see the file comment): runs `sql` (one SELECT) with the UDFs
 * collecting, applies the collected requests in one transaction, and leaves the UDFs answering
 * for the caller's run of the statement. Does nothing when `refs` calls no scalar retirement.
 * @returns what was retired, or null when nothing was asked.
 * @throws SqlError when the statement fails in the first pass (nothing is retired then).
 */
export async function runScalarRetirement(
  engine: Engine,
  lake: Lake,
  sql: string,
  refs: References,
  graceMs: number | undefined,
): Promise<BatchResult | null> {
  const state = await udfState(engine);
  state.mode = "off";
  state.collected.clear();
  state.answers.clear();
  if (!refs.functions.some((f) => SCALAR.has(f.name))) return null;
  state.mode = "collect";
  try {
    const result = await engine.conn.stream(sql);
    for (;;) {
      const chunk = await result.fetchChunk();
      if (!chunk || chunk.rowCount === 0) break;
    }
  } catch (e) {
    state.mode = "off";
    throw new SqlError(e instanceof Error ? e.message : String(e));
  }
  const keys = [...state.collected.keys()];
  const requests = keys.map((k) => state.collected.get(k) as RetireRequest);
  let batch: BatchResult;
  try {
    batch = await retireBatch(engine, lake, requests, { graceMs });
  } catch (e) {
    state.mode = "off";
    throw e;
  }
  keys.forEach((k, i) => {
    state.answers.set(k, batch.messages[i] as string);
  });
  state.mode = "answer";
  return batch;
}

/**
 * A timestamp as `list_partitions()` prints it (or any TIMESTAMPTZ text), in µs since the epoch
 * (for the insert-time bounds `tracelake retire` takes).
 * @param what names the value in the error (e.g. `--range BEGIN`).
 * @throws UserError when DuckDB cannot cast `text` to TIMESTAMPTZ.
 */
export async function parseInsertTime(engine: Engine, text: string, what: string): Promise<bigint> {
  try {
    const r = await engine.rows<{ t: bigint }>("SELECT epoch_us($t::VARCHAR::TIMESTAMPTZ) AS t", { t: text });
    if (r[0]?.t !== undefined && r[0].t !== null) return r[0].t;
  } catch {
    // below
  }
  throw new UserError(`${what}: '${text}' is not a timestamp; write it as list_partitions() shows it`);
}
