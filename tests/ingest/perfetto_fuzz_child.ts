/**
 * Child process of perfetto_fuzz.test.ts: imports seeded mutations of a small real Perfetto
 * trace (the first packets of fixtures/chromium_startup.pftrace.gz) in process, one after the
 * other, and reports each case on stdout as it starts and ends, so that the parent can put a time
 * limit on every case (a hang cannot be stopped from inside the process that hangs).
 *
 * Usage: bun perfetto_fuzz_child.ts SEED CASES [HEX_INPUT...]
 * With HEX_INPUT arguments, those inputs are imported instead of mutations.
 * Lines: `start <i>`, then `ok <i> imported <rows>`, `ok <i> rejected <message>` (an InputError:
 * exit 65), or `crash <i> <error>` (anything else, a bug).
 */
import { writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { InputError } from "../../lib/errors.ts";
import { type RawRow, RawRowSink, type RowStream } from "../../lib/ingest/blocks/raw_rows.ts";
import { PerfettoImporter } from "../../lib/ingest/perfetto/importer.ts";
import { mutate, seedInput } from "./perfetto_fuzz_cases.ts";

/** A sink that takes rows into its column buffers and never writes a block. */
class CountingSink extends RawRowSink {
  rows = 0;
  override addTo(st: RowStream, r: RawRow): void {
    this.rows++;
    super.addTo(st, r);
  }
  override flush(): void {}
}

const say = (line: string): void => {
  writeSync(1, `${line}\n`);
};

const [seedArg, casesArg, ...hex] = process.argv.slice(2);
const seed = Number(seedArg);
const base = seedInput(
  new Uint8Array(
    gunzipSync(await Bun.file(join(import.meta.dir, "../../fixtures/chromium_startup.pftrace.gz")).bytes()),
  ),
);
const inputs: (() => Uint8Array)[] =
  hex.length > 0
    ? hex.map((h) => () => new Uint8Array(Buffer.from(h, "hex")))
    : Array.from({ length: Number(casesArg) }, (_, i) => () => mutate(base, seed, i));
for (let i = 0; i < inputs.length; i++) {
  const input = (inputs[i] as () => Uint8Array)();
  say(`start ${i}`);
  // A large buffer: the rows of one case never fill it, so no block file is written.
  const sink = new CountingSink(join(tmpdir(), "tracelake-fuzz-never-written"), 1 << 30);
  const imp = new PerfettoImporter(sink, `case ${i}`);
  try {
    // Chunks of varying size, as a stream delivers them.
    for (let p = 0, k = 0; p < input.length; k++) {
      const n = 1 + ((k * 7919 + i) % 8192);
      imp.push(input.subarray(p, Math.min(p + n, input.length)));
      p += n;
    }
    imp.end();
    say(`ok ${i} imported ${sink.rows}`);
  } catch (err) {
    if (err instanceof InputError) say(`ok ${i} rejected ${err.message.replaceAll("\n", " ")}`);
    else say(`crash ${i} ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
  }
}
say("done");
