/**
 * Engine.fork (lib/duck/engine.ts): a second connection to the same instance, with the
 * instance's tables and types, its own variables and session settings; closing it leaves the
 * engine open; Engine.interrupt stops a statement running on a fork (Ctrl-C during the JIT's
 * staged writes, lib/views/jit.ts).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Engine } from "../../lib/duck/engine.ts";

describe("Engine.fork", () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.open({ threads: 2 });
  });
  afterAll(() => engine.close());

  test("shares the instance's tables and types, not its variables; closing it leaves the engine open", async () => {
    const fork = await engine.fork();
    await engine.run("CREATE TABLE memory.main.t_fork AS SELECT 41 AS x; CREATE TYPE memory.main.e_fork AS ENUM ('a')");
    await engine.run("SET VARIABLE v_fork = 1");
    await fork.run("SET VARIABLE v_fork = 2");
    expect(await fork.rows("SELECT x + 1 AS y, 'a'::e_fork::VARCHAR AS e FROM memory.main.t_fork")).toEqual([
      { y: 42, e: "a" },
    ]);
    expect(await engine.rows("SELECT getvariable('v_fork') AS v")).toEqual([{ v: 1 }]);
    expect(await fork.rows("SELECT getvariable('v_fork') AS v")).toEqual([{ v: 2 }]);
    // The session settings: times shown in UTC.
    expect(await fork.rows("SELECT current_setting('TimeZone') AS z")).toEqual([{ z: "UTC" }]);
    fork.close();
    expect(await engine.rows("SELECT count(*)::INTEGER AS n FROM memory.main.t_fork")).toEqual([{ n: 1 }]);
  });

  test("interrupt stops a statement running on a fork", async () => {
    const fork = await engine.fork();
    try {
      const started = performance.now();
      const running = fork.rows("SELECT count(*) FROM range(100000000000) a(i) WHERE i % 7 = 3");
      await Bun.sleep(100);
      engine.interrupt();
      await expect(running).rejects.toThrow(/INTERRUPT/i);
      expect(performance.now() - started).toBeLessThan(10_000);
      // Both connections run the next statement.
      expect(await fork.rows("SELECT 1 AS one")).toEqual([{ one: 1 }]);
      expect(await engine.rows("SELECT 1 AS one")).toEqual([{ one: 1 }]);
    } finally {
      fork.close();
    }
  });
});
