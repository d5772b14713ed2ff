#!/usr/bin/env bun
/**
 * tracelake entry point: parses argv and dispatches to cmd/. No logic of its own.
 * A command's module (and through it DuckDB and the rest of lib/) is imported only when that
 * command runs, so that `--version` and `--help` load nothing but commander. The binary is built
 * with code splitting (scripts/build.ts), so a command parses only the chunks it imports.
 * Rule: main.ts imports commands only through `cmd/entry/<command>.ts`, one-line re-exports that
 * nothing else imports: Bun 1.3's splitter exports a module twice ("Cannot export a duplicate
 * name", the binary fails at run time) when it is both a dynamic-import target and shared with
 * another chunk, as cmd/query.ts (imported by cmd/partitions.ts) is. tests/cmd/entry.test.ts
 * checks the rule.
 */
import { existsSync } from "node:fs";
import { Command, CommanderError } from "commander";
import type { GlobalOptions } from "./cmd/common.ts";
import { addExportPerfettoOptions, EXPORT_ENGINE_THREADS } from "./cmd/export_options.ts";
import { VERSION, versionText } from "./cmd/version.ts";
import { ExitCode } from "./lib/errors.ts";

const program = new Command();
program
  .name("tracelake")
  .description("A local telemetry lakehouse: ingest traces, query them with SQL.")
  .version(versionText())
  .option("--lake <dir>", "the lake directory (default: $TRACELAKE_LAKE, else ~/.local/share/tracelake/lake)")
  .option("--verbose", "show stack traces on errors")
  .option("-c, --command <sql>", "run SQL (as `tracelake query SQL`) and exit")
  .showHelpAfterError("(run tracelake --help for usage)")
  // Usage errors throw (CommanderError) instead of exiting 1: they exit 2, below. Set before the
  // subcommands are declared, which inherit it.
  .exitOverride();

const globals = (): GlobalOptions & { command?: string } => program.opts<GlobalOptions & { command?: string }>();
let exitCode = 0;

/** The subcommands, by name (main.ts declares each below). */
const COMMANDS = new Set([
  "check",
  "diff",
  "export",
  "gc",
  "info",
  "ingest",
  "materialize",
  "open",
  "partitions",
  "query",
  "repl",
  "replay",
  "retire",
  "rm",
  "serve",
  "traces",
]);
/** Global options that take a value (their value is not the command's name). */
const GLOBAL_VALUE_OPTIONS = new Set(["--lake", "-c", "--command"]);

/**
 * The subcommand argv names (the first word that is not an option or an option's value), or
 * null when it names none (help, a trace file, nothing). Only that command is declared then:
 * declaring all of them with their options took 5-13 ms of every compiled run; help, the
 * default action and unknown-command suggestions get them all.
 */
function invokedCommand(args: readonly string[]): string | null {
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === "--" || a === "-h" || a === "--help") return null;
    if (a.startsWith("-")) {
      if (GLOBAL_VALUE_OPTIONS.has(a)) i++;
      continue;
    }
    return COMMANDS.has(a) ? a : null;
  }
  return null;
}
const invoked = invokedCommand(process.argv.slice(2));
/** Whether to declare the subcommand `name` (see invokedCommand). */
const wants = (name: string): boolean => invoked === null || invoked === name;
// Every command opens DuckDB: its instance is created (on DuckDB's thread) while the command's
// modules load, which saved about 20 ms of a 300 ms query. The start is not awaited: while it
// waits for the preload worker's library (build entry), the command's modules load (Engine.open
// waits for the start).
/** `threads`: EngineOptions.threads of the engine the command opens (it must ask for the same). */
const run = (f: () => Promise<number>, threads?: number) => async (): Promise<void> => {
  try {
    (await import("./cmd/entry/start_engine.ts")).startEngine(threads).catch(() => undefined);
    exitCode = await f();
  } catch (e) {
    const { reportError } = await import("./cmd/entry/report_error.ts");
    exitCode = reportError(e, globals().verbose ?? false);
  }
};

