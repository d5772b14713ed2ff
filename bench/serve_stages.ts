/**
 * CPU cost of each stage of `tracelake serve`'s intake (issue 21), in process, on the load test's
 * generated bodies (bench/serve_load.ts: OTLP protobuf requests of BATCH spans; generated data):
 * decode (protobuf → the importer's objects), map (the OTLP mapping into the raw row sink, which
 * builds the blocks' columns), flush (Parquet encode + zstd + write of the staged blocks), commit
 * (the catalog transaction and the moves), and the receiver's full GCs (every --gc-mb MB of bodies). Prints CPU-s per 100k spans
 * of each (process CPU: user + system, every thread).
 *
 * Usage: bun bench/serve_stages.ts [--spans 500000] [--window 50000] [--batch 1000] [--gc-mb 8] [--process-events 1000000]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Engine } from "../lib/duck/engine.ts";
import { Lake } from "../lib/lake/lake.ts";
import { decodeRequest } from "../lib/serve/decode.ts";
import { LiveIngest } from "../lib/serve/live_ingest.ts";
import { makeBodies } from "./otlp_bodies.ts";

const { values: args } = parseArgs({
  options: {
    spans: { type: "string", default: "500000" },
    window: { type: "string", default: "50000" },
    batch: { type: "string", default: "1000" },
    "gc-mb": { type: "string", default: "8" },
    "process-events": { type: "string", default: "1000000" },
  },
});
const SPANS = Number(args.spans);
const WINDOW = Number(args.window);
const BATCH = Number(args.batch);
/** A full GC every this many bytes of bodies, as the receiver does (0: never). */
const GC_BYTES = Number(args["gc-mb"]) * 1024 * 1024;
let sinceGc = 0;

const cpu = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const bodies = makeBodies(50, BATCH);
const dir = mkdtempSync(join(tmpdir(), "tl-stages-"));
const engine = await Engine.open({});
const lake = await Lake.open(engine, join(dir, "lake"));
const live = new LiveIngest(engine, lake, { sourceName: "bench", processEvents: Number(args["process-events"]) });
const t = { decode: 0, map: 0, commit: 0, flush: 0, gc: 0 };
/** Per window: CPU-s of each stage (the medians are reported: the machine may be shared). */
const windows: (typeof t)[] = [];
let w0 = { ...t };
let wall = performance.now();
let sent = 0;
let inWindow = 0;
for (let k = 0; sent < SPANS; k++) {
  const body = bodies[k % bodies.length] as Uint8Array;
  let c = cpu();
  const pieces = [...decodeRequest("traces", "protobuf", body).pieces()];
  t.decode += cpu() - c;
  c = cpu();
  let bytes = body.length;
  for (const p of pieces) {
    live.add(p, bytes);
    bytes = 0;
  }
  t.map += cpu() - c;
  sinceGc += body.length;
  if (GC_BYTES > 0 && sinceGc >= GC_BYTES) {
    sinceGc = 0;
    c = cpu();
    Bun.gc(true);
    t.gc += cpu() - c;
  }
  sent += BATCH;
  inWindow += BATCH;
  if (inWindow >= WINDOW || sent >= SPANS) {
    inWindow = 0;
    c = cpu();
    const s = await live.commit();
    t.commit += cpu() - c;
    t.flush += ((s?.flushMs ?? 0) / (s?.ms || 1)) * (cpu() - c);
    windows.push({
      decode: t.decode - w0.decode,
      map: t.map - w0.map,
      commit: t.commit - w0.commit,
      flush: t.flush - w0.flush,
      gc: t.gc - w0.gc,
    });
    w0 = { ...t };
  }
}
wall = performance.now() - wall;
await live.close();
engine.close();
rmSync(dir, { recursive: true, force: true });
/** The median window's CPU-s of `k`, per 100k spans (the first window, JIT warm-up, left out when there are others). */
const per = (k: keyof typeof t): string => {
  const xs = (windows.length > 1 ? windows.slice(1) : windows).map((w) => w[k]).sort((a, b) => a - b);
  return (((xs[xs.length >> 1] as number) * 100_000) / WINDOW).toFixed(3);
};
const sum = (t.decode + t.map + t.commit + t.gc) / SPANS;
console.log(
  `serve stages on ${SPANS} generated spans (requests of ${BATCH}, commit every ${WINDOW}); CPU-s per 100k spans, median window:`,
);
console.log(`decode: ${per("decode")}`);
console.log(`map (+ column build): ${per("map")}`);
console.log(`commit: ${per("commit")} (of which ~${per("flush")} flush: Parquet + zstd + write, by wall share)`);
console.log(`full GCs (every ${args["gc-mb"]} MB of bodies): ${per("gc")}`);
console.log(`all windows: ${(sum * 100_000).toFixed(3)} CPU-s per 100k spans; wall ${(wall / 1000).toFixed(2)} s`);
console.log(`peak RSS: ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`);
