/**
 * Perfetto protobuf ingest: hand-made traces whose expected rows are written out here (interning
 * across incremental-state resets, defaults, clock 64 deltas, counters, logs, flows, dropped
 * packets), bad inputs, and the real Chromium trace against an independent decode of it and
 * against the Chromium JSON of a comparable run.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { deflateSync, gunzipSync, gzipSync } from "node:zlib";
import { cli, ROOT, snapshot, tempDir } from "../helpers.ts";
import { decode, type PbField, trace } from "./pb.ts";

const SAMPLES = join(ROOT, "fixtures");
const T = 120_000;

// Tracks.
const PROC = 1;
const THREAD = 2;
const ASYNC = 3;
const HEAP = 4;
const TTIME = 5;
// TrackEvent types.
const BEGIN = 1;
const END = 2;
const INSTANT = 3;
const COUNTER = 4;

/** A packet on sequence `seq` with `fields`. */
const pkt = (seq: number, ...fields: PbField[]): PbField[] => [[10, seq], ...fields];
const ev = (ts: number, ...fields: PbField[]): PbField[] => [
  [8, ts],
  [11, fields],
];
const snapshotAt = (boot: number, clock64Units: number): PbField => [
  6,
  [
    [
      1,
      [
        [1, 6],
        [2, boot],
      ],
    ],
    [
      1,
      [
        [1, 64],
        [2, clock64Units],
        [3, 1],
        [4, 1000],
      ],
    ],
  ],
];
const defaults: PbField = [
  59,
  [
    [58, 64],
    [
      11,
      [
        [11, THREAD],
        [31, TTIME],
      ],
    ],
  ],
];

/** The hand-made trace. Clock 64 counts µs as deltas; BOOTTIME 5,000,000 ns ↔ clock 64 1000 µs. */
function handMade(): Uint8Array {
  return trace([
    // Descriptors (no sequence needed).
    [
      [
        60,
        [
          [1, PROC],
          [
            3,
            [
              [1, 10],
              [6, "proc ../../etc'; DROP TABLE processes"],
            ],
          ],
        ],
      ],
    ],
    [
      [
        60,
        [
          [1, THREAD],
          [
            4,
            [
              [1, 10],
              [2, 11],
              [5, "main"],
            ],
          ],
        ],
      ],
    ],
    [
      [
        60,
        [
          [1, ASYNC],
          [5, PROC],
          [2, "requests"],
        ],
      ],
    ],
    [
      [
        60,
        [
          [1, HEAP],
          [5, PROC],
          [2, "heap"],
          [8, [[3, 3]]],
        ],
      ],
    ],
    [
      [
        60,
        [
          [1, TTIME],
          [5, THREAD],
          [2, "thread_time"],
          [
            8,
            [
              [1, 1],
              [4, 1000],
              [5, 1],
            ],
          ],
        ],
      ],
    ],
    // An unknown packet type: counted, not fatal.
    [[33, [[1, 5]]]],
    // Sequence 2 never clears its state: a packet needing it is dropped.
    pkt(2, [13, 2], ...ev(5_000_000, [9, BEGIN], [11, THREAD], [23, "dropped"])),
    // Sequence 1: state cleared, interned data, defaults and clock snapshot.
    pkt(
      1,
      [13, 3],
      [87, 1],
      [
        12,
        [
          [
            2,
            [
              [1, 1],
              [2, "outer"],
            ],
          ],
          [
            2,
            [
              [1, 2],
              [2, "inner"],
            ],
          ],
          [
            1,
            [
              [1, 1],
              [2, "cat1"],
            ],
          ],
          [
            3,
            [
              [1, 1],
              [2, "k"],
            ],
          ],
          [
            20,
            [
              [1, 1],
              [2, "hello from the log"],
            ],
          ],
          [
            4,
            [
              [1, 1],
              [2, "src/main.cc"],
              [3, "Run"],
              [4, 77],
            ],
          ],
        ],
      ],
      defaults,
      snapshotAt(5_000_000, 1000),
    ),
    // Timestamps below are deltas of clock 64 (µs), on the default track (THREAD).
    pkt(1, [13, 2], ...ev(10, [9, BEGIN], [10, 1], [3, 1], [12, 3], [47, { f64: 77n }])), // 5,010,000
    pkt(
      1,
      [13, 2],
      ...ev(
        5,
        [9, BEGIN],
        [10, 2],
        [34, 1],
        [
          4,
          [
            [1, 1],
            [4, 42],
          ],
        ],
        [
          4,
          [
            [10, "s"],
            [6, "x"],
          ],
        ],
        [
          4,
          [
            [10, "big"],
            [3, 18446744073709551615n],
          ],
        ],
      ),
    ), // 5,015,000
    pkt(1, [13, 2], ...ev(5, [9, END], [12, 2])), // 5,020,000
    pkt(
      1,
      [13, 2],
      ...ev(
        1,
        [9, INSTANT],
        [
          21,
          [
            [2, 1],
            [3, 5],
          ],
        ],
      ),
    ), // 5,021,000, a WARN log
    pkt(1, [13, 2], ...ev(9, [9, END])), // 5,030,000
    // Async track: explicit track, inline name and category; the END names nothing.
    pkt(1, [13, 2], ...ev(0, [9, BEGIN], [11, ASYNC], [23, "GET /a"], [22, "net"], [48, { f64: 77n }])),
    pkt(1, [13, 2], ...ev(20, [9, END], [11, ASYNC])), // 5,050,000
    // Counters.
    pkt(1, [13, 2], ...ev(0, [9, COUNTER], [11, HEAP], [30, 1024])),
    pkt(1, [13, 2], ...ev(10, [9, COUNTER], [11, HEAP], [44, { dbl: 2048.5 }])), // 5,060,000
    // Data loss on sequence 1: the next packet needing state is dropped.
    pkt(1, [42, 1], [13, 2], ...ev(10, [9, BEGIN], [10, 1])),
    // Reset: iid 1 now means another name; a new snapshot (BOOTTIME 9,000,000 ↔ 2000 µs).
    pkt(
      1,
      [13, 3],
      [
        12,
        [
          [
            2,
            [
              [1, 1],
              [2, "after reset"],
            ],
          ],
        ],
      ],
      defaults,
      snapshotAt(9_000_000, 2000),
    ),
    pkt(1, [13, 2], ...ev(3, [9, BEGIN], [10, 1])), // 9,003,000
    pkt(1, [13, 2], ...ev(4, [9, END])), // 9,007,000
  ]);
}

