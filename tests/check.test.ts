/**
 * `tracelake check [--repair [--force]] [--json]` (issue 19): on a healthy lake, on each kind of
 * damage (missing file, wrong size, unreadable footer, row count unlike the catalog, orphan
 * files, leftover staging), and after --repair: queries answer again with the counts they gave
 * before the damage. The oracles are the catalog read with DuckDB and the view counts DuckDB
 * gave on the healthy lake; the file layout is read from the catalog, not from the code under test.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { cpSync, existsSync, mkdirSync, rmSync, truncateSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Engine } from "../lib/duck/engine.ts";
import { Lake } from "../lib/lake/lake.ts";
import { cli, ROOT, tempDir, withCatalog } from "./helpers.ts";

const T = 120_000;
const COUNTS =
  "SELECT (SELECT count(*) FROM thread_spans) AS spans, (SELECT count(*) FROM async_events) AS async, (SELECT count(*) FROM log_entries) AS logs, (SELECT count(*) FROM measures) AS measures";
const NODE = join(ROOT, "fixtures/node_trace.json.gz");

interface Report {
  ok: boolean;
  checked: { blocks: number; partitions: number; files: number };
  problems: {
    kind: string;
    object: string;
    path: string;
    viewSet: string | null;
    ingestId: string | null;
    source: string | null;
  }[];
  notes: string[];
}

/** Runs a statement on the catalog attached for writing (to damage it on purpose). */
async function writeCatalog(dir: string, sql: string): Promise<void> {
  const e = await Engine.open({ threads: 1 });
  try {
    const lake = await Lake.open(e, dir, { create: false });
    await lake.attach(e, "write");
    await e.run(sql);
  } finally {
    e.close();
  }
}

/** Files named by the catalog: every block's and every non-empty partition's, with sizes. */
async function named(dir: string): Promise<{ blocks: { f: string }[]; parts: { f: string; v: string }[] }> {
  return withCatalog(dir, async (e) => ({
    blocks: await e.rows<{ f: string }>("SELECT file_path AS f FROM lake.blocks ORDER BY file_path"),
    parts: await e.rows<{ f: string; v: string }>(
      "SELECT file_path AS f, view_set_name AS v FROM lake.lakehouse_partitions WHERE file_path IS NOT NULL ORDER BY view_set_name, file_path",
    ),
  }));
}

const old = (p: string): void => {
  const t = new Date(Date.now() - 3 * 3600_000);
  utimesSync(p, t, t);
};

/** A pid that is not running (a process that has exited). */
function deadPid(): number {
  const p = Bun.spawnSync(["true"]);
  return p.pid;
}

