/**
 * Perfetto protobuf ingest benchmark, in process (no DuckDB, no catalog: the decoder and the
 * raw-block writer only). For the real Chromium startup trace (fixtures/chromium_startup.pftrace.gz)
 * and a generated trace of PFTRACE_MB MiB (default 64, bench/gen_perfetto_trace.ts), both held
 * decompressed in memory, it prints MB/s of protobuf and packets/s per CPU-second
 * (`process.cpuUsage()`, comparable on a loaded machine) and per wall-second, for:
 *   - baseline `walk`: framing every packet and walking its top-level fields with WireReader
 *     (next + skip, no decoding): the floor of any decoder on our wire reader;
 *   - baseline `protobufjs`: protobufjs (devDependency) decoding each packet into objects with the
 *     subset schema of tests/perfetto/perfetto_subset.proto (TrackEvent, TrackDescriptor,
 *     InternedData; a subset, so it does less work than a full decode);
 *   - `import, null sink`: PerfettoImporter with a sink that drops rows (decoding and mapping);
 *   - `import → blocks`: PerfettoImporter into RawRowSink writing zstd Parquet blocks (what
 *     `tracelake ingest` does minus reading the file, hashing and the catalog commit).
 * Each measure runs in a fresh process (so one measure's JIT feedback and garbage do not slow
 * the next, as in `tracelake ingest`, one input per process) and is the best of REPS runs in it
 * (default 3). The load average is printed first.
 *
 * `--digest` instead prints a SHA-256 of every row the importer emits (pid, tid, destination and
 * all fields, in order) for each input: equal digests before and after a change to the importer
 * show it did not change its output.
 *
 * Usage: bun bench/perfetto_ingest.ts [--digest]   (PFTRACE_MB, REPS, BENCH_ONLY: run only the
 * measures whose label contains this text, BENCH_DIR: data dir,
 * default $TMPDIR/tracelake-pfbench)
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { gunzipSync } from "node:zlib";
import protobuf from "protobufjs";
import { type RawRow, RawRowSink, type RowDest, type RowStream } from "../lib/ingest/blocks/raw_rows.ts";
import { PerfettoImporter } from "../lib/ingest/perfetto/importer.ts";
import { WireReader } from "../lib/perfetto/wire_reader.ts";

const root = resolve(import.meta.dir, "..");
const pfMb = Number(process.env.PFTRACE_MB ?? 64);
const reps = Number(process.env.REPS ?? 3);
const dataDir = process.env.BENCH_DIR ?? join(tmpdir(), "tracelake-pfbench");
const digestMode = process.argv.includes("--digest");
mkdirSync(dataDir, { recursive: true });

const genPath = join(dataDir, `gen_${pfMb}mb.pftrace`);
if (!existsSync(genPath)) {
  console.error(`generating ${genPath} (${pfMb} MiB)...`);
  const g = Bun.spawnSync([process.execPath, join(root, "bench/gen_perfetto_trace.ts"), genPath, String(pfMb)], {
    stderr: "inherit",
  });
  if (g.exitCode !== 0) throw new Error("generator failed");
}
const inputs: [string, () => Uint8Array][] = [
  [
    "chromium_startup.pftrace",
    () => new Uint8Array(gunzipSync(readFileSync(join(root, "fixtures/chromium_startup.pftrace.gz")))),
  ],
  [`generated ${pfMb} MiB`, () => new Uint8Array(readFileSync(genPath))],
];

/** The bytes pushed per call, as lib/ingest/source.ts reads them. */
const CHUNK = 4 * 1024 * 1024;

/** A sink that keeps no rows (the decoder's cost alone), optionally hashing them. */
class NullSink extends RawRowSink {
  rows = 0;
  hash: ReturnType<typeof createHash> | null = null;
  override addTo(st: RowStream, r: RawRow): void {
    this.rows++;
    if (this.hash) {
      // The UTF-8 given with a name or category must be its encoding.
      for (const [text, utf8] of [
        [r.name, r.nameUtf8],
        [r.cat, r.catUtf8],
      ] as const) {
        if (utf8 != null && !Buffer.from(utf8).equals(Buffer.from(text ?? "\u0000"))) {
          throw new Error(`UTF-8 ${utf8} given for ${text}`);
        }
      }
      this.hash.update(
        JSON.stringify([
          st.pid,
          st.tid,
          st.dest,
          r.seq,
          r.ph,
          String(r.time),
          r.dur == null ? null : String(r.dur),
          r.threadTime == null ? null : String(r.threadTime),
          r.threadDur == null ? null : String(r.threadDur),
          r.name ?? null,
          r.cat ?? null,
          r.id ?? null,
          r.idScope ?? null,
          r.scope ?? null,
          r.s ?? null,
          r.bp ?? null,
          r.bindId ?? null,
          r.flowIn ?? null,
          r.flowOut ?? null,
          r.args ?? null,
        ]),
      );
      this.hash.update("\n");
    }
  }
  /** Rows added by stream lookup (without `--digest`, also the only path of older importers). */
  override add(pid: string, tid: string | null, dest: RowDest, r: RawRow): void {
    if (this.hash) super.add(pid, tid, dest, r);
    else this.rows++;
  }
  override flush(): void {}
}

function importInto(sink: RawRowSink, bytes: Uint8Array): PerfettoImporter {
  const imp = new PerfettoImporter(sink, "bench");
  for (let p = 0; p < bytes.length; p += CHUNK) imp.push(bytes.subarray(p, Math.min(p + CHUNK, bytes.length)));
  imp.end();
  return imp;
}

