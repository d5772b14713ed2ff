/**
 * `tracelake repl` (and plain `tracelake` on a terminal): an interactive SQL shell over the lake,
 * in the manner of the DuckDB CLI and trace_processor's shell.
 *
 * Every statement goes through `prepareQuery` (lib/sql/query.ts) on its own, so the views it
 * reads are materialized just in time and it sees a fresh snapshot of the catalog (an ingest in
 * another process, or `.ingest` here, is visible to the next statement). With stdin not a
 * terminal it runs the statements it reads without prompts and stops at the first error.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { resolve } from "node:path";
import * as readline from "node:readline";
import pc from "picocolors";
import type { Engine } from "../lib/duck/engine.ts";
import { ExitCode, LakeError, messageOf, SqlError, UserError } from "../lib/errors.ts";
import type { Lake } from "../lib/lake/lake.ts";
import { layoutOf } from "../lib/lake/layout.ts";
import { complete, connectionSource } from "../lib/repl/complete.ts";
import { closestCommand, DOT_COMMANDS, type DotLine, parseDotLine } from "../lib/repl/dot.ts";
import { appendHistory, HISTORY_SIZE, historyPath, loadHistory } from "../lib/repl/history.ts";
import { oneLine, splitStatements } from "../lib/repl/split.ts";
import {
  countProcesses,
  describeRelation,
  listSchemas,
  listTables,
  openSessionCatalog,
  PROCESSES_SQL,
  partitionsSql,
  type Rows,
} from "../lib/sql/catalog.ts";
import { copyResultTo, fileFormat } from "../lib/sql/copy_to.ts";
import { exportPerfetto } from "../lib/sql/export_perfetto.ts";
import { OUTPUT_FORMATS, type OutputFormat } from "../lib/sql/format.ts";
import { prepareQuery, QUERY_VIEWS, runStatements } from "../lib/sql/query.ts";
import { count, type GlobalOptions, jitProgress, lakeDir, openEngine, openLake } from "./common.ts";
import { checkTraceFileName, exportSummaryLine } from "./export.ts";
import { parseExportPerfettoArgs } from "./export_options.ts";
import { gcCommand } from "./gc.ts";
import { ingestCommand } from "./ingest.ts";
import { closeFileOut, openFileOut, type PrintOptions, printResult, printRunTime, Stdout } from "./output.ts";
import { parseMaxWidth } from "./query.ts";
import { installReverseSearch } from "./repl_editor.ts";

const PROMPT = "tracelake> ";
const CONTINUATION = "      ...> ";

/** Outcome of one statement or dot-command. */
type Outcome = "ok" | "error" | "quit";

/** Options of `repl`. */
export interface ReplOptions {
  /** A file of statements and dot-commands run first (`tracelake repl script.sql`). */
  script?: string;
  /** Trace files ingested (when new) before the REPL opens (`tracelake trace.json`). */
  traces?: string[];
}

/**
 * Runs the REPL; returns the exit code. With `opts.script`, runs it first (stopping at its first
 * error), then reads the terminal (or, stdin not a terminal, the rest of the script on stdin).
 */
export async function replCommand(g: GlobalOptions, version: string, opts: ReplOptions = {}): Promise<number> {
  if (opts.script !== undefined) {
    try {
      readFileSync(opts.script);
    } catch (e) {
      throw new UserError(`cannot read ${opts.script}: ${messageOf(e)}`, ExitCode.noInput);
    }
  }
  if (opts.traces && opts.traces.length > 0) {
    const code = await ingestCommand(opts.traces, { next: false }, g);
    if (code !== ExitCode.ok) return code;
  }
  const interactive = process.stdin.isTTY === true;
  const session = new Session(g, interactive);
  try {
    await session.openLake(lakeDir(g));
    return interactive ? await interactiveLoop(session, version, opts.script) : await scriptLoop(session, opts.script);
  } finally {
    await session.close();
  }
}

/** True when `dir` holds a lake (its catalog file). */
function hasLake(dir: string): boolean {
  return existsSync(layoutOf(resolve(dir)).catalog);
}

/**
 * Where results go besides the terminal: a file written in `format` (null: the `.mode`), or a
 * Parquet file DuckDB's COPY writes (`.once out.parquet`).
 */
type Target = { out: Stdout; format: OutputFormat | null } | { parquet: string };

