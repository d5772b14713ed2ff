import { describe, expect, test } from "bun:test";
import { ChromeJsonFramer, type FramerResult, NotChromeJsonError, SEQ_KEY } from "../../lib/ingest/chrome/framer.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Frames `text` split into chunks of `chunk` bytes; returns the parsed lines and the result. */
function frame(text: string, chunk = 1 << 20, batchBytes = 1 << 20, maxEvent = 1 << 20) {
  const lines: string[] = [];
  let batches = 0;
  const f = new ChromeJsonFramer(
    (b, n) => {
      batches++;
      const ls = dec.decode(b).split("\n");
      expect(ls.pop()).toBe("");
      expect(ls.length).toBe(n);
      lines.push(...ls);
    },
    batchBytes,
    maxEvent,
  );
  const bytes = enc.encode(text);
  for (let i = 0; i < bytes.length; i += chunk) f.push(bytes.slice(i, i + chunk));
  const result: FramerResult = f.end();
  const events = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  return { events, result, batches, lines };
}

/** Removes the injected seq key. */
function strip(e: Record<string, unknown>): Record<string, unknown> {
  const { [SEQ_KEY]: _, ...rest } = e;
  return rest;
}

const sample: Record<string, unknown>[] = [
  { name: "a", ph: "B", ts: 1, pid: 1, tid: 2, args: { s: 'x"}]{[\\' } },
  { name: "b\u00e9\u4e2d", ph: "X", ts: 1.5, dur: 2, pid: 1, tid: 2, args: { nested: [1, { a: [] }] } },
  { name: "c", ph: "E", ts: 3, pid: 1, tid: 2 },
];

describe("ChromeJsonFramer", () => {
  test("array form: every event comes out as one parseable line equal to the input event", () => {
    const { events, result } = frame(JSON.stringify(sample));
    expect(result.form).toBe("array");
    expect(events.map(strip)).toEqual(sample);
    expect(events.map((e) => e[SEQ_KEY])).toEqual([0, 1, 2]);
    expect(result.unterminatedArray).toBe(false);
  });

  test("object form: traceEvents, metadata captured, other keys skipped and named", () => {
    const text = JSON.stringify({
      displayTimeUnit: "ns",
      otherData: { x: [1, 2, "]"] },
      traceEvents: sample,
      systemTraceEvents: "huge ftrace text with ] and } inside",
      metadata: { "clock-domain": "LINUX_CLOCK_MONOTONIC", command_line: "chrome --x" },
    });
    const { events, result } = frame(text);
    expect(result.form).toBe("object");
    expect(events.map(strip)).toEqual(sample);
    expect(result.displayTimeUnit).toBe("ns");
    expect(JSON.parse(result.metadataJson ?? "null")).toEqual({
      "clock-domain": "LINUX_CLOCK_MONOTONIC",
      command_line: "chrome --x",
    });
    expect(result.skippedKeys).toEqual(["otherData", "systemTraceEvents"]);
    expect(result.unterminatedObject).toBe(false);
  });

  test("splitting the input at every byte position gives the same events", () => {
    const text = JSON.stringify({ traceEvents: sample, metadata: { a: '\\\\"' } });
    const whole = frame(text);
    for (const chunk of [1, 2, 3, 5, 7, 13]) {
      const split = frame(text, chunk);
      expect(split.lines).toEqual(whole.lines);
      expect(split.result.metadataJson).toBe(whole.result.metadataJson);
    }
  });

  test("escaped backslash before a closing quote at a chunk boundary", () => {
    const ev = { name: "x\\", ph: "i", ts: 1, pid: 1 };
    const text = JSON.stringify([ev, ev]);
    for (let c = 1; c < text.length; c++) {
      expect(frame(text, c).events.map(strip)).toEqual([ev, ev]);
    }
  });

  test("unterminated array (Chrome cut short) is accepted; a partial last event is dropped and counted", () => {
    const full = JSON.stringify(sample);
    const cut = `${full.slice(0, full.lastIndexOf("{"))}{"name":"partial","ph":"X","ts":`;
    const { events, result } = frame(cut);
    expect(events.map(strip)).toEqual(sample.slice(0, 2));
    expect(result.truncatedEvents).toBe(1);
    expect(result.unterminatedArray).toBe(true);
    const noClose = frame(`${full.slice(0, -1)},\n`);
    expect(noClose.events.map(strip)).toEqual(sample);
    expect(noClose.result.unterminatedArray).toBe(true);
    expect(noClose.result.truncatedEvents).toBe(0);
  });

  test("pretty-printed events and raw line breaks in strings stay one line each", () => {
    const text = JSON.stringify(sample, null, 2).replace('"a"', '"a\nb"');
    const { events, lines } = frame(text);
    expect(lines.length).toBe(3);
    expect(events[0]?.name).toBe("a b");
    expect(events.slice(1).map(strip)).toEqual(sample.slice(1));
  });

  test("empty objects, non-object elements and trailing commas", () => {
    const { events, result } = frame('[{}, 1, "s", [1,{}], null, { } , {"ph":"X"},]');
    expect(events).toEqual([{ [SEQ_KEY]: 0 }, { [SEQ_KEY]: 5 }, { [SEQ_KEY]: 6, ph: "X" }]);
    expect(result.nonObjectElements).toBe(4);
  });

  test("events over the size limit are skipped and counted; the rest survive", () => {
    const big = { name: "x".repeat(5000), ph: "X" };
    const text = JSON.stringify([sample[0], big, sample[2]]);
    for (const chunk of [1 << 20, 100]) {
      const { events, result } = frame(text, chunk, 1 << 20, 1000);
      expect(events.map(strip)).toEqual(sample.filter((_, i) => i !== 1));
      expect(result.oversizedEvents).toBe(1);
    }
  });

  test("batches split at event boundaries and keep every event", () => {
    const many = Array.from({ length: 500 }, (_, i) => ({ name: `e${i}`, ph: "i", ts: i, pid: 1 }));
    const { events, batches } = frame(JSON.stringify(many), 333, 1000);
    expect(batches).toBeGreaterThan(10);
    expect(events.map(strip)).toEqual(many);
    expect(events.map((e) => e[SEQ_KEY])).toEqual(many.map((_, i) => i));
  });

  test("a UTF-8 BOM is skipped", () => {
    const { events } = frame(`\ufeff${JSON.stringify(sample)}`);
    expect(events.length).toBe(3);
  });

  test("input that is not a JSON container is rejected; empty input too", () => {
    expect(() => frame("hello")).toThrow(NotChromeJsonError);
    expect(() => frame("")).toThrow(NotChromeJsonError);
    expect(() => frame("  \n ")).toThrow(NotChromeJsonError);
  });
});

