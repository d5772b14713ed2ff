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
 * LAUNCH_TIMEOUT_MS is tried once more: a browser that never starts is not what these tests
 * test, and without a bound it used up a test's whole timeout with no word of where it hung.
 * @throws playwright's error when the second launch fails too.
 */
export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import("playwright-core");
  const launch = () =>
    chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS, timeout: LAUNCH_TIMEOUT_MS });
  try {
    return await launch();
  } catch {
    return await launch();
  }
}

/**
 * `promise`, or an Error naming `what` once `ms` have passed without it settling, so that a
 * browser test that hangs says at which step (and `detail()`, e.g. the page's status line).
 */
export async function within<T>(
  promise: Promise<T>,
  ms: number,
  what: string,
  detail?: () => Promise<string>,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      void (async () => {
        const more = detail ? await detail().catch((e) => `(${String(e)})`) : "";
        reject(new Error(`${what}: nothing after ${ms} ms${more ? `; ${more}` : ""}`));
      })();
    }, ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
