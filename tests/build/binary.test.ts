import { describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import protobuf from "protobufjs";
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
    // Every command loads in the compiled binary (each is a chunk of the split bundle: a chunk
    // that fails to link fails only the command that loads it), and an error is reported.
    const runs: [string[], number, RegExp][] = [
      [["materialize", "--view", "log_entries"], 0, /./],
      [["partitions", "-f", "csv"], 0, /^view_set_name,/],
      [["retire", "--incompatible", "--dry-run"], 0, /./],
      [["export", "perfetto", "--process", "Browser", "-o", "cache/x.pftrace"], 0, /packets/],
      [["gc", "--dry-run"], 0, /./],
      [["info"], 0, /10 processes/],
      [["query", "SELECT nme FROM processes"], 1, /nme/],
      [["serve", "--help"], 0, /OTLP\/HTTP/],
      // Errors before the command opens DuckDB, whose start (main.ts) is then still under way:
      // the process exits with the error's code all the same.
      [["query", "-f", "bogus", "SELECT 1"], 65, /unknown --format bogus/],
      [["ingest", "missing.json"], 66, /no such file/],
    ];
    for (const [args, code, text] of runs) {
      const c = Bun.spawnSync(["./tracelake", "--lake", "lake", ...args], { cwd: dir, env });
      const all = c.stdout.toString() + c.stderr.toString();
      expect({ args, code: c.exitCode, matches: text.test(all) }).toEqual({ args, code, matches: true });
    }
    // serve: its page's assets are in the binary, and a protobuf request (encoded here by
    // protobufjs from a hand-written schema) is decoded and committed.
    const serve = Bun.spawn(["./tracelake", "--lake", "serve-lake", "serve", "--port", "0"], {
      cwd: dir,
      env,
      stderr: "pipe",
    });
    let said = "";
    const reader = (serve.stderr as ReadableStream<Uint8Array>).getReader();
    while (!/127\.0\.0\.1:\d+/.test(said)) {
      const { value, done } = await reader.read();
      if (done) break;
      said += new TextDecoder().decode(value);
    }
    const base = `http://${said.match(/127\.0\.0\.1:\d+/)?.[0]}`;
    const asset = await fetch(`${base}/assets/uPlot.min.js`);
    expect({ status: asset.status, big: (await asset.text()).length > 40_000 }).toEqual({ status: 200, big: true });
    const pb = protobuf
      .parse(`syntax = "proto3";
      message KV { string key = 1; V value = 2; } message V { string string_value = 1; }
      message R { repeated KV attributes = 1; }
      message Span { bytes span_id = 2; string name = 5; fixed64 start_time_unix_nano = 7; fixed64 end_time_unix_nano = 8; }
      message SS { repeated Span spans = 2; } message RS { R resource = 1; repeated SS scope_spans = 2; }
      message Req { repeated RS resource_spans = 1; }`)
      .root.lookupType("Req");
    const body = pb
      .encode(
        pb.fromObject({
          resourceSpans: [
            {
              resource: { attributes: [{ key: "service.name", value: { stringValue: "bin-svc" } }] },
              scopeSpans: [
                {
                  spans: [
                    {
                      spanId: Buffer.from("00000000000000ab", "hex"),
                      name: "s",
                      startTimeUnixNano: "1760000000000000000",
                      endTimeUnixNano: "1760000000000000009",
                    },
                  ],
                },
              ],
            },
          ],
        }),
      )
      .finish();
    const post = await fetch(`${base}/v1/traces`, {
      method: "POST",
      body,
      headers: { "content-type": "application/x-protobuf" },
    });
    expect(post.status).toBe(200);
    serve.kill("SIGINT");
    expect(await serve.exited).toBe(0);
    const got = Bun.spawnSync(
      [
        "./tracelake",
        "--lake",
        "serve-lake",
        "query",
        "-f",
        "csv",
        "SELECT exe, async_id, ts - lag(ts) OVER (ORDER BY ts) AS d FROM async_events JOIN processes USING (process_id) WHERE exe = 'bin-svc' ORDER BY ts",
      ],
      { cwd: dir, env },
    );
    expect(got.stdout.toString()).toBe("exe,async_id,d\nbin-svc,00000000000000ab,\nbin-svc,00000000000000ab,9\n");
    rmSync(join(dir, "serve-lake"), { recursive: true });
    // The working directory is not configuration: a bunfig.toml preload there does not run and a
    // .env there does not set the environment (Bun's standalone defaults do both).
    const hostile = tempDir("tl-cwd-");
    writeFileSync(join(hostile, "bunfig.toml"), 'preload = ["./preload.ts"]\n');
    writeFileSync(
      join(hostile, "preload.ts"),
      `require("node:fs").writeFileSync(${JSON.stringify(join(hostile, "RAN"))}, "")\n`,
    );
    writeFileSync(join(hostile, ".env"), `TRACELAKE_LAKE=${join(hostile, "lake-from-dotenv")}\n`);
    const inHostile = Bun.spawnSync([join(dir, "tracelake"), "info"], {
      cwd: hostile,
      env: { ...env, TRACELAKE_LAKE: join(dir, "lake") },
    });
    expect(inHostile.exitCode).toBe(0);
    expect(inHostile.stdout.toString()).toContain(join(dir, "lake"));
    expect(existsSync(join(hostile, "RAN"))).toBe(false);
    expect(existsSync(join(hostile, "lake-from-dotenv"))).toBe(false);
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

    // The library travels compressed outside Bun's module graph (scripts/build.ts): the binary is
    // far smaller than the library plus Bun's runtime (~104 MB + 70 MB), and --version leaves the
    // cache alone (it needs no DuckDB).
    expect(statSync(join(dir, "tracelake")).size).toBeLessThan(130e6);
    const fresh = join(tempDir("tl-cache-"), "c");
    const v = Bun.spawnSync(["./tracelake", "--version"], { cwd: dir, env: { ...env, TRACELAKE_CACHE_DIR: fresh } });
    expect(v.exitCode).toBe(0);
    expect(existsSync(fresh)).toBe(false);
    // Two first runs at once on an empty cache both succeed, and leave one library, no temporary file.
    const both = [1, 2].map(() =>
      Bun.spawn(["./tracelake", "--lake", "lake", "query", "-f", "csv", "SELECT count(*) AS n FROM processes"], {
        cwd: dir,
        env: { ...env, TRACELAKE_CACHE_DIR: fresh },
        stdout: "pipe",
        stderr: "pipe",
      }),
    );
    for (const p of both) {
      expect(await p.exited).toBe(0);
      expect(await new Response(p.stdout).text()).toBe("n\n10\n");
    }
    const unpacked = readdirSync(fresh);
    expect(unpacked.length).toBe(1);
    expect(readdirSync(join(fresh, unpacked[0] as string))).toEqual(["libduckdb.so"]);
    // A cache directory that cannot be written (root ignores permission bits, so: below a file):
    // one sentence naming it, exit 73 (lake unusable), nothing else written.
    const blocked = join(dir, "trace.json.gz", "cache");
    const bad = Bun.spawnSync(["./tracelake", "--lake", "lake", "query", "SELECT 1"], {
      cwd: dir,
      env: { ...env, TRACELAKE_CACHE_DIR: blocked },
    });
    expect(bad.exitCode).toBe(73);
    expect(bad.stderr.toString()).toMatch(
      /^error: cannot unpack DuckDB's native library into .*trace\.json\.gz\/cache.*TRACELAKE_CACHE_DIR/,
    );
    expect(bad.stderr.toString().trim().split("\n").length).toBe(1);
  }, 180_000);
});
