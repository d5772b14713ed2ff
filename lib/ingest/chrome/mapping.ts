/**
 * The mapping of one event the event parser took (its fields' kinds and byte ranges) to its
 * raw block row: phase class, skip reason, times (time.ts), the texts of the VARCHAR and JSON
 * columns as the reference reads them (see event_parser.ts), and metadata events. The events
 * it declines are mapped by declined.ts.
 */
import { RAW_COL } from "../../lake/raw_block.ts";
import type { BlockBuilder } from "../blocks/builder.ts";
import type { Destination, LossExample, SkipCode } from "../model.ts";
import { writeCanonicalNumber, writeMinified } from "./canonical.ts";
import {
  F_ARGS,
  F_BIND_ID,
  F_BP,
  F_CAT,
  F_DUR,
  F_FLOW_IN,
  F_FLOW_OUT,
  F_ID,
  F_ID2,
  F_NAME,
  F_PH,
  F_PID,
  F_S,
  F_SCOPE,
  F_TDUR,
  F_TID,
  F_TS,
  F_TTS,
  FL_ESC,
  FL_NONCANON_ESC,
  FL_REWRITE,
  V_FALSE,
  V_MISSING,
  V_NULL,
  V_NUM,
  V_OBJ,
  V_STR,
  V_TRUE,
} from "./event_parser.ts";
import { D_CPU, D_LOG, D_METRICS, GroupRouter } from "./groups.ts";
import { PC_ASYNC, PC_FLOW, PC_LOG, PC_META, PC_METRICS, PHASE_CLASS } from "./phases.ts";
import { usTextToNs } from "./time.ts";

/** Column indexes of the raw block layout (lib/lake/raw_block.ts). */
export const C_SEQ = RAW_COL.seq;
export const C_PH = RAW_COL.ph;
export const C_TIME = RAW_COL.time;
export const C_DUR = RAW_COL.dur;
export const C_TTS = RAW_COL.thread_time;
export const C_TDUR = RAW_COL.thread_dur;
export const C_TID = RAW_COL.tid;
export const C_NAME = RAW_COL.name;
export const C_CAT = RAW_COL.cat;
export const C_ID = RAW_COL.id;
export const C_ID_SCOPE = RAW_COL.id_scope;
export const C_SCOPE = RAW_COL.scope;
export const C_S = RAW_COL.s;
export const C_BP = RAW_COL.bp;
export const C_BIND_ID = RAW_COL.bind_id;
export const C_FLOW_IN = RAW_COL.flow_in;
export const C_FLOW_OUT = RAW_COL.flow_out;
export const C_ARGS = RAW_COL.args;

