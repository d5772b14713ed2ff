// The page's script (served inline by page_html.ts; uPlot is the global from /assets/uPlot.min.js).
// Runs SQL through POST /api/query, keeps a history in localStorage, shows the result in a table
// that pages (100 rows a page) and in a chart (line, bar or histogram, chosen from the result's
// columns, or by the user; an icicle for spans: columns name, depth, ts, dur), lists traces and
// processes with an "Open in Perfetto" link each, and completes SQL with Tab as the REPL does
// (POST /api/complete).

(() => {
  const PAGE = 100;
  const HISTORY_KEY = "tracelake.history";
  const $ = (id) => document.getElementById(id);
  const sqlBox = $("sql");
  const state = { columns: [], rows: [], page: 0 };
  let chart = null;

  const NUMERIC =
    /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|FLOAT|DOUBLE|DECIMAL.*)$/;
  const TIME = /^(TIMESTAMP.*|DATE)$/;
  const isNum = (c) => NUMERIC.test(c.type);
  const isTime = (c) => TIME.test(c.type);

  /** A cell's value as a number (BIGINTs come as text; times as ISO text → seconds), or null. */
  function num(v, col) {
    if (v === null || v === undefined) return null;
    if (isTime(col)) {
      const t = Date.parse(
        String(v)
          .replace(" ", "T")
          .replace(/(\.\d{3})\d+/, "$1") + (/[Z+]/.test(String(v)) ? "" : "Z"),
      );
      return Number.isFinite(t) ? t / 1000 : null;
    }
    const n = Number(v);
    return Number.isFinite(n) ? n : null;
  }

  function history() {
    try {
      return JSON.parse(localStorage.getItem(HISTORY_KEY) || "[]");
    } catch {
      return [];
    }
  }

  function remember(sql) {
    const h = [sql, ...history().filter((s) => s !== sql)].slice(0, 50);
    localStorage.setItem(HISTORY_KEY, JSON.stringify(h));
    showHistory();
  }

  function showHistory() {
    const sel = $("history");
    sel.textContent = "";
    const first = document.createElement("option");
    first.value = "";
    first.textContent = `history (${history().length})`;
    sel.append(first);
    for (const s of history()) {
      const o = document.createElement("option");
      o.value = s;
      o.textContent = s.length > 90 ? `${s.slice(0, 90)}…` : s;
      sel.append(o);
    }
  }

  async function api(sql) {
    const r = await fetch("/api/query", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ sql }),
    });
    const body = await r.json();
    if (!r.ok) throw new Error(body.error || `HTTP ${r.status}`);
    return body;
  }

  async function run() {
    const sql = sqlBox.value.trim();
    if (!sql) return;
    $("status").textContent = "running…";
    $("error").textContent = "";
    try {
      const res = await api(sql);
      remember(sql);
      state.columns = res.columns;
      state.rows = res.rows;
      state.page = 0;
      $("status").textContent =
        `${res.rows.length}${res.truncated ? "+" : ""} rows in ${res.ms.toFixed(0)} ms` +
        (res.truncated ? " (first rows only)" : "");
      renderTable();
      setupChart();
    } catch (e) {
      $("status").textContent = "";
      $("error").textContent = e.message;
    }
  }

  function cellText(v) {
    if (v === null || v === undefined) return "NULL";
    return typeof v === "object" ? JSON.stringify(v) : String(v);
  }

  function renderTable() {
    const table = $("results");
    table.textContent = "";
    const head = table.createTHead().insertRow();
    for (const c of state.columns) {
      const th = document.createElement("th");
      th.textContent = c.name;
      th.title = c.type;
      head.append(th);
    }
    const body = table.createTBody();
    const start = state.page * PAGE;
    for (const r of state.rows.slice(start, start + PAGE)) {
      const tr = body.insertRow();
      r.forEach((v, k) => {
        const td = tr.insertCell();
        td.textContent = cellText(v);
        if (isNum(state.columns[k] || { type: "" })) td.className = "num";
      });
    }
    const pages = Math.max(1, Math.ceil(state.rows.length / PAGE));
    $("pageinfo").textContent = `page ${state.page + 1} of ${pages}`;
    $("prev").disabled = state.page === 0;
    $("next").disabled = state.page + 1 >= pages;
  }

  /** The chart kind and columns chosen from the result: see the file comment. */
  function autoChart() {
    const cols = state.columns;
    const names = cols.map((c) => c.name);
    if (["name", "depth", "ts", "dur"].every((n) => names.includes(n)))
      return { kind: "icicle", x: names.indexOf("ts"), y: names.indexOf("dur") };
    const nums = cols.map((c, k) => [c, k]).filter(([c]) => isNum(c));
    const times = cols.map((c, k) => [c, k]).filter(([c]) => isTime(c));
    const texts = cols.map((c, k) => [c, k]).filter(([c]) => !isNum(c) && !isTime(c));
    if (nums.length === 0) return null;
    if (times.length > 0) return { kind: "line", x: times[0][1], y: nums[0][1] };
    if (texts.length > 0) return { kind: "bar", x: texts[0][1], y: nums[0][1] };
    if (nums.length >= 2) return { kind: "line", x: nums[0][1], y: nums[1][1] };
    return { kind: "histogram", x: nums[0][1], y: nums[0][1] };
  }

  function fillSelect(sel, value) {
    sel.textContent = "";
    state.columns.forEach((c, k) => {
      const o = document.createElement("option");
      o.value = String(k);
      o.textContent = c.name;
      sel.append(o);
    });
    if (value !== undefined) sel.value = String(value);
  }

  function setupChart() {
    const a = autoChart();
    fillSelect($("xcol"), a ? a.x : 0);
    fillSelect($("ycol"), a ? a.y : 0);
    $("kind").value = a ? a.kind : "none";
    drawChart();
  }

  function histogram(values, bins) {
    const v = values.filter((x) => x !== null);
    if (v.length === 0) return [[], []];
    const lo = Math.min(...v);
    let hi = Math.max(...v);
    if (lo === hi) hi = lo + 1;
    const w = (hi - lo) / bins;
    const counts = new Array(bins).fill(0);
    for (const x of v) counts[Math.min(bins - 1, Math.floor((x - lo) / w))]++;
    return [counts.map((_, i) => lo + (i + 0.5) * w), counts];
  }

  function drawChart() {
    const box = $("chart");
    if (chart) {
      chart.destroy();
      chart = null;
    }
    box.textContent = "";
    const kind = $("kind").value;
    if (kind === "none" || state.rows.length === 0) return;
    if (kind === "icicle") return drawIcicle(box);
    const xi = Number($("xcol").value);
    const yi = Number($("ycol").value);
    const xc = state.columns[xi];
    const yc = state.columns[yi];
    let xs;
    let ys;
    let labels = null;
    if (kind === "histogram") {
      [xs, ys] = histogram(
        state.rows.map((r) => num(r[yi], yc)),
        Math.min(50, Math.max(5, Math.ceil(Math.sqrt(state.rows.length)))),
      );
    } else if (kind === "bar") {
      labels = state.rows.slice(0, 200).map((r) => cellText(r[xi]));
      xs = labels.map((_, i) => i);
      ys = state.rows.slice(0, 200).map((r) => num(r[yi], yc));
    } else {
      const pts = state.rows
        .map((r) => [num(r[xi], xc), num(r[yi], yc)])
        .filter((p) => p[0] !== null)
        .sort((p, q) => p[0] - q[0]);
      xs = pts.map((p) => p[0]);
      ys = pts.map((p) => p[1]);
    }
    const bars = kind !== "line";
    const opts = {
      width: Math.max(300, box.clientWidth || 800),
      height: 280,
      scales: { x: { time: kind === "line" && isTime(xc) } },
      axes: [
        labels
          ? {
              rotate: -40,
              size: 110,
              values: (_u, splits) =>
                splits.map((s) => (Number.isInteger(s) && labels[s] !== undefined ? labels[s].slice(0, 22) : "")),
            }
          : {},
        {},
      ],
      series: [
        { label: kind === "histogram" ? yc.name : xc.name },
        {
          label: kind === "histogram" ? "count" : yc.name,
          stroke: "#3366cc",
          fill: bars ? "rgba(51,102,204,0.4)" : undefined,
          paths: bars ? uPlot.paths.bars({ size: [0.8, 60] }) : undefined,
          points: { show: !bars && xs.length < 200 },
        },
      ],
    };
    box.dataset.kind = kind;
    chart = new uPlot(opts, [xs, ys], box);
  }

  /** A colour per name (a hash of it), so that a name looks the same wherever it is. */
  function colour(name) {
    let h = 0;
    for (let i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) | 0;
    return `hsl(${((h % 360) + 360) % 360},55%,70%)`;
  }

  /**
   * An icicle of spans (columns name, depth, ts, dur; ns): time across, depth down, one box per
   * span, labelled when wide enough; a box's title on hover.
   */
  function drawIcicle(box) {
    const col = (n) => state.columns.findIndex((c) => c.name === n);
    const [ni, di, ti, ui] = [col("name"), col("depth"), col("ts"), col("dur")];
    const spans = state.rows
      .map((r) => ({ name: cellText(r[ni]), depth: Number(r[di]), ts: Number(r[ti]), dur: Number(r[ui]) }))
      .filter((s) => Number.isFinite(s.ts) && Number.isFinite(s.dur) && s.dur >= 0 && Number.isFinite(s.depth));
    if (spans.length === 0) return;
    const t0 = Math.min(...spans.map((s) => s.ts));
    const t1 = Math.max(...spans.map((s) => s.ts + s.dur));
    const maxDepth = Math.max(...spans.map((s) => s.depth));
    const W = Math.max(300, box.clientWidth || 800);
    const ROW = 18;
    const canvas = document.createElement("canvas");
    canvas.width = W;
    canvas.height = (maxDepth + 1) * ROW;
    const g = canvas.getContext("2d");
    const scale = W / Math.max(1, t1 - t0);
    g.font = "11px system-ui,sans-serif";
    for (const s of spans) {
      const x = (s.ts - t0) * scale;
      const w = Math.max(1, s.dur * scale);
      g.fillStyle = colour(s.name);
      g.fillRect(x, s.depth * ROW, w, ROW - 1);
      if (w > 30) {
        g.fillStyle = "#222";
        g.fillText(s.name.slice(0, Math.floor(w / 6.5)), x + 2, s.depth * ROW + 13, w - 4);
      }
    }
    canvas.addEventListener("mousemove", (ev) => {
      const r = canvas.getBoundingClientRect();
      const t = t0 + (ev.clientX - r.left) / scale;
      const d = Math.floor((ev.clientY - r.top) / ROW);
      const hit = spans.find((s) => s.depth === d && s.ts <= t && t <= s.ts + s.dur);
      canvas.title = hit ? `${hit.name}: ${(hit.dur / 1e6).toFixed(3)} ms` : "";
    });
    box.dataset.kind = "icicle";
    box.append(canvas);
  }

  async function loadSidebar() {
    try {
      const procs = await api(
        "SELECT process_id, exe, source_pid, trace_format, start_time FROM processes ORDER BY insert_time DESC LIMIT 500",
      );
      const ul = $("processes");
      ul.textContent = "";
      for (const [id, exe, pid, format, start] of procs.rows) {
        const li = document.createElement("li");
        const name = document.createElement("span");
        name.textContent = `${exe || "unnamed"} (pid ${pid ?? "?"}, ${format || "?"})`;
        name.title = `${id}\nstarted ${start ?? "?"}`;
        const a = document.createElement("a");
        a.href = `/perfetto/${id}/`;
        a.target = "_blank";
        a.className = "perfetto";
        a.textContent = "Open in Perfetto";
        li.append(name, " ", a);
        ul.append(li);
      }
      const traces = await api(
        "SELECT source, format, nb_events, nb_processes, insert_time FROM ingests ORDER BY insert_time DESC LIMIT 200",
      );
      const tl = $("traces");
      tl.textContent = "";
      for (const [source, format, events, nproc] of traces.rows) {
        const li = document.createElement("li");
        li.textContent = `${String(source).split("/").pop()} · ${format} · ${events} events · ${nproc} processes`;
        li.title = source;
        tl.append(li);
      }
    } catch (e) {
      $("error").textContent = e.message;
    }
  }

  /**
   * Tab: completes at the cursor as the REPL does (POST /api/complete): one candidate is inserted,
   * several insert their common prefix and are listed under the box.
   */
  async function complete(ev) {
    if (ev.key !== "Tab") return;
    ev.preventDefault();
    const pos = sqlBox.selectionStart;
    const text = sqlBox.value.slice(0, pos);
    let c;
    try {
      const r = await fetch("/api/complete", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ text }),
      });
      c = await r.json();
    } catch {
      return;
    }
    if (!c.items || c.items.length === 0) return;
    let common = c.items[0];
    for (const h of c.items) while (!h.startsWith(common)) common = common.slice(0, -1);
    const typed = text.slice(c.start);
    const insert = c.items.length === 1 ? c.items[0] : common;
    if (insert.length >= typed.length) sqlBox.setRangeText(insert, c.start, pos, "end");
    $("status").textContent = c.items.length > 1 ? c.items.slice(0, 30).join("  ") : "";
  }

  $("run").addEventListener("click", run);
  sqlBox.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) {
      ev.preventDefault();
      run();
    } else complete(ev);
  });
  $("history").addEventListener("change", (ev) => {
    if (ev.target.value) sqlBox.value = ev.target.value;
  });
  $("prev").addEventListener("click", () => {
    state.page--;
    renderTable();
  });
  $("next").addEventListener("click", () => {
    state.page++;
    renderTable();
  });
  for (const id of ["kind", "xcol", "ycol"]) $(id).addEventListener("change", drawChart);
  for (const b of document.querySelectorAll("button[data-sql]")) {
    b.addEventListener("click", () => {
      sqlBox.value = b.dataset.sql;
      run();
    });
  }
  $("refresh").addEventListener("click", loadSidebar);
  showHistory();
  loadSidebar();
})();
