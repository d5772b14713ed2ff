/**
 * An independent reading of an exported trace for tests: decoded with protobufjs from our own
 * .proto subset (perfetto_subset.proto), then slices rebuilt per track the way trace_processor
 * does (stable sort by timestamp, BEGIN pushes, END closes the top; reference/perfetto.md §3).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import protobuf from "protobufjs";

/** The shared trace checker (trace_processor's rules); PFTRACE_LINT overrides its path. */
export const LINT = process.env.PFTRACE_LINT ?? "/work/shared/tools/pftrace-lint.mjs";

const root = protobuf.parse(readFileSync(join(import.meta.dir, "perfetto_subset.proto"), "utf8"), {
  keepCase: true,
}).root;
const Trace = root.lookupType("perfetto.protos.Trace");

export interface Track {
  uuid: string;
  kind: "process" | "thread" | "counter" | "custom";
  parent: string | null;
  name: string | null;
  pid: number | null;
  tid: number | null;
  /** Counter tracks: CounterDescriptor.unit (enum number, 0 when absent) and unit_name. */
  unit?: number;
  unitName?: string | null;
}
export interface Slice {
  track: string;
  name: string;
  ts: bigint;
  dur: bigint | null;
  flows: string[];
  /** The BEGIN's flow_ids and terminating_flow_ids (decimal texts). */
  flowIds: string[];
  terminatingFlowIds: string[];
  /** legacy_json_value of the debug annotations, joined ('' when none). */
  args: string;
}
export interface Decoded {
  packets: number;
  tracks: Map<string, Track>;
  slices: Slice[];
  instants: { track: string; name: string; ts: bigint }[];
  counters: { track: string; ts: bigint; value: number }[];
  /** Log entries; `flows`: their flow_ids and terminating_flow_ids (decimal texts). */
  logs: { track: string; body: string; prio: number; ts: bigint; flows: string[] }[];
  firstPacketFlags: number;
}

type Obj = Record<string, unknown>;
const str = (v: unknown): string => String(v);

/** Decodes a .pftrace (or gzip of one). */
export function decodeTrace(bytes: Uint8Array): Decoded {
  const data = bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes) : bytes;
  const msg = Trace.toObject(Trace.decode(data), { longs: String, defaults: false }) as { packet?: Obj[] };
  const packets = msg.packet ?? [];
  const tracks = new Map<string, Track>();
  let names = new Map<string, string>();
  let bodies = new Map<string, string>();
  const events: { ts: bigint; idx: number; ev: Obj }[] = [];
  let firstPacketFlags = -1;
  for (const [idx, p] of packets.entries()) {
    if (idx === 0) firstPacketFlags = Number(p.sequence_flags ?? 0);
    if (Number(p.sequence_flags ?? 0) & 1) {
      names = new Map();
      bodies = new Map();
    }
    const interned = p.interned_data as Obj | undefined;
    for (const e of (interned?.event_names as Obj[] | undefined) ?? []) names.set(str(e.iid), str(e.name));
    for (const e of (interned?.log_message_body as Obj[] | undefined) ?? []) bodies.set(str(e.iid), str(e.body));
    const td = p.track_descriptor as Obj | undefined;
    if (td) {
      const proc = td.process as Obj | undefined;
      const thr = td.thread as Obj | undefined;
      tracks.set(str(td.uuid), {
        uuid: str(td.uuid),
        kind: proc ? "process" : thr ? "thread" : td.counter ? "counter" : "custom",
        parent: td.parent_uuid !== undefined ? str(td.parent_uuid) : null,
        name: (td.name as string) ?? (proc?.process_name as string) ?? (thr?.thread_name as string) ?? null,
        pid: proc ? Number(proc.pid) : thr ? Number(thr.pid) : null,
        tid: thr ? Number(thr.tid) : null,
        ...(td.counter
          ? {
              unit: Number((td.counter as Obj).unit ?? 0),
              unitName: ((td.counter as Obj).unit_name as string | undefined) ?? null,
            }
          : {}),
      });
    }
    const te = p.track_event as Obj | undefined;
    if (te) {
      const name = te.name_iid !== undefined ? (names.get(str(te.name_iid)) ?? "?unresolved") : "";
      const lm = te.log_message as Obj | undefined;
      events.push({
        ts: BigInt(str(p.timestamp)),
        idx,
        ev: { ...te, _name: name, _body: lm ? bodies.get(str(lm.body_iid)) : undefined },
      });
    }
  }
  events.sort((a, b) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : a.idx - b.idx));
  const stacks = new Map<string, Slice[]>();
  const out: Decoded = {
    packets: packets.length,
    tracks,
    slices: [],
    instants: [],
    counters: [],
    logs: [],
    firstPacketFlags,
  };
  for (const { ts, ev } of events) {
    const track = str(ev.track_uuid);
    const type = Number(ev.type);
    let st = stacks.get(track);
    if (!st) {
      st = [];
      stacks.set(track, st);
    }
    if (type === 1) {
      const flowIds = ((ev.flow_ids as string[]) ?? []).map(str);
      const terminatingFlowIds = ((ev.terminating_flow_ids as string[]) ?? []).map(str);
      const flows = [...flowIds, ...terminatingFlowIds];
      const args = ((ev.debug_annotations as Obj[] | undefined) ?? []).map((a) => str(a.legacy_json_value)).join(",");
      const s: Slice = { track, name: str(ev._name), ts, dur: null, flows, flowIds, terminatingFlowIds, args };
      st.push(s);
      out.slices.push(s);
    } else if (type === 2) {
      const s = st.pop();
      if (s) s.dur = ts - s.ts;
    } else if (type === 3) {
      const lm = ev.log_message as Obj | undefined;
      const flows = [...((ev.flow_ids as unknown[]) ?? []), ...((ev.terminating_flow_ids as unknown[]) ?? [])].map(str);
      if (lm) out.logs.push({ track, body: str(ev._body), prio: Number(lm.prio), ts, flows });
      else out.instants.push({ track, name: str(ev._name), ts });
    } else if (type === 4) out.counters.push({ track, ts, value: Number(ev.double_counter_value) });
  }
  return out;
}

/** The thread track a track belongs to (itself, or its nearest thread ancestor), or null. */
export function threadOf(d: Decoded, uuid: string): Track | null {
  let t = d.tracks.get(uuid);
  while (t) {
    if (t.kind === "thread") return t;
    t = t.parent ? d.tracks.get(t.parent) : undefined;
  }
  return null;
}

/** The packets of a .pftrace (or gzip of one) as protobufjs objects of the subset (uint64 as text). */
export function decodePackets(bytes: Uint8Array): Record<string, unknown>[] {
  const data = bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes) : bytes;
  const msg = Trace.toObject(Trace.decode(data), { longs: String, defaults: false }) as { packet?: Obj[] };
  return msg.packet ?? [];
}
