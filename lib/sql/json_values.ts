/**
 * One JSON for every JSON output (`-f json`, `-f ndjson`, `-o out.json`, the REPL's `.mode json`):
 * values as DuckDB's JSON conversion gives them (BIGINT, HUGEINT, DECIMAL as strings, a JSON
 * column as its text) turned back into JSON by the column's DuckDB type name: integers and
 * decimals as numbers, except integers beyond ±(2^53 - 1) (JavaScript's and most JSON readers'
 * exact range), which stay strings; JSON columns as the objects they hold; lists, arrays, structs
 * and maps converted element by element (a map stays DuckDB's list of {key, value}).
 */

/** A conversion of one value. */
type Convert = (v: unknown) => unknown;

const INTEGER = /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT)$/;

const integer: Convert = (v) => {
  if (typeof v !== "string") return v;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : v;
};
const decimal: Convert = (v) => (typeof v === "string" ? Number(v) : v);
const json: Convert = (v) => {
  if (typeof v !== "string") return v;
  try {
    return JSON.parse(v);
  } catch {
    return v;
  }
};

/** Splits `a, b(c, d), "e, f" g` at its top-level commas (outside parentheses and quotes). */
function splitTop(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '"') quoted = !quoted;
    else if (quoted) continue;
    else if (c === "(") depth++;
    else if (c === ")") depth--;
    else if (c === "," && depth === 0) {
      out.push(s.slice(start, i).trim());
      start = i + 1;
    }
  }
  out.push(s.slice(start).trim());
  return out;
}

/** A STRUCT field `"name" TYPE` or `name TYPE`: its name and type. */
function structField(f: string): [string, string] {
  if (f.startsWith('"')) {
    let i = 1;
    let name = "";
    while (i < f.length) {
      if (f[i] === '"') {
        if (f[i + 1] === '"') {
          name += '"';
          i += 2;
          continue;
        }
        break;
      }
      name += f[i];
      i++;
    }
    return [name, f.slice(i + 1).trim()];
  }
  const sp = f.indexOf(" ");
  return [f.slice(0, sp), f.slice(sp + 1).trim()];
}

/**
 * The conversion for a DuckDB type name (as `DuckDBType.toString()` writes it, with `JSON` for
 * the JSON alias), or null when values stay as they are.
 */
export function jsonConversion(type: string): Convert | null {
  const t = type.trim();
  if (INTEGER.test(t)) return integer;
  if (t.startsWith("DECIMAL")) return decimal;
  if (t === "JSON") return json;
  const list = /^(.*)\[\d*\]$/.exec(t);
  if (list) {
    const inner = jsonConversion(list[1] ?? "");
    return inner && ((v) => (Array.isArray(v) ? v.map((x) => (x === null ? null : inner(x))) : v));
  }
  const struct = /^STRUCT\((.*)\)$/.exec(t);
  if (struct) {
    const fields = splitTop(struct[1] ?? "")
      .map(structField)
      .map(([name, ft]) => [name, jsonConversion(ft)] as const)
      .filter((f): f is readonly [string, Convert] => f[1] !== null);
    if (fields.length === 0) return null;
    return (v) => {
      if (v === null || typeof v !== "object") return v;
      const o = { ...(v as Record<string, unknown>) };
      for (const [name, f] of fields) if (o[name] !== null && o[name] !== undefined) o[name] = f(o[name]);
      return o;
    };
  }
  const map = /^MAP\((.*)\)$/.exec(t);
  if (map) {
    const [k, val] = splitTop(map[1] ?? "").map(jsonConversion);
    if (!k && !val) return null;
    const id: Convert = (x) => x;
    const kc = k ?? id;
    const vc = val ?? id;
    return (v) =>
      Array.isArray(v)
        ? v.map((e: { key: unknown; value: unknown }) => ({
            key: e.key === null ? null : kc(e.key),
            value: e.value === null ? null : vc(e.value),
          }))
        : v;
  }
  return null;
}

