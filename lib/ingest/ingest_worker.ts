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
      const parsed = importer.parseBatch(m.bytes, m.events);
      const transfer: ArrayBuffer[] = parsed.fallback ? [parsed.fallback.buffer as ArrayBuffer] : [];
      self.postMessage({ t: "parsed", parsed } satisfies WorkerReply, transfer);
      return;
    } else if (m.t === "finish") reply = { t: "blocks", blocks: importer.finishBatch(m.rows) };
    else reply = { t: "blocks", blocks: importer.flushAll() };
  } catch (err) {
    reply = { t: "error", message: err instanceof Error ? err.message : String(err) };
  }
  self.postMessage(reply);
};
