/**
 * `tracelake open`: the trace reaches the Perfetto UI byte for byte. The default mode is driven
 * in a real headless Chromium (Debian's /usr/bin/chromium through playwright-core): our page is
 * opened, its button clicked, and a stand-in for ui.perfetto.dev (another origin) answers PONG to
 * the page's PINGs, as the UI does, and reports the SHA-256 of the buffer it was posted. The
 * expected bytes are an `export perfetto` of the same process (the export is deterministic).
 * `--url` is checked with fetch: the CORS header for the UI's origin and the same bytes.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BrowserStepError, BrowserSteps, CHROMIUM, closeBrowser, launchChromium, within } from "../chromium.ts";
import { BUN, cli, ROOT, tempDir } from "../helpers.ts";
import { startPerfettoUiStandIn } from "../perfetto_ui_stand_in.ts";

const sha256 = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

let dir = "";
let lake = "";
let expected = "";

beforeAll(() => {
  dir = tempDir("tl-open-");
  lake = join(dir, "lake");
  expect(cli(lake, ["ingest", join(ROOT, "fixtures/chromium_startup.json.gz")]).code).toBe(0);
  const file = join(dir, "browser.pftrace");
  expect(cli(lake, ["export", "perfetto", "--process", "Browser", "-o", file]).code).toBe(0);
  expected = sha256(readFileSync(file));
});

/**
 * Starts `tracelake open ...`; resolves the first URL it prints on stderr. Its stderr is read to
 * the end, each line given to `onLine` (none when absent).
 */
function startOpen(
  args: string[],
  env: Record<string, string>,
  onLine: (line: string) => void = () => undefined,
): { proc: Bun.Subprocess; url: Promise<string> } {
  const proc = Bun.spawn([BUN, join(ROOT, "main.ts"), "--lake", lake, "open", ...args], {
    env: { ...process.env, NO_COLOR: "1", ...env },
    stdout: "ignore",
    stderr: "pipe",
  });
  let found: (u: string) => void = () => undefined;
  let ended: (e: Error) => void = () => undefined;
  const url = new Promise<string>((resolve, reject) => {
    found = resolve;
    ended = reject;
  });
  void (async () => {
    let text = "";
    let rest = "";
    const decoder = new TextDecoder();
    for await (const chunk of proc.stderr as ReadableStream<Uint8Array>) {
      const s = decoder.decode(chunk, { stream: true });
      text += s;
      const lines = (rest + s).split(/[\r\n]+/);
      rest = lines.pop() ?? "";
      for (const line of lines) if (line) onLine(line);
      const m = text.match(/(https?:\/\/\S+)/);
      if (m) found(m[1] as string);
    }
    if (rest) onLine(rest);
    ended(new Error(`tracelake open ended (exit ${await proc.exited}) before printing a URL: ${text}`));
  })();
  return { proc, url };
}

/** The stand-in UIs the browser test started (stopped after the tests). */
const standIns: ReturnType<typeof Bun.serve>[] = [];

const tmpOpenDirs = (): string[] => readdirSync(tmpdir()).filter((d) => d.startsWith("tracelake-open-"));

/**
 * One hand-off: a new `tracelake open` of the Browser process and a new headless Chromium that
 * clicks its page's button, against a new stand-in UI. Every wait is bounded within `budgetMs`
 * (BrowserSteps); one that is not met throws a BrowserStepError with the steps so far, the
 * command's stderr, the stand-in's requests and the pages' console.
 */
