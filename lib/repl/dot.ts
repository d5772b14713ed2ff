/**
 * Dot-commands of the REPL (`.help`, `.mode csv`, `.read 'my file.sql'`...): the table of
 * commands with their help, parsing a command line into a name and arguments, and suggesting the
 * closest command for a typo.
 */

/** A dot-command: its name (without the dot), argument synopsis and one-line help. */
export interface DotCommand {
  name: string;
  args: string;
  help: string;
  /** What Tab completes in its arguments. */
  complete?: "path" | "table" | "mode" | "onoff" | "export";
}

/** The REPL's dot-commands, in the order `.help` lists them. */
export const DOT_COMMANDS: readonly DotCommand[] = [
  { name: "help", args: "", help: "show this help" },
  { name: "tables", args: "", help: "views and tables with their row counts" },
  {
    name: "schema",
    args: "[NAME]",
    help: "columns and types of a view or table (all views without NAME)",
    complete: "table",
  },
  { name: "processes", args: "", help: "the processes in the lake, with their threads and events" },
  { name: "partitions", args: "[VIEW]", help: "live view partitions (as `tracelake partitions`)", complete: "table" },
  {
    name: "mode",
    args: "table|box|ascii|markdown|line|columns|list|tabs|csv|json|ndjson",
    help: "how results are printed (default table)",
    complete: "mode",
  },
  { name: "maxrows", args: "N", help: "rows shown by table, ascii, markdown, line and columns (default 40)" },
  { name: "maxwidth", args: "N", help: "widest a table may be, in columns (default the terminal's; 0: no limit)" },
  {
    name: "headers",
    args: "on|off",
    help: "column names in columns, list, tabs and csv (default on)",
    complete: "onoff",
  },
  { name: "nullvalue", args: "TEXT", help: "how NULL is shown (default NULL; csv leaves it empty)" },
  { name: "timer", args: "on|off", help: "print how long each statement took (default on)", complete: "onoff" },
  {
    name: "output",
    args: "[FILE]",
    help: "send results to FILE (no FILE: back to the terminal); .csv/.json/.ndjson files get that format",
    complete: "path",
  },
  {
    name: "once",
    args: "FILE",
    help: "send the next result to FILE; .parquet/.csv/.json/.ndjson files get that format",
    complete: "path",
  },
  { name: "print", args: "TEXT...", help: "print TEXT" },
  { name: "shell", args: "CMD...", help: "run CMD in a system shell (also .system)" },
  { name: "read", args: "FILE", help: "run the statements and dot-commands in FILE", complete: "path" },
  {
    name: "ingest",
    args: "FILE...",
    help: "ingest trace files into the lake (as `tracelake ingest`)",
    complete: "path",
  },
  {
    name: "export",
    args: "perfetto --process P|--trace T|--all [options] -o FILE",
    help: "write a Perfetto trace (options of `tracelake export perfetto`)",
    complete: "export",
  },
  {
    name: "open",
    args: "DIR",
    help: "open the lake in DIR (a new or empty DIR: .ingest creates the lake there)",
    complete: "path",
  },
  { name: "gc", args: "", help: "delete files no catalog row needs (as `tracelake gc`)" },
  { name: "history", args: "", help: "show the statement history" },
  { name: "quit", args: "", help: "leave (also .exit, Ctrl-D)" },
];

/** Aliases of commands. */
const ALIASES: Record<string, string> = { exit: "quit", q: "quit", system: "shell" };

/** A parsed dot-command line. */
export interface DotLine {
  /** The command name as typed, without the dot (lower-cased). */
  name: string;
  /** The command it resolves to, or null when unknown. */
  command: DotCommand | null;
  /** Arguments: words split at spaces; '…' and "…" quote a word with spaces ('' and "" escape). */
  args: string[];
}

/**
 * Parses a dot-command line such as `.read "my queries.sql"`.
 * @param line the line, starting with `.`.
 * @throws Error when a quote is not closed (the message says which).
 */
export function parseDotLine(line: string): DotLine {
  const words: string[] = [];
  let i = line.indexOf(".") + 1;
  const s = line.trimEnd();
  while (i < s.length) {
    while (s[i] === " " || s[i] === "\t") i++;
    if (i >= s.length) break;
    let w = "";
    while (i < s.length && s[i] !== " " && s[i] !== "\t") {
      const q = s[i];
      if (q === "'" || q === '"') {
        i++;
        let closed = false;
        while (i < s.length) {
          if (s[i] === q) {
            if (s[i + 1] === q) {
              w += q;
              i += 2;
              continue;
            }
            closed = true;
            i++;
            break;
          }
          w += s[i];
          i++;
        }
        if (!closed) throw new Error(`unclosed ${q} in ${line.trim()}`);
      } else {
        w += q;
        i++;
      }
    }
    words.push(w);
  }
  const name = (words.shift() ?? "").toLowerCase();
  const resolved = ALIASES[name] ?? name;
  return { name, command: DOT_COMMANDS.find((c) => c.name === resolved) ?? null, args: words };
}

/** Levenshtein edit distance between two strings. */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(
        (prev[j] ?? 0) + 1,
        (cur[j - 1] ?? 0) + 1,
        (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

/**
 * The command closest to a misspelt `name`: one it starts, else the smallest edit distance if
 * at most 3 (or half the name's length, when shorter).
 * @returns the command's name, or null when nothing is close.
 */
export function closestCommand(name: string): string | null {
  const names = [...DOT_COMMANDS.map((c) => c.name), ...Object.keys(ALIASES)];
  const prefixed = names.filter((n) => n.startsWith(name) && name.length > 0);
  if (prefixed.length > 0) return ALIASES[prefixed[0] as string] ?? (prefixed[0] as string);
  let best: string | null = null;
  let bestD = Math.min(3, Math.max(1, Math.floor(name.length / 2)));
  for (const n of names) {
    const d = editDistance(name, n);
    if (d <= bestD && (best === null || d < bestD)) {
      best = ALIASES[n] ?? n;
      bestD = d;
    }
  }
  return best;
}
