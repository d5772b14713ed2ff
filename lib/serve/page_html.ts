/**
 * The page `tracelake serve` shows at `/`: one HTML document, its style and script inline
 * (page_client.js, embedded as text), uPlot from `/assets/` (page_assets.ts): nothing from the
 * network. A SQL box with history and the REPL's completion, preset queries, a results table that
 * pages, a chart (uPlot; an icicle of spans drawn on a canvas), and the lists of traces and
 * processes with "Open in Perfetto".
 */
import script from "./page_client.js" with { type: "text" };

/** Preset queries: a label and the SQL (their results chart as a histogram, bars and a line). */
const PRESETS: [string, string][] = [
  ["Span durations", "SELECT dur / 1e6 AS dur_ms FROM slice WHERE dur >= 0"],
  [
    "Busiest span names",
    "SELECT name, sum(dur) / 1e6 AS total_ms, count(*) AS n FROM slice WHERE dur >= 0 GROUP BY name ORDER BY total_ms DESC LIMIT 30",
  ],
  [
    "Events per second",
    "SELECT time_bucket(INTERVAL 1 second, time) AS t, count(*) AS events FROM async_events GROUP BY t ORDER BY t",
  ],
  [
    "Icicle of the busiest thread",
    "SELECT name, depth, ts, dur FROM slice WHERE dur >= 0 AND track_id = (SELECT track_id FROM slice GROUP BY track_id ORDER BY count(*) DESC LIMIT 1) ORDER BY ts LIMIT 10000",
  ],
  ["Recent logs", "SELECT time, level, target, msg FROM log_entries ORDER BY time DESC LIMIT 1000"],
];

const escapeAttr = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The page, as HTML text (UTF-8). */
export function pageHtml(): string {
  const presets = PRESETS.map(([label, sql]) => `<button data-sql="${escapeAttr(sql)}">${label}</button>`).join(" ");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tracelake</title>
<link rel="stylesheet" href="/assets/uPlot.min.css">
<style>
body{font:14px system-ui,sans-serif;margin:0;color:#222;display:flex;min-height:100vh}
aside{width:22em;border-right:1px solid #ddd;padding:1em;overflow:auto;background:#fafafa}
main{flex:1;padding:1em;min-width:0}
h1{font-size:1.2em;margin:0 0 .5em}h2{font-size:1em;margin:1em 0 .3em}
ul{list-style:none;padding:0;margin:0}li{padding:.25em 0;border-bottom:1px solid #eee;word-break:break-all}
a.perfetto{font-size:.85em;white-space:nowrap}
textarea{width:100%;box-sizing:border-box;height:7em;font:13px ui-monospace,monospace}
.bar{display:flex;gap:.5em;align-items:center;flex-wrap:wrap;margin:.4em 0}
#error{color:#b00;white-space:pre-wrap}#status{color:#555}
.tablewrap{overflow:auto;max-height:24em;border:1px solid #ddd}
table{border-collapse:collapse;font:12px ui-monospace,monospace}
th,td{border:1px solid #e4e4e4;padding:2px 6px;text-align:left;max-width:40em;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
th{background:#f0f0f0;position:sticky;top:0}td.num{text-align:right}
#chart{margin-top:1em;min-height:20px}
</style></head>
<body>
<aside>
<h1>tracelake</h1>
<button id="refresh">Refresh</button>
<h2>Processes</h2><ul id="processes"></ul>
<h2>Traces</h2><ul id="traces"></ul>
</aside>
<main>
<textarea id="sql" spellcheck="false" placeholder="SQL over the lake (Ctrl-Enter runs, Tab completes)">SELECT name, count(*) AS n FROM async_events WHERE event_type = 'begin' GROUP BY name ORDER BY n DESC LIMIT 20</textarea>
<div class="bar"><button id="run">Run</button> <select id="history"></select> ${presets}</div>
<div class="bar"><span id="status"></span></div>
<div id="error"></div>
<div class="tablewrap"><table id="results"></table></div>
<div class="bar"><button id="prev">‹ prev</button><span id="pageinfo"></span><button id="next">next ›</button>
 · chart <select id="kind"><option value="none">none</option><option value="line">line</option><option value="bar">bar</option><option value="histogram">histogram</option><option value="icicle">icicle</option></select>
 x <select id="xcol"></select> y <select id="ycol"></select></div>
<div id="chart"></div>
</main>
<script src="/assets/uPlot.min.js"></script>
<script>${script.replace(/<\/script/gi, "<\\/script")}</script>
</body></html>
`;
}
