/**
 * Streaming framer for the Chrome Trace Event Format container.
 *
 * It hands every event object of the event array to a sink as one line of NDJSON (batch_output.ts),
 * unparsed (the batch importer parses). Memory: the batch size plus the largest event allowed.
 *
 * Container rules (Trace Event Format, "JSON Array Format" and "JSON Object Format"; Perfetto's
 * `src/trace_processor/importers/json/json_trace_tokenizer.cc`, see reference/perfetto.md §5):
 * - the bare array form `[ {...}, ... ]`, whose closing `]` may be missing (Chrome writes an
 *   unterminated array when tracing stops abruptly; trace_processor accepts it);
 * - the object form `{"traceEvents": [...], "metadata": {...}, "displayTimeUnit": ..., ...}`:
 *   `traceEvents` holds the events, `metadata` is captured as JSON text, every other key is
 *   skipped and named in the result (e.g. `systemTraceEvents`, `stackFrames`, `samples`);
 * - trailing commas and whitespace between elements are tolerated; an element that is not an
 *   object is counted and skipped.
 *
 * Raw newlines inside an event (pretty-printed input, or an invalid raw control character in a
 * string) are replaced by spaces so that each event is exactly one NDJSON line.
 *
 * Line mode (`rawLines`): Chrome writes one event per line (`{...},\n`). When enabled, a line
 * that begins right after a newline between two elements, starts with `{`, ends with `}` or
 * `},`, holds no carriage return and does not start with the `__seq` key is taken as one whole
 * event without scanning its bytes: runs of such lines are copied as they are, the first of a
 * run with the `__seq` prefix, the others without (their seq is the previous line's plus one;
 * see `BatchImporter.parseBatch`). This is a speculation: a line such as `{"a":1},{"b":2}` or
 * `{"a":{"b":1}` (an event going on over the next lines) passes the cheap test and is not one
 * event. The batch parser checks every line it cannot parse on the fast path and throws
 * `SpeculationError` for such a line; the caller then imports the input again with line mode
 * off. Only enable it when the input can be read again.
 */
import { BatchOutput, type BatchSink, SEQ_KEY } from "./batch_output.ts";

export { SEQ_KEY } from "./batch_output.ts";

/** Outcome of framing a whole input. Counts are events (array elements); sizes are bytes. */
export interface FramerResult {
  /** `array` for a bare event array, `object` for `{"traceEvents": [...]}`. */
  form: "array" | "object";
  /** Event objects handed to the sink. */
  events: number;
  /** Array elements that were not objects (numbers, strings, arrays, null), skipped. */
  nonObjectElements: number;
  /** Events larger than `maxEventBytes`, skipped. */
  oversizedEvents: number;
  /** 1 when the input ended inside an event (that event is dropped), else 0. */
  truncatedEvents: number;
  /** The event array had no closing `]` (accepted, as trace_processor does). */
  unterminatedArray: boolean;
  /** The object form ended before its closing `}` (accepted best-effort). */
  unterminatedObject: boolean;
  /** The `metadata` value of the object form as JSON text, when present and not too large. */
  metadataJson: string | null;
  /** The `displayTimeUnit` value (a display hint only: `ts` is always µs). */
  displayTimeUnit: string | null;
  /** Other top-level keys of the object form, skipped (e.g. `systemTraceEvents`). */
  skippedKeys: string[];
  /** Bytes after the end of the trace that were ignored. */
  trailingBytes: number;
  /** Whether the input held an event array (always true for the array form). */
  sawEventArray: boolean;
}

/** Thrown when the input is not a Chrome JSON trace container at all. */
export class NotChromeJsonError extends Error {}

