/**
 * `tracelake check [--repair [--force]] [--json] [--grace SECONDS]`: says whether every file the
 * catalog names is there and whole, and whether anything is left over (lib/lake/check.ts);
 * with --repair, fixes what can be fixed (lib/partitions/repair.ts) and checks again.
 * Exit 0 when the lake is whole (after the repair, with --repair), 1 when not.
 */
import { escapeControl, UserError } from "../lib/errors.ts";
import { type CheckProblem, type CheckReport, checkLake } from "../lib/lake/check.ts";
import { type RepairReport, repairLake } from "../lib/partitions/repair.ts";
import { bytes, count, type GlobalOptions, graceMs, openLake } from "./common.ts";

/** Options of `check`. */
export interface CheckCommandOptions {
  repair?: boolean;
  /** With --repair: remove traces whose raw blocks are damaged. */
  force?: boolean;
  json?: boolean;
  /** Seconds: unnamed files and staging younger than this are work in progress. */
  grace?: string;
}

/** Runs the command; returns the exit code (0 whole, 1 not). */
export async function checkCommand(opts: CheckCommandOptions, g: GlobalOptions): Promise<number> {
  if (opts.force && !opts.repair) throw new UserError("--force goes with --repair");
  const grace = graceMs(opts.grace);
  const { engine, lake } = await openLake(g, false);
  try {
    const before = await checkLake(engine, lake, { graceMs: grace });
    if (!opts.repair) {
      if (opts.json) process.stdout.write(`${JSON.stringify(before, null, 2)}\n`);
      else printReport(before);
      return before.ok ? 0 : 1;
    }
    const repair = before.ok ? null : await repairLake(engine, lake, before, { force: opts.force, graceMs: grace });
    const after = repair ? await checkLake(engine, lake, { graceMs: grace }) : before;
    if (opts.json) {
      process.stdout.write(`${JSON.stringify({ before, repair, after }, null, 2)}\n`);
    } else {
      printReport(before);
      if (repair) {
        printRepair(repair);
        process.stdout.write(
          after.ok
            ? "after the repair: the lake is whole\n"
            : `after the repair: ${after.problems.length} problem(s) left\n`,
        );
        if (!after.ok) printProblems(after.problems);
      }
    }
    return after.ok ? 0 : 1;
  } finally {
    engine.close();
  }
}

const out = (s: string): void => {
  process.stdout.write(`${s}\n`);
};

/** Prints the report: a summary line, then the problems grouped by trace, process and view. */
function printReport(r: CheckReport): void {
  out(
    `checked ${count(r.checked.blocks)} raw blocks and ${count(r.checked.partitions)} partitions (${count(r.checked.emptyPartitions)} empty; ${count(r.checked.files)} files, ${bytes(r.checked.bytes)}) in ${r.seconds.toFixed(2)} s: ${r.ok ? "the lake is whole" : `${r.problems.length} problem${r.problems.length === 1 ? "" : "s"}`}`,
  );
  for (const n of r.notes) out(`note: ${escapeControl(n)}`);
  printProblems(r.problems);
}

function printProblems(problems: CheckProblem[]): void {
  const byTrace = new Map<string, CheckProblem[]>();
  for (const p of problems) {
    const key =
      p.object === "block" || p.object === "partition"
        ? p.ingestId
          ? `trace ${escapeControl(p.source ?? "?")} (ingest ${p.ingestId})`
          : "no trace (the process has no ingest row)"
        : "not named by the catalog";
    const l = byTrace.get(key) ?? [];
    l.push(p);
    byTrace.set(key, l);
  }
  for (const [trace, list] of byTrace) {
    out(trace);
    const byProcess = new Map<string, CheckProblem[]>();
    for (const p of list) {
      const key = p.processId ? `process ${escapeControl(p.processName ?? "?")} (${p.processId})` : "";
      const l = byProcess.get(key) ?? [];
      l.push(p);
      byProcess.set(key, l);
    }
    for (const [proc, ps] of byProcess) {
      if (proc) out(`  ${proc}`);
      for (const p of ps.sort((a, b) => (a.viewSet ?? "").localeCompare(b.viewSet ?? ""))) {
        const what =
          p.object === "block"
            ? `raw block ${p.blockId}`
            : p.object === "partition"
              ? `${p.viewSet} partition`
              : p.object;
        out(`${proc ? "    " : "  "}${what}: ${p.kind}: ${escapeControl(p.detail)} (${escapeControl(p.path)})`);
      }
    }
  }
}

function printRepair(r: RepairReport): void {
  for (const p of r.retiredPartitions) out(`retired ${escapeControl(p)} (the next query materializes it again)`);
  for (const p of r.deleted) out(`deleted ${escapeControl(p)}`);
  for (const t of r.traces) {
    const name = t.ingestId
      ? `trace ${escapeControl(t.source ?? "?")} (ingest ${t.ingestId})`
      : "a trace with no ingest row";
    if (t.removed) {
      out(
        `removed ${name} (${t.blocks} damaged raw block${t.blocks === 1 ? "" : "s"}); ingest ${t.source ? escapeControl(t.source) : "it"} again to get it back`,
      );
    } else {
      out(
        `${name} has ${t.blocks} damaged raw block${t.blocks === 1 ? "" : "s"}, which the lake cannot rebuild: run \`tracelake check --repair --force\` to remove the trace, then ingest ${t.source ? escapeControl(t.source) : "it"} again`,
      );
    }
  }
  for (const s of r.skipped) out(`skipped ${escapeControl(s)}`);
}
