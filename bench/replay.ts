/**
 * Replay benchmark. For a GROUP BY query and a tumbling-window query over a generated
 * thread_spans view of REPLAY_ROWS rows (default 10M; bench/gen_spans.ts, as bench/jit.ts),
 * prints in one run:
 *   - DuckDB's batch time for the same query (the floor: vectorized, multi-threaded);
 *   - a single-threaded loop: the same source query streamed and folded into the same
 *     partial state on the main thread, no workers (the baseline replay must beat);
 *   - replay at N = 1, 2, 4 (auto strategy), rows/s, with the time split.
 * Target (issue 7): at least 1M rows/s on 2 cores.
 *
 * Usage: bun bench/replay.ts   (REPLAY_ROWS=1000000 for a shorter run; BENCH_DIR for the data dir,
 * default /tmp/tracelake-replay-bench)
 */
import { mkdirSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { Engine } from "../lib/duck/engine.ts";
import { Lake } from "../lib/lake/lake.ts";
import { WorkerPool } from "../lib/replay/pool.ts";
import {
  ColumnReader,
  newBatch,
  planReplay,
  type ReplayPlan,
  runReplay,
  sourceInTimeOrder,
  sourceSql,
  workerPlan,
} from "../lib/replay/replay.ts";
import { accumulate, type Group, keyOfValues, newAcc, valueAt } from "../lib/replay/state.ts";
import { prepareQuery } from "../lib/sql/query.ts";
import { materializeInstances } from "../lib/views/jit.ts";
import { threadSpans } from "../lib/views/thread_spans.ts";
import { generateSpansProcess } from "./gen_spans.ts";

const rows = Number(process.env.REPLAY_ROWS ?? 10_000_000);
const dataDir = join(process.env.BENCH_DIR ?? join(tmpdir(), "tracelake-replay-bench"), "replay");
rmSync(dataDir, { recursive: true, force: true });
mkdirSync(dataDir, { recursive: true });

const engine = await Engine.open();
const lake = await Lake.open(engine, join(dataDir, "lake"));
const line = (label: string, value: string): void => console.log(`${label.padEnd(64)} ${value}`);
const rate = (n: number, ms: number): string => `${(n / (ms / 1000) / 1e6).toFixed(2)} M rows/s`;

let t = performance.now();
const pid = await generateSpansProcess(engine, lake, rows);
await materializeInstances(engine, lake, [{ viewSet: threadSpans, processIds: [pid] }]);
console.error(
  `generated and materialized ${rows.toLocaleString()} spans in ${((performance.now() - t) / 1000).toFixed(1)} s`,
);
console.log(
  `machine: ${cpus().length} cores (${cpus()[0]?.model ?? "?"}), shared with other jobs: figures are indicative`,
);

const QUERIES: [string, string][] = [
  ["GROUP BY", "SELECT name, count(*), sum(duration), max(duration) FROM thread_spans GROUP BY name"],
  [
    "tumbling window",
    "SELECT time_bucket(INTERVAL '1 ms', begin) AS w, count(*), sum(duration) FROM thread_spans GROUP BY w ORDER BY w",
  ],
];

/**
 * The single-threaded loop: the same source query (dictionaries built the same way), read
 * with the same column reader and folded into the same partial state, all on the main thread.
 */
async function singleThread(plan: ReplayPlan): Promise<number> {
  const wp = workerPlan(plan);
  const kinds = [...plan.keyKinds, ...plan.argKinds];
  for (const statements of plan.dictSql) for (const sql of statements ?? []) await engine.run(sql);
  const reader = new ColumnReader(kinds);
  const conn = await engine.connect();
  const groups = new Map<unknown, Group>();
  const keys: (number | bigint | null)[] = new Array(wp.nKeys);
  let n = 0;
  try {
    const result = await conn.stream(sourceSql(plan, sourceInTimeOrder(plan, null)));
    for (;;) {
      const chunk = await result.fetchChunk();
      if (!chunk || chunk.rowCount === 0) break;
      const m = chunk.rowCount;
      const b = newBatch(kinds.length, m);
      for (let c = 0; c < kinds.length; c++) reader.read(chunk.getColumnVector(c), c, m, b, 0);
      for (let i = 0; i < m; i++) {
        for (let k = 0; k < wp.nKeys; k++) keys[k] = valueAt(b, k, i);
        const gk = keyOfValues(keys);
        let g = groups.get(gk);
        if (!g) {
          g = { keys: keys.slice(), acc: newAcc(wp.aggs) };
          groups.set(gk, g);
        }
        accumulate(g.acc, wp.aggs, b, i);
      }
      n += m;
    }
  } finally {
    conn.closeSync();
  }
  return n;
}

const pool = WorkerPool.create(4);
for (const [label, sql] of QUERIES) {
  console.log(`\n${label}: ${sql}`);
  await prepareQuery(engine, lake, sql);
  t = performance.now();
  await engine.rows(sql);
  const duck = performance.now() - t;
  line("  DuckDB batch (same query, all cores)", `${duck.toFixed(0)} ms  ${rate(rows, duck)}`);
  const plan1 = await planReplay(engine, lake, sql, { partitions: 1, strategy: "auto" });
  t = performance.now();
  const n1 = await singleThread(plan1);
  const single = performance.now() - t;
  line("  single-threaded loop (source stream + fold, no workers)", `${single.toFixed(0)} ms  ${rate(n1, single)}`);
  for (const n of [1, 2, 4]) {
    const plan = await planReplay(engine, lake, sql, { partitions: n, strategy: "auto" });
    const s = await runReplay(
      engine,
      plan,
      { partitions: n, strategy: "auto", emit: "final", speed: null, pool },
      async () => undefined,
    );
    line(
      `  replay N=${n} (${s.strategy})`,
      `${s.wallMs.toFixed(0)} ms  ${rate(s.rows, s.wallMs)}  [dict ${s.dictionaryMs.toFixed(0)}, source ${s.sourceMs.toFixed(0)}, route ${s.routeMs.toFixed(0)}, send ${(s.sendMs - s.backpressureMs).toFixed(0)}, wait ${s.backpressureMs.toFixed(0)}, agg ${s.aggregateMs.map((x) => x.toFixed(0)).join("/")}, merge ${s.mergeMs.toFixed(0)} ms; skew ${s.skew.toFixed(2)}]`,
    );
  }
}
pool.close();
engine.close();
rmSync(dataDir, { recursive: true, force: true });
