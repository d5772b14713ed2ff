/**
 * Result formatting for the CLI: aligned tables, CSV (RFC 4180), JSON and NDJSON. Values come
 * from DuckDB's JSON conversion (BIGINT, HUGEINT, timestamps as strings; lists and structs as
 * arrays and objects; NULL as null).
 */

/**
 * Output formats of `tracelake query` and `.mode` of the REPL. `table` and `box` are the same
 * box-drawn table (`table` is the name `query -f` has always had; `box` is DuckDB's), `ascii`
 * draws it with + - | (DuckDB's `.mode table`).
 */
export type OutputFormat = "table" | "box" | "ascii" | "markdown" | "line" | "csv" | "json" | "ndjson";

/** Every output format, in the order help texts list them. */
export const OUTPUT_FORMATS: readonly OutputFormat[] = [
  "table",
  "box",
  "ascii",
  "markdown",
  "line",
  "csv",
  "json",
  "ndjson",
];

/** Formats that need all shown rows before printing (the others stream). */
export const BUFFERED_FORMATS: readonly OutputFormat[] = ["table", "box", "ascii", "markdown", "line"];

/** A column: name and DuckDB type name. */
export interface Column {
  name: string;
  type: string;
}

/**
 * Turns one value (as DuckDB's JSON conversion gives it) into display text: NULL for null,
 * strings as they are, lists/structs/maps as JSON.
 */
export function cellText(v: unknown): string {
  if (v === null || v === undefined) return "NULL";
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean" || typeof v === "bigint") return String(v);
  return JSON.stringify(v);
}

/**
 * Terminal display width of a string in columns: East Asian wide characters and emoji
 * (including ZWJ sequences and flags) count 2, combining marks and zero-width characters 0
 * (Bun.stringWidth, which follows Unicode UAX #11 and emoji presentation rules).
 */
export function displayWidth(s: string): number {
  return Bun.stringWidth(s);
}

const graphemes = new Intl.Segmenter(undefined, { granularity: "grapheme" });

/**
 * Cuts `s` to at most `max` display columns, ending with `…` when cut; never splits a grapheme
 * cluster (an emoji sequence or a letter with its combining marks). Control characters (line
 * breaks, tabs, escapes) become spaces so that a cell stays on one line.
 */
export function truncate(s: string, max: number): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: replacing control characters is the point
  const clean = s.replace(/[\u0000-\u001f\u007f-\u009f]/g, " ");
  if (displayWidth(clean) <= max) return clean;
  let out = "";
  let w = 0;
  for (const { segment } of graphemes.segment(clean)) {
    const cw = displayWidth(segment);
    if (w + cw > max - 1) break;
    out += segment;
    w += cw;
  }
  return `${out}…`;
}

function pad(s: string, width: number, right: boolean): string {
  const fill = " ".repeat(Math.max(0, width - displayWidth(s)));
  return right ? fill + s : s + fill;
}

/** Narrowest a column is made to fit the table in maxWidth, before columns are hidden. */
const MIN_NARROWED = 8;

const NUMERIC =
  /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|FLOAT|DOUBLE|DECIMAL)/;

/** Options for `formatTable` and `formatRows`. */
export interface TableOptions {
  /** Widest a column may be, in display columns (default 40). */
  maxColumnWidth?: number;
  /**
   * Widest the whole table may be, in display columns (e.g. the terminal's width): the widest
   * columns are narrowed (down to 8 columns each) until it fits, then columns in the middle are
   * hidden behind a "…" column and the footer says how many are shown. Default: no limit.
   */
  maxWidth?: number;
  /** Total rows of the result when more exist than `rows` holds (for the footer). */
  totalRows?: number;
}

const BOX = { top: ["┌", "┬", "┐", "─"], mid: ["├", "┼", "┤", "─"], bottom: ["└", "┴", "┘", "─"], v: "│" };
const ASCII = { top: ["+", "+", "+", "-"], mid: ["+", "+", "+", "-"], bottom: ["+", "+", "+", "-"], v: "|" };

/** Row-count footer: "N rows", or "N rows (M shown)" when only M of N rows are printed. */
export function rowsFooter(total: number, shown: number): string {
  const noun = total === 1 ? "row" : "rows";
  return total > shown ? `${total} ${noun} (${shown} shown)` : `${total} ${noun}`;
}

/**
 * Formats rows as a box-drawn table (or an ASCII one with `ascii`): a header of names and
 * lower-case DuckDB types, numbers right-aligned, wide values truncated with `…`, and a footer
 * "N rows" (or "N rows (M shown)").
 * @param columns names and types; @param rows values as DuckDB's JSON conversion gives them.
 */
