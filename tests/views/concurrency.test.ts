import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUN, cli, ROOT, tempDir, withCatalog } from "../helpers.ts";

const CHROMIUM = join(ROOT, "fixtures/chromium_startup.json.gz");

/** Starts `tracelake --lake LAKE ...args` as a separate process. */
function start(lake: string, args: string[]) {
  const p = Bun.spawn([BUN, join(ROOT, "main.ts"), "--lake", lake, ...args], {
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, NO_COLOR: "1" },
  });
  return {
    p,
    done: (async () => {
      const [stdout, stderr, code] = await Promise.all([
        new Response(p.stdout).text(),
        new Response(p.stderr).text(),
        p.exited,
      ]);
      return { code, stdout, stderr };
    })(),
  };
}

/** Catalog invariants after concurrent work: one live partition per instance, files present. */
async function checkPartitions(lake: string) {
  return withCatalog(lake, async (e) => {
    const dup = await e.rows<{ n: bigint }>(
      `SELECT count(*) AS n FROM (SELECT view_set_name, view_instance_id, file_schema_hash FROM lake.lakehouse_partitions
       GROUP BY ALL HAVING count(*) > 1)`,
    );
    const files = await e.rows<{ f: string }>(
      "SELECT file_path AS f FROM lake.lakehouse_partitions WHERE file_path IS NOT NULL",
    );
    return { duplicates: Number(dup[0]?.n), missing: files.filter((r) => !existsSync(join(lake, r.f))).length };
  });
}

describe("two tracelake processes on one lake", () => {
  test("two queries materializing the same processes at once both succeed and agree", async () => {
    const lake = tempDir();
    expect(cli(lake, ["ingest", CHROMIUM]).code).toBe(0);
    const expected = cli(lake, ["query", "-f", "csv", "SELECT count(*) FROM raw_events WHERE ph IN ('X', 'B')"]);
    const sql = "SELECT count(*) FROM thread_spans";
    const runs = await Promise.all(
      [start(lake, ["query", "-f", "csv", sql]), start(lake, ["query", "-f", "csv", sql])].map((r) => r.done),
    );
    for (const r of runs) {
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(expected.stdout);
    }
    expect(await checkPartitions(lake)).toEqual({ duplicates: 0, missing: 0 });
  }, 120_000);

  test("queries run while an ingest is in progress, and see its data once it has committed", async () => {
    const lake = tempDir();
    const dir = tempDir("tl-conc-");
    expect(cli(lake, ["ingest", CHROMIUM]).code).toBe(0);
    const before = cli(lake, ["query", "-f", "csv", "SELECT count(*) FROM thread_spans"]);
    expect(before.code).toBe(0);
    // A trace big enough to take a few seconds to ingest.
    const trace = join(dir, "big.json");
    const parts: string[] = ['{"traceEvents":['];
    for (let i = 0; i < 400_000; i++) {
      parts.push(
        `{"name":"task${i % 50}","cat":"c","ph":"X","ts":${i * 10},"dur":3,"pid":77,"tid":${i % 8},"args":{"pad":"${"p".repeat(120)}"}},\n`,
      );
    }
    parts.push('{"name":"end","ph":"i","ts":0,"pid":77,"tid":1}]}');
    writeFileSync(trace, parts.join(""));
    const ing = start(lake, ["ingest", "--batch-mb", "8", trace]);
    // Wait until the ingest is under way (its staging directory exists).
    const t0 = Date.now();
    while (!readdirSync(join(lake, "tmp")).some((n) => n.startsWith("ingest-")) && Date.now() - t0 < 20_000) {
      await Bun.sleep(20);
    }
    let during = 0;
    let finished = false;
    ing.done.then(() => {
      finished = true;
    });
    while (!finished) {
      const q = await start(lake, ["query", "-f", "csv", "SELECT count(*) FROM thread_spans"]).done;
      expect(q.stderr).toBe("");
      expect(q.code).toBe(0);
      if (!finished) {
        expect(q.stdout).toBe(before.stdout);
        during++;
      }
    }
    const r = await ing.done;
    expect(r.code).toBe(0);
    expect(during).toBeGreaterThan(0);
    const after = cli(lake, ["query", "-f", "csv", "SELECT count(*) AS n FROM thread_spans WHERE tid IS NOT NULL"]);
    const beforeN = Number(before.stdout.split("\n")[1]);
    expect(Number(after.stdout.split("\n")[1])).toBe(beforeN + 400_000);
    expect(await checkPartitions(lake)).toEqual({ duplicates: 0, missing: 0 });
  }, 180_000);
});
