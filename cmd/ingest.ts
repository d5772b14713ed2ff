/**
 * `tracelake ingest FILE... | -`: imports traces into the lake and prints what happened.
 */
import pc from "picocolors";
import { ExitCode, escapeControl, InputError, UserError } from "../lib/errors.ts";
import { type IngestSummary, ingest } from "../lib/ingest/ingest.ts";
import { TRACE_FORMATS, type TraceFormat } from "../lib/ingest/sniff.ts";
import { removeOwnStaging } from "../lib/lake/files.ts";
import { bytes, count, type GlobalOptions, openLake, progressBars, reportError, stopOnInterrupt } from "./common.ts";

/** Options of `ingest`. */
export interface IngestCommandOptions {
  /** false: no "next:" lines after the summaries (the REPL and `tracelake TRACE...` go on by themselves). */
  next?: boolean;
  force?: boolean;
  json?: boolean;
  batchMb?: string;
  format?: string;
  processName?: string;
  /** The trace's name (one file only). */
  name?: string;
}

/** What `eventsFound` counts, per format. */
const FOUND_UNIT: Record<string, string> = {
  chrome_json: "events",
  perfetto: "packets",
  otlp_json: "requests",
  jsonl: "lines",
};

const DEST_LABEL: Record<string, string> = {
  cpu: "thread/async events (cpu streams)",
  log: "log entries (log stream)",
  metrics: "measures (metrics stream)",
  metadata: "process/thread names and properties",
  skipped: "skipped",
};

/** Runs the command; returns the exit code. */
export async function ingestCommand(
  files: string[],
  opts: IngestCommandOptions,
  g: GlobalOptions,
  signal?: AbortSignal,
): Promise<number> {
  if (opts.format !== undefined && !TRACE_FORMATS.includes(opts.format as TraceFormat)) {
    return reportError(
      new InputError(`--format ${opts.format} is not a format tracelake reads; use one of ${TRACE_FORMATS.join(", ")}`),
      g.verbose ?? false,
    );
  }
  if (opts.name !== undefined && files.length !== 1) {
    return reportError(
      new UserError(
        `--name names one trace: pass one file (got ${files.length}), or rename later with tracelake traces --rename`,
        ExitCode.usage,
      ),
      g.verbose ?? false,
    );
  }
  // DuckDB's share of memory is capped (it spills to the lake's tmp/ past that): with one batch
  // being framed while the previous one is imported, this keeps the ingest under ~500 MB.
  const { engine, lake } = await openLake(g, true, { memoryLimit: "256MB" });
  // Ctrl-C: the REPL's .ingest passes its own signal; the command stops between reads.
  // An importer parsing a batch looks at the signal only after it: past a moment, the command
  // exits unless the current file's commit has begun (an attach for writing since it started),
  // removing this process's staging (and DuckDB's temp directory, with the engine).
  let writesBefore = lake.writeAttachStarts;
  const stop =
    signal ??
    stopOnInterrupt(engine, false, {
      safe: () => lake.writeAttachStarts === writesBefore,
      cleanup: () => {
        removeOwnStaging(lake.layout.tmp, process.pid);
        // Closing removes DuckDB's temp directory; only while no catalog statement may run.
        if (lake.attachedMode === null) engine.close();
      },
    });
  let exit: number = ExitCode.ok;
  const batchBytes = opts.batchMb ? Math.max(1, Number(opts.batchMb)) * 1024 * 1024 : undefined;
  const done: IngestSummary[] = [];
  try {
    for (const f of files) {
      if (stop.aborted) break;
      writesBefore = lake.writeAttachStarts;
      const bar =
        process.stderr.isTTY && !opts.json
          ? (await progressBars())({
              format: `${f} [{bar}] {percentage}% | {value}/{total} MB`,
              stream: process.stderr,
              hideCursor: true,
              clearOnComplete: true,
            })
          : null;
      let started = false;
      try {
        const s = await ingest(engine, lake, f, {
          ...envIngestOptions(process.env),
          force: opts.force,
          batchBytes,
          format: opts.format as TraceFormat | undefined,
          processName: opts.processName,
          name: opts.name,
          signal: stop,
          onProgress: (read, total) => {
            if (!bar || total === null || total < 32 * 1024 * 1024) return;
            if (!started) {
              bar.start(Math.round(total / 1e6), 0);
              started = true;
            }
            bar.update(Math.round(read / 1e6));
          },
        });
        if (started) bar?.stop();
        done.push(s);
        if (opts.json) process.stdout.write(`${JSON.stringify(s)}\n`);
        else process.stdout.write(render(s, lake.root));
      } catch (e) {
        if (started) bar?.stop();
        exit = reportError(e, g.verbose ?? false);
      }
    }
  } finally {
    engine.close();
  }
  if (!opts.json && opts.next !== false && done.length > 0 && !stop.aborted) {
    process.stdout.write(nextSteps(done, g.lake));
  }
  return exit;
}

/**
 * The ingest options set by environment variables (for tests and benchmarks, not in --help):
 * TRACELAKE_INGEST_WORKERS (worker threads, a whole number ≥ 0; unset or empty: the default) and
 * TRACELAKE_WASM=0 (the WebAssembly fast path off).
 * @param env the environment (process.env).
 * @returns the options to spread into IngestOptions (absent when not set).
 */