if (digestMode) {
  for (const [label, load] of inputs) {
    const bytes = load();
    const sink = new NullSink(dataDir);
    sink.hash = createHash("sha256");
    const imp = importInto(sink, bytes);
    const counts = [...imp.stats.counts.values()].map((c) => `${c.ph}|${c.dest}|${c.reason}|${c.count}`).sort();
    sink.hash.update(JSON.stringify(counts));
    sink.hash.update(JSON.stringify(imp.stats.warnings));
    for (const p of sink.processes.values()) {
      sink.hash.update(JSON.stringify([p.pid, p.name, p.labels, [...p.threads.values()].map((t) => [t.tid, t.name])]));
    }
    console.log(`${label}: ${imp.stats.packets} packets, ${sink.rows} rows, digest ${sink.hash.digest("hex")}`);
  }
  process.exit(0);
}

/** Walks every packet's top-level fields without decoding them. @returns the packet count. */
function walk(bytes: Uint8Array): number {
  const top = new WireReader(bytes, 0, bytes.length);
  const r = new WireReader(bytes, 0, 0);
  let packets = 0;
  while (top.next()) {
    if (top.field === 1 && top.wireType === 2) {
      r.reset(bytes, top.lenStart, top.lenEnd);
      while (r.next()) r.skip();
      packets++;
    }
    top.skip();
  }
  return packets;
}

const proto = protobuf.loadSync(join(root, "tests/perfetto/perfetto_subset.proto"));
const TracePacket = proto.lookupType("perfetto.protos.TracePacket");
/** protobufjs decoding each packet (framed by our reader). @returns the packet count. */
function protobufjsDecode(bytes: Uint8Array): number {
  const top = new WireReader(bytes, 0, bytes.length);
  let packets = 0;
  let keep = 0;
  while (top.next()) {
    if (top.field === 1 && top.wireType === 2) {
      const m = TracePacket.decode(bytes.subarray(top.lenStart, top.lenEnd)) as unknown as { timestamp?: unknown };
      if (m.timestamp) keep++;
      packets++;
    }
    top.skip();
  }
  return packets + keep * 0;
}

interface Measure {
  cpu: number;
  wall: number;
  packets: number;
}

function measure(run: () => number): Measure {
  let best: Measure | null = null;
  for (let i = 0; i < reps; i++) {
    Bun.gc(true);
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const packets = run();
    const wall = (performance.now() - t0) / 1000;
    const c = process.cpuUsage(c0);
    const cpu = (c.user + c.system) / 1e6;
    if (!best || cpu < best.cpu) best = { cpu, wall, packets };
  }
  return best as Measure;
}

const KINDS = ["baseline walk", "baseline protobufjs", "import, null sink", "import → blocks"] as const;
type Kind = (typeof KINDS)[number];

/** Runs one measure in this process. */
function runOne(bytes: Uint8Array, kind: Kind): Measure {
  if (kind === "baseline walk") return measure(() => walk(bytes));
  if (kind === "baseline protobufjs") return measure(() => protobufjsDecode(bytes));
  if (kind === "import, null sink") return measure(() => importInto(new NullSink(dataDir), bytes).stats.packets);
  const blocks = join(dataDir, `blocks-${process.pid}`);
  try {
    return measure(() => {
      rmSync(blocks, { recursive: true, force: true });
      mkdirSync(blocks, { recursive: true });
      return importInto(new RawRowSink(blocks), bytes).stats.packets;
    });
  } finally {
    rmSync(blocks, { recursive: true, force: true });
  }
}

const oneAt = process.argv.indexOf("--one");
if (oneAt >= 0) {
  // Child: `--one INPUT_INDEX KIND` prints the measure as JSON.
  const [, load] = inputs[Number(process.argv[oneAt + 1])] as [string, () => Uint8Array];
  console.log(JSON.stringify(runOne(load(), process.argv[oneAt + 2] as Kind)));
  process.exit(0);
}

/** BENCH_ONLY=text runs only the measures whose label contains it. */
const only = process.env.BENCH_ONLY;

console.log(
  `load average ${loadavg()
    .map((x) => x.toFixed(2))
    .join(" ")} on ${cpus().length} CPUs; each measure in its own process, best of ${reps}`,
);
for (const [i, [name, load]] of inputs.entries()) {
  const size = load().length;
  for (const kind of KINDS) {
    const label = `${name}: ${kind}`;
    if (only && !label.includes(only)) continue;
    const p = Bun.spawnSync([process.execPath, import.meta.path, "--one", String(i), kind], {
      stderr: "inherit",
      env: process.env,
    });
    if (p.exitCode !== 0) throw new Error(`${label} failed`);
    const m = JSON.parse(p.stdout.toString()) as Measure;
    const mb = size / 1e6;
    console.log(
      `${label.padEnd(50)} ${mb.toFixed(1).padStart(6)} MB  cpu ${m.cpu.toFixed(2).padStart(6)} s  ${(mb / m.cpu).toFixed(1).padStart(6)} MB/cpu-s  ${(m.packets / m.cpu / 1e3).toFixed(0).padStart(5)} k packets/cpu-s  (wall ${m.wall.toFixed(2)} s, ${(mb / m.wall).toFixed(1)} MB/s)`,
    );
  }
}
