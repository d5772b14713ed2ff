/**
 * Perfetto TrackEvents that carry a `legacy_event` (Chrome's JSON-style phases,
 * track_event.proto LegacyEvent) → the same raw rows as the Chrome JSON phase they hold (README
 * "Perfetto protobuf"): X/B/E slices, instants, async and flow events, counters.
 */
import { LegacyEvent } from "../../perfetto/fields.ts";
import { WireReader, WT_LEN } from "../../perfetto/wire_reader.ts";
import type { RawRow, RawRowSink } from "../blocks/raw_rows.ts";
import { skipped } from "./args.ts";
import { mul } from "./clock.ts";
import type { ImportCounts } from "./counts.ts";
import type { SeqState, Sequences } from "./sequence.ts";
import { type Assoc, GLOBAL_PID, type Tracks } from "./tracks.ts";

/** What a legacy event is read against: interned names, tallies, tracks and the sink. */
export interface LegacyContext {
  seqs: Sequences;
  counts: ImportCounts;
  tracks: Tracks;
  sink: RawRowSink;
}

/**
 * A TrackEvent carrying a `legacy_event` (Chrome's JSON-style phases, track_event.proto
 * LegacyEvent): mapped to the same rows as the Chrome JSON phase it holds (README "Perfetto
 * protobuf"), on the thread of its track (or `pid_override`/`tid_override`).
 */
export function legacyEvent(
  ctx: LegacyContext,
  row: RawRow,
  seq: SeqState | null,
  a: Assoc,
  cpuTid: string,
  buf: Uint8Array,
  s: number,
  e: number,
): void {
  const r = new WireReader(buf, s, e);
  let phase = 0;
  let instantScope = 0;
  let flowDirection = 0;
  let bindToEnclosing = false;
  let pid = a.pid;
  let tid: string | null = a.tid ?? cpuTid;
  while (r.next()) {
    switch (r.field) {
      case LegacyEvent.name_iid:
        if (row.name === null && seq) row.name = ctx.seqs.lookup(seq.names, r.u64Key())?.text ?? null;
        else r.skip();
        break;
      case LegacyEvent.phase:
        phase = r.varint();
        break;
      case LegacyEvent.duration_us:
        row.dur = mul(r.i64(), 1000);
        break;
      case LegacyEvent.thread_duration_us:
        row.threadDur = mul(r.i64(), 1000);
        break;
      case LegacyEvent.unscoped_id:
      case LegacyEvent.global_id:
        row.id = `0x${r.u64Big().toString(16)}`;
        row.idScope = "global";
        break;
      case LegacyEvent.local_id:
        row.id = `0x${r.u64Big().toString(16)}`;
        row.idScope = "local";
        break;
      case LegacyEvent.id_scope:
        row.scope = r.wireType === WT_LEN ? r.string() : skipped(r);
        break;
      case LegacyEvent.bind_id:
        row.bindId = `0x${r.u64Big().toString(16)}`;
        break;
      case LegacyEvent.bind_to_enclosing:
        bindToEnclosing = r.varint() !== 0;
        break;
      case LegacyEvent.flow_direction:
        flowDirection = r.varint();
        break;
      case LegacyEvent.instant_event_scope:
        instantScope = r.varint();
        break;
      case LegacyEvent.pid_override:
        pid = String(r.i64());
        break;
      case LegacyEvent.tid_override:
        tid = String(r.i64());
        break;
      default:
        r.skip();
    }
  }
  const ph = String.fromCharCode(phase);
  const label = `legacy ${ph}`;
  row.ph = ph;
  if (flowDirection !== 0) {
    row.flowIn = (flowDirection & 1) !== 0;
    row.flowOut = (flowDirection & 2) !== 0;
  }
  if (pid === GLOBAL_PID) ctx.tracks.namedGlobal();
  if (ph === "X" || ph === "B" || ph === "E") {
    if (ph === "X" && row.dur === null) {
      ctx.counts.count(label, "skipped", "X without duration_us");
      return;
    }
    ctx.sink.add(pid, tid, "cpu", row);
    ctx.counts.count(label, "cpu", null);
  } else if (ph === "i" || ph === "I" || ph === "R") {
    // LegacyEvent.InstantEventScope: SCOPE_GLOBAL 1, SCOPE_PROCESS 2, SCOPE_THREAD 3; unspecified
    // (0) is a thread instant, as trace_processor files it (a slice on the thread's track).
    row.s = ["t", "g", "p", "t"][instantScope] ?? null;
    ctx.sink.add(pid, tid, "log", row);
    ctx.counts.count(label, "log", null);
  } else if ("benSTpF".includes(ph) || "stf".includes(ph)) {
    if (!row.id && !row.bindId) {
      ctx.counts.count(label, "skipped", "legacy async or flow event without an id");
      return;
    }
    if (ph === "f" && bindToEnclosing) row.bp = "e";
    ctx.sink.add(pid, tid, "cpu", row);
    ctx.counts.count(label, "cpu", null);
  } else if (ph === "C") {
    ctx.sink.add(pid, tid, "metrics", row);
    ctx.counts.count(label, "metrics", null);
  } else ctx.counts.count(label, "skipped", "legacy phase not imported");
}
