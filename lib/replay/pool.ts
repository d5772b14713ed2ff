/**
 * Replay workers and the bounded queues that feed them. A pool of Bun Workers (real threads)
 * is reusable across replays; each replay sends `start` with its plan, then batches, then
 * `end`. Every batch is acknowledged, and a sender waits while a worker has `capacity`
 * unacknowledged batches (backpressure: the router never runs more than that ahead of the
 * slowest worker it feeds).
 */
import type { Batch, Partial, WorkerPlan } from "./state.ts";

/** Messages to a worker. */
export type ToWorker =
  | { type: "start"; plan: WorkerPlan }
  /** `batch`: key columns then argument columns; `watermark`: every row with an earlier
   * event time has been routed, as an offset of the window key column (null: none yet). */
  | { type: "batch"; batch: Batch; n: number; watermark: bigint | null }
  | { type: "end" };

/** Messages from a worker. */
export type FromWorker =
  | { type: "ack"; watermark: bigint | null; closed: Partial[] }
  | { type: "done"; closed: Partial[]; rows: number; busyMs: number }
  | { type: "error"; message: string };

/**
 * Creates the Worker for lib/replay/worker.ts. In the compiled binary the worker is a second
 * entry point (scripts/build.ts), named by the path the build entry sets.
 * `smol` (Bun's WorkerOptions: JavaScriptCore's small heap configuration, collected sooner): a
 * worker's heap is mostly garbage (a key string per row, the groups of windows already handed
 * back). On the README's 10 ms windows over the 208 MB Chromium JSON trace (626K spans, 260K
 * groups; compiled, 7 alternating runs) the peak went from 383 to 324 MB, wall time not worse
 * (2.47 s median before, 1.98 s after; the machine noisy).
 */
function spawn(): Worker {
  const embedded = (globalThis as { __TRACELAKE_REPLAY_WORKER?: string }).__TRACELAKE_REPLAY_WORKER;
  return new Worker(embedded ?? new URL("./worker.ts", import.meta.url).href, { smol: true });
}

/** A set of replay workers. Close it when done (workers keep the process alive). */
export class WorkerPool {
  private constructor(readonly workers: Worker[]) {}

  /** Spawns `n` workers (n ≥ 1). */
  static create(n: number): WorkerPool {
    return new WorkerPool(Array.from({ length: n }, spawn));
  }

  /** Number of workers. */
  get size(): number {
    return this.workers.length;
  }

  /** Terminates every worker. */
  close(): void {
    for (const w of this.workers) w.terminate();
  }
}

/** One worker's bounded queue during a replay. */
export class WorkerChannel {
  private inFlight = 0;
  private waiter: (() => void) | null = null;
  private failed: Error | null = null;
  private doneWaiter: ((m: Extract<FromWorker, { type: "done" }>) => void) | null = null;
  /** Milliseconds the sender spent waiting on this queue. */
  waitMs = 0;

  /**
   * @param worker the worker.
   * @param capacity unacknowledged batches allowed (≥ 1).
   * @param onAck called with every acknowledgement, in order.
   */
  constructor(
    private readonly worker: Worker,
    private readonly capacity: number,
    private readonly onAck: (m: Extract<FromWorker, { type: "ack" }>) => void,
  ) {
    worker.onmessage = (ev: MessageEvent<FromWorker>) => {
      const m = ev.data;
      if (m.type === "ack") {
        this.inFlight--;
        this.onAck(m);
        const w = this.waiter;
        this.waiter = null;
        w?.();
      } else if (m.type === "done") {
        this.doneWaiter?.(m);
      } else {
        this.failed = new Error(`replay worker failed: ${m.message}`);
        this.waiter?.();
      }
    };
    worker.onerror = (e: ErrorEvent) => {
      this.failed = new Error(`replay worker failed: ${e.message}`);
      this.waiter?.();
    };
  }

  /** Starts a replay on the worker. */
  start(plan: WorkerPlan): void {
    this.worker.postMessage({ type: "start", plan } satisfies ToWorker);
  }

  /**
   * Sends a batch, first waiting while the queue is full.
   * @throws Error when the worker failed.
   */
  async send(batch: Batch, n: number, watermark: bigint | null): Promise<void> {
    if (this.failed) throw this.failed;
    if (this.inFlight >= this.capacity) {
      const t0 = performance.now();
      while (this.inFlight >= this.capacity && !this.failed) {
        await new Promise<void>((resolve) => {
          this.waiter = resolve;
        });
      }
      this.waitMs += performance.now() - t0;
      if (this.failed) throw this.failed;
    }
    this.inFlight++;
    // The column buffers move to the worker (transferred, not copied).
    const transfer: ArrayBuffer[] = [];
    for (const v of batch.vals) transfer.push(v.buffer as ArrayBuffer);
    for (const v of batch.valid) if (v) transfer.push(v.buffer as ArrayBuffer);
    this.worker.postMessage({ type: "batch", batch, n, watermark } satisfies ToWorker, transfer);
  }

  /**
   * Ends the replay on the worker and returns its last partials and counters (after every
   * batch was acknowledged: a worker handles messages in order).
   * @throws Error when the worker failed.
   */
  async end(): Promise<Extract<FromWorker, { type: "done" }>> {
    if (this.failed) throw this.failed;
    const done = new Promise<Extract<FromWorker, { type: "done" }>>((resolve, reject) => {
      // A failure is reported through `failed` (onmessage/onerror); check it while waiting.
      const check = setInterval(() => {
        if (this.failed) {
          clearInterval(check);
          reject(this.failed);
        }
      }, 50);
      this.doneWaiter = (m) => {
        clearInterval(check);
        resolve(m);
      };
    });
    this.worker.postMessage({ type: "end" } satisfies ToWorker);
    return done;
  }
}
