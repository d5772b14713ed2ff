/**
 * Keeps the Perfetto importer's functions, and those of the block writer it feeds, out of
 * JavaScriptCore's FTL tier (lib/jit_tier.ts says why and what it saves).
 */

import { dfgOnly } from "../../jit_tier.ts";
import * as wire from "../../perfetto/wire_reader.ts";
import * as blockFile from "../blocks/block_file.ts";
import * as builder from "../blocks/builder.ts";
import * as parquet from "../blocks/parquet_writer.ts";
import * as rawRows from "../blocks/raw_rows.ts";
import * as args from "./args.ts";
import * as clock from "./clock.ts";
import * as counts from "./counts.ts";
import * as legacy from "./legacy_event.ts";
import * as reader from "./reader.ts";
import * as sequence from "./sequence.ts";
import * as trackEvent from "./track_event.ts";
import * as tracks from "./tracks.ts";

let done = false;

/**
 * Marks the exported functions and classes of the importer's parts, and `importer` (the
 * importer's own class, which imports this file), DFG-only; once per process (later calls do
 * nothing).
 */
export function dfgOnlyParts(importer: unknown): void {
  if (done) return;
  done = true;
  for (const m of [
    wire,
    blockFile,
    builder,
    parquet,
    rawRows,
    args,
    clock,
    counts,
    legacy,
    reader,
    sequence,
    trackEvent,
    tracks,
  ]) {
    dfgOnly(...Object.values(m));
  }
  dfgOnly(importer);
}
