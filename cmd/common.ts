/**
 * What every command shares: resolving the lake directory, opening the engine, and turning
 * errors into one sentence on stderr with a non-zero exit code.
 */
import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import type { Options, SingleBar } from "cli-progress";
import pc from "picocolors";
import { Engine } from "../lib/duck/engine.ts";
import { cacheDir } from "../lib/duck/library_file.ts";
import { ExitCode, escapeControl, InterruptedError, messageOf, UserError } from "../lib/errors.ts";
import { lakeFaultError } from "../lib/lake/fs_errors.ts";
import { Lake, type PauseHook } from "../lib/lake/lake.ts";
import { defaultLakeDir } from "../lib/lake/layout.ts";

/** Global options (before the subcommand). */
export interface GlobalOptions {
  lake?: string;
  verbose?: boolean;
}

/**
 * The lake directory: `--lake`, else `TRACELAKE_LAKE`, else the default data dir.
 * @throws UserError when `--lake` is empty (it would be taken as the current directory).
 */
export function lakeDir(g: GlobalOptions): string {
  if (g.lake !== undefined && g.lake.trim() === "") {
    throw new UserError(
      "--lake takes a directory, got an empty string; pass --lake DIR or leave it out for the default lake",
    );
  }
  return g.lake ?? defaultLakeDir(process.env);
}

/**
 * The root of the lake the command opened (set by `openLake`), so that `reportError` can say
 * which lake a read-only, permission, full-disk or damaged-catalog error is about.
 */
let openedLakeRoot: string | null = null;

/**
 * The test-only pause hook of the crash tests (tests/partitions/crash.test.ts), from the
 * environment: when TRACELAKE_TEST_PAUSE is `<point>:<marker file>`, reaching `<point>` writes
 * the marker file and waits until the process is killed or interrupted (SIGINT), so the test can
 * SIGKILL or interrupt the process at exactly that moment.
 * Not a user feature (the README does not mention it).
 * @param env the environment (process.env).
 * @returns the hook, or undefined when the variable is not set.
 */
export function testPauseHook(env: Record<string, string | undefined>): PauseHook | undefined {
  const spec = env.TRACELAKE_TEST_PAUSE;
  if (!spec) return undefined;
  const i = spec.indexOf(":");
  if (i < 0) return undefined;
  const at = spec.slice(0, i);
  const marker = spec.slice(i + 1);
  return async (point) => {
    if (point !== at) return;
    writeFileSync(marker, point);
    // Until killed, or until Ctrl-C (stopOnInterrupt): then the operation goes on to its stop.
    while (!interrupted()) await Bun.sleep(20);
  };
}

/**
 * Starts DuckDB's instance for the command about to run (Engine.start), before its modules load:
 * the library's load is awaited and the instance created on DuckDB's thread while they do (the
 * caller need not await it: the command's Engine.open does). Never throws (a failure surfaces
 * when the command opens its engine). `threads`: as EngineOptions.threads, the count the
 * command's openLake/openEngine asks for.
 */
export async function startEngine(threads?: number): Promise<void> {
  await Engine.start(cacheDir(process.env), threads);
}

/** Opens an engine (DuckDB unpacked to the cache directory if needed); the caller closes it. */
export async function openEngine(engineOptions: Parameters<typeof Engine.open>[0] = {}): Promise<Engine> {
  return Engine.open({ nativeCacheDir: cacheDir(process.env), ...engineOptions });
}

/**
 * Opens an engine and the lake; the caller closes the engine. `keepAttached`: the caller
 * prepares a query at once (prepareQuery), which reuses the catalog's attachment and detaches it.
 */
export async function openLake(
  g: GlobalOptions,
  create: boolean,
  engineOptions: Parameters<typeof Engine.open>[0] = {},
  keepAttached = false,
): Promise<{ engine: Engine; lake: Lake }> {
  const engine = await openEngine(engineOptions);
  try {
    const dir = lakeDir(g);
    openedLakeRoot = resolve(dir);
    const lake = await Lake.open(engine, dir, { create, keepAttached, pause: testPauseHook(process.env) });
    return { engine, lake };
  } catch (e) {
    engine.close();
    throw e;
  }
}

