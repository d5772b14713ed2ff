/**
 * The mapping of one declined event (one the fast paths do not take) to its row: reads it with
 * slow_path.ts, then judges it as the mapping does (skip reason, destination; README "How
 * events are mapped") and converts its times (time.ts). One function, used by the batch
 * importer for every line the WebAssembly fast path and the event parser decline.
 */

import { counterValue } from "../../views/counter_value.ts";
import type { Destination, SkipCode } from "../model.ts";
import { PC_ASYNC, PC_FLOW, PC_LOG, PC_META, PC_METRICS, PC_NONE, phaseClass } from "./phases.ts";
import { type JsonValue, jsonText, K_NESTED, K_NULL, K_STR, readEvent, varchar } from "./slow_path.ts";
import { usTextToNsAny } from "./time.ts";

/** The pid of an event without one (or with a null one): trace_processor's, 0. */
export const NO_PID = "0";

/** The fields of an event the mapping reads. */
const WANTED = new Set([
  "ph",
  "name",
  "cat",
  "ts",
  "dur",
  "tts",
  "tdur",
  "pid",
  "tid",
  "id",
  "id2",
  "scope",
  "s",
  "bp",
  "bind_id",
  "flow_in",
  "flow_out",
  "args",
]);
const WITH_MEMBERS = new Set(["id2"]);

/** The row of an event, its skip reason and destination. Times are ns. */
export interface MappedRow {
  seq: number;
  ph: string | null;
  tsNs: bigint | null;
  durNs: bigint | null;
  ttsNs: bigint | null;
  tdurNs: bigint | null;
  /** `pid`, else NO_PID. */
  pid: string;
  /** `tid`, else `pid`. */
  tid: string;
  name: string | null;
  cat: string | null;
  /** `id`, else id2's `local`, else id2's `global`. */
  aid: string | null;
  idScope: string | null;
  scope: string | null;
  s: string | null;
  bp: string | null;
  bindId: string | null;
  flowIn: boolean | null;
  flowOut: boolean | null;
  /** args as JSON text. */
  args: string | null;
  skip: SkipCode | null;
  dest: Destination;
  /** Of a counter: its args values that give no measure (chrome.counter_value_invalid). */
  invalidValues: number;
}

/**
 * Maps the event `bytes[s, e)` (one JSON object; a leading framer `__seq` key is read as any
 * other key and ignored) with seq `seq`.
 * @returns its row (with its skip reason when skipped), or null when it is malformed JSON.
 */
export function mapDeclinedEvent(bytes: Uint8Array, s: number, e: number, seq: number): MappedRow | null {
  const f = readEvent(bytes, s, e, WANTED, WITH_MEMBERS);
  if (f === null) return null;
  const text = (k: string): string | null => {
    const v = f.get(k);
    return v === undefined ? null : varchar(v);
  };
  const ph = text("ph");
  // No pid (or a null one): pid 0, as trace_processor's JSON tokenizer files it.
  const pid = text("pid") ?? NO_PID;
  const ts = text("ts");
  const id = text("id");
  const id2 = f.get("id2");
  const local = member(id2, "local");
  const global = member(id2, "global");
  const aid = id ?? local ?? global;
  const idScope = id !== null ? "global" : local !== null ? "local" : global !== null ? "global" : null;
  const argsV = f.get("args");
  const args = argsV === undefined ? null : jsonText(argsV);
  const flow = (k: string): boolean | null => {
    const v = text(k);
    return v === null ? null : v === "true";
  };
  const row: MappedRow = {
    seq,
    ph,
    tsNs: usTextToNsAny(ts),
    durNs: usTextToNsAny(text("dur")),
    ttsNs: usTextToNsAny(text("tts")),
    tdurNs: usTextToNsAny(text("tdur")),
    pid,
    tid: text("tid") ?? pid,
    name: text("name"),
    cat: text("cat"),
    aid,
    idScope,
    scope: text("scope"),
    s: text("s"),
    bp: text("bp"),
    bindId: text("bind_id"),
    flowIn: flow("flow_in"),
    flowOut: flow("flow_out"),
    args,
    skip: null,
    dest: "cpu",
    invalidValues: 0,
  };
  const cls = phaseClass(ph);
  row.skip = skipOf(row, cls, ts, argsV);
  row.dest =
    row.skip !== null
      ? "skipped"
      : cls === PC_META
        ? "metadata"
        : cls === PC_LOG
          ? "log"
          : cls === PC_METRICS
            ? "metrics"
            : "cpu";
  if (row.dest === "metrics" && args !== null) row.invalidValues = invalidCounterValues(args);
  return row;
}

/** The skip reason of a row, in the mapping's order, or null. */
function skipOf(r: MappedRow, cls: number, ts: string | null, args: JsonValue | undefined): SkipCode | null {
  const ph = r.ph;
  if (ph === null || ph === "") return "chrome.ph_missing";
  if (cls === PC_NONE) return "chrome.phase_not_imported";
  if (cls === PC_META) return null;
  if (ts === null) return "chrome.ts_missing";
  if (r.tsNs === null) return "chrome.ts_invalid";
  if (ph === "X" && r.durNs === null) return "chrome.x_dur_missing";
  if (ph === "X" && (r.durNs as bigint) < 0n) return "chrome.x_dur_negative";
  if (cls === PC_ASYNC && r.aid === null) return "chrome.async_id_missing";
  if (cls === PC_FLOW && r.aid === null && r.bindId === null) return "chrome.flow_id_missing";
  if (cls === PC_METRICS && (args === undefined || args.k !== K_NESTED || !r.args?.startsWith("{") || r.args === "{}"))
    return "chrome.counter_args_missing";
  return null;
}

/** The text of member `key` of an object value (a string's value, else its JSON text), or null. */
function member(v: JsonValue | undefined, key: string): string | null {
  const m = v?.members?.get(key);
  if (m === undefined || m.k === K_NULL) return null;
  return m.k === K_STR ? m.s : jsonText(m);
}

/**
 * How many values of a counter's args object (JSON text, as stored) give no measure row: every
 * member, duplicates included (the `measures` view reads the object as a MAP), whose value is
 * null, an object, an array, or a string that counterValue rejects (lib/views/counter_value.ts).
 */
export function invalidCounterValues(args: string): number {
  let n = 0;
  let depth = 0;
  let atValue = false;
  for (let i = 0; i < args.length; i++) {
    const c = args[i];
    if (c === '"') {
      let j = i + 1;
      while (args[j] !== '"') j += args[j] === "\\" ? 2 : 1;
      if (depth === 1 && atValue && counterValue(JSON.parse(args.slice(i, j + 1)) as string) === null) n++;
      atValue = false;
      i = j;
    } else if (c === "{" || c === "[") {
      if (depth === 1 && atValue) n++;
      atValue = false;
      depth++;
    } else if (c === "}" || c === "]") depth--;
    else if (c === ":" && depth === 1) atValue = true;
    else if (c === "n" && depth === 1 && atValue) {
      n++;
      atValue = false;
    } else if (c !== " " && c !== "\t" && c !== "\n" && c !== "\r") atValue = false;
  }
  return n;
}
