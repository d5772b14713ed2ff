/**
 * Debug annotations → args JSON (lib/ingest/perfetto/args.ts), in process: annotations written
 * by the independent tests/ingest/pb.ts, the expected JSON text written by hand here (what
 * `JSON.stringify` gives for the object trace_processor's args would make: keys in order, values
 * by type, ECMA-262's escapes). Each case also checks that the bytes `fill` writes are the text of
 * `argsText` (the object-and-stringify rule it replaces), and the cases a JavaScript object
 * reorders or merges (array-index keys, `__proto__`, a key twice, nameless dict entries) take
 * that rule, with the interned ids it could not find counted once.
 */
import { describe, expect, test } from "bun:test";
import { type RawRow, resetRow, wellFormedJson } from "../../lib/ingest/blocks/raw_rows.ts";
import { ArgsBuilder } from "../../lib/ingest/perfetto/args.ts";
import { type SeqState, Sequences, type SourceLoc } from "../../lib/ingest/perfetto/sequence.ts";
import { ReaderPool } from "../../lib/perfetto/wire_reader.ts";
import { encode, type PbField } from "./pb.ts";

// DebugAnnotation field numbers (Perfetto's debug_annotation.proto).
const NAME_IID = 1;
const BOOL = 2;
const UINT = 3;
const INT = 4;
const DOUBLE = 5;
const STRING = 6;
const POINTER = 7;
const LEGACY_JSON = 9;
const NAME = 10;
const DICT = 11;
const ARRAY = 12;
const PROTO = 14;
const STRING_IID = 17;

/** Annotations as they sit in a TrackEvent: their encodings back to back, and their bounds. */
function annotations(list: PbField[][]): { buf: Uint8Array; bounds: number[] } {
  const parts = list.map((a) => encode(a));
  const buf = new Uint8Array(parts.reduce((n, p) => n + p.length + 3, 0));
  const bounds: number[] = [];
  let p = 3; // not at 0: offsets must be honoured
  for (const part of parts) {
    buf.set(part, p);
    bounds.push(p, p + part.length);
    p += part.length + 3;
  }
  return { buf, bounds };
}

/** A builder over a sequence with interned debug names 1 = "k", 2 = "arg0" and string 5 = `v"q`. */
function setup(): { args: ArgsBuilder; seqs: Sequences; seq: SeqState } {
  const pool = new ReaderPool();
  const seqs = new Sequences(pool);
  const seq = seqs.get(1);
  seq.debugNames.set(1, { text: "k", json: null });
  seq.debugNames.set(2, { text: "arg0", json: null });
  seq.debugStrings.set(5, { text: 'v"q', json: null });
  return { args: new ArgsBuilder(seqs, pool), seqs, seq };
}

interface Made {
  /** The row's args text as RawRowSink writes it. */
  text: string | null;
  /** Whether `fill` wrote bytes (else it set the text from argsText). */
  bytes: boolean;
  unresolved: number;
}

function make(list: PbField[][], loc: SourceLoc | null = null): Made {
  const { args, seqs, seq } = setup();
  const { buf, bounds } = annotations(list);
  const row: RawRow = resetRow(null, 0, "X", 0);
  args.fill(row, seq, buf, bounds, loc);
  const unresolved = seqs.unresolved;
  let text: string | null;
  if (row.argsUtf8 != null) {
    text = new TextDecoder().decode(row.argsUtf8.subarray(0, row.argsUtf8End));
    // The rule the bytes follow, from a second builder (its own lookups).
    const again = setup();
    const rule = again.args.argsText(again.seq, buf, bounds, loc);
    expect(text).toBe(rule === null ? "" : wellFormedJson(rule));
  } else text = row.args == null ? null : wellFormedJson(row.args);
  return { text, bytes: row.argsUtf8 != null, unresolved };
}

