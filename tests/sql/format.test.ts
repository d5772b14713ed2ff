import { describe, expect, test } from "bun:test";
import { Engine } from "../../lib/duck/engine.ts";
import {
  type Column,
  cellText,
  formatLines,
  formatMarkdown,
  formatTable,
  ndjsonLine,
  truncate,
} from "../../lib/sql/format.ts";
import { runStatements } from "../../lib/sql/query.ts";

/**
 * Terminal width of the characters these tests use, written out by hand (the oracle is not the
 * code under test): CJK ideographs, Hangul and the emoji below take 2 columns; a combining mark
 * and a zero-width joiner take 0; emoji ZWJ sequences render as one 2-column glyph.
 */
function width(s: string): number {
  let w = 0;
  for (const seg of new Intl.Segmenter(undefined, { granularity: "grapheme" }).segment(s)) {
    const cp = seg.segment.codePointAt(0) ?? 0;
    const wide = (cp >= 0x3040 && cp <= 0x9fff) || (cp >= 0xac00 && cp <= 0xd7a3) || cp >= 0x1f000;
    w += wide ? 2 : 1;
  }
  return w;
}

/** Every line of a box table has the same display width. */
function expectAligned(table: string): string[] {
  const lines = table.trimEnd().split("\n").slice(0, -1); // without the footer
  const widths = lines.map(width);
  expect(new Set(widths).size).toBe(1);
  return lines;
}

async function query(sql: string): Promise<{ columns: Column[]; rows: unknown[][] }> {
  const e = await Engine.open({ threads: 1 });
  try {
    for await (const st of runStatements(e, sql)) {
      const rows: unknown[][] = [];
      for await (const c of st.chunks()) rows.push(...c);
      return { columns: st.columns, rows };
    }
    throw new Error("no statement");
  } finally {
    e.close();
  }
}

describe("box tables", () => {
  test("names and types in the header, numbers right-aligned, text left-aligned", () => {
    const t = formatTable(
      [
        { name: "name", type: "VARCHAR" },
        { name: "n", type: "BIGINT" },
      ],
      [
        ["a", "5"],
        ["bbbbbb", "12345"],
      ],
    );
    const lines = expectAligned(t);
    expect(lines[1]).toBe("│ name    │ n      │");
    expect(lines[2]).toBe("│ varchar │ bigint │");
    expect(lines[4]).toBe("│ a       │      5 │");
    expect(lines[5]).toBe("│ bbbbbb  │  12345 │");
    expect(t.trimEnd().split("\n").at(-1)).toBe("2 rows");
  });

  test("wide CJK, Hangul, emoji, ZWJ sequences and combining marks keep the columns aligned", () => {
    const values = ["日本語", "한국어", "👍", "👨‍👩‍👧", "e\u0301te\u0301", "ascii", "mixed 漢字 ok"];
    const t = formatTable(
      [{ name: "v", type: "VARCHAR" }],
      values.map((v) => [v]),
    );
    const lines = expectAligned(t);
    // The widest value is "mixed 漢字 ok" (13 columns): every row is padded to it.
    expect(lines[1]).toBe(`│ v${" ".repeat(12)} │`);
    expect(lines[4]).toBe(`│ 日本語${" ".repeat(7)} │`);
    expect(lines[6]).toBe(`│ 👍${" ".repeat(11)} │`);
  });

  test("NULL shows as NULL; lists, structs and maps from DuckDB show as JSON", async () => {
    const { columns, rows } = await query(
      "SELECT NULL::INTEGER AS n, [1, 2, NULL] AS l, {'a': 1, 'b': 'x'} AS s, MAP {'k': 2} AS m, [{'x': [1]}] AS deep",
    );
    const t = formatTable(columns, rows);
    const lines = expectAligned(t);
    expect(lines[2]).toMatch(
      /│ integer │ integer\[\]\s+│ struct\("a" integer, "b" varchar\) │ map\(varchar, integer\)/,
    );
    const cells = (lines[4] ?? "").split("│").map((c) => c.trim());
    expect(cells.slice(1, 6)).toEqual([
      "NULL",
      JSON.stringify([1, 2, null]),
      JSON.stringify({ a: 1, b: "x" }),
      cellText(rows[0]?.[3]),
      JSON.stringify([{ x: [1] }]),
    ]);
    expect(cellText(rows[0]?.[3])).toContain("k");
    expect(ndjsonLine(columns, rows[0] ?? [])).toBe(
      `${JSON.stringify({ n: null, l: [1, 2, null], s: { a: 1, b: "x" }, m: rows[0]?.[3], deep: [{ x: [1] }] })}\n`,
    );
  });

  test("wide values are cut at maxColumnWidth with an ellipsis; line breaks become spaces", () => {
    const t = formatTable([{ name: "v", type: "VARCHAR" }], [["x".repeat(100)], ["two\nlines"]], {
      maxColumnWidth: 10,
    });
    const lines = expectAligned(t);
    expect(lines[4]).toBe(`│ ${"x".repeat(9)}… │`);
    expect(lines[5]).toBe("│ two lines  │");
  });

  test("truncation never splits a wide character or an emoji sequence", () => {
    expect(truncate("日本語です", 6)).toBe("日本…");
    expect(width(truncate("日本語です", 6))).toBeLessThanOrEqual(6);
    expect(truncate("ab👨‍👩‍👧cd", 4)).toBe("ab…");
    expect(truncate("ab👨‍👩‍👧cd", 5)).toBe("ab👨‍👩‍👧…");
    expect(truncate("short", 10)).toBe("short");
  });

  test("a table wider than maxWidth is narrowed to fit", () => {
    const cols = ["a", "b", "c"].map((name) => ({ name, type: "VARCHAR" }));
    const t = formatTable(cols, [["x".repeat(40), "y".repeat(30), "z".repeat(5)]], { maxWidth: 50 });
    const lines = expectAligned(t);
    expect(width(lines[0] ?? "")).toBe(50);
    expect(lines[4]).toContain("zzzzz"); // the narrow column is left alone
    expect(lines[4]).toContain("…");
  });

  test("too many columns for maxWidth: the middle ones are hidden behind a … column", () => {
    const cols = Array.from({ length: 17 }, (_, k) => ({ name: `column_${k}`, type: "VARCHAR" }));
    const t = formatTable(cols, [cols.map((_, k) => `value ${k} ${"x".repeat(20)}`)], { maxWidth: 90 });
    const lines = expectAligned(t);
    expect(width(lines[0] ?? "")).toBeLessThanOrEqual(90);
    const heads = (lines[1] ?? "")
      .split("│")
      .map((c) => c.trim())
      .filter((c) => c !== "");
    expect(heads[0]).toBe("column_0");
    expect(heads.at(-1)).toBe("column_…"); // column_16, narrowed to 8 display columns
    expect(heads).toContain("…");
    const shown = heads.length - 1;
    expect(shown).toBeGreaterThanOrEqual(2);
    expect(t.trimEnd().split("\n").at(-1)).toBe(`1 row, 17 columns (${shown} shown)`);
  });

  test("footer says how many rows were shown of how many", () => {
    const t = formatTable([{ name: "i", type: "INTEGER" }], [[1], [2]], { totalRows: 1000 });
    expect(t.trimEnd().split("\n").at(-1)).toBe("1000 rows (2 shown)");
    expect(
      formatTable([{ name: "i", type: "INTEGER" }], [[1]])
        .trimEnd()
        .split("\n")
        .at(-1),
    ).toBe("1 row");
  });

  test("the ASCII variant draws with + - |", () => {
    const t = formatTable([{ name: "i", type: "INTEGER" }], [[1]], {}, true);
    expect(t.split("\n").slice(0, 5)).toEqual([
      "+---------+",
      "| i       |",
      "| integer |",
      "+---------+",
      "|       1 |",
    ]);
  });
});

