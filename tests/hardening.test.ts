/**
 * Issue 19, bug 5: a lake that cannot be used is exit 73 with one sentence naming the lake and
 * what to do (read-only file system, another user's lake, truncated or checksum-corrupt
 * catalog), `--lake ""` is refused, and control bytes from the input are printed escaped.
 * The read-only lake is a read-only bind mount in a private mount namespace (`unshare -m`), the
 * other user is `nobody` (`setpriv`); both are skipped where the machine does not allow them.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, cpSync, readFileSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUN, cli, ROOT, snapshot, tempDir } from "./helpers.ts";

const T = 120_000;
const FIXTURE = join(ROOT, "fixtures/edge_cases.json");

/** Runs the CLI with a command prefix (unshare, setpriv) in front of bun. */
function cliAs(prefix: string[], lake: string, args: string[]): { code: number; stderr: string } {
  const p = Bun.spawnSync([...prefix, BUN, join(ROOT, "main.ts"), "--lake", lake, ...args], {
    env: { ...process.env, NO_COLOR: "1", HOME: "/tmp" },
  });
  return { code: p.exitCode ?? -1, stderr: p.stderr.toString() };
}

function works(cmd: string[]): boolean {
  try {
    return Bun.spawnSync(cmd, { stderr: "ignore", stdout: "ignore" }).exitCode === 0;
  } catch {
    return false;
  }
}

const NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];
const canUnshare = process.getuid?.() === 0 && works(["unshare", "-m", "sh", "-c", "mount --bind -o ro /tmp /tmp"]);
const canNobody = process.getuid?.() === 0 && works([...NOBODY, BUN, join(ROOT, "main.ts"), "--version"]);

