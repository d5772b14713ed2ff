/**
 * Result formatting for the CLI: aligned tables, CSV (RFC 4180), list/tab-separated lines, JSON
 * and NDJSON. Values come from DuckDB's JSON conversion (BIGINT, HUGEINT, DECIMAL, timestamps as
 * strings; lists and structs as arrays and objects; NULL as null); JSON output turns them back
 * into numbers and objects by column type (json_values.ts).
 */
import { jsonLine } from "./json_values.ts";

/**
 * Output formats of `tracelake query` and `.mode` of the REPL. `table` and `box` are the same
 * box-drawn table (`table` is the name `query -f` has always had; `box` is DuckDB's), `ascii`
 * draws it with + - | (DuckDB's `.mode table`).
 */
export type OutputFormat =
  | "table"
  | "box"
  | "ascii"
  | "markdown"
  | "line"
  | "columns"
  | "list"
  | "tabs"
  | "csv"
  | "json"
  | "ndjson";

/** Every output format, in the order help texts list them. */
export const OUTPUT_FORMATS: readonly OutputFormat[] = [
  "table",
  "box",
  "ascii",
  "markdown",
  "line",
  "columns",
  "list",
  "tabs",
  "csv",
  "json",
  "ndjson",
];

/** Formats that need all shown rows before printing (the others stream). */
export const BUFFERED_FORMATS: readonly OutputFormat[] = ["table", "box", "ascii", "markdown", "line", "columns"];

/** A column: name and DuckDB type name. */
export interface Column {
  name: string;
  type: string;
}

/**
 * Turns one value (as DuckDB's JSON conversion gives it) into display text: `nullValue` (default
 * `NULL`) for null, strings as they are, lists/structs/maps as JSON.
 */
export function cellText(v: unknown, nullValue = "NULL"): string {
  if (v === null || v === undefined) return nullValue;
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

/** Grapheme segmenter, made on first use (2-3 ms: not at every query's start). */
let graphemes: Intl.Segmenter | null = null;

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
  graphemes ??= new Intl.Segmenter(undefined, { granularity: "grapheme" });
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
  /** Text shown for NULL by the text formats except csv (default `NULL`; csv leaves it empty). */
  nullValue?: string;
  /** Print the header line of columns, list, tabs and csv (default true). */
  headers?: boolean;
}

/** Columns a narrowed table keeps longest: short and what a trace is read by (Perfetto's and our views' names). */
const USEFUL_COLUMNS = new Set(["name", "ts", "dur", "time", "duration", "begin", "end", "ph", "exe", "msg", "level"]);

const UUID_TEXT = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The order in which a table too wide for its width hides columns: UUID columns (type UUID, or
 * every value a UUID) first, then the other columns from the middle outwards, the
 * USEFUL_COLUMNS last; within each group, middle first.
 * @returns column indexes, the first to hide first.
 */
export function hideOrder(columns: Column[], rows: unknown[][]): number[] {
  const n = columns.length;
  const keep: number[] = [];
  for (let lo = 0, hi = n - 1; lo <= hi; lo++, hi--) {
    keep.push(lo);
    if (hi !== lo) keep.push(hi);
  }
  const middleFirst = keep.reverse();
  const isUuid = (k: number): boolean => {
    if (columns[k]?.type === "UUID") return true;
    const values = rows.map((r) => r[k]).filter((v) => v !== null && v !== undefined);
    return values.length > 0 && values.every((v) => typeof v === "string" && UUID_TEXT.test(v));
  };
  const useful = (k: number): boolean => USEFUL_COLUMNS.has(columns[k]?.name.toLowerCase() ?? "");
  const uuids = middleFirst.filter(isUuid);
  const last = middleFirst.filter((k) => !uuids.includes(k) && useful(k));
  return [...uuids, ...middleFirst.filter((k) => !uuids.includes(k) && !last.includes(k)), ...last];
}

/** Where "…" columns stand: for each run of hidden columns, the number of shown columns before it. */
function gapRuns(n: number, hidden: Set<number>): number[] {
  const out: number[] = [];
  let shownBefore = 0;
  for (let k = 0; k < n; k++) {
    if (!hidden.has(k)) shownBefore++;
    else if (k === 0 || !hidden.has(k - 1)) out.push(shownBefore);
  }
  return out;
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
  const full = rows.map((r) => columns.map((_, k) => truncate(cellText(r[k], opts.nullValue), maxW)));
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
  let gaps: number[] = []; // indexes in `shown` before which a "…" column stands for hidden ones
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
    // 2. Still too wide: hide columns, a "…" column standing for each run of hidden ones: UUID
    //    columns first, then the others from the middle outwards (both ends stay, as in the DuckDB
    //    shell), the narrow useful ones (name, ts, dur...) last.
    if (total(shown, false) > max) {
      const order = hideOrder(columns, rows);
      const hidden = new Set<number>();
      const fits = (): boolean => {
        const ks = columns.map((_, k) => k).filter((k) => !hidden.has(k));
        return ks.reduce((a, k) => a + (widths[k] ?? 0) + 3, 1) + 4 * gapRuns(columns.length, hidden).length <= max;
      };
      for (const k of order) {
        if (fits() || hidden.size >= columns.length - 1) break;
        hidden.add(k);
      }
      shown = columns.map((_, k) => k).filter((k) => !hidden.has(k));
      gaps = gapRuns(columns.length, hidden);
    }
  }
  const pick = <T>(xs: T[], gapValue: T): T[] => {
    const out: T[] = [];
    shown.forEach((k, i) => {
      if (gaps.includes(i)) out.push(gapValue);
      out.push(xs[k] as T);
    });
    if (gaps.includes(shown.length)) out.push(gapValue);
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
  out.push(gaps.length > 0 ? `${footer}, ${columns.length} columns (${shown.length} shown)` : footer);
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
  for (const r of rows) out.push(`| ${columns.map((_, k) => esc(cellText(r[k], opts.nullValue))).join(" | ")} |`);
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
  const blocks = rows.map((r) =>
    columns.map((c, k) => `${pad(c.name, w, true)} = ${cellText(r[k], opts.nullValue)}`).join("\n"),
  );
  const total = opts.totalRows ?? rows.length;
  if (total > rows.length) blocks.push(rowsFooter(total, rows.length));
  return blocks.length === 0 ? "" : `${blocks.join("\n\n")}\n`;
}

