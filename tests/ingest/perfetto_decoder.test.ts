/**
 * The Perfetto decoder's fast paths, in process (rows caught at the sink), on hand-made traces
 * written by the independent tests/ingest/pb.ts: category iids packed and unpacked, mixed and
 * varying in number from event to event (scratch state reused between events); 64-bit values on
 * both sides of 2^53 (timestamps, iids, debug annotation ints) where the reader switches from
 * numbers to 32-bit halves; one-byte and longer tags and lengths; a trace split into 1-byte
 * chunks. Expected values come from the test's own construction (BigInt arithmetic).
 */
import { describe, expect, test } from "bun:test";
import { type RawRow, RawRowSink, type RowStream } from "../../lib/ingest/blocks/raw_rows.ts";
import { PerfettoImporter } from "../../lib/ingest/perfetto/importer.ts";
import { type PbField, trace } from "./pb.ts";

/** Rows as the sink receives them (time as decimal text). */
class CatchSink extends RawRowSink {
  rows: { stream: string; ph: string; time: string; name: unknown; cat: unknown; args: unknown }[] = [];
  override addTo(st: RowStream, r: RawRow): void {
    // The UTF-8 handed with a name/category must be its encoding.
    if (r.nameUtf8 != null) expect(new TextDecoder().decode(r.nameUtf8)).toBe(r.name as string);
    if (r.catUtf8 != null) expect(new TextDecoder().decode(r.catUtf8)).toBe(r.cat as string);
    this.rows.push({
      stream: `${st.pid}/${st.tid}/${st.dest}`,
      ph: r.ph,
      time: String(r.time),
      name: r.name ?? null,
      cat: r.cat ?? null,
      args:
        r.argsUtf8 != null
          ? JSON.parse(new TextDecoder().decode(r.argsUtf8.subarray(0, r.argsUtf8End)))
          : r.args
            ? JSON.parse(r.args)
            : null,
    });
  }
  override flush(): void {}
}

function packedVarints(vals: bigint[]): Uint8Array {
  const out: number[] = [];
  for (let v of vals) {
    while (v >= 0x80n) {
      out.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    out.push(Number(v));
  }
  return new Uint8Array(out);
}

function run(bytes: Uint8Array, chunk = bytes.length): CatchSink {
  const sink = new CatchSink("/nonexistent");
  const imp = new PerfettoImporter(sink, "test.pftrace");
  for (let p = 0; p < bytes.length; p += chunk) imp.push(bytes.subarray(p, Math.min(p + chunk, bytes.length)));
  imp.end();
  return sink;
}

const TWO53 = 2n ** 53n;
const BIG_IID = TWO53 + 5n; // an iid above 2^53 (a string key)
const SEQ = 7;

function setup(): PbField[][] {
  return [
    [
      [
        60,
        [
          [1, 10n],
          [
            4,
            [
              [1, 100n],
              [2, 101n],
            ],
          ],
        ],
      ],
    ],
    [
      [10, SEQ],
      [13, 1], // SEQ_INCREMENTAL_STATE_CLEARED
      [
        12,
        [
          [
            1,
            [
              [1, 1n],
              [2, "a"],
            ],
          ],
          [
            1,
            [
              [1, 2n],
              [2, "b"],
            ],
          ],
          [
            1,
            [
              [1, 300n],
              [2, "c"],
            ],
          ], // a two-byte iid
          [
            2,
            [
              [1, 1n],
              [2, "Run"],
            ],
          ],
          [
            2,
            [
              [1, BIG_IID],
              [2, "Big€"],
            ],
          ],
          [
            2,
            [
              [1, TWO53 - 1n],
              [2, "Edge"],
            ],
          ],
          [
            3,
            [
              [1, 1n],
              [2, "n"],
            ],
          ],
        ],
      ],
    ],
  ];
}

function event(ts: bigint, fields: PbField[]): PbField[] {
  return [
    [8, ts],
    [10, SEQ],
    [13, 2], // SEQ_NEEDS_INCREMENTAL_STATE
    [11, [[9, 3], [11, 10n], ...fields]],
  ];
}

describe("Perfetto decoder fast paths", () => {
  test("category iids packed, unpacked and mixed, varying from event to event", () => {
    const cases: [PbField[], string | null][] = [
      [[[3, packedVarints([1n, 2n])]], "a,b"],
      [[[3, 300n]], "c"],
      [[[3, packedVarints([2n])]], "b"],
      [
        [
          [3, 300n],
          [3, 1n],
        ],
        "c,a",
      ],
      [
        [
          [3, 1n],
          [3, packedVarints([2n, 300n, 1n])],
        ],
        "a,b,c,a",
      ],
      [[], null],
      [[[3, packedVarints([300n, 300n, 300n, 300n])]], "c,c,c,c"],
      [[[3, 2n]], "b"],
      [
        [
          [3, packedVarints([1n])],
          [3, 2n],
          [3, packedVarints([300n])],
        ],
        "a,b,c",
      ],
    ];
    const packets = setup();
    cases.forEach(([f], i) => {
      packets.push(event(BigInt(1000 + i), [[10, 1n], ...f]));
    });
    const bytes = trace(packets);
    for (const chunk of [bytes.length, 1, 7]) {
      const rows = run(bytes, chunk).rows;
      expect(rows.map((r) => r.cat)).toEqual(cases.map((c) => c[1]));
      expect(rows.every((r) => r.ph === "i" && r.name === "Run" && r.stream === "100/101/log")).toBe(true);
    }
  });

  test("64-bit values on both sides of 2^53: timestamps, name iids, debug annotation ints", () => {
    const times = [0n, 127n, 128n, TWO53 - 1n, TWO53, TWO53 + 1n, 2n ** 62n + 3n];
    const ints: bigint[] = [0n, -1n, TWO53 - 1n, -(TWO53 - 1n), TWO53, -TWO53 - 2n, 2n ** 63n - 1n, -(2n ** 63n)];
    const uints: bigint[] = [TWO53 - 1n, TWO53, 2n ** 64n - 1n];
    const packets = setup();
    times.forEach((t, i) => {
      packets.push(event(t, [[10, i % 2 === 0 ? BIG_IID : TWO53 - 1n]]));
    });
    for (const v of ints) {
      packets.push(
        event(5n, [
          [
            4,
            [
              [1, 1n],
              [4, BigInt.asUintN(64, v)],
            ],
          ],
        ]),
      );
    }
    for (const v of uints) {
      packets.push(
        event(6n, [
          [
            4,
            [
              [1, 1n],
              [3, v],
            ],
          ],
        ]),
      );
    }
    const rows = run(trace(packets)).rows;
    const safe = (v: bigint) => v >= -(TWO53 - 1n) && v <= TWO53 - 1n;
    expect(rows.slice(0, times.length).map((r) => [r.time, r.name])).toEqual(
      times.map((t, i) => [String(t), i % 2 === 0 ? "Big€" : "Edge"]),
    );
    expect(rows.slice(times.length).map((r) => r.args)).toEqual([
      ...ints.map((v) => ({ n: safe(v) ? Number(v) : String(v) })),
      ...uints.map((v) => ({ n: safe(v) ? Number(v) : String(v) })),
    ]);
  });
});
