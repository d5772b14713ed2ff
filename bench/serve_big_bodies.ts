/**
 * Peak RSS of `tracelake serve` taking large OTLP/HTTP protobuf bodies (issue 21's memory bound):
 * one body of SPANS generated spans (generated data, ~100 bytes each), posted TIMES times in a row,
 * then the serve process's VmHWM. Usage: bun bench/serve_big_bodies.ts --bin dist/tracelake [--spans 150000] [--times 3]
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { makeBodies } from "./otlp_bodies.ts";

const { values: args } = parseArgs({
  options: {
    spans: { type: "string", default: "150000" },
    times: { type: "string", default: "3" },
    bin: { type: "string" },
  },
});
const ROOT = resolve(import.meta.dir, "..");
const cmd = args.bin ? [resolve(args.bin)] : [process.execPath, join(ROOT, "main.ts")];
const lake = join(mkdtempSync(join(tmpdir(), "tl-serve-big-")), "lake");
const [body] = makeBodies(1, Number(args.spans), "big") as [Uint8Array];
const serve = Bun.spawn([...cmd, "--lake", lake, "serve", "--port", "0"], { stdout: "ignore", stderr: "pipe" });
const reader = (serve.stderr as ReadableStream<Uint8Array>).getReader();
let text = "";
let port = 0;
while (port === 0) {
  const { value, done } = await reader.read();
  if (done) throw new Error(`serve ended: ${text}`);
  text += new TextDecoder().decode(value);
  port = Number(text.match(/127\.0\.0\.1:(\d+)/)?.[1] ?? 0);
}
const statuses: number[] = [];
for (let k = 0; k < Number(args.times); k++) {
  const r = await fetch(`http://127.0.0.1:${port}/v1/traces`, {
    method: "POST",
    body,
    headers: { "content-type": "application/x-protobuf" },
  });
  await r.arrayBuffer();
  statuses.push(r.status);
}
await Bun.sleep(1500);
const hwm = Number(readFileSync(`/proc/${serve.pid}/status`, "utf8").match(/VmHWM:\s+(\d+) kB/)?.[1] ?? Number.NaN);
serve.kill("SIGINT");
await serve.exited;
rmSync(resolve(lake, ".."), { recursive: true, force: true });
console.log(
  `body of ${args.spans} generated spans (${(body.length / 2 ** 20).toFixed(1)} MB) posted ${args.times} times: ${statuses.join(",")}; serve peak RSS ${(hwm / 1024).toFixed(0)} MB`,
);
