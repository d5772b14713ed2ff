#!/usr/bin/env bun
import bindings from "@duckdb/node-bindings/package.json" with { type: "json" };
/**
 * tracelake entry point: parses argv and dispatches to cmd/. No logic of its own.
 * A command's module (and through it DuckDB and the rest of lib/) is imported only when that
 * command runs, so that `--version` and `--help` load nothing but commander.
 */
import { Command } from "commander";
import type { GlobalOptions } from "./cmd/common.ts";
import { addExportPerfettoOptions } from "./cmd/export_options.ts";
import pkg from "./package.json" with { type: "json" };

declare global {
  /** Set by the compiled binary's entry (scripts/build.ts): the commit and target it was built from. */
  var __TRACELAKE_BUILD: { commit: string; target: string } | undefined;
}

/**
 * `--version`: tracelake's version, the platform, the DuckDB version (the @duckdb/node-bindings
 * release, whose version is DuckDB's with a -r.N suffix) and the commit the binary was built from.
 */
const build = globalThis.__TRACELAKE_BUILD;
const platform = `${process.platform === "win32" ? "windows" : process.platform}-${process.arch}`;
const versionText = `tracelake ${pkg.version} (${platform}; DuckDB ${bindings.version.replace(/-r\.\d+$/, "")}, @duckdb/node-bindings ${bindings.version}; ${build ? `commit ${build.commit}` : "from source"})`;

const program = new Command();
program
  .name("tracelake")
  .description("A local telemetry lakehouse: ingest traces, query them with SQL.")
  .version(versionText)
  .option("--lake <dir>", "the lake directory (default: $TRACELAKE_LAKE, else ~/.local/share/tracelake/lake)")
  .option("--verbose", "show stack traces on errors")
  .showHelpAfterError("(run tracelake --help for usage)");

const globals = (): GlobalOptions => program.opts<GlobalOptions>();
let exitCode = 0;
const run = (f: () => Promise<number>) => async (): Promise<void> => {
  try {
    exitCode = await f();
  } catch (e) {
    const { reportError } = await import("./cmd/common.ts");
    exitCode = reportError(e, globals().verbose ?? false);
  }
};

program
  .command("ingest")
  .description(
    "import trace files (Chrome JSON, Perfetto protobuf, OTLP JSON, JSON-lines logs; plain or gzip) into the lake; '-' reads stdin",
  )
  .argument("<files...>", "trace files, or - for standard input")
  .option("--force", "ingest again even if the same content was ingested before (as new processes)")
  .option("--json", "print the summary as JSON")
  .option(
    "--batch-mb <n>",
    "rows held before blocks are written, in MiB: bounds memory and block size (default 48 for Chrome JSON, 32 for other formats)",
  )
  .option("--format <format>", "the input format, instead of sniffing it: chrome_json, perfetto, otlp_json, jsonl")
  .option("--process-name <name>", "JSON-lines logs: the process the lines belong to (default: the file name)")
  .action((files: string[], opts) =>
    run(async () => (await import("./cmd/ingest.ts")).ingestCommand(files, opts, globals()))(),
  );

program
  .command("query")
  .description(
    "run SQL over the lake (processes, streams, blocks, log_entries, measures, thread_spans, async_events, raw_events...)",
  )
  .argument("<sql>", "one or more SQL statements")
  .option(
    "-f, --format <format>",
    "table (or box), ascii, markdown, line, csv, json or ndjson (default: table on a terminal, else csv)",
  )
  .option("-o, --output <file>", "write the result to a .parquet, .csv, .json or .ndjson file")
  .option("--max-rows <n>", "rows shown by the table, ascii, markdown and line formats (default 100)")
  .action((sql: string, opts) =>
    run(async () => (await import("./cmd/query.ts")).queryCommand(sql, opts, globals()))(),
  );

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

program
  .command("materialize")
  .description("materialize view partitions ahead of queries (default: every view, every process)")
  .option("--view <name>", "log_entries, measures, thread_spans or async_events (repeatable)", collect)
  .option("--process <p>", "process_id, unique id prefix, pid:<pid> or process name (repeatable)", collect)
  .action((opts) => run(async () => (await import("./cmd/materialize.ts")).materializeCommand(opts, globals()))());

program
  .command("partitions")
  .description("list live partitions (lakehouse_partitions) with their process and schema status")
  .option("--view <name>", "only this view set (repeatable)", collect)
  .option("--process <p>", "only this process: process_id, unique prefix, pid:<pid> or name (repeatable)", collect)
  .option(
    "-f, --format <format>",
    "table (or box), ascii, markdown, line, csv, json or ndjson (default: table on a terminal, else csv)",
  )
  .option("--max-rows <n>", "rows shown by the table, ascii, markdown and line formats (default 100)")
  .option(
    "--incompatible",
    "only partitions whose schema hash is not their view's current one (list_incompatible_partitions)",
  )
  .action((opts) => run(async () => (await import("./cmd/partitions.ts")).partitionsCommand(opts, globals()))());