/** What a REPL session holds: the engine, the output settings, the statement being typed. */
class Session {
  mode: OutputFormat = "table";
  maxRows = 40;
  /** `.maxwidth`: null for the terminal's width, 0 for no limit. */
  maxWidth: number | null = null;
  headers = true;
  nullValue = "NULL";
  timer: boolean;
  private out = new Stdout(process.stdout, !process.stdout.isTTY);
  private once: Target | null = null;
  private fileOut: Target | null = null;
  /** A statement is running (Ctrl-C interrupts it). */
  running = false;
  /** Aborts the `.ingest` running, if any (Ctrl-C). */
  private dotAbort: AbortController | null = null;
  private cancelled = false;
  /** Entries newest first (readline's array, shared with the editor). */
  history: string[] = [];

  /** The engine statements run on; replaced by `.open`. */
  engine!: Engine;
  /** The lake, or null until one exists (`.ingest` creates it at `dir`). */
  lake: Lake | null = null;
  /** The lake directory (the lake's, or where `.ingest` creates it). */
  dir = "";
  /** Called with the new engine after `.open` (the completion's connection follows it). */
  onEngine: (engine: Engine) => Promise<void> = async () => undefined;
  private readonly g: GlobalOptions;

  constructor(
    g: GlobalOptions,
    readonly interactive: boolean,
  ) {
    this.g = { ...g };
    this.timer = interactive;
  }

  /**
   * Opens the lake at `dir` on a new engine (closing the previous one) and defines the catalog
   * views, raw_events and placeholder JIT views (lib/sql/catalog.ts `openSessionCatalog`), so
   * completion and `.schema` know every view's columns. With no lake there yet (a new or empty
   * directory) the session runs plain SQL until `.ingest` creates it.
   * @throws LakeError when `dir` is something else than a lake or an empty directory.
   */
  async openLake(dir: string): Promise<void> {
    const g = { ...this.g, lake: resolve(dir) };
    let engine: Engine;
    let lake: Lake | null = null;
    if (hasLake(dir)) {
      ({ engine, lake } = await openLake(g, false));
    } else {
      if (existsSync(dir) && (!statSync(dir).isDirectory() || readdirSync(dir).length > 0)) {
        throw new LakeError(
          `${dir} is not a tracelake lake (no catalog.duckdb); name a lake or a new or empty directory`,
        );
      }
      engine = await openEngine();
    }
    try {
      if (lake) await openSessionCatalog(engine, lake);
    } catch (e) {
      engine.close();
      throw e;
    }
    const old = this.engine;
    this.engine = engine;
    this.lake = lake;
    this.dir = g.lake;
    this.g.lake = g.lake;
    if (old) {
      await this.onEngine(engine);
      old.close();
    }
  }

  /** The banner's words after the version: the lake, its processes, or that there is none yet. */
  async banner(): Promise<string> {
    if (!this.lake)
      return `no lake yet at ${this.dir} (.ingest FILE creates it, .open DIR opens another) · ".help" for help\n`;
    const n = await countProcesses(this.engine);
    return `lake ${this.lake.root} · ${count(n)} processes · ".help" for help\n`;
  }

  /** The lake, or a UserError saying there is none yet and how to make one. */
  needLake(): Lake {
    if (this.lake) return this.lake;
    throw new UserError(`no lake yet at ${this.dir}: .ingest FILE creates it, .open DIR opens another`);
  }

  async close(): Promise<void> {
    await this.closeFile();
    this.engine?.close();
  }

  /** Interrupts the running statement or `.ingest` (Ctrl-C). */
  interrupt(): void {
    this.dotAbort?.abort();
    if (!this.running) return;
    this.cancelled = true;
    this.engine.interrupt();
  }