async function handOff(budgetMs: number): Promise<void> {
  const steps = new BrowserSteps(budgetMs, 8_000);
  // The UI's side of the protocol: PONG to PING, then read {perfetto: {buffer, title, fileName}}.
  const ui = startPerfettoUiStandIn((line) => steps.note(`UI stand-in: ${line}`));
  standIns.push(ui.server);
  const { proc, url } = startOpen(
    ["--process", "Browser", "--no-browser"],
    { TRACELAKE_PERFETTO_UI: ui.uiUrl },
    (line) => steps.note(`tracelake open: ${line}`),
  );
  try {
    const pageUrl = await steps.step("tracelake open's page URL", url, 45_000);
    expect(pageUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/[0-9a-f-]{36}\/$/);
    // Only the token path is served.
    expect((await steps.step("GET / of the page's server", fetch(new URL("/", pageUrl)), 10_000)).status).toBe(404);
    const browser = await steps.step("Chromium's launch", launchChromium(Math.min(20_000, steps.left() / 2)), 60_000);
    try {
      browser.on("disconnected", () => steps.note("the browser disconnected"));
      const page = await steps.step("a new page", browser.newPage(), 15_000);
      page.setDefaultTimeout(20_000);
      page.on("console", (m) => steps.note(`page console ${m.type()}: ${m.text()}`));
      page.on("pageerror", (e) => steps.note(`page error: ${e.message}`));
      page.on("crash", () => steps.note("the page crashed"));
      page.on("popup", (tab) => {
        steps.note(`the page opened ${tab.url()}`);
        tab.on("console", (m) => steps.note(`UI tab console ${m.type()}: ${m.text()}`));
        tab.on("pageerror", (e) => steps.note(`UI tab error: ${e.message}`));
        tab.on("crash", () => steps.note("the UI tab crashed"));
      });
      // The page's status line says how far the hand-off went.
      const status = async () => `page status: ${await page.locator("#status").textContent()}`;
      await steps.step("the page's load", page.goto(pageUrl), 20_000);
      await steps.step("the UI's tab", Promise.all([page.waitForEvent("popup"), page.click("#open")]), 20_000, status);
      const r = await steps.step("the trace posted to the UI", ui.received, 30_000, status);
      expect(r).toEqual({
        sha: expected,
        size: readFileSync(join(dir, "browser.pftrace")).length,
        title: "Browser",
        fileName: "Browser.pftrace",
        origin: new URL(pageUrl).origin,
      });
      await steps.step(
        "the page's status line",
        page.waitForFunction('document.getElementById("status").textContent.startsWith("Sent")'),
        15_000,
        status,
      );
      // The command exits once the page has reported that the UI has the trace: the browser
      // stays open until then.
      expect(await steps.step("tracelake open's exit after the page's report", proc.exited, 20_000, status)).toBe(0);
    } finally {
      await closeBrowser(browser);
    }
  } finally {
    // A command still waiting (a stalled attempt): Ctrl-C, on which it removes its temporary
    // files; killed if that does not end it.
    if (proc.exitCode === null) {
      proc.kill("SIGINT");
      await within(proc.exited, 5_000, "tracelake open's exit on Ctrl-C").catch(() => proc.kill(9));
    }
  }
}

describe("tracelake open", () => {
  afterAll(() => {
    for (const s of standIns) void s.stop(true);
  });

  test.skipIf(!existsSync(CHROMIUM))(
    "the page posts the exported trace to the UI after its PING/PONG handshake (headless Chromium)",
    async () => {
      const before = tmpOpenDirs().length;
      try {
        await handOff(55_000);
      } catch (e) {
        // A wait not met (not a wrong result: that fails at once) gets one more attempt, with a
        // new browser and a new command: two clean-checkout CI runs on a loaded machine timed
        // out here once while every other run passed in 3-5 s. The first attempt's steps are
        // printed, so a stall stays visible.
        if (!(e instanceof BrowserStepError)) throw e;
        console.warn(`tracelake open's hand-off: the first attempt stalled, trying once more.\n${e.message}`);
        await handOff(55_000);
      }
      expect(tmpOpenDirs().length).toBe(before);
    },
    120_000,
  );

  test("--url serves the trace on 127.0.0.1:9001 with the UI's CORS header, then exits", async () => {
    const before = tmpOpenDirs().length;
    const { proc, url } = startOpen(["--process", "Browser", "--url", "--no-browser"], {});
    const uiUrl = new URL((await url).replace("#!/?", "?"));
    expect(uiUrl.origin).toBe("https://ui.perfetto.dev");
    const traceUrl = uiUrl.searchParams.get("url") as string;
    expect(traceUrl).toBe("http://127.0.0.1:9001/Browser.pftrace");
    // Another path is not served.
    expect((await fetch("http://127.0.0.1:9001/other.pftrace")).status).toBe(404);
    const res = await fetch(traceUrl, { headers: { Origin: "https://ui.perfetto.dev" } });
    expect(res.headers.get("access-control-allow-origin")).toBe("https://ui.perfetto.dev");
    expect(sha256(new Uint8Array(await res.arrayBuffer()))).toBe(expected);
    expect(await proc.exited).toBe(0);
    expect(tmpOpenDirs().length).toBe(before);
  }, 120_000);
});
