/**
 * Load test of `tracelake serve` on loopback (issue 21; not part of the test suite): a bounded
 * burst of RATE spans/s for SECONDS seconds, sent as OTLP/HTTP protobuf requests of BATCH spans
 * (generated data, labelled as such: one service, spans with a few attributes), while a second
 * process runs `tracelake query "SELECT count(*) FROM async_events"` in a loop. Prints, one
 * figure per line: spans offered and accepted per second, spans committed (counted by a query at
 * the end) per second of the run, commit latency (serve's --log-commits lines: median, p99, max),
 * request latency (p50, p99, max), the query loop's runs and median latency, the serve process's
 * peak RSS (VmHWM), and the load average before and after (the machine may be shared). Also the
 * spans committed while the load ran (the commit lines timed as they arrive: overall, and the
 * steady rate from the first commit to the last) and serve's CPU-s (/proc) per 100k spans; the
 * `committed` line's rate counts the 1.5 s wait, the query loop's last run and the shutdown too.
 *
 * Usage: bun bench/serve_load.ts [--rate 50000] [--seconds 10] [--batch 1000] [--bin dist/tracelake] [--no-query]
 *   [--process-events N]
 *   --bin: the binary to run (default: `bun main.ts`, the sources); --no-query: no query loop
 *   (serve's own figures, without a second process contending for the catalog); --process-events:
 *   serve's option of that name.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { makeBodies } from "./otlp_bodies.ts";

const { values: args } = parseArgs({
  options: {
    rate: { type: "string", default: "50000" },
    seconds: { type: "string", default: "10" },
    batch: { type: "string", default: "1000" },
    bin: { type: "string" },
    "no-query": { type: "boolean", default: false },
    "process-events": { type: "string" },
  },
});
const RATE = Number(args.rate);
const SECONDS = Number(args.seconds);
const BATCH = Number(args.batch);
const ROOT = resolve(import.meta.dir, "..");
const cmd = args.bin ? [resolve(args.bin)] : [process.execPath, join(ROOT, "main.ts")];
const lake = join(mkdtempSync(join(tmpdir(), "tl-serve-load-")), "lake");

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : (s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number);
};

const load0 = loadavg();
const bodies = makeBodies(50, BATCH);
const processEvents = args["process-events"] ? ["--process-events", args["process-events"]] : [];
const serve = Bun.spawn([...cmd, "--lake", lake, "serve", "--port", "0", "--log-commits", ...processEvents], {
  stdout: "ignore",
  stderr: "pipe",
  env: { ...process.env, NO_COLOR: "1" },
});
let stderr = "";
/** Each commit line as it arrived: when (ms since `started`), events committed. */
const commitLog: { at: number; events: number }[] = [];
let started = 0;
const reader = (serve.stderr as ReadableStream<Uint8Array>).getReader();
let port = 0;
while (port === 0) {
  const { value, done } = await reader.read();
  if (done) throw new Error(`serve ended: ${stderr}`);
  stderr += new TextDecoder().decode(value);
  port = Number(stderr.match(/127\.0\.0\.1:(\d+)/)?.[1] ?? 0);
}
void (async () => {
  let line = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    const text = new TextDecoder().decode(value);
    stderr += text;
    line += text;
    const lines = line.split("\n");
    line = lines.pop() ?? "";
    for (const l of lines) {
      const m = l.match(/^committed ([\d,]+) events/);
      if (m) commitLog.push({ at: performance.now() - started, events: Number((m[1] as string).replaceAll(",", "")) });
    }
  }
})();
const url = `http://127.0.0.1:${port}/v1/traces`;

// The query loop, in a second process (one `tracelake query` process per run, as a user's).
let querying = !args["no-query"];
const queryMs: number[] = [];
const queryLoop = (async () => {
  while (querying) {
    const t = performance.now();
    const q = Bun.spawn([...cmd, "--lake", lake, "query", "SELECT count(*) FROM async_events"], {
      stdout: "ignore",
      stderr: "ignore",
    });
    await q.exited;
    queryMs.push(performance.now() - t);
  }
})();

const reqMs: number[] = [];
const statuses = new Map<number, number>();
let accepted = 0;

