/**
 * Runs a Perfetto export of the lake (`tracelake export perfetto`, the REPL's `.export perfetto`):
 * checks the options, resolves the processes, materializes the views the export reads (JIT,
 * through prepareQuery), and streams the trace (lib/perfetto/export.ts) to a file or stream
 * (lib/perfetto/write_trace.ts). It lives in the query layer because it needs prepareQuery and
 * process resolution; the commands parse the options and print the returned summary.
 */
import type { Writable } from "node:stream";
import type { Engine } from "../duck/engine.ts";
import { SqlError, UserError } from "../errors.ts";
import type { Lake } from "../lake/lake.ts";
import { resolveTrace } from "../lake/traces.ts";
import {
  emptyStats,
  type PerfettoExportStats,
  perfettoChunks,
  perfettoPrepareSql,
  type SpanTypes,
} from "../perfetto/export.ts";
import { parseRelativeTime } from "../perfetto/options.ts";
import { type TraceTarget, writesBeforeNextPull, writeTrace } from "../perfetto/write_trace.ts";
import { logEntries } from "../views/log_entries.ts";
import { measures } from "../views/measures.ts";
import { instancesInTimeOrder, prepareQuery, resolveProcess } from "./query.ts";
import { TRACES_SELECT } from "./traces.ts";

/** Options of an export, as `export perfetto` takes them (EXPORT_PERFETTO_OPTIONS). */
export interface ExportPerfettoOptions {
  /** Process selectors (process_id, unique prefix, `pid:<pid>`, name). */
  process?: string[];
  /** Traces (name, trace_id or unique prefix) whose every process is exported. */
  trace?: string[];
  /** Every process of the lake. */
  all?: boolean;
  /**
   * Start of the time window: relative to the start of the exported traces (`100ms`, `1.5s`,
   * `+250us`: parseRelativeTime; with processes of several traces, from the earliest of their
   * starts), or absolute: ns (an integer) or a timestamp DuckDB casts to TIMESTAMP_NS.
   */
  begin?: string;
  /** End of the time window, as `begin`. */
  end?: string;
  /** thread, async or both (default). */
  spans?: string;
  /** false: no log entries (commander's `--no-logs`). */
  logs?: boolean;
  counters?: boolean;
  flows?: boolean;
  args?: boolean;
  /** A file (`.gz` → gzip) or `-` for the `stdout` stream given to `exportPerfetto`. */
  output?: string;
}

/** How an export reports and stops: JIT progress, and a cancellation check (REPL Ctrl-C). */
export interface ExportControl {
  onProgress?: (done: number, total: number, what: string) => void;
  /** True when the export must stop; checked between partitions and between chunks. */
  cancelled?: () => boolean;
}

/** What an export wrote. */
export interface ExportSummary {
  /** The output as given (`-` for the stream). */
  output: string;
  gzip: boolean;
  /** The stream's reader went away before the end (EPIPE; not an error). */
  closedEarly: boolean;
  /** Seconds spent writing (after materialization). */
  seconds: number;
  /** Number of processes exported. */
  processes: number;
  stats: PerfettoExportStats;
}

/**
 * Parses a --begin/--end value: a time from the trace's start (`100ms`, `1.5s`, `+250us`:
 * parseRelativeTime, added to `traceStartNs`), an integer (ns since the epoch of the trace's
 * clock) or a timestamp DuckDB can cast to TIMESTAMP_NS ('2026-01-02 03:04:05.123'). Returns ns.
 * @throws UserError naming the option when it is neither.
 */
export async function parseTime(
  engine: Engine,
  option: string,
  text: string,
  traceStartNs: bigint | null = null,
): Promise<bigint> {
  const rel = parseRelativeTime(text);
  if (rel !== null) {
    if (traceStartNs === null) throw new UserError(`${option} '${text}': the exported processes have no events`);
    return traceStartNs + rel;
  }
  if (/^-?[0-9]+$/.test(text.trim())) return BigInt(text.trim());
  try {
    const r = await engine.rows<{ t: bigint }>("SELECT epoch_ns(CAST($v AS TIMESTAMP_NS)) AS t", { v: text });
    return r[0]?.t as bigint;
  } catch {
    throw new UserError(
      `${option} '${text}' is not a time; pass a time from the trace's start (100ms, 1.5s, +250us), nanoseconds (an integer) or a timestamp such as '2026-01-02 03:04:05.123'`,
    );
  }
}

/**
 * Writes a Perfetto trace of the lake's processes as the options say. `engine` has `lake` open
 * (catalog detached); its views are redefined for the export's processes (prepareQuery), as a
 * statement would.
 * @param stdout where `-o -` writes: a file descriptor (the CLI's 1) or a stream.
 * @returns what was written, for the caller's one-line summary.
 * @throws UserError on bad options or no process; SqlError "Interrupted" when `control.cancelled()`
 *   turns true (the output file is then not created; a temporary file is removed).
 */