  /** Runs one SQL statement and prints its result; errors print one line. */
  async runSql(stmt: string): Promise<Outcome> {
    const t0 = performance.now();
    this.running = true;
    this.cancelled = false;
    const progress = jitProgress();
    try {
      try {
        // Ctrl-C during materialization: the JIT calls onProgress before each partition it
        // writes; throwing there stops it, and it deletes the files it wrote but did not commit.
        if (this.lake)
          await prepareQuery(this.engine, this.lake, stmt, {
            onProgress: (done, total, what) => {
              if (this.cancelled) throw new SqlError("Interrupted");
              progress.onProgress(done, total, what);
            },
          });
      } finally {
        progress.stop();
      }
      if (this.cancelled) throw new SqlError("Interrupted");
      const target = this.once ?? this.fileOut;
      if (target && "parquet" in target) {
        await copyResultTo(this.engine, this.needLake(), stmt, target.parquet);
        this.printTime(t0);
        return "ok";
      }
      const out = target?.out ?? this.out;
      for await (const st of runStatements(this.engine, stmt)) {
        if (st.empty) {
          for await (const _ of st.chunks()) {
            // drain
          }
          continue;
        }
        await printResult(out, target?.format ?? this.mode, st, this.printOptions(out));
      }
      this.printTime(t0);
      return "ok";
    } catch (e) {
      if (this.cancelled) {
        process.stderr.write(`${pc.yellow("Interrupted")}\n`);
        this.printTime(t0);
      } else this.error(e);
      return "error";
    } finally {
      this.running = false;
      if (this.once) {
        await this.closeOnce();
      }
    }
  }

  /**
   * `.export perfetto ...`: `tracelake export perfetto` (lib/sql/export_perfetto.ts) with the same options, on
   * this session's engine; Ctrl-C stops it (materialization or writing) and leaves no file.
   */
  private async exportPerfetto(args: string[]): Promise<Outcome> {
    const t0 = performance.now();
    const opts = parseExportPerfettoArgs(args);
    if (!opts.output) throw new UserError(".export perfetto needs -o FILE (a .pftrace or .pftrace.gz file)");
    checkTraceFileName(opts.output);
    if (opts.output === "-")
      throw new UserError(
        ".export perfetto writes to a file (-o FILE); for stdout use `tracelake export perfetto -o -` in the shell",
      );
    this.running = true;
    this.cancelled = false;
    const progress = jitProgress();
    try {
      const s = await exportPerfetto(this.engine, this.needLake(), opts, process.stdout.isTTY ? process.stdout : 1, {
        onProgress: progress.onProgress,
        cancelled: () => this.cancelled,
      });
      process.stderr.write(exportSummaryLine(s));
      this.printTime(t0);
      return "ok";
    } catch (e) {
      if (!this.cancelled) throw e;
      process.stderr.write(`${pc.yellow("Interrupted")}\n`);
      this.printTime(t0);
      return "error";
    } finally {
      progress.stop();
      this.running = false;
    }
  }

  private printTime(t0: number): void {
    if (this.timer) printRunTime(t0, pc.dim);
  }

  /** How results written to `out` are printed: the session's settings; the width only on the terminal. */
  private printOptions(out: Stdout): PrintOptions {
    const terminal = out === this.out && process.stdout.isTTY;
    return {
      maxRows: this.maxRows,
      maxWidth: this.maxWidth === null ? (terminal ? process.stdout.columns : undefined) : this.maxWidth || undefined,
      headers: this.headers,
      nullValue: this.nullValue,
    };
  }

