/** Driving a program through a pseudo-terminal (Bun.Terminal), as a person at a terminal would. */
import { join } from "node:path";
import { BUN, ROOT } from "./helpers.ts";

/** Removes ANSI escape sequences (cursor moves, colours) from terminal output. */
export function stripAnsi(s: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching escape sequences is the point
  return s.replace(/\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\x1b[=>78]/g, "");
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: matching escape sequences is the point
const ESCAPE = /\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\x1b[=>78]/y;

/** The offset in `raw` after which `n` characters of stripped text have been seen. */
function rawOffset(raw: string, n: number): number {
  let seen = 0;
  let i = 0;
  while (i < raw.length && seen < n) {
    ESCAPE.lastIndex = i;
    const m = ESCAPE.exec(raw);
    if (m) i += m[0].length;
    else {
      i++;
      seen++;
    }
  }
  return i;
}

/** A process on a pseudo-terminal: keys in, screen text out. */
export class Pty {
  private raw = "";
  private mark = 0;
  readonly proc: Bun.Subprocess;
  private readonly term: Bun.Terminal;

  private constructor(cmd: string[], env: Record<string, string>, cols: number, cwd?: string, inherit = true) {
    this.term = new Bun.Terminal({
      cols,
      rows: 50,
      data: (_t, d) => {
        this.raw += new TextDecoder().decode(d);
      },
    });
    this.proc = Bun.spawn(cmd, {
      terminal: this.term,
      cwd,
      env: inherit ? { ...process.env, NO_COLOR: "1", ...env } : { NO_COLOR: "1", ...env },
    });
  }

  /** Starts any command on a terminal `cols` wide, in `cwd`, with exactly the environment `env`. */
  static spawn(cmd: string[], env: Record<string, string>, cols = 200, cwd?: string): Pty {
    return new Pty(cmd, env, cols, cwd, false);
  }

  /** Starts `bun main.ts ARGS` on a terminal `cols` wide. */
  static tracelake(args: string[], env: Record<string, string> = {}, cols = 200): Pty {
    return new Pty([BUN, join(ROOT, "main.ts"), ...args], env, cols);
  }

  /** Everything printed so far, escape sequences removed. */
  get text(): string {
    return stripAnsi(this.raw);
  }

  /** What was printed since the last `since()` or `expect()`. */
  get recent(): string {
    return stripAnsi(this.raw.slice(this.mark));
  }

  /** Types `s` (use "\r" for Enter, "\t" for Tab, "\x03" for Ctrl-C...). */
  type(s: string): void {
    this.term.write(s);
  }

  /**
   * Waits until the output printed after the mark matches `what`, then moves the mark past it.
   * @returns the text from the mark to the end of the match.
   * @throws Error with the recent output when it does not appear within `timeoutMs`.
   */
  async expect(what: string | RegExp, timeoutMs = 20_000): Promise<string> {
    const t0 = Date.now();
    for (;;) {
      const raw = this.raw.slice(this.mark);
      const text = stripAnsi(raw);
      const m =
        typeof what === "string"
          ? text.includes(what)
            ? { index: text.indexOf(what), len: what.length }
            : null
          : (() => {
              const r = what.exec(text);
              return r ? { index: r.index, len: r[0].length } : null;
            })();
      if (m) {
        // Advance the mark past the match in the raw output (escapes interleave, so the mark moves to where
        // the stripped prefix ends).
        const upTo = text.slice(0, m.index + m.len);
        this.mark += rawOffset(raw, upTo.length);
        return upTo;
      }
      if (Date.now() - t0 > timeoutMs) {
        throw new Error(`timed out waiting for ${String(what)}; recent output:\n${text.slice(-3000)}`);
      }
      await Bun.sleep(25);
    }
  }

  /** Closes the terminal and waits for the process to end; returns its exit code. */
  async close(timeoutMs = 10_000): Promise<number | null> {
    const timer = setTimeout(() => this.proc.kill(), timeoutMs);
    const code = await this.proc.exited;
    clearTimeout(timer);
    this.term.close();
    return code;
  }
}
