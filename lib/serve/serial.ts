/**
 * One-at-a-time use of a shared resource (serve's DuckDB engine and its lake attachment: a
 * commit and a page's query must not interleave their ATTACHes and transactions).
 */
export class Serial {
  private tail: Promise<unknown> = Promise.resolve();

  /** Runs `fn` once every earlier `run` has settled; returns (or throws) what `fn` does. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const r = this.tail.then(fn);
    this.tail = r.catch(() => undefined);
    return r;
  }
}
