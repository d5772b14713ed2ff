/**
 * `tracelake rm TRACE... [--dry-run] [--grace SECONDS]`: removes traces (their processes, streams,
 * blocks and partitions, in one catalog transaction; files deleted by `gc` after the grace
 * period: lib/partitions/remove_trace.ts) and prints what went.
 */
import { ExitCode, escapeControl } from "../lib/errors.ts";
import { removeTraces } from "../lib/partitions/remove_trace.ts";
import { bytes, count, type GlobalOptions, graceMs, openLake } from "./common.ts";

/** Options of `rm`. */
export interface RmCommandOptions {
  dryRun?: boolean;
  grace?: string;
}

/** Runs the command; returns the exit code. */
export async function rmCommand(traces: string[], opts: RmCommandOptions, g: GlobalOptions): Promise<number> {
  const grace = graceMs(opts.grace);
  const { engine, lake } = await openLake(g, false);
  try {
    const removed = await removeTraces(engine, lake, traces, { graceMs: grace, dryRun: opts.dryRun });
    const verb = opts.dryRun ? "would remove" : "removed";
    for (const r of removed) {
      process.stdout.write(
        `${verb} trace ${escapeControl(r.trace.name)} (${r.trace.traceId}, ${escapeControl(r.trace.source)}): ${count(r.processes)} processes, ${count(r.streams)} streams, ${count(r.blocks)} blocks, ${count(r.partitions)} partitions; ${count(r.files)} files (${bytes(r.bytes)}) ${opts.dryRun ? "would be" : ""}${opts.dryRun ? " " : ""}queued for deletion by gc after the grace period\n`,
      );
    }
    return ExitCode.ok;
  } finally {
    engine.close();
  }
}