enum S {
  Start = 0,
  ObjExpectKey = 1,
  ObjKey = 2,
  ObjColon = 3,
  ObjValueStart = 4,
  Value = 5,
  Arr = 6,
  Elem = 7,
  SkipElem = 8,
  Done = 9,
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const COMMA = 0x2c;
const SPACE = 0x20;
const COLON = 0x3a;
const NL = 0x0a;
const CR = 0x0d;

function isWs(b: number): boolean {
  return b === 0x20 || b === NL || b === CR || b === 0x09;
}

const MAX_METADATA_BYTES = 16 * 1024 * 1024;

// Byte classes for the hot loop. Inside a string: quote, backslash, raw line break.
const C_QUOTE = 1;
const C_BACKSLASH = 2;
const C_LINEBREAK = 3;
// Outside a string: quote, opening and closing bracket, raw line break.
const C_OPEN = 4;
const C_CLOSE = 5;
const STRING_CLASS = new Uint8Array(256);
STRING_CLASS[QUOTE] = C_QUOTE;
STRING_CLASS[BACKSLASH] = C_BACKSLASH;
STRING_CLASS[NL] = C_LINEBREAK;
STRING_CLASS[CR] = C_LINEBREAK;
const STRUCT_CLASS = new Uint8Array(256);
STRUCT_CLASS[QUOTE] = C_QUOTE;
STRUCT_CLASS[LBRACE] = C_OPEN;
STRUCT_CLASS[LBRACKET] = C_OPEN;
STRUCT_CLASS[RBRACE] = C_CLOSE;
STRUCT_CLASS[RBRACKET] = C_CLOSE;
STRUCT_CLASS[NL] = C_LINEBREAK;
STRUCT_CLASS[CR] = C_LINEBREAK;

/**
 * Thrown (by the batch parser) when a line taken as one event in line mode is not exactly one
 * JSON object: the input must be framed again with line mode off.
 */
export class SpeculationError extends Error {}

/**
 * Incremental framer. Call `push(chunk)` for each chunk of the decompressed input (the chunk
 * may be modified in place), then `end()` once.
 */
export class ChromeJsonFramer extends BatchOutput {
  private state: S = S.Start;
  private form: "array" | "object" | null = null;
  private depth = 0;
  private inString = false;
  private escape = false;
  private sawBom = 0;
  private key: number[] = [];
  /** Line mode: position of the next carriage return in the current chunk (-1: none, -2: not searched). */
  private nextCr = -2;
  private valueCapture: number[] | null = null;
  private valueKey = "";
  private valueIsScalar = false;
  private readonly result: FramerResult = {
    form: "array",
    events: 0,
    nonObjectElements: 0,
    oversizedEvents: 0,
    truncatedEvents: 0,
    unterminatedArray: false,
    unterminatedObject: false,
    metadataJson: null,
    displayTimeUnit: null,
    skippedKeys: [],
    trailingBytes: 0,
    sawEventArray: false,
  };

  /**
   * @param sink receives a batch whenever at least `batchBytes` of NDJSON are ready, and the
   *   rest at `end()`. The bytes are only valid during the call.
   * @param batchBytes target batch size in bytes.
   * @param maxEventBytes events larger than this (bytes of JSON text) are skipped and counted.
   * @param rawLines line mode (see the file comment): whole lines are taken as events without
   *   scanning them; the batch parser must check them (`BatchImporter.parseBatch` does).
   */
  constructor(
    sink: BatchSink,
    batchBytes = 64 * 1024 * 1024,
    private readonly maxEventBytes = 32 * 1024 * 1024,
    private readonly rawLines = false,
  ) {
    super(sink, batchBytes);
  }