interface Summary {
  format: string;
  eventsFound: number;
  phases: { ph: string; dest: string; reason: string | null; count: number }[];
}

function query<T>(lake: string, sql: string): T[] {
  const r = cli(lake, ["query", "-f", "json", sql]);
  if (r.code !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as T[];
}

function ingestJson(lake: string, args: string[]): Summary {
  const r = cli(lake, ["ingest", "--json", ...args]);
  if (r.code !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as Summary;
}

describe("Perfetto protobuf: a hand-made trace", () => {
  const dir = tempDir();
  const lake = join(dir, "lake");
  const file = join(dir, "trace.bin");
  writeFileSync(file, gzipSync(handMade()));

  test(
    "sniffed by content (gzip, no extension); drops and unknown packets are counted",
    () => {
      const s = ingestJson(lake, [file]);
      expect(s.format).toBe("perfetto");
      expect(s.eventsFound).toBe(21);
      const skipped = (reason: string): number =>
        s.phases.filter((p) => p.dest === "skipped" && p.reason?.includes(reason)).reduce((n, p) => n + p.count, 0);
      expect(skipped("needs incremental state")).toBe(2);
      expect(s.phases.find((p) => p.ph === "trace_config")?.dest).toBe("skipped");
    },
    T,
  );

  test(
    "thread slices: names interned across a reset, default track, clock 64 deltas, args, source location",
    () => {
      const rows = query<Record<string, unknown>>(
        lake,
        `SELECT name, target, depth, epoch_ns(begin)::VARCHAR AS b, epoch_ns("end")::VARCHAR AS e, thread_name, tid_text AS tid,
           properties::VARCHAR AS props, filename, line FROM thread_spans ORDER BY begin`,
      );
      expect(rows).toEqual([
        {
          name: "outer",
          target: "cat1",
          depth: 0,
          b: "5010000",
          e: "5030000",
          thread_name: "main",
          tid: "11",
          props: null,
          filename: null,
          line: null,
        },
        {
          name: "inner",
          target: null,
          depth: 1,
          b: "5015000",
          e: "5020000",
          thread_name: "main",
          tid: "11",
          props:
            '{"k":42,"s":"x","big":"18446744073709551615","src_file":"src/main.cc","src_line":77,"src_func":"Run"}',
          filename: "src/main.cc",
          line: 77,
        },
        {
          name: "after reset",
          target: null,
          depth: 0,
          b: "9003000",
          e: "9007000",
          thread_name: "main",
          tid: "11",
          props: null,
          filename: null,
          line: null,
        },
      ]);
      // Thread time from the incremental extra counter (3 then +2 units of 1000 ns), and flows.
      const raw = query<Record<string, unknown>>(
        lake,
        `SELECT ph, name, thread_time::INTEGER AS thread_time, bind_id, flow_in, flow_out FROM raw_events
         WHERE ph IN ('B', 'E', 'b', 'e') ORDER BY time, ph`,
      );
      expect(raw.slice(0, 2)).toEqual([
        { ph: "B", name: "outer", thread_time: 3000, bind_id: "77", flow_in: false, flow_out: true },
        { ph: "B", name: "inner", thread_time: null, bind_id: null, flow_in: null, flow_out: null },
      ]);
      expect(raw.find((r) => r.ph === "E" && r.name === "inner")?.thread_time).toBe(5000);
      expect(raw.find((r) => r.ph === "b")).toEqual({
        ph: "b",
        name: "GET /a",
        thread_time: null,
        bind_id: "77",
        flow_in: true,
        flow_out: false,
      });
    },
    T,
  );

  test(
    "async track → async_events; counters → measures; LogMessage → log_entries; process and thread names",
    () => {
      const a = query<Record<string, unknown>>(
        lake,
        `SELECT event_type, name, target, epoch_ns(time)::VARCHAR AS t, anomaly, tid_text AS tid, async_id FROM async_events ORDER BY time`,
      );
      expect(a).toEqual([
        { event_type: "begin", name: "GET /a", target: "net", t: "5030000", anomaly: null, tid: "11", async_id: "3" },
        { event_type: "end", name: "GET /a", target: "net", t: "5050000", anomaly: null, tid: "11", async_id: "3" },
      ]);
      const m = query<Record<string, unknown>>(
        lake,
        "SELECT name, unit, value, epoch_ns(time)::VARCHAR AS t FROM measures ORDER BY time",
      );
      expect(m).toEqual([
        { name: "heap", unit: "bytes", value: 1024, t: "5050000" },
        { name: "heap", unit: "bytes", value: 2048.5, t: "5060000" },
      ]);
      const l = query<Record<string, unknown>>(
        lake,
        "SELECT msg, level, tid_text AS tid, epoch_ns(time)::VARCHAR AS t, properties->>'src_file' AS f FROM log_entries",
      );
      expect(l).toEqual([{ msg: "hello from the log", level: 3, tid: "11", t: "5021000", f: null }]);
      const p = query<Record<string, unknown>>(lake, "SELECT exe, source_pid, trace_format FROM processes");
      expect(p).toEqual([{ exe: "proc ../../etc'; DROP TABLE processes", source_pid: "10", trace_format: "perfetto" }]);
    },
    T,
  );
});

describe("Perfetto protobuf: compressed_packets", () => {
  test(
    "packets inside a zlib-deflated compressed_packets wrapper are imported in order",
    () => {
      const dir = tempDir();
      const lake = join(dir, "lake");
      const inner = trace([
        [
          [
            60,
            [
              [1, 7],
              [
                4,
                [
                  [1, 1],
                  [2, 2],
                  [5, "zipped"],
                ],
              ],
            ],
          ],
        ],
        pkt(3, [13, 3], ...ev(1000, [9, BEGIN], [11, 7], [23, "a"])),
        pkt(3, ...ev(1500, [9, END], [11, 7])),
      ]);
      const file = join(dir, "z.pftrace");
      writeFileSync(file, trace([pkt(3, [50, deflateSync(inner)])]));
      ingestJson(lake, [file]);
      expect(
        query<Record<string, unknown>>(lake, "SELECT name, thread_name, duration::INTEGER AS d FROM thread_spans"),
      ).toEqual([{ name: "a", thread_name: "zipped", d: 500 }]);
    },
    T,
  );
});

describe("Perfetto protobuf: legacy_event (Chrome's JSON phases inside TrackEvent)", () => {
  test(
    "R, X and local-id async b/e become the rows their Chrome JSON phases make",
    () => {
      const dir = tempDir();
      const lake = join(dir, "lake");
      const legacy = (ts: number, name: string, ...fields: PbField[]): PbField[] =>
        pkt(3, ...ev(ts, [11, 7], [23, name], [22, "blink"], [6, fields]));
      const file = join(dir, "legacy.pftrace");
      writeFileSync(
        file,
        trace([
          [
            [
              60,
              [
                [1, 7],
                [
                  4,
                  [
                    [1, 1],
                    [2, 2],
                    [5, "main"],
                  ],
                ],
              ],
            ],
          ],
          pkt(3, [13, 1]),
          legacy(1000, "mark", [2, "R".charCodeAt(0)], [14, 3]),
          legacy(2000, "work", [2, "X".charCodeAt(0)], [3, 5], [4, 2]),
          legacy(3000, "load", [2, "b".charCodeAt(0)], [10, 16]),
          legacy(4000, "load", [2, "e".charCodeAt(0)], [10, 16]),
          legacy(5000, "odd", [2, "V".charCodeAt(0)]),
        ]),
      );
      const s = ingestJson(lake, [file]);
      expect(s.phases.find((p) => p.ph === "legacy V")?.reason).toBe("legacy phase not imported");
      expect(
        query<Record<string, unknown>>(lake, "SELECT msg, target, scope, phase, tid_text AS tid FROM log_entries"),
      ).toEqual([{ msg: "mark", target: "blink", scope: "t", phase: "R", tid: "2" }]);
      expect(
        query<Record<string, unknown>>(
          lake,
          "SELECT name, duration::INTEGER AS d, thread_duration::INTEGER AS td, phase FROM thread_spans",
        ),
      ).toEqual([{ name: "work", d: 5000, td: 2000, phase: "X" }]);
      expect(
        query<Record<string, unknown>>(
          lake,
          "SELECT event_type, name, async_id, id_scope, anomaly FROM async_events ORDER BY time",
        ),
      ).toEqual([
        { event_type: "begin", name: "load", async_id: "0x10", id_scope: "local", anomaly: null },
        { event_type: "end", name: "load", async_id: "0x10", id_scope: "local", anomaly: null },
      ]);
    },
    T,
  );
});

describe("Perfetto protobuf: bad input leaves the lake untouched", () => {
  const dir = tempDir();
  const lake = join(dir, "lake");
  const good = handMade();
  const write = (name: string, b: Uint8Array): string => {
    const p = join(dir, name);
    writeFileSync(p, b);
    return p;
  };
  const cases: [string, () => string, string][] = [
    ["truncated in the middle of a packet", () => write("cut.pftrace", good.subarray(0, good.length - 3)), "truncated"],
    ["truncated, gzip", () => write("cut.pftrace.gz", gzipSync(good.subarray(0, good.length - 3))), "truncated"],
    [
      "a packet with a bad wire type",
      () => write("bad.pftrace", Uint8Array.from([0x0a, 0x02, 0x47, 0x00])),
      "not a valid Perfetto protobuf trace",
    ],
    [
      "a length past any sane size",
      () => write("huge.pftrace", Uint8Array.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f])),
      "corrupt",
    ],
    ["--format perfetto on JSON", () => write("x.json", new TextEncoder().encode('{"traceEvents": []}')), "Perfetto"],
  ];
  test(
    "errors are clear and nothing is written",
    async () => {
      ingestJson(lake, [write("ok.pftrace", good)]);
      const before = await snapshot(lake);
      for (const [what, make, mention] of cases) {
        const args = what.startsWith("--format") ? ["--format", "perfetto"] : [];
        const r = cli(lake, ["ingest", ...args, make()]);
        expect(r.code, what).not.toBe(0);
        expect(r.stderr, what).toContain(mention);
        expect(r.stderr, what).not.toContain("    at ");
      }
      expect(await snapshot(lake)).toEqual(before);
    },
    T,
  );
});