if (wants("ingest"))
  program
    .command("ingest")
    .description(
      "import trace files (Chrome JSON, Perfetto protobuf, OTLP JSON, JSON-lines logs; plain or gzip) into the lake; '-' reads stdin",
    )
    .argument("<files...>", "trace files, or - for standard input")
    .option("--force", "ingest again even if the same content was ingested before (as new processes)")
    .option("--json", "print the summary as JSON")
    .option("--batch-mb <n>", "rows held before blocks are written, in MiB: bounds memory and block size (default 8)")
    .option("--format <format>", "the input format, instead of sniffing it: chrome_json, perfetto, otlp_json, jsonl")
    .option("--process-name <name>", "JSON-lines logs: the process the lines belong to (default: the file name)")
    .option("--name <name>", "the trace's name, new in the lake (default: the file's base name; one file only)")
    .action((files: string[], opts) =>
      run(async () => (await import("./cmd/entry/ingest.ts")).ingestCommand(files, opts, globals()))(),
    );

if (wants("query"))
  program
    .command("query")
    .description(
      "run SQL over the lake (processes, streams, blocks, log_entries, measures, thread_spans, async_events, raw_events...)",
    )
    .argument("[sql]", "one or more SQL statements; - reads them from standard input")
    .option("--file <path>", "read the SQL from a file instead")
    .option(
      "-f, --format <format>",
      "table (or box), ascii, markdown, line, list, tabs, columns, csv, json or ndjson (default: table on a terminal, else csv)",
    )
    .option("-o, --output <file>", "write the result to a .parquet, .csv, .json or .ndjson file")
    .option("--max-rows <n>", "rows shown by the table, ascii, markdown and line formats (default 100)")
    .option("--max-width <n>", "widest a table may be, in columns (default: the terminal's width; 0: no limit)")
    .option("--timer", "print the time each statement took on stderr")
    .action((sql: string | undefined, opts) =>
      run(async () => (await import("./cmd/entry/query.ts")).queryCommand(sql, opts, globals()))(),
    );

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

if (wants("materialize"))
  program
    .command("materialize")
    .description("materialize view partitions ahead of queries (default: every view, every process)")
    .option("--view <name>", "log_entries, measures, thread_spans or async_events (repeatable)", collect)
    .option("--process <p>", "process_id, unique id prefix, pid:<pid> or process name (repeatable)", collect)
    .action((opts) =>
      run(async () => (await import("./cmd/entry/materialize.ts")).materializeCommand(opts, globals()))(),
    );

if (wants("partitions"))
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
    .action((opts) =>
      run(async () => (await import("./cmd/entry/partitions.ts")).partitionsCommand(opts, globals()))(),
    );

if (wants("retire"))
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
    .action((opts) => run(async () => (await import("./cmd/entry/retire.ts")).retireCommand(opts, globals()))());

if (wants("export"))
  addExportPerfettoOptions(
    program
      .command("export")
      .description("export data from the lake")
      .command("perfetto")
      .description("write a Perfetto trace (.pftrace, .pftrace.gz, or - for stdout) of one or more processes"),
  ).action((opts) =>
    run(
      async () => (await import("./cmd/entry/export.ts")).exportPerfettoCommand(opts, globals()),
      EXPORT_ENGINE_THREADS,
    )(),
  );

if (wants("open"))
  addExportPerfettoOptions(
    program
      .command("open")
      .description("export to a temporary .pftrace and open it in ui.perfetto.dev in one step")
      .option("--url", "serve the trace on 127.0.0.1:9001 and open the UI with ?url= (no page, no click)")
      .option("--no-browser", "print the URL to open instead of starting the browser"),
    false,
  ).action((opts) =>
    run(async () => (await import("./cmd/entry/open.ts")).openCommand(opts, globals()), EXPORT_ENGINE_THREADS)(),
  );

if (wants("serve"))
  program
    .command("serve")
    .description(
      "receive OpenTelemetry data live (OTLP/HTTP on 127.0.0.1:4318) into the lake, and serve a page to query it",
    )
    .option("--port <n>", "the OTLP/HTTP port on 127.0.0.1 (default 4318; 0: any free port)")
    .option("--ui-port <n>", "serve the page on this port instead of the receiver's")
    .option("--window-ms <ms>", "commit what was received at least this often (default 1000)")
    .option("--max-body-mb <n>", "largest request body, compressed or not, in MiB (default 32; larger: 413)")
    .option(
      "--process-events <n>",
      "start a new process for a service once its process holds this many events (default 1000000; 0: never)",
    )
    .option("--log-commits", "print a line per commit")
    .action((opts) => run(async () => (await import("./cmd/entry/serve.ts")).serveCommand(opts, globals()))());

