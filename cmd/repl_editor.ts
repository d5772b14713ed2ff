/**
 * Line editing for the REPL: Node's readline (which Bun implements: Emacs keys, history
 * navigation, a completer, SIGINT on Ctrl-C) plus what it lacks, Ctrl-R reverse incremental
 * search through the history, added on top of readline's key handling.
 *
 * readline has no public hook for key bindings, so the search wraps its internal `_ttyWrite`
 * (the per-key handler, stable in Node's lib/internal/readline/interface.js and in Bun's port)
 * and redraws with `_refreshLine`. If those are missing, Ctrl-R simply does nothing.
 */
import type { Interface } from "node:readline";
import { searchHistory } from "../lib/repl/history.ts";

interface Key {
  name?: string;
  ctrl?: boolean;
  meta?: boolean;
}

interface ReadlineInternals {
  _ttyWrite(s: string | undefined, key: Key | undefined): void;
  _refreshLine(): void;
  line: string;
  cursor: number;
  history: string[];
}

/**
 * Adds Ctrl-R reverse-i-search to `rl`: typing narrows the search, Ctrl-R again finds an older
 * match, Backspace widens it, Enter runs the match, Ctrl-G or Ctrl-C cancels, any other key
 * (arrows, Ctrl-A/E...) keeps the match in the line for editing.
 * @param prompt the prompt to restore when the search ends (it may change between lines).
 */
export function installReverseSearch(rl: Interface, prompt: () => string): void {
  const r = rl as unknown as ReadlineInternals;
  if (typeof r._ttyWrite !== "function" || typeof r._refreshLine !== "function") return;
  const original = r._ttyWrite.bind(rl);
  let active = false;
  let query = "";
  let index = -1;
  let saved = "";
  const show = (): void => {
    const match = index >= 0 ? (r.history[index] ?? "") : "";
    const failed = query !== "" && index < 0;
    rl.setPrompt(`(${failed ? "failed " : ""}reverse-i-search)'${query}': `);
    r.line = match;
    r.cursor = Math.max(0, match.indexOf(query));
    r._refreshLine();
  };
  const end = (line: string): void => {
    active = false;
    rl.setPrompt(prompt());
    r.line = line;
    r.cursor = line.length;
    r._refreshLine();
  };
  r._ttyWrite = (s, key) => {
    if (!active) {
      if (key?.ctrl && key.name === "r") {
        active = true;
        query = "";
        index = -1;
        saved = r.line;
        show();
        return;
      }
      original(s, key);
      return;
    }
    if (key?.ctrl && key.name === "r") {
      const next = searchHistory(r.history, query, index + 1);
      if (next >= 0) index = next;
      show();
      return;
    }
    if (key?.ctrl && (key.name === "g" || key.name === "c")) {
      end(saved);
      return;
    }
    if (key?.name === "backspace") {
      query = query.slice(0, -1);
      index = searchHistory(r.history, query, 0);
      show();
      return;
    }
    if (key?.name === "return" || key?.name === "enter") {
      end(index >= 0 ? (r.history[index] ?? "") : saved);
      original(s, key);
      return;
    }
    if (
      s !== undefined &&
      s.length > 0 &&
      !key?.ctrl &&
      !key?.meta &&
      ![...s].some((ch) => ch < " " || ch === "\x7f")
    ) {
      query += s;
      index = searchHistory(r.history, query, Math.max(index, 0));
      show();
      return;
    }
    end(index >= 0 ? (r.history[index] ?? "") : saved);
    original(s, key);
  };
}