export function formatTable(columns: Column[], rows: unknown[][], opts: TableOptions = {}, ascii = false): string {
  const g = ascii ? ASCII : BOX;
  const maxW = opts.maxColumnWidth ?? 40;
  const full = rows.map((r) => columns.map((_, k) => truncate(cellText(r[k]), maxW)));
  const fullHeads = columns.map((c) => truncate(c.name, maxW));
  const fullTypes = columns.map((c) => truncate(c.type.toLowerCase(), maxW));
  const widths = columns.map((_, k) =>
    Math.max(
      displayWidth(fullHeads[k] ?? ""),
      displayWidth(fullTypes[k] ?? ""),
      ...full.map((t) => displayWidth(t[k] ?? "")),
    ),
  );
  // Columns shown: all, unless the table must fit in maxWidth (below).
  let shown = columns.map((_, k) => k);
  let hiddenAt = -1; // index in `shown` before which a "…" column stands for the hidden ones
  if (opts.maxWidth !== undefined && widths.length > 0) {
    const max = opts.maxWidth;
    const total = (ks: number[], gap: boolean): number =>
      ks.reduce((a, k) => a + (widths[k] ?? 0) + 3, 1) + (gap ? 4 : 0);
    // 1. Narrow the widest columns, down to MIN_NARROWED each.
    while (total(shown, false) > max) {
      let k = 0;
      for (let j = 1; j < widths.length; j++) if ((widths[j] ?? 0) > (widths[k] ?? 0)) k = j;
      if ((widths[k] ?? 0) <= MIN_NARROWED) break;
      widths[k] = (widths[k] ?? 0) - 1;
    }
    // 2. Still too wide: keep columns from both ends, as many as fit, and show "…" for the
    //    middle ones (as the DuckDB shell does).
    if (total(shown, false) > max) {
      const left: number[] = [];
      const right: number[] = [];
      let lo = 0;
      let hi = columns.length - 1;
      let fromLeft = true;
      while (lo <= hi) {
        const k = fromLeft ? lo : hi;
        if (total([...left, k, ...right], true) > max && left.length + right.length > 0) break;
        if (fromLeft) {
          left.push(k);
          lo++;
        } else {
          right.unshift(k);
          hi--;
        }
        fromLeft = !fromLeft;
      }
      shown = [...left, ...right];
      hiddenAt = left.length;
    }
  }
  const pick = <T>(xs: T[], gapValue: T): T[] => {
    const out = shown.map((k) => xs[k] as T);
    if (hiddenAt >= 0) out.splice(hiddenAt, 0, gapValue);
    return out;
  };
  const w = pick(widths, 1);
  const fit = (t: string[]): string[] => pick(t, "…").map((c, k) => truncate(c, w[k] ?? 0));
  const texts = full.map(fit);
  const heads = fit(fullHeads);
  const types = fit(fullTypes);
  const right = pick(
    columns.map((c) => NUMERIC.test(c.type)),
    false,
  );
  const line = ([l, m, r, h]: string[]): string => (l ?? "") + w.map((x) => (h ?? "").repeat(x + 2)).join(m) + r;
  const row = (cells: string[], align: boolean[]): string =>
    `${g.v}${cells.map((c, k) => ` ${pad(c, w[k] ?? 0, align[k] ?? false)} `).join(g.v)}${g.v}`;
  const out = [line(g.top), row(heads, []), row(types, []), line(g.mid)];
  for (const t of texts) out.push(row(t, right));
  out.push(line(g.bottom));
  const footer = rowsFooter(opts.totalRows ?? rows.length, rows.length);
  out.push(hiddenAt >= 0 ? `${footer}, ${columns.length} columns (${shown.length} shown)` : footer);
  return `${out.join("\n")}\n`;
}

/**
 * Formats rows as a GitHub-flavoured Markdown table (numbers right-aligned, `|` escaped, line
 * breaks as spaces, values not truncated); a footer line only when rows were left out.
 */
export function formatMarkdown(columns: Column[], rows: unknown[][], opts: TableOptions = {}): string {
  const esc = (s: string): string => truncate(s, Number.POSITIVE_INFINITY).replaceAll("|", "\\|");
  const out = [
    `| ${columns.map((c) => esc(c.name)).join(" | ")} |`,
    `|${columns.map((c) => (NUMERIC.test(c.type) ? "---:" : "---")).join("|")}|`,
  ];
  for (const r of rows) out.push(`| ${columns.map((_, k) => esc(cellText(r[k]))).join(" | ")} |`);
  const total = opts.totalRows ?? rows.length;
  if (total > rows.length) out.push("", rowsFooter(total, rows.length));
  return `${out.join("\n")}\n`;
}

/**
 * Formats rows one value per line, `name = value` with names right-aligned and a blank line
 * between rows (SQLite's and DuckDB's `line` mode); values are not truncated. A footer line
 * only when rows were left out.
 */
export function formatLines(columns: Column[], rows: unknown[][], opts: TableOptions = {}): string {
  const w = Math.max(0, ...columns.map((c) => displayWidth(c.name)));
  const blocks = rows.map((r) => columns.map((c, k) => `${pad(c.name, w, true)} = ${cellText(r[k])}`).join("\n"));
  const total = opts.totalRows ?? rows.length;
  if (total > rows.length) blocks.push(rowsFooter(total, rows.length));
  return blocks.length === 0 ? "" : `${blocks.join("\n\n")}\n`;
}

/**
 * Formats buffered rows in one of the BUFFERED_FORMATS.
 * @throws Error for a streaming format (csv, json, ndjson): those are written row by row.
 */
export function formatRows(
  format: OutputFormat,
  columns: Column[],
  rows: unknown[][],
  opts: TableOptions = {},
): string {
  switch (format) {
    case "table":
    case "box":
      return formatTable(columns, rows, opts);
    case "ascii":
      return formatTable(columns, rows, opts, true);
    case "markdown":
      return formatMarkdown(columns, rows, opts);
    case "line":
      return formatLines(columns, rows, opts);
    default:
      throw new Error(`formatRows: ${format} is a streaming format`);
  }
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