program
  .command("retire")
  .description(
    "retire partitions: by metadata (exact five keys), by insert range, by file (deprecated), or every incompatible one",
  )
  .option("--metadata <fields...>", "VIEW_SET INSTANCE BEGIN END FILE_SCHEMA_HASH (repeatable; all or nothing)")
  .option("--range <fields...>", "VIEW_SET INSTANCE BEGIN END: every partition whose insert range lies inside")
  .option(
    "--file <path>",
    "the partition whose file this is (deprecated: cannot reach empty partitions; repeatable)",
    collect,
  )
  .option("--incompatible", "every partition whose schema hash is not its view's current one")
  .option("--view <name>", "with --incompatible: only this view set (repeatable)", collect)
  .option("--dry-run", "show what would be retired; change nothing")
  .option(
    "--grace <seconds>",
    "keep retired files this long before gc may delete them (default $TRACELAKE_GRACE_SECONDS, else 3600)",
  )
  .action((opts) => run(async () => (await import("./cmd/retire.ts")).retireCommand(opts, globals()))());

addExportPerfettoOptions(
  program
    .command("export")
    .description("export data from the lake")
    .command("perfetto")
    .description("write a Perfetto trace (.pftrace, .pftrace.gz, or - for stdout) of one or more processes"),
).action((opts) => run(async () => (await import("./cmd/export.ts")).exportPerfettoCommand(opts, globals()))());

program
  .command("gc")
  .description("delete files no catalog row needs: dead ingests' staging, orphan blobs, expired retired files")
  .option("--dry-run", "list what would be deleted")
  .option("--grace <seconds>", "leave orphan files younger than this (default $TRACELAKE_GRACE_SECONDS, else 3600)")
  .action((opts) => run(async () => (await import("./cmd/gc.ts")).gcCommand(opts, globals()))());

program
  .command("check")
  .description("check that every file the catalog names is there and whole, and nothing is left over; exit 1 when not")
  .option("--repair", "retire damaged partitions (rebuilt by the next query), delete orphans and staging")
  .option("--force", "with --repair: remove traces whose raw blocks are damaged (ingest them again)")
  .option("--json", "print the report as JSON")
  .option(
    "--grace <seconds>",
    "unnamed files younger than this are work in progress (default $TRACELAKE_GRACE_SECONDS, else 3600)",
  )
  .action((opts) => run(async () => (await import("./cmd/entry/check.ts")).checkCommand(opts, globals()))());

program
  .command("replay")
  .description("stream a view's rows in event-time order through the query's aggregation on N parallel workers")
  .argument("<sql>", "one SELECT with GROUP BY / time_bucket windows / count, sum, min, max, avg over one view")
  .option("--partitions <n>", "parallel workers (default 2)")
  .option("--strategy <s>", "auto, always_hash, smart_repartition, round_robin, sticky_partition or fan_in")
  .option("--explain", "print the query analysis and the strategy choice; do not run")
  .option("--emit <mode>", "final (default): the result at the end; changes: each window's rows as it closes")
  .option("--speed <x>", "pace against event time, e.g. 10x; default max")
  .option("-f, --format <format>", "table, csv, json or ndjson (default: table on a terminal, else csv)")
  .option("--max-rows <n>", "rows shown by the table format (default 100)")
  .option("--quiet", "no figures on stderr")
  .action((sql: string, opts) =>
    run(async () => (await import("./cmd/replay.ts")).replayCommand(sql, opts, globals()))(),
  );

program
  .command("repl")
  .description("interactive SQL shell over the lake (also plain `tracelake` on a terminal); reads a script from a pipe")
  .action(() => run(async () => (await import("./cmd/repl.ts")).replCommand(globals(), pkg.version))());

program
  .command("info")
  .description("show where the lake is and what it holds")
  .action(() => run(async () => (await import("./cmd/info.ts")).infoCommand(globals(), pkg.version))());

// No subcommand and stdin a terminal: the REPL. Otherwise commander prints the usage (exit 1).
const args = process.argv.slice(2);
const named = args.some((a, i) => !a.startsWith("-") && args[i - 1] !== "--lake");
const meta = args.some((a) => ["-h", "--help", "-V", "--version"].includes(a));
if (!named && !meta && process.stdin.isTTY) args.push("repl");
program.parseAsync([...process.argv.slice(0, 2), ...args]).then(() => {
  process.exitCode = exitCode;
});
