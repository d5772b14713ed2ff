/**
 * `tracelake query "SQL"` (also `--file FILE`, `-` for stdin, and `tracelake -c "SQL"`): runs SQL
 * over the lake and prints the result as a table, CSV, JSON or another format, or writes it to a
 * file with `-o` (format from the extension: Parquet and CSV by DuckDB's COPY, JSON by the same
 * writer as `-f json`, so that both give one JSON).
 */
import { closeSync, fstatSync, mkdtempSync, openSync, readFileSync, readSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ExitCode, messageOf, UserError } from "../lib/errors.ts";
import { checkOutputPath, copyResultTo, fileFormat } from "../lib/sql/copy_to.ts";
import { OUTPUT_FORMATS, type OutputFormat } from "../lib/sql/format.ts";
import { lexStatements } from "../lib/sql/guard.ts";
import { prepareQuery, runStatements } from "../lib/sql/query.ts";
import { bytes, count, type GlobalOptions, graceMs, jitProgress, openLake, stopOnInterrupt } from "./common.ts";
import { closeFileOut, openFileOut, printResult, printRunTime, Stdout } from "./output.ts";

/** Options of `query`. */
export interface QueryCommandOptions {
  format?: string;
  output?: string;
  maxRows?: string;
  maxWidth?: string;
  file?: string;
  timer?: boolean;
}

/**
 * The SQL to run: the argument, standard input for `-`, or the `--file`'s text.
 * @throws UserError (exit 2) with neither or both, or when the text holds no statement (empty,
 *   or only whitespace, comments and `;`: DuckDB's statement extraction fails on it with "Error in
 *   native callback"); (exit 66) when the file cannot be read.
 */
export async function querySql(sql: string | undefined, file: string | undefined): Promise<string> {
  if (sql !== undefined && file !== undefined)
    throw new UserError("query takes SQL or --file FILE, not both", ExitCode.usage);
  let text: string;
  let source: string;
  if (file !== undefined) {
    try {
      text = readFileSync(file, "utf8");
    } catch (e) {
      throw new UserError(`cannot read ${file}: ${messageOf(e)}`, ExitCode.noInput);
    }
    source = file;
  } else if (sql === undefined) {
    throw new UserError("query needs SQL: an argument, --file FILE, or - to read standard input", ExitCode.usage);
  } else if (sql === "-") {
    text = await Bun.stdin.text();
    source = "standard input";
  } else {
    text = sql;
    source = "the SQL argument";
  }
  if (lexStatements(text).length === 0) {
    throw new UserError(
      `${source} holds no SQL statement (${text.trim() === "" ? "it is empty" : "only comments and ';'"}): pass a statement, e.g. "SELECT count(*) FROM processes"`,
      ExitCode.usage,
    );
  }
  return text;
}

/**
 * A `--max-width`/`.maxwidth` value: columns, 0 for no limit.
 * @returns the width, or undefined for no limit.
 * @throws UserError when it is not a whole number ≥ 0.
 */
export function parseMaxWidth(text: string, what: string): number | undefined {
  const n = Number(text);
  if (text.trim() === "" || !Number.isInteger(n) || n < 0)
    throw new UserError(`${what} takes a whole number of columns (0: no limit), got ${text}`);
  return n === 0 ? undefined : n;
}