  /**
   * Prints an error: a SQL error or a sentence of ours whole (DuckDB's "Candidate bindings" and
   * `LINE 1` caret, as `tracelake query` shows them); anything unexpected as its first line.
   */
  error(e: unknown): void {
    const msg = e instanceof UserError || typeof e === "string" ? messageOf(e) : (messageOf(e).split("\n")[0] ?? "");
    process.stderr.write(`${pc.red("Error:")} ${msg}\n`);
    if (this.g.verbose && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
  }

  /** Runs a dot-command line. */
  async runDot(text: string, feedFile: (path: string) => Promise<Outcome>): Promise<Outcome> {
    let d: DotLine;
    try {
      d = parseDotLine(text);
    } catch (e) {
      this.error(e);
      return "error";
    }
    if (!d.command) {
      const near = closestCommand(d.name);
      this.error(`unknown command .${d.name}${near ? `; did you mean .${near}?` : ""} (.help lists the commands)`);
      return "error";
    }
    const arg = d.args[0];
    const bad = (msg: string): Outcome => {
      this.error(`.${d.command?.name}: ${msg}`);
      return "error";
    };
    try {
      switch (d.command.name) {
        case "help":
          await this.out.write(helpText());
          return "ok";
        case "quit":
          return "quit";
        case "tables":
          return await this.printRows(await listTables(this.engine, this.needLake()));
        case "schema":
          return arg ? await this.printRows(await describeRelation(this.engine, arg)) : await this.schemas();
        case "processes":
          this.needLake();
          return await this.runSql(PROCESSES_SQL);
        case "partitions":
          this.needLake();
          return await this.runSql(partitionsSql({ view: d.args }));
        case "open":
          if (!arg) return bad("takes a lake directory");
          await this.openLake(arg);
          await this.out.write(await this.banner());
          return "ok";
        case "mode":
          if (!arg) {
            await this.out.write(`${this.mode}\n`);
            return "ok";
          }
          if (!OUTPUT_FORMATS.includes(arg as OutputFormat)) return bad(`use one of ${OUTPUT_FORMATS.join(", ")}`);
          this.mode = arg as OutputFormat;
          return "ok";
        case "maxrows": {
          const n = Number(arg);
          if (!arg || !Number.isInteger(n) || n < 0)
            return bad(`takes a whole number of rows, got ${arg ?? "nothing"}`);
          this.maxRows = n;
          return "ok";
        }
        case "maxwidth":
          if (!arg) return bad("takes a whole number of columns (0: no limit)");
          this.maxWidth = parseMaxWidth(arg, ".maxwidth") ?? 0;
          return "ok";
        case "timer":
        case "headers":
          if (arg !== "on" && arg !== "off") return bad("takes on or off");
          if (d.command.name === "timer") this.timer = arg === "on";
          else this.headers = arg === "on";
          return "ok";
        case "nullvalue":
          this.nullValue = d.args.join(" ");
          return "ok";
        case "print":
          await (this.currentOut() ?? this.out).write(`${d.args.join(" ")}\n`);
          return "ok";
        case "shell": {
          // As the DuckDB shell's .shell/.system: the words joined, run by the system shell, its
          // output straight to the terminal (or whatever stdout is).
          if (d.args.length === 0) return bad("takes a command");
          const cmd = d.args.join(" ");
          const child = Bun.spawn(process.platform === "win32" ? ["cmd", "/c", cmd] : ["/bin/sh", "-c", cmd], {
            stdio: ["inherit", "inherit", "inherit"],
          });
          const code = await child.exited;
          if (code !== 0) process.stderr.write(`${pc.dim(`(exit ${code})`)}\n`);
          return "ok";
        }
        case "output":
          await this.closeFile();
          if (arg && fileFormat(arg) === "parquet")
            return bad(`a Parquet file holds one result: use .once ${arg} before the statement`);
          if (arg) this.fileOut = await openTarget(arg);
          return "ok";
        case "once":
          if (!arg) return bad("takes a file name");
          await this.closeOnce();
          this.once = await openTarget(arg);
          return "ok";
        case "read":
          if (!arg) return bad("takes a file name");
          return await feedFile(arg);
        case "ingest":
          if (d.args.length === 0) return bad("takes one or more trace files");
          this.dotAbort = new AbortController();
          try {
            const code = await ingestCommand(d.args, { next: false }, this.g, this.dotAbort.signal);
            // The first ingest created the lake: the session opens it.
            if (!this.lake && hasLake(this.dir)) await this.openLake(this.dir);
            return code === ExitCode.ok ? "ok" : "error";
          } finally {
            this.dotAbort = null;
          }
        case "export":
          if (arg !== "perfetto") return bad(`exports perfetto: .export perfetto --process P|--all -o FILE [options]`);
          return await this.exportPerfetto(d.args.slice(1));
        case "gc":
          this.needLake();
          return (await gcCommand({}, this.g)) === ExitCode.ok ? "ok" : "error";
        case "history": {
          const h = [...this.history].reverse();
          await this.out.write(h.map((e, i) => `${String(i + 1).padStart(5)}  ${e}\n`).join(""));
          return "ok";
        }
      }
    } catch (e) {
      this.error(e);
      return "error";
    }
    return "ok";
  }

  /**
   * The file a dot-command's output goes to (`.once`, else `.output`), or null for the terminal.
   * @throws UserError when it is a Parquet file (`.once x.parquet` takes a statement's result).
   */
  private currentOut(): Stdout | null {
    const target = this.once ?? this.fileOut;
    if (target && "parquet" in target)
      throw new UserError(`.once ${target.parquet} writes the next SQL statement's result, not a dot-command's`);
    return target?.out ?? null;
  }

  private async printRows({ columns, rows }: Rows): Promise<Outcome> {
    const out = this.currentOut() ?? this.out;
    async function* one(): AsyncGenerator<unknown[][]> {
      yield rows;
    }
    const target = this.once ?? this.fileOut;
    const format = target && "out" in target && target.format ? target.format : this.mode;
    await printResult(
      out,
      format,
      { columns, chunks: one },
      { ...this.printOptions(out), maxRows: Number.MAX_SAFE_INTEGER },
    );
    if (this.once) await this.closeOnce();
    return "ok";
  }

  /** `.schema` without a name: the columns of every view and table, one line each. */
  private async schemas(): Promise<Outcome> {
    const rows = await listSchemas(this.engine);
    await (this.currentOut() ?? this.out).write(rows.map((r) => `${r.name}(${r.columns})\n`).join(""));
    if (this.once) await this.closeOnce();
    return "ok";
  }

  private async closeOnce(): Promise<void> {
    const o = this.once;
    this.once = null;
    if (o && "out" in o) await closeFileOut(o.out);
  }

  private async closeFile(): Promise<void> {
    const o = this.fileOut;
    this.fileOut = null;
    if (o && "out" in o) await closeFileOut(o.out);
  }
}

/**
 * Opens `.once`/`.output`'s file: a .parquet file is written by COPY when the statement runs; a
 * .csv, .json, .ndjson or .jsonl file gets that format whatever the `.mode`; any other file the
 * `.mode`'s.
 */
async function openTarget(path: string): Promise<Target> {
  const f = fileFormat(path);
  if (f === "parquet") return { parquet: path };
  return { out: await openFileOut(path), format: f };
}

function helpText(): string {
  const w = 22;
  const lines = DOT_COMMANDS.map((c) => {
    const head = `  .${c.name} ${c.args}`;
    return head.length <= w ? `${head.padEnd(w)} ${c.help}` : `${head}\n${" ".repeat(w + 1)}${c.help}`;
  });
  return [
    `SQL statements end with ';' and may span lines. Views: ${Object.keys(QUERY_VIEWS).join(", ")}.`,
    "view_instance('thread_spans', 'PROCESS') reads one process; list_partitions(), list_view_sets().",
    "Tab completes, Up/Down and Ctrl-R search the history, Ctrl-C cancels a running query.",
    ...lines,
    "",
  ].join("\n");
}

/**
 * Feeds input lines to a session: dot-commands at the start of a statement, SQL split at `;`.
 * `onEntry` sees each complete statement or dot-command (for the history).
 */
class Feeder {
  buffer = "";

