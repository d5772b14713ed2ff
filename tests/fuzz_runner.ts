/**
 * The parent side of the fuzz tests (tests/hardening_fuzz.test.ts, tests/ingest/perfetto_fuzz.test.ts):
 * runs a child script that prints one line per case (`start N`, `ok N imported|rejected TEXT...`,
 * `crash N TEXT...`, then `done`), puts a time limit on every started case (killing the child on a
 * hang, which is then named), and collects the outcomes.
 */
import { BUN } from "./helpers.ts";

/** What the cases did. */
export interface FuzzOutcome {
  imported: number;
  /** The rejection message of each rejected case. */
  rejected: string[];
  crashes: string[];
  /** The case that did not end in time, if any. */
  hung: string | null;
}

/**
 * Runs `bun child ...args`, with `caseLimitMs` per case once started.
 * @returns the outcomes; a child that ends without `done` (and did not hang) is a crash.
 */
export async function runFuzzChild(child: string, args: string[], caseLimitMs: number): Promise<FuzzOutcome> {
  const proc = Bun.spawn([BUN, child, ...args], { stdout: "pipe", stderr: "pipe" });
  const out: FuzzOutcome = { imported: 0, rejected: [], crashes: [], hung: null };
  let current = -1;
  let started = 0;
  const watchdog = setInterval(() => {
    if (current >= 0 && performance.now() - started > caseLimitMs && out.hung === null) {
      out.hung = `case ${current} (bun ${child} ${args.join(" ")}) did not end within ${caseLimitMs} ms`;
      proc.kill(9);
    }
  }, 50);
  let text = "";
  let done = false;
  const dec = new TextDecoder();
  try {
    for await (const chunk of proc.stdout) {
      text += dec.decode(chunk, { stream: true });
      for (let nl = text.indexOf("\n"); nl >= 0; nl = text.indexOf("\n")) {
        const line = text.slice(0, nl);
        text = text.slice(nl + 1);
        const [what, idx, kind, ...rest] = line.split(" ");
        if (what === "start") {
          current = Number(idx);
          started = performance.now();
        } else if (what === "ok") {
          current = -1;
          if (kind === "imported") out.imported++;
          else out.rejected.push(rest.join(" "));
        } else if (what === "crash") {
          current = -1;
          out.crashes.push(`case ${idx}: ${[kind, ...rest].join(" ")}`);
        } else if (what === "done") done = true;
      }
    }
    await proc.exited;
  } finally {
    clearInterval(watchdog);
  }
  if (!done && out.hung === null) out.crashes.push(`the child ended early: ${await new Response(proc.stderr).text()}`);
  return out;
}
