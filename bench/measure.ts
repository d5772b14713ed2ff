/**
 * Runs a command the way a user does (a fresh process, from spawn to exit) and measures it: wall
 * time, CPU time and peak RSS. Shared by bench/latency.ts; no printing.
 *
 * Two costs of the bench's own are taken out once `calibrate()` has run:
 * - spawning from this (large) Bun process costs ~26 ms before the child runs at all (measured:
 *   Bun.spawn of /bin/true, median 26 ms, where a shell or hyperfine spawns it in ~1 ms), so the
 *   median wall time of spawning /bin/true the same way is subtracted from every run;
 * - on Linux, the child's rusage peak RSS includes this process's RSS at the fork (exec records
 *   the old memory's high-water mark: a compiled hello world "used" 44 MB), so the peak comes
 *   from GNU time (`/usr/bin/time -f %M`, which forks from a small process) when it is there;
 *   elsewhere from rusage, which then over-reports small commands.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** What `calibrate` found: the spawn cost to subtract (ms) and GNU time's path, or null. */
let calibration: { spawnMs: number; gnuTime: string | null } = { spawnMs: 0, gnuTime: null };

/**
 * Measures the bench's own spawn cost (median of 9 runs of /bin/true, through GNU time when
 * found) and looks for GNU time; runOnce then corrects for both (see the file comment).
 * @returns the spawn cost in ms and whether peak RSS comes from GNU time.
 */
export async function calibrate(): Promise<{ spawnMs: number; gnuTime: boolean }> {
  let gnuTime: string | null = null;
  if (process.platform === "linux") {
    try {
      const v = Bun.spawnSync(["/usr/bin/time", "--version"], { stdout: "pipe", stderr: "pipe" });
      if (`${v.stdout}${v.stderr}`.includes("GNU")) gnuTime = "/usr/bin/time";
    } catch {
      gnuTime = null;
    }
  }
  calibration = { spawnMs: 0, gnuTime };
  const ms: number[] = [];
  for (let i = 0; i < 9; i++) ms.push((await runOnce(["/bin/true"])).ms);
  calibration = { spawnMs: median(ms), gnuTime };
  return { spawnMs: calibration.spawnMs, gnuTime: gnuTime !== null };
}

/** One finished run of a command. */
export interface RunResult {
  /** Wall time from just before spawn to exit, less the bench's own spawn cost (`calibrate`), in milliseconds. */
  ms: number;
  /** CPU time (user + system) of the process and its threads, in seconds. */
  cpuS: number;
  /** The system (kernel) part of cpuS, in seconds: on a VM with costly page faults, mostly those. */
  sysS: number;
  /** Peak resident set size of the process, in MB (10^6 bytes); NaN when the OS did not report it. */
  rssMb: number;
  /** Everything the command wrote to stdout / stderr (UTF-8). */
  stdout: string;
  stderr: string;
}

/**
 * Runs `cmd` once to completion (stdout and stderr captured, stdin closed) and measures it.
 * `env` replaces the environment (pass a copy of process.env to extend it).
 * Throws an Error naming the command, its exit code and the tail of its stderr when it exits
 * non-zero, so a broken row stops the bench instead of timing an error message.
 */
export async function runOnce(cmd: string[], env?: Record<string, string | undefined>): Promise<RunResult> {
  const { spawnMs, gnuTime } = calibration;
  const dir = gnuTime ? mkdtempSync(join(tmpdir(), "tracelake-run-")) : null;
  const rssFile = dir ? join(dir, "rss") : "";
  try {
    const argv = gnuTime ? [gnuTime, "-o", rssFile, "-f", "%M", ...cmd] : cmd;
    const t0 = performance.now();
    const proc = Bun.spawn(argv, { stdin: "ignore", stdout: "pipe", stderr: "pipe", env });
    const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
    const code = await proc.exited;
    const ms = Math.max(0, performance.now() - t0 - spawnMs);
    if (code !== 0) {
      throw new Error(`${cmd.join(" ")} exited with ${code}: ${stderr.trim().split("\n").slice(-5).join("\n")}`);
    }
    // The child's (through GNU time: its waited child's) user + system time.
    const ru = proc.resourceUsage();
    const cpuS = ru ? Number(ru.cpuTime.total) / 1e6 : Number.NaN;
    const sysS = ru ? Number(ru.cpuTime.system) / 1e6 : Number.NaN;
    let rssBytes: number;
    if (gnuTime) rssBytes = Number(readFileSync(rssFile, "utf8").trim().split("\n").pop()) * 1024;
    // getrusage(2) reports ru_maxrss in kilobytes on Linux and in bytes on macOS.
    else rssBytes = ru ? (process.platform === "darwin" ? ru.maxRSS : ru.maxRSS * 1024) : Number.NaN;
    return { ms, cpuS, sysS, rssMb: rssBytes / 1e6, stdout, stderr };
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

/** The median of `xs` (mean of the two middle values for an even count); NaN for none. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** Summary of several runs of one figure: medians (and the spread of wall times). */
export interface Summary {
  /** Median wall time, min and max, in ms. */
  ms: number;
  minMs: number;
  maxMs: number;
  /** Median CPU seconds. */
  cpuS: number;
  /** Median system CPU seconds. */
  sysS: number;
  /** Largest peak RSS over the runs, in MB (a bound must hold on every run). */
  rssMb: number;
  /** Number of runs summarized. */
  runs: number;
}

/** Summarizes measured runs (warm-ups excluded by the caller). */
export function summarize(runs: readonly Pick<RunResult, "ms" | "cpuS" | "sysS" | "rssMb">[]): Summary {
  const ms = runs.map((r) => r.ms);
  return {
    ms: median(ms),
    minMs: Math.min(...ms),
    maxMs: Math.max(...ms),
    cpuS: median(runs.map((r) => r.cpuS)),
    sysS: median(runs.map((r) => r.sysS)),
    rssMb: Math.max(...runs.map((r) => r.rssMb)),
    runs: runs.length,
  };
}

/** Bytes of the buffer firstTouchMicros touches, and the page size it assumes (4 KiB). */
const TOUCH_BYTES = 64 * 1024 * 1024;
const PAGE_BYTES = 4096;

/**
 * What a fresh page of memory costs this machine: the median over 3 runs of the time to write
 * one byte of each 4 KiB page of a new 64 MiB buffer (a zeroed allocation the kernel maps on
 * first touch), per page, in µs. Every MB a command's memory grows by costs ~256 such faults:
 * usually well under 1 µs each on bare-metal Linux, 10-15 µs on the 2-core VM the issue 22
 * targets were set on (so there each MB of peak RSS growth is ~3 ms of system time).
 */
export function firstTouchMicros(): number {
  const per: number[] = [];
  for (let r = 0; r < 3; r++) {
    const b = new Uint8Array(TOUCH_BYTES);
    const t0 = performance.now();
    for (let i = 0; i < TOUCH_BYTES; i += PAGE_BYTES) b[i] = 1;
    per.push(((performance.now() - t0) * 1000) / (TOUCH_BYTES / PAGE_BYTES));
  }
  return median(per);
}