export function envIngestOptions(env: Record<string, string | undefined>): { workers?: number; wasm?: boolean } {
  const out: { workers?: number; wasm?: boolean } = {};
  const w = env.TRACELAKE_INGEST_WORKERS;
  if (w !== undefined && w !== "") out.workers = Math.max(0, Number(w) || 0);
  if (env.TRACELAKE_WASM === "0") out.wasm = false;
  return out;
}

/** Processes named in a summary (the most threads first). */
const PROCESSES_SHOWN = 6;

/** Quotes a word for a POSIX shell when it needs it. */
function shellWord(w: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(w) ? w : `'${w.replaceAll("'", "'\\''")}'`;
}

/**
 * What to run after an ingest: a first query, the REPL and `open` on the process with the most
 * threads, with `--lake` when the lake is not the default one.
 * @param summaries the ingests just made (duplicates included).
 * @param lakeArg the `--lake` option as given (undefined: the default lake).
 */
export function nextSteps(summaries: IngestSummary[], lakeArg: string | undefined): string {
  const procs = summaries.flatMap((s) => s.processList);
  const lake = lakeArg === undefined ? "" : ` --lake ${shellWord(lakeArg)}`;
  const lines = [
    `tracelake${lake} query "SELECT name, count(*) AS n, sum(duration) / 1e6 AS ms FROM thread_spans GROUP BY name ORDER BY ms DESC LIMIT 10"`,
    `tracelake${lake} repl`,
  ];
  const busiest = [...procs].sort((a, b) => b.threads - a.threads)[0];
  if (busiest) {
    const pick =
      busiest.name && procs.filter((p) => p.name === busiest.name).length === 1 ? busiest.name : busiest.processId;
    lines.push(`tracelake${lake} open --process ${escapeControl(shellWord(pick))}`);
  }
  return `next:\n${lines.map((l) => `  ${l}`).join("\n")}\n`;
}

/** Renders a summary as text. */
export function render(s: IngestSummary, lakeRoot: string): string {
  const out: string[] = [];
  if (s.duplicate) {
    out.push(
      `${pc.yellow("already ingested:")} ${s.source} has the same content (sha256 ${s.contentHash.slice(0, 12)}…) as ingest ${s.ingestId} of ${s.duplicateOfTime}; nothing written (use --force to ingest it again as new processes)`,
    );
    return `${out.join("\n")}\n`;
  }
  const mbs = s.seconds > 0 ? s.contentBytes / 1e6 / s.seconds : 0;
  out.push(
    `${pc.green("ingested")} ${s.source} (${s.format}) as trace ${escapeControl(s.name ?? s.ingestId)} into ${lakeRoot} in ${s.seconds.toFixed(2)} s: ${bytes(s.contentBytes)}${s.bytesRead !== s.contentBytes ? ` (${bytes(s.bytesRead)} read)` : ""} at ${mbs.toFixed(1)} MB/s`,
  );
  out.push(
    `  ${count(s.processes)} processes, ${count(s.threads)} threads, ${count(s.streams)} streams, ${count(s.blocks)} blocks (${bytes(s.blobBytes)} of Parquet)`,
  );
  if (s.processList.length > 0) {
    const shown = [...s.processList].sort((a, b) => b.threads - a.threads).slice(0, PROCESSES_SHOWN);
    const more = s.processList.length - shown.length;
    out.push(
      `  processes: ${shown.map((p) => `${escapeControl(p.name ?? "unnamed")} (pid ${escapeControl(String(p.pid ?? "?"))}, ${count(p.threads)} threads)`).join(", ")}${more > 0 ? `, and ${count(more)} more` : ""}`,
    );
  }
  const skipped = s.phases.filter((p) => p.dest === "skipped").reduce((n, p) => n + p.count, 0);
  out.push(
    `  ${FOUND_UNIT[s.format] ?? "events"}: ${count(s.eventsFound)} found, ${count(s.eventsImported)} imported, ${count(s.metadataEvents)} metadata, ${count(skipped)} skipped`,
  );
  const imported = s.phases.filter((p) => p.dest !== "skipped" && p.dest !== "dropped");
  if (imported.length > 0) {
    const w = Math.max(5, ...imported.map((p) => p.ph.length));
    out.push(`  ${"phase".padEnd(w)}  events      went to`);
    for (const p of imported.sort((a, b) => a.ph.localeCompare(b.ph))) {
      out.push(`  ${p.ph.padEnd(w)}  ${count(p.count).padStart(10)}  ${DEST_LABEL[p.dest] ?? p.dest}`);
    }
  }
  // The rows of the import_stats view (lib/sql/import_stats.ts): skipped events, dropped values.
  const sk = s.phases.filter((p) => p.dest === "skipped" || p.dest === "dropped");
  if (sk.length > 0) {
    out.push("  skipped:");
    for (const p of sk) {
      const ph = p.ph ? `ph ${JSON.stringify(p.ph)}: ` : "";
      const code = p.code ? ` [${p.code}]` : "";
      out.push(`    ${count(p.count).padStart(10)}  ${ph}${p.reason}${code}`);
    }
  }
  for (const w of s.warnings) out.push(`  ${pc.yellow("warning:")} ${w}`);
  return `${out.join("\n")}\n`;
}
