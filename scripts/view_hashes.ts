/**
 * Fingerprints of a lake's view partition files, to show that a change to a view's build leaves
 * its files as they were: for each view set, every Parquet file under `views/<set>/`, its rows
 * hashed in file order (md5 of each row's text, `file_row_number` order), and one md5 over the
 * set's files (each as `<instance>:<md5>`, sorted by instance, so partition file names, which
 * hold a random UUID, do not count). Rows are compared in their order: a build that writes the
 * same rows in another order differs.
 *
 * Use it on copies of one lake (cp -r after the ingest, so the process ids, which some columns
 * embed, are the same), built by the two binaries to compare:
 *
 *   cp -r lake0 /tmp/a && old query "SELECT count(*) FROM flows" --lake /tmp/a
 *   cp -r lake0 /tmp/b && new query "SELECT count(*) FROM flows" --lake /tmp/b
 *   bun scripts/view_hashes.ts /tmp/a && bun scripts/view_hashes.ts /tmp/b
 *
 * Usage: bun scripts/view_hashes.ts LAKE [VIEW_SET...]   (default: every view set)
 * Prints one line per view set: name, files, rows, md5. Every file under views/ counts,
 * retired ones too until `tracelake gc` removes them: compare lakes built the same way.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { Glob } from "bun";
import { Engine, sqlString } from "../lib/duck/engine.ts";
import { VIEW_SETS } from "../lib/views/registry.ts";

const [lake, ...only] = process.argv.slice(2);
if (!lake || !existsSync(join(lake, "views"))) {
  console.error("usage: bun scripts/view_hashes.ts LAKE [VIEW_SET...] (LAKE: a lake directory with views/)");
  process.exit(2);
}
const sets = only.length > 0 ? only : VIEW_SETS.map((v) => v.name);
// One thread: the rows' md5s are aggregated in file_row_number order whatever the threads.
const engine = await Engine.open({ threads: 1 });
try {
  for (const set of sets) {
    const files = [...new Glob(`views/${set}/*/**/*.parquet`).scanSync(lake)].sort();
    const per: string[] = [];
    let rows = 0;
    for (const file of files) {
      const r = await engine.rows<{ n: bigint; h: string | null }>(
        `SELECT count(*) AS n, md5(string_agg(md5(x::VARCHAR), '' ORDER BY rn)) AS h
           FROM (SELECT *, file_row_number AS rn FROM read_parquet(${sqlString(join(lake, file))}, file_row_number = true)) x`,
      );
      rows += Number(r[0]?.n ?? 0);
      // views/<set>/<instance>/<day>/<file>: the instance (a process id) names the partition.
      per.push(`${file.split("/")[2]}:${r[0]?.h ?? ""}`);
    }
    per.sort();
    console.log(
      `${set}\t${files.length} files\t${rows} rows\t${createHash("md5").update(per.join("\n")).digest("hex")}`,
    );
  }
} finally {
  engine.close();
}
