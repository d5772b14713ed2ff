/** `tracelake info`: where the lake is and what it holds. */
import { ExitCode } from "../lib/errors.ts";
import { lakeContents } from "../lib/sql/catalog.ts";
import { bytes, count, type GlobalOptions, openLake } from "./common.ts";

/** Runs the command; returns the exit code. */
export async function infoCommand(g: GlobalOptions, version: string): Promise<number> {
  const { engine, lake } = await openLake(g, false);
  try {
    const c = await lakeContents(engine, lake);
    process.stdout.write(
      [
        `lake:      ${lake.root}`,
        `tracelake: ${version} (catalog version ${c.catalogVersion})`,
        `contents:  ${count(c.ingests)} ingests, ${count(c.processes)} processes, ${count(c.streams)} streams, ${count(c.blocks)} blocks, ${count(c.events)} events, ${bytes(c.blobBytes)} of blobs`,
        "",
      ].join("\n"),
    );
    return ExitCode.ok;
  } finally {
    engine.close();
  }
}
