/**
 * Latency benchmark: what a user meets (issue 22). Runs the compiled binary as a user would, one
 * fresh process per command, from spawn to exit, on real traces, and prints one Markdown table:
 * one row per figure, median of RUNS runs after WARMUP warm-up runs, min–max, CPU seconds, peak
 * RSS (the child's rusage), the issue's target (bench/latency_targets.ts) and pass/FAIL.
 *
 * Rows: `--version`; `query "select count(*) from processes"` on an existing lake; then for each
 * input (the Chromium startup sample as JSON and as Perfetto protobuf, and large real traces made
 * by make_chromium_trace.sh, JSON and protobuf): ingest into a fresh lake (ms, MB/s of
 * decompressed input, peak RSS); right after it, the first query of each view, all processes
 * (cold JIT): a thread_spans GROUP BY name, then async_events, log_entries, measures, flows (what
 * `export perfetto` and `open` materialize too, right after an ingest); the
 * thread_spans query again (warm); `export perfetto --all` on a copy of the lake as the ingest
 * left it (every view set built in one JIT run, as `open` does: its memory is the JIT's peak);
 * trace_processor_shell loading the same file and answering the
 * same first question (slice GROUP BY name), and tracelake's ingest + first answer as a ratio to
 * it; on the last run's lake, `export perfetto` of the busiest process (by thread span count) and
 * of `--all` (packets/s from the export's own summary, and end to end), and `replay` of a
 * GROUP BY over thread_spans. Every run of the ingest row uses a new lake, so every cold query
 * is cold.
 *
 * With `--synthetic`, the generated-data benches (bench/ingest.ts, jit.ts, replay.ts,
 * perfetto.ts: scale, not what users meet) follow in a second, labelled section.
 *
 * Usage: npm run bench:latency -- [options]      (or: bun bench/latency.ts [options]; -h: this text)
 *   --bin PATH       the binary to time (env TRACELAKE_BIN); without it `npm run build` makes
 *                    dist/tracelake first (--no-build: time dist/tracelake as it is)
 *   --runs N         measured runs per row (default 5); --warmup N (default 1)
 *   --inputs LIST    comma-separated of sample-json, sample-proto, large-json, large-proto (default all)
 *   --skip LIST      row kinds to leave out: views (the cold async_events/log_entries/measures/flows
 *                    rows), cold-export (export --all on a copy of each run's fresh lake), tp,
 *                    export, export-all, replay
 *   --seconds N      traced seconds of the large traces (default 20: ~90-225 MB JSON, ~35-65 MB protobuf, by machine)
 *   --data DIR       where the large traces are cached (env TRACELAKE_BENCH_DATA, default
 *                    ~/.cache/tracelake-bench); a missing one is made (needs chromium), with a message
 *   --tp PATH        trace_processor_shell (env TRACE_PROCESSOR_SHELL, default
 *                    /work/shared/tools/trace_processor_shell); the rows are skipped when it is missing
 *   --synthetic      also run the generated-data benches (long: see each file for its size knobs)
 * Env TRACELAKE_BENCH_TOOLS: the folder of make_chromium_trace.sh (default /work/shared/tools).
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync } from "node:fs";
import { availableParallelism, homedir, loadavg, tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { check, formatRate, TARGETS, type Target } from "./latency_targets.ts";
import { calibrate, firstTouchMicros, median, type RunResult, runOnce, type Summary, summarize } from "./measure.ts";

const root = resolve(import.meta.dir, "..");
const { values: opt } = parseArgs({
  options: {
    bin: { type: "string" },
    "no-build": { type: "boolean", default: false },
    runs: { type: "string", default: "5" },
    warmup: { type: "string", default: "1" },
    inputs: { type: "string", default: "sample-json,sample-proto,large-json,large-proto" },
    skip: { type: "string", default: "" },
    seconds: { type: "string", default: "20" },
    data: { type: "string" },
    tp: { type: "string" },
    synthetic: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (opt.help) {
  // The usage is this file's head comment.
  const head = (await Bun.file(import.meta.path).text()).split("*/")[0] ?? "";
  console.log(head.replace(/^\/\*\*\n?/, "").replace(/^ \* ?/gm, ""));
  process.exit(0);
}
const RUNS = Number(opt.runs);
const WARMUP = Number(opt.warmup);
const skip = new Set(opt.skip.split(",").filter(Boolean));
const seconds = Number(opt.seconds);
const dataDir = opt.data ?? process.env.TRACELAKE_BENCH_DATA ?? join(homedir(), ".cache/tracelake-bench");
const toolsDir = process.env.TRACELAKE_BENCH_TOOLS ?? "/work/shared/tools";
const tpPath = opt.tp ?? process.env.TRACE_PROCESSOR_SHELL ?? join(toolsDir, "trace_processor_shell");
const hasTp = !skip.has("tp") && existsSync(tpPath);
/** The cold `export perfetto --all` row: every view set built in one run, as `open` does after an ingest. */
const coldExportAll = !skip.has("cold-export");
const loadAtStart = loadavg();
// Before anything else runs: what a fresh page of memory costs here (measure.ts firstTouchMicros).
const touchUs = firstTouchMicros();