const cache = new WeakMap<readonly { name: string; type: string }[], (Convert | null)[]>();

/**
 * One row as a JSON object keyed by column name, values converted by column type (above).
 * @param columns names and DuckDB type names (the conversions are cached per array).
 * @param row values as DuckDB's JSON conversion gives them; NULL is null.
 */
export function jsonRow(columns: readonly { name: string; type: string }[], row: unknown[]): Record<string, unknown> {
  let convs = cache.get(columns);
  if (!convs) {
    convs = columns.map((c) => jsonConversion(c.type));
    cache.set(columns, convs);
  }
  const o: Record<string, unknown> = {};
  for (let k = 0; k < columns.length; k++) {
    const v = row[k] ?? null;
    const f = convs[k];
    o[(columns[k] as { name: string }).name] = v === null || !f ? v : f(v);
  }
  return o;
}

/** JSON column texts → their JSON as jsonLine writes them (bounded: cleared at 8,192). */
const jsonTexts = new Map<string, string>();

/** Per columns array: each key's text with its separator (`{"name":`, `,"other":`), and conversions. */
const lineCache = new WeakMap<
  readonly { name: string; type: string }[],
  { keys: string[]; convs: (Convert | null)[] } | null
>();

/**
 * True when an object keyed by these names keeps them in column order, once each: no duplicate,
 * no `__proto__` (an assignment that sets the prototype), no integer-like name (which objects
 * order first).
 */
function plainNames(columns: readonly { name: string }[]): boolean {
  const seen = new Set<string>();
  for (const { name } of columns) {
    if (seen.has(name) || name === "__proto__" || /^(0|[1-9]\d*)$/.test(name)) return false;
    seen.add(name);
  }
  return true;
}

/** The JSON text of a value as JSON.stringify writes it as an object property (non-finite numbers as null). */
function valueText(v: unknown): string {
  if (v === null || v === undefined) return "null";
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "number") return Number.isFinite(v) ? String(v) : "null";
  if (typeof v === "boolean") return v ? "true" : "false";
  return JSON.stringify(v) ?? "null";
}

/**
 * `JSON.stringify(jsonRow(columns, row))`, written key by key without the object (the text of
 * `-f ndjson` and `-f json` rows: 24 keys per row of thread_spans made an object per row first).
 * Columns whose names an object would reorder or merge (duplicates, integer-like names,
 * `__proto__`) go through jsonRow, so the text is the same either way.
 */
export function jsonLine(columns: readonly { name: string; type: string }[], row: unknown[]): string {
  let c = lineCache.get(columns);
  if (c === undefined) {
    c = plainNames(columns)
      ? {
          keys: columns.map((col, k) => `${k === 0 ? "{" : ","}${JSON.stringify(col.name)}:`),
          convs: columns.map((col) => jsonConversion(col.type)),
        }
      : null;
    lineCache.set(columns, c);
  }
  if (c === null) return JSON.stringify(jsonRow(columns, row));
  if (columns.length === 0) return "{}";
  // One join, not a rope of 2 pieces per column that writing it would flatten.
  const parts: string[] = new Array(2 * columns.length + 1);
  for (let k = 0; k < columns.length; k++) {
    const v = row[k] ?? null;
    const f = c.convs[k];
    parts[2 * k] = c.keys[k] as string;
    if (f === json && typeof v === "string") {
      // A JSON column's text, parsed and written again: the same texts recur (a span's args).
      let t = jsonTexts.get(v);
      if (t === undefined) {
        t = valueText(json(v));
        if (jsonTexts.size >= 8192) jsonTexts.clear();
        jsonTexts.set(v, t);
      }
      parts[2 * k + 1] = t;
    } else parts[2 * k + 1] = valueText(v === null || !f ? v : f(v));
  }
  parts[2 * columns.length] = "}";
  return parts.join("");
}
