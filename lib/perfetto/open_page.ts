/**
 * The page `tracelake open` serves to hand a trace to the Perfetto UI. Its button opens the UI in
 * a new tab, sends `PING` until the UI answers `PONG`, then posts the trace as
 * `{perfetto: {buffer, title, fileName}}`: the UI's postMessage protocol, which it accepts without
 * asking from pages on `localhost`/`127.0.0.1` origins (Perfetto docs, "Deep linking to the
 * Perfetto UI": "Opening a trace via postMessage"; ui/src/frontend/post_message_handler.ts).
 * A new tab needs a click (pop-up blockers), hence the button. Self-contained: no external asset.
 * It reports to `sentPath` by `navigator.sendBeacon`, which the browser delivers even when the tab
 * is closed as soon as it says "Sent" (a fetch would be cancelled with the page: the command
 * would then wait for a report that never comes).
 */

/** What the page needs. */
export interface OpenPageOptions {
  /** The Perfetto UI to open, e.g. `https://ui.perfetto.dev/#!/`. */
  uiUrl: string;
  /** Path of the trace on the serving origin (fetched by the page). */
  tracePath: string;
  /** Path the page POSTs to once the UI has the trace (the command then exits). */
  sentPath: string;
  /** The trace's title in the UI. */
  title: string;
  /** The trace's file name in the UI. */
  fileName: string;
  /** The trace's size, bytes (shown). */
  size: number;
}

/** Escapes text for HTML element content and attribute values. */
function html(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * A JSON value safe inside an inline `<script>`: `<` escaped, so no `</script>` in a name ends it.
 */
function scriptJson(v: unknown): string {
  return JSON.stringify(v)
    .replace(/</g, "\\u003c")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

/**
 * The page, as HTML text.
 * @returns a complete HTML document (UTF-8).
 */
export function openPageHtml(o: OpenPageOptions): string {
  const config = scriptJson({
    ui: o.uiUrl,
    trace: o.tracePath,
    sent: o.sentPath,
    title: o.title,
    fileName: o.fileName,
  });
  const mb = (o.size / 1e6).toFixed(1);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${html(o.title)} · tracelake</title>
<style>body{font:15px system-ui,sans-serif;margin:3em auto;max-width:40em;color:#222}
button{font:inherit;padding:.6em 1.2em;cursor:pointer}#status{color:#555}</style></head>
<body><h1>${html(o.title)}</h1>
<p>${html(o.fileName)}, ${mb} MB, exported by tracelake.</p>
<p><button id="open">Open in Perfetto</button></p>
<p id="status"></p>
<script>
const C = ${config};
const ORIGIN = new URL(C.ui).origin;
const status = document.getElementById("status");
document.getElementById("open").addEventListener("click", async () => {
  status.textContent = "Loading the trace…";
  const win = window.open(C.ui);
  if (!win) { status.textContent = "The browser blocked the new tab: allow pop-ups for this page and click again."; return; }
  const buffer = await (await fetch(C.trace)).arrayBuffer();
  status.textContent = "Waiting for the Perfetto UI…";
  const ping = setInterval(() => win.postMessage("PING", ORIGIN), 50);
  window.addEventListener("message", function onMessage(e) {
    if (e.origin !== ORIGIN || e.data !== "PONG") return;
    window.removeEventListener("message", onMessage);
    clearInterval(ping);
    win.postMessage({ perfetto: { buffer, title: C.title, fileName: C.fileName } }, ORIGIN);
    status.textContent = "Sent to the Perfetto UI. You can close this tab.";
    // A beacon is delivered even when the tab is closed right away (a plain fetch would be cancelled).
    if (!navigator.sendBeacon(C.sent)) fetch(C.sent, { method: "POST", keepalive: true });
  });
});
</script></body></html>
`;
}