/** Runs the command; returns the exit code. */
export async function queryCommand(
  sqlArg: string | undefined,
  opts: QueryCommandOptions,
  g: GlobalOptions,
): Promise<number> {
  const format = (opts.format ?? (process.stdout.isTTY ? "table" : "csv")) as OutputFormat;
  if (!OUTPUT_FORMATS.includes(format)) {
    throw new UserError(`unknown --format ${opts.format}; use one of ${OUTPUT_FORMATS.join(", ")}`);
  }
  const maxRows = opts.maxRows ? Number(opts.maxRows) : 100;
  if (!Number.isInteger(maxRows) || maxRows < 0)
    throw new UserError(`--max-rows must be a whole number, got ${opts.maxRows}`);
  const maxWidth =
    opts.maxWidth !== undefined
      ? parseMaxWidth(opts.maxWidth, "--max-width")
      : process.stdout.isTTY
        ? process.stdout.columns
        : undefined;
  const fileFmt = opts.output === undefined ? null : fileFormat(opts.output);
  if (opts.output !== undefined) {
    if (fileFmt === null)
      throw new UserError(
        `cannot tell the output format of ${opts.output}; use a .parquet, .csv, .json or .ndjson file name`,
      );
    if (opts.format !== undefined && opts.format !== fileFmt)
      throw new UserError(
        `-f ${opts.format} and -o ${opts.output} disagree: -o writes the format its extension names (${fileFmt}); drop -f, or name a .${opts.format} file`,
        ExitCode.usage,
      );
  }
  const sql = await querySql(sqlArg, opts.file);
  // The time after each result: asked for, or on a terminal (as trace_processor's shell prints it).
  const timer = opts.timer === true || (process.stdout.isTTY && process.stderr.isTTY);
  const retiredGraceMs = graceMs();
  let t0 = performance.now();
  const { engine, lake } = await openLake(g, false, {}, true);
  stopOnInterrupt(engine, true);
  try {
    const progress = jitProgress();
    let prepared: Awaited<ReturnType<typeof prepareQuery>>;
    try {
      prepared = await prepareQuery(engine, lake, sql, { onProgress: progress.onProgress, retiredGraceMs });
    } finally {
      progress.stop();
    }
    // Retirement functions: say on stderr what the statement retired (the rows say it per call).
    const rt = prepared.retirement;
    let code: number = ExitCode.ok;
    if (rt) {
      if (rt.rolledBack !== null) {
        process.stderr.write(
          `retirement rolled back, nothing retired by the retire_partition_by_* calls: ${rt.rolledBack}\n`,
        );
        code = ExitCode.sql;
      }
      if (rt.retired > 0 || rt.rolledBack === null) {
        process.stderr.write(
          `retired ${count(rt.retired)} partition${rt.retired === 1 ? "" : "s"}; ${bytes(rt.bytesQueued)} of files queued for deletion by gc after the grace period\n`,
        );
      }
    }
    if (opts.output !== undefined) {
      const n =
        fileFmt === "json" || fileFmt === "ndjson"
          ? await writeJsonFile(engine, lake, sql, opts.output, fileFmt)
          : await copyResultTo(engine, lake, sql, opts.output);
      process.stderr.write(`wrote ${count(n)} rows to ${opts.output}\n`);
      if (timer) printRunTime(t0);
      return code;
    }
    await printStatements(engine, lake, sql, format, { maxRows, maxWidth }, () => {
      if (timer) printRunTime(t0);
      t0 = performance.now();
    });
    return code;
  } finally {
    engine.close();
  }
}

/**
 * Prints the results of `sql`'s statements on standard output in `format`, each once it has run:
 * the CSV of one SELECT by DuckDB's COPY when stdout allows it (csvByCopy), else row by row
 * (printResult; a table shows at most `maxRows` rows, at most `maxWidth` columns wide). Stops
 * quietly when the reader goes away. `query` and `replay`'s final result print through it.
 * @param afterEach called after each result is printed (query's --timer).
 * @throws SqlError (UserError, exit 1) from DuckDB.
 */
export async function printStatements(
  engine: Parameters<typeof copyResultTo>[0],
  lake: Parameters<typeof copyResultTo>[1],
  sql: string,
  format: OutputFormat,
  opts: { maxRows: number; maxWidth: number | undefined },
  afterEach: () => void = () => undefined,
): Promise<void> {
  const byCopy = format === "csv" ? csvByCopy(sql) : null;
  if (byCopy !== null) {
    // DuckDB's CSV writer straight to fd 1: 4x faster than rows through JavaScript (issue 18).
    let copied = true;
    try {
      if (byCopy === "file") await copyThroughTempFile(engine, lake, sql);
      else await copyResultTo(engine, lake, sql, "/dev/stdout", ".csv");
    } catch (e) {
      const msg = messageOf(e);
      // /dev/stdout could not be opened (nothing written): the row-by-row writer below.
      if (/cannot open file "\/dev\/stdout"/i.test(msg)) copied = false;
      // The reader went away (`| head`): the write failed with EPIPE; stop quietly.
      else if (!/broken pipe/i.test(msg)) throw e;
    }
    if (copied) {
      afterEach();
      return;
    }
  }
  const out = new Stdout();
  for await (const st of runStatements(engine, sql)) {
    if (st.empty) {
      for await (const _ of st.chunks()) {
        // drain
      }
      continue;
    }
    await printResult(out, format, st, opts);
    if (out.closed) break;
    afterEach();
  }
}

