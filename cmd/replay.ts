/**
 * `tracelake replay "SQL"`: streams the rows of a view in event-time order through the
 * query's aggregation on N parallel workers (lib/replay/), prints the result (or each
 * window's rows as it closes), and the run's figures on stderr.
 */
import { availableParallelism } from "node:os";
import { ExitCode, UserError } from "../lib/errors.ts";
import { analyzeQuery, chooseStrategy, STRATEGIES, type Strategy, validateStrategy } from "../lib/replay/analyze.ts";
import { explainLines } from "../lib/replay/explain.ts";
import { type EmitMode, planReplay, type ReplayStats, runReplay } from "../lib/replay/replay.ts";
import { csvLine, formatTable, ndjsonLine, type OutputFormat } from "../lib/sql/format.ts";
import { count, type GlobalOptions, jitProgress, openLake } from "./common.ts";
import { Stdout } from "./output.ts";
import { printStatements } from "./query.ts";

/** Options of `replay`. */
export interface ReplayCommandOptions {
  partitions?: string;
  strategy?: string;
  explain?: boolean;
  emit?: string;
  speed?: string;
  format?: string;
  maxRows?: string;
  quiet?: boolean;
}

const FORMATS: OutputFormat[] = ["table", "csv", "json", "ndjson"];

/** Parses `--speed`: `max`, or a factor like `10x`, `0.5x` or `10`. */
export function parseSpeed(s: string | undefined): number | null {
  if (s === undefined || s === "max") return null;
  const v = Number(s.replace(/x$/i, ""));
  if (!Number.isFinite(v) || v <= 0)
    throw new UserError(`--speed must be 'max' or a positive factor like 10x, got ${s}`);
  return v;
}

/**
 * Workers when `--partitions` is not given: one per CPU beyond the main thread (which reads
 * DuckDB's stream and routes it), at most 2, at least 1. On 2 CPUs a second worker competed with
 * the router and DuckDB: GROUP BY name over the thread_spans of the Chromium JSON sample 578 ms
 * with 2 workers, 523 with 1; of the 153 MB trace 761 and 675 ms (compiled, 7 alternating runs).
 */
export function defaultPartitions(cpus = availableParallelism()): number {
  return Math.max(1, Math.min(2, cpus - 1));
}

/** Runs the command; returns the exit code. */
export async function replayCommand(sql: string, opts: ReplayCommandOptions, g: GlobalOptions): Promise<number> {
  const partitions = opts.partitions === undefined ? defaultPartitions() : Number(opts.partitions);
  if (!Number.isInteger(partitions) || partitions < 1 || partitions > 64) {
    throw new UserError(`--partitions must be a whole number from 1 to 64, got ${opts.partitions}`);
  }
  const strategy = (opts.strategy ?? "auto") as Strategy | "auto";
  if (strategy !== "auto" && !STRATEGIES.includes(strategy)) {
    throw new UserError(`unknown --strategy ${opts.strategy}; use auto, ${STRATEGIES.join(", ")}`);
  }
  const emit = (opts.emit ?? "final") as EmitMode;
  if (emit !== "final" && emit !== "changes") throw new UserError(`--emit must be final or changes, got ${opts.emit}`);
  const speed = parseSpeed(opts.speed);
  const format = (opts.format ?? (process.stdout.isTTY ? "table" : "csv")) as OutputFormat;
  if (!FORMATS.includes(format))
    throw new UserError(`unknown --format ${opts.format}; use one of ${FORMATS.join(", ")}`);
  const maxRows = opts.maxRows ? Number(opts.maxRows) : 100;
  if (!Number.isInteger(maxRows) || maxRows < 0)
    throw new UserError(`--max-rows must be a whole number, got ${opts.maxRows}`);

  const { engine, lake } = await openLake(g, false);
  try {
    const out = new Stdout();
    if (opts.explain) {
      const a = await analyzeQuery(engine, sql);
      const choice = strategy === "auto" ? chooseStrategy(a, partitions) : validateStrategy(a, strategy);
      await out.write(`${explainLines(a, choice, partitions).join("\n")}\n`);
      return ExitCode.ok;
    }
    const progress = jitProgress();
    let plan: Awaited<ReturnType<typeof planReplay>>;
    try {
      plan = await planReplay(engine, lake, sql, { partitions, strategy, jit: { onProgress: progress.onProgress } });
    } finally {
      progress.stop();
    }
    let firstBlock = true;
    const stats = await runReplay(engine, plan, { partitions, strategy, emit, speed }, async (r) => {
      if (out.closed) return;
      if (r.window === null) {
        // The whole result: printed as `query` prints a result (DuckDB's COPY for CSV).
        const maxWidth = process.stdout.isTTY ? process.stdout.columns : undefined;
        if (r.sql !== null) await printStatements(engine, lake, r.sql, format, { maxRows, maxWidth });
        return;
      }
      const { columns, rows } = await r.read();
      if (format === "table") {
        await out.write(`window ${r.window}\n`);
        await out.write(formatTable(columns, rows.slice(0, maxRows), { totalRows: rows.length }));
      } else if (format === "csv") {
        let buf = firstBlock ? csvLine(columns.map((c) => c.name)) : "";
        for (const row of rows) buf += csvLine(row, columns);
        await out.write(buf);
      } else if (format === "ndjson" || emit === "changes") {
        let buf = "";
        for (const row of rows) buf += ndjsonLine(columns, row);
        await out.write(buf);
      } else {
        const lines = rows.map((row) => ndjsonLine(columns, row).slice(0, -1));
        await out.write(lines.length === 0 ? "[]\n" : `[\n${lines.join(",\n")}\n]\n`);
      }
      firstBlock = false;
    });
    if (!opts.quiet) process.stderr.write(statsText(stats));
    return ExitCode.ok;
  } finally {
    engine.close();
  }
}

/** The closing figures of a replay, for stderr. */
export function statsText(s: ReplayStats): string {
  const ms = (v: number): string => `${v.toFixed(0)} ms`;
  return [
    `replayed ${count(s.rows)} rows in ${ms(s.wallMs)} (${count(Math.round(s.rowsPerSecond))} rows/s), strategy ${s.strategy}, ${s.partitions} partitions${s.windowsClosed > 0 ? `, ${count(s.windowsClosed)} windows closed` : ""}`,
    `rows per partition: ${s.rowsPerPartition.map(count).join(", ")} (skew ${s.skew.toFixed(2)} = max/mean)`,
    `time: dictionaries ${ms(s.dictionaryMs)}, source ${ms(s.sourceMs)}, routing ${ms(s.routeMs)}, sending ${ms(s.sendMs - s.backpressureMs)} + backpressure wait ${ms(s.backpressureMs)}, aggregation ${s.aggregateMs.map(ms).join(" / ")} (per partition), merge ${ms(s.mergeMs)}`,
    "",
  ].join("\n");
}