/** Independent count of TYPE_SLICE_BEGIN events per thread (pid:tid) in a Perfetto trace. */
function slicesPerThread(buf: Uint8Array): Map<string, number> {
  const threadOf = new Map<bigint, string>();
  const defaultTrack = new Map<bigint, bigint>();
  const counts = new Map<string, number>();
  const pending: [bigint, bigint | undefined][] = [];
  const outer = decode(buf);
  for (const raw of outer.get(1) ?? []) {
    const pk = decode(raw as Uint8Array);
    const seq = (pk.get(10)?.[0] as bigint | undefined) ?? 0n;
    const td = pk.get(60)?.[0] as Uint8Array | undefined;
    if (td) {
      const d = decode(td);
      const th = d.get(4)?.[0] as Uint8Array | undefined;
      if (th) {
        const t = decode(th);
        threadOf.set(d.get(1)?.[0] as bigint, `${t.get(1)?.[0]}:${t.get(2)?.[0]}`);
      }
    }
    const defs = pk.get(59)?.[0] as Uint8Array | undefined;
    if (defs) {
      const ted = decode(defs).get(11)?.[0] as Uint8Array | undefined;
      const tu = ted ? (decode(ted).get(11)?.[0] as bigint | undefined) : undefined;
      if (tu !== undefined) defaultTrack.set(seq, tu);
    }
    const te = pk.get(11)?.[0] as Uint8Array | undefined;
    if (te) {
      const e = decode(te);
      if (e.get(9)?.[0] === 1n) pending.push([(e.get(11)?.[0] as bigint | undefined) ?? -1n, defaultTrack.get(seq)]);
    }
  }
  for (const [explicit, def] of pending) {
    const track = explicit === -1n ? def : explicit;
    const th = track === undefined ? undefined : threadOf.get(track);
    if (th) counts.set(th, (counts.get(th) ?? 0) + 1);
  }
  return counts;
}