  /** Feeds one chunk. Throws NotChromeJsonError when the first bytes are not `[` or `{`. */
  push(chunk: Uint8Array): void {
    let i = 0;
    const n = chunk.length;
    this.nextCr = -2;
    // elemStart: where the current element's bytes begin in this chunk (-1: not copying).
    let elemStart = this.state === S.Elem ? 0 : -1;
    while (i < n) {
      switch (this.state) {
        case S.Elem: {
          // Hot loop: scan one event object, tracking strings and nesting depth, with byte
          // class tables so that runs of ordinary bytes cost one load and compare each.
          let depth = this.depth;
          let inString = this.inString;
          let complete = false;
          if (this.escape) {
            // The previous chunk ended on a backslash inside a string: skip the escaped byte.
            this.escape = false;
            i++;
          }
          while (i < n) {
            if (inString) {
              let c = 0;
              // biome-ignore lint/suspicious/noAssignInExpressions: the hot loop of the framer
              while (i < n && (c = STRING_CLASS[chunk[i] as number] as number) === 0) i++;
              if (i >= n) break;
              if (c === C_QUOTE) {
                inString = false;
                i++;
              } else if (c === C_BACKSLASH) {
                i += 2;
                if (i > n) {
                  this.escape = true;
                  i = n;
                }
              } else {
                chunk[i] = SPACE;
                i++;
              }
            } else {
              let c = 0;
              // biome-ignore lint/suspicious/noAssignInExpressions: the hot loop of the framer
              while (i < n && (c = STRUCT_CLASS[chunk[i] as number] as number) === 0) i++;
              if (i >= n) break;
              i++;
              if (c === C_QUOTE) inString = true;
              else if (c === C_OPEN) depth++;
              else if (c === C_CLOSE) {
                if (--depth === 0) {
                  complete = true;
                  break;
                }
              } else chunk[i - 1] = SPACE;
            }
          }
          this.depth = depth;
          this.inString = inString;
          this.append(chunk, elemStart < 0 ? 0 : elemStart, i);
          if (this.outLen - this.outElemStart > this.maxEventBytes) {
            this.outLen = this.outElemStart;
            this.state = complete ? S.Arr : S.SkipElem;
            this.result.oversizedEvents++;
            this.seq++;
            elemStart = -1;
            break;
          }
          if (complete) {
            this.finishElement();
            this.state = S.Arr;
            elemStart = -1;
            if (this.outLen >= this.batchBytes) this.flush();
          }
          break;
        }
        case S.SkipElem: {
          // An oversized event: scan to its end without copying.
          let depth = this.depth;
          let inString = this.inString;
          let esc = this.escape;
          for (; i < n; i++) {
            const b = chunk[i] as number;
            if (inString) {
              if (esc) esc = false;
              else if (b === BACKSLASH) esc = true;
              else if (b === QUOTE) inString = false;
            } else if (b === QUOTE) inString = true;
            else if (b === LBRACE || b === LBRACKET) depth++;
            else if (b === RBRACE || b === RBRACKET) {
              if (--depth === 0) {
                i++;
                this.state = S.Arr;
                break;
              }
            }
          }
          this.depth = depth;
          this.inString = inString;
          this.escape = esc;
          break;
        }
        case S.Arr: {
          const b = chunk[i] as number;
          if (b === NL && this.rawLines) {
            i = this.rawRun(chunk, i + 1);
          } else if (b === LBRACE) {
            this.state = S.Elem;
            this.depth = 0;
            this.inString = false;
            this.escape = false;
            this.outElemStart = this.outLen;
            this.writeSeqPrefix();
            // The prefix replaces the opening brace, which the Elem loop still counts.
            this.depth = 1;
            i++;
            elemStart = i;
          } else if (b === RBRACKET) {
            this.state = this.form === "object" ? S.ObjExpectKey : S.Done;
            i++;
          } else if (b === COMMA || isWs(b)) {
            i++;
          } else if (b === RBRACE) {
            // A stray `}` where an element or `]` belongs (e.g. `{...}}`): in the object form it
            // closes the trace object, the array left unterminated; in the array form it is
            // skipped as a non-object element. (Taking it as the start of a value would never
            // consume it.)
            i++;
            if (this.form === "object") {
              this.result.unterminatedArray = true;
              this.state = S.Done;
            } else {
              this.result.nonObjectElements++;
              this.seq++;
            }
          } else {
            // A non-object element: skip it as a generic value.
            this.result.nonObjectElements++;
            this.seq++;
            this.beginValue("", null);
          }
          break;
        }
        case S.Value: {
          i = this.scanValue(chunk, i);
          break;
        }
        case S.Start: {
          const b = chunk[i] as number;
          if (this.sawBom < 3 && i === this.sawBom && (b === 0xef || b === 0xbb || b === 0xbf)) {
            this.sawBom++;
            i++;
          } else if (isWs(b)) i++;
          else if (b === LBRACKET) {
            this.form = "array";
            this.result.form = "array";
            this.result.sawEventArray = true;
            this.state = S.Arr;
            i++;
          } else if (b === LBRACE) {
            this.form = "object";
            this.result.form = "object";
            this.state = S.ObjExpectKey;
            i++;
          } else {
            throw new NotChromeJsonError(
              `expected '[' or '{' at the start of a Chrome JSON trace, found ${describeByte(b)}`,
            );
          }
          break;
        }
        case S.ObjExpectKey: {
          const b = chunk[i] as number;
          if (b === QUOTE) {
            this.key = [];
            this.escape = false;
            this.state = S.ObjKey;
          } else if (b === RBRACE) {
            this.state = S.Done;
          } else if (!(b === COMMA || isWs(b))) {
            throw new NotChromeJsonError(`expected a key in the trace object, found ${describeByte(b)}`);
          }
          i++;
          break;
        }
        case S.ObjKey: {
          const b = chunk[i] as number;
          i++;
          if (this.escape) {
            this.escape = false;
            this.key.push(b);
          } else if (b === BACKSLASH) this.escape = true;
          else if (b === QUOTE) this.state = S.ObjColon;
          else if (this.key.length < 256) this.key.push(b);
          break;
        }
        case S.ObjColon: {
          const b = chunk[i] as number;
          if (b === COLON) this.state = S.ObjValueStart;
          else if (!isWs(b)) {
            throw new NotChromeJsonError(`expected ':' after a key, found ${describeByte(b)}`);
          }
          i++;
          break;
        }
        case S.ObjValueStart: {
          const b = chunk[i] as number;
          if (isWs(b)) {
            i++;
            break;
          }
          const key = new TextDecoder().decode(new Uint8Array(this.key));
          if (key === "traceEvents" && b === LBRACKET) {
            this.result.sawEventArray = true;
            this.state = S.Arr;
            i++;
          } else if (key === "metadata" || key === "displayTimeUnit") {
            this.beginValue(key, []);
          } else {
            this.result.skippedKeys.push(key);
            this.beginValue(key, null);
          }
          break;
        }
        case S.Done: {
          const b = chunk[i] as number;
          if (!isWs(b)) this.result.trailingBytes++;
          i++;
          break;
        }
      }
    }
  }

