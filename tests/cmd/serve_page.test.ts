/**
 * `tracelake serve`'s page in a real headless Chromium (Debian's /usr/bin/chromium through
 * playwright-core, no browser download): it loads with no external asset, runs a query and shows
 * the table (paged) and a chart, keeps a history, lists the processes, and its "Open in Perfetto"
 * hands the process's trace to a stand-in for ui.perfetto.dev (answers PONG, reports the SHA-256
 * of what it was posted), which must be the bytes of `tracelake export perfetto` of that process.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { CHROMIUM, closeBrowser, launchChromium } from "../chromium.ts";
import { BUN, cli, ROOT, tempDir } from "../helpers.ts";
import { startPerfettoUiStandIn } from "../perfetto_ui_stand_in.ts";

const sha256 = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

const running: Bun.Subprocess[] = [];
let standIn: ReturnType<typeof Bun.serve> | null = null;
afterAll(() => {
  for (const p of running) if (p.exitCode === null) p.kill(9);
  void standIn?.stop(true);
});

describe("tracelake serve's page", () => {
  test.skipIf(!existsSync(CHROMIUM))(
    "query → table that pages and a chart; history; Open in Perfetto posts the process's trace",
    async () => {
      const dir = tempDir("tl-serve-page-");
      const lake = join(dir, "lake");
      expect(cli(lake, ["ingest", join(ROOT, "fixtures/chromium_startup.json.gz")]).code).toBe(0);
      const browserId = (
        JSON.parse(
          cli(lake, ["query", "SELECT process_id FROM processes WHERE exe = 'Browser'", "-f", "json"]).stdout,
        ) as {
          process_id: string;
        }[]
      )[0]?.process_id as string;
      const expectedFile = join(dir, "browser.pftrace");
      expect(cli(lake, ["export", "perfetto", "--process", browserId, "-o", expectedFile]).code).toBe(0);

      const ui = startPerfettoUiStandIn();
      standIn = ui.server;
      // The trace's bytes as the stand-in UI received them.
      const received = ui.received.then(({ sha, size }) => ({ sha, size }));

      const proc = Bun.spawn([BUN, join(ROOT, "main.ts"), "--lake", lake, "serve", "--port", "0"], {
        env: { ...process.env, NO_COLOR: "1", TRACELAKE_PERFETTO_UI: ui.uiUrl },
        stdout: "ignore",
        stderr: "pipe",
      });
      running.push(proc);
      let text = "";
      const reader = (proc.stderr as ReadableStream<Uint8Array>).getReader();
      let pageUrl = "";
      while (pageUrl === "") {
        const { value, done } = await reader.read();
        if (done) throw new Error(`serve ended: ${text}`);
        text += new TextDecoder().decode(value);
        pageUrl = text.match(/page: (http:\/\/127\.0\.0\.1:\d+\/)/)?.[1] ?? "";
      }
      reader.releaseLock();

      const browser = await launchChromium();
      try {
        const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
        const external: string[] = [];
        page.on("request", (r) => {
          if (!r.url().startsWith(pageUrl)) external.push(r.url());
        });
        await page.goto(pageUrl);
        // The sidebar lists the lake's processes, each with its Perfetto link.
        await page.waitForSelector("#processes li");
        expect(await page.locator("#processes li", { hasText: "Browser" }).count()).toBe(1);

        // A query of known rows: 250 rows, 100 a page; two numeric columns chart as a line.
        await page.fill("#sql", "SELECT range AS i, range * range AS sq FROM range(250)");
        await page.click("#run");
        await page.waitForFunction('document.querySelectorAll("#results tbody tr").length === 100');
        expect(await page.locator("#results thead th").allTextContents()).toEqual(["i", "sq"]);
        expect(await page.locator("#pageinfo").textContent()).toBe("page 1 of 3");
        await page.click("#next");
        expect(await page.locator("#results tbody tr >> nth=0 >> td").allTextContents()).toEqual(["100", "10000"]);
        await page.click("#next");
        expect(await page.locator("#results tbody tr").count()).toBe(50);
        expect(await page.locator("#chart").getAttribute("data-kind")).toBe("line");
        expect(await page.locator("#chart canvas").count()).toBe(1);

        // A preset: names and totals → bars; the first row is what `tracelake query` answers.
        await page.click("button[data-sql]:has-text('Busiest span names')");
        await page.waitForFunction('document.getElementById("chart").dataset.kind === "bar"');
        const sql = (await page.locator("#sql").inputValue()) as string;
        const cliRows = JSON.parse(cli(lake, ["query", sql, "-f", "json"]).stdout) as { name: string }[];
        expect(await page.locator("#results tbody tr >> nth=0 >> td >> nth=0").textContent()).toBe(
          cliRows[0]?.name as string,
        );
        expect(await page.locator("#chart canvas").count()).toBe(1);
        // Both queries are in the history, newest first.
        const history = await page.locator("#history option").allTextContents();
        expect(history.slice(1, 3)).toEqual([
          sql.slice(0, 90) + (sql.length > 90 ? "…" : ""),
          "SELECT range AS i, range * range AS sq FROM range(250)",
        ]);
        // The icicle preset: spans of the busiest track, one row of boxes per depth.
        await page.click("button[data-sql]:has-text('Icicle of the busiest thread')");
        await page.waitForFunction('document.getElementById("chart").dataset.kind === "icicle"');
        const icicleSql = (await page.locator("#sql").inputValue()) as string;
        const depth = JSON.parse(
          cli(lake, ["query", `SELECT max(depth)::INT AS d FROM (${icicleSql})`, "-f", "json"]).stdout,
        ) as { d: number }[];
        expect(await page.locator("#chart canvas").getAttribute("height")).toBe(String(((depth[0]?.d ?? 0) + 1) * 18));
        // Tab completes as the REPL does (a view name here).
        await page.fill("#sql", "SELECT * FROM thread_sp");
        await page.focus("#sql");
        await page.keyboard.press("End");
        await page.keyboard.press("Tab");
        await page.waitForFunction('document.getElementById("sql").value === "SELECT * FROM thread_spans"');
        // A bad query shows DuckDB's error, not a table.
        await page.fill("#sql", "SELECT * FROM no_such_view");
        await page.click("#run");
        await page.waitForFunction('document.getElementById("error").textContent.length > 0');
        expect(await page.locator("#error").textContent()).toContain("no_such_view");

        const shot = join(dir, "serve_page.png");
        await page.screenshot({ path: shot, fullPage: true });
        expect(statSync(shot).size).toBeGreaterThan(10_000);
        expect(external).toEqual([]);

        // Open in Perfetto: the hand-off page, then its button posts the trace to the "UI".
        const [handoff] = await Promise.all([
          page.waitForEvent("popup"),
          page.locator("#processes li", { hasText: "Browser" }).locator("a.perfetto").click(),
        ]);
        await handoff.waitForSelector("#open");
        await Promise.all([handoff.waitForEvent("popup"), handoff.click("#open")]);
        expect(await received).toEqual({ sha: sha256(readFileSync(expectedFile)), size: statSync(expectedFile).size });
      } finally {
        await closeBrowser(browser);
      }
      proc.kill("SIGINT");
      expect(await proc.exited).toBe(0);
    },
    120_000,
  );
});