describe("Perfetto protobuf: the real Chromium startup trace", () => {
  const dir = tempDir();
  const lake = join(dir, "lake");
  const pftrace = join(SAMPLES, "chromium_startup.pftrace.gz");
  const json = join(SAMPLES, "chromium_startup.json.gz");

  test(
    "thread slices per thread equal an independent decode of the packets",
    () => {
      const s = ingestJson(lake, [pftrace]);
      const dropped = s.phases
        .filter((x) => x.dest === "skipped" && x.reason?.includes("incremental state"))
        .reduce((n, x) => n + x.count, 0);
      expect(dropped).toBe(0);
      const expected = slicesPerThread(new Uint8Array(gunzipSync(readFileSync(pftrace))));
      const got = query<{ k: string; n: number }>(
        lake,
        `SELECT p.source_pid || ':' || s.tid AS k, count(*)::INTEGER AS n FROM thread_spans s JOIN processes p USING (process_id)
         WHERE p.trace_format = 'perfetto' GROUP BY ALL`,
      );
      expect(new Map(got.map((r) => [r.k, r.n]))).toEqual(expected);
      expect([...expected.values()].reduce((a, b) => a + b, 0)).toBeGreaterThan(90_000);
    },
    T,
  );

  test(
    "same processes and thread names as the Chrome JSON of a comparable run, comparable slice counts",
    () => {
      ingestJson(lake, [json]);
      const per = (fmt: string): Map<string, number> =>
        new Map(
          query<{ k: string; n: number }>(
            lake,
            `SELECT p.exe || ' / ' || s.thread_name AS k, count(*)::INTEGER AS n FROM thread_spans s JOIN processes p USING (process_id)
             WHERE p.trace_format = '${fmt}' GROUP BY ALL`,
          ).map((r) => [r.k, r.n]),
        );
      const fromProto = per("perfetto");
      const fromJson = per("chrome_json");
      expect([...fromProto.keys()].sort()).toEqual([...fromJson.keys()].sort());
      for (const [k, n] of fromProto) {
        const j = fromJson.get(k) as number;
        // A different run of the same startup: each thread within a factor of 2 (or 10 slices).
        expect(Math.abs(n - j) <= 10 || (n <= 2 * j && j <= 2 * n), k).toBe(true);
      }
      const names = (fmt: string): string[] =>
        query<{ exe: string }>(
          lake,
          `SELECT exe FROM processes WHERE trace_format = '${fmt}' AND source_pid <> 'global' AND exe IS NOT NULL ORDER BY exe`,
        ).map((r) => r.exe);
      expect(names("perfetto")).toEqual(names("chrome_json"));
    },
    T,
  );
});
