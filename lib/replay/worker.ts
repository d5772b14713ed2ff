/**
 * A replay worker (a Bun Worker: its own thread). It keeps partial aggregation state per
 * window and group for the rows routed to it; each batch carries the router's watermark
 * (every row with an earlier event time has been sent), and the worker hands the partials of
 * the windows that watermark closed back with its acknowledgement. Messages: see
 * lib/replay/pool.ts (`ToWorker`, `FromWorker`).
 */
import type { FromWorker, ToWorker } from "./pool.ts";
import {
  accumulate,
  type Batch,
  type Group,
  keyOfValues,
  newAcc,
  type Partial,
  valueAt,
  type WindowState,
  type WorkerPlan,
} from "./state.ts";

declare const self: Worker;

let plan: WorkerPlan | null = null;
let windows = new Map<unknown, WindowState>();
let rows = 0;
let busy = 0;

function closeUpTo(watermark: bigint | null, all: boolean): Partial[] {
  const out: Partial[] = [];
  const p = plan as WorkerPlan;
  for (const [k, w] of windows) {
    const closed =
      all || (p.windowKey >= 0 && w.start !== null && watermark !== null && BigInt(w.start) + p.widthNs <= watermark);
    if (!closed) continue;
    out.push({ window: k, start: w.start, groups: [...w.groups.values()] });
    windows.delete(k);
  }
  return out;
}

function onBatch(b: Batch, n: number): void {
  const p = plan as WorkerPlan;
  const wk = p.windowKey;
  const nKeys = p.nKeys;
  let lastW: unknown = Symbol();
  let win: WindowState | null = null;
  const keys: (number | bigint | null)[] = new Array(nKeys);
  for (let i = 0; i < n; i++) {
    if (wk >= 0 || win === null) {
      const w = wk >= 0 ? valueAt(b, wk, i) : "";
      if (w !== lastW || win === null) {
        lastW = w;
        win = windows.get(w) ?? null;
        if (!win) {
          win = { start: w === "" ? null : (w as number | bigint | null), groups: new Map() };
          windows.set(w, win);
        }
      }
    }
    for (let k = 0; k < nKeys; k++) keys[k] = valueAt(b, k, i);
    const gk = keyOfValues(keys);
    let g: Group | undefined = win.groups.get(gk);
    if (!g) {
      g = { keys: keys.slice(), acc: newAcc(p.aggs) };
      win.groups.set(gk, g);
    }
    accumulate(g.acc, p.aggs, b, i);
  }
  rows += n;
}

self.onmessage = (ev: MessageEvent<ToWorker>) => {
  const m = ev.data;
  const t0 = performance.now();
  try {
    if (m.type === "start") {
      plan = m.plan;
      windows = new Map();
      rows = 0;
      busy = 0;
      return;
    }
    if (m.type === "batch") {
      if (m.n > 0) onBatch(m.batch, m.n);
      const closed = plan && plan.windowKey >= 0 ? closeUpTo(m.watermark, false) : [];
      busy += performance.now() - t0;
      const reply: FromWorker = { type: "ack", watermark: m.watermark, closed };
      self.postMessage(reply);
      return;
    }
    if (m.type === "end") {
      const closed = closeUpTo(null, true);
      busy += performance.now() - t0;
      const reply: FromWorker = { type: "done", closed, rows, busyMs: busy };
      self.postMessage(reply);
      windows = new Map();
    }
  } catch (e) {
    const reply: FromWorker = { type: "error", message: e instanceof Error ? e.message : String(e) };
    self.postMessage(reply);
  }
};