  constructor(
    private readonly session: Session,
    private readonly stopOnError: boolean,
    private readonly onEntry: (entry: string) => void = () => undefined,
  ) {}

  /** Feeds one line; returns what the last statement or command it completed did. */
  async line(line: string): Promise<Outcome> {
    if (this.buffer === "" && line.trimStart().startsWith(".")) {
      this.onEntry(line.trim());
      return this.session.runDot(line, (p) => this.file(p));
    }
    this.buffer = this.buffer === "" ? line : `${this.buffer}\n${line}`;
    const split = splitStatements(this.buffer);
    this.buffer = split.restBlank ? "" : split.rest;
    let outcome: Outcome = "ok";
    for (const stmt of split.statements) {
      this.onEntry(`${oneLine(stmt)};`);
      outcome = await this.session.runSql(stmt);
      if (outcome === "error" && this.stopOnError) {
        this.buffer = "";
        return outcome;
      }
    }
    return outcome;
  }

  /** Runs what is left in the buffer at the end of the input (a last statement without `;`). */
  async end(): Promise<Outcome> {
    const rest = this.buffer;
    this.buffer = "";
    if (rest.trim() === "") return "ok";
    // A last statement without `;` runs; one cut off inside a string or comment gets DuckDB's
    // parse error.
    this.onEntry(`${oneLine(rest.trim())};`);
    return this.session.runSql(rest);
  }

