/**
 * Worker thread of the Chrome JSON importer: runs a `BatchImporter` (parsing a batch, writing
 * its blocks) for `ChromeJsonImporter`, one request at a time. Requests and replies are
 * `WorkerRequest` / `WorkerReply` (importer.ts); an exception becomes an `error` reply.
 */
import { BatchImporter } from "./batch_importer.ts";
import { SpeculationError } from "./framer.ts";
import type { WorkerReply, WorkerRequest } from "./importer.ts";

declare const self: Worker;

let importer: BatchImporter | null = null;
/** Requests are handled one after the other, in order. */
let queue: Promise<void> = Promise.resolve();
/** Batch bytes parsed since the last full collection. */
let sinceGc = 0;

async function handle(m: WorkerRequest): Promise<WorkerReply> {
  if (m.t === "init") {
    // Pages compressed here, on this worker's thread, not on Bun's pool: the importer
    // terminates its workers when an ingest fails or is read again, and a compression still
    // running on the pool for a terminated worker crashed Bun (a segfault in the test run of
    // 86f81cf, after the line-mode oracle tests whose inputs are framed again).
    importer = new BatchImporter(
      m.blocksDir,
      m.bufferBytes,
      undefined,
      async (page) => Bun.zstdCompressSync(page, { level: 1 }),
      m.wasm,
    );
    return { t: "ready" };
  }
  if (!importer) return { t: "error", message: "worker not initialized" };
  if (m.t === "batch") {
    // (The batch is in a SharedArrayBuffer that the main thread reuses once this replies.)
    const parsed = importer.parseBatch(m.bytes, m.events);
    // A full collection every 32 MiB parsed: garbage ArrayBuffers (compressed pages) pile up
    // otherwise (see ingest.ts).
    sinceGc += m.bytes.length;
    if (sinceGc >= 32 * 1024 * 1024) {
      sinceGc = 0;
      Bun.gc(true);
    }
    // The batch is finished here and now, not when the main thread gets to it (batches
    // complete in order there): a worker writing blocks does not hold up the batches behind
    // it, nor the other worker.
    return { t: "parsed", parsed, blocks: await importer.finishBatch() };
  }
  return { t: "blocks", blocks: await importer.flushAll() };
}

self.onmessage = (e: MessageEvent) => {
  const m = e.data as WorkerRequest;
  queue = queue.then(async () => {
    let reply: WorkerReply;
    try {
      reply = await handle(m);
    } catch (err) {
      reply = {
        t: "error",
        message: err instanceof Error ? err.message : String(err),
        speculation: err instanceof SpeculationError,
      };
    }
    self.postMessage(reply);
  });
};
