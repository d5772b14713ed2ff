/**
 * Ingest benchmark. Prints one comparable figure per line:
 *   - `tracelake ingest` (the CLI, as a user runs it) on the real Chromium trace in fixtures/
 *     and on a generated Chrome JSON of BENCH_MB MiB (default 1024): MB/s of decompressed JSON,
 *     events/s, and the peak RSS of the ingest process;
 *   - `tracelake ingest` on the Chromium startup trace as Perfetto protobuf (fixtures/) and on a
 *     generated Perfetto trace of PFTRACE_MB MiB (default 256, bench/gen_perfetto_trace.ts): MB/s of
 *     decompressed protobuf, packets/s and peak RSS;
 *   - in the same run, the baselines on the same events written as NDJSON: DuckDB's
 *     `read_ndjson` counting them (the practical JSON-parsing ceiling of this machine), and
 *     DuckDB converting them to one Parquet file (parsing plus writing, no routing).
 *
 * Each input is read once before it is timed (so every run, the baselines' included, reads from
 * the page cache: this machine's memory manager evicts idle file pages, which made the first run
 * after a pause up to 30% slower), then ingested BENCH_RUNS times (default 3): the line gives the
 * median run, and the times of all runs.
 *
 * Usage: bun bench/ingest.ts   (BENCH_MB=256 / PFTRACE_MB=64 for a shorter run; BENCH_DIR for
 * the data dir; BENCH_ONLY=text for the inputs whose label contains it; BENCH_RUNS=1)
 */
import { closeSync, existsSync, mkdirSync, openSync, readSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Engine } from "../lib/duck/engine.ts";

const root = resolve(import.meta.dir, "..");
const sizeMb = Number(process.env.BENCH_MB ?? 1024);
const dataDir = process.env.BENCH_DIR ?? join(tmpdir(), "tracelake-bench");
mkdirSync(dataDir, { recursive: true });
const genJson = join(dataDir, `gen_${sizeMb}mb.json`);
const genNdjson = join(dataDir, `gen_${sizeMb}mb.ndjson`);
if (!existsSync(genJson) || !existsSync(genNdjson)) {
  console.error(`generating ${genJson} (${sizeMb} MiB)...`);
  const g = Bun.spawnSync(
    [process.execPath, join(root, "bench/gen_chrome_trace.ts"), genJson, String(sizeMb), "--ndjson", genNdjson],
    {
      stderr: "inherit",
    },
  );
  if (g.exitCode !== 0) throw new Error("generator failed");
}

const pfMb = Number(process.env.PFTRACE_MB ?? 256);
const genPftrace = join(dataDir, `gen_${pfMb}mb.pftrace`);
if (!existsSync(genPftrace)) {
  console.error(`generating ${genPftrace} (${pfMb} MiB)...`);
  const g = Bun.spawnSync([process.execPath, join(root, "bench/gen_perfetto_trace.ts"), genPftrace, String(pfMb)], {
    stderr: "inherit",
  });
  if (g.exitCode !== 0) throw new Error("generator failed");
}

interface Run {
  seconds: number;
  /** CPU time (user + system) of the ingest process: comparable on a loaded machine. */
  cpuSeconds: number;
  maxRssMb: number;
  summary: { contentBytes: number; eventsFound: number; eventsImported: number; blocks: number; blobBytes: number };
}

/** Reads a file to the end, so that its pages are in the page cache. */
function warm(file: string): void {
  const fd = openSync(file, "r");
  const buf = new Uint8Array(4 << 20);
  try {
    while (readSync(fd, buf) > 0) {}
  } finally {
    closeSync(fd);
  }
}

/** The run of median wall time of `n` runs of `file`, with every run's seconds. */
function medianRun(file: string, n: number): Run & { all: number[] } {
  warm(file);
  const runs: Run[] = [];
  for (let k = 0; k < n; k++) runs.push(runIngest(file));
  const sorted = [...runs].sort((a, b) => a.seconds - b.seconds);
  return { ...(sorted[Math.floor((sorted.length - 1) / 2)] as Run), all: runs.map((r) => r.seconds) };
}

function runIngest(file: string): Run {
  const lake = join(dataDir, "lake");
  rmSync(lake, { recursive: true, force: true });
  const t0 = performance.now();
  const p = Bun.spawnSync([process.execPath, join(root, "main.ts"), "--lake", lake, "ingest", "--json", file], {
    stderr: "inherit",
  });
  const seconds = (performance.now() - t0) / 1000;
  if (p.exitCode !== 0) throw new Error(`ingest of ${file} failed`);
  const maxRss = p.resourceUsage?.maxRSS ?? 0; // kilobytes, as getrusage(2) reports
  const cpu = p.resourceUsage?.cpuTime;
  const cpuSeconds = cpu ? Number(cpu.user + cpu.system) / 1e6 : Number.NaN; // µs
  rmSync(lake, { recursive: true, force: true });
  return { seconds, cpuSeconds, maxRssMb: maxRss / 1024, summary: JSON.parse(p.stdout.toString()) };
}

function line(label: string, bytes: number, seconds: number, events: number, extra = "", unit = "events"): void {
  const mbs = bytes / 1e6 / seconds;
  console.log(
    `${label.padEnd(44)} ${(bytes / 1e6).toFixed(1).padStart(8)} MB  ${seconds.toFixed(2).padStart(7)} s  ${mbs.toFixed(1).padStart(7)} MB/s  ${(events / seconds / 1e3).toFixed(0).padStart(6)} k ${unit}/s${extra}`,
  );
}

const runs = Math.max(1, Number(process.env.BENCH_RUNS ?? 3) || 1);
for (const [label, file, unit] of [
  ["tracelake ingest: real chromium trace", join(root, "fixtures/chromium_startup.json.gz"), "events"],
  [`tracelake ingest: generated ${sizeMb} MiB`, genJson, "events"],
  ["tracelake ingest: real chromium pftrace", join(root, "fixtures/chromium_startup.pftrace.gz"), "packets"],
  [`tracelake ingest: generated ${pfMb} MiB pftrace`, genPftrace, "packets"],
] as const) {
  if (process.env.BENCH_ONLY && !label.includes(process.env.BENCH_ONLY)) continue;
  const r = medianRun(file, runs);
  line(
    label,
    r.summary.contentBytes,
    r.seconds,
    r.summary.eventsFound,
    `  peak RSS ${r.maxRssMb.toFixed(0)} MB  cpu ${r.cpuSeconds.toFixed(1)} s  blocks ${r.summary.blocks}  runs ${r.all.map((x) => x.toFixed(2)).join(" ")} s`,
    unit,
  );
}
if (process.env.BENCH_ONLY) process.exit(0);

// Baselines on the same events as NDJSON, in one DuckDB with the same thread count.
const e = await Engine.open();
const ndBytes = statSync(genNdjson).size;
warm(genNdjson);
const f = genNdjson.replaceAll("'", "''");
let t0 = performance.now();
const c = await e.rows<{ n: bigint }>(`SELECT count(*) AS n FROM read_ndjson('${f}')`);
line("baseline: duckdb read_ndjson count(*)", ndBytes, (performance.now() - t0) / 1000, Number(c[0]?.n));
const out = join(dataDir, "baseline.parquet");
t0 = performance.now();
await e.run(
  `COPY (SELECT * FROM read_ndjson('${f}')) TO '${out}' (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1)`,
);
line("baseline: duckdb read_ndjson → one parquet", ndBytes, (performance.now() - t0) / 1000, Number(c[0]?.n));
rmSync(out, { force: true });
e.close();
