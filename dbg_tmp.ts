import { openLake } from "./cmd/common.ts";
import { complete, connectionSource } from "./lib/repl/complete.ts";
import { openQuerySession } from "./lib/sql/query.ts";
const { engine, lake } = await openLake({ lake: "/tmp/repl-lake" }, false);
await openQuerySession(engine, lake);
const c = await engine.connect();
const src = connectionSource(c);
for (const t of ["SELECT na", "SELECT * FROM thr", "SELECT exe FROM processes WHERE ex", "sel"]) {
  console.log(t, JSON.stringify(await complete(t, src)).slice(0, 300));
  console.log((await src.sql(t)).slice(0, 5));
}
c.closeSync(); engine.close();
