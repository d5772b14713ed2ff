/**
 * Generates a large, realistic Chrome Trace Event Format file for benchmarks.
 *
 * Usage: bun bench/gen_chrome_trace.ts OUT.json SIZE_MB [--ndjson OUT.ndjson]
 *
 * The mix follows the real Chromium startup sample in fixtures/ (mostly X with args, instants,
 * flows s/f, nested async b/e/n, a few B/E and counters), spread over 8 processes with 12
 * threads each, written one event per line inside `{"traceEvents":[...]}` as Chrome does.
 * With `--ndjson`, the same events are also written one per line, for DuckDB's read_ndjson.
 * The output is deterministic (fixed PRNG seed).
 */
import { closeSync, openSync, writeSync } from "node:fs";

const [out, sizeArg, flag, ndjsonOut] = process.argv.slice(2);
if (!out || !sizeArg) {
  console.error("usage: bun bench/gen_chrome_trace.ts OUT.json SIZE_MB [--ndjson OUT.ndjson]");
  process.exit(2);
}
const targetBytes = Number(sizeArg) * 1024 * 1024;

let seed = 0x2545f491;
function rand(): number {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) / 4294967296;
}
const pick = <T>(a: readonly T[]): T => a[Math.floor(rand() * a.length)] as T;

const names = [
  "ThreadControllerImpl::RunTask",
  "MessageLoop::RunTask",
  "V8.Execute",
  "Layout",
  "Paint",
  "ResourceFetcher::requestResource",
  "HTMLDocumentParser::PumpTokenizer",
  "ScheduledAction::execute",
  "v8.compile",
  "CommitLoad",
];
const cats = ["toplevel", "v8", "blink", "loading", "disabled-by-default-devtools.timeline", "cc"];
const files = ["../../base/task/sequence_manager.cc", "../../third_party/blink/renderer/core/frame.cc"];

const fd = openSync(out, "w");
const nd = flag === "--ndjson" && ndjsonOut ? openSync(ndjsonOut, "w") : -1;
let written = 0;
let buf: string[] = [];
let ndBuf: string[] = [];
let bufLen = 0;
function emit(ev: string): void {
  buf.push(ev);
  if (nd >= 0) ndBuf.push(ev);
  bufLen += ev.length + 2;
  if (bufLen > 4 * 1024 * 1024) flush();
}
function flush(): void {
  const s = `${buf.join(",\n")},\n`;
  written += writeSync(fd, s);
  buf = [];
  if (nd >= 0) {
    writeSync(nd, `${ndBuf.join("\n")}\n`);
    ndBuf = [];
  }
  bufLen = 0;
}

writeSync(fd, '{"traceEvents":[\n');
const pids = [1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008];
const threads: [number, number][] = [];
for (const pid of pids) {
  emit(
    `{"args":{"name":"${pid === 1001 ? "Browser" : "Renderer"}"},"cat":"__metadata","name":"process_name","ph":"M","pid":${pid},"tid":${pid},"ts":0}`,
  );
  for (let t = 0; t < 12; t++) {
    const tid = pid * 100 + t;
    threads.push([pid, tid]);
    emit(
      `{"args":{"name":"Worker${t}"},"cat":"__metadata","name":"thread_name","ph":"M","pid":${pid},"tid":${tid},"ts":0}`,
    );
  }
}
let ts = 1_000_000_000;
let flowId = 1;
let asyncId = 1;
while (written + bufLen < targetBytes) {
  const [pid, tid] = pick(threads);
  ts += Math.floor(rand() * 50) + rand();
  const t = ts.toFixed(3);
  const r = rand();
  const name = pick(names);
  const cat = pick(cats);
  if (r < 0.55) {
    const dur = (rand() * 2000).toFixed(3);
    emit(
      `{"args":{"src_file":"${pick(files)}","src_func":"${name}","frame":"0x${Math.floor(rand() * 1e9).toString(16)}"},"cat":"${cat}","dur":${dur},"name":"${name}","ph":"X","pid":${pid},"tdur":${dur},"tid":${tid},"ts":${t},"tts":${Math.floor(ts / 3)}}`,
    );
  } else if (r < 0.63) {
    emit(`{"args":{},"cat":"${cat}","name":"${name}","ph":"B","pid":${pid},"tid":${tid},"ts":${t}}`);
    emit(`{"args":{},"cat":"${cat}","name":"${name}","ph":"E","pid":${pid},"tid":${tid},"ts":${(ts + 5).toFixed(3)}}`);
  } else if (r < 0.78) {
    emit(
      `{"args":{"data":{"frame":"F${Math.floor(rand() * 100)}","url":"https://example.com/${Math.floor(rand() * 1e6)}"}},"cat":"${cat}","name":"${name}","ph":"I","pid":${pid},"s":"t","tid":${tid},"ts":${t}}`,
    );
  } else if (r < 0.84) {
    const id = flowId++;
    emit(
      `{"bind_id":"0x${id.toString(16)}","cat":"toplevel.flow","id":${id},"name":"PostTask","ph":"s","pid":${pid},"tid":${tid},"ts":${t}}`,
    );
    emit(
      `{"bind_id":"0x${id.toString(16)}","bp":"e","cat":"toplevel.flow","id":${id},"name":"PostTask","ph":"f","pid":${pid},"tid":${tid},"ts":${(ts + 20).toFixed(3)}}`,
    );
  } else if (r < 0.93) {
    const id = asyncId++;
    emit(
      `{"args":{"url":"https://example.com/r/${id}"},"cat":"loading","id2":{"local":"0x${id.toString(16)}"},"name":"ResourceLoad","ph":"b","pid":${pid},"scope":"blink","tid":${tid},"ts":${t}}`,
    );
    emit(
      `{"args":{},"cat":"loading","id2":{"local":"0x${id.toString(16)}"},"name":"ResourceLoad","ph":"n","pid":${pid},"scope":"blink","tid":${tid},"ts":${(ts + 3).toFixed(3)}}`,
    );
    emit(
      `{"args":{},"cat":"loading","id2":{"local":"0x${id.toString(16)}"},"name":"ResourceLoad","ph":"e","pid":${pid},"scope":"blink","tid":${tid},"ts":${(ts + 300).toFixed(3)}}`,
    );
  } else {
    emit(
      `{"args":{"value":${Math.floor(rand() * 1e6)},"other":${rand().toFixed(4)}},"cat":"memory","name":"HeapStats","ph":"C","pid":${pid},"tid":${tid},"ts":${t}}`,
    );
  }
}
flush();
writeSync(
  fd,
  '{"args":{},"cat":"__metadata","name":"trace_end","ph":"I","pid":1001,"tid":100100,"s":"g","ts":0}\n],\n"metadata":{"clock-domain":"LINUX_CLOCK_MONOTONIC","command_line":"generated"}}\n',
);
closeSync(fd);
if (nd >= 0) closeSync(nd);