  /** Ends the input, flushes the last batch and returns what was seen. */
  end(): FramerResult {
    switch (this.state) {
      case S.Start:
        throw new NotChromeJsonError("the input is empty");
      case S.Elem:
      case S.SkipElem:
        if (this.state === S.Elem) this.outLen = this.outElemStart;
        this.result.truncatedEvents = 1;
        this.result.unterminatedArray = true;
        if (this.form === "object") this.result.unterminatedObject = true;
        break;
      case S.Arr:
        this.result.unterminatedArray = true;
        if (this.form === "object") this.result.unterminatedObject = true;
        break;
      case S.Done:
        break;
      case S.Value:
        if (this.valueIsScalar && this.form === "object") {
          this.endValue();
        }
        this.result.unterminatedObject = this.form === "object";
        break;
      default:
        this.result.unterminatedObject = this.form === "object";
    }
    this.flush();
    return this.result;
  }

  private beginValue(key: string, capture: number[] | null): void {
    this.state = S.Value;
    this.valueKey = key;
    this.valueCapture = capture;
    this.depth = 0;
    this.inString = false;
    this.escape = false;
    this.valueIsScalar = false;
  }

  /** Scans a generic JSON value (object, array, string or scalar), capturing it if asked. */
  private scanValue(chunk: Uint8Array, start: number): number {
    const n = chunk.length;
    let i = start;
    let depth = this.depth;
    let inString = this.inString;
    let esc = this.escape;
    let done = false;
    for (; i < n; i++) {
      const b = chunk[i] as number;
      if (inString) {
        if (esc) esc = false;
        else if (b === BACKSLASH) esc = true;
        else if (b === QUOTE) {
          inString = false;
          if (depth === 0) {
            i++;
            done = true;
            this.capture(chunk, start, i);
            break;
          }
        }
        continue;
      }
      if (b === QUOTE) inString = true;
      else if (b === LBRACE || b === LBRACKET) depth++;
      else if (b === RBRACE || b === RBRACKET) {
        if (depth === 0) {
          // End of a scalar value at the closing bracket of the container: do not consume it.
          done = true;
          this.capture(chunk, start, i);
          break;
        }
        if (--depth === 0) {
          i++;
          done = true;
          this.capture(chunk, start, i);
          break;
        }
      } else if (depth === 0 && b === COMMA) {
        done = true;
        this.capture(chunk, start, i);
        break;
      } else if (depth === 0 && !isWs(b)) this.valueIsScalar = true;
    }
    this.depth = depth;
    this.inString = inString;
    this.escape = esc;
    if (done) this.endValue();
    else this.capture(chunk, start, n);
    return i;
  }

