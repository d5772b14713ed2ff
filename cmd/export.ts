/**
 * `tracelake export perfetto --process P [--all] [--begin T] [--end T] [--spans thread|async|both]
 * [--no-logs] [--no-counters] [--no-flows] [--no-args] -o FILE|-`: writes a Perfetto trace
 * (lib/perfetto/export.ts) to a file (`.gz` → gzip) or stdout, streaming with backpressure.
 * A regular file is written under a temporary name and renamed when complete (a device or FIFO
 * such as /dev/null is written in place); a closed stdout (EPIPE,
 * e.g. `| head -c 100`) ends the export with exit code 0.
 *
 * The REPL's `.export perfetto ...` runs the same code (`exportPerfetto`) on its own engine with
 * the same options (`EXPORT_PERFETTO_OPTIONS` of lib/perfetto/export.ts, parsed by `parseExportPerfettoArgs`).
 */
import { createWriteStream, existsSync, renameSync, rmSync, statSync } from "node:fs";
import { Readable, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import type { Engine } from "../lib/duck/engine.ts";
import { ExitCode, SqlError, UserError } from "../lib/errors.ts";
import type { Lake } from "../lib/lake/lake.ts";
import { emptyStats, perfettoChunks, perfettoPrepareSql, type SpanTypes } from "../lib/perfetto/export.ts";
import { prepareQuery, resolveProcess } from "../lib/sql/query.ts";
import { bytes, count, type GlobalOptions, jitProgress, openLake } from "./common.ts";
import type { ExportPerfettoOptions } from "./export_options.ts";

/**
 * Parses a --begin/--end value: an integer (ns since the epoch of the trace's clock) or a
 * timestamp DuckDB can cast to TIMESTAMP_NS ('2026-01-02 03:04:05.123'). Returns ns.
 * @throws UserError naming the option when it is neither.
 */
export async function parseTime(engine: Engine, option: string, text: string): Promise<bigint> {
  if (/^-?[0-9]+$/.test(text.trim())) return BigInt(text.trim());
  try {
    const r = await engine.rows<{ t: bigint }>("SELECT epoch_ns(CAST($v AS TIMESTAMP_NS)) AS t", { v: text });
    return r[0]?.t as bigint;
  } catch {
    throw new UserError(
      `${option} '${text}' is not a time; pass nanoseconds (an integer) or a timestamp such as '2026-01-02 03:04:05.123'`,
    );
  }
}

/** How an export reports and stops: JIT progress, and a cancellation check (REPL Ctrl-C). */
export interface ExportControl {
  onProgress?: (done: number, total: number, what: string) => void;
  /** True when the export must stop; checked between partitions and between chunks. */
  cancelled?: () => boolean;
}

/** Runs the command; returns the exit code. */
export async function exportPerfettoCommand(opts: ExportPerfettoOptions, g: GlobalOptions): Promise<number> {
  const { engine, lake } = await openLake(g, false);
  const progress = jitProgress();
  try {
    await exportPerfetto(engine, lake, opts, { onProgress: progress.onProgress });
    return ExitCode.ok;
  } finally {
    progress.stop();
    engine.close();
  }
}

/**
 * Writes a Perfetto trace of the lake's processes as the options say (see the file comment) and
 * prints its one-line summary on stderr. `engine` has `lake` open (catalog detached); its views
 * are redefined for the export's processes (prepareQuery), as a statement would.
 * @throws UserError on bad options or no process; SqlError "Interrupted" when `control.cancelled()`
 *   turns true (the output file is then not created; a temporary file is removed).
 */
export async function exportPerfetto(
  engine: Engine,
  lake: Lake,
  opts: ExportPerfettoOptions,
  control: ExportControl = {},
): Promise<void> {
  const spans = (opts.spans ?? "both") as SpanTypes;
  if (!["thread", "async", "both"].includes(spans)) {
    throw new UserError(`--spans '${opts.spans}' is not valid; use thread, async or both`);
  }
  if (!opts.output)
    throw new UserError("export perfetto needs -o FILE (a .pftrace or .pftrace.gz file) or -o - for stdout");
  if (!opts.all && (!opts.process || opts.process.length === 0)) {
    throw new UserError("export perfetto needs --process P (a process_id, unique prefix, pid:<pid> or name) or --all");
  }
  const cancelled = control.cancelled ?? (() => false);
  const check = () => {
    if (cancelled()) throw new SqlError("Interrupted");
  };
  const flags = { spans, logs: opts.logs !== false, counters: opts.counters !== false, flows: opts.flows !== false };
  const ids: string[] = [];
  await lake.attach(engine, "read");
  try {
    if (opts.all) {
      const r = await engine.rows<{ p: string }>(
        "SELECT process_id AS p FROM lake.processes ORDER BY insert_time, process_id",
      );
      ids.push(...r.map((x) => x.p));
    }
    for (const p of opts.process ?? []) {
      const id = await resolveProcess(engine, p, "--process");
      if (!ids.includes(id)) ids.push(id);
    }
  } finally {
    await lake.detach(engine);
  }
  if (ids.length === 0) throw new UserError(`the lake ${lake.root} has no processes to export; ingest a trace first`);
  const beginNs = opts.begin !== undefined ? await parseTime(engine, "--begin", opts.begin) : null;
  const endNs = opts.end !== undefined ? await parseTime(engine, "--end", opts.end) : null;
  await prepareQuery(engine, lake, perfettoPrepareSql(ids, flags), {
    onProgress: (done, total, what) => {
      check();
      control.onProgress?.(done, total, what);
    },
  });
  check();
  const stats = emptyStats();
  const produced = perfettoChunks(
    engine,
    {
      ...flags,
      processes: ids.map((processId) => ({ processId, instanceKey: processId })),
      lakeRoot: lake.root,
      beginNs,
      endNs,
      args: opts.args !== false,
    },
    stats,
  );
  async function* chunks(): AsyncGenerator<Uint8Array> {
    for await (const c of produced) {
      check();
      yield c;
    }
  }
  const out = opts.output;
  const gzip = out !== "-" && out.endsWith(".gz");
  const t0 = performance.now();
  if (out === "-") {
    try {
      await pipeline(Readable.from(chunks()), process.stdout as Writable);
    } catch (e) {
      if ((e as { code?: string }).code === "EPIPE") return;
      throw e;
    }
  } else if (existsSync(out) && !statSync(out).isFile()) {
    // A device or FIFO (/dev/null, a named pipe): written in place.
    const file = createWriteStream(out);
    if (gzip) await pipeline(Readable.from(chunks()), createGzip(), file);
    else await pipeline(Readable.from(chunks()), file);
  } else {
    const tmp = `${out}.tmp-${process.pid}`;
    try {
      const file = createWriteStream(tmp);
      if (gzip) await pipeline(Readable.from(chunks()), createGzip(), file);
      else await pipeline(Readable.from(chunks()), file);
      renameSync(tmp, out);
    } catch (e) {
      rmSync(tmp, { force: true });
      throw e;
    }
  }
  const s = (performance.now() - t0) / 1000;
  process.stderr.write(
    `${out === "-" ? "stdout" : out}: ${count(stats.packets)} packets, ${bytes(stats.bytes)}${gzip ? " before gzip" : ""} in ${s.toFixed(2)} s; ` +
      `${count(stats.threadSlices)} thread slices (${count(stats.overlapSlices)} on overlap tracks), ${count(stats.asyncSlices)} async slices, ` +
      `${count(stats.counters)} counter values, ${count(stats.logs)} logs, ${count(stats.flowPoints)} flow points; ${count(ids.length)} process(es)\n`,
  );
}
