/**
 * Generates a Perfetto protobuf trace of about N MiB shaped like Chromium's: 8 threads of one
 * process, each writing on its own sequence with interned names and categories, TracePacketDefaults
 * (clock 64 in µs deltas, the thread's track), a ClockSnapshot, nested SLICE_BEGIN/SLICE_END
 * (some with a debug annotation), instants and a counter track.
 *
 * Usage: bun bench/gen_perfetto_trace.ts OUT.pftrace SIZE_MB
 * Prints the number of packets written.
 */
import { closeSync, openSync, writeSync } from "node:fs";

const [out, sizeArg] = process.argv.slice(2);
if (!out || !sizeArg) throw new Error("usage: gen_perfetto_trace.ts OUT SIZE_MB");
const target = Number(sizeArg) * 1024 * 1024;

const buf = new Uint8Array(4 * 1024 * 1024);
let len = 0;
let written = 0;
const fd = openSync(out, "w");
const flush = (): void => {
  writeSync(fd, buf, 0, len);
  written += len;
  len = 0;
};

/** A message under construction: bytes appended to a JS array (small messages only). */
type Msg = number[];
const varint = (m: Msg, v: number): void => {
  while (v >= 0x80) {
    m.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  m.push(v);
};
const fVar = (m: Msg, f: number, v: number): void => {
  varint(m, f * 8);
  varint(m, v);
};
const fLen = (m: Msg, f: number, body: Msg | string): void => {
  const b = typeof body === "string" ? [...new TextEncoder().encode(body)] : body;
  varint(m, f * 8 + 2);
  varint(m, b.length);
  for (const x of b) m.push(x);
};
let packets = 0;
const packet = (p: Msg): void => {
  const h: Msg = [];
  fLen(h, 1, p);
  if (len + h.length > buf.length) flush();
  buf.set(h, len);
  len += h.length;
  packets++;
};

const PID = 4242;
const THREADS = 8;
const NAMES = 200;
const CATS = 12;
const PROC_UUID = 1;
const COUNTER_UUID = 2;
{
  const p: Msg = [];
  const td: Msg = [];
  fVar(td, 1, PROC_UUID);
  const pd: Msg = [];
  fVar(pd, 1, PID);
  fLen(pd, 6, "generated");
  fLen(td, 3, pd);
  fLen(p, 60, td);
  packet(p);
  const c: Msg = [];
  const ctd: Msg = [];
  fVar(ctd, 1, COUNTER_UUID);
  fVar(ctd, 5, PROC_UUID);
  fLen(ctd, 2, "queue_depth");
  fLen(ctd, 8, []);
  fLen(c, 60, ctd);
  packet(c);
}
const t0us = 1_000_000;
const clock = new Array(THREADS).fill(t0us);
for (let t = 0; t < THREADS; t++) {
  const seq = t + 1;
  const uuid = 100 + t;
  const d: Msg = [];
  const td: Msg = [];
  fVar(td, 1, uuid);
  const th: Msg = [];
  fVar(th, 1, PID);
  fVar(th, 2, PID + 1 + t);
  fLen(th, 5, `Worker${t}`);
  fLen(td, 4, th);
  fLen(d, 60, td);
  packet(d);
  const p: Msg = [];
  fVar(p, 10, seq);
  fVar(p, 13, 3);
  const interned: Msg = [];
  for (let n = 1; n <= NAMES; n++) {
    const e: Msg = [];
    fVar(e, 1, n);
    fLen(e, 2, `Task::Run${n % 7 === 0 ? "::with::a::longer::name" : ""}#${n}`);
    fLen(interned, 2, e);
  }
  for (let c = 1; c <= CATS; c++) {
    const e: Msg = [];
    fVar(e, 1, c);
    fLen(e, 2, `cat${c}`);
    fLen(interned, 1, e);
  }
  const an: Msg = [];
  fVar(an, 1, 1);
  fLen(an, 2, "count");
  fLen(interned, 3, an);
  fLen(p, 12, interned);
  const defs: Msg = [];
  fVar(defs, 58, 64);
  const ted: Msg = [];
  fVar(ted, 11, uuid);
  fLen(defs, 11, ted);
  fLen(p, 59, defs);
  const snap: Msg = [];
  const c1: Msg = [];
  fVar(c1, 1, 6);
  fVar(c1, 2, t0us * 1000);
  fLen(snap, 1, c1);
  const c2: Msg = [];
  fVar(c2, 1, 64);
  fVar(c2, 2, t0us);
  fVar(c2, 3, 1);
  fVar(c2, 4, 1000);
  fLen(snap, 1, c2);
  fLen(p, 6, snap);
  packet(p);
}

let k = 0;
const depth = new Array(THREADS).fill(0);
while (written + len < target) {
  const t = k % THREADS;
  k++;
  const p: Msg = [];
  const delta = 1 + (k % 13);
  clock[t] += delta;
  fVar(p, 8, delta);
  fVar(p, 10, t + 1);
  fVar(p, 13, 2);
  const e: Msg = [];
  if (k % 50 === 0) {
    fVar(e, 9, 4);
    fVar(e, 11, COUNTER_UUID);
    fVar(e, 30, k % 1000);
  } else if (depth[t] < 4 && (depth[t] === 0 || k % 3 !== 0)) {
    fVar(e, 9, 1);
    fVar(e, 10, 1 + (k % NAMES));
    fVar(e, 3, 1 + (k % CATS));
    if (k % 4 === 0) {
      const a: Msg = [];
      fVar(a, 1, 1);
      fVar(a, 4, k);
      fLen(e, 4, a);
    }
    depth[t]++;
  } else if (k % 17 === 0) {
    fVar(e, 9, 3);
    fVar(e, 10, 1 + (k % NAMES));
  } else {
    fVar(e, 9, 2);
    depth[t]--;
  }
  fLen(p, 11, e);
  packet(p);
}
flush();
closeSync(fd);
console.log(packets);