/**
 * Prints an error as one line (a stack only with --verbose) and returns its exit code. An error
 * about the opened lake's file system or catalog (read-only, not this user's, full, damaged)
 * becomes its LakeError sentence (exit 73). Control characters (from input names or excerpts)
 * are printed escaped, never raw.
 */
export function reportError(e: unknown, verbose: boolean): number {
  if (interrupted()) {
    // Whatever the interrupted operation threw (DuckDB's "Interrupted!", an InterruptedError
    // saying what it left).
    const what = e instanceof InterruptedError ? e.message : "interrupted; nothing was committed";
    process.stderr.write(`${pc.red("error:")} ${escapeControl(what)}\n`);
    if (verbose && e instanceof Error && e.stack) process.stderr.write(`${escapeControl(e.stack)}\n`);
    return ExitCode.interrupted;
  }
  const fault = !(e instanceof UserError) && openedLakeRoot ? lakeFaultError(e, openedLakeRoot) : null;
  if (fault && verbose && e instanceof Error && e.stack) process.stderr.write(`${escapeControl(e.stack)}\n`);
  const err = fault ?? e;
  if (err instanceof UserError) {
    process.stderr.write(`${pc.red("error:")} ${err.message.split("\n").map(escapeControl).join("\n")}\n`);
    if (verbose && err.stack) process.stderr.write(`${err.stack}\n`);
    return err.exitCode;
  }
  process.stderr.write(`${pc.red("error:")} ${escapeControl(messageOf(e).split("\n")[0] ?? "")}\n`);
  if (verbose && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
  else process.stderr.write("(run with --verbose for details)\n");
  return ExitCode.internal;
}

/** Set by the first Ctrl-C of a command that called `stopOnInterrupt`. */
const interruption = new AbortController();

/** True once the user pressed Ctrl-C in a command that called `stopOnInterrupt`. */
export function interrupted(): boolean {
  return interruption.signal.aborted;
}

/**
 * Makes Ctrl-C (SIGINT) stop the command cleanly instead of killing it: the first one aborts
 * `interruptSignal` (ingest checks it between reads, gc between deletions), makes the JIT's
 * progress callback (`jitProgress`) throw before the next partition, and, with `interruptEngine`,
 * interrupts the statement DuckDB is running (a partition's COPY, an export's query); each
 * operation then removes what it had not committed, and `reportError` prints "interrupted;
 * nothing was committed" with exit 130. A second Ctrl-C exits at once (130).
 * Not for the REPL, which handles Ctrl-C itself.
 * @param engine the command's engine.
 * @param interruptEngine interrupt DuckDB's running statement (not during an ingest, whose
 *   commit must not be cut between moving its blobs and its COMMIT).
 * @param hardStop for work that may not look at the signal for a while (an ingest's importer
 *   finishing its batches): from `HARD_STOP_MS` after Ctrl-C, as soon as `safe()` says nothing
 *   is being committed, `cleanup()` runs and the process exits 130 with the sentence.
 * @returns the signal to pass to lib/ (aborted on Ctrl-C).
 */
export function stopOnInterrupt(
  engine: Engine,
  interruptEngine: boolean,
  hardStop?: { safe: () => boolean; cleanup: () => void },
): AbortSignal {
  process.on("SIGINT", () => {
    if (interruption.signal.aborted) process.exit(ExitCode.interrupted);
    interruption.abort();
    if (interruptEngine) engine.interrupt();
    if (hardStop) {
      const t = setInterval(() => {
        if (!hardStop.safe()) return;
        clearInterval(t);
        try {
          hardStop.cleanup();
        } finally {
          process.stderr.write(`${pc.red("error:")} interrupted; nothing was committed\n`);
          process.exit(ExitCode.interrupted);
        }
      }, HARD_STOP_MS);
      t.unref();
    }
  });
  return interruption.signal;
}

/** How long after Ctrl-C a `hardStop` waits for the work to stop on its own, and then polls, in ms. */
const HARD_STOP_MS = 250;

/** Default grace period of retired and orphan files: 1 hour (micromegas's delayed delete). */
export const DEFAULT_GRACE_SECONDS = 3600;

/**
 * The grace period in ms: `option` (seconds, from --grace) when given, else
 * `$TRACELAKE_GRACE_SECONDS`, else 1 hour. Retired partition files are kept that long before gc
 * may delete them, and gc leaves orphan files younger than that.
 * @throws UserError when the value is not a number of seconds ≥ 0.
 */
export function graceMs(option?: string): number {
  const env = process.env.TRACELAKE_GRACE_SECONDS;
  const text = option ?? (env === undefined || env === "" ? undefined : env);
  if (text === undefined) return DEFAULT_GRACE_SECONDS * 1000;
  const s = Number(text);
  if (text.trim() === "" || !Number.isFinite(s) || s < 0) {
    throw new UserError(
      `${option !== undefined ? "--grace" : "TRACELAKE_GRACE_SECONDS"} takes a number of seconds ≥ 0, got '${text}'`,
    );
  }
  return Math.round(s * 1000);
}

/** Formats a byte count as B, kB, MB, GB (SI, as `ls -h --si`). */
export function bytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ["kB", "MB", "GB", "TB"];
  let v = n;
  let u = -1;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`;
}

/**
 * Formats a number as `toLocaleString("en-US")` does ("1,234,567"): a safe integer by hand,
 * anything else by ICU. The first toLocaleString call of a process starts ICU's number
 * formatting, 9-15 ms of an ingest's or export's summary line (bun 1.3, this machine).
 */
export function count(n: number): string {
  if (!Number.isSafeInteger(n)) return n.toLocaleString("en-US");
  const digits = String(Math.abs(n));
  let out = digits.slice(0, ((digits.length - 1) % 3) + 1);
  for (let i = out.length; i < digits.length; i += 3) out += `,${digits.slice(i, i + 3)}`;
  return n < 0 || Object.is(n, -0) ? `-${out}` : out;
}

/**
 * Returns a maker of cli-progress SingleBars, loading the module on first call: only a command
 * whose stderr is a terminal shows a bar, and the module (with readline, string-width and
 * emoji-regex) cost every command ~7 ms to load (compiled binary, measured). The package is CommonJS: a
 * dynamic import of it is `{ default: exports }` in the compiled binary, its exports from source.
 */
export async function progressBars(): Promise<(o: Options) => SingleBar> {
  const m = (await import("cli-progress")) as typeof import("cli-progress") & {
    default?: typeof import("cli-progress");
  };
  const SingleBar = m.SingleBar ?? (m.default as typeof import("cli-progress")).SingleBar;
  return (o) => new SingleBar(o);
}

/**
 * A progress bar on stderr for JIT materialization, shown only on a TTY and only when more
 * than one partition is to be written. Its callback throws InterruptedError after Ctrl-C
 * (`stopOnInterrupt`), which stops the JIT before its next partition (it removes the files it
 * wrote and did not commit). Returns the callback for JitOptions.onProgress and a
 * function that removes the bar.
 */
export function jitProgress(): { onProgress: (done: number, total: number, what: string) => void; stop: () => void } {
  const stopIfInterrupted = (): void => {
    if (interrupted()) throw new InterruptedError("interrupted; nothing was committed");
  };
  if (!process.stderr.isTTY) return { onProgress: stopIfInterrupted, stop: () => undefined };
  let bar: SingleBar | null = null;
  // Loaded now, in the background: the first partition is written before the first callback.
  let newBar: ((o: Options) => SingleBar) | null = null;
  progressBars().then(
    (f) => {
      newBar = f;
    },
    () => undefined,
  );
  return {
    onProgress: (done, total, what) => {
      stopIfInterrupted();
      if (total < 2 || !newBar) return;
      if (!bar) {
        bar = newBar({
          format: "materializing [{bar}] {value}/{total} partitions {what}",
          stream: process.stderr,
          hideCursor: true,
          clearOnComplete: true,
        });
        bar.start(total, done, { what });
      }
      bar.update(done, { what });
      if (done >= total) {
        bar.stop();
        bar = null;
      }
    },
    stop: () => {
      bar?.stop();
      bar = null;
    },
  };
}
