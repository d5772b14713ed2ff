/**
 * The OTLP/HTTP receiver: answers `POST /v1/traces`, `/v1/logs` and `/v1/metrics` as the
 * OpenTelemetry specification's protocol/otlp.md "OTLP/HTTP" says: the body (protobuf or JSON,
 * gzip or not) is decoded (decode.ts) and handed to the live ingest; 200 with an empty
 * `Export*ServiceResponse`, or with `partial_success` when the mapping rejected some items;
 * 400 with a google.rpc.Status for a body that cannot be decoded; 413 over the size limit; 415
 * for another content type; 405 for another method; 429 (too many bytes being read at once) or
 * 503 (commits behind: the catalog busy or the disk slow) with `Retry-After`, so that exporters
 * retry later and memory stays bounded.
 */
import {
  DecodeError,
  decodeRequest,
  encodingOf,
  exportResponse,
  type OtlpEncoding,
  type OtlpSignal,
  statusBody,
  TooLargeError,
  unpackBody,
} from "./decode.ts";
import type { LiveIngest } from "./live_ingest.ts";

/** Limits of the receiver, bytes. */
export interface ReceiverLimits {
  /** Largest request body, compressed or not, and largest once decompressed (default 32 MiB). */
  maxBodyBytes: number;
  /** Bodies being read and decoded at once, bytes (default 128 MiB): above, 429. */
  maxInflightBytes: number;
  /** Taken and not committed yet, bytes (default 256 MiB): above, 503 until commits catch up. */
  maxUncommittedBytes: number;
  /** The Retry-After given with 429 and 503, seconds (default 1). */
  retryAfterSeconds: number;
}

/** The default limits. */
export const DEFAULT_LIMITS: ReceiverLimits = {
  maxBodyBytes: 32 * 1024 * 1024,
  maxInflightBytes: 128 * 1024 * 1024,
  maxUncommittedBytes: 256 * 1024 * 1024,
  retryAfterSeconds: 1,
};

/** How long a request waits for a running commit before it is decoded anyway, ms. */
const COMMIT_WAIT_MS = 250;

/** Bytes of bodies taken at least between two full garbage collections. */
const GC_BYTES = 8 * 1024 * 1024;

/**
 * The process's resident memory above which a full collection runs (every GC_BYTES of bodies),
 * bytes. Below it JavaScriptCore collects on its own: a forced full collection every 8 MiB at
 * any size made it hand the freed heap back to the kernel and fault it in again (madvise and
 * page faults: a fifth of serve's CPU), measured 1.2 → 0.98 CPU-s per 100k spans at 50k spans/s
 * without it, peak RSS 258 → 229 MB.
 */
const GC_RSS_BYTES = 256 * 1024 * 1024;

/** The OTLP paths and their signal. */
const PATHS: Record<string, OtlpSignal> = { "/v1/traces": "traces", "/v1/logs": "logs", "/v1/metrics": "metrics" };

/** Counts of what the receiver answered, for the command's summary. */
export interface ReceiverStats {
  requests: number;
  /** Responses by HTTP status. */
  byStatus: Map<number, number>;
  /** Items rejected by the mapping (answered as partial success). */
  rejected: number;
}

/** The receiver: `handle` answers one request (null when its path is not an OTLP path). */
export class OtlpReceiver {
  private inflight = 0;
  private sinceGc = 0;
  readonly stats: ReceiverStats = { requests: 0, byStatus: new Map(), rejected: 0 };
  /** Set while the lake cannot take commits (the last commit failed): answered with 503. */
  unavailable: string | null = null;

  constructor(
    private readonly ingest: LiveIngest,
    private readonly limits: ReceiverLimits = DEFAULT_LIMITS,
    /** Called after each request was taken, with the bytes not committed yet (to start a commit early). */
    private readonly onTaken: (uncommittedBytes: number) => void = () => undefined,
  ) {}

  /** Whether `path` is one of the receiver's. */
  static handles(path: string): boolean {
    return path in PATHS;
  }

  /** Answers `req` (its path must be an OTLP path). Never throws: errors become responses. */
  async handle(req: Request, path: string): Promise<Response> {
    const r = await this.answer(req, path);
    this.stats.requests++;
    this.stats.byStatus.set(r.status, (this.stats.byStatus.get(r.status) ?? 0) + 1);
    return r;
  }

  /**
   * Counts `bytes` more of bodies taken; every GC_BYTES of them, runs a full collection when the
   * process's memory is high. JavaScriptCore lets the decoded trees (tens of bytes of objects per
   * body byte) pile up to over 1 GB before collecting them on its own (a 15 MB body of 150k
   * spans, three times: 1.1 GB RSS); counted within a body too, so one large body is bounded.
   */
  private collectIfHigh(bytes: number): void {
    this.sinceGc += bytes;
    if (this.sinceGc < GC_BYTES) return;
    this.sinceGc = 0;
    if (process.memoryUsage.rss() > GC_RSS_BYTES) Bun.gc(true);
  }