describe("tracelake check", () => {
  const base = tempDir();
  let before: string;
  let catalog: { blocks: number; partitions: number; withFile: number };

  beforeAll(async () => {
    expect(cli(base, ["ingest", NODE, join(ROOT, "fixtures/edge_cases.json")]).code).toBe(0);
    const m = cli(base, ["materialize"]);
    expect(m.code).toBe(0);
    const q = cli(base, ["query", "-f", "csv", COUNTS]);
    expect(q.code).toBe(0);
    before = q.stdout;
    catalog = await withCatalog(base, async (e) => {
      const r = await e.rows<{ b: bigint; p: bigint; f: bigint }>(
        "SELECT (SELECT count(*) FROM lake.blocks) AS b, (SELECT count(*) FROM lake.lakehouse_partitions) AS p, (SELECT count(file_path) FROM lake.lakehouse_partitions) AS f",
      );
      return { blocks: Number(r[0]?.b), partitions: Number(r[0]?.p), withFile: Number(r[0]?.f) };
    });
    expect(catalog.withFile).toBeGreaterThan(3);
  }, T);

  /** A copy of the healthy lake to damage. */
  const copy = (): string => {
    const d = tempDir();
    cpSync(base, d, { recursive: true });
    return d;
  };
  const check = (dir: string, ...args: string[]): { code: number; report: Report; stderr: string } => {
    const r = cli(dir, ["check", "--json", ...args]);
    return { code: r.code, report: r.stdout ? (JSON.parse(r.stdout) as Report) : (null as never), stderr: r.stderr };
  };

  test(
    "a healthy lake is whole: exit 0, every block and partition counted",
    () => {
      const r = check(base);
      expect(r.code).toBe(0);
      expect(r.report.ok).toBe(true);
      expect(r.report.problems).toEqual([]);
      expect(r.report.checked.blocks).toBe(catalog.blocks);
      expect(r.report.checked.partitions).toBe(catalog.partitions);
      expect(r.report.checked.files).toBe(catalog.blocks + catalog.withFile);
      const text = cli(base, ["check"]);
      expect(text.code).toBe(0);
      expect(text.stdout).toContain("the lake is whole");
    },
    T,
  );

  test(
    "each kind of damage is reported once, with its trace and view; exit 1",
    async () => {
      const d = copy();
      const { blocks, parts } = await named(d);
      const [missing, short, corrupt, recount] = parts.filter((p) => p.v !== "measures");
      const blob = blocks[0];
      if (!missing || !short || !corrupt || !recount || !blob) throw new Error("fixture too small");
      rmSync(join(d, missing.f));
      truncateSync(join(d, short.f), 100);
      // Same size, footer magic gone.
      const fd = Bun.file(join(d, corrupt.f));
      const bytes = new Uint8Array(await fd.arrayBuffer());
      bytes.set(new TextEncoder().encode("XXXX"), bytes.length - 4);
      writeFileSync(join(d, corrupt.f), bytes);
      await writeCatalog(
        d,
        `UPDATE lake.lakehouse_partitions SET num_rows = num_rows + 1 WHERE file_path = '${recount.f}'`,
      );
      rmSync(join(d, blob.f));
      // Orphans: an old one in views/ and in blobs/, and a young one (work in progress: a note).
      mkdirSync(join(d, "views/thread_spans/nobody"), { recursive: true });
      writeFileSync(join(d, "views/thread_spans/nobody/x.parquet"), "orphan");
      old(join(d, "views/thread_spans/nobody/x.parquet"));
      writeFileSync(join(d, "blobs/stray.parquet"), "orphan");
      old(join(d, "blobs/stray.parquet"));
      writeFileSync(join(d, "views/young.parquet"), "young");
      // Staging of a dead ingest; and one of a running process (this test's): a note.
      mkdirSync(join(d, "tmp/ingest-dead"), { recursive: true });
      writeFileSync(join(d, "tmp/ingest-dead/owner.json"), JSON.stringify({ pid: deadPid() }));
      mkdirSync(join(d, "tmp/ingest-live"), { recursive: true });
      writeFileSync(join(d, "tmp/ingest-live/owner.json"), JSON.stringify({ pid: process.pid }));

      const r = check(d);
      expect(r.code).toBe(1);
      expect(r.report.ok).toBe(false);
      const got = r.report.problems.map((p) => [p.kind, p.object, p.path]).sort();
      expect(got).toEqual(
        [
          ["missing_file", "partition", missing.f],
          ["wrong_size", "partition", short.f],
          ["unreadable_footer", "partition", corrupt.f],
          ["row_count", "partition", recount.f],
          ["missing_file", "block", blob.f],
          ["orphan_file", "orphan", "views/thread_spans/nobody/x.parquet"],
          ["orphan_file", "orphan", "blobs/stray.parquet"],
          ["staging", "staging", "tmp/ingest-dead"],
        ].sort(),
      );
      const byPath = new Map(r.report.problems.map((p) => [p.path, p]));
      expect(byPath.get(missing.f)?.viewSet).toBe(missing.v);
      expect(byPath.get(blob.f)?.ingestId).toMatch(/^[0-9a-f-]{36}$/);
      expect(byPath.get(blob.f)?.source).toBeTruthy();
      expect(r.report.notes.join("\n")).toContain("tmp/ingest-live");
      expect(r.report.notes.join("\n")).toMatch(/1 unnamed file/);
      // The text form groups by trace and process and says what is wrong.
      const text = cli(d, ["check"]);
      expect(text.code).toBe(1);
      expect(text.stdout).toContain("8 problems");
      expect(text.stdout).toMatch(/trace .* \(ingest [0-9a-f-]{36}\)/);
      expect(text.stdout).toContain("missing_file");
    },
    T,
  );

  test(
    "--repair retires damaged partitions and removes orphans and staging; queries answer as before",
    async () => {
      const d = copy();
      const { parts } = await named(d);
      const [a, b] = parts.filter((p) => p.v === "thread_spans" || p.v === "async_events");
      if (!a || !b) throw new Error("fixture too small");
      rmSync(join(d, a.f));
      truncateSync(join(d, b.f), 10);
      writeFileSync(join(d, "views/orphan.parquet"), "x");
      old(join(d, "views/orphan.parquet"));
      mkdirSync(join(d, "tmp/ingest-dead"), { recursive: true });
      writeFileSync(join(d, "tmp/ingest-dead/owner.json"), JSON.stringify({ pid: deadPid() }));

      const r = cli(d, ["check", "--repair"]);
      expect(r.stdout).toContain("after the repair: the lake is whole");
      expect(r.code).toBe(0);
      expect(existsSync(join(d, "views/orphan.parquet"))).toBe(false);
      expect(existsSync(join(d, "tmp/ingest-dead"))).toBe(false);
      // The retired rows are gone and their paths queued for gc.
      const q = await withCatalog(d, (e) =>
        e.rows<{ f: string }>("SELECT file_path AS f FROM lake.temporary_files ORDER BY 1"),
      );
      expect(q.map((x) => x.f)).toEqual([a.f, b.f].sort());
      expect(check(d).code).toBe(0);
      const after = cli(d, ["query", "-f", "csv", COUNTS]);
      expect(after.code).toBe(0);
      expect(after.stdout).toBe(before);
    },
    T,
  );

  test(
    "a raw block replaced by a longer one: the view's first build fails naming it, exit 73",
    async () => {
      // A lake whose views were never built (the base lake's are), so the query materializes.
      const d = tempDir();
      expect(cli(d, ["ingest", NODE, join(ROOT, "fixtures/edge_cases.json")]).code).toBe(0);
      const cpu = await withCatalog(d, (e) =>
        e.rows<{ f: string; n: bigint }>(
          `SELECT b.file_path AS f, b.nb_objects AS n FROM lake.blocks b JOIN lake.streams s USING (stream_id)
           WHERE list_contains(s.tags, 'cpu') ORDER BY b.file_path`,
        ),
      );
      // The smallest cpu block becomes a copy of the largest (more rows than its catalog row says).
      const bySize = [...cpu].sort((a, b) => (a.n < b.n ? -1 : a.n > b.n ? 1 : 0));
      const small = bySize[0];
      const large = bySize[bySize.length - 1];
      if (!small || !large || large.n <= small.n) throw new Error("no two cpu blocks of different sizes");
      cpSync(join(d, large.f), join(d, small.f));
      const r = cli(d, ["query", "SELECT count(*) FROM thread_spans"]);
      expect(r.code).toBe(73);
      expect(r.stderr).toContain(`damaged or missing: ${small.f}`);
      expect(r.stderr).toContain("holds more rows than the catalog records for it");
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(check(d).report.problems.map((x) => x.path)).toContain(small.f);
    },
    T,
  );

  test(
    "a damaged raw block: --repair names the trace; --repair --force removes it; ingesting it again restores the counts",
    async () => {
      const d = copy();
      const { blocks } = await named(d);
      const victim = await withCatalog(d, (e) =>
        e.rows<{ f: string; source: string; id: string }>(
          `SELECT b.file_path AS f, i.source, i.ingest_id AS id FROM lake.blocks b JOIN lake.processes p USING (process_id)
           JOIN lake.ingests i USING (ingest_id) WHERE i.source LIKE '%node_trace%' ORDER BY b.nb_objects DESC LIMIT 1`,
        ),
      );
      const v = victim[0];
      if (!v || blocks.length === 0) throw new Error("no block");
      truncateSync(join(d, v.f), 50);

      // A query that reads the block: one sentence naming the file and the way out, exit 73 (it
      // was DuckDB's raw Parquet error, exit 70).
      const raw = cli(d, ["query", "SELECT count(*) FROM raw_events"]);
      expect(raw.code).toBe(73);
      expect(raw.stderr).toContain(`damaged or missing: ${v.f}`);
      expect(raw.stderr).toContain("tracelake check --repair --force");
      expect(raw.stderr.trim().split("\n")).toHaveLength(1);

      const named1 = cli(d, ["check", "--repair"]);
      expect(named1.code).toBe(1);
      expect(named1.stdout).toContain(`ingest ${v.id}`);
      expect(named1.stdout).toContain("--repair --force");
      expect(named1.stdout).toContain("after the repair: 1 problem(s) left");

      const forced = cli(d, ["check", "--repair", "--force"]);
      expect(forced.code).toBe(0);
      expect(forced.stdout).toContain(`removed trace ${v.source}`);
      const left = await withCatalog(d, (e) =>
        e.rows<{ n: bigint }>(
          "SELECT (SELECT count(*) FROM lake.ingests WHERE ingest_id = $i) + (SELECT count(*) FROM lake.processes WHERE ingest_id = $i) AS n",
          { i: v.id },
        ),
      );
      expect(Number(left[0]?.n)).toBe(0);
      expect(existsSync(join(d, v.f))).toBe(false);
      expect(check(d).code).toBe(0);

      // Not taken for a duplicate: the same counts come back.
      const again = cli(d, ["ingest", NODE]);
      expect(again.code).toBe(0);
      expect(again.stdout + again.stderr).not.toMatch(/already ingested|duplicate/i);
      const after = cli(d, ["query", "-f", "csv", COUNTS]);
      expect(after.stdout).toBe(before);
    },
    T,
  );

  test(
    "--force without --repair is refused; a missing lake is exit 73",
    () => {
      const d = copy();
      const r = cli(d, ["check", "--force"]);
      expect(r.code).toBe(65);
      expect(r.stderr).toContain("--force goes with --repair");
      const none = cli(join(tempDir(), "none"), ["check"]);
      expect(none.code).toBe(73);
    },
    T,
  );
});
