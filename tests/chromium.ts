/**
 * Debian's headless Chromium for the browser tests (tests/cmd/open.test.ts,
 * tests/cmd/serve_page.test.ts), driven by playwright-core (no browser download).
 */
import type { Browser } from "playwright-core";

/** Debian's Chromium (package chromium); the browser tests are skipped without it. */
export const CHROMIUM = "/usr/bin/chromium";

/**
 * Flags that keep Chromium off the network it cannot reach here: the machine's notes
 * (/work/.library/env/machines/node.md) start it so, because without the background-networking
 * flags its connections to Google's hosts are refused, many at a time, at every start.
 */
const ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Most ms a launch may take before it is abandoned and tried once more (playwright's default is 180 s). */
const LAUNCH_TIMEOUT_MS = 30_000;

/**
 * A headless Chromium (CHROMIUM, ARGS, a new empty profile). A launch that has not finished in
 * `timeoutMs` (LAUNCH_TIMEOUT_MS unless given) is tried once more: a browser that never starts is not what these tests
 * test, and without a bound it used up a test's whole timeout with no word of where it hung.
 * @throws playwright's error when the second launch fails too.
 */
export async function launchChromium(timeoutMs = LAUNCH_TIMEOUT_MS): Promise<Browser> {
  const { chromium } = await import("playwright-core");
  const launch = () => chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS, timeout: timeoutMs });
  try {
    return await launch();
  } catch {
    return await launch();
  }
}

/** A browser test's step that was not met in time, or whose wait failed (BrowserSteps.step). */
export class BrowserStepError extends Error {}

/**
 * A browser test's steps against one deadline: each step is bounded by its own limit and by
 * what is left of the test's budget (minus a reserve for closing the browser), and every line
 * of `log` (the steps so far with their times, and what the test adds: the command's stderr,
 * the pages' console) goes into the error of the step that does not finish, so that a test that
 * hangs on a slow machine says where and what it saw instead of using up its timeout in silence.
 */
export class BrowserSteps {
  private readonly start = performance.now();
  /** What happened so far, one line each, with ms since the start. */
  readonly log: string[] = [];

  /**
   * @param budgetMs the test's whole budget, ms (keep it under the test's timeout)
   * @param reserveMs what each step leaves of it for the clean-up (closing the browser), ms
   */
  constructor(
    private readonly budgetMs: number,
    private readonly reserveMs = 10_000,
  ) {}

  /** Adds a line to the log, stamped with the ms since the start. */
  note(line: string): void {
    this.log.push(`${Math.round(performance.now() - this.start)} ms: ${line}`);
  }

  /** Ms left of the budget before the reserve; at least 1. */
  left(): number {
    return Math.max(1, this.budgetMs - this.reserveMs - (performance.now() - this.start));
  }

  /**
   * `promise`'s value, or a BrowserStepError naming `what`, the ms waited, `detail()` (e.g. a
   * page's status line) and the log, once min(`ms`, what is left of the budget) have passed
   * without it settling. A rejection of `promise` becomes a BrowserStepError with the same context.
   */
  async step<T>(what: string, promise: Promise<T>, ms: number, detail?: () => Promise<string>): Promise<T> {
    try {
      const value = await within(promise, Math.round(Math.min(ms, this.left())), what);
      this.note(`${what}: done`);
      return value;
    } catch (e) {
      const more = detail ? await within(detail(), 2_000, "the detail").catch((x) => `(${String(x)})`) : "";
      // within's own error names the step already; a rejection of `promise` is named here.
      const why = e instanceof Error && e.message.startsWith(`${what}: `) ? e.message : `${what}: ${String(e)}`;
      throw new BrowserStepError(`${why}${more ? `; ${more}` : ""}\n${this.log.join("\n")}`);
    }
  }
}

/**
 * Closes `browser`, bounded: a close that has not finished in `ms` is left to playwright's own
 * clean-up at exit (it kills the browsers it launched), so that it cannot use up a test's
 * timeout and hide the error that made the test close it.
 */
export async function closeBrowser(browser: Browser, ms = 8_000): Promise<void> {
  await within(browser.close(), ms, "closing the browser").catch(() => undefined);
}

/** `promise`, or an Error naming `what` once `ms` have passed without it settling. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