describe("stray closing braces and mutated input", () => {
  test("a stray `}` in the array form is skipped as a non-object element (it used to hang the framer)", () => {
    const { events, result } = frame('[{"ph":"i","name":"a"}},{"ph":"i","name":"b"}]');
    expect(events.map((e) => e.name)).toEqual(["a", "b"]);
    expect(events.map((e) => e[SEQ_KEY])).toEqual([0, 2]);
    expect(result.nonObjectElements).toBe(1);
  });

  test("a stray `}` in the object form closes the trace object, the array unterminated", () => {
    const { events, result } = frame('{"traceEvents":[{"ph":"i","name":"a"}}');
    expect(events.map((e) => e.name)).toEqual(["a"]);
    expect(result.unterminatedArray).toBe(true);
    expect(result.unterminatedObject).toBe(false);
  });

  test("2,000 random byte mutations of a trace: the framer always ends (in both modes) or throws NotChromeJsonError", () => {
    const base = enc.encode(
      `{"traceEvents":[\n${Array.from({ length: 20 }, (_, i) => `{"ph":"X","pid":1,"tid":${i % 3},"ts":${i},"dur":1,"name":"n${i}","args":{"a":[1,{"b":"}"}]}}`).join(",\n")}\n],"metadata":{"x":1}}`,
    );
    const alphabet = enc.encode('{}[]",:\\\n\r x1');
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    let ended = 0;
    for (let k = 0; k < 2000; k++) {
      const b = base.slice();
      for (let m = 0; m < 1 + rand(4); m++) b[rand(b.length)] = alphabet[rand(alphabet.length)] as number;
      for (const rawLines of [false, true]) {
        const f = new ChromeJsonFramer(() => {}, 4096, 1 << 20, rawLines);
        try {
          for (let i = 0; i < b.length; i += 97) f.push(b.slice(i, i + 97));
          f.end();
        } catch (e) {
          expect(e).toBeInstanceOf(NotChromeJsonError);
        }
        ended++;
      }
    }
    expect(ended).toBe(4000);
  });
});
