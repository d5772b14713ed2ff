/**
 * Sorting arrays of indexes (Int32Array) by a comparator, for the views' JS passes (flows'
 * operations and edges, thread_spans' ranks).
 */

/** Runs of this many elements are sorted by insertion before sortBy merges them. */
const SORT_RUN = 16;

/**
 * Sorts `a` in place by `cmp`, which must be a total order (no two elements equal): a bottom-up
 * merge sort over the typed array, whose comparisons JavaScriptCore's optimizing tiers compile
 * into the loop, where TypedArray.prototype.sort calls the comparator through the runtime for
 * each one.
 */
export function sortBy(a: Int32Array, cmp: (x: number, y: number) => number): void {
  const n = a.length;
  for (let lo = 0; lo < n; lo += SORT_RUN) {
    const hi = Math.min(lo + SORT_RUN, n);
    for (let i = lo + 1; i < hi; i++) {
      const x = a[i] as number;
      let j = i - 1;
      while (j >= lo && cmp(a[j] as number, x) > 0) {
        a[j + 1] = a[j] as number;
        j--;
      }
      a[j + 1] = x;
    }
  }
  if (n <= SORT_RUN) return;
  let src: Int32Array = a;
  let dst: Int32Array = new Int32Array(n);
  for (let w = SORT_RUN; w < n; w *= 2) {
    for (let lo = 0; lo < n; lo += 2 * w) {
      const mid = Math.min(lo + w, n);
      const hi = Math.min(lo + 2 * w, n);
      let i = lo;
      let j = mid;
      let k = lo;
      while (i < mid && j < hi)
        dst[k++] = cmp(src[j] as number, src[i] as number) < 0 ? (src[j++] as number) : (src[i++] as number);
      while (i < mid) dst[k++] = src[i++] as number;
      while (j < hi) dst[k++] = src[j++] as number;
    }
    const swap = src;
    src = dst;
    dst = swap;
  }
  if (src !== a) a.set(src);
}