// The child's environment: the lake is always given by --lake.
const env: Record<string, string | undefined> = { ...process.env, TRACELAKE_LAKE: undefined, NO_COLOR: "1" };

/** The binary: --bin / TRACELAKE_BIN as given, else dist/tracelake built from this checkout now. */
function binary(): { bin: string; origin: string } {
  const given = opt.bin ?? process.env.TRACELAKE_BIN;
  if (given) return { bin: resolve(given), origin: "given" };
  const bin = join(root, "dist/tracelake");
  if (!opt["no-build"]) {
    console.error("building dist/tracelake (npm run build)...");
    const b = Bun.spawnSync([process.execPath, join(root, "scripts/build.ts")], { cwd: root, stderr: "inherit" });
    if (b.exitCode !== 0) throw new Error("npm run build failed");
  }
  const git = Bun.spawnSync(["git", "describe", "--always", "--dirty"], { cwd: root }).stdout.toString().trim();
  return { bin, origin: `this checkout, git ${git}${opt["no-build"] ? ", not rebuilt" : ""}` };
}
const { bin, origin } = binary();
if (!existsSync(bin)) throw new Error(`${bin}: no such binary (run npm run build, or give --bin)`);

/** One input trace. */
interface Input {
  key: string;
  label: string;
  path: string;
  format: "json" | "proto";
}

/** The cached large real trace of `format`, made by make_chromium_trace.sh when missing. */
function largeTrace(format: "json" | "proto"): string {
  const file = join(dataDir, `chromium_${format}_${seconds}s.${format === "json" ? "json" : "pftrace"}`);
  if (existsSync(file)) return file;
  mkdirSync(dataDir, { recursive: true });
  const script = join(toolsDir, "make_chromium_trace.sh");
  console.error(
    `${file} is missing: making it with ${script} (FORMAT=${format}, ${seconds} s of headless Chromium)...`,
  );
  const tmp = `${file}.partial`;
  const p = Bun.spawnSync([script, tmp, String(seconds)], {
    env: { ...process.env, FORMAT: format },
    stdout: "inherit",
    stderr: "inherit",
  });
  if (p.exitCode !== 0 || !existsSync(tmp) || statSync(tmp).size === 0) {
    throw new Error(`${script} did not make ${file} (is chromium installed? Debian: apt-get install chromium)`);
  }
  renameSync(tmp, file);
  return file;
}

const allInputs: Record<string, () => Input> = {
  // fixtures/ holds the same bytes as /work/shared/samples/ (one Chromium startup, both formats).
  "sample-json": () => ({
    key: "sample-json",
    label: "chromium_startup.json.gz",
    path: join(root, "fixtures/chromium_startup.json.gz"),
    format: "json",
  }),
  "sample-proto": () => ({
    key: "sample-proto",
    label: "chromium_startup.pftrace.gz",
    path: join(root, "fixtures/chromium_startup.pftrace.gz"),
    format: "proto",
  }),
  "large-json": () => {
    const path = largeTrace("json");
    return { key: "large-json", label: basename(path), path, format: "json" };
  },
  "large-proto": () => {
    const path = largeTrace("proto");
    return { key: "large-proto", label: basename(path), path, format: "proto" };
  },
};
const inputs = opt.inputs.split(",").map((k) => {
  const make = allInputs[k];
  if (!make) throw new Error(`--inputs: unknown input ${k} (known: ${Object.keys(allInputs).join(", ")})`);
  return make();
});

