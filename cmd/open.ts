/**
 * `tracelake open [--process P...|--all] [--begin T] [--end T] [export options] [--url]
 * [--no-browser]`: exports to a temporary .pftrace and hands it to the Perfetto UI in one step, as
 * Perfetto's own `open_trace_in_ui` does.
 * - Default: serves a page (lib/perfetto/open_page.ts) and the trace on 127.0.0.1, on a free port
 *   under a random token path, and opens the page in the browser; its "Open in Perfetto" button
 *   posts the trace to ui.perfetto.dev. Exits once the UI has the trace (the page says so).
 * - `--url`: serves the trace on 127.0.0.1:9001 (the one port the UI's Content-Security-Policy
 *   lets it fetch from) with `Access-Control-Allow-Origin` for the UI, and opens
 *   `https://ui.perfetto.dev/#!/?url=http://127.0.0.1:9001/<name>`; exits once it was fetched.
 * Only the token path (or the one file name) is served, on 127.0.0.1 only. The temporary files
 * are removed on exit, Ctrl-C included. TRACELAKE_PERFETTO_UI replaces the UI's URL (tests point
 * it at a stand-in page).
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ExitCode, UserError } from "../lib/errors.ts";
import { openPageHtml } from "../lib/perfetto/open_page.ts";
import { type ExportPerfettoOptions, exportPerfetto } from "../lib/sql/export_perfetto.ts";
import { bytes, type GlobalOptions, jitProgress, openLake } from "./common.ts";
import { EXPORT_ENGINE_THREADS } from "./export_options.ts";

/** The Perfetto UI. */
const PERFETTO_UI = "https://ui.perfetto.dev/#!/";
/** The port the UI may fetch a `?url=` trace from (its CSP: `connect-src http://127.0.0.1:9001`). */
const URL_MODE_PORT = 9001;
/** Above this the UI (a 32-bit WebAssembly heap) may not load a trace. */
const UI_LIMIT_BYTES = 1e9;

/** Options of `open`: the export's, without `-o`, and how to hand the trace over. */
export interface OpenCommandOptions extends Omit<ExportPerfettoOptions, "output"> {
  /** Serve on 127.0.0.1:9001 and open the UI with `?url=` instead of the postMessage page. */
  url?: boolean;
  /** false (`--no-browser`): print the URL only. */
  browser?: boolean;
}

/** Opens `url` in the user's browser (xdg-open, open, start); false when there is no opener. */
function openBrowser(url: string): boolean {
  const cmd =
    process.platform === "darwin"
      ? ["open", url]
      : process.platform === "win32"
        ? ["cmd", "/c", "start", "", url]
        : ["xdg-open", url];
  try {
    const p = Bun.spawn(cmd, { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
    p.unref();
    return true;
  } catch {
    return false;
  }
}

/**
 * Stops `server` once its responses have been written: when it has no request in progress (a
 * response's last bytes may still be on their way after its body's stream ended), at most 10 s,
 * then a graceful stop given at most 3 s (a browser may keep its connection open for reuse long
 * after the last response).
 */
async function stopGracefully(server: {
  pendingRequests: number;
  stop(close?: boolean): Promise<void>;
}): Promise<void> {
  for (let waited = 0; server.pendingRequests > 0 && waited < 10_000; waited += 10) await Bun.sleep(10);
  await Promise.race([server.stop(false), new Promise((r) => setTimeout(r, 3000))]);
}

/** Runs the command; returns the exit code. */
export async function openCommand(opts: OpenCommandOptions, g: GlobalOptions): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "tracelake-open-"));
  const cleanup = (): void => rmSync(dir, { recursive: true, force: true });
  const onSigint = (): void => {
    cleanup();
    process.stderr.write("interrupted\n");
    process.exit(ExitCode.interrupted);
  };
  process.once("SIGINT", onSigint);
  try {
    const name = opts.all
      ? "lake"
      : [...(opts.trace ?? []), ...(opts.process ?? [])].join("+").replace(/[^A-Za-z0-9._+-]+/g, "_") || "trace";
    const fileName = `${name.slice(0, 80) || "trace"}.pftrace`;
    const file = join(dir, fileName);
    const { engine, lake } = await openLake(g, false, { threads: EXPORT_ENGINE_THREADS });
    const progress = jitProgress();
    try {
      await exportPerfetto(engine, lake, { ...opts, output: file }, 1, { onProgress: progress.onProgress });
    } finally {
      progress.stop();
      engine.close();
    }
    const size = statSync(file).size;
    process.stderr.write(`exported ${fileName}: ${bytes(size)}\n`);
    if (size > UI_LIMIT_BYTES) {
      process.stderr.write(
        `warning: ${bytes(size)} is more than the Perfetto UI can load (~1 GB); narrow it with --begin/--end or fewer --process\n`,
      );
    }
    const ui = process.env.TRACELAKE_PERFETTO_UI ?? PERFETTO_UI;
    return opts.url
      ? await serveUrlMode(file, fileName, ui, opts.browser !== false)
      : await servePage(file, fileName, size, ui, opts.browser !== false);
  } finally {
    process.removeListener("SIGINT", onSigint);
    cleanup();
  }
}

