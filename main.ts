#!/usr/bin/env bun
/**
 * tracelake entry point: parses argv and dispatches to cmd/. No logic of its own.
 */
import { Command } from "commander";
import { type GlobalOptions, reportError } from "./cmd/common.ts";
import { exportPerfettoCommand } from "./cmd/export.ts";
import { gcCommand } from "./cmd/gc.ts";
import { infoCommand } from "./cmd/info.ts";
import { ingestCommand } from "./cmd/ingest.ts";
import { materializeCommand } from "./cmd/materialize.ts";
import { partitionsCommand } from "./cmd/partitions.ts";
import { queryCommand } from "./cmd/query.ts";
import pkg from "./package.json" with { type: "json" };

const program = new Command();
program
  .name("tracelake")
  .description("A local telemetry lakehouse: ingest traces, query them with SQL.")
  .version(pkg.version)
  .option("--lake <dir>", "the lake directory (default: $TRACELAKE_LAKE, else ~/.local/share/tracelake/lake)")
  .option("--verbose", "show stack traces on errors")
  .showHelpAfterError("(run tracelake --help for usage)");

const globals = (): GlobalOptions => program.opts<GlobalOptions>();
let exitCode = 0;
const run = (f: () => Promise<number>) => async (): Promise<void> => {
  try {
    exitCode = await f();
  } catch (e) {
    exitCode = reportError(e, globals().verbose ?? false);
  }
};

program
  .command("ingest")
  .description("import trace files (Chrome JSON, plain or gzip) into the lake; '-' reads stdin")
  .argument("<files...>", "trace files, or - for standard input")
  .option("--force", "ingest again even if the same content was ingested before (as new processes)")
  .option("--json", "print the summary as JSON")
  .option("--batch-mb <n>", "batch size in MiB: bounds memory and block size (default 32)")
  .action((files: string[], opts) => run(() => ingestCommand(files, opts, globals()))());

program
  .command("query")
  .description(
    "run SQL over the lake (processes, streams, blocks, log_entries, measures, thread_spans, async_events, raw_events...)",
  )
  .argument("<sql>", "one or more SQL statements")
  .option("-f, --format <format>", "table, csv, json or ndjson (default: table on a terminal, else csv)")
  .option("-o, --output <file>", "write the result to a .parquet, .csv, .json or .ndjson file")
  .option("--max-rows <n>", "rows shown by the table format (default 100)")
  .action((sql: string, opts) => run(() => queryCommand(sql, opts, globals()))());

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

program
  .command("materialize")
  .description("materialize view partitions ahead of queries (default: every view, every process)")
  .option("--view <name>", "log_entries, measures, thread_spans or async_events (repeatable)", collect)
  .option("--process <p>", "process_id, unique id prefix, pid:<pid> or process name (repeatable)", collect)
  .action((opts) => run(() => materializeCommand(opts, globals()))());

program
  .command("partitions")
  .description("list live partitions (lakehouse_partitions) with their process and schema status")
  .option("--view <name>", "only this view set (repeatable)", collect)
  .option("--process <p>", "only this process: process_id, unique prefix, pid:<pid> or name (repeatable)", collect)
  .option("-f, --format <format>", "table, csv, json or ndjson (default: table on a terminal, else csv)")
  .option("--max-rows <n>", "rows shown by the table format (default 100)")
  .action((opts) => run(() => partitionsCommand(opts, globals()))());

program
  .command("export")
  .description("export data from the lake")
  .command("perfetto")
  .description("write a Perfetto trace (.pftrace, .pftrace.gz, or - for stdout) of one or more processes")
  .option("--process <p>", "process_id, unique id prefix, pid:<pid> or process name (repeatable)", collect)
  .option("--all", "every process of the lake")
  .option("--begin <t>", "keep what ends at or after this time (ns integer or timestamp)")
  .option("--end <t>", "keep what begins at or before this time (ns integer or timestamp)")
  .option("--spans <kind>", "thread, async or both (default both)")
  .option("--no-logs", "leave out log entries")
  .option("--no-counters", "leave out measures")
  .option("--no-flows", "leave out flows")
  .option("--no-args", "leave out span and log args (debug annotations)")
  .requiredOption("-o, --output <file>", "output file (.pftrace, .pftrace.gz) or - for stdout")
  .action((opts) => run(() => exportPerfettoCommand(opts, globals()))());

program
  .command("gc")
  .description("delete files no catalog row needs: dead ingests' staging, orphan blobs, expired retired files")
  .option("--dry-run", "list what would be deleted")
  .option("--grace <seconds>", "leave orphan files younger than this (default 3600)")
  .action((opts) => run(() => gcCommand(opts, globals()))());

program
  .command("info")
  .description("show where the lake is and what it holds")
  .action(() => run(() => infoCommand(globals(), pkg.version))());

await program.parseAsync(process.argv);
process.exitCode = exitCode;