describe("a lake that cannot be used: exit 73, one sentence", () => {
  let base: string;
  beforeAll(() => {
    base = tempDir();
    expect(cli(base, ["ingest", FIXTURE]).code).toBe(0);
  }, T);
  const copy = (): string => {
    const d = tempDir();
    cpSync(base, d, { recursive: true });
    return d;
  };

  test.skipIf(!canUnshare)(
    "read-only file system: a query that must materialize, and an ingest",
    async () => {
      const d = copy();
      const before = await snapshot(d);
      const ro = ["unshare", "-m", "sh", "-c", `mount --bind -o ro "$0" "$0" && exec "$@"`, d];
      for (const args of [
        ["query", "SELECT count(*) FROM thread_spans"],
        ["ingest", join(ROOT, "fixtures/ties_thread_time.json")],
      ]) {
        const r = cliAs(ro, d, args);
        expect(r.code).toBe(73);
        expect(r.stderr).toContain(`the lake at ${d} is on a read-only file system`);
        expect(r.stderr).not.toContain("EROFS");
        expect(r.stderr.trim().split("\n")).toHaveLength(1);
      }
      expect(await snapshot(d)).toEqual(before);
    },
    T,
  );

  test.skipIf(!canUnshare)(
    "a full disk while materializing: exit 73, the sentence, nothing committed, no partition file left",
    () => {
      const d = copy();
      const mnt = join(tempDir(), "mnt");
      // A private mount namespace: an 8 MiB tmpfs holding a copy of the lake and a filler file
      // taking the rest; the query must write a partition there.
      const script = `set -e; mkdir -p "$1"; mount -t tmpfs -o size=8m tmpfs "$1"; cp -r "$2" "$1/lake"
        dd if=/dev/zero of="$1/filler" bs=4k 2>/dev/null || true
        set +e; NO_COLOR=1 "$3" "$4" --lake "$1/lake" query "SELECT count(*) FROM thread_spans"; echo "rc=$?"
        rm "$1/filler"; NO_COLOR=1 "$3" "$4" --lake "$1/lake" check --grace 0 --json`;
      const p = Bun.spawnSync(["unshare", "-m", "sh", "-c", script, "sh", mnt, d, BUN, join(ROOT, "main.ts")]);
      const out = p.stdout.toString();
      const err = p.stderr.toString();
      expect(out).toContain("rc=73");
      expect(err).toContain(`no space left on the disk of the lake at ${mnt}/lake`);
      expect(err).toContain("nothing was committed");
      expect(err.trim().split("\n")).toHaveLength(1);
      const report = JSON.parse(out.slice(out.indexOf("{")));
      expect(report.problems).toEqual([]);
      expect(report.checked.partitions).toBe(0);
    },
    T,
  );

  test.skipIf(!canNobody)(
    "another user's lake: says whose it is",
    async () => {
      const d = copy();
      chmodSync(d, 0o755);
      const before = await snapshot(d);
      for (const args of [
        ["query", "SELECT count(*) FROM thread_spans"],
        ["ingest", FIXTURE, "--force"],
      ]) {
        const r = cliAs(NOBODY, d, args);
        expect(r.code).toBe(73);
        expect(r.stderr).toContain(
          `this user may not write the lake at ${d} (it belongs to uid ${statSync(d).uid}, this is uid 65534)`,
        );
        expect(r.stderr).not.toContain("EACCES");
      }
      expect(await snapshot(d)).toEqual(before);
    },
    T,
  );

  test(
    "truncated and checksum-corrupt catalogs: damaged, at once (not taken for a lock)",
    () => {
      const cases: [string, (catalog: string) => void][] = [
        ["half", (c) => truncateSync(c, Math.floor(statSync(c).size / 2))],
        ["5000 bytes", (c) => truncateSync(c, 5000)],
        [
          "a flipped block",
          (c) => {
            const b = readFileSync(c);
            // DuckDB's first data block is at 12 KiB (after the two headers): its checksum breaks.
            b.write("XXXXXXXXXXXXXXXX", 12288 + 300);
            writeFileSync(c, b);
          },
        ],
      ];
      for (const [what, damage] of cases) {
        const d = copy();
        damage(join(d, "catalog.duckdb"));
        for (const args of [
          ["query", "SELECT count(*) FROM thread_spans"],
          ["ingest", FIXTURE, "--force"],
          ["check"],
        ]) {
          const t0 = performance.now();
          const r = cli(d, args);
          expect(`${what}: ${r.code}`).toBe(`${what}: 73`);
          expect(r.stderr).toMatch(/^error: (the lake's catalog .* is damaged|cannot open the lake catalog)/);
          expect(r.stderr).toContain(join(d, "catalog.duckdb"));
          expect(r.stderr).not.toContain("in use by another");
          expect(r.stderr).not.toContain("--verbose");
          expect(performance.now() - t0).toBeLessThan(10_000);
        }
      }
    },
    T,
  );

  test("--lake '' is refused, not taken as the current directory", () => {
    const r = Bun.spawnSync([BUN, join(ROOT, "main.ts"), "--lake", "", "info"], {
      cwd: tempDir(),
      env: { ...process.env, NO_COLOR: "1" },
    });
    expect(r.exitCode).toBe(65);
    expect(r.stderr.toString()).toContain("--lake takes a directory, got an empty string");
  });
});

describe("control bytes from the input are printed escaped", () => {
  test("an input file name with ESC [2J (clear screen) in an error message", () => {
    const dir = tempDir();
    const f = join(dir, "bad\u001b[2J\u0007name.json");
    writeFileSync(f, "garbage");
    const r = cli(join(dir, "lake"), ["ingest", f]);
    expect(r.code).toBe(65);
    expect(r.stderr).not.toContain("\u001b");
    expect(r.stderr).not.toContain("\u0007");
    expect(r.stderr).toContain("bad\\x1b[2J\\x07name.json");
  });
});

describe("a JSON-lines file whose first line is longer than the sniffed head", () => {
  test(
    "a 40 MB first line is sniffed as JSON-lines (and that line skipped as too long), not refused as Chrome JSON",
    () => {
      const dir = tempDir();
      const f = join(dir, "big.jsonl");
      const big = JSON.stringify({ ts: "2024-01-01T00:00:00Z", level: "info", msg: "x".repeat(40 * 1024 * 1024) });
      writeFileSync(f, `${big}\n${JSON.stringify({ ts: "2024-01-01T00:00:01Z", level: "info", msg: "small" })}\n`);
      const r = cli(join(dir, "lake"), ["ingest", f]);
      expect(r.stderr).not.toContain("traceEvents");
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("(jsonl)");
      const q = cli(join(dir, "lake"), ["query", "-f", "csv", "SELECT count(*) AS n, max(msg) AS m FROM log_entries"]);
      expect(q.stdout).toBe("n,m\n1,small\n");
    },
    T,
  );

  test("sniffFormat decides a first line cut by the head by its top-level keys", async () => {
    const { sniffFormat } = await import("../lib/ingest/sniff.ts");
    const head = (s: string) => new TextEncoder().encode(s);
    const long = "y".repeat(1000);
    expect(sniffFormat("x", head(`{"msg":{"ts":1,"a":"${long}"},"time":"2024-01-01T00:00:00Z","m2":"${long}`))).toBe(
      "jsonl",
    );
    expect(sniffFormat("x", head(`{"displayTimeUnit":"ns","traceEvents":[{"ts":1,"name":"${long}`))).toBe(
      "chrome_json",
    );
    expect(sniffFormat("x", head(`{"resourceLogs":[{"x":"${long}`))).toBe("otlp_json");
    expect(sniffFormat("x", head(`{"msg":"a \\"ts\\": 1 ${long}`))).toBe("chrome_json");
  });

  test("a JSON-lines log whose first line is malformed (cut by rotation) is JSON-lines; Chrome JSON stays Chrome", async () => {
    const { sniffFormat } = await import("../lib/ingest/sniff.ts");
    const head = (s: string) => new TextEncoder().encode(s);
    const rec = (i: number) => JSON.stringify({ ts: `2024-01-01T00:00:0${i}Z`, msg: `m${i}` });
    expect(sniffFormat("x", head(`{"ts":"2024-01-01T00:0\n${rec(1)}\n${rec(2)}\n${rec(3)}\n`))).toBe("jsonl");
    expect(sniffFormat("x", head(`{"ts":"2024",,\n${rec(1)}\n{"broken\n${rec(3)}\n`))).toBe("jsonl");
    // Chrome JSON spread over lines, an event without a trailing comma on its own line: Chrome.
    expect(sniffFormat("x", head(`{\n"traceEvents":[\n{"ph":"X","ts":1},\n{"ph":"X","ts":2}\n]}\n`))).toBe(
      "chrome_json",
    );
    // Lines that are not records: Chrome JSON (its importer says what is wrong).
    expect(sniffFormat("x", head(`{"a":\n{"b":1}\n{"c":2}\n`))).toBe("chrome_json");
  });
});