/** One row of the table. */
interface Row {
  figure: string;
  s: Summary;
  /** The rate as printed ("63 MB/s"), or "". */
  rateText: string;
  target: Target;
  rate?: number;
  rateUnit?: string;
  ratio?: number;
}
const sections: { title: string; rows: Row[] }[] = [];
const tmpRoot = mkdtempSync(join(tmpdir(), "tracelake-latency-"));
// The lakes go with the run, also when a command fails.
process.on("exit", () => rmSync(tmpRoot, { recursive: true, force: true }));

// The bench's own spawn cost, taken out of every run, and where peak RSS comes from (measure.ts).
const cal = await calibrate();

/** Runs `cmd` WARMUP + RUNS times; returns the measured runs (warm-ups dropped). */
async function repeat(cmd: () => string[]): Promise<RunResult[]> {
  const out: RunResult[] = [];
  for (let i = 0; i < WARMUP + RUNS; i++) {
    const r = await runOnce(cmd(), env);
    if (i >= WARMUP) out.push(r);
  }
  return out;
}

/** Adds a row and prints its progress line on stderr. */
function addRow(rows: Row[], row: Row): void {
  rows.push(row);
  console.error(
    `  ${row.figure}: ${row.s.ms.toFixed(0)} ms median (${row.s.minMs.toFixed(0)}–${row.s.maxMs.toFixed(0)}) ${row.rateText}`,
  );
}

const tl = (lake: string, ...args: string[]): string[] => [bin, "--lake", lake, ...args];
const QUERIES = {
  thread_spans: "SELECT name, sum(duration) AS total_ns, count(*) AS n FROM thread_spans GROUP BY name",
  async_events: "SELECT name, count(*) AS n FROM async_events GROUP BY name",
  log_entries: "SELECT target, count(*) AS n FROM log_entries GROUP BY target",
  measures: "SELECT name, avg(value) AS mean, count(*) AS n FROM measures GROUP BY name",
  flows: "SELECT version, count(*) AS n FROM flows GROUP BY version",
} as const;
/** trace_processor's form of the first question. */
const TP_QUERY = "SELECT name, sum(dur) AS total_ns, count(*) AS n FROM slice GROUP BY name;\n";
const REPLAY_QUERY = "SELECT name, count(*) AS n, sum(duration) AS total_ns FROM thread_spans GROUP BY name";
/**
 * The README's replay example (10 ms windows by process and name): a result of one row per
 * group (199,046 on the 153 MB JSON trace), where the merge and the result's hand-off count.
 */
const REPLAY_WINDOWED_QUERY =
  "SELECT process_id AS p, time_bucket(INTERVAL '10 ms', begin) AS w, name, count(*) AS n, sum(duration) AS s, min(duration) AS mi, max(duration) AS ma, avg(duration) AS av FROM thread_spans GROUP BY ALL";

// --- start-up ---------------------------------------------------------------------------------
const startRows: Row[] = [];
sections.push({ title: "start-up", rows: startRows });
console.error("--version");
addRow(startRows, {
  figure: "`--version`",
  s: summarize(await repeat(() => [bin, "--version"])),
  rateText: "",
  target: TARGETS.version,
});

// --- per input ----------------------------------------------------------------------------------
let countLake: string | null = null;
for (const input of inputs) {
  const section = { title: input.label, rows: [] as Row[] };
  sections.push(section);
  console.error(input.label);
  try {
    const lake = await benchInput(input, section);
    if (countLake === null) countLake = lake;
    else rmSync(lake, { recursive: true, force: true });
  } catch (e) {
    // The rows measured so far stay in the table; the section says what failed.
    section.title += ` (stopped: ${(e as Error).message.split("\n")[0]})`;
    console.error(e);
  }
}

/**
 * The rows of one input, into `section` (its title gets the input's sizes and counts); returns
 * the last run's lake, views materialized.
 */
