/**
 * Partitions of the SQL view sets (log_entries, measures: one SELECT over source.ts's `tl_src`),
 * one or several at once. A build costs ~20-30 ms whatever its size (the source's tables and
 * view, planning, the COPY's set-up), so the JIT's small instances are built in batches: one
 * source over their blocks (`px` tells the inputs apart), one sorted SELECT of the events into a
 * table, and each input's file projected from its rows there (a filtered scan of a table keeps
 * the table's order, and the sort orders each process's rows as it does alone: blocks keep
 * their input order).
 */
import type { Engine } from "../duck/engine.ts";
import { fillTemplate } from "../duck/template.ts";
import { prepareSource } from "./source.ts";
import type { MaterializeInput, MaterializeResult } from "./view_set.ts";
import { writePartitionFile } from "./write.ts";

/**
 * A SQL view set's transform in two parts: `events`, a SELECT over `tl_src` of its rows in the
 * partition's order, with `px` (the row's input index, source.ts) and the event-time column
 * `time`; `project`, the view's columns over them: a template whose `$events` is a relation of
 * those rows (in their order) and `$px` the SQL of their input index, a literal, so that the
 * process's columns (source.ts processColumn) fold into constants instead of going through the
 * sort or a batch's table with every row.
 */
export interface SqlTransform {
  events: string;
  project: string;
}

/**
 * manyMaxEvents of the SQL view sets: instances of at most this many events are batched. A batch
 * copies its events through a table: at 50K, that copy cost more than the builds it saved on the
 * 33.5 MB protobuf trace (log_entries + measures 656 -> 689 ms); at 10K all three real traces
 * gain 90-110 ms.
 */
export const SQL_MANY_MAX_EVENTS = 10_000;
/** The most events (catalog nb_objects) one batch reads: bounds its table. */
const BATCH_EVENTS = 250_000;
/** The table a batch's rows go through. */
const BATCH_TABLE = "memory.main.tl_sql_batch";

/**
 * Writes the partition of `input` with `t`.
 * @throws Error from DuckDB (the caller removes the file).
 */
export async function materializeSql(input: MaterializeInput, t: SqlTransform): Promise<MaterializeResult> {
  await prepareSource([input]);
  const select = fillTemplate(t.project, { events: `(${t.events})`, px: "0" });
  return writePartitionFile(input.engine, select, input.outPath, "time", "time");
}

/**
 * materializeMany of the SQL view sets: batches of at most BATCH_EVENTS events and one input per
 * process (two slices of a process would share its stream rows); a batch of one is built alone.
 * Returns one result per input, in order.
 * @throws Error from DuckDB.
 */
export async function materializeSqlMany(inputs: MaterializeInput[], t: SqlTransform): Promise<MaterializeResult[]> {
  const results: MaterializeResult[] = new Array(inputs.length);
  let batch: number[] = [];
  let events = 0;
  const flush = async (): Promise<void> => {
    if (batch.length === 1) {
      const i = batch[0] as number;
      results[i] = await materializeSql(inputs[i] as MaterializeInput, t);
    } else if (batch.length > 1) {
      const done = await materializeBatch(
        batch.map((i) => inputs[i] as MaterializeInput),
        t,
      );
      done.forEach((r, k) => {
        results[batch[k] as number] = r;
      });
    }
    batch = [];
    events = 0;
  };
  for (let i = 0; i < inputs.length; i++) {
    const input = inputs[i] as MaterializeInput;
    const n = input.blocks.reduce((k, b) => k + b.nbObjects, 0);
    const sameProcess = batch.some(
      (j) => (inputs[j] as MaterializeInput).process.processId === input.process.processId,
    );
    if (batch.length > 0 && (events + n > BATCH_EVENTS || sameProcess)) await flush();
    batch.push(i);
    events += n;
  }
  await flush();
  return results;
}

/** Several inputs' partitions through BATCH_TABLE (see the file comment). */
async function materializeBatch(inputs: MaterializeInput[], t: SqlTransform): Promise<MaterializeResult[]> {
  const engine: Engine = (inputs[0] as MaterializeInput).engine;
  await prepareSource(inputs);
  await engine.run(`CREATE OR REPLACE TABLE ${BATCH_TABLE} AS ${t.events}`);
  try {
    // Each input's event-time range from the table (`project` keeps every row and its `time`),
    // so that no file is read back for it.
    const ranges = new Map(
      (
        await engine.rows<{ px: number; lo: bigint; hi: bigint }>(
          `SELECT px, epoch_ns(min(time)) AS lo, epoch_ns(max(time)) AS hi FROM ${BATCH_TABLE} GROUP BY px`,
        )
      ).map((r) => [r.px, { min: r.lo, max: r.hi }]),
    );
    const out: MaterializeResult[] = [];
    for (let px = 0; px < inputs.length; px++) {
      const input = inputs[px] as MaterializeInput;
      const select = fillTemplate(t.project, {
        events: `(SELECT * FROM ${BATCH_TABLE} WHERE px = ${px})`,
        px: `${px}`,
      });
      out.push(await writePartitionFile(engine, select, input.outPath, "time", "time", ranges.get(px)));
    }
    return out;
  } finally {
    await engine.run(`DROP TABLE IF EXISTS ${BATCH_TABLE}`);
  }
}
