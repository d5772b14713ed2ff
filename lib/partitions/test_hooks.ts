/**
 * Test-only pause points for the crash tests (tests/partitions/crash.test.ts). When the
 * environment variable TRACELAKE_TEST_PAUSE is `<point>:<marker file>`, reaching `<point>`
 * writes the marker file and waits forever, so the test can SIGKILL the process at exactly
 * that moment. Not a user feature (the README does not mention it); a no-op otherwise.
 */
import { writeFileSync } from "node:fs";

/** Pauses forever at `point` when TRACELAKE_TEST_PAUSE names it (see the file comment). */
export async function testPause(point: string): Promise<void> {
  const spec = process.env.TRACELAKE_TEST_PAUSE;
  if (!spec) return;
  const i = spec.indexOf(":");
  if (i < 0 || spec.slice(0, i) !== point) return;
  writeFileSync(spec.slice(i + 1), point);
  for (;;) await Bun.sleep(60_000);
}