async function benchInput(input: Input, section: { title: string; rows: Row[] }): Promise<string> {
  const rows = section.rows;
  const fileMb = statSync(input.path).size / 1e6;

  // Ingest into a fresh lake, then the first query of each view, then the warm one; every run.
  const runs: Record<string, RunResult[]> = {
    ingest: [],
    warm: [],
    coldExportAll: [],
    ...Object.fromEntries(Object.keys(QUERIES).map((k) => [k, []])),
  };
  let contentBytes = 0;
  let lake = "";
  const views = skip.has("views") ? (["thread_spans"] as const) : (Object.keys(QUERIES) as (keyof typeof QUERIES)[]);
  for (let i = 0; i < WARMUP + RUNS; i++) {
    if (lake) rmSync(lake, { recursive: true, force: true });
    lake = join(tmpRoot, `${input.key}-${i}`);
    const one: Record<string, RunResult> = {};
    one.ingest = await runOnce(tl(lake, "ingest", "--json", input.path), env);
    contentBytes = (JSON.parse(one.ingest.stdout) as { contentBytes: number }).contentBytes;
    // A copy of the lake as the ingest left it, for `export perfetto --all` with every view cold.
    const coldLake = coldExportAll ? `${lake}-cold` : "";
    if (coldExportAll) cpSync(lake, coldLake, { recursive: true });
    for (const v of views) one[v] = await runOnce(tl(lake, "query", "-f", "csv", QUERIES[v]), env);
    one.warm = await runOnce(tl(lake, "query", "-f", "csv", QUERIES.thread_spans), env);
    if (coldExportAll) {
      const out = join(tmpRoot, "export-all-cold.pftrace");
      one.coldExportAll = await runOnce(tl(coldLake, "export", "perfetto", "--all", "-o", out), env);
      rmSync(coldLake, { recursive: true, force: true });
      rmSync(out, { force: true });
    }
    if (i >= WARMUP) for (const [k, r] of Object.entries(one)) runs[k]?.push(r);
  }
  const contentMb = contentBytes / 1e6;
  const statsSql = "SELECT count(*), count(DISTINCT process_id) FROM thread_spans";
  const statsCsv = (await runOnce(tl(lake, "query", "-f", "csv", statsSql), env)).stdout.trim().split("\n")[1] ?? "0,0";
  const [spans = 0, procs = 0] = statsCsv.split(",").map(Number);
  section.title = `${input.label} (${fileMb.toFixed(1)} MB file, ${contentMb.toFixed(1)} MB ${input.format === "json" ? "JSON" : "protobuf"}; ${spans.toLocaleString("en-US")} thread spans in ${procs} processes)`;

  const ingest = summarize(runs.ingest ?? []);
  const ingestRate = contentMb / (ingest.ms / 1000);
  addRow(rows, {
    figure: "ingest (fresh lake)",
    s: ingest,
    rate: ingestRate,
    rateUnit: "MB/s",
    rateText: `${formatRate(ingestRate)} MB/s`,
    target:
      input.format === "proto"
        ? TARGETS.ingestProto
        : contentMb >= 70
          ? TARGETS.ingestJsonLarge
          : TARGETS.ingestJsonSmall,
  });
  for (const v of views) {
    addRow(rows, {
      figure: `first \`${v}\` GROUP BY (cold JIT)`,
      s: summarize(runs[v] ?? []),
      rateText: "",
      target: v === "thread_spans" ? TARGETS.coldThreadSpans : TARGETS.coldOther,
    });
  }
  addRow(rows, {
    figure: "`thread_spans` GROUP BY again (warm)",
    s: summarize(runs.warm ?? []),
    rateText: "",
    target: TARGETS.warmThreadSpans,
  });
  if (coldExportAll) {
    addRow(rows, {
      figure: "`export perfetto --all` right after the ingest (every view cold)",
      s: summarize(runs.coldExportAll ?? []),
      rateText: "",
      target: TARGETS.coldExportAll,
    });
  }

  // tracelake's ingest + first answer per run; trace_processor's load + the same first question.
  const both = summarize(
    (runs.ingest ?? []).map((r, i) => {
      const first = runs.thread_spans?.[i] as RunResult;
      return {
        ms: r.ms + first.ms,
        cpuS: r.cpuS + first.cpuS,
        sysS: r.sysS + first.sysS,
        rssMb: Math.max(r.rssMb, first.rssMb),
      };
    }),
  );
  let ratio: number | undefined;
  if (hasTp) {
    const q = join(tmpRoot, "q.sql");
    await Bun.write(q, TP_QUERY);
    const tp = summarize(await repeat(() => [tpPath, "-q", q, input.path]));
    const tpRate = contentMb / (tp.ms / 1000);
    addRow(rows, {
      figure: "trace_processor: load + slice GROUP BY name",
      s: tp,
      rateText: `${formatRate(tpRate)} MB/s`,
      target: TARGETS.traceProcessor,
    });
    ratio = both.ms / tp.ms;
  }
  addRow(rows, {
    figure: "tracelake ingest + first answer (vs trace_processor)",
    s: both,
    ratio,
    rateText: ratio === undefined ? "" : `${ratio.toFixed(2)}x TP`,
    // Without trace_processor there is no ratio to check: only the sample's own bound is left.
    target: withoutRatio(input.key === "sample-json" ? TARGETS.samplePlusFirst : TARGETS.vsTraceProcessor, ratio),
  });

  // On the last run's lake (views materialized): export and replay.
  if (!skip.has("export")) {
    const busiest = (
      await runOnce(
        tl(lake, "query", "-f", "csv", "SELECT process_id FROM thread_spans GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"),
        env,
      )
    ).stdout
      .trim()
      .split("\n")[1] as string;
    const out = join(tmpRoot, "export.pftrace");
    rows.push(
      ...(await exportRows(
        lake,
        ["--process", busiest],
        out,
        "`export perfetto --process` (busiest)",
        TARGETS.exportOne,
        false,
      )),
    );
  }
  if (!skip.has("export-all")) {
    const out = join(tmpRoot, "export-all.pftrace");
    rows.push(...(await exportRows(lake, ["--all"], out, "`export perfetto --all`", TARGETS.exportAll, true)));
  }
  if (!skip.has("replay")) {
    const r = await repeat(() => tl(lake, "replay", "-f", "csv", REPLAY_QUERY));
    const s = summarize(r);
    const rowsPerS = spans / (s.ms / 1000);
    addRow(rows, {
      figure: "`replay` GROUP BY name over thread_spans",
      s,
      rate: rowsPerS,
      rateText: `${formatRate(rowsPerS)} rows/s`,
      target: TARGETS.replay,
    });
    const w = summarize(await repeat(() => tl(lake, "replay", "-f", "csv", REPLAY_WINDOWED_QUERY)));
    const wRowsPerS = spans / (w.ms / 1000);
    addRow(rows, {
      figure: "`replay` of the README's 10 ms windows by process and name",
      s: w,
      rate: wRowsPerS,
      rateText: `${formatRate(wRowsPerS)} rows/s`,
      target: TARGETS.replayWindowed,
    });
  }
  return lake;
}

