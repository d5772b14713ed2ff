/**
 * Result formatting for the CLI: aligned tables, CSV (RFC 4180), JSON and NDJSON. Values come
 * from DuckDB's JSON conversion (BIGINT, HUGEINT, timestamps as strings; lists and structs as
 * arrays and objects; NULL as null).
 */

/** Output formats of `tracelake query`. */
export type OutputFormat = "table" | "csv" | "json" | "ndjson";

/** A column: name and DuckDB type name. */
export interface Column {
  name: string;
  type: string;
}

/** Turns one value into display text for a table cell. */
export function cellText(v: unknown): string {
  if (v === null || v === undefined) return "NULL";
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean" || typeof v === "bigint") return String(v);
  return JSON.stringify(v);
}

/** Terminal display width of a string: East Asian wide and emoji count 2, combining marks 0. */
export function displayWidth(s: string): number {
  let w = 0;
  for (const ch of s) {
    const cp = ch.codePointAt(0) ?? 0;
    if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) continue;
    if ((cp >= 0x300 && cp <= 0x36f) || (cp >= 0x200b && cp <= 0x200f) || cp === 0xfe0f) continue;
    w += isWide(cp) ? 2 : 1;
  }
  return w;
}

function isWide(cp: number): boolean {
  return (
    (cp >= 0x1100 && cp <= 0x115f) ||
    (cp >= 0x2e80 && cp <= 0xa4cf) ||
    (cp >= 0xac00 && cp <= 0xd7a3) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0xfe30 && cp <= 0xfe4f) ||
    (cp >= 0xff00 && cp <= 0xff60) ||
    (cp >= 0xffe0 && cp <= 0xffe6) ||
    (cp >= 0x1f300 && cp <= 0x1faff) ||
    (cp >= 0x20000 && cp <= 0x3fffd)
  );
}

/** Cuts `s` to at most `max` display columns, ending with `…` when cut. Control chars become spaces. */
export function truncate(s: string, max: number): string {
  let clean = "";
  for (const ch of s) {
    const cp = ch.codePointAt(0) ?? 0;
    clean += cp < 0x20 || cp === 0x7f ? " " : ch;
  }
  if (displayWidth(clean) <= max) return clean;
  let out = "";
  let w = 0;
  for (const ch of clean) {
    const cw = displayWidth(ch);
    if (w + cw > max - 1) break;
    out += ch;
    w += cw;
  }
  return `${out}…`;
}

function pad(s: string, width: number, right: boolean): string {
  const fill = " ".repeat(Math.max(0, width - displayWidth(s)));
  return right ? fill + s : s + fill;
}

const NUMERIC =
  /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|FLOAT|DOUBLE|DECIMAL)/;

/** Options for `formatTable`. */
export interface TableOptions {
  /** Widest a column may be, in display columns (default 40). */
  maxColumnWidth?: number;
  /** Total rows of the result when more exist than `rows` holds (for the footer). */
  totalRows?: number;
}

/**
 * Formats rows as a box-drawn table with a header of names and types, numbers right-aligned,
 * wide values truncated with `…`, and a footer "N rows" (or "N rows (M shown)").
 */
export function formatTable(columns: Column[], rows: unknown[][], opts: TableOptions = {}): string {
  const maxW = opts.maxColumnWidth ?? 40;
  const texts = rows.map((r) => columns.map((_, k) => truncate(cellText(r[k]), maxW)));
  const heads = columns.map((c) => truncate(c.name, maxW));
  const types = columns.map((c) => truncate(c.type.toLowerCase(), maxW));
  const widths = columns.map((_, k) =>
    Math.max(displayWidth(heads[k] ?? ""), displayWidth(types[k] ?? ""), ...texts.map((t) => displayWidth(t[k] ?? ""))),
  );
  const right = columns.map((c) => NUMERIC.test(c.type));
  const line = (l: string, m: string, r: string): string => l + widths.map((w) => "─".repeat(w + 2)).join(m) + r;
  const row = (cells: string[], align: boolean[]): string =>
    `│${cells.map((c, k) => ` ${pad(c, widths[k] ?? 0, align[k] ?? false)} `).join("│")}│`;
  const out = [line("┌", "┬", "┐"), row(heads, []), row(types, []), line("├", "┼", "┤")];
  for (const t of texts) out.push(row(t, right));
  out.push(line("└", "┴", "┘"));
  const total = opts.totalRows ?? rows.length;
  const noun = total === 1 ? "row" : "rows";
  out.push(total > rows.length ? `${total} ${noun} (${rows.length} shown)` : `${total} ${noun}`);
  return `${out.join("\n")}\n`;
}

/** Quotes one CSV field when needed (RFC 4180: quotes, commas, line breaks). NULL is empty. */
export function csvField(v: unknown): string {
  if (v === null || v === undefined) return "";
  const s = typeof v === "object" ? JSON.stringify(v) : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** One CSV line (with `\n`). */
export function csvLine(values: unknown[]): string {
  return `${values.map(csvField).join(",")}\n`;
}

/** One NDJSON line: an object keyed by column name. */
export function ndjsonLine(columns: Column[], row: unknown[]): string {
  const o: Record<string, unknown> = {};
  columns.forEach((c, k) => {
    o[c.name] = row[k] ?? null;
  });
  return `${JSON.stringify(o)}\n`;
}