/**
 * The default mode: the page and the trace under a random token, until the page reports that
 * the UI has the trace.
 */
async function servePage(file: string, fileName: string, size: number, ui: string, browser: boolean): Promise<number> {
  const token = crypto.randomUUID();
  const base = `/${token}/`;
  let delivered: () => void = () => undefined;
  const done = new Promise<void>((r) => {
    delivered = r;
  });
  const page = openPageHtml({
    uiUrl: ui,
    tracePath: `${base}${encodeURIComponent(fileName)}`,
    sentPath: `${base}sent`,
    title: fileName.replace(/\.pftrace$/, ""),
    fileName,
    size,
  });
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const path = new URL(req.url).pathname;
      if (path === base) return new Response(page, { headers: { "content-type": "text/html; charset=utf-8" } });
      if (path === `${base}${encodeURIComponent(fileName)}`) return new Response(Bun.file(file));
      if (path === `${base}sent` && req.method === "POST") {
        delivered();
        return new Response("ok");
      }
      return new Response("not found", { status: 404 });
    },
  });
  const keepAlive = setInterval(() => undefined, 60_000);
  try {
    const url = `http://127.0.0.1:${server.port}${base}`;
    const opened = browser && openBrowser(url);
    process.stderr.write(
      `${opened ? "opened" : "open"} ${url} ${opened ? "in the browser" : "in a browser"}, and click "Open in Perfetto" (Ctrl-C to stop)\n`,
    );
    await done;
    await stopGracefully(server);
    process.stderr.write("the Perfetto UI has the trace\n");
    return ExitCode.ok;
  } finally {
    clearInterval(keepAlive);
    void server.stop(true);
  }
}

/** `--url`: the trace on 127.0.0.1:9001 for the UI to fetch, until it was fetched once. */
async function serveUrlMode(file: string, fileName: string, ui: string, browser: boolean): Promise<number> {
  const origin = new URL(ui).origin;
  const path = `/${encodeURIComponent(fileName)}`;
  let fetched: () => void = () => undefined;
  const done = new Promise<void>((r) => {
    fetched = r;
  });
  let server: ReturnType<typeof Bun.serve>;
  try {
    server = Bun.serve({
      hostname: "127.0.0.1",
      port: URL_MODE_PORT,
      fetch(req) {
        const cors = { "access-control-allow-origin": origin };
        if (new URL(req.url).pathname !== path) return new Response("not found", { status: 404 });
        if (req.method === "OPTIONS") return new Response(null, { headers: cors });
        // The whole file as one body (Bun sends its length); the command then waits for the
        // server to have no request in progress (stopGracefully) before it exits.
        setTimeout(fetched, 0);
        return new Response(readFileSync(file), { headers: { ...cors, "content-type": "application/octet-stream" } });
      },
    });
  } catch (e) {
    throw new UserError(
      `cannot serve on 127.0.0.1:${URL_MODE_PORT}, the one port the Perfetto UI fetches from (${(e as Error).message}); stop what uses it, or run without --url`,
    );
  }
  const keepAlive = setInterval(() => undefined, 60_000);
  try {
    const url = `${ui}${ui.includes("?") ? "&" : "?"}url=${encodeURIComponent(`http://127.0.0.1:${URL_MODE_PORT}${path}`)}`;
    const opened = browser && openBrowser(url);
    process.stderr.write(`${opened ? "opened" : "open"} ${url}${opened ? " in the browser" : ""} (Ctrl-C to stop)\n`);
    await done;
    await stopGracefully(server);
    process.stderr.write("the Perfetto UI fetched the trace\n");
    return ExitCode.ok;
  } finally {
    clearInterval(keepAlive);
    void server.stop(true);
  }
}
