/**
 * Free byte buffers by power-of-two capacity, handed out again instead of new ones:
 * `new Uint8Array` zero-fills fresh memory, and every fresh page costs a page fault (~12-30 µs
 * each on the 2-core VM we measure on), while a dropped buffer is only freed at the next full
 * collection. Buffers come back dirty: a taker must write every byte it reads.
 */
export class BufferPool {
  private readonly free: ArrayBuffer[][] = Array.from({ length: 32 }, () => []);
  private bytes = 0;

  /** @param maxBytes the most bytes kept (a buffer given beyond it is dropped). */
  constructor(private readonly maxBytes: number) {}

  /**
   * A buffer of `cap` bytes (a power of two, at least 1), from the pool when one is free (dirty),
   * else new (zeroed).
   */
  take(cap: number): Uint8Array {
    const b = (this.free[31 - Math.clz32(cap)] as ArrayBuffer[]).pop();
    if (b === undefined) return new Uint8Array(cap);
    this.bytes -= cap;
    return new Uint8Array(b);
  }

  /**
   * `n` bytes (n ≥ 0) at the start of a buffer of the next power-of-two capacity (`take`): a view
   * that `give` takes back whole.
   */
  takeView(n: number): Uint8Array {
    const cap = n <= 1 ? 1 : 2 ** (32 - Math.clz32(n - 1));
    return this.take(cap).subarray(0, n);
  }

  /**
   * Gives back the buffer under `b` (from `take` or `takeView`; its whole ArrayBuffer, which no
   * one may use afterwards). Buffers of other capacities than powers of two are dropped, and so
   * is any once the pool holds `maxBytes`.
   */
  give(b: Uint8Array): void {
    const ab = b.buffer;
    if (!(ab instanceof ArrayBuffer)) return;
    const cap = ab.byteLength;
    if (cap === 0 || (cap & (cap - 1)) !== 0 || this.bytes + cap > this.maxBytes) return;
    this.free[31 - Math.clz32(cap)]?.push(ab);
    this.bytes += cap;
  }
}