/** `t` without its ratio bound when no ratio was measured (trace_processor not run). */
function withoutRatio(t: Target, ratio: number | undefined): Target {
  if (ratio !== undefined) return t;
  const { maxRatio: _, ...rest } = t;
  return rest;
}

/** The export rows: median end to end; the rate checked is internal (one) or end to end (all). */
async function exportRows(
  lake: string,
  which: string[],
  out: string,
  figure: string,
  target: Target,
  endToEnd: boolean,
): Promise<Row[]> {
  const runs = await repeat(() => tl(lake, "export", "perfetto", ...which, "-o", out));
  const s = summarize(runs);
  // The export's summary on stderr: "<file>: 199,688 packets, 11.5 MB in 13.72 s; ..."
  const m = /([\d,]+) packets, .*? in ([\d.]+) s/.exec(runs[runs.length - 1]?.stderr ?? "");
  const packets = m ? Number((m[1] as string).replaceAll(",", "")) : Number.NaN;
  const internalS = median(
    runs.map((r) => Number(/([\d,]+) packets, .*? in ([\d.]+) s/.exec(r.stderr)?.[2] ?? Number.NaN)),
  );
  const internalRate = packets / internalS;
  const e2eRate = packets / (s.ms / 1000);
  rmSync(out, { force: true });
  const row: Row = {
    figure: `${figure}, ${Number.isFinite(packets) ? packets.toLocaleString("en-US") : "?"} packets`,
    s,
    rate: endToEnd ? e2eRate : internalRate,
    rateUnit: "packets/s",
    rateText: `${formatRate(internalRate)} packets/s internal, ${formatRate(e2eRate)}/s end to end`,
    target,
  };
  const rows: Row[] = [];
  addRow(rows, row);
  return rows;
}

