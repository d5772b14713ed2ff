/**
 * The targets of issue 22 ("Fast where users meet it") for bench/latency.ts, one per kind of row,
 * and the check of a measured figure against its target. Targets are for the compiled binary on
 * this 2-core machine, medians, process start to exit.
 */

/** A bound on one row's figures; every field set must hold for the row to pass. */
export interface Target {
  /** Median wall time at most this, in ms. */
  maxMs?: number;
  /** Rate (the row's unit: MB/s, packets/s, rows/s) at least this. */
  minRate?: number;
  /** Peak RSS of every run at most this, in MB (10^6 bytes). */
  maxRssMb?: number;
  /** Ratio to trace_processor's time in the same run at most this. */
  maxRatio?: number;
}

/** Issue 22 item 4: peak RSS for any ingest, export or query of the real inputs. */
const RSS_MB = 300;

/** The kinds of rows bench/latency.ts prints, each with the target. */
export const TARGETS = {
  /** `tracelake --version`. */
  version: { maxMs: 60, maxRssMb: 60 },
  /** `tracelake query "select count(*) from processes"` on an existing lake. */
  countQuery: { maxMs: 150, maxRssMb: RSS_MB },
  /** Ingest of a real Chromium JSON trace of 70 MB or more: MB/s of JSON, end to end. */
  ingestJsonLarge: { minRate: 150, maxRssMb: RSS_MB },
  /** Ingest of a smaller JSON trace: the sample's target is on ingest + first answer (below). */
  ingestJsonSmall: { maxRssMb: RSS_MB },
  /** Ingest of a real Perfetto protobuf trace: MB/s of protobuf, end to end (trace_processor's own figure). */
  ingestProto: { minRate: 40, maxRssMb: RSS_MB },
  /** First `thread_spans` group-by after ingest, all processes (cold JIT); the trace has 200K spans. */
  coldThreadSpans: { maxMs: 500, maxRssMb: RSS_MB },
  /** First query of another view after ingest (cold JIT): no time target in the issue, memory only. */
  coldOther: { maxRssMb: RSS_MB },
  /** The same `thread_spans` group-by again (warm). */
  warmThreadSpans: { maxMs: 150, maxRssMb: RSS_MB },
  /** Export of the busiest process, warm: packets/s by the export's own summary. */
  exportOne: { minRate: 1_000_000, maxRssMb: RSS_MB },
  /** `export perfetto --all`: packets/s end to end. */
  exportAll: { minRate: 500_000, maxRssMb: RSS_MB },
  /** `export perfetto --all` right after an ingest, every view cold: memory only (the JIT's peak). */
  coldExportAll: { maxRssMb: RSS_MB },
  /** `replay` of a GROUP BY over thread_spans, end to end. */
  replay: { maxMs: 500, maxRssMb: RSS_MB },
  /** `replay` of the README's windowed example: no time target in the issue, memory only. */
  replayWindowed: { maxRssMb: RSS_MB },
  /** trace_processor's load + first answer: the anchor, no target of its own. */
  traceProcessor: {},
  /** tracelake ingest + first answer, as a ratio to trace_processor's load + first answer. */
  vsTraceProcessor: { maxRatio: 1 },
  /** The 27.5 MB sample: ingest + the first thread_spans group-by together. */
  samplePlusFirst: { maxMs: 1500, maxRatio: 1 },
} as const satisfies Record<string, Target>;

/** The measured figures of one row, as far as the row has them. */
export interface Figures {
  /** Median wall time, ms. */
  ms: number;
  /** The row's rate (MB/s, packets/s, rows/s), if any. */
  rate?: number;
  /** Largest peak RSS over the runs, MB. */
  rssMb?: number;
  /** Ratio to trace_processor, if any. */
  ratio?: number;
}

/**
 * Checks `f` against `t`. Returns the target as text (e.g. "≤ 60 ms, ≤ 60 MB") and whether every
 * bound holds; `pass` is null when the target has no bound (nothing to check). A bound whose
 * figure was not measured counts as failed.
 */
export function check(t: Target, f: Figures, rateUnit = ""): { text: string; pass: boolean | null } {
  const parts: string[] = [];
  let pass = true;
  const bound = (text: string, ok: boolean): void => {
    parts.push(text);
    pass &&= ok;
  };
  if (t.maxMs !== undefined) bound(`≤ ${t.maxMs} ms`, f.ms <= t.maxMs);
  if (t.minRate !== undefined) bound(`≥ ${formatRate(t.minRate)} ${rateUnit}`.trim(), (f.rate ?? 0) >= t.minRate);
  if (t.maxRatio !== undefined) bound(`≤ ${t.maxRatio}x TP`, (f.ratio ?? Number.POSITIVE_INFINITY) <= t.maxRatio);
  if (t.maxRssMb !== undefined) bound(`≤ ${t.maxRssMb} MB`, (f.rssMb ?? Number.POSITIVE_INFINITY) <= t.maxRssMb);
  return { text: parts.join(", "), pass: parts.length ? pass : null };
}

/** A rate with a K/M suffix above 10 000 ("1.5M", "480K", "63.2"). */
export function formatRate(x: number): string {
  if (!Number.isFinite(x)) return "—";
  if (x >= 1e6) return `${x >= 1e7 ? (x / 1e6).toFixed(0) : String(Number((x / 1e6).toFixed(2)))}M`;
  if (x >= 1e4) return `${Math.round(x / 1e3)}K`;
  return x >= 100 ? x.toFixed(0) : String(Number(x.toFixed(1)));
}
