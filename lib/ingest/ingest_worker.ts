/**
 * Worker thread of the Chrome JSON importer: runs a `BatchImporter` (parsing a batch, writing
 * its blocks) for `ChromeJsonImporter`, one request at a time. Requests and replies are
 * `WorkerRequest` / `WorkerReply` (chrome_json.ts); an exception becomes an `error` reply.
 */
import { BatchImporter } from "./batch_importer.ts";
import type { WorkerReply, WorkerRequest } from "./chrome_json.ts";

declare const self: Worker;

let importer: BatchImporter | null = null;

self.onmessage = (e: MessageEvent) => {
  const m = e.data as WorkerRequest;
  let reply: WorkerReply;
  try {
    if (m.t === "init") {
      importer = new BatchImporter(m.blocksDir, m.bufferBytes);
      reply = { t: "ready" };
    } else if (!importer) reply = { t: "error", message: "worker not initialized" };
    else if (m.t === "batch") {
      // (The batch is in a SharedArrayBuffer that the main thread reuses once this replies.)
      reply = { t: "parsed", parsed: importer.parseBatch(m.bytes, m.events) };
    } else if (m.t === "finish") reply = { t: "blocks", blocks: importer.finishBatch(m.rows) };
    else reply = { t: "blocks", blocks: importer.flushAll() };
  } catch (err) {
    reply = { t: "error", message: err instanceof Error ? err.message : String(err) };
  }
  self.postMessage(reply);
};