export async function exportPerfetto(
  engine: Engine,
  lake: Lake,
  opts: ExportPerfettoOptions,
  stdout: number | Writable,
  control: ExportControl = {},
): Promise<ExportSummary> {
  const spans = (opts.spans ?? "both") as SpanTypes;
  if (!["thread", "async", "both"].includes(spans)) {
    throw new UserError(`--spans '${opts.spans}' is not valid; use thread, async or both`);
  }
  if (!opts.output)
    throw new UserError("export perfetto needs -o FILE (a .pftrace or .pftrace.gz file) or -o - for stdout");
  if (!opts.all && (opts.process ?? []).length === 0 && (opts.trace ?? []).length === 0) {
    throw new UserError(
      "export perfetto needs --process P (a process_id, unique prefix, pid:<pid> or name), --trace T or --all",
    );
  }
  const cancelled = control.cancelled ?? (() => false);
  const check = () => {
    if (cancelled()) throw new SqlError("Interrupted");
  };
  const flags = { spans, logs: opts.logs !== false, counters: opts.counters !== false, flows: opts.flows !== false };
  const ids: string[] = [];
  const flowIds: string[] = [];
  let traceStartNs: bigint | null = null;
  await lake.attach(engine, "read");
  try {
    if (opts.all) {
      const r = await engine.rows<{ p: string }>(
        "SELECT process_id AS p FROM lake.processes ORDER BY insert_time, process_id",
      );
      ids.push(...r.map((x) => x.p));
    }
    for (const t of opts.trace ?? []) {
      const trace = await resolveTrace(engine, t, "--trace");
      const r = await engine.rows<{ p: string }>(
        "SELECT process_id AS p FROM lake.processes WHERE ingest_id = $id ORDER BY insert_time, process_id",
        { id: trace.traceId },
      );
      for (const x of r) if (!ids.includes(x.p)) ids.push(x.p);
    }
    for (const p of opts.process ?? []) {
      const id = await resolveProcess(engine, p, "--process");
      if (!ids.includes(id)) ids.push(id);
    }
    if (flags.flows && ids.length > 0) {
      // The other processes of their ingests: edges leaving an exported process live in the
      // flows instance of the process they arrive in.
      const r = await engine.rows<{ p: string }>(
        `SELECT process_id AS p FROM lake.processes WHERE ingest_id IN
           (SELECT ingest_id FROM lake.processes WHERE list_contains($ids::JSON::VARCHAR[], process_id))
         ORDER BY process_id`,
        { ids: JSON.stringify(ids) },
      );
      flowIds.push(...r.map((x) => x.p));
    }
    if (ids.length > 0 && [opts.begin, opts.end].some((t) => t !== undefined && parseRelativeTime(t) !== null)) {
      // The start of the exported processes' traces (the earliest one's, for several).
      const r = await engine.rows<{ s: bigint | null }>(
        `SELECT min(start_ts) AS s FROM (${TRACES_SELECT}) WHERE trace_id IN
           (SELECT ingest_id FROM lake.processes WHERE list_contains($ids::JSON::VARCHAR[], process_id))`,
        { ids: JSON.stringify(ids) },
      );
      traceStartNs = r[0]?.s ?? null;
    }
  } finally {
    await lake.detach(engine);
  }
  if (ids.length === 0) throw new UserError(`the lake ${lake.root} has no processes to export; ingest a trace first`);
  const beginNs = opts.begin !== undefined ? await parseTime(engine, "--begin", opts.begin, traceStartNs) : null;
  const endNs = opts.end !== undefined ? await parseTime(engine, "--end", opts.end, traceStartNs) : null;
  await prepareQuery(engine, lake, perfettoPrepareSql(ids, flags, flowIds), {
    onProgress: (done, total, what) => {
      check();
      control.onProgress?.(done, total, what);
    },
  });
  check();
  // log_entries and measures files are written in time order (their transforms sort by time).
  const ordered = new Map<string, Set<string>>();
  for (const vs of [...(flags.logs ? [logEntries] : []), ...(flags.counters ? [measures] : [])]) {
    for (const id of await instancesInTimeOrder(engine, vs)) {
      let set = ordered.get(id);
      if (!set) {
        set = new Set();
        ordered.set(id, set);
      }
      set.add(vs.name);
    }
  }
  const stats = emptyStats();
  const out = opts.output;
  const target: TraceTarget =
    out === "-" ? (typeof stdout === "number" ? { fd: stdout } : { stream: stdout }) : { path: out };
  const produced = perfettoChunks(
    engine,
    {
      ...flags,
      processes: ids.map((processId) => ({ processId, instanceKey: processId, inTimeOrder: ordered.get(processId) })),
      flowProcesses: flowIds.map((processId) => ({ processId, instanceKey: processId })),
      lakeRoot: lake.root,
      beginNs,
      endNs,
      args: opts.args !== false,
      reuseChunks: writesBeforeNextPull(target),
    },
    stats,
  );
  async function* chunks(): AsyncGenerator<Uint8Array> {
    for await (const c of produced) {
      check();
      yield c;
    }
  }
  const t0 = performance.now();
  const w = await writeTrace(chunks(), target);
  return {
    output: out,
    gzip: w.gzip,
    closedEarly: w.closedEarly,
    seconds: (performance.now() - t0) / 1000,
    processes: ids.length,
    stats,
  };
}