// `query "select count(*) from processes"` on an existing lake (the first input's).
if (countLake) {
  const lake = countLake;
  addRow(startRows, {
    figure: '`query "select count(*) from processes"` (existing lake)',
    s: summarize(await repeat(() => tl(lake, "query", "-f", "csv", "select count(*) from processes"))),
    rateText: "",
    target: TARGETS.countQuery,
  });
}
rmSync(tmpRoot, { recursive: true, force: true });

// --- the table ----------------------------------------------------------------------------------
const version = (await runOnce([bin, "--version"], env)).stdout.trim();
const loadAtEnd = loadavg();
const fmtLoad = (l: number[]): string => l.map((x) => x.toFixed(2)).join(" ");
const lines: string[] = [];
lines.push(`## tracelake latency: the compiled binary, process start to exit, real traces`);
lines.push("");
lines.push(`binary: ${bin} (${origin}; version ${version}; ${(statSync(bin).size / 1e6).toFixed(0)} MB)`);
const busy = Math.max(loadAtStart[0] ?? 0, loadAtEnd[0] ?? 0) > availableParallelism();
lines.push(
  `machine: nproc ${availableParallelism()}, load average ${fmtLoad(loadAtStart)} at start, ${fmtLoad(loadAtEnd)} at end${busy ? " (busy: figures are noisy)" : ""}; ` +
    `a fresh 4 KiB page costs ${touchUs.toFixed(2)} µs on first touch (so ${((touchUs * 256) / 1000).toFixed(1)} ms of system time per MB a command's memory grows by: the sys column)`,
);
lines.push(
  `${new Date().toISOString().slice(0, 16)}Z; median of ${RUNS} runs after ${WARMUP} warm-up, each less the bench's own spawn cost (${cal.spawnMs.toFixed(0)} ms: /bin/true spawned the same way); peak RSS = max over the runs (${cal.gnuTime ? "GNU time's %M" : "rusage, which counts the bench's own RSS for small commands"}); ` +
    `TP = ${hasTp ? tpPath : "trace_processor_shell (not run)"}`,
);
const tlEnv = Object.entries(process.env).filter(([k]) => k.startsWith("TRACELAKE_") && k !== "TRACELAKE_LAKE");
if (tlEnv.length) lines.push(`env: ${tlEnv.map(([k, v]) => `${k}=${v}`).join(" ")}`);
lines.push("");
lines.push("| figure | median | min–max | rate | CPU s (sys) | peak RSS | target | met |");
lines.push("|---|--:|--:|--:|--:|--:|---|---|");
for (const sec of sections) {
  lines.push(`| **${sec.title}** | | | | | | | |`);
  for (const r of sec.rows) {
    const c = check(r.target, { ms: r.s.ms, rate: r.rate, rssMb: r.s.rssMb, ratio: r.ratio }, r.rateUnit);
    const met = c.pass === null ? "" : c.pass ? "pass" : "**FAIL**";
    lines.push(
      `| ${r.figure} | ${fmtMs(r.s.ms)} | ${fmtRange(r.s.minMs, r.s.maxMs)} | ${r.rateText} | ${r.s.cpuS.toFixed(2)} (${r.s.sysS.toFixed(2)}) | ${r.s.rssMb.toFixed(0)} MB | ${c.text} | ${met} |`,
    );
  }
}
console.log(lines.join("\n"));

/** A range of milliseconds in one unit: "340–362 ms" or "2.31–2.58 s". */
function fmtRange(lo: number, hi: number): string {
  return hi >= 1000 ? `${(lo / 1000).toFixed(2)}–${(hi / 1000).toFixed(2)} s` : `${lo.toFixed(0)}–${hi.toFixed(0)} ms`;
}

/** Milliseconds as "349 ms" or "2.41 s". */
function fmtMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`;
}

// --- generated data (synthetic), off by default ---------------------------------------------------
if (opt.synthetic) {
  console.log("\n## Generated data (synthetic: for scale, not what users meet)\n");
  for (const f of ["ingest.ts", "jit.ts", "replay.ts", "perfetto.ts"]) {
    console.log(`### bench/${f}\n`);
    const p = Bun.spawnSync([process.execPath, join(root, "bench", f)], {
      cwd: root,
      stdout: "inherit",
      stderr: "inherit",
    });
    if (p.exitCode !== 0) console.log(`bench/${f} failed (exit ${p.exitCode})`);
    console.log("");
  }
}
