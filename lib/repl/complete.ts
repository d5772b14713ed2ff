/**
 * Tab completion for the REPL. SQL goes to DuckDB's `sql_auto_complete(text)` (the autocomplete
 * extension, statically linked in the embedded DuckDB: keywords, tables and views of the session,
 * columns of the tables in scope, functions, file paths in FROM) and is filtered to what starts
 * with the typed word. On top of it: view set names and processes inside `view_instance('…',
 * '…')`, file paths in any quoted string, and dot-commands with their arguments.
 */
import { readdirSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import type { DuckDBConnection } from "@duckdb/node-api";
import { EXPORT_PERFETTO_OPTIONS } from "../perfetto/export.ts";
import { OUTPUT_FORMATS } from "../sql/format.ts";
import { VIEW_SETS } from "../views/registry.ts";
import { DOT_COMMANDS, parseDotLine } from "./dot.ts";
import { splitStatements } from "./split.ts";

/** One suggestion of `sql_auto_complete` (DuckDB autocomplete extension). */
export interface SqlSuggestion {
  suggestion: string;
  /** Offset in the text where the suggestion replaces what is there (characters). */
  start: number;
  /** keyword, table, column, scalar_function, table_function, directory, file... */
  type: string;
  /** Lower is better. */
  score: number;
}

/** Where completion gets what the session knows. */
export interface CompletionSource {
  /** DuckDB's suggestions for `text` (the statement up to the cursor). */
  sql(text: string): Promise<SqlSuggestion[]>;
  /** The lake's processes. */
  processes(): Promise<{ process_id: string; exe: string | null; source_pid: string | null }[]>;
  /** Names of the views and tables a query can read. */
  tables(): Promise<string[]>;
  /** SQL keywords and their category (reserved, unreserved, column_name, type_function). */
  keywords(): Promise<Map<string, string>>;
}

/** What to offer: candidate replacements for `text.slice(start)`. */
export interface Completion {
  items: string[];
  /** Offset in the text where the replaced word begins. */
  start: number;
}

const MAX_ITEMS = 200;

/**
 * Completes `text`, the REPL input up to the cursor (earlier lines of a multi-line statement
 * included, joined with `\n`).
 * @returns candidates for the word ending at the cursor, best first; no items when nothing fits.
 */
export async function complete(text: string, src: CompletionSource): Promise<Completion> {
  const trimmed = text.trimStart();
  if (trimmed.startsWith(".") && !trimmed.includes("\n")) return completeDot(text, src);
  const stmtText = splitStatements(text).rest;
  const stmtStart = text.length - stmtText.length;
  // view_instance('<view set>', '<process>')
  const vs = /view_instance\s*\(\s*'([^']*)$/i.exec(stmtText);
  if (vs) {
    const partial = vs[1] ?? "";
    return {
      items: VIEW_SETS.map((v) => v.name)
        .filter((n) => n.startsWith(partial))
        .map((n) => `${n}'`),
      start: text.length - partial.length,
    };
  }
  const vi = /view_instance\s*\(\s*'[^']*'\s*,\s*'([^']*)$/i.exec(stmtText);
  if (vi) {
    const partial = vi[1] ?? "";
    const names = new Set<string>();
    for (const p of await src.processes()) {
      names.add(p.process_id);
      if (p.source_pid) names.add(`pid:${p.source_pid}`);
      if (p.exe) names.add(p.exe);
    }
    return {
      items: [...names].filter((n) => n.startsWith(partial)).map((n) => `${n}'`),
      start: text.length - partial.length,
    };
  }
  const str = openString(stmtText);
  if (str !== null) return { items: completePath(str), start: text.length - str.length };
  // SQL: DuckDB's suggestions, filtered to the typed word.
  const word = /"?[A-Za-z0-9_$]*$/.exec(stmtText)?.[0] ?? "";
  let rows: SqlSuggestion[];
  try {
    rows = await src.sql(stmtText);
  } catch {
    rows = [];
  }
  const keywords = await src.keywords().catch(() => new Map<string, string>());
  const lower = word.replace(/^"/, "").toLowerCase();
  const upper = word !== "" && word === word.toUpperCase() && /[A-Z]/.test(word);
  const items: string[] = [];
  for (const r of [...rows].sort((a, b) => a.score - b.score)) {
    if (r.start !== stmtText.length - word.length) continue;
    const bare = r.suggestion.replace(/^"|"$/g, "").toLowerCase();
    if (!bare.startsWith(lower)) continue;
    if (bare.startsWith("tl_") && !lower.startsWith("tl_")) continue;
    const s =
      upper && r.type === "keyword"
        ? r.suggestion.toUpperCase()
        : r.suggestion.startsWith('"') && !word.startsWith('"') && plainIdentifier(bare, r.type, keywords)
          ? bare
          : r.suggestion;
    if (!items.includes(s)) items.push(s);
    if (items.length >= MAX_ITEMS) break;
  }
  return { items, start: stmtStart + stmtText.length - word.length };
}

/**
 * Whether a name DuckDB quoted can be written without quotes (so that it shares a prefix with
 * what was typed): a lower-case identifier that is no keyword, or an unreserved one (or, for a
 * column, a column_name keyword), as in PostgreSQL's grammar (kwlist.h categories).
 */
function plainIdentifier(name: string, type: string, keywords: Map<string, string>): boolean {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) return false;
  const cat = keywords.get(name);
  return cat === undefined || cat === "unreserved" || (type === "column" && cat === "column_name");
}

async function completeDot(text: string, src: CompletionSource): Promise<Completion> {
  const lead = text.length - text.trimStart().length;
  const body = text.slice(lead);
  const space = body.search(/\s/);
  if (space < 0) {
    const partial = body.slice(1).toLowerCase();
    return {
      items: DOT_COMMANDS.filter((c) => c.name.startsWith(partial)).map((c) => `.${c.name} `),
      start: lead,
    };
  }
  let command: ReturnType<typeof parseDotLine>["command"] = null;
  try {
    command = parseDotLine(body.slice(0, space)).command;
  } catch {
    return { items: [], start: text.length };
  }
  // The word being typed: after the last space, or after an opening quote.
  const m = /(?:^|\s)(["']?)([^\s"']*)$/.exec(body.slice(space));
  const partial = m?.[2] ?? "";
  const start = text.length - partial.length;
  const pick = (xs: readonly string[]) => ({ items: xs.filter((x) => x.startsWith(partial)), start });
  switch (command?.complete) {
    case "mode":
      return pick(OUTPUT_FORMATS);
    case "onoff":
      return pick(["on", "off"]);
    case "table":
      return pick((await src.tables()).sort());
    case "path":
      return { items: completePath(partial), start };
    case "export":
      return { items: await completeExport(body.slice(space), partial, src), start };
    default:
      return { items: [], start };
  }
}

/**
 * Completes the arguments of `.export`: `perfetto`, then the options of `tracelake export
 * perfetto` (EXPORT_PERFETTO_OPTIONS), and the value of the option before the cursor: process
 * ids, `pid:N` and names after `--process`, thread/async/both after `--spans`, a path after
 * `-o`/`--output`.
 * @param args the text after `.export` up to the cursor; `partial` its last word (unquoted).
 */
async function completeExport(args: string, partial: string, src: CompletionSource): Promise<string[]> {
  const words = args
    .trim()
    .split(/\s+/)
    .filter((w) => w !== "");
  const before = args.endsWith(" ") || args.endsWith("\t") ? words : words.slice(0, -1);
  const pick = (xs: Iterable<string>) => [...xs].filter((x) => x.startsWith(partial));
  if (before.length === 0) return pick(["perfetto"]);
  if (before[0] !== "perfetto") return [];
  const prev = before[before.length - 1];
  if (prev === "--process") {
    const names = new Set<string>();
    for (const p of await src.processes()) {
      names.add(p.process_id);
      if (p.source_pid) names.add(`pid:${p.source_pid}`);
      if (p.exe) names.add(p.exe);
    }
    return pick(names);
  }
  if (prev === "--spans") return pick(["thread", "async", "both"]);
  if (prev === "-o" || prev === "--output") return completePath(partial);
  if (prev === "--begin" || prev === "--end") return [];
  // Option names (long forms), each once except the repeatable --process.
  const opts = EXPORT_PERFETTO_OPTIONS.filter(([flags, , repeatable]) => {
    const long = /--[a-z-]+/.exec(flags)?.[0] as string;
    return repeatable || !before.includes(long);
  }).map(([flags]) => /--[a-z-]+/.exec(flags)?.[0] as string);
  return pick(opts);
}

/** The content of a single-quoted string still open at the end of `sql`, or null. */
export function openString(sql: string): string | null {
  let inString = false;
  let from = 0;
  let mode: "code" | "line" | "block" | "double" = "code";
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i];
    if (inString) {
      if (c === "'") {
        if (sql[i + 1] === "'") i++;
        else inString = false;
      }
      continue;
    }
    if (mode === "line") {
      if (c === "\n") mode = "code";
    } else if (mode === "block") {
      if (c === "*" && sql[i + 1] === "/") mode = "code";
    } else if (mode === "double") {
      if (c === '"') mode = "code";
    } else if (c === "'") {
      inString = true;
      from = i + 1;
    } else if (c === '"') mode = "double";
    else if (c === "-" && sql[i + 1] === "-") mode = "line";
    else if (c === "/" && sql[i + 1] === "*") mode = "block";
  }
  return inString ? sql.slice(from) : null;
}

/**
 * File names completing `partial` (a path as typed: relative to the working directory, absolute,
 * or starting with `~/`): entries of its directory that start with its last component,
 * directories with a trailing `/`; hidden entries only when the component starts with `.`.
 */
export function completePath(partial: string): string[] {
  const slash = partial.lastIndexOf("/");
  const dirPart = slash >= 0 ? partial.slice(0, slash + 1) : "";
  const base = slash >= 0 ? partial.slice(slash + 1) : partial;
  const dir = dirPart === "" ? "." : dirPart.startsWith("~/") ? join(homedir(), dirPart.slice(2)) : dirPart;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const n of names.sort()) {
    if (!n.startsWith(base) || (n.startsWith(".") && !base.startsWith("."))) continue;
    let isDir = false;
    try {
      isDir = statSync(join(dir, n)).isDirectory();
    } catch {
      // a dangling link: offer it as a file
    }
    out.push(`${dirPart}${n}${isDir ? "/" : ""}`);
    if (out.length >= MAX_ITEMS) break;
  }
  return out;
}

/**
 * A CompletionSource over a DuckDB connection to the session's database (a second connection of
 * the REPL's engine, so that completing never waits for the query connection).
 */
export function connectionSource(conn: DuckDBConnection): CompletionSource {
  let keywords: Map<string, string> | null = null;
  return {
    async keywords() {
      if (!keywords) {
        const r = await conn.runAndReadAll("SELECT keyword_name AS k, keyword_category AS c FROM duckdb_keywords()");
        keywords = new Map((r.getRowObjectsJS() as { k: string; c: string }[]).map((x) => [x.k, x.c]));
      }
      return keywords;
    },
    async sql(text) {
      const r = await conn.runAndReadAll(
        "SELECT suggestion, suggestion_start AS start, suggestion_type AS type, suggestion_score AS score FROM sql_auto_complete($1)",
        [text],
      );
      return (r.getRowObjectsJS() as unknown as SqlSuggestion[]).map((x) => ({
        ...x,
        start: Number(x.start),
        score: Number(x.score),
      }));
    },
    async processes() {
      try {
        const r = await conn.runAndReadAll(
          "SELECT process_id, exe, source_pid FROM memory.main.processes ORDER BY insert_time",
        );
        return r.getRowObjectsJS() as unknown as {
          process_id: string;
          exe: string | null;
          source_pid: string | null;
        }[];
      } catch {
        return [];
      }
    },
    async tables() {
      const r = await conn.runAndReadAll(
        `SELECT table_name AS n FROM duckdb_tables() WHERE database_name = 'memory' AND schema_name = 'main' AND NOT internal
         UNION SELECT view_name FROM duckdb_views() WHERE database_name = 'memory' AND schema_name = 'main' AND NOT internal`,
      );
      return (r.getRowObjectsJS() as { n: string }[]).map((x) => x.n).filter((n) => !n.startsWith("tl_"));
    },
  };
}
