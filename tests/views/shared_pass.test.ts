/**
 * A JIT run that writes both flows and thread_spans runs thread_spans' stack pass once per
 * process and hands it from the first of the two view sets to the second through
 * MaterializeInput.shared; the second takes it out, so that the run does not hold every
 * process's pass until it ends. Checked on the map itself (captured from the inputs the view
 * sets are given), each process built alone and in the default batches (thread_spans' batches
 * make their pass anew): after the run it holds no pass. The files are checked elsewhere
 * (flows_span_pass.test.ts: every edge's ends are the thread_spans rows of their slices).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { Engine } from "../../lib/duck/engine.ts";
import { ingest } from "../../lib/ingest/ingest.ts";
import { Lake } from "../../lib/lake/lake.ts";
import { flows } from "../../lib/views/flows.ts";
import { materializeInstances } from "../../lib/views/jit.ts";
import { threadSpans } from "../../lib/views/thread_spans.ts";
import type { MaterializeInput, StagedWrite, ViewSet } from "../../lib/views/view_set.ts";
import { CHROMIUM_JSON_SAMPLE, tempDir } from "../helpers.ts";

/** The span passes a `shared` map holds (thread_spans' keys begin so: thread_spans.ts passKey). */
const passesIn = (m: Map<string, unknown>): string[] => [...m.keys()].filter((k) => k.startsWith("thread_spans pass"));

describe("the span pass handed from one view set to the other", () => {
  let engine: Engine;
  let dir: string;
  /** Every `shared` map the probes were given. */
  const seen = new Set<Map<string, unknown>>();
  const note = (inputs: readonly MaterializeInput[]): void => {
    for (const i of inputs) if (i.shared) seen.add(i.shared);
  };
  /** `base` with its materialize, batches and stages noting the maps they get. */
  const probe = (base: ViewSet): ViewSet => ({
    ...base,
    materialize: (input) => {
      note([input]);
      return base.materialize(input);
    },
    ...(base.materializeMany
      ? {
          materializeMany: (inputs: MaterializeInput[]) => {
            note(inputs);
            return (base.materializeMany as NonNullable<ViewSet["materializeMany"]>)(inputs);
          },
        }
      : {}),
    ...(base.stage
      ? {
          stage: (inputs: MaterializeInput[]): Promise<StagedWrite> => {
            note(inputs);
            return (base.stage as NonNullable<ViewSet["stage"]>)(inputs);
          },
        }
      : {}),
  });
  const limit = threadSpans.manyMaxEvents as number;

  beforeAll(async () => {
    engine = await Engine.open({ threads: 2 });
    dir = tempDir("tl-shared-pass-");
  }, 60_000);
  afterAll(() => {
    threadSpans.manyMaxEvents = limit;
    engine.close();
  });

  for (const many of [0, limit]) {
    test(`${many === 0 ? "each process alone" : "small processes in batches"}: no pass is left`, async () => {
      threadSpans.manyMaxEvents = many;
      seen.clear();
      const lake = await Lake.open(engine, join(dir, `lake-${many}`));
      await ingest(engine, lake, CHROMIUM_JSON_SAMPLE);
      const views = { flows: probe(flows), thread_spans: probe(threadSpans) } as Record<string, ViewSet>;
      const report = await materializeInstances(
        engine,
        lake,
        ["flows", "thread_spans"].map((name) => ({ viewSet: views[name] as ViewSet, processIds: null })),
      );
      expect(report.written).toBeGreaterThan(0);
      // One run of two view sets: one map, given to both.
      expect(seen.size).toBe(1);
      const shared = [...seen][0] as Map<string, unknown>;
      expect(passesIn(shared)).toEqual([]);
      await lake.detach(engine);
    }, 120_000);
  }
});