  private async answer(req: Request, path: string): Promise<Response> {
    const signal = PATHS[path] as OtlpSignal;
    if (req.method !== "POST") return new Response("use POST\n", { status: 405, headers: { allow: "POST" } });
    const encoding = encodingOf(req.headers.get("content-type"));
    if (encoding === null) {
      return new Response("unsupported Content-Type: send application/x-protobuf or application/json (OTLP/HTTP)\n", {
        status: 415,
        headers: UNREAD,
      });
    }
    const error = (status: number, code: number, message: string, headers: Record<string, string> = {}): Response =>
      new Response(statusBody(encoding, code, message), {
        status,
        headers: { "content-type": contentType(encoding), ...headers },
      });
    const retry = { "retry-after": String(this.limits.retryAfterSeconds) };
    // Refused before the body is read: the connection closes after the answer (UNREAD).
    if (this.unavailable !== null)
      return error(503, 14, `the lake cannot take data now: ${this.unavailable}`, { ...retry, ...UNREAD });
    if (this.ingest.uncommitted > this.limits.maxUncommittedBytes)
      return error(503, 14, "commits are behind; retry later", { ...retry, ...UNREAD });
    const declared = Number(req.headers.get("content-length") ?? "NaN");
    if (Number.isFinite(declared) && declared > this.limits.maxBodyBytes) {
      const drained = declared <= DRAIN_MAX_BYTES && (await drain(req, DRAIN_MAX_BYTES));
      return error(
        413,
        8,
        `request body over ${this.limits.maxBodyBytes} bytes; send smaller batches`,
        drained ? {} : UNREAD,
      );
    }
    const reserve = Number.isFinite(declared) ? declared : this.limits.maxBodyBytes;
    if (this.inflight + reserve > this.limits.maxInflightBytes)
      return error(429, 8, "too many requests being read at once; retry later", { ...retry, ...UNREAD });
    this.inflight += reserve;
    try {
      const raw = new Uint8Array(await req.arrayBuffer());
      if (raw.length > this.limits.maxBodyBytes)
        return error(413, 8, `request body over ${this.limits.maxBodyBytes} bytes; send smaller batches`);
      const body = unpackBody(raw, req.headers.get("content-encoding"), this.limits.maxBodyBytes);
      // Decoding waits for a running commit to end (LiveIngest.idle), at most COMMIT_WAIT_MS (a
      // commit waiting for a catalog another process holds must not stop the intake); the body
      // is counted in `inflight` meanwhile, which bounds what waits.
      await Promise.race([this.ingest.idle(), Bun.sleep(COMMIT_WAIT_MS)]);
      const decoded = decodeRequest(signal, encoding, body);
      let rejected = 0;
      const messages = new Set<string>();
      let bytes = body.length;
      let counted = 0;
      for (const piece of decoded.pieces()) {
        const a = this.ingest.add(piece, bytes);
        bytes = 0;
        rejected += a.rejected;
        if (a.message) messages.add(a.message);
        this.collectIfHigh(decoded.taken - counted);
        counted = decoded.taken;
      }
      this.collectIfHigh(body.length - counted);
      if (decoded.undecodable > 0) {
        rejected += decoded.undecodable;
        messages.add(`${decoded.undecodable} items could not be decoded`);
      }
      const message = [...messages].join("; ");
      this.stats.rejected += rejected;
      this.onTaken(this.ingest.uncommitted);
      return new Response(exportResponse(signal, encoding, rejected, message), {
        status: 200,
        headers: { "content-type": contentType(encoding) },
      });
    } catch (e) {
      if (e instanceof TooLargeError) return error(413, 8, `${e.message}; send smaller batches`);
      if (e instanceof DecodeError) return error(400, 3, e.message);
      return error(503, 14, `cannot take the data: ${(e as Error).message}`, retry);
    } finally {
      this.inflight -= reserve;
    }
  }
}

/**
 * The header of an answer given before the request's body was read (415, 429, 503, and a 413
 * whose body is too large to drain): the server does not read a body it refused, so the
 * connection cannot carry another request, and RFC 9112 section 9.6 has the server say so with
 * `Connection: close`. Bun's fetch did not heed it (see `drain`): for the common 413, the body is
 * drained instead.
 */
const UNREAD = { connection: "close" } as const;

/** Most bytes of a refused body `drain` reads. */
const DRAIN_MAX_BYTES = 64 * 1024 * 1024;

/**
 * Reads and drops the body of a request refused for its declared size (at most `max` bytes),
 * so that the answer comes after the whole request, on a connection the client may use again.
 * Answering mid-upload did not do (with or without UNREAD): Bun's fetch still sent the next
 * request on that connection and got ECONNRESET (7 of 40 rounds of a 5 MiB body over
 * --max-body-mb 4 followed by a small one; 0 of 40 drained). A body that is larger, or a
 * client that goes away, ends it early.
 * @returns true when the whole body was read.
 */
async function drain(req: Request, max: number): Promise<boolean> {
  const body = req.body;
  if (body === null) return true;
  const reader = body.getReader();
  let n = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return true;
      n += value.byteLength;
      if (n > max) {
        await reader.cancel().catch(() => undefined);
        return false;
      }
    }
  } catch {
    return false;
  }
}

function contentType(encoding: OtlpEncoding): string {
  return encoding === "json" ? "application/json" : "application/x-protobuf";
}
