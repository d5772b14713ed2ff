/**
 * Writing to stdout with backpressure, stopping quietly when the reader goes away
 * (`tracelake query ... | head` must end cleanly, not with an EPIPE stack trace).
 */

/** A line-oriented writer to stdout. */
export class Stdout {
  /** True once the reader closed the pipe; later writes are dropped. */
  closed = false;

  constructor() {
    process.stdout.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "EPIPE") this.closed = true;
      else throw e;
    });
  }

  /** Writes `s`, waiting for the pipe to drain when its buffer is full. */
  async write(s: string): Promise<void> {
    if (this.closed) return;
    if (!process.stdout.write(s)) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          process.stdout.off("drain", done);
          process.stdout.off("error", done);
          resolve();
        };
        process.stdout.once("drain", done);
        process.stdout.once("error", done);
      });
    }
  }
}
