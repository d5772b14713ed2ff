/**
 * A tiny protobuf writer and generic reader for tests, independent of lib/perfetto/wire_reader.ts:
 * messages are built from field lists, and decoded into `{field: values[]}` maps.
 */

/** A field value: an unsigned integer (varint), `{f64}` (fixed64), `{dbl}` (double), text or bytes, or a sub-message. */
export type PbValue = number | bigint | string | Uint8Array | { f64: bigint } | { dbl: number } | PbField[];
/** A field of a message: [field number, value]. */
export type PbField = [number, PbValue];

function varint(v: bigint, out: number[]): void {
  let x = BigInt.asUintN(64, v);
  while (x >= 0x80n) {
    out.push(Number(x & 0x7fn) | 0x80);
    x >>= 7n;
  }
  out.push(Number(x));
}

/** Encodes a message. */
export function encode(fields: PbField[]): Uint8Array {
  const out: number[] = [];
  for (const [f, v] of fields) {
    if (typeof v === "number" || typeof v === "bigint") {
      varint(BigInt(f) << 3n, out);
      varint(BigInt(v), out);
    } else if (typeof v === "string" || v instanceof Uint8Array || Array.isArray(v)) {
      const b = typeof v === "string" ? new TextEncoder().encode(v) : v instanceof Uint8Array ? v : encode(v);
      varint((BigInt(f) << 3n) | 2n, out);
      varint(BigInt(b.length), out);
      for (const x of b) out.push(x);
    } else {
      varint((BigInt(f) << 3n) | 1n, out);
      const d = new DataView(new ArrayBuffer(8));
      if ("f64" in v) d.setBigUint64(0, v.f64, true);
      else d.setFloat64(0, v.dbl, true);
      for (let k = 0; k < 8; k++) out.push(d.getUint8(k));
    }
  }
  return new Uint8Array(out);
}

/** A trace: each packet as `Trace.packet` (field 1). */
export function trace(packets: PbField[][]): Uint8Array {
  return encode(packets.map((p) => [1, p] as PbField));
}

/** A decoded message: field → values (bigint for varints and fixed64, Uint8Array for LEN). */
export type Decoded = Map<number, (bigint | Uint8Array)[]>;

/** Decodes one message's fields (throws on malformed data). */
export function decode(b: Uint8Array): Decoded {
  const m: Decoded = new Map();
  let p = 0;
  const rv = (): bigint => {
    let v = 0n;
    let s = 0n;
    for (;;) {
      if (p >= b.length) throw new Error("truncated varint");
      const x = b[p++] as number;
      v |= BigInt(x & 0x7f) << s;
      if (x < 0x80) return v;
      s += 7n;
    }
  };
  while (p < b.length) {
    const tag = rv();
    const f = Number(tag >> 3n);
    const wt = Number(tag & 7n);
    let val: bigint | Uint8Array;
    if (wt === 0) val = rv();
    else if (wt === 1) {
      val = new DataView(b.buffer, b.byteOffset + p, 8).getBigUint64(0, true);
      p += 8;
    } else if (wt === 2) {
      const n = Number(rv());
      val = b.subarray(p, p + n);
      p += n;
    } else if (wt === 5) {
      val = BigInt(new DataView(b.buffer, b.byteOffset + p, 4).getUint32(0, true));
      p += 4;
    } else throw new Error(`wire type ${wt}`);
    const list = m.get(f);
    if (list) list.push(val);
    else m.set(f, [val]);
  }
  return m;
}
