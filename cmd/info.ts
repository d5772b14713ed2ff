/** `tracelake info`: where the lake is and what it holds. */
import { ExitCode } from "../lib/errors.ts";
import { Lake } from "../lib/lake/lake.ts";
import { bytes, count, type GlobalOptions, openLake } from "./common.ts";

/** Runs the command; returns the exit code. */
export async function infoCommand(g: GlobalOptions, version: string): Promise<number> {
  const { engine, lake } = await openLake(g, false);
  try {
    await lake.attach(engine, "read");
    const v = await Lake.version(engine);
    const r = await engine.rows<Record<string, bigint | null>>(`SELECT
      (SELECT count(*) FROM lake.ingests) AS ingests,
      (SELECT count(*) FROM lake.processes) AS processes,
      (SELECT count(*) FROM lake.streams) AS streams,
      (SELECT count(*) FROM lake.blocks) AS blocks,
      (SELECT coalesce(sum(nb_objects), 0) FROM lake.blocks) AS events,
      (SELECT coalesce(sum(payload_size), 0) FROM lake.blocks) AS blob_bytes`);
    await lake.detach(engine);
    const x = r[0] ?? {};
    const n = (k: string): number => Number(x[k] ?? 0);
    process.stdout.write(
      [
        `lake:      ${lake.root}`,
        `tracelake: ${version} (catalog version ${v})`,
        `contents:  ${count(n("ingests"))} ingests, ${count(n("processes"))} processes, ${count(n("streams"))} streams, ${count(n("blocks"))} blocks, ${count(n("events"))} events, ${bytes(n("blob_bytes"))} of blobs`,
        "",
      ].join("\n"),
    );
    return ExitCode.ok;
  } finally {
    engine.close();
  }
}
