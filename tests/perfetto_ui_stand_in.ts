/**
 * A stand-in for ui.perfetto.dev in the browser tests (tests/cmd/open.test.ts,
 * tests/cmd/serve_page.test.ts): a server on 127.0.0.1 whose `ui.html` plays the UI's side of
 * the postMessage hand-off (PONG to PING, then reads `{perfetto: {buffer, title, fileName}}`) and
 * posts what it received (the buffer's SHA-256 and size, title, fileName, the sender's origin)
 * to `/result`.
 */

/** What the stand-in UI received: the trace bytes' SHA-256 (hex) and size, and the message's fields. */
export interface StandInResult {
  sha: string;
  size: number;
  title?: string;
  fileName?: string;
  origin: string;
}

const UI_PAGE = `<!doctype html><script>
window.addEventListener("message", async (e) => {
  if (e.data === "PING") { e.source.postMessage("PONG", e.origin); return; }
  if (e.data && e.data.perfetto) {
    const p = e.data.perfetto;
    const h = new Uint8Array(await crypto.subtle.digest("SHA-256", p.buffer));
    const sha = Array.from(h, (x) => x.toString(16).padStart(2, "0")).join("");
    await fetch("/result", { method: "POST", body: JSON.stringify({ sha, size: p.buffer.byteLength, title: p.title, fileName: p.fileName, origin: e.origin }) });
  }
});
</script>`;

/**
 * Starts the stand-in on a free port of 127.0.0.1; the caller stops `server`. `onRequest`, when
 * given, hears each request as a line (method and path).
 * @returns the server, the URL of its UI page (for TRACELAKE_PERFETTO_UI) and the first result.
 */
export function startPerfettoUiStandIn(onRequest: (line: string) => void = () => undefined): {
  server: ReturnType<typeof Bun.serve>;
  uiUrl: string;
  received: Promise<StandInResult>;
} {
  let report: (r: StandInResult) => void = () => undefined;
  const received = new Promise<StandInResult>((r) => {
    report = r;
  });
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const path = new URL(req.url).pathname;
      onRequest(`${req.method} ${path}`);
      if (path === "/ui.html") return new Response(UI_PAGE, { headers: { "content-type": "text/html" } });
      if (path === "/result") {
        report((await req.json()) as StandInResult);
        return new Response("ok");
      }
      return new Response("not found", { status: 404 });
    },
  });
  return { server, uiUrl: `http://127.0.0.1:${server.port}/ui.html`, received };
}
