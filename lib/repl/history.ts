/**
 * The REPL's statement history file: one entry per line, oldest first, at most HISTORY_SIZE
 * entries; multi-line statements are stored on one line (lib/repl/split.ts `oneLine`).
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";

/** Entries kept in the file and in memory. */
export const HISTORY_SIZE = 1000;

/**
 * Where the history lives: `$TRACELAKE_HISTORY`, else `$XDG_STATE_HOME/tracelake/history`, else
 * `~/.local/state/tracelake/history` (XDG Base Directory spec: state data such as history).
 * @param env the environment to read (the caller's: cmd/ passes its own).
 */
export function historyPath(env: Record<string, string | undefined>): string {
  if (env.TRACELAKE_HISTORY) return env.TRACELAKE_HISTORY;
  const state = env.XDG_STATE_HOME || join(env.HOME || homedir(), ".local", "state");
  return join(state, "tracelake", "history");
}

/**
 * Reads the history file.
 * @returns entries newest first (readline's order), at most HISTORY_SIZE; [] when the file does
 *   not exist or cannot be read.
 */
export function loadHistory(path: string): string[] {
  try {
    if (!existsSync(path)) return [];
    const lines = readFileSync(path, "utf8")
      .split("\n")
      .filter((l) => l.trim() !== "");
    return lines.slice(-HISTORY_SIZE).reverse();
  } catch {
    return [];
  }
}

/**
 * Appends one entry to the history file, creating its directory; rewrites the file keeping the
 * newest HISTORY_SIZE entries when it has grown to twice that.
 * @param entry one line (no line breaks).
 * @throws the file system's error when the file cannot be written.
 */
export function appendHistory(path: string, entry: string): void {
  mkdirSync(dirname(path), { recursive: true });
  appendFileSync(path, `${entry.replaceAll("\n", " ")}\n`);
  const text = readFileSync(path, "utf8");
  const lines = text.split("\n").filter((l) => l !== "");
  if (lines.length > 2 * HISTORY_SIZE) writeFileSync(path, `${lines.slice(-HISTORY_SIZE).join("\n")}\n`);
}

/**
 * Reverse incremental search (readline's Ctrl-R): the first entry at or after `from` (entries
 * newest first) that contains `query`.
 * @returns its index, or -1 when none does (an empty query matches nothing).
 */
export function searchHistory(history: readonly string[], query: string, from: number): number {
  if (query === "") return -1;
  for (let i = Math.max(0, from); i < history.length; i++) if (history[i]?.includes(query)) return i;
  return -1;
}
