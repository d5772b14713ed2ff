/**
 * `--begin/--end` relative to the trace's start (issue 24 item 2): the parser (exact decimals),
 * and an export cut with `600ms`..`+0.7s` byte-identical to the one cut with the absolute ns
 * computed from the input JSON (its earliest event + the offsets).
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { parseRelativeTime } from "../../lib/perfetto/options.ts";
import { cli, ROOT, tempDir } from "../helpers.ts";

const SAMPLE = existsSync("/work/shared/samples/chromium_startup.json.gz")
  ? "/work/shared/samples/chromium_startup.json.gz"
  : join(ROOT, "fixtures", "chromium_startup.json.gz");

describe("parseRelativeTime", () => {
  test("units, +, exact fractions; absolute forms and junk are not relative", () => {
    expect(parseRelativeTime("100ms")).toBe(100_000_000n);
    expect(parseRelativeTime("1.5s")).toBe(1_500_000_000n);
    expect(parseRelativeTime("+250us")).toBe(250_000n);
    expect(parseRelativeTime("250µs")).toBe(250_000n);
    expect(parseRelativeTime("7ns")).toBe(7n);
    // 0.1 + 0.2 is not 0.3 in floats; here it is read as text.
    expect(parseRelativeTime("0.3s")).toBe(300_000_000n);
    expect(parseRelativeTime("0.000000001s")).toBe(1n);
    expect(parseRelativeTime("1.23456789123s")).toBe(1_234_567_891n);
    for (const t of ["100", "624498246000", "2026-01-02 03:04:05", "-5ms", "5 min", "ms", "1.s"]) {
      expect(parseRelativeTime(t)).toBeNull();
    }
  });
});

describe("export perfetto --begin/--end from the trace's start", () => {
  test("600ms..+0.7s cuts exactly what the absolute window start+600ms..start+700ms cuts", () => {
    const events = (
      JSON.parse(gunzipSync(readFileSync(SAMPLE)).toString()) as { traceEvents: { ph: string; ts: number }[] }
    ).traceEvents;
    const start = BigInt(Math.min(...events.filter((e) => e.ph !== "M").map((e) => Math.round(e.ts * 1000))));
    const dir = tempDir();
    const lake = join(dir, "lake");
    expect(cli(lake, ["ingest", SAMPLE]).code).toBe(0);
    const rel = join(dir, "rel.pftrace");
    const abs = join(dir, "abs.pftrace");
    const all = join(dir, "all.pftrace");
    const r1 = cli(lake, [
      "export",
      "perfetto",
      "--process",
      "Browser",
      "--begin",
      "600ms",
      "--end",
      "+0.7s",
      "-o",
      rel,
    ]);
    expect(r1.code).toBe(0);
    const a = [String(start + 600_000_000n), String(start + 700_000_000n)];
    expect(
      cli(lake, [
        "export",
        "perfetto",
        "--process",
        "Browser",
        "--begin",
        a[0] as string,
        "--end",
        a[1] as string,
        "-o",
        abs,
      ]).code,
    ).toBe(0);
    expect(cli(lake, ["export", "perfetto", "--process", "Browser", "-o", all]).code).toBe(0);
    const bytes = (p: string) => readFileSync(p);
    expect(bytes(rel).equals(bytes(abs))).toBe(true);
    // The window cut something: the whole process is much larger.
    expect(bytes(all).length).toBeGreaterThan(2 * bytes(rel).length);
    const bad = cli(lake, ["export", "perfetto", "--process", "Browser", "--begin", "10xs", "-o", rel]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("from the trace's start (100ms, 1.5s, +250us)");
  });
});

describe("export perfetto --trace", () => {
  test("exports every process of the trace: the same bytes as --all on a lake of that trace alone; one of two traces", () => {
    const dir = tempDir();
    const lake = join(dir, "lake");
    expect(cli(lake, ["ingest", SAMPLE, "--name", "one"]).code).toBe(0);
    const t = join(dir, "t.pftrace");
    const all = join(dir, "all.pftrace");
    const r = cli(lake, ["export", "perfetto", "--trace", "one", "--end", "1s", "-o", t]);
    expect(r.code).toBe(0);
    expect(cli(lake, ["export", "perfetto", "--all", "--end", "1s", "-o", all]).code).toBe(0);
    expect(readFileSync(t).equals(readFileSync(all))).toBe(true);
    const pids = new Set(
      (
        JSON.parse(gunzipSync(readFileSync(SAMPLE)).toString()) as { traceEvents: { ph: string; pid: number }[] }
      ).traceEvents
        .filter((e) => e.ph !== "M")
        .map((e) => e.pid),
    );
    expect(r.stderr).toContain(`; ${pids.size} process(es)`);
    expect(cli(lake, ["ingest", "--force", SAMPLE, "--name", "two"]).code).toBe(0);
    const two = cli(lake, ["export", "perfetto", "--trace", "two", "--end", "1s", "-o", t]);
    expect(two.stderr).toContain(`; ${pids.size} process(es)`);
    expect(cli(lake, ["export", "perfetto", "--trace", "nosuch", "-o", t]).stderr).toContain(
      "--trace: no trace matches 'nosuch'",
    );
  });
});
