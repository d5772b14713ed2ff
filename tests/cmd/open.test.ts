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
import { CHROMIUM, launchChromium, within } from "../chromium.ts";
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

/** Starts `tracelake open ...`; resolves the first URL it prints on stderr. */
function startOpen(args: string[], env: Record<string, string>): { proc: Bun.Subprocess; url: Promise<string> } {
  const proc = Bun.spawn([BUN, join(ROOT, "main.ts"), "--lake", lake, "open", ...args], {
    env: { ...process.env, NO_COLOR: "1", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const url = (async () => {
    let text = "";
    const reader = (proc.stderr as ReadableStream<Uint8Array>).getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`tracelake open ended before printing a URL: ${text}`);
      text += new TextDecoder().decode(value);
      const m = text.match(/(https?:\/\/\S+)/);
      if (m) {
        reader.releaseLock();
        return m[1] as string;
      }
    }
  })();
  return { proc, url };
}

const tmpOpenDirs = (): string[] => readdirSync(tmpdir()).filter((d) => d.startsWith("tracelake-open-"));

describe("tracelake open", () => {
  let standIn: ReturnType<typeof Bun.serve> | null = null;
  afterAll(() => {
    void standIn?.stop(true);
  });

  test.skipIf(!existsSync(CHROMIUM))(
    "the page posts the exported trace to the UI after its PING/PONG handshake (headless Chromium)",
    async () => {
      // The UI's side of the protocol: PONG to PING, then read {perfetto: {buffer, title, fileName}}.
      const ui = startPerfettoUiStandIn();
      standIn = ui.server;
      const received = ui.received;
      const before = tmpOpenDirs().length;
      const { proc, url } = startOpen(["--process", "Browser", "--no-browser"], {
        TRACELAKE_PERFETTO_UI: ui.uiUrl,
      });
      const pageUrl = await within(url, 60_000, "tracelake open's page URL");
      expect(pageUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/[0-9a-f-]{36}\/$/);
      // Only the token path is served.
      expect((await fetch(new URL("/", pageUrl))).status).toBe(404);
      const browser = await launchChromium();
      try {
        const page = await browser.newPage();
        await page.goto(pageUrl);
        await within(Promise.all([page.waitForEvent("popup"), page.click("#open")]), 30_000, "the UI's tab");
        // The page's status line says how far the hand-off went should the UI receive nothing.
        const status = async () => `page status: ${await page.locator("#status").textContent()}`;
        const r = await within(received, 30_000, "the trace posted to the UI", status);
        expect(r).toEqual({
          sha: expected,
          size: readFileSync(join(dir, "browser.pftrace")).length,
          title: "Browser",
          fileName: "Browser.pftrace",
          origin: new URL(pageUrl).origin,
        });
        await page.waitForFunction('document.getElementById("status").textContent.startsWith("Sent")');
        // The command exits once the page has told it the UI has the trace (its POST after the
        // status line): the browser stays open until then, or closing it could cancel that POST
        // and leave the command waiting (a clean-checkout CI run timed out so, twice).
        expect(await within(proc.exited, 30_000, "tracelake open's exit after the page's report", status)).toBe(0);
      } finally {
        await browser.close();
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
