import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUN, cli, ROOT, snapshot, tempDir } from "../helpers.ts";

/** Writes a Chrome JSON trace of about `mb` MB with many threads; returns its number of `task` events. */
function bigTrace(path: string, mb: number): number {
  const parts: string[] = ['{"traceEvents":['];
  let size = 0;
  let i = 0;
  for (; size < mb * 1e6; i++) {
    const s = `{"name":"task${i % 50}","cat":"c","ph":"X","ts":${i},"dur":3,"pid":${1 + (i % 3)},"tid":${i % 40},"args":{"i":${i},"pad":"${"p".repeat(100)}"}},\n`;
    parts.push(s);
    size += s.length;
  }
  parts.push('{"name":"end","ph":"i","ts":0,"pid":1,"tid":1}]}');
  writeFileSync(path, parts.join(""));
  return i;
}

describe("atomic ingest under SIGKILL", () => {
  test("a killed ingest leaves the catalog exactly as before; gc removes what it left; the lake still works", async () => {
    const lake = tempDir();
    const dir = tempDir("tl-kill-");
    expect(cli(lake, ["ingest", join(ROOT, "fixtures/edge_cases.json")]).code).toBe(0);
    const before = await snapshot(lake);
    const trace = join(dir, "big.json");
    const tasks = bigTrace(trace, 60);
    // Kill at several moments: early (framing), mid-way (blocks being written) and late.
    let completed = false;
    let kills = 0;
    for (const delayMs of [150, 400, 800, 1300, 2000]) {
      const p = Bun.spawn([BUN, join(ROOT, "main.ts"), "--lake", lake, "ingest", "--batch-mb", "4", trace], {
        stdout: "ignore",
        stderr: "ignore",
      });
      await Bun.sleep(delayMs);
      p.kill("SIGKILL");
      await p.exited;
      const after = await snapshot(lake);
      const committed = after.counts.ingests === (before.counts.ingests ?? 0) + 1;
      if (p.signalCode !== "SIGKILL" || committed) {
        // It finished before the kill, or the kill landed between its commit and its exit: then
        // it must be complete (checked below by counting its events), and we stop here.
        expect(after.counts.ingests).toBe((before.counts.ingests ?? 0) + 1);
        completed = true;
        break;
      }
      kills++;
      expect(after.counts).toEqual(before.counts);
      // Whatever it left on disk is only in its staging directory or unreferenced blobs.
      const gc = cli(lake, ["gc", "--grace", "0"]);
      if (gc.code !== 0) throw new Error(`gc failed after a kill at ${delayMs} ms: ${gc.stderr}`);
      expect(gc.code).toBe(0);
      expect(await snapshot(lake)).toEqual(before);
      expect(readdirSync(join(lake, "tmp"))).toEqual([]);
    }
    expect(kills).toBeGreaterThanOrEqual(2);
    // The lake is usable: the same trace ingests completely afterwards (or is found already
    // ingested, when a run finished before its kill).
    const ok = cli(lake, ["ingest", "--json", trace]);
    expect(ok.code).toBe(0);
    const s = JSON.parse(ok.stdout);
    expect(s.duplicate).toBe(completed);
    expect(existsSync(join(lake, "tmp"))).toBe(true);
    const q = cli(lake, ["query", "-f", "csv", "SELECT count(*) AS n FROM raw_events WHERE name LIKE 'task%'"]);
    expect(q.stdout).toBe(`n\n${tasks}\n`);
  }, 180_000);
});
