import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { Engine } from "../../lib/duck/engine.ts";
import { Lake } from "../../lib/lake/lake.ts";
import { BUN, cli, ROOT, snapshot, tempDir, withCatalog } from "../helpers.ts";

const NODE = join(ROOT, "fixtures/node_trace.json.gz");
const EDGES = join(ROOT, "fixtures/span_edge_cases.json");

/** Runs catalog statements on `lakeDir` with the catalog attached for writing. */
async function catalogWrite(lakeDir: string, sql: string): Promise<void> {
  const e = await Engine.open({ threads: 1 });
  try {
    const lake = await Lake.open(e, lakeDir, { create: false });
    await lake.attach(e, "write");
    await e.run(sql);
    await lake.detach(e);
  } finally {
    e.close();
  }
}

/** Live partition files and temporary files, straight from the catalog. */
async function catalogFiles(lakeDir: string): Promise<{ live: string[]; temporary: string[]; incompatible: number }> {
  return withCatalog(lakeDir, async (e) => ({
    live: (
      await e.rows<{ f: string }>(
        "SELECT file_path AS f FROM lake.lakehouse_partitions WHERE file_path IS NOT NULL ORDER BY f",
      )
    ).map((r) => r.f),
    temporary: (await e.rows<{ f: string }>("SELECT file_path AS f FROM lake.temporary_files ORDER BY f")).map(
      (r) => r.f,
    ),
    incompatible: Number(
      (
        await e.rows<{ n: bigint }>(
          "SELECT count(*) AS n FROM lake.lakehouse_partitions WHERE file_schema_hash = '\\x00\\x01'::BLOB",
        )
      )[0]?.n,
    ),
  }));
}

function filesUnder(root: string, dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    if (!existsSync(d)) return;
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(root, p));
    }
  };
  walk(join(root, dir));
  return out.sort();
}

/** The invariant: every live row's file exists. */
async function expectConsistent(lakeDir: string): Promise<{ live: string[]; temporary: string[] }> {
  const c = await catalogFiles(lakeDir);
  for (const f of c.live) expect(existsSync(join(lakeDir, f))).toBe(true);
  const blobs = await withCatalog(lakeDir, (e) => e.rows<{ f: string }>("SELECT file_path AS f FROM lake.blocks"));
  for (const b of blobs) expect(existsSync(join(lakeDir, b.f))).toBe(true);
  return c;
}

/**
 * Starts `tracelake ARGS` with the test-only pause at `point`, waits until it is there, and
 * SIGKILLs it.
 */
async function killAt(lakeDir: string, args: string[], point: string): Promise<void> {
  const marker = join(tempDir("tl-marker-"), "paused");
  const p = Bun.spawn([BUN, join(ROOT, "main.ts"), "--lake", lakeDir, ...args], {
    stdout: "ignore",
    stderr: "pipe",
    env: { ...process.env, TRACELAKE_TEST_PAUSE: `${point}:${marker}`, NO_COLOR: "1" },
  });
  const deadline = Date.now() + 60_000;
  while (!existsSync(marker)) {
    if (p.exitCode !== null)
      throw new Error(`tracelake ${args.join(" ")} ended before ${point}: ${await new Response(p.stderr).text()}`);
    if (Date.now() > deadline) throw new Error(`tracelake ${args.join(" ")} never reached ${point}`);
    await Bun.sleep(20);
  }
  p.kill("SIGKILL");
  await p.exited;
  expect(p.signalCode).toBe("SIGKILL");
}

