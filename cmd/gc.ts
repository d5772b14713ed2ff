/** `tracelake gc [--dry-run] [--grace SECONDS]`: deletes files no live catalog row needs. */
import { ExitCode } from "../lib/errors.ts";
import { collectGarbage } from "../lib/partitions/gc.ts";
import { bytes, type GlobalOptions, graceMs as gracePeriod, openLake, stopOnInterrupt } from "./common.ts";

/** Options of `gc`. */
export interface GcCommandOptions {
  dryRun?: boolean;
  grace?: string;
}

/** Runs the command; returns the exit code. */
export async function gcCommand(opts: GcCommandOptions, g: GlobalOptions): Promise<number> {
  const graceMs = gracePeriod(opts.grace);
  const { engine, lake } = await openLake(g, false);
  const signal = stopOnInterrupt(engine, false);
  try {
    const r = await collectGarbage(engine, lake, { dryRun: opts.dryRun, graceMs, signal });
    for (const i of r.items)
      process.stdout.write(`${opts.dryRun ? "would delete" : "deleted"} ${i.path} (${bytes(i.bytes)}): ${i.why}\n`);
    for (const n of r.notes) process.stdout.write(`note: ${n}\n`);
    process.stdout.write(
      `${opts.dryRun ? "would free" : "freed"} ${bytes(r.freedBytes)} in ${r.items.length} item${r.items.length === 1 ? "" : "s"}\n`,
    );
    return ExitCode.ok;
  } finally {
    engine.close();
  }
}