if (wants("traces"))
  program
    .command("traces")
    .description("list the traces (one per ingest) with their time range and size; --rename TRACE NAME renames one")
    .option("--rename <trace_and_name...>", "TRACE NAME: rename the trace (trace_id, unique prefix or name)")
    .option("-o, --output <file>", "write the list to a .parquet, .csv, .json or .ndjson file")
    .option(
      "-f, --format <format>",
      "table (or box), ascii, markdown, line, csv, json or ndjson (default: table on a terminal, else csv)",
    )
    .option("--max-rows <n>", "rows shown by the table, ascii, markdown and line formats (default 100)")
    .action((opts) => run(async () => (await import("./cmd/entry/traces.ts")).tracesCommand(opts, globals()))());

if (wants("diff"))
  program
    .command("diff")
    .description(
      "compare two traces per slice name: count, total, self, p50, p90 (ms) in each and the change, largest first",
    )
    .argument("<a>", "the first trace: name, trace_id or unique prefix")
    .argument("<b>", "the second trace")
    .option("--view <name>", "the view compared (default thread_spans)")
    .option(
      "-f, --format <format>",
      "table (or box), ascii, markdown, line, csv, json or ndjson (default: table on a terminal, else csv)",
    )
    .option("--max-rows <n>", "rows shown by the table, ascii, markdown and line formats (default 100)")
    .option("-o, --output <file>", "write the result to a .parquet, .csv, .json or .ndjson file")
    .action((a: string, b: string, opts) =>
      run(async () => (await import("./cmd/entry/diff.ts")).diffCommand(a, b, opts, globals()))(),
    );

if (wants("rm"))
  program
    .command("rm")
    .description(
      "remove traces: their processes, streams, blocks and partitions (files deleted by gc after the grace period)",
    )
    .argument("<traces...>", "trace_id, unique prefix of one (4+ characters), or name")
    .option("--dry-run", "show what would be removed; change nothing")
    .option(
      "--grace <seconds>",
      "keep the files this long before gc may delete them (default $TRACELAKE_GRACE_SECONDS, else 3600)",
    )
    .action((traces: string[], opts) =>
      run(async () => (await import("./cmd/entry/rm.ts")).rmCommand(traces, opts, globals()))(),
    );

if (wants("gc"))
  program
    .command("gc")
    .description("delete files no catalog row needs: dead ingests' staging, orphan blobs, expired retired files")
    .option("--dry-run", "list what would be deleted")
    .option("--grace <seconds>", "leave orphan files younger than this (default $TRACELAKE_GRACE_SECONDS, else 3600)")
    .action((opts) => run(async () => (await import("./cmd/entry/gc.ts")).gcCommand(opts, globals()))());

if (wants("check"))
  program
    .command("check")
    .description(
      "check that every file the catalog names is there and whole, and nothing is left over; exit 1 when not",
    )
    .option("--repair", "retire damaged partitions (rebuilt by the next query), delete orphans and staging")
    .option("--force", "with --repair: remove traces whose raw blocks are damaged (ingest them again)")
    .option("--json", "print the report as JSON")
    .option(
      "--grace <seconds>",
      "unnamed files younger than this are work in progress (default $TRACELAKE_GRACE_SECONDS, else 3600)",
    )
    .action((opts) => run(async () => (await import("./cmd/entry/check.ts")).checkCommand(opts, globals()))());

