/**
 * `tracelake materialize [--view V]... [--process P]...`: makes view instances current ahead of
 * time (JIT without a query), with a progress bar, and says what it reused, wrote and retired.
 */
import { ExitCode, UserError } from "../lib/errors.ts";
import { resolveProcess } from "../lib/sql/query.ts";
import { materializeInstances } from "../lib/views/jit.ts";
import { VIEW_SETS, viewSetByName } from "../lib/views/registry.ts";
import { bytes, count, type GlobalOptions, graceMs, jitProgress, openLake, stopOnInterrupt } from "./common.ts";

/** Options of `materialize`. */
export interface MaterializeCommandOptions {
  /** View set names (default: all). */
  view?: string[];
  /** Processes: id, unique id prefix, pid:<pid> or exe (default: all). */
  process?: string[];
}

/** Runs the command; returns the exit code. */
export async function materializeCommand(opts: MaterializeCommandOptions, g: GlobalOptions): Promise<number> {
  const viewSets = (opts.view ?? VIEW_SETS.map((v) => v.name)).map((name) => {
    const vs = viewSetByName(name);
    if (!vs) throw new UserError(`unknown view ${name}; use one of ${VIEW_SETS.map((v) => v.name).join(", ")}`);
    return vs;
  });
  const retiredGraceMs = graceMs();
  const { engine, lake } = await openLake(g, false);
  stopOnInterrupt(engine, true);
  const progress = jitProgress();
  try {
    let processIds: string[] | null = null;
    if (opts.process && opts.process.length > 0) {
      await lake.attach(engine, "read");
      try {
        processIds = [];
        for (const p of opts.process) processIds.push(await resolveProcess(engine, p, "--process"));
      } finally {
        await lake.detach(engine);
      }
    }
    const t0 = performance.now();
    const r = await materializeInstances(
      engine,
      lake,
      viewSets.map((viewSet) => ({ viewSet, processIds })),
      { onProgress: progress.onProgress, retiredGraceMs },
    );
    progress.stop();
    const s = (performance.now() - t0) / 1000;
    process.stdout.write(
      `${count(r.partitions)} partitions checked in ${s.toFixed(2)} s: ${count(r.reused)} reused, ${count(r.written)} written (${count(r.empty)} empty; ${count(r.rowsWritten)} rows, ${bytes(r.bytesWritten)}), ${count(r.retired)} retired\n`,
    );
    return ExitCode.ok;
  } finally {
    progress.stop();
    engine.close();
  }
}