describe("markdown and line modes", () => {
  test("markdown escapes pipes, right-aligns numbers, keeps whole values", () => {
    const md = formatMarkdown(
      [
        { name: "s", type: "VARCHAR" },
        { name: "n", type: "DOUBLE" },
      ],
      [
        ["a|b", 1.5],
        ["x".repeat(60), null],
      ],
    );
    expect(md.split("\n")).toEqual(["| s | n |", "|---|---:|", "| a\\|b | 1.5 |", `| ${"x".repeat(60)} | NULL |`, ""]);
  });

  test("line mode: one name = value per line, names right-aligned, rows separated by a blank line", () => {
    const out = formatLines(
      [
        { name: "id", type: "INTEGER" },
        { name: "long_name", type: "VARCHAR" },
      ],
      [
        [1, "a"],
        [2, null],
      ],
      { totalRows: 5 },
    );
    expect(out).toBe("       id = 1\nlong_name = a\n\n       id = 2\nlong_name = NULL\n\n5 rows (2 shown)\n");
  });
});

describe("a table converts the rows it shows, and only counts the rest", () => {
  test("chunks(convert) converts whole chunks up to `convert` rows, then yields only each chunk's length", async () => {
    const e = await Engine.open({ threads: 1 });
    try {
      for await (const st of runStatements(e, "SELECT i, 'x' || i AS s FROM range(10000) t(i) ORDER BY i")) {
        const lengths: number[] = [];
        const converted: unknown[][] = [];
        for await (const rows of st.chunks(100)) {
          lengths.push(rows.length);
          // A counted chunk has no entries at all (nothing was converted for it).
          if (0 in rows) converted.push(...rows);
        }
        // The oracle: 10,000 rows in all; DuckDB's first chunk (2048 rows: STANDARD_VECTOR_SIZE) converted.
        expect(lengths.reduce((a, b) => a + b, 0)).toBe(10_000);
        expect(converted.length).toBe(2048);
        expect(converted[0]).toEqual(["0", "x0"]);
        expect(converted[2047]).toEqual(["2047", "x2047"]);
        expect(lengths.length).toBeGreaterThan(1);
      }
      // Without a limit, every row is converted.
      let n = 0;
      for await (const st of runStatements(e, "SELECT i FROM range(10000) t(i)")) {
        for await (const rows of st.chunks()) for (const r of rows) if (r !== undefined) n++;
      }
      expect(n).toBe(10_000);
    } finally {
      e.close();
    }
  });
});