const inflight = new Set<Promise<void>>();
started = performance.now();
const perRequestMs = (1000 * BATCH) / RATE;
for (let k = 0; ; k++) {
  const due = started + k * perRequestMs;
  if (due - started >= SECONDS * 1000) break;
  const wait = due - performance.now();
  if (wait > 0) await Bun.sleep(wait);
  while (inflight.size >= 16) await Promise.race(inflight);
  const body = bodies[k % bodies.length] as Uint8Array;

  const t = performance.now();
  const p = fetch(url, { method: "POST", body, headers: { "content-type": "application/x-protobuf" } })
    .then(async (r) => {
      await r.arrayBuffer();
      reqMs.push(performance.now() - t);
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      if (r.status === 200) accepted += BATCH;
    })
    .finally(() => inflight.delete(p));
  inflight.add(p);
}
await Promise.all(inflight);
const sendSeconds = (performance.now() - started) / 1000;
const hwm = (): number => {
  const m = readFileSync(`/proc/${serve.pid}/status`, "utf8").match(/VmHWM:\s+(\d+) kB/);
  return m ? Number(m[1]) / 1024 : Number.NaN;
};
// Wait for the last window to commit, then stop serve (Ctrl-C) and count what the lake holds.
await Bun.sleep(1500);
const peakRss = hwm();
/** CPU-seconds (user + system) the serve process used so far (/proc/<pid>/stat utime, stime; 100 Hz ticks). */
const cpuSeconds = (): number => {
  const f = readFileSync(`/proc/${serve.pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return (Number(f[11]) + Number(f[12])) / 100;
};
const serveCpu = cpuSeconds();
// Spans committed while the load ran and until the last window after it (2 events per span).
const runCommits = [...commitLog];
const runSpans = runCommits.reduce((n, c) => n + c.events, 0) / 2;
const lastCommitS = (runCommits.at(-1)?.at ?? Number.NaN) / 1000;
// The steady rate: spans of the commits after the first, over the time from the first to the last.
const steadySpans = runCommits.slice(1).reduce((n, c) => n + c.events, 0) / 2;
const steadyS = ((runCommits.at(-1)?.at ?? Number.NaN) - (runCommits[0]?.at ?? Number.NaN)) / 1000;
querying = false;
await queryLoop;
serve.kill("SIGINT");
await serve.exited;
const totalSeconds = (performance.now() - started) / 1000;
const counted = Bun.spawnSync([
  ...cmd,
  "--lake",
  lake,
  "query",
  "SELECT count(*) FROM async_events WHERE phase = 'b'",
  "-f",
  "csv",
]);
const committed = Number(counted.stdout.toString().trim().split("\n")[1]);
const commits = [...stderr.matchAll(/committed [\d,]+ events in \d+ blocks \((\d+) ms/g)].map((m) => Number(m[1]));
const load1 = loadavg();
rmSync(resolve(lake, ".."), { recursive: true, force: true });

const f = (x: number, d = 0): string => x.toFixed(d);
console.log("tracelake serve load test (generated spans, OTLP/HTTP protobuf on loopback)");
console.log(`binary: ${cmd.join(" ")}`);
console.log(`offered: ${f(RATE)} spans/s for ${SECONDS} s in requests of ${BATCH} spans`);
console.log(`responses: ${[...statuses.entries()].map(([s, n]) => `${n}×${s}`).join(", ")}`);
console.log(`accepted: ${f(accepted / sendSeconds)} spans/s (${accepted} spans in ${f(sendSeconds, 1)} s)`);
console.log(`committed: ${committed} spans (${f(committed / totalSeconds)} spans/s over ${f(totalSeconds, 1)} s)`);
console.log(
  `committed while running: ${runSpans} spans by ${f(lastCommitS, 2)} s (${f(runSpans / lastCommitS)} spans/s; the last window ended ${f(lastCommitS - sendSeconds, 2)} s after sending ended)`,
);
console.log(
  `committed, steady: ${f(steadySpans / steadyS)} spans/s (${steadySpans} spans in the commits after the first, over the ${f(steadyS, 2)} s from the first to the last)`,
);
console.log(
  `serve CPU: ${f(serveCpu, 2)} CPU-s until the end of the run, ${f((100_000 * serveCpu) / runSpans, 3)} CPU-s per 100k spans`,
);
console.log(
  `commit latency: median ${f(pct(commits, 50))} ms, p99 ${f(pct(commits, 99))} ms, max ${f(Math.max(...commits))} ms (${commits.length} commits)`,
);
console.log(
  `request latency: p50 ${f(pct(reqMs, 50), 1)} ms, p99 ${f(pct(reqMs, 99), 1)} ms, max ${f(Math.max(...reqMs), 1)} ms`,
);
console.log(
  `query loop: ${queryMs.length} queries, median ${f(pct(queryMs, 50))} ms, max ${f(Math.max(...queryMs))} ms`,
);
console.log(`serve peak RSS: ${f(peakRss)} MB`);
console.log(
  `load average before: ${load0.map((x) => x.toFixed(2)).join(" ")}; after: ${load1.map((x) => x.toFixed(2)).join(" ")}`,
);
