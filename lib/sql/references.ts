/**
 * Which JIT views a SQL text reads, so that only those are materialized before it runs:
 * global names (`thread_spans`) and `view_instance('<view set>', '<process>')` calls.
 *
 * SELECT statements are analyzed exactly with DuckDB's parser (`json_serialize_sql`: table
 * references anywhere, in CTEs, joins and subqueries). Other statements (COPY, CREATE TABLE AS,
 * EXPLAIN, ...), which json_serialize_sql refuses, fall back to a scan of the text outside
 * comments and string literals: it may materialize a view that is only mentioned, never less.
 *
 * Function calls (scalar and table, with their arguments) are one list, `functions`, read by the
 * SQL functions that tracelake runs before the statement: the retirement functions
 * (lib/sql/retire_functions.ts) and perfetto_trace_chunks (lib/sql/perfetto_chunks.ts).
 */
import type { Engine } from "../duck/engine.ts";

/** A `view_instance(view_set_name, view_instance_id)` call with literal arguments. */
export interface InstanceReference {
  viewSetName: string;
  /** The second argument as written (a process_id, or a shorthand resolved later). */
  instance: string;
}

/** An argument of a function call, as the statement's AST has it. */
export interface FunctionArgument {
  /**
   * "constant": a literal, or a cast of one (`TIMESTAMP '…'`, `'x'::DATE`); "null": a NULL
   * literal (cast or not); "expression": anything else (a column, a computation).
   */
  kind: "constant" | "null" | "expression";
  /** The literal as text (a string's value, a number's digits); null unless kind is "constant". */
  text: string | null;
  /** The type id of the outermost cast around the literal (`TIMESTAMP`, `TIMESTAMP WITH TIME ZONE`...), or null. */
  castType: string | null;
}

/**
 * A call of a function found in a statement: scalar functions, table functions (in FROM;
 * view_instance included) and, when only the text scan could read the statement, any word
 * followed by `(`.
 */
export interface FunctionCall {
  /** Function name, lower case. */
  name: string;
  /** "table" in FROM, "scalar" elsewhere, "unknown" when found by the text scan. */
  kind: "scalar" | "table" | "unknown";
  /** The arguments in order; null when the text scan found the call (arguments unknown). */
  args: FunctionArgument[] | null;
}

/** The literal texts of a call's arguments (null for a NULL or non-literal one); null when unknown. */
export function literalTexts(call: FunctionCall): (string | null)[] | null {
  return call.args === null ? null : call.args.map((a) => a.text);
}

/** What a SQL text references. */
export interface References {
  /** Names of tables referenced (lower case); the caller keeps those that are view sets. */
  tables: Set<string>;
  instances: InstanceReference[];
  /** Function calls (scalar and table functions, view_instance included), in AST pre-order (text order for the scan). */
  functions: FunctionCall[];
  /** Statements in the text (0 when it could not be parsed as SELECT statements). */
  selectStatements: number;
}

/**
 * Finds the table names and view_instance calls of `sql` (one or more statements).
 * @param engine used for `json_serialize_sql` only.
 */
export async function findReferences(engine: Engine, sql: string): Promise<References> {
  const refs: References = { tables: new Set(), instances: [], functions: [], selectStatements: 0 };
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
    walk(ast, refs, new WeakSet());
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

/**
 * Collects table names, view_instance calls and function calls from the AST. `tableCalls` holds
 * the FUNCTION nodes already recorded as table function calls (so that they are not recorded
 * again as scalar calls when the walk reaches them).
 */
function walk(node: unknown, refs: References, tableCalls: WeakSet<object>): void {
  if (Array.isArray(node)) {
    for (const n of node) walk(n, refs, tableCalls);
    return;
  }
  if (!node || typeof node !== "object") return;
  const n = node as Node & { class?: unknown; function_name?: unknown; children?: unknown[] };
  if (n.class === "FUNCTION" && typeof n.function_name === "string" && !tableCalls.has(n)) {
    refs.functions.push({
      name: n.function_name.toLowerCase(),
      kind: "scalar",
      args: (n.children ?? []).map(argument),
    });
  }
  if (n.type === "BASE_TABLE" && typeof n.table_name === "string") refs.tables.add(n.table_name.toLowerCase());
  if (n.type === "TABLE_FUNCTION" && n.function && typeof n.function === "object") {
    tableCalls.add(n.function);
    const name = String(n.function.function_name).toLowerCase();
    const args = (n.function.children ?? []).map(argument);
    refs.functions.push({ name, kind: "table", args });
    const [viewSetName, instance] = args.map((a) => a.text);
    if (
      name === "view_instance" &&
      args.length === 2 &&
      typeof viewSetName === "string" &&
      typeof instance === "string"
    ) {
      refs.instances.push({ viewSetName, instance });
    }
  }
  for (const v of Object.values(node)) if (v && typeof v === "object") walk(v, refs, tableCalls);
}

/** An argument node of json_serialize_sql's AST as a FunctionArgument. */
function argument(child: unknown): FunctionArgument {
  let c = child as {
    class?: string;
    child?: unknown;
    cast_type?: { id?: unknown };
    value?: { value?: unknown; is_null?: boolean };
  };
  const castType = c?.class === "CAST" && c.cast_type?.id !== undefined ? String(c.cast_type.id) : null;
  while (c?.class === "CAST") c = c.child as typeof c;
  if (c?.class !== "CONSTANT" || !c.value) return { kind: "expression", text: null, castType };
  if (c.value.is_null) return { kind: "null", text: null, castType };
  return {
    kind: "constant",
    text: typeof c.value.value === "string" ? c.value.value : String(c.value.value),
    castType,
  };
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
    } else refs.tables.add(t.text);
    if (next[0]?.text === "(") refs.functions.push({ name: t.text, kind: "unknown", args: null });
  }
}
