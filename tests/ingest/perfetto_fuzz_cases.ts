/**
 * Seeded mutations of a Perfetto trace for perfetto_fuzz.test.ts: bit flips, truncation,
 * insertion of random bytes, huge lengths and over-long varints written over a field, wire types
 * changed in a tag, and packets duplicated or cut; each case is a function of (seed, index) only,
 * so a failing case can be replayed alone.
 */
import { prng } from "../helpers.ts";

/** The first packets of a trace (whole `0x0A <len> <packet>` records, up to `maxBytes`). */
export function seedInput(trace: Uint8Array, maxBytes = 48 * 1024): Uint8Array {
  let p = 0;
  for (;;) {
    if (p >= trace.length || trace[p] !== 0x0a) break;
    let len = 0;
    let mul = 1;
    let q = p + 1;
    for (;;) {
      const x = trace[q++] as number;
      len += (x & 0x7f) * mul;
      if (x < 0x80) break;
      mul *= 128;
    }
    if (q + len > maxBytes) break;
    p = q + len;
  }
  return trace.slice(0, p);
}

/** Over-long or huge varints and lengths to write over a field. */
const HUGE: number[][] = [
  [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], // 2^64 - 1
  [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], // 12 bytes: over-long
  [0xff, 0xff, 0xff, 0xff, 0x0f], // 2^32 - 1
  [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80], // never ends
  [0xff, 0xff, 0xff, 0x7f], // 2^28 - 1
];

/**
 * The `index`-th mutation of `base` under `seed`: one to three edits, each a bit flip, a random
 * byte, a truncation, an insertion, a huge varint, a wire-type change or a copied range.
 */
export function mutate(base: Uint8Array, seed: number, index: number): Uint8Array {
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
      case 1: // a random byte
        b[at] = int(256);
        break;
      case 2: // truncate
        b = b.slice(0, at);
        break;
      case 3: {
        // insert 1..16 random bytes
        const ins = Uint8Array.from({ length: 1 + int(16) }, () => int(256));
        b = Buffer.concat([b.subarray(0, at), ins, b.subarray(at)]);
        break;
      }
      case 4: {
        // a huge or over-long varint written over the bytes at `at`
        const h = HUGE[int(HUGE.length)] as number[];
        b = Buffer.concat([b.subarray(0, at), Uint8Array.from(h), b.subarray(Math.min(b.length, at + 1 + int(3)))]);
        break;
      }
      case 5: // change the wire type of the byte at `at` (a tag, if it is one)
        b[at] = ((b[at] as number) & 0xf8) | int(8);
        break;
      case 6: {
        // a tag with its wire type changed, on a field the importer reads: 0x0A, 0x5A (track_event), ...
        const tags = [0x0a, 0x32, 0x5a, 0x62, 0xda, 0xe2, 0x58, 0x50, 0x48, 0x22];
        b[at] = ((tags[int(tags.length)] as number) & 0xf8) | int(6);
        break;
      }
      default: {
        // copy a range elsewhere (duplicated or cut packets)
        const from = int(b.length);
        const n = Math.min(int(512), b.length - from);
        b = Buffer.concat([b.subarray(0, at), b.slice(from, from + n), b.subarray(at)]);
      }
    }
  }
  return b;
}
