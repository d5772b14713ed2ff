/**
 * Splitting SQL text typed or read by the REPL into complete statements.
 *
 * A statement ends at a `;` that is outside string literals ('…', with '' as an escaped quote;
 * E'…' with backslash escapes), quoted identifiers ("…"), dollar-quoted strings ($$…$$ or
 * $tag$…$tag$), line comments (-- to end of line) and block comments (/* … *\/, nested as in
 * PostgreSQL and DuckDB). The lexical rules are DuckDB's (PostgreSQL's scanner, scan.l).
 */

/** The result of splitting: the complete statements and the unfinished rest. */
export interface SplitResult {
  /** Complete statements, without their terminating `;`, trimmed; blank ones are dropped. */
  statements: string[];
  /** Text after the last `;` (a statement still being typed), untrimmed. */
  rest: string;
  /** True when `rest` holds only whitespace and complete comments (nothing to wait for). */
  restBlank: boolean;
}

type Mode = "code" | "single" | "escape" | "double" | "dollar" | "line" | "block";

/**
 * Splits `text` at top-level semicolons.
 * @param text SQL text, possibly several lines, possibly ending inside a statement.
 * @returns complete statements (comments kept, as DuckDB accepts them) and the rest.
 */
export function splitStatements(text: string): SplitResult {
  const statements: string[] = [];
  let mode: Mode = "code";
  let start = 0;
  let depth = 0;
  let tag = "";
  let meaningful = false; // the current statement has a token outside comments
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    const next = text[i + 1];
    switch (mode) {
      case "code":
        if (c === ";") {
          const s = text.slice(start, i).trim();
          if (meaningful && s !== "") statements.push(s);
          start = i + 1;
          meaningful = false;
        } else if (c === "-" && next === "-") {
          mode = "line";
          i++;
        } else if (c === "/" && next === "*") {
          mode = "block";
          depth = 1;
          i++;
        } else if (c === "'") {
          const prev = text[i - 1];
          mode = (prev === "E" || prev === "e") && !isIdentChar(text[i - 2]) ? "escape" : "single";
          meaningful = true;
        } else if (c === '"') {
          mode = "double";
          meaningful = true;
        } else if (c === "$" && !isIdentChar(text[i - 1])) {
          const m = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(text.slice(i));
          if (m) {
            tag = m[0];
            mode = "dollar";
            meaningful = true;
            i += tag.length - 1;
          } else meaningful = true;
        } else if (!/\s/.test(c)) meaningful = true;
        break;
      case "single":
        if (c === "'") {
          if (next === "'") i++;
          else mode = "code";
        }
        break;
      case "escape":
        if (c === "\\") i++;
        else if (c === "'") {
          if (next === "'") i++;
          else mode = "code";
        }
        break;
      case "double":
        if (c === '"') {
          if (next === '"') i++;
          else mode = "code";
        }
        break;
      case "dollar":
        if (c === "$" && text.startsWith(tag, i)) {
          mode = "code";
          i += tag.length - 1;
        }
        break;
      case "line":
        if (c === "\n") mode = "code";
        break;
      case "block":
        if (c === "*" && next === "/") {
          depth--;
          i++;
          if (depth === 0) mode = "code";
        } else if (c === "/" && next === "*") {
          depth++;
          i++;
        }
        break;
    }
    i++;
  }
  const rest = text.slice(start);
  const restBlank = !meaningful && (mode === "code" || mode === "line");
  return { statements, rest, restBlank };
}

function isIdentChar(c: string | undefined): boolean {
  return c !== undefined && /[A-Za-z0-9_]/.test(c);
}

/**
 * One-line form of a statement for the history: line comments become block comments and line
 * breaks become spaces, so the entry still parses as the same statement when recalled.
 * @param stmt a statement as typed (possibly several lines).
 * @returns the statement on one line.
 */
export function oneLine(stmt: string): string {
  if (!stmt.includes("\n")) return stmt;
  let out = "";
  let mode: Mode = "code";
  let tag = "";
  for (let i = 0; i < stmt.length; i++) {
    const c = stmt[i] as string;
    const next = stmt[i + 1];
    if (mode === "line") {
      if (c === "\n") {
        out += " */ ";
        mode = "code";
        while (stmt[i + 1] === " " || stmt[i + 1] === "\t") i++;
      } else out += c === "*" && next === "/" ? "* /" : c;
      continue;
    }
    if (mode === "code") {
      if (c === "-" && next === "-") {
        mode = "line";
        out += "/*";
        i++;
        continue;
      }
      if (c === "'") mode = "single";
      else if (c === '"') mode = "double";
      else if (c === "$") {
        const m = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(stmt.slice(i));
        if (m) {
          tag = m[0];
          mode = "dollar";
          out += tag;
          i += tag.length - 1;
          continue;
        }
      }
      if (c === "\n") {
        out = `${out.trimEnd()} `;
        while (stmt[i + 1] === " " || stmt[i + 1] === "\t") i++;
      } else out += c;
      continue;
    }
    // Inside a literal or quoted identifier the line break is part of the value: keep it.
    if (mode === "single" && c === "'") mode = "code";
    else if (mode === "double" && c === '"') mode = "code";
    else if (mode === "dollar" && c === "$" && stmt.startsWith(tag, i)) {
      out += tag;
      i += tag.length - 1;
      mode = "code";
      continue;
    }
    out += c;
  }
  if (mode === "line") out += " */";
  return out.trim();
}
