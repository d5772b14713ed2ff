/**
 * The `tracelake serve` process's server: the OTLP/HTTP receiver (receiver.ts) and the page
 * (a handler given by the caller) on 127.0.0.1, and the commit window: the live ingest
 * (live_ingest.ts) is committed every `windowMs`, or sooner once `windowBytes` were taken, one
 * commit at a time, on the engine shared with the page through `serial`.
 */
import type { Engine } from "../duck/engine.ts";
import type { Lake } from "../lake/lake.ts";
import { type CommitStats, LiveIngest } from "./live_ingest.ts";
import { DEFAULT_LIMITS, OtlpReceiver, type ReceiverLimits } from "./receiver.ts";
import { Serial } from "./serial.ts";

/** A page handler: a Response for the page's paths, null for others (answered 404). */
export type PageHandler = (req: Request, path: string) => Promise<Response | null>;

/** Options of `startServe`. */
export interface ServeOptions {
  /** The receiver's port on 127.0.0.1 (0: any free port). */
  port: number;
  /** The page's own port; null: the page is served on the receiver's port. */
  uiPort: number | null;
  /** The host to bind (default 127.0.0.1). */
  hostname?: string;
  /** Commit at least this often when data came, ms (default 1000). */
  windowMs?: number;
  /** Commit sooner once this many bytes were taken (default 16 MiB). */
  windowBytes?: number;
  limits?: ReceiverLimits;
  /** Rows held before blocks are staged, bytes (default 8 MiB). */
  bufferBytes?: number;
  /** Events after which a resource's data goes to a new process (LiveIngestOptions.processEvents). */
  processEvents?: number;
  /** Runs engine work one at a time: the commits, and the page's queries (default: a new one). */
  serial?: Serial;
  /** The page: called for every path the receiver does not answer. */
  page?: PageHandler;
  /** Called after each commit with its figures, or its error. */
  onCommit?: (stats: CommitStats | null, error: unknown) => void;
}

/** A running server. */
export interface ServeHandle {
  /** The receiver's port. */
  port: number;
  /** The page's port (the receiver's when served together). */
  uiPort: number;
  receiver: OtlpReceiver;
  ingest: LiveIngest;
  /** Runs engine work one at a time (commits and the page's queries). */
  serial: Serial;
  /** Stops taking requests, commits what was taken, removes the staging directory. */
  stop(): Promise<CommitStats | null>;
}

/**
 * Starts the receiver (and the page) and the commit window.
 * @throws Error from Bun.serve when a port is in use.
 */
export function startServe(engine: Engine, lake: Lake, opts: ServeOptions): ServeHandle {
  const hostname = opts.hostname ?? "127.0.0.1";
  const serial = opts.serial ?? new Serial();
  const windowMs = opts.windowMs ?? 1000;
  const windowBytes = opts.windowBytes ?? 16 * 1024 * 1024;
  let committing = false;
  // Both servers first (a port in use throws before anything else exists); their handlers run
  // only once this function has returned, when `receiver` is set.
  let receiver: OtlpReceiver | null = null;
  const notFound = (): Response => new Response("not found\n", { status: 404 });
  const page = opts.page;
  const fetchAll = async (req: Request): Promise<Response> => {
    const path = new URL(req.url).pathname;
    if (receiver && OtlpReceiver.handles(path)) return receiver.handle(req, path);
    if (page && opts.uiPort === null) return (await page(req, path)) ?? notFound();
    return notFound();
  };
  const maxRequestBodySize = (opts.limits ?? DEFAULT_LIMITS).maxBodyBytes + 1024 * 1024;
  const main = Bun.serve({ hostname, port: opts.port, fetch: fetchAll, maxRequestBodySize });
  let ui: ReturnType<typeof Bun.serve> | null = null;
  try {
    if (opts.uiPort !== null && page) {
      ui = Bun.serve({
        hostname,
        port: opts.uiPort,
        fetch: async (req) => (await page(req, new URL(req.url).pathname)) ?? notFound(),
      });
    }
  } catch (e) {
    void main.stop(true);
    throw e;
  }
  const ingest = new LiveIngest(engine, lake, {
    sourceName: `otlp-http://${hostname}:${main.port}`,
    bufferBytes: opts.bufferBytes,
    processEvents: opts.processEvents,
  });
  const rec = new OtlpReceiver(ingest, opts.limits ?? DEFAULT_LIMITS, (n) => {
    if (n >= windowBytes && !committing) void commit();
  });
  receiver = rec;
  const commit = async (): Promise<CommitStats | null> => {
    committing = true;
    try {
      const s = await serial.run(() => ingest.commit());
      rec.unavailable = null;
      opts.onCommit?.(s, null);
      return s;
    } catch (e) {
      rec.unavailable = (e as Error).message;
      opts.onCommit?.(null, e);
      return null;
    } finally {
      committing = false;
    }
  };
  const timer = setInterval(() => {
    if (!committing) void commit();
  }, windowMs);
  let stopped: Promise<CommitStats | null> | null = null;
  return {
    port: main.port as number,
    uiPort: (ui ?? main).port as number,
    receiver: rec,
    ingest,
    serial,
    stop() {
      stopped ??= (async () => {
        clearInterval(timer);
        await Promise.race([main.stop(false), Bun.sleep(2000)]);
        void main.stop(true);
        if (ui) void ui.stop(true);
        return serial.run(() => ingest.close());
      })();
      return stopped;
    },
  };
}
