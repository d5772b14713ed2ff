/**
 * The write guard of user SQL: a query (tracelake query, the REPL) may read anything and write
 * results anywhere, except into the lake: it may not open the lake's catalog or any file under
 * the lake directory with ATTACH, write there with COPY ... TO or EXPORT DATABASE, run
 * IMPORT DATABASE (whose files hold statements no one checked), install or load extensions, or
 * change the settings that decide where a path leads or what may be loaded (README "tracelake
 * query").
 *
 * DuckDB has no setting for "read everywhere, write nowhere under one directory": its
 * `enable_external_access` with `allowed_directories` limits reads too, and cannot be lifted
 * again, while the same engine materializes partitions into the lake between a REPL's
 * statements. So the guard reads the statements: a small SQL lexer (strings, quoted
 * identifiers, comments, dollar quotes) finds each statement's kind and the path literal of the
 * statements that open or write files, and DuckDB's own parser has the last word on the kind:
 * runStatements checks each prepared statement's type against what the lexer saw
 * (`checkPreparedType`), so a statement the lexer misread is refused, not run.
 */
import { existsSync, realpathSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { basename, dirname, isAbsolute, join, relative, resolve } from "node:path";
import type { Engine } from "../duck/engine.ts";
import { SqlError } from "../errors.ts";

/**
 * DuckDB's statement types the guard looks at (`duckdb_statement_type` in duckdb.h; numbers,
 * so that this module does not load the native binding: lib/duck/native.ts loads it first).
 */
const StatementType = {
  COPY: 11,
  EXPORT: 16,
  LOAD: 21,
  EXTENSION: 23,
  ATTACH: 25,
  COPY_DATABASE: 28,
  UPDATE_EXTENSIONS: 29,
} as const;

/** A lexical token of SQL text. */
interface Token {
  kind: "word" | "quoted" | "string" | "param" | "symbol" | "number";
  /** Word: lowercased; string: its value; symbol: the character. */
  text: string;
  /** Strings: a plain '...' or $$...$$ literal (no E'', X'', U&'' escapes to interpret). */
  plain?: boolean;
}

/**
 * Settings a query may not change: where `~`, relative paths and spill files lead, and what
 * extensions may be installed or loaded from where (any of them could route a later statement
 * around the guard, or stop tracelake's own work in the session).
 */
export const GUARDED_SETTINGS = new Set([
  "home_directory",
  "file_search_path",
  "temp_directory",
  "extension_directory",
  "secret_directory",
  "allow_unsigned_extensions",
  "allow_community_extensions",
  "allow_extensions_metadata_mismatch",
  "autoinstall_known_extensions",
  "autoload_known_extensions",
  "custom_extension_repository",
  "autoinstall_extension_repository",
  "enable_external_access",
  "allowed_directories",
  "allowed_paths",
  "disabled_filesystems",
  "lock_configuration",
]);

/**
 * Splits SQL text into statements of tokens (comments and whitespace dropped; empty statements
 * dropped). Unterminated strings or comments end at the end of the text (DuckDB refuses them).
 */
export function lexStatements(sql: string): Token[][] {
  const out: Token[][] = [];
  let cur: Token[] = [];
  let depth = 0;
  let i = 0;
  const n = sql.length;
  const isWordStart = (c: string) => /[A-Za-z_\u0080-\uffff]/.test(c);
  const isWord = (c: string) => /[A-Za-z0-9_$\u0080-\uffff]/.test(c);
  const quoted = (q: string): string => {
    // sql[i] is the opening quote; doubled quotes stand for one.
    let v = "";
    i++;
    while (i < n) {
      const c = sql[i] as string;
      if (c === q) {
        if (sql[i + 1] === q) {
          v += q;
          i += 2;
          continue;
        }
        i++;
        return v;
      }
      v += c;
      i++;
    }
    return v;
  };
  while (i < n) {
    const c = sql[i] as string;
    if (/\s/.test(c)) {
      i++;
    } else if (c === "-" && sql[i + 1] === "-") {
      while (i < n && sql[i] !== "\n") i++;
    } else if (c === "/" && sql[i + 1] === "*") {
      let nest = 0;
      while (i < n) {
        if (sql[i] === "/" && sql[i + 1] === "*") {
          nest++;
          i += 2;
        } else if (sql[i] === "*" && sql[i + 1] === "/") {
          nest--;
          i += 2;
          if (nest === 0) break;
        } else i++;
      }
    } else if (c === "'") {
      cur.push({ kind: "string", text: quoted("'"), plain: true });
    } else if (c === '"') {
      cur.push({ kind: "quoted", text: quoted('"') });
    } else if (c === "$") {
      const m = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i));
      if (m) {
        const end = sql.indexOf(m[0], i + m[0].length);
        const stop = end < 0 ? n : end;
        cur.push({ kind: "string", text: sql.slice(i + m[0].length, stop), plain: true });
        i = end < 0 ? n : end + m[0].length;
      } else {
        const p = /^\$[A-Za-z0-9_]*/.exec(sql.slice(i)) as RegExpExecArray;
        cur.push({ kind: "param", text: p[0] });
        i += p[0].length;
      }
    } else if (isWordStart(c)) {
      let j = i;
      while (j < n && isWord(sql[j] as string)) j++;
      const word = sql.slice(i, j).toLowerCase();
      i = j;
      if (sql[i] === "'" && (word === "e" || word === "x" || word === "b" || word === "n")) {
        cur.push({ kind: "string", text: quoted("'"), plain: false });
      } else if (word === "u" && sql[i] === "&" && sql[i + 1] === "'") {
        i++;
        cur.push({ kind: "string", text: quoted("'"), plain: false });
      } else cur.push({ kind: "word", text: word });
    } else if (/[0-9]/.test(c)) {
      let j = i;
      while (j < n && /[0-9A-Za-z_.]/.test(sql[j] as string)) j++;
      cur.push({ kind: "number", text: sql.slice(i, j) });
      i = j;
    } else {
      if (c === "(") depth++;
      else if (c === ")") depth = Math.max(0, depth - 1);
      if (c === ";" && depth === 0) {
        if (cur.length > 0) out.push(cur);
        cur = [];
      } else cur.push({ kind: "symbol", text: c });
      i++;
    }
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

/** What the guard found a statement to be. */
export type StatementKind = "attach" | "copy_to" | "copy_from" | "copy_database" | "export" | "other";

/** DuckDB statement types that open or write files, by the kind the lexer must have seen. */
const CHECKED_TYPES = new Map<number, StatementKind[]>([
  [StatementType.ATTACH, ["attach"]],
  [StatementType.COPY, ["copy_to", "copy_from"]],
  [StatementType.COPY_DATABASE, ["copy_database"]],
  [StatementType.EXPORT, ["export"]],
]);
/** DuckDB statement types a query may never run. */
const REFUSED_TYPES = new Set<number>([StatementType.LOAD, StatementType.EXTENSION, StatementType.UPDATE_EXTENSIONS]);

/** The lake directory each engine's user statements are guarded for (set by guardEngine). */
const guardedRoots = new WeakMap<Engine, string>();

/**
 * Records that the user statements `engine` runs are guarded for the lake at `lakeRoot`
 * (lib/sql/query.ts prepareQuery calls it; runStatements reads it back with guardedRoot).
 */
export function guardEngine(engine: Engine, lakeRoot: string): void {
  guardedRoots.set(engine, lakeRoot);
}

/** The lake directory `engine`'s user statements are guarded for, or undefined. */
export function guardedRoot(engine: Engine): string | undefined {
  return guardedRoots.get(engine);
}

/**
 * Checks every statement of `sql` against the guard (see the file comment) before any runs.
 * @param lakeRoot the lake directory (absolute).
 * @returns each statement's kind, in order, for checkPreparedType.
 * @throws SqlError (one sentence) naming the statement refused and why.
 */
export function guardStatements(sql: string, lakeRoot: string): StatementKind[] {
  return lexStatements(sql).map((tokens) => guardStatement(tokens, lakeRoot));
}

/**
 * Checks DuckDB's type of the `index`-th prepared statement against the kinds the lexer found
 * (guardStatements): a statement that opens or writes files must be the one the lexer read, at
 * the same place, or it is refused. Extensions are refused whatever the lexer saw.
 * @throws SqlError when they disagree.
 */
export function checkPreparedType(type: number, index: number, count: number, kinds: StatementKind[]): void {
  if (REFUSED_TYPES.has(type)) throw refused("INSTALL, LOAD and UPDATE EXTENSIONS are not allowed in a query");
  const expect = CHECKED_TYPES.get(type);
  if (!expect) return;
  const kind = count === kinds.length ? kinds[index] : undefined;
  if (kind === undefined || !expect.includes(kind)) {
    throw refused(
      `statement ${index + 1} opens or writes files and tracelake could not check its path; write it as one plain statement with the path as a '...' literal`,
    );
  }
}

function refused(why: string): SqlError {
  return new SqlError(`query refused: ${why}`);
}

/** Checks one statement's tokens; returns its kind or throws SqlError (see guardStatements). */
function guardStatement(all: Token[], lakeRoot: string): StatementKind {
  // Leading parentheses: `(SELECT ...)`.
  let k = 0;
  while (all[k]?.kind === "symbol" && all[k]?.text === "(") k++;
  const t = all.slice(k);
  const w = (j: number): string | undefined => (t[j]?.kind === "word" ? t[j]?.text : undefined);
  switch (w(0)) {
    case "attach": {
      let j = 1;
      while (["database", "or", "replace", "if", "not", "exists"].includes(w(j) ?? "")) j++;
      const path = pathAt(t, j, "ATTACH");
      checkPath(path, lakeRoot, "ATTACH", true);
      return "attach";
    }
    case "copy": {
      if (w(1) === "from" && w(2) === "database") return "copy_database";
      const to = topLevelWord(t, "to");
      if (to < 0) return "copy_from";
      checkPath(pathAt(t, to + 1, "COPY ... TO"), lakeRoot, "COPY ... TO", false);
      return "copy_to";
    }
    case "export": {
      const j = t.findIndex((x) => x.kind === "string");
      checkPath(pathAt(t, j < 0 ? t.length : j, "EXPORT DATABASE"), lakeRoot, "EXPORT DATABASE", false);
      return "export";
    }
    case "import":
      throw refused("IMPORT DATABASE runs the statements of files tracelake cannot check; run them as a query instead");
    case "install":
    case "load":
    case "force":
      throw refused("INSTALL and LOAD are not allowed in a query (tracelake uses the extensions built into it)");
    case "update":
      if (w(1) === "extensions") throw refused("UPDATE EXTENSIONS is not allowed in a query");
      return "other";
    case "set":
    case "reset": {
      let j = 1;
      while (["session", "global", "local"].includes(w(j) ?? "")) j++;
      if (w(j) === "variable") return "other";
      checkSetting(t[j], w(0) === "set" ? "SET" : "RESET");
      return "other";
    }
    case "pragma": {
      const name = t[1]?.kind === "word" || t[1]?.kind === "quoted" ? t[1].text.toLowerCase() : "";
      if (name === "import_database") {
        throw refused("PRAGMA import_database runs the statements of files tracelake cannot check");
      }
      checkSetting(t[1], "PRAGMA");
      return "other";
    }
    case "explain": {
      // EXPLAIN [ANALYZE] [(options)] statement: the statement is checked as if alone.
      let j = 1;
      if (w(j) === "analyze") j++;
      if (t[j]?.kind === "symbol" && t[j]?.text === "(" && w(j + 1) !== "select" && w(j + 1) !== "with") {
        j = closing(t, j) + 1;
      }
      return guardStatement(t.slice(j), lakeRoot);
    }
    case "prepare": {
      const as = t.findIndex((x, j) => j > 0 && x.kind === "word" && x.text === "as");
      return as < 0 ? "other" : guardStatement(t.slice(as + 1), lakeRoot);
    }
    default:
      return "other";
  }
}

function checkSetting(tok: Token | undefined, verb: string): void {
  if (!tok || (tok.kind !== "word" && tok.kind !== "quoted")) return;
  const name = tok.text.toLowerCase();
  if (GUARDED_SETTINGS.has(name)) {
    throw refused(
      `${verb} ${name} is not allowed in a query (it decides where paths lead or what may be loaded, and a query may not write the lake)`,
    );
  }
}

/** Index of `word` outside parentheses, or -1. */
function topLevelWord(t: Token[], word: string): number {
  let depth = 0;
  for (let j = 0; j < t.length; j++) {
    const x = t[j] as Token;
    if (x.kind === "symbol" && x.text === "(") depth++;
    else if (x.kind === "symbol" && x.text === ")") depth--;
    else if (depth === 0 && x.kind === "word" && x.text === word) return j;
  }
  return -1;
}

/** Index of the `)` closing the `(` at `open`. */
function closing(t: Token[], open: number): number {
  let depth = 0;
  for (let j = open; j < t.length; j++) {
    const x = t[j] as Token;
    if (x.kind === "symbol" && x.text === "(") depth++;
    else if (x.kind === "symbol" && x.text === ")" && --depth === 0) return j;
  }
  return t.length;
}

/** The plain string literal at `j` (the path), or a refusal. */
function pathAt(t: Token[], j: number, verb: string): string {
  const x = t[j];
  const next = t[j + 1];
  if (!x || x.kind !== "string" || !x.plain || next?.kind === "string") {
    throw refused(`${verb} takes its path as one plain '...' literal in a query, so that tracelake can check it`);
  }
  return x.text;
}

/**
 * Refuses `path` when it leads into the lake directory (after `~`, relative paths, a
 * `file://` or `<type>:` prefix and symbolic links), or, for ATTACH, is the catalog by another
 * name (a hard link). Remote URLs (`s3://`, `http://`...) and `:memory:` pass.
 */
function checkPath(path: string, lakeRoot: string, verb: string, attach: boolean): void {
  let p = path;
  if (p === "" || p === ":memory:" || p.startsWith(":memory:")) return;
  if (/^file:\/\//i.test(p)) p = p.slice("file://".length);
  else if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(p)) return;
  else if (attach && /^[A-Za-z_][A-Za-z0-9_]*:/.test(p)) p = p.slice(p.indexOf(":") + 1);
  if (p === "" || p === ":memory:") return;
  if (p === "~" || p.startsWith("~/")) p = join(homedir(), p.slice(1));
  const abs = resolve(p);
  const root = realPath(resolve(lakeRoot));
  const target = realPath(abs);
  const rel = relative(root, target);
  const inside = rel === "" || (!rel.startsWith(`..${"/"}`) && rel !== ".." && !isAbsolute(rel));
  const catalog = join(root, "catalog.duckdb");
  if (inside || underByInode(target, root) || (attach && sameFile(abs, catalog))) {
    throw refused(
      `${verb} ${JSON.stringify(path)} leads into the lake ${lakeRoot}, whose catalog and files only tracelake's commands change; read its tables through the query's views, and write results outside the lake`,
    );
  }
}

/** The real path of `p`: its longest existing ancestor resolved (symbolic links), plus the rest. */
function realPath(p: string): string {
  let head = p;
  const tail: string[] = [];
  while (!existsSync(head)) {
    const up = dirname(head);
    if (up === head) return p;
    tail.unshift(basename(head));
    head = up;
  }
  try {
    return join(realpathSync.native(head), ...tail);
  } catch {
    return p;
  }
}

/**
 * True when an existing ancestor of `target` (or itself) is the directory `root` by device and
 * inode: the lake reached by a path that names it differently (letter case on a
 * case-insensitive file system, a bind mount).
 */
function underByInode(target: string, root: string): boolean {
  let r: { dev: number; ino: number };
  try {
    r = statSync(root);
  } catch {
    return false;
  }
  for (let p = target; ; p = dirname(p)) {
    try {
      const st = statSync(p);
      if (st.dev === r.dev && st.ino === r.ino) return true;
    } catch {
      // not there (yet): look at its parent
    }
    if (dirname(p) === p) return false;
  }
}

function sameFile(a: string, b: string): boolean {
  try {
    const x = statSync(a);
    const y = statSync(b);
    return x.dev === y.dev && x.ino === y.ino;
  } catch {
    return false;
  }
}
