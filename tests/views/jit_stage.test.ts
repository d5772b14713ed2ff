/**
 * The JIT's staged writes (lib/views/jit.ts writeAll, ViewSet.stage): a partition group is
 * staged while the previous group's files are written, on the other engine of a pair (the
 * engine and a fork of it), one write at a time; the files are those of a build without stages
 * (oracle: the same view set's materialize, one group after another), for thread_spans and
 * async_events; a failing stage or write
 * leaves no file and no catalog row, and the lake builds again afterwards. Data: the Chromium
 * JSON sample, each process its own group (manyMaxEvents 0), and the sample's small processes
 * in one batch (the default).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { Engine } from "../../lib/duck/engine.ts";
import { ingest } from "../../lib/ingest/ingest.ts";
import { Lake } from "../../lib/lake/lake.ts";
import { prepareQuery } from "../../lib/sql/query.ts";
import { asyncEvents } from "../../lib/views/async_events.ts";
import { materializeInstances } from "../../lib/views/jit.ts";
import { blockNames } from "../../lib/views/source.ts";
import { threadSpans } from "../../lib/views/thread_spans.ts";
import type { MaterializeInput, StagedWrite, ViewSet } from "../../lib/views/view_set.ts";
import { CHROMIUM_JSON_SAMPLE, tempDir } from "../helpers.ts";
import { partitionRows } from "./partition_rows.ts";

describe("staged writes", () => {
  let engine: Engine;
  let lake: Lake;
  /** What the probe view set did, in order: a group's (its process ids) stage and write, begun or ended, on an engine. */
  let log: { step: "stage" | "staged" | "write" | "wrote"; who: string; on: number }[] = [];
  /** Engines by first sight: 0 the test's own. */
  const engineIds = new Map<Engine, number>();
  const idOf = (e: Engine): number => {
    if (!engineIds.has(e)) engineIds.set(e, engineIds.size);
    return engineIds.get(e) as number;
  };
  /** Makes the probe's stage or write of a group (by process id) throw. */
  let failStage: string | null = null;
  let failWrite: string | null = null;
  const discarded: string[] = [];
  /** `base` (a view set with stages) whose stages log their steps. */
  const makeProbe = (base: ViewSet): ViewSet => {
    const stage = base.stage as NonNullable<ViewSet["stage"]>;
    return {
      ...base,
      stage: async (inputs: MaterializeInput[]): Promise<StagedWrite> => {
        const who = inputs.map((i) => i.process.processId).join("+");
        const on = idOf((inputs[0] as MaterializeInput).engine);
        log.push({ step: "stage", who, on });
        if (failStage !== null && who.includes(failStage)) throw new Error(`stage of ${who} failed`);
        const staged = await stage(inputs);
        log.push({ step: "staged", who, on });
        return {
          write: async () => {
            log.push({ step: "write", who, on });
            const r = await staged.write();
            if (failWrite !== null && who.includes(failWrite)) throw new Error(`write of ${who} failed`);
            log.push({ step: "wrote", who, on });
            return r;
          },
          discard: async () => {
            discarded.push(who);
            await staged.discard();
          },
        };
      },
    };
  };
  const probe = makeProbe(threadSpans);
  const limit = threadSpans.manyMaxEvents as number;
  /** thread_spans' and the probe's manyMaxEvents (0: each process its own group). */
  const setMany = (n: number): void => {
    threadSpans.manyMaxEvents = n;
    probe.manyMaxEvents = n;
  };
  /** Builds `vs` (thread_spans or async_events) from scratch (deletes its files first); returns their rows. */
  const build = async (vs: ViewSet): Promise<Map<string, string[]>> => {
    await prepareQuery(engine, lake, "SELECT 1");
    const files = await engine.rows<{ f: string }>(
      "SELECT file_path AS f FROM list_partitions() WHERE view_set_name = $vs AND file_path IS NOT NULL",
      { vs: vs.name },
    );
    for (const f of files) rmSync(join(lake.root, f.f), { force: true });
    log = [];
    await materializeInstances(engine, lake, [{ viewSet: vs, processIds: null }]);
    await prepareQuery(engine, lake, "SELECT 1");
    return partitionRows(engine, lake.root, vs.name);
  };
  /** The thread_spans files on disk. */
  const filesOnDisk = (): string[] => {
    const dir = join(lake.root, "views", "thread_spans");
    return readdirSync(dir, { recursive: true }).filter((f) => String(f).endsWith(".parquet")) as string[];
  };

  beforeAll(async () => {
    engine = await Engine.open({ threads: 2 });
    idOf(engine);
    lake = await Lake.open(engine, join(tempDir("tl-stage-"), "lake"));
    await ingest(engine, lake, CHROMIUM_JSON_SAMPLE);
  }, 60_000);
  afterAll(() => {
    threadSpans.manyMaxEvents = limit;
    asyncEvents.manyMaxEvents = asyncLimit;
    engine.close();
  });

  /**
   * Checks the last build's log: group k + 1 was staged after group k's write began and before
   * it ended, on the other engine. Returns the stages.
   */
  const stagedDuringWrites = (): typeof log => {
    const at = (step: string, who: string): number => log.findIndex((l) => l.step === step && l.who === who);
    const stages = log.filter((l) => l.step === "stage");
    for (let k = 0; k + 1 < stages.length; k++) {
      const cur = stages[k] as { who: string; on: number };
      const next = stages[k + 1] as { who: string; on: number };
      expect(at("stage", next.who)).toBeGreaterThan(at("write", cur.who));
      expect(at("stage", next.who)).toBeLessThan(at("wrote", cur.who));
      expect(next.on).not.toBe(cur.on);
    }
    return stages;
  };

  const asyncLimit = asyncEvents.manyMaxEvents as number;
  test("async_events: each process staged while the previous one's file is written; the same files", async () => {
    asyncEvents.manyMaxEvents = 0;
    const { stage: _, ...plain } = asyncEvents;
    const oracle = await build(plain);
    const asyncProbe = makeProbe(asyncEvents);
    asyncProbe.manyMaxEvents = 0;
    const got = await build(asyncProbe);
    expect(got.size).toBeGreaterThan(3);
    expect([...got.entries()].sort()).toEqual([...oracle.entries()].sort());
    expect(stagedDuringWrites().length).toBeGreaterThan(3);
    asyncEvents.manyMaxEvents = asyncLimit;
    // The default: the small processes in one batch, built as one build without stages does.
    const { stage: __, ...plainMany } = asyncEvents;
    expect([...(await build(makeProbe(asyncEvents))).entries()].sort()).toEqual(
      [...(await build(plainMany)).entries()].sort(),
    );
  }, 120_000);

  test("each group is staged while the previous one's files are written, on the other engine", async () => {
    setMany(0);
    const { stage: _, ...plain } = threadSpans;
    const oracle = await build(plain);
    const got = await build(probe);
    expect(got.size).toBeGreaterThan(5);
    expect([...got.entries()].sort()).toEqual([...oracle.entries()].sort());
    const stages = stagedDuringWrites();
    expect(stages.length).toBeGreaterThan(5);
    // One write at a time.
    let open = 0;
    for (const l of log) {
      if (l.step === "write") open++;
      if (l.step === "wrote") open--;
      expect(open).toBeLessThanOrEqual(1);
    }
    // Two engines: the test's (0) and one fork of the run.
    const on = new Set(stages.map((s) => s.on));
    expect(on.size).toBe(2);
    expect(on.has(0)).toBe(true);
  }, 120_000);

  test("the batch of small processes is staged while the largest process is written", async () => {
    setMany(limit);
    const got = await build(probe);
    const { stage: _, ...plain } = threadSpans;
    expect([...got.entries()].sort()).toEqual([...(await build(plain)).entries()].sort());
    await build(probe);
    const stages = log.filter((l) => l.step === "stage");
    expect(stages.length).toBe(2);
    expect(stages[1]?.who).toContain("+");
    expect(log.indexOf(stages[1] as (typeof log)[number])).toBeLessThan(log.findIndex((l) => l.step === "wrote"));
  }, 120_000);

  test("a failing stage or write leaves no file and no partition, and the lake builds again", async () => {
    setMany(0);
    const { stage: _, ...plain } = threadSpans;
    const oracle = await build(plain);
    // The third group's stage fails while the second's write runs; then the second's write fails
    // while the third is staged (which is then discarded).
    const removeFiles = async (): Promise<void> => {
      await prepareQuery(engine, lake, "SELECT 1");
      const files = await engine.rows<{ f: string }>(
        "SELECT file_path AS f FROM list_partitions() WHERE view_set_name = 'thread_spans' AND file_path IS NOT NULL",
      );
      for (const f of files) rmSync(join(lake.root, f.f), { force: true });
    };
    // The groups' order: the first build's stages.
    await build(probe);
    const order = log.filter((l) => l.step === "stage").map((l) => l.who);
    expect(order.length).toBeGreaterThan(3);
    // The third group's stage fails while the second's write runs; the second's write fails
    // while the third is staged (which is then discarded).
    for (const fail of ["stage", "write"] as const) {
      await removeFiles();
      const before = filesOnDisk().length;
      discarded.length = 0;
      if (fail === "stage") failStage = order[2] as string;
      else failWrite = order[1] as string;
      try {
        await expect(materializeInstances(engine, lake, [{ viewSet: probe, processIds: null }])).rejects.toThrow(
          `${fail} of`,
        );
      } finally {
        failStage = null;
        failWrite = null;
      }
      // No file left of the run (the first group's write had ended: its file went with the run).
      expect(filesOnDisk().length).toBe(before);
      expect(discarded).toEqual(fail === "write" ? [order[2] as string] : []);
      // The lake builds again, to the same files.
      expect([...(await build(plain)).entries()].sort()).toEqual([...oracle.entries()].sort());
    }
  }, 180_000);
});

