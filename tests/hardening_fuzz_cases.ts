/**
 * Seeded mutations of JSON text (and of any bytes, such as a gzip stream) for
 * hardening_fuzz.test.ts: bit flips, random bytes, truncation, insertion of random bytes or of
 * hostile JSON (nesting 100,000 deep, huge and odd numbers, a 1 MB string, NUL and control
 * characters, invalid UTF-8), deleted and duplicated ranges. Each case is a function of
 * (seed, index) only, so a failing case can be replayed alone.
 */
import { prng } from "./helpers.ts";

const enc = new TextEncoder();

/** Hostile JSON fragments to insert (or to put in place of a value). */
const HOSTILE: (() => string)[] = [
  () => `${"[".repeat(100_000)}${"]".repeat(100_000)}`,
  () => `${'{"a":'.repeat(50_000)}1${"}".repeat(50_000)}`,
  () => "[".repeat(100_000),
  () => "1e999999",
  () => "-0.0e-400",
  () => "123456789012345678901234567890",
  () => "18446744073709551616",
  () => `"${"x".repeat(1 << 20)}"`,
  () => '"\\u0000\\ud800\\udfff\\u001b[2J"',
  () => "\u0000",
  () => "NaN",
  () => '"\\',
  () => ',,,,"",{},[],null,true,false',
];

/** Bytes that are not valid UTF-8. */
const BAD_UTF8 = [
  Uint8Array.of(0xff),
  Uint8Array.of(0xc0, 0x80),
  Uint8Array.of(0xed, 0xa0, 0x80),
  Uint8Array.of(0xe2, 0x82),
];

/**
 * The `index`-th mutation of `base` under `seed`: one to three edits.
 * @returns a new array (`base` is not changed).
 */
export function mutateText(base: Uint8Array, seed: number, index: number): Uint8Array {
  const rnd = prng(seed * 1_000_003 + index + 1);
  const int = (n: number): number => Math.floor(rnd() * n);
  let b: Uint8Array = base.slice();
  const edits = 1 + int(3);
  for (let k = 0; k < edits && b.length > 0; k++) {
    const at = int(b.length);
    switch (int(8)) {
      case 0: // flip 1..8 bits
        for (let j = 1 + int(8); j > 0; j--) {
          const q = int(b.length);
          b[q] = (b[q] as number) ^ (1 << int(8));
        }
        break;
      case 1: // a random byte, often a JSON structural one
        b[at] = int(2) === 0 ? int(256) : ('{}[]":,\\ 0-e'.charCodeAt(int(13)) as number);
        break;
      case 2: // truncate
        b = b.slice(0, at);
        break;
      case 3: // insert random bytes or invalid UTF-8
        b = Buffer.concat([
          b.subarray(0, at),
          int(2) === 0
            ? Uint8Array.from({ length: 1 + int(16) }, () => int(256))
            : (BAD_UTF8[int(BAD_UTF8.length)] as Uint8Array),
          b.subarray(at),
        ]);
        break;
      case 4: // insert hostile JSON
      case 5: {
        const h = enc.encode((HOSTILE[int(HOSTILE.length)] as () => string)());
        const replace = int(2) === 0 ? int(24) : 0;
        b = Buffer.concat([b.subarray(0, at), h, b.subarray(Math.min(b.length, at + replace))]);
        break;
      }
      case 6: {
        // delete a range
        const n = 1 + int(256);
        b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + n))]);
        break;
      }
      default: {
        // duplicate a range elsewhere
        const from = int(b.length);
        const n = Math.min(int(512), b.length - from);
        b = Buffer.concat([b.subarray(0, at), b.slice(from, from + n), b.subarray(at)]);
      }
    }
  }
  return b;
}
