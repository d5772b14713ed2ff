/**
 * The Perfetto importer's tally: packets read, and counts of packets and events by kind,
 * destination and skip reason (the rows of the ingest summary), plus warnings.
 */

/** Where a counted packet or event went: a raw-block stream, the metadata, or nowhere. */
export type CountDest = "cpu" | "log" | "metrics" | "metadata" | "skipped";

/** A count of packets or events of one kind that went to one destination (or were skipped, and why). */
export interface PerfettoCount {
  ph: string;
  dest: CountDest;
  reason: string | null;
  count: number;
}

/** What the Perfetto import found, beyond the rows. */
export interface PerfettoStats {
  packets: number;
  /** Counts by (kind, destination, reason), as `PhaseCount` rows. */
  counts: Map<string, PerfettoCount>;
  warnings: string[];
}

/** Counts by (kind, destination, reason), without building a key string per event. */
export class ImportCounts {
  /** The counts and warnings, as the importer reports them. */
  readonly stats: PerfettoStats = { packets: 0, counts: new Map(), warnings: [] };
  private readonly countIndex = new Map<string, Map<string, PerfettoCount>>();
  /** Counts of the frequent kinds (slot → entry), after their first `count`. */
  private readonly hotCounts: (PerfettoCount | undefined)[] = [];

  /**
   * `count(ph, dest, null)` for a frequent kind, without lookups after the first.
   * @param slot a small integer naming the (ph, dest) pair; each caller keeps its own.
   */
  countHot(slot: number, ph: string, dest: "cpu" | "log"): void {
    const c = this.hotCounts[slot];
    if (c !== undefined) {
      c.count++;
      return;
    }
    this.count(ph, dest, null);
    this.hotCounts[slot] = this.countIndex.get(ph)?.get(dest);
  }

  /**
   * Counts one packet or event of kind `ph` that went to `dest`.
   * @param reason why it was skipped (null when it was imported).
   */
  count(ph: string, dest: CountDest, reason: string | null): void {
    // Two-level lookup: no key string is built per event.
    let byPh = this.countIndex.get(ph);
    if (!byPh) {
      byPh = new Map();
      this.countIndex.set(ph, byPh);
    }
    const sub = reason === null ? dest : `${dest}\u0000${reason}`;
    const c = byPh.get(sub);
    if (c) c.count++;
    else {
      const entry = { ph, dest, reason, count: 1 };
      byPh.set(sub, entry);
      this.stats.counts.set(`${ph}\u0000${sub}`, entry);
    }
  }
}
