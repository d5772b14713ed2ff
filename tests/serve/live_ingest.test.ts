/**
 * The live ingest: requests committed in parts into one ingest keep one process per resource
 * (same process and stream ids from part to part, the `ingests` row's counts the totals), and a
 * process that reached `processEvents` is followed by a new one for the same resource. The
 * oracle is the catalog read with SQL and the counts of what the test sent.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { Engine } from "../../lib/duck/engine.ts";
import { Lake } from "../../lib/lake/lake.ts";
import { LiveIngest } from "../../lib/serve/live_ingest.ts";
import { tempDir } from "../helpers.ts";

/** An ExportTraceServiceRequest (JSON shape) of `n` spans of service `svc`, ids from `first`. */
function spans(svc: string, first: number, n: number): Record<string, unknown> {
  return {
    resourceSpans: [
      {
        resource: { attributes: [{ key: "service.name", value: { stringValue: svc } }] },
        scopeSpans: [
          {
            spans: Array.from({ length: n }, (_, i) => ({
              spanId: (first + i).toString(16).padStart(16, "0"),
              name: "s",
              startTimeUnixNano: String(1_760_000_000_000_000_000n + BigInt(first + i)),
              endTimeUnixNano: String(1_760_000_000_000_000_100n + BigInt(first + i)),
            })),
          },
        ],
      },
    ],
  };
}

async function withLake<T>(fn: (engine: Engine, lake: Lake) => Promise<T>): Promise<T> {
  const engine = await Engine.open({ threads: 1 });
  try {
    const lake = await Lake.open(engine, join(tempDir("tl-live-"), "lake"));
    return await fn(engine, lake);
  } finally {
    engine.close();
  }
}

async function catalog<T>(engine: Engine, lake: Lake, sql: string): Promise<T[]> {
  await lake.attach(engine, "read");
  try {
    return await engine.rowsJson<T>(sql);
  } finally {
    await lake.detach(engine);
  }
}

describe("LiveIngest", () => {
  test("parts keep one process per resource; the ingests row holds the totals", async () => {
    await withLake(async (engine, lake) => {
      const live = new LiveIngest(engine, lake, { sourceName: "test" });
      live.add(spans("a", 1, 10), 100);
      live.add(spans("b", 1000, 5), 100);
      expect((await live.commit())?.events).toBe(30);
      live.add(spans("a", 100, 7), 100);
      expect((await live.commit())?.events).toBe(14);
      expect(await live.commit()).toBeNull();
      await live.close();
      const procs = await catalog<{ exe: string; n: string }>(
        engine,
        lake,
        "SELECT p.exe, sum(b.nb_objects)::VARCHAR AS n FROM lake.processes p JOIN lake.blocks b USING (process_id) GROUP BY p.exe ORDER BY p.exe",
      );
      expect(procs).toEqual([
        { exe: "a", n: "34" },
        { exe: "b", n: "10" },
      ]);
      const streams = await catalog<{ n: string }>(engine, lake, "SELECT count(*)::VARCHAR AS n FROM lake.streams");
      // Per process: log, metrics and the cpu stream of thread 0; none inserted twice.
      expect(streams).toEqual([{ n: "6" }]);
      const ing = await catalog<Record<string, string>>(
        engine,
        lake,
        "SELECT ingest_id, nb_events::VARCHAR AS e, nb_processes::VARCHAR AS p, nb_streams::VARCHAR AS s, nb_blocks::VARCHAR AS b, (SELECT count(*) FROM lake.blocks)::VARCHAR AS blocks FROM lake.ingests",
      );
      expect(ing).toEqual([{ ingest_id: live.ingestId, e: "44", p: "2", s: "6", b: "3", blocks: "3" }]);
    });
  }, 60_000);

  test("a process that reached processEvents is followed by a new one for the same resource", async () => {
    await withLake(async (engine, lake) => {
      const live = new LiveIngest(engine, lake, { sourceName: "test", processEvents: 20 });
      live.add(spans("a", 1, 10), 100); // 20 events: full
      await live.commit();
      live.add(spans("a", 100, 3), 100);
      await live.commit();
      live.add(spans("a", 200, 2), 100);
      await live.close();
      const rows = await catalog<{ n: string }>(
        engine,
        lake,
        "SELECT sum(b.nb_objects)::VARCHAR AS n FROM lake.processes p JOIN lake.blocks b USING (process_id) WHERE p.exe = 'a' GROUP BY p.process_id ORDER BY min(b.insert_time)",
      );
      expect(rows).toEqual([{ n: "20" }, { n: "10" }]);
    });
  }, 60_000);
});
