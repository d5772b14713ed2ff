/**
 * Keeps the Perfetto exporter's functions, and those of the DuckDB cursor it reads through, out
 * of JavaScriptCore's FTL tier (lib/jit_tier.ts says why). FTL compiled 35 of the exporter's
 * functions in 286 ms of CPU time (the background compiler thread, `BUN_JSC_reportFTLCompileTimes`)
 * while exporting the Chromium JSON sample's Browser process (141K packets), and 74 in 1.0 s
 * for `--all` of a real 208 MB Chromium JSON trace (1.46M packets): on 2 cores that thread
 * competes with DuckDB's. Marked (compiled binary, alternating runs, medians, output identical):
 * the sample's Browser 1.07 → 0.98 CPU-s, 0.37 → 0.34 s inside the export, 0.68 → 0.67 s end
 * to end (13 runs); the 208 MB trace's busiest process (956K packets) 2.89 → 2.51 CPU-s,
 * 1.89 → 1.86 s (9 runs); its `--all` 3.98 → 3.72 CPU-s, 2.67 → 2.68 s (9 runs).
 */

import * as cursor from "../duck/cursor.ts";
import * as pointerCopy from "../duck/pointer_copy.ts";
import { dfgOnly } from "../jit_tier.ts";
import * as events from "./export_events.ts";
import * as flows from "./export_flows.ts";
import * as spans from "./export_spans.ts";
import * as state from "./export_state.ts";
import * as tracks from "./export_tracks.ts";
import * as fields from "./fields.ts";
import * as packets from "./packets.ts";
import * as spanFlows from "./span_flows.ts";
import * as u64Set from "./u64_set.ts";
import * as wire from "./wire.ts";

let done = false;

/**
 * Marks the exported functions and classes of the exporter's parts, and `more` (the exporter's
 * own functions, from the file that imports this one), DFG-only; the modules once per process.
 * @param more functions or classes (see dfgOnly); anything else is ignored.
 */
export function dfgOnlyExporter(...more: unknown[]): void {
  if (!done) {
    done = true;
    for (const m of [
      cursor,
      pointerCopy,
      events,
      flows,
      spans,
      state,
      tracks,
      fields,
      packets,
      spanFlows,
      u64Set,
      wire,
    ]) {
      dfgOnly(...Object.values(m));
    }
  }
  dfgOnly(...more);
}