describe("Perfetto debug annotations → args JSON", () => {
  test("scalars: ints, doubles, bools, 64-bit values beyond 2^53, pointers, proto values, interned strings", () => {
    const m = make([
      [
        [NAME_IID, 1n],
        [INT, -5n],
      ],
      [
        [NAME, "big"],
        [UINT, 18446744073709551615n],
      ],
      [
        [NAME, "neg"],
        [INT, -9007199254740993n],
      ],
      [
        [NAME, "half"],
        [DOUBLE, { dbl: 1.5 }],
      ],
      [
        [NAME, "nan"],
        [DOUBLE, { dbl: Number.NaN }],
      ],
      [
        [NAME, "negzero"],
        [DOUBLE, { dbl: -0 }],
      ],
      [
        [NAME, "huge"],
        [DOUBLE, { dbl: 1e21 }],
      ],
      [
        [NAME, "int32max"],
        [INT, 2147483648n],
      ],
      [
        [NAME, "yes"],
        [BOOL, 1],
      ],
      [
        [NAME, "p"],
        [POINTER, 0xdeadbeefn],
      ],
      [
        [NAME, "pb"],
        [PROTO, new Uint8Array([1, 2, 3])],
      ],
      [
        [NAME, "is"],
        [STRING_IID, 5n],
      ],
      [[NAME, "none"]],
    ]);
    expect(m.bytes).toBe(true);
    expect(m.text).toBe(
      '{"k":-5,"big":"18446744073709551615","neg":"-9007199254740993","half":1.5,"nan":null,"negzero":0,' +
        '"huge":1e+21,"int32max":2147483648,"yes":true,"p":"0xdeadbeef","pb":"<proto 3 bytes>","is":"v\\"q","none":null}',
    );
  });

  test("strings: JSON escapes, non-ASCII text, invalid UTF-8 as U+FFFD, a key that needs escapes", () => {
    const m = make([
      [
        [NAME, "s"],
        [STRING, 'a"b\\c\n\t\b\f\r\u0001\u001f\u007f/'],
      ],
      [
        [NAME, "uni"],
        [STRING, "é€😀"],
      ],
      [
        [NAME, "bad"],
        [STRING, new Uint8Array([0x61, 0xff, 0x62])],
      ],
      [
        [NAME, 'q"uote'],
        [STRING, ""],
      ],
    ]);
    expect(m.bytes).toBe(true);
    expect(m.text).toBe(
      '{"s":"a\\"b\\\\c\\n\\t\\b\\f\\r\\u0001\\u001f\u007f/","uni":"é€😀","bad":"a\ufffdb","q\\"uote":""}',
    );
  });

  test("dicts and arrays nest; nesting beyond 32 levels is dropped", () => {
    const m = make([
      [
        [NAME, "d"],
        [
          DICT,
          [
            [NAME, "x"],
            [INT, 1n],
          ],
        ],
        [
          DICT,
          [
            [NAME, "y"],
            [ARRAY, [[INT, 1n]]],
            [ARRAY, [[STRING, "s"]]],
            [
              ARRAY,
              [
                [
                  DICT,
                  [
                    [NAME, "z"],
                    [BOOL, 0],
                  ],
                ],
              ],
            ],
          ],
        ],
      ],
    ]);
    expect(m).toEqual({ text: '{"d":{"x":1,"y":[1,"s",{"z":false}]}}', bytes: true, unresolved: 0 });

    let deep: PbField[] = [
      [NAME, "n"],
      [INT, 7n],
    ];
    for (let i = 0; i < 40; i++) deep = [[NAME, "n"], [DICT, deep] as PbField];
    const d = make([deep]);
    expect(d.text).toBe(`${'{"n":'.repeat(33)}null${"}".repeat(33)}`);
  });

  test("legacy JSON values: written as JSON.stringify writes them, a lone surrogate as U+FFFD; text that does not parse as a string", () => {
    const m = make([
      [
        [NAME, "j"],
        [LEGACY_JSON, '{ "b" : [1, 2.50, 1e2], "a": "\\ud800" }'],
      ],
      [
        [NAME, "t"],
        [LEGACY_JSON, "not json"],
      ],
    ]);
    expect(m).toEqual({ text: '{"j":{"b":[1,2.5,100],"a":"\\ufffd"},"t":"not json"}', bytes: true, unresolved: 0 });
  });

  test("the source location follows the annotations; alone, it is the args", () => {
    const loc: SourceLoc = { file: "f.cc", line: 7, func: null };
    expect(
      make(
        [
          [
            [NAME_IID, 1n],
            [INT, 1n],
          ],
        ],
        loc,
      ),
    ).toEqual({
      text: '{"k":1,"src_file":"f.cc","src_line":7}',
      bytes: true,
      unresolved: 0,
    });
    expect(make([], loc)).toEqual({ text: '{"src_file":"f.cc","src_line":7}', bytes: true, unresolved: 0 });
    expect(make([], null)).toEqual({ text: null, bytes: false, unresolved: 0 });
    // An annotation named as a location key: the location's value, in the annotation's place.
    expect(
      make(
        [
          [
            [NAME, "src_line"],
            [INT, 99n],
          ],
        ],
        loc,
      ),
    ).toEqual({
      text: '{"src_line":7,"src_file":"f.cc"}',
      bytes: false,
      unresolved: 0,
    });
  });

  test("nameless annotations are arg<n>; keys an object would reorder or merge follow the object", () => {
    // Nameless: arg<number of keys so far>; an unresolved name iid is nameless too, counted once.
    expect(
      make([
        [[INT, 1n]],
        [
          [NAME_IID, 99n],
          [INT, 2n],
        ],
        [
          [NAME, "x"],
          [INT, 3n],
        ],
      ]),
    ).toEqual({
      text: '{"arg0":1,"arg1":2,"x":3}',
      bytes: true,
      unresolved: 1,
    });
    // A key twice (a nameless one named like a later one): the last value, in the first place.
    expect(
      make([
        [
          [NAME_IID, 99n],
          [INT, 1n],
        ],
        [
          [NAME_IID, 2n],
          [INT, 2n],
        ],
        [
          [NAME, "k"],
          [INT, 3n],
        ],
      ]),
    ).toEqual({
      text: '{"arg0":2,"k":3}',
      bytes: false,
      unresolved: 1,
    });
    // Array-index keys come first, in numeric order.
    expect(
      make([
        [
          [NAME, "b"],
          [INT, 1n],
        ],
        [
          [NAME, "10"],
          [INT, 2n],
        ],
        [
          [NAME, "2"],
          [INT, 3n],
        ],
      ]),
    ).toEqual({
      text: '{"2":3,"10":2,"b":1}',
      bytes: false,
      unresolved: 0,
    });
    // Setting __proto__ to a number adds no key.
    expect(
      make([
        [
          [NAME, "__proto__"],
          [INT, 1n],
        ],
        [
          [NAME, "a"],
          [INT, 2n],
        ],
      ]),
    ).toEqual({
      text: '{"a":2}',
      bytes: false,
      unresolved: 0,
    });
    // A nameless dict entry is named by its index.
    expect(
      make([
        [
          [NAME, "d"],
          [
            DICT,
            [
              [NAME, "a"],
              [INT, 2n],
            ],
          ],
          [DICT, [[INT, 1n]]],
        ],
      ]),
    ).toEqual({ text: '{"d":{"1":1,"a":2}}', bytes: false, unresolved: 0 });
    // A dict beside an array: the dict.
    expect(
      make([
        [
          [NAME, "m"],
          [ARRAY, [[INT, 1n]]],
          [
            DICT,
            [
              [NAME, "a"],
              [INT, 2n],
            ] as PbField[],
          ],
        ],
      ]),
    ).toEqual({
      text: '{"m":{"a":2}}',
      bytes: false,
      unresolved: 0,
    });
  });
});
