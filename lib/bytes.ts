/**
 * Growth of the byte buffers that encoders append to (the raw block writer's pages, the Chrome
 * importer's batch output, the Perfetto importer's args JSON, the Perfetto exporter's
 * TracePacket writer): one rule for all, doubling, so that appending n bytes costs O(n)
 * amortized. Each encoder keeps its fast path (room left: nothing to do) inline.
 */

/**
 * A buffer with room for `used + need` bytes: `buf` doubled as often as that takes (at least
 * once), its first `used` bytes copied; the rest is zero.
 * @param buf the full buffer (at least 1 byte long).
 * @param used bytes of `buf` in use (≤ buf.length).
 * @param need more bytes wanted (used + need > buf.length: the caller checked).
 */
export function grownBytes(buf: Uint8Array, used: number, need: number): Uint8Array<ArrayBuffer> {
  let cap = buf.length * 2;
  while (cap < used + need) cap *= 2;
  const next = new Uint8Array(cap);
  next.set(buf.subarray(0, used));
  return next;
}
