/**
 * After an ingest the summary names the processes and what to run next (issue 18), and the
 * commands it suggests run as printed; the REPL's `.shell`/`.system` run a command as the DuckDB
 * shell's do.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { PERFETTO_VIEWS } from "../../lib/sql/perfetto_views.ts";
import { QUERY_VIEWS } from "../../lib/sql/query.ts";
import { BUN, cli, ROOT, tempDir } from "../helpers.ts";

test("the ingest summary names the processes and next commands, which run as printed", () => {
  const lake = join(tempDir("tl-next-"), "lake");
  const r = cli(lake, ["ingest", join(ROOT, "fixtures/chromium_startup.json.gz")]);
  expect(r.code).toBe(0);
  // The sample's processes with the most threads first (thread counts: the trace's M events).
  expect(r.stdout).toContain("  processes: Browser (pid 9489, 28 threads), ");
  expect(r.stdout).toContain(", and 4 more\n");
  const next = r.stdout.slice(r.stdout.indexOf("next:\n")).split("\n").slice(1, 4);
  expect(next[1]).toBe(`  tracelake --lake ${lake} repl`);
  expect(next[2]).toBe(`  tracelake --lake ${lake} open --process Browser`);
  // The first suggestion runs: split it as a shell would (one double-quoted SQL argument).
  const m = (next[0] as string).match(/^ {2}tracelake --lake (\S+) query "(.*)"$/);
  expect(m?.[1]).toBe(lake);
  const q = cli(lake, ["query", "-f", "csv", m?.[2] as string]);
  expect(q.code).toBe(0);
  expect(q.stdout.split("\n")[0]).toBe("name,n,ms");
  expect(q.stdout.trim().split("\n").length).toBe(11);
  // --json prints JSON only.
  const j = cli(lake, ["ingest", "--json", join(ROOT, "fixtures/ties_thread_time.json")]);
  expect(j.stdout).not.toContain("next:");
  expect(JSON.parse(j.stdout.trim()).processList.length).toBe(1);
});

test(".shell and .system run a command in the system shell; a failing one says its exit code", () => {
  const lake = join(tempDir("tl-shell-"), "lake");
  const r = cli(lake, ["repl"], ".print before\n.shell echo hello from sh\n.system exit 3\n.print after\n");
  expect(r.stdout).toBe("before\nhello from sh\nafter\n");
  expect(r.stderr).toContain("(exit 3)");
});

test("--help lists every view a query sees, tracelake's and trace_processor's names", () => {
  const h = Bun.spawnSync([BUN, join(ROOT, "main.ts"), "--help"], { stdout: "pipe" }).stdout.toString();
  const listed = h.slice(h.indexOf("Views:"), h.indexOf("Exit codes:"));
  for (const v of [...Object.keys(QUERY_VIEWS), ...PERFETTO_VIEWS.map((p) => p.name)]) {
    expect({ v, listed: new RegExp(`\\b${v}\\b`).test(listed) }).toEqual({ v, listed: true });
  }
});

test("query on a terminal prints the run time after the result, without --timer; not into a pipe", async () => {
  const lake = join(tempDir("tl-timer-"), "lake");
  expect(cli(lake, ["ingest", join(ROOT, "fixtures/ties_thread_time.json")]).code).toBe(0);
  const { Pty } = await import("../pty.ts");
  const t = Pty.spawn([BUN, join(ROOT, "main.ts"), "--lake", lake, "query", "SELECT 42 AS answer"], {
    ...(process.env as Record<string, string>),
    NO_COLOR: "1",
  });
  try {
    expect(await t.expect(/Run Time: [\d.]+ ms/)).toContain("42");
    expect(await t.close()).toBe(0);
  } finally {
    t.proc.kill();
  }
  expect(cli(lake, ["query", "-f", "csv", "SELECT 42 AS answer"]).stderr).not.toContain("Run Time");
});
