/**
 * Malformed Perfetto protobuf input never hangs or crashes the importer (issue 19, bug 1): the
 * issue's 6-byte trace that looped forever at 100% CPU (TracePacket field 11 once
 * length-delimited, once a varint), the same shape on the other fields the packet loop reads as
 * messages, and a seeded mutation fuzz over the first packets of the real Chromium trace. Every
 * case must end within a time limit, either imported or rejected with an InputError (exit 65);
 * any other error is a crash. The cases run in a child process (perfetto_fuzz_child.ts) that
 * reports each one as it starts and ends, so a hang is caught and named.
 * TRACELAKE_FUZZ_CASES and TRACELAKE_FUZZ_SEED run more cases or another seed.
 */
import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { type FuzzOutcome, runFuzzChild } from "../fuzz_runner.ts";
import { BUN, ROOT, snapshot, tempDir } from "../helpers.ts";

const CHILD = join(import.meta.dir, "perfetto_fuzz_child.ts");
/** Time limit of one case once started (a case takes milliseconds; the margin is for a loaded CI machine). */
const CASE_LIMIT_MS = 5000;
const CASES = Number(process.env.TRACELAKE_FUZZ_CASES ?? 200);
const SEED = Number(process.env.TRACELAKE_FUZZ_SEED ?? 19);

/** Runs the child over `args`, putting a time limit on every case. */
function runCases(args: string[]): Promise<FuzzOutcome> {
  return runFuzzChild(CHILD, args, CASE_LIMIT_MS);
}

/** A packet holding `field` first as an empty message, then as a varint (issue 19's shape). */
function lenThenVarint(field: number): string {
  const tag = (f: number, wt: number): number[] => {
    const out: number[] = [];
    let v = f * 8 + wt;
    while (v >= 0x80) {
      out.push((v & 0x7f) | 0x80);
      v = Math.floor(v / 128);
    }
    out.push(v);
    return out;
  };
  const body = [...tag(field, 2), 0, ...tag(field, 0), 0];
  return Buffer.from([0x0a, body.length, ...body]).toString("hex");
}

describe("Perfetto protobuf: malformed input never hangs or crashes", () => {
  test("the issue's 6-byte trace and its siblings (fields 6, 11, 12, 59, 60 as a message then a varint) are rejected at once", async () => {
    const inputs = ["0a045a005800", ...[6, 11, 12, 59, 60].map(lenThenVarint)];
    const out = await runCases(["0", "0", ...inputs]);
    expect(out.hung).toBeNull();
    expect(out.crashes).toEqual([]);
    expect(out.rejected.length).toBe(inputs.length);
    for (const m of out.rejected) expect(m).toMatch(/wire type 0 \(varint\) where length-delimited was expected/);
  }, 60_000);

  test("ingest of the 6-byte trace exits 65 with a clear message and leaves the lake as it was", async () => {
    const dir = tempDir();
    const lake = join(dir, "lake");
    const good = join(dir, "good.json");
    writeFileSync(good, JSON.stringify([{ ph: "X", name: "a", ts: 1, dur: 2, pid: 1, tid: 1 }]));
    const run = (file: string) =>
      Bun.spawnSync([BUN, join(ROOT, "main.ts"), "--lake", lake, "ingest", file], {
        env: { ...process.env, NO_COLOR: "1" },
        timeout: 60_000,
      });
    expect(run(good).exitCode).toBe(0);
    const before = await snapshot(lake);
    const bad = join(dir, "hang.pftrace");
    writeFileSync(bad, Buffer.from("0a045a005800", "hex"));
    const r = run(bad);
    expect(r.signalCode ?? null).toBeNull(); // not killed by the timeout
    expect(r.exitCode).toBe(65);
    expect(r.stderr.toString()).toContain(`${bad} is not a valid Perfetto protobuf trace`);
    expect(r.stderr.toString()).toContain("wire type");
    expect(await snapshot(lake)).toEqual(before);
  }, 180_000);

  test(`${CASES} seeded mutations (seed ${SEED}) of the real Chromium trace: each imported or rejected, within ${CASE_LIMIT_MS} ms`, async () => {
    const out = await runCases([String(SEED), String(CASES)]);
    expect(out.hung).toBeNull();
    expect(out.crashes).toEqual([]);
    expect(out.imported + out.rejected.length).toBe(CASES);
    // Mutations that keep the trace readable are imported (the fuzz is not all rejected headers).
    expect(out.imported).toBeGreaterThan(0);
    for (const m of out.rejected)
      expect(m).toMatch(/^case \d+ (is not a valid Perfetto protobuf trace|ends inside a Perfetto packet)/);
  }, 120_000);
});