/**
 * Formats rows as aligned columns without borders, a dashed line under the header (SQLite's and
 * DuckDB's `columns` mode): two spaces between columns, numbers right-aligned, values whole (line
 * breaks as spaces). A footer line only when rows were left out.
 */
export function formatColumns(columns: Column[], rows: unknown[][], opts: TableOptions = {}): string {
  const texts = rows.map((r) =>
    columns.map((_, k) => truncate(cellText(r[k], opts.nullValue), Number.POSITIVE_INFINITY)),
  );
  const headers = opts.headers ?? true;
  const widths = columns.map((c, k) =>
    Math.max(headers ? displayWidth(c.name) : 0, ...texts.map((t) => displayWidth(t[k] ?? ""))),
  );
  const right = columns.map((c) => NUMERIC.test(c.type));
  const line = (cells: string[], align: boolean[]): string =>
    cells
      .map((c, k) => pad(c, widths[k] ?? 0, align[k] ?? false))
      .join("  ")
      .trimEnd();
  const out = headers
    ? [
        line(
          columns.map((c) => c.name),
          right,
        ),
        widths.map((w) => "-".repeat(w)).join("  "),
      ]
    : [];
  for (const t of texts) out.push(line(t, right));
  const total = opts.totalRows ?? rows.length;
  if (total > rows.length) out.push("", rowsFooter(total, rows.length));
  return out.length === 0 ? "" : `${out.join("\n")}\n`;
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
    case "columns":
      return formatColumns(columns, rows, opts);
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

/**
 * A DOUBLE or FLOAT as DuckDB's CSV writer and `CAST(x AS VARCHAR)` write it, so that CSV written
 * row by row matches `-o out.csv` (DuckDB's COPY): the shortest digits that read back to the same
 * value (for FLOAT, the same float), `.0` after a whole number, scientific notation below 1e-4
 * and from 1e16 with a two-digit exponent (`1e-07`, `1e+16`), `nan`, `inf`, `-inf`.
 * Checked against DuckDB 1.5's COPY on 3,000 random DOUBLEs from 1e-20 to 1e20 (all equal); for
 * FLOATs from about 2^21 up DuckDB writes more digits (2573868.25 where this writes 2573868.3, the
 * shortest that reads back to the same float).
 */
export function duckDoubleText(v: number, float = false): string {
  if (Number.isNaN(v)) return "nan";
  if (!Number.isFinite(v)) return v > 0 ? "inf" : "-inf";
  let x = v === 0 ? 0 : v;
  if (float) {
    for (let p = 1; p <= 9; p++) {
      const y = Number(v.toPrecision(p));
      if (Math.fround(y) === Math.fround(v)) {
        x = y;
        break;
      }
    }
  }
  const [mant, e] = x.toExponential().split("e");
  const exp = Number(e);
  if (exp < -4 || exp >= 16) return `${mant}e${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`;
  const t = String(x);
  return Number.isInteger(x) ? `${t}.0` : t;
}

const FLOATING = /^(DOUBLE|FLOAT)$/;

/**
 * One CSV line (with `\n`). With `columns`, DOUBLE and FLOAT values are written as DuckDB writes
 * them (duckDoubleText); without, values as they are (a header line).
 */
export function csvLine(values: unknown[], columns?: readonly Column[]): string {
  if (!columns) return `${values.map(csvField).join(",")}\n`;
  return `${values
    .map((v, k) => {
      const t = columns[k]?.type;
      return typeof v === "number" && t !== undefined && FLOATING.test(t)
        ? duckDoubleText(v, t === "FLOAT")
        : csvField(v);
    })
    .join(",")}\n`;
}

/**
 * One line of the `list` (values separated by `|`, as DuckDB's and SQLite's `.mode list`) or
 * `tabs` format (separated by tabs; a tab, line break or backslash in a value written `\t`,
 * `\n`, `\r`, `\\`, so that a line is a row). NULL is `nullValue`.
 */
export function separatedLine(values: unknown[], format: "list" | "tabs", nullValue = "NULL"): string {
  if (format === "list") return `${values.map((v) => cellText(v, nullValue)).join("|")}\n`;
  const esc = (s: string): string =>
    s.replace(/[\\\t\n\r]/g, (c) => (c === "\t" ? "\\t" : c === "\n" ? "\\n" : c === "\r" ? "\\r" : "\\\\"));
  return `${values.map((v) => esc(cellText(v, nullValue))).join("\t")}\n`;
}

/**
 * One NDJSON line: an object keyed by column name, values as JSON (json_values.ts: numbers as
 * numbers, integers beyond ±2^53 as strings, JSON columns as objects).
 */
export function ndjsonLine(columns: Column[], row: unknown[]): string {
  return `${jsonLine(columns, row)}\n`;
}
