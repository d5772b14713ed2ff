import { describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { BUN, ROOT, tempDir } from "../helpers.ts";
import { Pty } from "../pty.ts";

describe("the single-file binary", () => {
  test("dist/tracelake runs ingest, query and the REPL from an empty directory with no bun, node or node_modules", async () => {
    const out = join(tempDir("tl-build-"), "tracelake");
    const b = Bun.spawnSync([BUN, join(ROOT, "scripts/build.ts"), "--outfile", out], {
      stdout: "pipe",
      stderr: "pipe",
    });
    expect(b.exitCode).toBe(0);
    const dir = tempDir("tl-bin-");
    copyFileSync(out, join(dir, "tracelake"));
    copyFileSync(join(ROOT, "fixtures/chromium_startup.json.gz"), join(dir, "trace.json.gz"));
    // A PATH on which there is nothing at all, so certainly no bun or node.
    const emptyBin = tempDir("tl-path-");
    const env = { PATH: emptyBin, HOME: join(dir, "home"), XDG_CACHE_HOME: join(dir, "cache") };
    for (const tool of ["bun", "node"]) {
      expect(Bun.spawnSync(["/bin/sh", "-c", `command -v ${tool}`], { env }).exitCode).not.toBe(0);
    }
    const ingest = Bun.spawnSync(["./tracelake", "--lake", "lake", "ingest", "trace.json.gz"], { cwd: dir, env });
    expect(ingest.stderr.toString()).toBe("");
    expect(ingest.exitCode).toBe(0);
    expect(ingest.stdout.toString()).toContain("148,172 imported");
    const q = Bun.spawnSync(
      ["./tracelake", "--lake", "lake", "query", "-f", "csv", "SELECT count(*) AS n FROM raw_events WHERE ph = 'X'"],
      { cwd: dir, env },
    );
    expect(q.exitCode).toBe(0);
    expect(q.stdout.toString()).toBe("n\n86747\n");
    // replay's workers are a second entry point of the binary.
    const r = Bun.spawnSync(
      [
        "./tracelake",
        "--lake",
        "lake",
        "replay",
        "-f",
        "csv",
        "--partitions",
        "2",
        "--quiet",
        "SELECT count(*) AS n FROM thread_spans",
      ],
      { cwd: dir, env },
    );
    expect(r.stderr.toString()).toBe("");
    const batch = Bun.spawnSync(
      ["./tracelake", "--lake", "lake", "query", "-f", "csv", "SELECT count(*) AS n FROM thread_spans"],
      { cwd: dir, env },
    );
    expect(r.stdout.toString()).toBe(batch.stdout.toString());
    expect(r.stdout.toString()).toMatch(/^n\n[1-9]\d*\n$/);
    // The REPL on a terminal: Tab completion and a table, in the compiled binary.
    const t = Pty.spawn(
      ["./tracelake", "--lake", "lake"],
      { ...env, TRACELAKE_HISTORY: join(dir, "cache", "history") },
      120,
      dir,
    );
    try {
      await t.expect("tracelake> ");
      t.type("SELECT count(*) AS n FROM raw_ev");
      await t.expect("raw_ev");
      t.type("\t");
      await t.expect("ents");
      t.type(" WHERE ph = 'X';\r");
      expect(await t.expect(/1 row/)).toMatch(/│\s+86747 │/);
      t.type("\x04");
      expect(await t.close()).toBe(0);
    } finally {
      t.proc.kill();
    }
    // DuckDB's library was unpacked once into the per-version cache directory.
    const cache = join(dir, "cache", "tracelake");
    expect(existsSync(cache)).toBe(true);
    expect(readdirSync(cache).filter((d) => d.startsWith("duckdb-")).length).toBe(1);
    expect(readdirSync(dir).sort()).toEqual(["cache", "lake", "trace.json.gz", "tracelake"]);
  }, 120_000);
});