/**
 * Whether CSV to standard output can be DuckDB's COPY, as `-o FILE.csv` is: one SELECT-like
 * statement (a query's result, nothing to run first) on a system with /dev/stdout, and how:
 * - `device`: stdout a pipe or a character device other than a terminal (/dev/null): COPY to
 *   /dev/stdout.
 * - `file`: stdout a regular file (`> out.csv`, `>> log`) or a socket (what Node's and Bun.spawn's
 *   "pipe" give a child): COPY to a temporary file whose bytes are then written through fd 1.
 *   Linux cannot reopen a socket by name (ENXIO). COPY to /dev/stdout would reopen a file as a
 *   new open file: it truncated an appended file, and wrote from offset 0 while the shell's
 *   descriptor stayed where it was, so what the shell wrote next (`{ tracelake query ...; echo
 *   done; } > out.txt`, or a second query) overwrote the result. Before sockets took this way,
 *   the README's windowed replay (199,046 rows) read by a Bun.spawn "pipe" took 4.5 s and 530 MB
 *   through the row-by-row writer.
 * null otherwise (the row-by-row writer).
 */
function csvByCopy(sql: string): "device" | "file" | null {
  if (process.platform === "win32" || process.stdout.isTTY) return null;
  const body = sql.trim().replace(/;+\s*$/, "");
  if (body.includes(";") || !/^(SELECT|WITH|FROM|VALUES|TABLE)\b/i.test(body)) return null;
  try {
    const st = fstatSync(1);
    if (st.isFIFO() || st.isCharacterDevice()) return "device";
    return st.isFile() || st.isSocket() ? "file" : null;
  } catch {
    return null;
  }
}

/**
 * Writes the CSV of `sql` to stdout through fd 1 (see csvByCopy's `file`): DuckDB's COPY to a
 * file in a new temporary directory, then its bytes in 1 MiB writes (Stdout's: waiting on a
 * full non-blocking socket, stopping quietly when the reader goes away); the directory is removed.
 */
async function copyThroughTempFile(
  engine: Parameters<typeof copyResultTo>[0],
  lake: Parameters<typeof copyResultTo>[1],
  sql: string,
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "tracelake-csv-"));
  try {
    const path = join(dir, "result.csv");
    await copyResultTo(engine, lake, sql, path);
    const fd = openSync(path, "r");
    try {
      const out = new Stdout();
      const buf = Buffer.allocUnsafe(1024 * 1024);
      while (!out.closed) {
        const n = readSync(fd, buf, 0, buf.length, null);
        if (n === 0) break;
        out.writeBytes(buf.subarray(0, n));
      }
    } finally {
      closeSync(fd);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * `-o FILE.json` / `.ndjson`: the result of one statement written by printResult, as `-f json`
 * prints it (one JSON: lib/sql/json_values.ts).
 * @returns the number of rows written.
 */
async function writeJsonFile(
  engine: Parameters<typeof runStatements>[0],
  lake: Parameters<typeof checkOutputPath>[0],
  sql: string,
  path: string,
  format: "json" | "ndjson",
): Promise<number> {
  if (
    sql
      .trim()
      .replace(/;+\s*$/, "")
      .includes(";")
  )
    throw new UserError("-o takes a single SELECT statement");
  checkOutputPath(lake, path);
  const statements = runStatements(engine, sql);
  const first = await statements.next();
  if (first.done) return 0;
  const out = await openFileOut(path);
  try {
    const n = await printResult(out, format, first.value, {
      maxRows: Number.MAX_SAFE_INTEGER,
    });
    await closeFileOut(out);
    return n;
  } catch (e) {
    // A statement failing mid-way leaves no half-written file (as COPY leaves none).
    await closeFileOut(out);
    rmSync(path, { force: true });
    throw e;
  }
}
