/**
 * `tracelake retire --metadata VIEW_SET INSTANCE BEGIN END HASH ... | --range VIEW_SET INSTANCE
 * BEGIN END | --file PATH ... | --incompatible [--view V]... [--dry-run] [--grace SECONDS]`:
 * retires partitions (lib/partitions/retire.ts) and prints one SUCCESS/ERROR line per partition.
 */

import { ExitCode, UserError } from "../lib/errors.ts";
import {
  describePartition,
  type RetireRequest,
  retireBatch,
  retireIncompatible,
  retireRange,
} from "../lib/partitions/retire.ts";
import { currentSchemaHashes, parseInsertTime } from "../lib/sql/retire_functions.ts";
import { VIEW_SETS } from "../lib/views/registry.ts";
import { bytes, count, type GlobalOptions, graceMs, openLake } from "./common.ts";

/** Options of `retire`. */
export interface RetireCommandOptions {
  /** Groups of five: view_set_name, view_instance_id, begin, end, file_schema_hash (hex). */
  metadata?: string[];
  /** Four values: view_set_name, view_instance_id, begin, end. */
  range?: string[];
  /** Partition file paths (deprecated way). */
  file?: string[];
  incompatible?: boolean;
  /** With --incompatible: only these view sets. */
  view?: string[];
  dryRun?: boolean;
  grace?: string;
}

/** Runs the command; returns the exit code. */
export async function retireCommand(opts: RetireCommandOptions, g: GlobalOptions): Promise<number> {
  const modes = [opts.metadata, opts.range, opts.file, opts.incompatible].filter((m) => m !== undefined);
  if (modes.length !== 1) {
    throw new UserError("retire takes exactly one of --metadata, --range, --file or --incompatible (see --help)");
  }
  if (opts.view && !opts.incompatible) throw new UserError("--view goes with --incompatible");
  if (opts.metadata && (opts.metadata.length === 0 || opts.metadata.length % 5 !== 0)) {
    throw new UserError(
      `--metadata takes five values per partition (VIEW_SET INSTANCE BEGIN END FILE_SCHEMA_HASH), got ${opts.metadata.length}`,
    );
  }
  if (opts.range && opts.range.length !== 4) {
    throw new UserError(`--range takes four values (VIEW_SET INSTANCE BEGIN END), got ${opts.range.length}`);
  }
  for (const v of opts.view ?? []) {
    if (!VIEW_SETS.some((x) => x.name === v)) {
      throw new UserError(`unknown view ${v}; use one of ${VIEW_SETS.map((x) => x.name).join(", ")}`);
    }
  }
  const grace = graceMs(opts.grace);
  const dryRun = opts.dryRun ?? false;
  const out = (s: string) => process.stdout.write(`${s}\n`);
  const { engine, lake } = await openLake(g, false);
  try {
    if (opts.incompatible) {
      const views = opts.view && opts.view.length > 0 ? opts.view : [null];
      let retired = 0;
      let failed = 0;
      let freed = 0;
      for (const v of views) {
        for (const r of await retireIncompatible(engine, lake, currentSchemaHashes(), v, { graceMs: grace, dryRun })) {
          out(
            `${r.viewSetName}/${r.viewInstanceId}: ${r.retired} ${dryRun ? "to retire" : "retired"}, ${r.failed} failed, ${bytes(r.bytesFreed)}`,
          );
          for (const m of r.messages) out(`  ${m}`);
          retired += r.retired;
          failed += r.failed;
          freed += r.bytesFreed;
        }
      }
      out(
        `${dryRun ? "dry run: would retire" : "retired"} ${count(retired)} incompatible partition${retired === 1 ? "" : "s"}, ${count(failed)} failed; ${bytes(freed)} of files ${dryRun ? "would be queued" : "queued"} for deletion by gc after the grace period`,
      );
      return failed > 0 ? ExitCode.badInput : ExitCode.ok;
    }
    if (opts.range) {
      const [vs, id, b, e] = opts.range as [string, string, string, string];
      const r = await retireRange(
        engine,
        lake,
        vs,
        id,
        await parseInsertTime(engine, b, "--range BEGIN"),
        await parseInsertTime(engine, e, "--range END"),
        { graceMs: grace, dryRun },
      );
      for (const p of r.retired) out(`SUCCESS: ${dryRun ? "would retire" : "retired"} ${describePartition(p)}`);
      out(
        `${dryRun ? "dry run: would retire" : "retired"} ${count(r.retired.length)} partition${r.retired.length === 1 ? "" : "s"}; ${bytes(r.bytesQueued)} of files queued for deletion by gc after the grace period`,
      );
      return ExitCode.ok;
    }
    const requests: RetireRequest[] = [];
    if (opts.metadata) {
      for (let k = 0; k < opts.metadata.length; k += 5) {
        const [vs, id, b, e, h] = opts.metadata.slice(k, k + 5) as [string, string, string, string, string];
        requests.push({
          kind: "metadata",
          viewSetName: vs,
          viewInstanceId: id,
          beginInsertUs: await parseInsertTime(engine, b, "--metadata BEGIN"),
          endInsertUs: await parseInsertTime(engine, e, "--metadata END"),
          fileSchemaHash: h,
        });
      }
    }
    for (const f of opts.file ?? []) requests.push({ kind: "file", filePath: f });
    const r = await retireBatch(engine, lake, requests, { graceMs: grace, dryRun });
    for (const m of r.messages) out(m);
    if (r.failures > 0) {
      process.stderr.write(`nothing retired: ${r.failures} of ${requests.length} requests failed\n`);
      return ExitCode.badInput;
    }
    out(
      `${dryRun ? "dry run: would retire" : "retired"} ${count(r.retired.length)} partition${r.retired.length === 1 ? "" : "s"}; ${bytes(r.bytesQueued)} of files queued for deletion by gc after the grace period`,
    );
    return ExitCode.ok;
  } finally {
    engine.close();
  }
}
