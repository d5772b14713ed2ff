/**
 * Perfetto export benchmark. For each size in PERFETTO_SPANS (default "1000000,10000000") it
 * generates a process with that many thread spans (bench/gen_spans.ts, shared with bench/jit.ts),
 * materializes its views in one child process, then exports it in a fresh child process
 * (lib/perfetto/export.ts through a Node stream pipeline into /dev/null, as `export perfetto`
 * does) and prints one line per size: spans, packets, seconds, packets/s (wall clock, and per
 * CPU-second of the export process, which is steadier on a shared machine) and the export
 * process's peak RSS (VmHWM from /proc/self/status), then the RSS growth between the smallest
 * and the largest size. Targets: ≥ 2M packets/s; RSS growth < 64 MB from 1M to 10M spans.
 *
 * Usage: bun bench/perfetto.ts   (PERFETTO_SPANS=1000000 for one size; BENCH_DIR for the data
 * dir, default $TMPDIR/tracelake-perfetto-bench; PERFETTO_ARGS=0 exports without args)
 */
import { createWriteStream, mkdirSync, readFileSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Engine } from "../lib/duck/engine.ts";
import { Lake } from "../lib/lake/lake.ts";
import { emptyStats, perfettoChunks, perfettoPrepareSql } from "../lib/perfetto/export.ts";
import { prepareQuery } from "../lib/sql/query.ts";
import { generateSpansProcess } from "./gen_spans.ts";

const FLAGS = { spans: "both", logs: true, counters: true, flows: true } as const;

function peakRssMb(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

async function setup(dir: string, spans: number): Promise<void> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const engine = await Engine.open();
  const lake = await Lake.open(engine, join(dir, "lake"));
  const pid = await generateSpansProcess(engine, lake, spans);
  await prepareQuery(engine, lake, perfettoPrepareSql([pid], FLAGS));
  engine.close();
  console.log(JSON.stringify({ pid }));
}

async function exportOnce(dir: string, pid: string): Promise<void> {
  const engine = await Engine.open();
  const lake = await Lake.open(engine, join(dir, "lake"), { create: false });
  const t0 = performance.now();
  await prepareQuery(engine, lake, perfettoPrepareSql([pid], FLAGS));
  const rssBefore = peakRssMb();
  const t1 = performance.now();
  const cpu0 = process.cpuUsage();
  const stats = emptyStats();
  const chunks = perfettoChunks(
    engine,
    {
      ...FLAGS,
      processes: [{ processId: pid, instanceKey: pid }],
      lakeRoot: lake.root,
      beginNs: null,
      endNs: null,
      args: process.env.PERFETTO_ARGS !== "0",
    },
    stats,
  );
  await pipeline(Readable.from(chunks), createWriteStream("/dev/null"));
  const s = (performance.now() - t1) / 1000;
  const cpu = process.cpuUsage(cpu0);
  engine.close();
  console.log(
    JSON.stringify({
      prepareS: (t1 - t0) / 1000,
      s,
      cpuS: (cpu.user + cpu.system) / 1e6,
      packets: stats.packets,
      bytes: stats.bytes,
      slices: stats.threadSlices,
      rssBeforeMb: rssBefore,
      peakRssMb: peakRssMb(),
      jsHeapMb: process.memoryUsage().heapUsed / 2 ** 20,
    }),
  );
}

function child(args: string[]): Record<string, number | string> {
  const p = Bun.spawnSync([process.execPath, import.meta.path, ...args], { stderr: "inherit" });
  if (p.exitCode !== 0) throw new Error(`bench child ${args.join(" ")} failed`);
  const lines = p.stdout.toString().trim().split("\n");
  return JSON.parse(lines[lines.length - 1] as string);
}

const [mode, a1, a2] = process.argv.slice(2);
if (mode === "--setup") await setup(a1 as string, Number(a2));
else if (mode === "--export") await exportOnce(a1 as string, a2 as string);
else {
  console.log(
    `load average ${loadavg()
      .map((x) => x.toFixed(1))
      .join(" ")} on ${cpus().length} cores`,
  );
  const sizes = (process.env.PERFETTO_SPANS ?? "1000000,10000000").split(",").map(Number);
  const root = process.env.BENCH_DIR ?? join(tmpdir(), "tracelake-perfetto-bench");
  const peaks: number[] = [];
  for (const n of sizes) {
    const dir = join(root, `spans-${n}`);
    const { pid } = child(["--setup", dir, String(n)]) as { pid: string };
    const r = child(["--export", dir, pid]) as Record<string, number>;
    peaks.push(r.peakRssMb as number);
    console.log(
      `${`export perfetto, ${n.toLocaleString()} spans`.padEnd(40)} ${(r.packets as number).toLocaleString()} packets  ` +
        `${((r.bytes as number) / 1e6).toFixed(0)} MB  ${(r.s as number).toFixed(2)} s  ` +
        `${((r.packets as number) / (r.s as number) / 1e6).toFixed(2)} M packets/s  ` +
        `(${((r.packets as number) / (r.cpuS as number) / 1e6).toFixed(2)} M per CPU-second, all threads)  ` +
        `peak RSS ${(r.peakRssMb as number).toFixed(0)} MB (${(r.rssBeforeMb as number).toFixed(0)} MB before the export)`,
    );
    rmSync(dir, { recursive: true, force: true });
  }
  if (peaks.length > 1) {
    const growth = (peaks[peaks.length - 1] as number) - (peaks[0] as number);
    console.log(
      `${"peak RSS growth, smallest to largest".padEnd(40)} ${growth.toFixed(0)} MB (target < 64 MB: ${growth < 64 ? "met" : "MISSED"})`,
    );
  }
}