describe("blockNames on two engines at once", () => {
  test("each engine's variable holds its own input's names", async () => {
    const engine = await Engine.open({ threads: 2 });
    const fork = await engine.fork();
    try {
      const input = (e: Engine, p: string, n: number): MaterializeInput => ({
        engine: e,
        process: { processId: p, exe: null, username: null, computer: null, properties: null },
        streams: Array.from({ length: n }, (_, i) => ({
          streamId: `${p}-s${i}`,
          tid: `${i}`,
          threadName: `${p} t${i}`,
        })),
        blocks: [],
        outPath: "",
      });
      const read = async (e: Engine) =>
        (
          await e.rows<{ p: string; s: string[]; n: string[] }>(
            "SELECT getvariable('tl_src').process_id::VARCHAR AS p, getvariable('tl_src').stream_ids::VARCHAR[] AS s, getvariable('tl_src').thread_names::VARCHAR[] AS n",
          )
        )[0];
      for (let round = 0; round < 5; round++) {
        await Promise.all([blockNames(input(engine, "a", 40 + round)), blockNames(input(fork, "b", 3))]);
        expect(await read(engine)).toEqual({
          p: "a",
          s: Array.from({ length: 40 + round }, (_, i) => `a-s${i}`),
          n: Array.from({ length: 40 + round }, (_, i) => `a t${i}`),
        });
        expect(await read(fork)).toEqual({ p: "b", s: ["b-s0", "b-s1", "b-s2"], n: ["b t0", "b t1", "b t2"] });
      }
    } finally {
      fork.close();
      engine.close();
    }
  });
});
