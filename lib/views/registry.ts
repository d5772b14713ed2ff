/**
 * The process-scoped view sets, by name. `processes`, `streams` and `blocks` are catalog views
 * (lib/sql/query.ts), always current, and need no materialization.
 */
import { asyncEvents } from "./async_events.ts";
import { flows } from "./flows.ts";
import { logEntries } from "./log_entries.ts";
import { measures } from "./measures.ts";
import { threadSpans } from "./thread_spans.ts";
import type { ViewSet } from "./view_set.ts";

/** Every JIT view set, in the order `list_view_sets()` shows them. */
export const VIEW_SETS: readonly ViewSet[] = [logEntries, measures, threadSpans, asyncEvents, flows];

/** The view set named `name`, or undefined. */
export function viewSetByName(name: string): ViewSet | undefined {
  return VIEW_SETS.find((v) => v.name === name);
}