describe("SIGKILL during retirement and gc", () => {
  test("killed inside retire_incompatible_partitions: nothing retired; killed during gc: every live row's file exists and the next gc cleans the rest", async () => {
    const lake = tempDir();
    for (const f of [NODE, EDGES]) expect(cli(lake, ["ingest", f]).code).toBe(0);
    expect(cli(lake, ["materialize"]).code).toBe(0);
    // Partitions written by an "older release": another schema hash.
    await catalogWrite(
      lake,
      "UPDATE lake.lakehouse_partitions SET file_schema_hash = '\\x00\\x01'::BLOB WHERE view_set_name IN ('thread_spans', 'measures')",
    );
    const before = await snapshot(lake);
    const c0 = await catalogFiles(lake);
    expect(c0.incompatible).toBeGreaterThan(1);

    // 1. Killed after the retirement's catalog writes, before its commit: the catalog is as before.
    await killAt(
      lake,
      ["query", "SELECT * FROM retire_incompatible_partitions()"],
      "retire-incompatible-before-commit",
    );
    expect(await snapshot(lake)).toEqual(before);
    await expectConsistent(lake);
    // The same through `retire --incompatible`.
    await killAt(lake, ["retire", "--incompatible"], "retire-incompatible-before-commit");
    expect(await snapshot(lake)).toEqual(before);

    // 2. The retirement, completed (files expire at once: --grace 0).
    const r = cli(lake, ["retire", "--incompatible", "--grace", "0"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`retired ${c0.incompatible} incompatible partitions, 0 failed`));
    const c1 = await expectConsistent(lake);
    expect((await catalogFiles(lake)).incompatible).toBe(0);
    const retiredFiles = c0.live.filter((f) => !c1.live.includes(f));
    expect(c1.temporary).toEqual(retiredFiles);
    expect(retiredFiles.length).toBeGreaterThan(1);

    // Orphans: an old blob no block names, a young one (an ingest may be about to commit it),
    // and an old partition file no row names.
    const oldBlob = join(lake, "blobs/p/s/orphan-old.parquet");
    const youngBlob = join(lake, "blobs/p/s/orphan-young.parquet");
    const oldPart = join(lake, "views/thread_spans/x/2026-01-01/00-00-00_orphan.parquet");
    for (const f of [oldBlob, youngBlob, oldPart]) {
      mkdirSync(dirname(f), { recursive: true });
      writeFileSync(f, "x".repeat(100));
    }
    const longAgo = new Date(Date.now() - 2 * 3600_000);
    utimesSync(oldBlob, longAgo, longAgo);
    utimesSync(oldPart, longAgo, longAgo);

    // 3. gc killed right after its first deletion.
    await Bun.sleep(5);
    await killAt(lake, ["gc"], "gc-after-first-delete");
    const c2 = await expectConsistent(lake);
    expect(c2.live).toEqual(c1.live);
    expect(existsSync(oldBlob)).toBe(false); // the first thing it deleted
    // What is left for the next gc: the retired files and the old orphan partition file.
    const left = cli(lake, ["gc", "--dry-run"]);
    expect(
      left.stdout
        .split("\n")
        .filter((l) => l.startsWith("would delete"))
        .map((l) => l.split(" ")[2])
        .sort(),
    ).toEqual([...retiredFiles, relative(lake, oldPart)].sort());
    // Killed after deleting the expired files, before forgetting their temporary_files rows.
    await killAt(lake, ["gc"], "gc-before-forgetting-temporary-files");
    const c2b = await expectConsistent(lake);
    expect(c2b.live).toEqual(c1.live);
    expect(c2b.temporary).toEqual(retiredFiles);
    for (const f of retiredFiles) expect(existsSync(join(lake, f))).toBe(false);

    // 4. The next gc finishes the job: it deletes the retired files, the old orphans and nothing else.
    const dry = cli(lake, ["gc", "--dry-run"]);
    expect(dry.code).toBe(0);
    const again = cli(lake, ["gc"]);
    expect(again.code).toBe(0);
    const deleted = again.stdout.split("\n").filter((l) => l.startsWith("deleted"));
    expect(deleted.length).toBe(dry.stdout.split("\n").filter((l) => l.startsWith("would delete")).length);
    expect(deleted).toEqual([]); // the killed gcs already deleted every file; this one forgets the rows
    const c3 = await expectConsistent(lake);
    expect(c3.live).toEqual(c1.live);
    expect(c3.temporary).toEqual([]);
    for (const f of retiredFiles) expect(existsSync(join(lake, f))).toBe(false);
    expect(existsSync(oldBlob)).toBe(false);
    expect(existsSync(oldPart)).toBe(false);
    expect(existsSync(youngBlob)).toBe(true);
    expect(filesUnder(lake, "views")).toEqual(c3.live);
    const blockFiles = await withCatalog(lake, (e) => e.rows<{ f: string }>("SELECT file_path AS f FROM lake.blocks"));
    expect(filesUnder(lake, "blobs")).toEqual([...blockFiles.map((b) => b.f), relative(lake, youngBlob)].sort());

    // The lake works: queries regenerate the retired view sets.
    const q = cli(lake, ["query", "-f", "csv", "SELECT count(*) AS n FROM thread_spans"]);
    expect(q.code).toBe(0);
    expect(Number(q.stdout.split("\n")[1])).toBeGreaterThan(0);
  }, 180_000);
});
