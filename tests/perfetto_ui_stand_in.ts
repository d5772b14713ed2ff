/**
 * A stand-in for ui.perfetto.dev in the browser tests (tests/cmd/open.test.ts,
 * tests/cmd/serve_page.test.ts): a server on 127.0.0.1 that serves the test's `ui.html` (which
 * answers the PING/PONG hand-off and posts what it received to `/result`) and hands each posted
 * result to `report`.
 */

/**
 * Starts the stand-in on a free port of 127.0.0.1; the caller stops it.
 * @param uiPage the HTML served at `/ui.html`.
 * @param report called with each JSON object posted to `/result`.
 */
export function startPerfettoUiStandIn(
  uiPage: string,
  report: (result: Record<string, unknown>) => void,
): ReturnType<typeof Bun.serve> {
  return Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const path = new URL(req.url).pathname;
      if (path === "/ui.html") return new Response(uiPage, { headers: { "content-type": "text/html" } });
      if (path === "/result") {
        report((await req.json()) as Record<string, unknown>);
        return new Response("ok");
      }
      return new Response("not found", { status: 404 });
    },
  });
}
