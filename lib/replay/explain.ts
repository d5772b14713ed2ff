/**
 * The text of `replay --explain`: the query analysis and the strategy choice, one fact per
 * line. Returns strings; cmd/replay.ts prints them.
 */
import type { QueryAnalysis, StrategyChoice } from "./analyze.ts";

/** Lines describing the analysis of a replay query and the strategy chosen for N partitions. */
export function explainLines(a: QueryAnalysis, choice: StrategyChoice, partitions: number): string[] {
  const out: string[] = [];
  out.push(
    `source:      ${a.source.fromSql} (view ${a.source.view}), ${a.windowKey === null ? `in file order (no window: the order changes no result; in order of ${a.source.eventTime} with --speed)` : `in order of ${a.source.eventTime}`}`,
  );
  out.push(
    `             partitioned by ${a.source.partitionColumns.join(", ")} (one source partition per process and stream)`,
  );
  out.push(`where:       ${a.where ?? "(none)"}`);
  if (a.keys.length === 0) out.push("group keys:  none (global aggregate)");
  for (const [i, k] of a.keys.entries()) {
    const facts = [
      `written as ${k.writtenAs}`,
      k.alias ? `alias ${k.alias}` : null,
      k.position ? `select item ${k.position}` : "not selected",
      k.column ? "bare column" : "expression",
      k.window ? `tumbling window of ${k.window.widthSql} on ${a.source.eventTime}` : null,
    ].filter(Boolean);
    out.push(`${i === 0 ? "group keys: " : "            "} ${k.sql}  (${facts.join("; ")})`);
  }
  out.push(
    `window:      ${a.windowKey === null ? "none (results at the end)" : `${a.keys[a.windowKey]?.sql}: closes when the minimum watermark of all partitions passes its end`}`,
  );
  if (a.aggregates.length === 0) out.push("aggregates:  none");
  for (const [i, g] of a.aggregates.entries()) {
    const merge =
      g.kind === "avg"
        ? "merged as sum + count"
        : g.kind === "count_distinct"
          ? "merged as a union of value sets (exact)"
          : g.kind === "count" || g.kind === "count_star"
            ? "merged by adding counts"
            : g.kind === "sum"
              ? "merged by adding sums (exact for integers)"
              : `merged by ${g.kind}`;
    out.push(`${i === 0 ? "aggregates: " : "            "} ${g.sql}  (${merge})`);
  }
  out.push(`having:      ${a.having ?? "(none)"}`);
  out.push(`order by:    ${a.orderBy ?? "(none)"}${a.limit ? `  ${a.limit}` : ""} (after the merge)`);
  for (const n of a.notes) out.push(`note:        ${n}`);
  out.push(`partitions:  ${partitions}`);
  out.push(`strategy:    ${choice.strategy}: ${choice.reason}`);
  out.push(`routes on:   ${choice.routeOn}`);
  return out;
}
