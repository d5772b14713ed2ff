/**
 * The groups of the Chrome JSON batch importer: the rows of one stream held in memory (a
 * thread's `cpu` events, a process's `log` or `metrics` events), found for a parsed event by the
 * raw bytes of its pid and tid (a numeric map for small integers, else a hash), and the threads
 * seen first. The base of EventMapper (mapping.ts) and BatchImporter (batch_importer.ts).
 */
import type { BlockFileWriter } from "../blocks/block_file.ts";
import { BlockBuilder } from "../blocks/builder.ts";
import { EventParser, F_PID, F_TID, V_MISSING, V_NULL, V_NUM } from "./event_parser.ts";

/** Destination codes used on the hot path. */
export const D_CPU = 0;
export const D_LOG = 1;
export const D_METRICS = 2;

/** The events of one stream not yet written. */
export interface Group {
  pid: string;
  /** The thread for a cpu group, "" for log and metrics. */
  tid: string;
  dest: number;
  builder: BlockBuilder;
  /** The group's builder in the WebAssembly fast path, or -1. */
  native: number;
  /** The group's block file being written (rows flushed, no footer yet), or null. */
  file: BlockFileWriter | null;
}

/** Where a (pid, tid, destination) goes; cached by the raw bytes of pid and tid. */
interface CacheEntry {
  key: Uint8Array;
  group: Group;
}

/** The value of a run of at most 7 ASCII digits, else -1. */
function smallUint(buf: Uint8Array, s: number, e: number): number {
  if (e - s > 7 || e === s) return -1;
  let v = 0;
  for (let k = s; k < e; k++) {
    const d = (buf[k] as number) - 0x30;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

/**
 * Groups of rows by (pid, tid, destination), and the threads seen first. `fieldText` (the text
 * of a parsed field) comes from the mapping.
 */
export abstract class GroupRouter {
  /** The parser of the event being mapped (its fields are read here for the group's key). */
  protected readonly parser = new EventParser();
  private readonly cache = new Map<number, CacheEntry[]>();
  private readonly groups = new Map<string, Group>();
  /** Groups by (pid, tid, dest) when pid and tid are integers below 2^24. */
  private readonly numGroups = new Map<number, Group>();
  private readonly seenThreads = new Set<string>();
  /** Groups holding rows not yet written. */
  protected readonly live = new Set<Group>();
  /** (pid, tid) pairs seen first since the last batch. */
  protected threads: [string, string][] = [];

  /** The text of parsed field `f` as the mapping reads it (null for a missing or null value). */
  protected abstract fieldText(buf: Uint8Array, f: number): string | null;

  protected noteThread(pid: string, tid: string): void {
    const k = `${pid}\u0000${tid}`;
    if (this.seenThreads.has(k)) return;
    this.seenThreads.add(k);
    this.threads.push([pid, tid]);
  }

  /** The group of (pid, tid, destination), noting the thread. */
  protected groupFor(pid: string, tid: string, dest: number): Group {
    this.noteThread(pid, tid);
    const gt = dest === D_CPU ? tid : "";
    const key = `${pid}\u0000${gt}\u0000${dest}`;
    let g = this.groups.get(key);
    if (!g) {
      g = { pid, tid: gt, dest, builder: new BlockBuilder(), native: -1, file: null };
      this.groups.set(key, g);
    }
    return g;
  }

  protected builderOf(g: Group): BlockBuilder {
    const b = g.builder;
    if (b.rows === 0) this.live.add(g);
    return b;
  }

  /**
   * The group (future block) of a fast-path event, found by the raw bytes of its pid and tid
   * values (and their kinds), noting the thread on first sight.
   */
  protected groupFast(buf: Uint8Array, dest: number): Group {
    const p = this.parser;
    const pk = p.kind[F_PID] as number;
    const tk = p.kind[F_TID] as number;
    const ps = p.start[F_PID] as number;
    const pe = p.end[F_PID] as number;
    const ts = p.start[F_TID] as number;
    const te = p.end[F_TID] as number;
    const pf = p.flags[F_PID] as number;
    const tf = p.flags[F_TID] as number;
    // The common case, small integer pid and tid (or no tid): one numeric map lookup.
    if (pk === V_NUM && pf === 0) {
      const pv = smallUint(buf, ps, pe);
      const tv = tk === V_MISSING || tk === V_NULL ? pv : tk === V_NUM && tf === 0 ? smallUint(buf, ts, te) : -1;
      if (pv >= 0 && tv >= 0) {
        const key = (pv * 16777216 + tv) * 4 + dest;
        let g = this.numGroups.get(key);
        if (!g) {
          g = this.groupSlow(buf, dest, pk, tk, ps, pe, ts, te, pf, tf);
          this.numGroups.set(key, g);
        }
        return g;
      }
    }
    return this.groupSlow(buf, dest, pk, tk, ps, pe, ts, te, pf, tf);
  }

  /** groupFast for any pid/tid values: by a hash of their raw bytes. */
  protected groupSlow(
    buf: Uint8Array,
    dest: number,
    pk: number,
    tk: number,
    ps: number,
    pe: number,
    ts: number,
    te: number,
    pf: number,
    tf: number,
  ): Group {
    let h = (dest * 31 + pk * 7 + tk + pf * 131 + tf * 257) | 0;
    for (let k = ps; k < pe; k++) h = (Math.imul(h, 31) + (buf[k] as number)) | 0;
    h = (Math.imul(h, 17) + 0x9e37) | 0;
    const tidPresent = tk !== V_MISSING && tk !== V_NULL;
    if (tidPresent) for (let k = ts; k < te; k++) h = (Math.imul(h, 31) + (buf[k] as number)) | 0;
    const plen = pe - ps;
    const tlen = tidPresent ? te - ts : 0;
    const list = this.cache.get(h);
    if (list) {
      for (const en of list) {
        const key = en.key;
        if (
          key.length === plen + tlen + 6 &&
          key[0] === dest &&
          key[1] === pk &&
          key[2] === (tidPresent ? tk : 0) &&
          key[3] === pf &&
          key[4] === (tidPresent ? tf : 0) &&
          key[5] === plen
        ) {
          let same = true;
          for (let k = 0; k < plen && same; k++) if (key[6 + k] !== buf[ps + k]) same = false;
          for (let k = 0; k < tlen && same; k++) if (key[6 + plen + k] !== buf[ts + k]) same = false;
          if (same) return en.group;
        }
      }
    }
    const pid = this.fieldText(buf, F_PID) as string;
    const tid = tidPresent ? (this.fieldText(buf, F_TID) as string) : pid;
    const group = this.groupFor(pid, tid, dest);
    if (plen < 256) {
      const key = new Uint8Array(plen + tlen + 6);
      key[0] = dest;
      key[1] = pk;
      key[2] = tidPresent ? tk : 0;
      key[3] = pf;
      key[4] = tidPresent ? tf : 0;
      key[5] = plen;
      key.set(buf.subarray(ps, pe), 6);
      if (tidPresent) key.set(buf.subarray(ts, te), 6 + plen);
      const en: CacheEntry = { key, group };
      if (list) list.push(en);
      else this.cache.set(h, [en]);
    }
    return group;
  }
}