if (wants("replay"))
  program
    .command("replay")
    .description("stream a view's rows in event-time order through the query's aggregation on N parallel workers")
    .argument("<sql>", "one SELECT with GROUP BY / time_bucket windows / count, sum, min, max, avg over one view")
    .option("--partitions <n>", "parallel workers (default: the CPUs less one, 1 to 2)")
    .option("--strategy <s>", "auto, always_hash, smart_repartition, round_robin, sticky_partition or fan_in")
    .option("--explain", "print the query analysis and the strategy choice; do not run")
    .option("--emit <mode>", "final (default): the result at the end; changes: each window's rows as it closes")
    .option("--speed <x>", "pace against event time, e.g. 10x; default max")
    .option("-f, --format <format>", "table, csv, json or ndjson (default: table on a terminal, else csv)")
    .option("--max-rows <n>", "rows shown by the table format (default 100)")
    .option("--quiet", "no figures on stderr")
    .action((sql: string, opts) =>
      run(async () => (await import("./cmd/entry/replay.ts")).replayCommand(sql, opts, globals()))(),
    );

if (wants("repl"))
  program
    .command("repl")
    .description(
      "interactive SQL shell over the lake (also plain `tracelake`); runs SCRIPT first, then stays open; reads a script from a pipe",
    )
    .argument("[script]", "a file of statements and dot-commands to run first")
    .action((script: string | undefined) =>
      run(async () => (await import("./cmd/entry/repl.ts")).replCommand(globals(), VERSION, { script }))(),
    );

if (wants("info"))
  program
    .command("info")
    .description("show where the lake is and what it holds")
    .action(() => run(async () => (await import("./cmd/entry/info.ts")).infoCommand(globals(), VERSION))());

// No subcommand: `tracelake TRACE...` ingests the traces (when new), then `-c SQL` runs it, or the
// REPL opens (on a terminal) or runs the script on stdin (`tracelake < script.sql`). A first word
// that is neither a command nor a file is an unknown command.
program
  .argument("[traces...]", "trace files to ingest (when new) before the REPL, or -c, opens on the lake")
  .addHelpText(
    "after",
    `
Examples:
  tracelake trace.json                  ingest trace.json (if new) and open the SQL shell on the lake
  tracelake query "SELECT name, count(*) AS n, sum(duration) / 1e6 AS ms FROM thread_spans GROUP BY name ORDER BY ms DESC LIMIT 10"
  tracelake export perfetto --process Browser -o browser.pftrace

Views: thread_spans, async_events, log_entries, measures, flows (per process, built on first use),
  async_spans, raw_events, import_stats, traces, processes, streams, blocks, ingests, lakehouse_partitions,
  temporary_files; as trace_processor names them: slice, thread, process, thread_track, counter,
  counter_track, flow, args. Span trees: children(id), descendants(id), ancestors(id),
  heaviest_path(id), ancestor_slice(id), descendant_slice(id). In the REPL: .tables, .schema VIEW.

Exit codes: 0 ok, 1 SQL error, 2 usage, 65 bad input, 66 unreadable input, 73 lake unusable, 70 unexpected, 130 interrupted.`,
  )
  .action((traces: string[]) => {
    const first = traces[0];
    if (first !== undefined && !existsSync(first))
      return (program as unknown as { unknownCommand(): void }).unknownCommand();
    const sql = globals().command;
    if (sql === undefined)
      return run(async () => (await import("./cmd/entry/repl.ts")).replCommand(globals(), VERSION, { traces }))();
    return run(async () => {
      if (traces.length > 0) {
        const code = await (await import("./cmd/entry/ingest.ts")).ingestCommand(traces, { next: false }, globals());
        if (code !== ExitCode.ok) return code;
      }
      return (await import("./cmd/entry/query.ts")).queryCommand(sql, {}, globals());
    })();
  });

/**
 * Exits with `code` as soon as the command is done and its output written: waiting for the event
 * loop to drain (DuckDB's and Bun's threads winding down) took 60-100 ms more per run. Writes
 * still queued on stdout or stderr (a full pipe) are waited for first.
 */
async function exitNow(code: number): Promise<never> {
  for (const s of [process.stdout, process.stderr]) {
    if (s.writableLength > 0) await new Promise<void>((r) => s.once("drain", () => r()));
  }
  process.exit(code);
}

program.parseAsync().then(
  () => exitNow(exitCode),
  (e: unknown) => {
    if (!(e instanceof CommanderError)) throw e;
    // --help and --version end here with 0; every usage error with 2.
    return exitNow(e.exitCode === 0 ? 0 : ExitCode.usage);
  },
);