  /** `.read FILE`: runs the file's lines, stopping at the first error. */
  async file(path: string): Promise<Outcome> {
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (e) {
      this.session.error(`.read: cannot read ${path}: ${messageOf(e)}`);
      return "error";
    }
    const inner = new Feeder(this.session, true);
    for (const l of text.split(/\r?\n/)) {
      const o = await inner.line(l);
      if (o !== "ok") return o;
    }
    return inner.end();
  }
}

/** Stdin is not a terminal: run `script` (if any), then stdin, no prompts, stop at the first error. */
async function scriptLoop(session: Session, script?: string): Promise<number> {
  const feeder = new Feeder(session, true);
  if (script !== undefined) {
    const o = await feeder.file(script);
    if (o === "error") return ExitCode.sql;
    if (o === "quit") return ExitCode.ok;
  }
  const rl = readline.createInterface({ input: process.stdin, terminal: false, crlfDelay: Number.POSITIVE_INFINITY });
  for await (const line of rl) {
    const o = await feeder.line(line);
    if (o === "error") return ExitCode.sql;
    if (o === "quit") return ExitCode.ok;
  }
  return (await feeder.end()) === "error" ? ExitCode.sql : ExitCode.ok;
}

/** The interactive loop: line editing, completion, history, Ctrl-C. */
async function interactiveLoop(session: Session, version: string, script?: string): Promise<number> {
  const histFile = historyPath(process.env);
  session.history = loadHistory(histFile);
  let histWarned = false;
  const feeder = new Feeder(session, false, (entry) => {
    if (session.history[0] === entry) return; // as readline does: no consecutive duplicates
    session.history.unshift(entry);
    if (session.history.length > HISTORY_SIZE) session.history.length = HISTORY_SIZE;
    try {
      appendHistory(histFile, entry);
    } catch (e) {
      if (!histWarned) session.error(`cannot save the history to ${histFile}: ${messageOf(e)}`);
      histWarned = true;
    }
  });
  let completionConn = await session.engine.connect();
  let source = connectionSource(completionConn);
  session.onEngine = async (engine) => {
    completionConn.closeSync();
    completionConn = await engine.connect();
    source = connectionSource(completionConn);
  };
  const rl = readline.createInterface({
    input: process.stdin,
    output: process.stdout,
    terminal: true,
    history: session.history,
    historySize: 0, // entries are added by the feeder: whole statements, not lines
    tabSize: 4,
    completer: (line: string, cb: (err: null, result: [string[], string]) => void) => {
      if (session.running) return cb(null, [[], line]);
      const text = feeder.buffer === "" ? line : `${feeder.buffer}\n${line}`;
      complete(text, source)
        .then((c) => {
          const lineStart = text.length - line.length;
          if (c.start < lineStart) return cb(null, [[], line]);
          cb(null, [c.items, text.slice(c.start)]);
        })
        .catch(() => cb(null, [[], line]));
    },
  });
  // readline keeps the array it was given: make the session's the same one.
  session.history = (rl as unknown as { history: string[] }).history;
  const prompt = (): string => (feeder.buffer === "" ? PROMPT : CONTINUATION);
  installReverseSearch(rl, prompt);

  process.stdout.write(`tracelake ${version} · ${await session.banner()}`);
  // `tracelake repl script.sql`: the script runs first (to its first error), then the prompt.
  if (script !== undefined && (await feeder.file(script)) === "quit") {
    rl.close();
    completionConn.closeSync();
    return ExitCode.ok;
  }

  const queue: string[] = [];
  let busy = false;
  let closed = false;
  let sigintArmed = false;
  let done: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => {
    done = resolve;
  });

  const showPrompt = (): void => {
    rl.setPrompt(prompt());
    rl.prompt();
  };
  const pump = async (): Promise<void> => {
    if (busy) return;
    busy = true;
    try {
      while (queue.length > 0) {
        const line = queue.shift() as string;
        const o = await feeder.line(line);
        if (o === "quit") {
          closed = true;
          rl.close();
          done();
          return;
        }
      }
    } finally {
      busy = false;
    }
    if (closed) done();
    else showPrompt();
  };
  rl.on("line", (line) => {
    sigintArmed = false;
    queue.push(line);
    void pump();
  });
  rl.on("SIGINT", () => {
    if (session.running || busy) {
      queue.length = 0;
      session.interrupt();
      return;
    }
    const r = rl as unknown as { line: string; cursor: number };
    if (r.line !== "" || feeder.buffer !== "") {
      feeder.buffer = "";
      r.line = "";
      r.cursor = 0;
      process.stdout.write("^C\n");
      sigintArmed = false;
      showPrompt();
      return;
    }
    if (sigintArmed) {
      rl.close();
      return;
    }
    sigintArmed = true;
    process.stdout.write("^C\n(press Ctrl-C again, Ctrl-D or type .quit to exit)\n");
    showPrompt();
  });
  rl.on("close", () => {
    closed = true;
    if (session.running) session.interrupt();
    if (!busy) done();
  });
  showPrompt();
  await finished;
  process.stdout.write("\n");
  completionConn.closeSync();
  return ExitCode.ok;
}
