/**
 * Typed errors that lib/ throws and cmd/ turns into one sentence and a non-zero exit code.
 * A `UserError` message is written for the user: it names the input and says what to do.
 */

/** Exit codes used by the CLI (sysexits.h where one fits). */
export const ExitCode = {
  ok: 0,
  /** Usage: an unknown command or option, a missing argument, options that contradict each other (as getopt tools and the DuckDB shell). */
  usage: 2,
  /** Bad input data or arguments (EX_DATAERR). */
  badInput: 65,
  /** Missing or unreadable input file (EX_NOINPUT). */
  noInput: 66,
  /** The lake cannot be used: locked, too new, not writable (EX_CANTCREAT / EX_TEMPFAIL). */
  lake: 73,
  /** A SQL error in the user's query. */
  sql: 1,
  /** Anything unexpected. */
  internal: 70,
  /** Stopped by the user (Ctrl-C: 128 + SIGINT). */
  interrupted: 130,
} as const;

/** An error the user caused or can fix; `message` is the sentence shown. */
export class UserError extends Error {
  /**
   * @param message one sentence naming the input and what to do.
   * @param exitCode process exit code the CLI uses.
   */
  constructor(
    message: string,
    readonly exitCode: number = ExitCode.badInput,
  ) {
    super(message);
    this.name = "UserError";
  }
}

/** The input could not be read or is not a supported trace. */
export class InputError extends UserError {
  constructor(message: string, exitCode: number = ExitCode.badInput) {
    super(message, exitCode);
    this.name = "InputError";
  }
}

/** The lake directory cannot be opened as asked (locked, newer version, not a lake...). */
export class LakeError extends UserError {
  constructor(message: string) {
    super(message, ExitCode.lake);
    this.name = "LakeError";
  }
}

/** A query failed in DuckDB; the message is DuckDB's. */
export class SqlError extends UserError {
  constructor(message: string) {
    super(message, ExitCode.sql);
    this.name = "SqlError";
  }
}

/** The user stopped the work (Ctrl-C); what was done is undone, as the message says. */
export class InterruptedError extends UserError {
  constructor(message: string) {
    super(message, ExitCode.interrupted);
    this.name = "InterruptedError";
  }
}

/** Returns the message of any thrown value. */
export function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * `s` with every control character (C0, DEL, C1; not the space) and lone surrogate written as a
 * visible escape (`\x00`, `\n`, `\u{d800}`), so that text from the input (a file name, a process
 * name, an input excerpt quoted in a message) cannot move the cursor, clear the terminal or
 * hide part of a message when printed.
 */
export function escapeControl(s: string): string {
  return s.replace(
    // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
    /[\u0000-\u001f\u007f-\u009f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g,
    (c) => {
      const code = c.charCodeAt(0);
      if (c === "\n") return "\\n";
      if (c === "\r") return "\\r";
      if (c === "\t") return "\\t";
      if (code <= 0xff) return `\\x${code.toString(16).padStart(2, "0")}`;
      return `\\u{${code.toString(16)}}`;
    },
  );
}