  private capture(chunk: Uint8Array, from: number, to: number): void {
    const c = this.valueCapture;
    if (c === null) return;
    if (c.length + (to - from) > MAX_METADATA_BYTES) {
      this.valueCapture = null;
      return;
    }
    for (let k = from; k < to; k++) c.push(chunk[k] as number);
  }

  private endValue(): void {
    const c = this.valueCapture;
    if (c !== null) {
      const text = new TextDecoder().decode(new Uint8Array(c)).trim();
      if (this.valueKey === "metadata") this.result.metadataJson = text;
      else if (this.valueKey === "displayTimeUnit") {
        try {
          const v: unknown = JSON.parse(text);
          this.result.displayTimeUnit = typeof v === "string" ? v : text;
        } catch {
          this.result.displayTimeUnit = text;
        }
      }
    }
    this.valueCapture = null;
    // A top-level value of the object form has a key; an array element has none.
    this.state = this.valueKey !== "" ? S.ObjExpectKey : S.Arr;
  }

  /**
   * Line mode: takes the whole lines from `start` (just after a newline, between elements) that
   * pass the cheap test as events, without scanning them (see the file comment).
   * @returns where byte-wise framing goes on: the first line that does not pass, or the end of
   *   the chunk (the last, incomplete line is always framed byte-wise).
   */
  private rawRun(chunk: Uint8Array, start: number): number {
    const n = chunk.length;
    let s = start;
    let first = true;
    // The lines after the first of a run are copied as they are, newlines included, with one
    // `set` per run: [runFrom, s) of the chunk, not yet in the output.
    let runFrom = -1;
    while (s < n && chunk[s] === LBRACE) {
      const e = chunk.indexOf(NL, s);
      if (e < 0) break;
      // One search for carriage returns per chunk (rather than per line).
      if (this.nextCr !== -1 && this.nextCr < s) this.nextCr = chunk.indexOf(CR, s);
      if (this.nextCr !== -1 && this.nextCr < e) break;
      let last = e - 1;
      if (chunk[last] === COMMA) last--;
      // (An event near the size limit is left to the byte scan, which counts the limit with
      // the seq prefix.)
      if (last <= s || chunk[last] !== RBRACE || last - s + 32 > this.maxEventBytes) break;
      if (first) {
        this.outElemStart = this.outLen;
        this.writeSeqPrefix();
        this.append(chunk, s + 1, last + 1);
        this.fixEmptyObject();
        this.appendByte(NL);
        first = false;
      } else {
        // A line starting with our own key would pass for a prefixed one.
        if (startsWithSeqKey(chunk, s)) break;
        if (runFrom < 0) runFrom = s;
      }
      this.outEvents++;
      this.result.events++;
      this.seq++;
      s = e + 1;
      if (this.outLen + (runFrom < 0 ? 0 : s - runFrom) >= this.batchBytes) {
        if (runFrom >= 0) this.appendRun(chunk, runFrom, s);
        runFrom = -1;
        this.flush();
        first = true;
      }
    }
    if (runFrom >= 0) this.appendRun(chunk, runFrom, s);
    return s;
  }

  /** Completes the element: fixes `{"__seq":N,}` for an empty object, ends the line. */
  private finishElement(): void {
    this.fixEmptyObject();
    this.appendByte(NL);
    this.outEvents++;
    this.result.events++;
    this.seq++;
  }
}

/** Whether `b[s..]` starts with `{"__seq"`. */
function startsWithSeqKey(b: Uint8Array, s: number): boolean {
  for (let k = 0; k < SEQ_KEY_BYTES.length; k++) if (b[s + k] !== SEQ_KEY_BYTES[k]) return false;
  return true;
}
const SEQ_KEY_BYTES = new TextEncoder().encode(`{"${SEQ_KEY}"`);

function describeByte(b: number): string {
  if (b >= 0x20 && b < 0x7f) return `'${String.fromCharCode(b)}'`;
  return `byte 0x${b.toString(16).padStart(2, "0")}`;
}