function skipWs(buf: Uint8Array, i: number, e: number): number {
  while (i < e && (buf[i] === 0x20 || buf[i] === 0x09 || buf[i] === 0x0a || buf[i] === 0x0d)) i++;
  return i;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const TRUE_BYTES = encoder.encode("true");
const FALSE_BYTES = encoder.encode("false");
const GLOBAL_BYTES = encoder.encode("global");
const LOCAL_BYTES = encoder.encode("local");

/** A metadata (M) event, applied by the caller in seq order. */
export interface MetaEvent {
  seq: number;
  pid: string;
  tid: string;
  name: string | null;
  /** args as JSON text. */
  args: string | null;
}

/**
 * Maps parsed events to rows of their groups (GroupRouter); `count` (the batch's counts) comes
 * from the batch importer.
 */
export abstract class EventMapper extends GroupRouter {
  protected scratch = new Uint8Array(1024);
  /** Counts of the rows added here, by phase byte × 3 + destination code. */
  protected readonly fastCounts = new Float64Array(256 * 3);
  /** Out-values of nsOf (a bigint per field) and id2Member (the member's text). */
  private readonly big: (bigint | null)[] = new Array(18).fill(null);
  private memberS = 0;
  private memberE = 0;
  private memberNum = false;
  /** Metadata events since the last batch. */
  protected meta: MetaEvent[] = [];

  /** Counts one event of kind `ph` that went to `dest` (`code` when skipped, with `example`). */
  protected abstract count(ph: string, dest: Destination, code: SkipCode | null, example?: LossExample): void;

  /** The current event as an example of a skip: its seq and name (first 100 characters). */
  protected example(buf: Uint8Array): LossExample {
    const name = this.fieldText(buf, F_NAME);
    return { seq: this.parser.seq, name: name === null ? null : name.slice(0, 100) };
  }

  /** Text of a field as DuckDB's VARCHAR column would hold it, as a JS string (null for NULL). */
  protected override fieldText(buf: Uint8Array, f: number): string | null {
    const p = this.parser;
    const k = p.kind[f] as number;
    const s = p.start[f] as number;
    const e = p.end[f] as number;
    switch (k) {
      case V_MISSING:
      case V_NULL:
        return null;
      case V_STR:
        if (((p.flags[f] as number) & FL_ESC) !== 0) return JSON.parse(decoder.decode(buf.subarray(s - 1, e + 1)));
        return decoder.decode(buf.subarray(s, e));
      case V_TRUE:
        return "true";
      case V_FALSE:
        return "false";
      default: {
        const n = this.canonical(buf, f);
        return decoder.decode(this.scratch.subarray(0, n));
      }
    }
  }

  /** Writes the canonical text of a number or nested field to `scratch`; returns its length. */
  protected canonical(buf: Uint8Array, f: number): number {
    const p = this.parser;
    const s = p.start[f] as number;
    const e = p.end[f] as number;
    if (this.scratch.length < e - s) this.scratch = new Uint8Array(Math.max(e - s, this.scratch.length * 2));
    if (p.kind[f] === V_NUM) return writeCanonicalNumber(buf, s, e, this.scratch, 0);
    if (((p.flags[f] as number) & FL_REWRITE) === 0) {
      this.scratch.set(buf.subarray(s, e));
      return e - s;
    }
    return writeMinified(buf, s, e, this.scratch, 0);
  }

  /** Sets a VARCHAR column from a field (null when missing or JSON null). */
  protected setText(b: BlockBuilder, c: number, buf: Uint8Array, f: number): void {
    const p = this.parser;
    const k = p.kind[f] as number;
    const fl = p.flags[f] as number;
    // A string without escapes, or a number whose text is canonical (no FL_REWRITE: see
    // event_parser.ts), is stored as written.
    if ((k === V_STR && (fl & FL_ESC) === 0) || (k === V_NUM && fl === 0)) {
      b.setBytes(c, buf, p.start[f] as number, p.end[f] as number);
    } else if (k === V_MISSING || k === V_NULL) b.setNull(c);
    else if (k === V_STR) {
      const t = encoder.encode(this.fieldText(buf, f) as string);
      b.setBytes(c, t, 0, t.length);
    } else if (k === V_TRUE) b.setBytes(c, TRUE_BYTES, 0, 4);
    else if (k === V_FALSE) b.setBytes(c, FALSE_BYTES, 0, 5);
    else if (k === V_NUM || (p.flags[f] as number) & FL_REWRITE) {
      const n = this.canonical(buf, f);
      b.setBytes(c, this.scratch, 0, n);
    } else b.setBytes(c, buf, p.start[f] as number, p.end[f] as number);
  }

  /**
   * The µs → ns conversion of `tl_us_to_ns` (see chrome_json.ts) for field `f`: NaN for NULL,
   * a safe integer, or +Infinity with the value in `this.big[f]`; -Infinity when the text is
   * outside what this implements (then the slow path maps the event). Numbers only, so that the
   * JIT keeps one representation.
   */
  protected nsOf(buf: Uint8Array, f: number): number {
    const p = this.parser;
    const k = p.kind[f] as number;
    if (k === V_MISSING || k === V_NULL) return Number.NaN;
    if (k === V_TRUE || k === V_FALSE) return Number.NaN; // TRY_CAST('true' AS HUGEINT) is NULL
    let src = buf;
    let s = p.start[f] as number;
    let e = p.end[f] as number;
    if (k === V_NUM) {
      if (((p.flags[f] as number) & FL_REWRITE) !== 0) {
        e = this.canonical(buf, f);
        s = 0;
        src = this.scratch;
      }
    } else if (k === V_STR) {
      if (((p.flags[f] as number) & FL_ESC) !== 0) return Number.NEGATIVE_INFINITY;
      // Only the plain decimal forms: -?digits(.digits)?
      let j = s;
      if (src[j] === 0x2d) j++;
      const d0 = j;
      while (j < e && (src[j] as number) >= 0x30 && (src[j] as number) <= 0x39) j++;
      if (j === d0) return Number.NEGATIVE_INFINITY;
      if (j < e) {
        if (src[j] !== 0x2e) return Number.NEGATIVE_INFINITY;
        j++;
        const f0 = j;
        while (j < e && (src[j] as number) >= 0x30 && (src[j] as number) <= 0x39) j++;
        if (j === f0 || j !== e) return Number.NEGATIVE_INFINITY;
      }
    } else return Number.NEGATIVE_INFINITY;
    const v = usTextToNs(src, s, e);
    if (v === null) return Number.NaN;
    if (typeof v === "number") return v;
    this.big[f] = v;
    return Number.POSITIVE_INFINITY;
  }

  /**
   * Finds id2's `$.local` / `$.global` (json_extract_string): 0 when absent (or id2 is
   * missing/null), 1 when found (text bytes at `memberS`/`memberE`, `memberNum` for a number),
   * -1 when not handled here.
   */
  protected id2Member(buf: Uint8Array, want: Uint8Array): number {
    const p = this.parser;
    const k = p.kind[F_ID2] as number;
    if (k === V_MISSING || k === V_NULL) return 0;
    if (k !== V_OBJ) return -1;
    const e = p.end[F_ID2] as number;
    let i = skipWs(buf, (p.start[F_ID2] as number) + 1, e);
    if (buf[i] === 0x7d) return 0;
    for (;;) {
      // Key (validated; no escapes handled here).
      const ks = i + 1;
      let ke = ks;
      while (buf[ke] !== 0x22) {
        if (buf[ke] === 0x5c) return -1;
        ke++;
      }
      i = skipWs(buf, ke + 1, e);
      i = skipWs(buf, i + 1, e); // after ':'
      const vs = i;
      const b = buf[i] as number;
      let found: number;
      let ms = 0;
      let me = 0;
      let num = false;
      if (b === 0x22) {
        let ve = vs + 1;
        while (buf[ve] !== 0x22) {
          if (buf[ve] === 0x5c) return -1;
          ve++;
        }
        found = 1;
        ms = vs + 1;
        me = ve;
        i = ve + 1;
      } else if (b === 0x2d || (b >= 0x30 && b <= 0x39)) {
        let ve = vs;
        while (ve < e && buf[ve] !== 0x2c && buf[ve] !== 0x7d && buf[ve] !== 0x20 && buf[ve] !== 0x09) ve++;
        found = 1;
        ms = vs;
        me = ve;
        num = true;
        i = ve;
      } else found = -1; // nested, literal: left to the slow path
      let same = ke - ks === want.length;
      for (let x = 0; same && x < want.length; x++) if (buf[ks + x] !== want[x]) same = false;
      if (same) {
        this.memberS = ms;
        this.memberE = me;
        this.memberNum = num;
        return found;
      }
      if (found < 0) return -1;
      i = skipWs(buf, i, e);
      if (buf[i] === 0x2c) {
        i = skipWs(buf, i + 1, e);
        continue;
      }
      return 0;
    }
  }

  /** Counts an event that is not imported (phase missing or not imported). */
  protected skipPhase(buf: Uint8Array, phByte: number, ph: string | null, known: boolean): void {
    const p = this.parser;
    const phKind = p.kind[F_PH] as number;
    const label = known || ph === null ? (phByte === 0 ? "" : String.fromCharCode(phByte)) : ph.slice(0, 16);
    if (phKind === V_MISSING || phKind === V_NULL || ph === "")
      this.count(label, "skipped", "chrome.ph_missing", this.example(buf));
    else this.count(label, "skipped", "chrome.phase_not_imported", this.example(buf));
  }

  /** A metadata event: noted for the caller. @returns false when left to the slow path. */
  protected routeMeta(buf: Uint8Array): boolean {
    const p = this.parser;
    const pid = this.fieldText(buf, F_PID) as string;
    const tidK = p.kind[F_TID] as number;
    const tid = tidK === V_MISSING || tidK === V_NULL ? pid : (this.fieldText(buf, F_TID) as string);
    const argsK = p.kind[F_ARGS] as number;
    let args: string | null = null;
    if (argsK === V_STR && ((p.flags[F_ARGS] as number) & FL_NONCANON_ESC) !== 0) return false;
    if (argsK === V_STR)
      args = decoder.decode(buf.subarray((p.start[F_ARGS] as number) - 1, (p.end[F_ARGS] as number) + 1));
    else if (argsK !== V_MISSING && argsK !== V_NULL) args = this.fieldText(buf, F_ARGS);
    this.noteThread(pid, tid);
    this.meta.push({ seq: p.seq, pid, tid, name: this.fieldText(buf, F_NAME), args });
    this.count("M", "metadata", null);
    return true;
  }

  /**
   * Routes a parsed event: counts it, and writes it to its group's block unless skipped.
   * @returns false (with no effect) when the event must be left to the slow path.
   */
  protected routeFast(buf: Uint8Array): boolean {
    const p = this.parser;
    let phByte = 0;
    let ph: string | null = null;
    const phKind = p.kind[F_PH] as number;
    if (
      phKind === V_STR &&
      (p.flags[F_PH] as number) === 0 &&
      (p.end[F_PH] as number) - (p.start[F_PH] as number) === 1
    ) {
      phByte = buf[p.start[F_PH] as number] as number;
    } else {
      ph = this.fieldText(buf, F_PH);
      if (ph !== null && ph.length === 1) phByte = ph.charCodeAt(0);
      // left(ph, 16) counts characters: keep to ASCII here.
      if (ph !== null && !isAscii(ph)) return false;
    }
    const cls = phByte < 0x80 && (ph === null || ph.length === 1) ? (PHASE_CLASS[phByte] as number) : 0;
    if (cls === 0 || phKind === V_MISSING || phKind === V_NULL) {
      this.skipPhase(buf, phByte, ph, cls !== 0);
      return true;
    }
    // An event without pid (or with a null one) belongs to pid 0 (trace_processor's json
    // tokenizer); the slow path (declined.ts) maps it, so the rest of this file may assume a pid.
    const pidKind = p.kind[F_PID] as number;
    if (pidKind === V_MISSING || pidKind === V_NULL) return false;
    if (cls === PC_META) return this.routeMeta(buf);
    const ts = this.nsOf(buf, F_TS);
    const dur = this.nsOf(buf, F_DUR);
    const tts = this.nsOf(buf, F_TTS);
    const tdur = this.nsOf(buf, F_TDUR);
    if (
      ts === Number.NEGATIVE_INFINITY ||
      dur === Number.NEGATIVE_INFINITY ||
      tts === Number.NEGATIVE_INFINITY ||
      tdur === Number.NEGATIVE_INFINITY
    )
      return false;
    // Async id: id, else id2.local, else id2.global.
    const idKind = p.kind[F_ID] as number;
    const hasId = idKind !== V_MISSING && idKind !== V_NULL;
    let member = 0; // 0: none, 1: local, 2: global
    if (!hasId) {
      const l = this.id2Member(buf, LOCAL_BYTES);
      if (l < 0) return false;
      if (l === 1) member = 1;
      else {
        const g = this.id2Member(buf, GLOBAL_BYTES);
        if (g < 0) return false;
        if (g === 1) member = 2;
      }
    }
    const argsKind = p.kind[F_ARGS] as number;
    if (argsKind === V_STR && ((p.flags[F_ARGS] as number) & FL_NONCANON_ESC) !== 0) return false;
    const reason = this.skipReason(buf, phByte, cls, ts, dur, hasId || member !== 0);
    if (reason !== null) {
      this.count(String.fromCharCode(phByte), "skipped", reason, this.example(buf));
      return true;
    }
    // A counter with a value that is not a number or true/false: the slow path (declined.ts)
    // judges each value by counter_value.ts and counts those the measures view will not read.
    if (cls === PC_METRICS && !numericMembers(buf, p.start[F_ARGS] as number, p.end[F_ARGS] as number)) return false;
    const dest = cls === PC_LOG ? D_LOG : cls === PC_METRICS ? D_METRICS : D_CPU;
    const b = this.builderOf(this.groupFast(buf, dest));
    const ci = phByte * 3 + dest;
    this.fastCounts[ci] = (this.fastCounts[ci] as number) + 1;
    b.beginRow();
    b.setI64(C_SEQ, p.seq);
    b.noteSeq(p.seq);
    b.setByte(C_PH, phByte);
    this.setNsField(b, C_TIME, F_TS, ts);
    this.setNsField(b, C_DUR, F_DUR, dur);
    this.setNsField(b, C_TTS, F_TTS, tts);
    this.setNsField(b, C_TDUR, F_TDUR, tdur);
    if (ts === Number.POSITIVE_INFINITY || dur === Number.POSITIVE_INFINITY) {
      // (`big` holds a field's value only when nsOf gave +Infinity for it: the other may be
      // a stale value of an earlier event.)
      b.noteRange(
        ts === Number.POSITIVE_INFINITY ? (this.big[F_TS] as bigint) : ts,
        dur === Number.POSITIVE_INFINITY ? (this.big[F_DUR] as bigint) : Number.isNaN(dur) ? null : dur,
      );
    } else b.noteRange(ts, Number.isNaN(dur) ? null : dur);
    this.writeTexts(buf, b, hasId, member);
    return true;
  }

  /** The skip reason of an event whose phase and pid are fine, or null. */
  protected skipReason(
    buf: Uint8Array,
    phByte: number,
    cls: number,
    ts: number,
    dur: number,
    hasId: boolean,
  ): SkipCode | null {
    const p = this.parser;
    const tsKind = p.kind[F_TS] as number;
    if (tsKind === V_MISSING || tsKind === V_NULL) return "chrome.ts_missing";
    if (Number.isNaN(ts)) return "chrome.ts_invalid";
    if (phByte === 0x58) {
      if (Number.isNaN(dur)) return "chrome.x_dur_missing";
      if (dur === Number.POSITIVE_INFINITY ? (this.big[F_DUR] as bigint) < 0n : dur < 0) return "chrome.x_dur_negative";
    }
    if (cls === PC_ASYNC && !hasId) return "chrome.async_id_missing";
    if (cls === PC_FLOW && !hasId) {
      const bk = p.kind[F_BIND_ID] as number;
      if (bk === V_MISSING || bk === V_NULL) return "chrome.flow_id_missing";
    }
    if (cls === PC_METRICS) {
      if (p.kind[F_ARGS] !== V_OBJ) return "chrome.counter_args_missing";
      let j = (p.start[F_ARGS] as number) + 1;
      while (buf[j] === 0x20 || buf[j] === 0x09 || buf[j] === 0x0a || buf[j] === 0x0d) j++;
      if (buf[j] === 0x7d) return "chrome.counter_args_missing";
    }
    return null;
  }

  protected setNsField(b: BlockBuilder, c: number, f: number, v: number): void {
    if (Number.isNaN(v)) b.setNull(c);
    else if (v === Number.POSITIVE_INFINITY) b.setI64Big(c, this.big[f] as bigint);
    else b.setI64(c, v);
  }

  /** Writes the text and JSON columns of the current row. */
  protected writeTexts(buf: Uint8Array, b: BlockBuilder, hasId: boolean, member: number): void {
    const p = this.parser;
    const tidK = p.kind[F_TID] as number;
    this.setText(b, C_TID, buf, tidK === V_MISSING || tidK === V_NULL ? F_PID : F_TID);
    this.setText(b, C_NAME, buf, F_NAME);
    this.setText(b, C_CAT, buf, F_CAT);
    if (hasId) {
      this.setText(b, C_ID, buf, F_ID);
      b.setBytes(C_ID_SCOPE, GLOBAL_BYTES, 0, GLOBAL_BYTES.length);
    } else if (member !== 0) {
      // id2Member left the member found last in memberS/E; local is looked up first, and
      // global only when local is absent, so it is the right one.
      if (this.memberNum) {
        if (this.scratch.length < this.memberE - this.memberS)
          this.scratch = new Uint8Array(this.memberE - this.memberS);
        const len = writeCanonicalNumber(buf, this.memberS, this.memberE, this.scratch, 0);
        b.setBytes(C_ID, this.scratch, 0, len);
      } else b.setBytes(C_ID, buf, this.memberS, this.memberE);
      const sc = member === 1 ? LOCAL_BYTES : GLOBAL_BYTES;
      b.setBytes(C_ID_SCOPE, sc, 0, sc.length);
    } else {
      b.setNull(C_ID);
      b.setNull(C_ID_SCOPE);
    }
    this.setText(b, C_SCOPE, buf, F_SCOPE);
    this.setText(b, C_S, buf, F_S);
    this.setText(b, C_BP, buf, F_BP);
    this.setText(b, C_BIND_ID, buf, F_BIND_ID);
    this.setFlow(b, C_FLOW_IN, buf, F_FLOW_IN);
    this.setFlow(b, C_FLOW_OUT, buf, F_FLOW_OUT);
    // args as JSON text.
    const argsKind = p.kind[F_ARGS] as number;
    if (argsKind === V_MISSING || argsKind === V_NULL) b.setNull(C_ARGS);
    else if (argsKind === V_STR)
      b.setBytes(C_ARGS, buf, (p.start[F_ARGS] as number) - 1, (p.end[F_ARGS] as number) + 1);
    else if (argsKind === V_TRUE) b.setBytes(C_ARGS, TRUE_BYTES, 0, 4);
    else if (argsKind === V_FALSE) b.setBytes(C_ARGS, FALSE_BYTES, 0, 5);
    else if (((p.flags[F_ARGS] as number) & FL_REWRITE) === 0 && argsKind !== V_NUM) {
      b.setBytes(C_ARGS, buf, p.start[F_ARGS] as number, p.end[F_ARGS] as number);
    } else {
      const s = p.start[F_ARGS] as number;
      const e = p.end[F_ARGS] as number;
      const out = b.reserve(C_ARGS, e - s);
      const at = b.valuesAt(C_ARGS);
      const end = argsKind === V_NUM ? writeCanonicalNumber(buf, s, e, out, at) : writeMinified(buf, s, e, out, at);
      b.commitBytes(C_ARGS, end - at);
    }
  }

  protected setFlow(b: BlockBuilder, c: number, buf: Uint8Array, f: number): void {
    const p = this.parser;
    const k = p.kind[f] as number;
    if (k === V_MISSING || k === V_NULL) b.setNull(c);
    else if (k === V_TRUE) b.setBool(c, true);
    else if (k === V_STR) b.setBool(c, this.fieldText(buf, f) === "true");
    else b.setBool(c, false);
  }
}

function isAscii(s: string): boolean {
  for (let k = 0; k < s.length; k++) if (s.charCodeAt(k) > 0x7f) return false;
  return true;
}

/**
 * Whether every member of the JSON object `buf[s, e)` (validated by the parser) has a number,
 * `true` or `false` value (what a counter's values should be).
 */
function numericMembers(buf: Uint8Array, s: number, e: number): boolean {
  let depth = 0;
  let atValue = false;
  for (let i = s; i < e; i++) {
    const c = buf[i] as number;
    if (c === 0x22) {
      if (depth === 1 && atValue) return false;
      let j = i + 1;
      while (buf[j] !== 0x22) j += buf[j] === 0x5c ? 2 : 1;
      i = j;
    } else if (c === 0x7b || c === 0x5b) {
      if (depth === 1 && atValue) return false;
      depth++;
    } else if (c === 0x7d || c === 0x5d) depth--;
    else if (c === 0x3a && depth === 1) atValue = true;
    else if (c === 0x6e && depth === 1 && atValue) return false;
    else if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) atValue = false;
  }
  return true;
}
