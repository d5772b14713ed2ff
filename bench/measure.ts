/**
 * Runs a command the way a user does (a fresh process, from spawn to exit) and measures it: wall
 * time, CPU time and peak RSS from the child's rusage. Shared by bench/latency.ts; no printing.
 */

/** One finished run of a command. */
export interface RunResult {
  /** Wall time from just before spawn to exit, in milliseconds. */
  ms: number;
  /** CPU time (user + system) of the process and its threads, in seconds. */
  cpuS: number;
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
  const t0 = performance.now();
  const proc = Bun.spawn(cmd, { stdin: "ignore", stdout: "pipe", stderr: "pipe", env });
  const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  const code = await proc.exited;
  const ms = performance.now() - t0;
  if (code !== 0) {
    throw new Error(`${cmd.join(" ")} exited with ${code}: ${stderr.trim().split("\n").slice(-5).join("\n")}`);
  }
  const ru = proc.resourceUsage();
  // getrusage(2) reports ru_maxrss in kilobytes on Linux and in bytes on macOS.
  const rssBytes = ru ? (process.platform === "darwin" ? ru.maxRSS : ru.maxRSS * 1024) : Number.NaN;
  const cpuS = ru ? Number(ru.cpuTime.total) / 1e6 : Number.NaN;
  return { ms, cpuS, rssMb: rssBytes / 1e6, stdout, stderr };
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
  /** Largest peak RSS over the runs, in MB (a bound must hold on every run). */
  rssMb: number;
  /** Number of runs summarized. */
  runs: number;
}

/** Summarizes measured runs (warm-ups excluded by the caller). */
export function summarize(runs: readonly Pick<RunResult, "ms" | "cpuS" | "rssMb">[]): Summary {
  const ms = runs.map((r) => r.ms);
  return {
    ms: median(ms),
    minMs: Math.min(...ms),
    maxMs: Math.max(...ms),
    cpuS: median(runs.map((r) => r.cpuS)),
    rssMb: Math.max(...runs.map((r) => r.rssMb)),
    runs: runs.length,
  };
}
