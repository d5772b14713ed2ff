/**
 * lib/duck/allocator.ts: DuckDB's unused allocator memory and its release, checked against the
 * kernel's count of the process's resident anonymous memory (/proc/self/status RssAnon), not
 * against jemalloc's own statistics alone. Linux only (DuckDB has jemalloc there alone).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { allocatorUnusedBytes, releaseAllocatorMemory } from "../../lib/duck/allocator.ts";
import { Engine } from "../../lib/duck/engine.ts";

/** The process's resident anonymous memory (bytes), as the kernel counts it. */
function rssAnon(): number {
  const m = /^RssAnon:\s+(\d+) kB$/m.exec(readFileSync("/proc/self/status", "utf8"));
  if (!m) throw new Error("no RssAnon in /proc/self/status");
  return Number(m[1]) * 1024;
}

const MiB = 1048576;

describe.skipIf(process.platform !== "linux")("DuckDB's allocator", () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.open({ threads: 2 });
  });
  afterAll(() => engine.close());

  test("a large aggregate leaves unused memory behind; a release gives it back to the system", async () => {
    // The distinct texts of 2M rows: DuckDB's hash table allocates and frees ~100 MB (114 MB
    // left unused when measured).
    await engine.rows("SELECT count(*) FROM (SELECT DISTINCT 'x' || i FROM range(2000000) t(i))");
    const unused = allocatorUnusedBytes();
    expect(unused).not.toBeNull();
    expect(unused as number).toBeGreaterThan(16 * MiB);
    // Under the threshold: nothing is released.
    expect(releaseAllocatorMemory(Number.MAX_SAFE_INTEGER)).toBe(0);
    const before = rssAnon();
    const released = releaseAllocatorMemory(16 * MiB);
    const after = rssAnon();
    expect(released).toBe(unused as number);
    // The kernel sees most of it go (other threads may allocate meanwhile: half is the bound).
    expect(before - after).toBeGreaterThan(released / 2);
    expect(allocatorUnusedBytes() as number).toBeLessThan(released / 4);
  });
});
