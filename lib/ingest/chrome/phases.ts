/**
 * Chrome's phases as the mapping sees them: the class of each imported phase, which says where
 * its events go (README "How events are mapped"): thread slices, async and flow events to the
 * thread's `cpu` stream, instants to the process's `log` stream, counters to its `metrics`
 * stream, `M` to process and thread metadata; every other phase is not imported. The one table
 * the event parser's mapping (mapping.ts) and the slow path (declined.ts) read.
 */

/** Phase classes: not imported, then `X`/`B`/`E`, async, flow v1, instants, counters, metadata. */
export const PC_NONE = 0;
export const PC_CPU = 1;
export const PC_ASYNC = 2;
export const PC_FLOW = 3;
export const PC_LOG = 4;
export const PC_METRICS = 5;
export const PC_META = 6;

/** The class of each one-byte phase (ASCII), PC_NONE for phases not imported. */
export const PHASE_CLASS = new Uint8Array(128);
for (const c of "BEX") PHASE_CLASS[c.charCodeAt(0)] = PC_CPU;
for (const c of "benSTpF") PHASE_CLASS[c.charCodeAt(0)] = PC_ASYNC;
for (const c of "stf") PHASE_CLASS[c.charCodeAt(0)] = PC_FLOW;
for (const c of "iIR") PHASE_CLASS[c.charCodeAt(0)] = PC_LOG;
PHASE_CLASS["C".charCodeAt(0)] = PC_METRICS;
PHASE_CLASS["M".charCodeAt(0)] = PC_META;

/** The class of phase text `ph` (PC_NONE for null, longer texts and phases not imported). */
export function phaseClass(ph: string | null): number {
  if (ph === null || ph.length !== 1) return PC_NONE;
  const c = ph.charCodeAt(0);
  return c < 0x80 ? (PHASE_CLASS[c] as number) : PC_NONE;
}
