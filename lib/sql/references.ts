/**
 * Which JIT views a SQL text reads, so that only those are materialized before it runs:
 * global names (`thread_spans`) and `view_instance('<view set>', '<process>')` calls.
 *
 * SELECT statements are analyzed exactly with DuckDB's parser (`json_serialize_sql`: table
 * references anywhere, in CTEs, joins and subqueries). Other statements (COPY, CREATE TABLE AS,
 * EXPLAIN, ...), which json_serialize_sql refuses, fall back to a scan of the text outside
 * comments and string literals: it may materialize a view that is only mentioned, never less.
 */
import type { Engine } from "./engine.ts";

/** A `view_instance(view_set_name, view_instance_id)` call with literal arguments. */
export interface InstanceReference {
  viewSetName: string;
  /** The second argument as written (a process_id, or a shorthand resolved later). */
  instance: string;
}

/** A call of a function (scalar or table) with its arguments when they are literals. */
export interface FunctionCall {
  /** Function name, lower case. */
  name: string;
  /**
   * Arguments as literal text (a constant, or a cast of a constant, e.g. `TIMESTAMP '...'`
   * gives its string), null for an argument that is not a literal (or is NULL); null for the
   * whole list when the text scan found the call (arguments unknown).
   */
  args: (string | null)[] | null;
}

/** A table function call found in the AST: its name (lower case) and argument nodes. */
export interface TableFunctionReference {
  name: string;
  /** json_serialize_sql expression nodes of the arguments (e.g. `{class: "CONSTANT", value}`). */
  args: unknown[];
  /** True when only named in a statement that json_serialize_sql refuses (args unknown). */
  textOnly?: boolean;
}

/** What a SQL text references. */
export interface References {
  /** Names of tables referenced (lower case); the caller keeps those that are view sets. */
  tables: Set<string>;
  instances: InstanceReference[];
  /** Function calls (scalar and table functions), in text order. */
  functions: FunctionCall[];
  /** Statements in the text (0 when it could not be parsed as SELECT statements). */
  selectStatements: number;
  /** Table function calls other than view_instance (from the AST; the text scan only reports perfetto_trace_chunks, textOnly). */
  tableFunctions: TableFunctionReference[];
}

/**
 * Finds the table names and view_instance calls of `sql` (one or more statements).
 * @param engine used for `json_serialize_sql` only.
 */
export async function findReferences(engine: Engine, sql: string): Promise<References> {
  const refs: References = { tables: new Set(), instances: [], functions: [], selectStatements: 0, tableFunctions: [] };
  let ast: unknown = null;
  try {
    const r = await engine.rows<{ j: string }>("SELECT json_serialize_sql($sql::VARCHAR) AS j", { sql });
    const parsed = JSON.parse(r[0]?.j ?? "null") as { error?: boolean; statements?: unknown[] };
    if (parsed && parsed.error === false) {
      ast = parsed;
      refs.selectStatements = parsed.statements?.length ?? 0;
    }
  } catch {
    ast = null;
  }
  if (ast !== null) {
    walk(ast, refs);
    return refs;
  }
  scanText(sql, refs);
  return refs;
}

interface Node {
  type?: unknown;
  table_name?: unknown;
  function?: { function_name?: unknown; children?: unknown[] };
  value?: { value?: unknown; is_null?: boolean };
}

function walk(node: unknown, refs: References): void {
  if (Array.isArray(node)) {
    for (const n of node) walk(n, refs);
    return;
  }
  if (!node || typeof node !== "object") return;
  const n = node as Node & { class?: unknown; function_name?: unknown; children?: unknown[] };
  if (n.class === "FUNCTION" && typeof n.function_name === "string") {
    refs.functions.push({ name: n.function_name.toLowerCase(), args: (n.children ?? []).map(constantString) });
  }
  if (n.type === "BASE_TABLE" && typeof n.table_name === "string") refs.tables.add(n.table_name.toLowerCase());
  if (n.type === "TABLE_FUNCTION" && n.function && String(n.function.function_name).toLowerCase() !== "view_instance") {
    refs.tableFunctions.push({ name: String(n.function.function_name).toLowerCase(), args: n.function.children ?? [] });
  }
  if (n.type === "TABLE_FUNCTION" && n.function && String(n.function.function_name).toLowerCase() === "view_instance") {
    const args = (n.function.children ?? []).map(constantString);
    const [viewSetName, instance] = args;
    if (args.length === 2 && typeof viewSetName === "string" && typeof instance === "string") {
      refs.instances.push({ viewSetName, instance });
    }
  }
  for (const v of Object.values(node)) if (v && typeof v === "object") walk(v, refs);
}

function constantString(child: unknown): string | null {
  const c = child as { class?: string; child?: unknown; value?: { value?: unknown; is_null?: boolean } };
  if (c?.class === "CAST") return constantString(c.child);
  if (c?.class !== "CONSTANT" || !c.value || c.value.is_null) return null;
  return typeof c.value.value === "string" ? c.value.value : String(c.value.value);
}

/** Fallback: identifiers and `view_instance('a', 'b')` calls outside comments and strings. */
function scanText(sql: string, refs: References): void {
  // Tokens: string literals, quoted identifiers, words, punctuation; comments dropped.
  const tokens: { kind: "str" | "word" | "punct"; text: string }[] = [];
  let i = 0;
  while (i < sql.length) {
    const c = sql[i] as string;
    if (c === "-" && sql[i + 1] === "-") {
      const nl = sql.indexOf("\n", i);
      i = nl < 0 ? sql.length : nl + 1;
    } else if (c === "/" && sql[i + 1] === "*") {
      const end = sql.indexOf("*/", i + 2);
      i = end < 0 ? sql.length : end + 2;
    } else if (c === "'" || c === '"') {
      let j = i + 1;
      let text = "";
      while (j < sql.length) {
        if (sql[j] === c) {
          if (sql[j + 1] === c) {
            text += c;
            j += 2;
            continue;
          }
          break;
        }
        text += sql[j];
        j++;
      }
      tokens.push({ kind: c === "'" ? "str" : "word", text: c === "'" ? text : text.toLowerCase() });
      i = j + 1;
    } else if (/[A-Za-z_]/.test(c)) {
      let j = i + 1;
      while (j < sql.length && /[A-Za-z0-9_$]/.test(sql[j] as string)) j++;
      tokens.push({ kind: "word", text: sql.slice(i, j).toLowerCase() });
      i = j;
    } else {
      if (!/\s/.test(c)) tokens.push({ kind: "punct", text: c });
      i++;
    }
  }
  for (let k = 0; k < tokens.length; k++) {
    const t = tokens[k] as { kind: string; text: string };
    if (t.kind !== "word") continue;
    const next = tokens.slice(k + 1, k + 6);
    if (
      t.text === "view_instance" &&
      next[0]?.text === "(" &&
      next[1]?.kind === "str" &&
      next[2]?.text === "," &&
      next[3]?.kind === "str" &&
      next[4]?.text === ")"
    ) {
      refs.instances.push({ viewSetName: next[1].text, instance: next[3].text });
    } else if (t.text === "perfetto_trace_chunks" && next[0]?.text === "(") {
      refs.tableFunctions.push({ name: t.text, args: [], textOnly: true });
    } else refs.tables.add(t.text);
    if (next[0]?.text === "(") refs.functions.push({ name: t.text, args: null });
  }
}
