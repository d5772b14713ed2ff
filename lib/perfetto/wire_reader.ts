/**
 * A protobuf wire-format reader for the Perfetto importer's hot loop: fields are read in place
 * from a Uint8Array, without generated classes or allocation per field.
 *
 * Wire format (protobuf encoding guide; reference/perfetto.md §1): tag = varint
 * `(field << 3) | wire_type`; wire types 0 VARINT, 1 I64 (8 bytes LE), 2 LEN (varint length +
 * bytes), 5 I32 (4 bytes LE); 3/4 (groups) are not used by Perfetto and are rejected.
 * Every value reader checks the wire type of the field it reads (a varint reader on a varint, a
 * LEN reader on a LEN...) and throws a WireError otherwise, so a value is never read from the
 * wrong bytes and a reader never moves backwards (issue 19: a LEN reader on a varint field used
 * to jump back to the previous field's end and loop forever). Callers that accept several
 * encodings test `wireType` first (e.g. `anyU64Key`, `readRepeatedKeys`).
 */

/** Malformed protobuf data (a length past the end, a bad wire type, a varint over 10 bytes). */
export class WireError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WireError";
  }
}

/** Wire type VARINT (int32/64, uint32/64, sint, bool, enum). */
export const WT_VARINT = 0;
/** Wire type I64: 8 bytes little-endian (fixed64, sfixed64, double). */
export const WT_I64 = 1;
/** Wire type LEN: varint length then bytes (string, bytes, messages, packed repeated). */
export const WT_LEN = 2;
/** Wire type I32: 4 bytes little-endian (fixed32, sfixed32, float). */
export const WT_I32 = 5;

const TWO32 = 4294967296;

/** Names of the wire types for error messages. */
const WIRE_TYPE_NAMES = ["varint", "fixed64", "length-delimited", "group start", "group end", "fixed32", "6", "7"];
const TWO53 = 9007199254740992;
const decoder = new TextDecoder();

/**
 * A cursor over one message's bytes `buf[pos, end)`. `next()` reads a tag into `field` and
 * `wireType`; then exactly one of the value readers (or `skip()`) must be called.
 */
export class WireReader {
  field = 0;
  wireType = 0;
  /** For LEN fields after `next()`/`bytes()`: the value's start and end in `buf`. */
  lenStart = 0;
  lenEnd = 0;
  /** High and low 32-bit halves of the last varint read by `varintParts()`. */
  hi = 0;
  lo = 0;

  constructor(
    public buf: Uint8Array,
    public pos: number,
    public end: number,
  ) {}

  /** Resets the cursor to `buf[pos, end)`. */
  reset(buf: Uint8Array, pos: number, end: number): this {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
    return this;
  }

  /**
   * Reads the next tag. @returns false at the end of the message.
   * @throws WireError on a bad tag or wire type.
   */
  next(): boolean {
    const p = this.pos;
    const end = this.end;
    if (p >= end) return false;
    // One-byte tags (fields 1..15) and lengths (< 128) are read inline.
    let tag = this.buf[p] as number;
    if (tag < 0x80) this.pos = p + 1;
    else tag = this.rawVarint();
    this.field = tag < TWO32 ? tag >>> 3 : Math.floor(tag / 8);
    this.wireType = tag & 7;
    if (this.field === 0) throw new WireError("field number 0");
    if (this.wireType === WT_LEN) {
      const q = this.pos;
      let n = q < end ? (this.buf[q] as number) : 0x80;
      if (n < 0x80) this.pos = q + 1;
      else n = this.rawVarint();
      const s = this.pos;
      if (n > this.end - s) throw new WireError(`field ${this.field} is ${n} bytes long, past the end of its message`);
      this.lenStart = s;
      this.lenEnd = s + n;
      return true;
    }
    if (this.wireType !== WT_VARINT && this.wireType !== WT_I64 && this.wireType !== WT_I32) {
      throw new WireError(`field ${this.field} has wire type ${this.wireType}, which Perfetto does not use`);
    }
    // No stale range of an earlier field: a LEN read of this field finds nothing.
    this.lenStart = -1;
    this.lenEnd = -1;
    return true;
  }

  /** @throws WireError: the current field is not of wire type `want`. */
  private wrongType(want: number): never {
    throw new WireError(
      `field ${this.field} has wire type ${this.wireType} (${WIRE_TYPE_NAMES[this.wireType]}) where ${WIRE_TYPE_NAMES[want]} was expected`,
    );
  }

  /**
   * Reads the current LEN field's bounds into lenStart/lenEnd and moves past it (as `bytes`).
   * @throws WireError when the field is not length-delimited.
   */
  len(): void {
    if (this.wireType !== WT_LEN) this.wrongType(WT_LEN);
    this.pos = this.lenEnd;
  }

  /**
   * Reads a varint as a number; exact up to 2^53 (larger values lose low bits: use
   * `varintParts`/`u64Key` for 64-bit ids).
   * @throws WireError when truncated or longer than 10 bytes.
   */
  varint(): number {
    if (this.wireType !== WT_VARINT) this.wrongType(WT_VARINT);
    return this.rawVarint();
  }

  /** Reads a varint at `pos` whatever the field's wire type (tags, lengths, packed runs). */
  private rawVarint(): number {
    const b = this.buf;
    let p = this.pos;
    const end = this.end;
    if (p < end) {
      const x = b[p] as number;
      if (x < 0x80) {
        this.pos = p + 1;
        return x;
      }
    }
    let v = 0;
    let mul = 1;
    for (let k = 0; k < 10; k++) {
      if (p >= end) throw new WireError("a varint runs past the end of its message");
      const x = b[p++] as number;
      v += (x & 0x7f) * mul;
      if (x < 0x80) {
        this.pos = p;
        return v;
      }
      mul *= 128;
    }
    throw new WireError("a varint is longer than 10 bytes");
  }

  /**
   * Reads a varint into `hi`/`lo` (32-bit halves, unsigned).
   * @throws WireError when the field is not a varint, or the varint is malformed.
   */
  varintParts(): void {
    if (this.wireType !== WT_VARINT) this.wrongType(WT_VARINT);
    const b = this.buf;
    let p = this.pos;
    let lo = 0;
    let hi = 0;
    let shift = 0;
    for (let k = 0; k < 10; k++) {
      if (p >= this.end) throw new WireError("a varint runs past the end of its message");
      const x = b[p++] as number;
      const bits = x & 0x7f;
      if (shift < 28) lo |= bits << shift;
      else if (shift === 28) {
        lo |= (bits & 0xf) << 28;
        hi |= bits >>> 4;
      } else hi |= bits << (shift - 32);
      shift += 7;
      if (x < 0x80) {
        this.pos = p;
        this.lo = lo >>> 0;
        this.hi = hi >>> 0;
        return;
      }
    }
    throw new WireError("a varint is longer than 10 bytes");
  }

  /**
   * A uint64 varint as a map key (see `partsKey`): two equal values always give the same key.
   */
  u64Key(): number | string {
    if (this.wireType !== WT_VARINT) this.wrongType(WT_VARINT);
    // A varint of up to 7 bytes (< 2^49) read as a number is exact (every 7-bit term and partial
    // sum is an integer below 2^53) and is the key partsKey would give; longer ones (Chromium's
    // track uuids and flow ids are 64-bit hashes) are read once, as halves.
    const b = this.buf;
    const p = this.pos;
    const lim = Math.min(this.end, p + 10);
    let q = p;
    while (q < lim && (b[q] as number) >= 0x80) q++;
    if (q - p < 7) return this.rawVarint();
    this.varintParts();
    return partsKey(this.hi, this.lo);
  }

  /** A varint as a signed 64-bit integer (int64: negative values are 10-byte two's complement). */
  i64(): number | bigint {
    const start = this.pos;
    const v = this.varint();
    if (v < TWO53) return v;
    this.pos = start;
    this.varintParts();
    return signedParts(this.hi, this.lo);
  }

  /** A varint as bigint (uint64). */
  u64Big(): bigint {
    this.varintParts();
    return (BigInt(this.hi) << 32n) | BigInt(this.lo);
  }

  /**
   * Reads 8 bytes LE into `hi`/`lo`.
   * @throws WireError when the field is not a fixed64, or runs past the end.
   */
  fixed64Parts(): void {
    if (this.wireType !== WT_I64) this.wrongType(WT_I64);
    const b = this.buf;
    const p = this.pos;
    if (p + 8 > this.end) throw new WireError("a fixed64 runs past the end of its message");
    this.lo =
      ((b[p] as number) | ((b[p + 1] as number) << 8) | ((b[p + 2] as number) << 16) | ((b[p + 3] as number) << 24)) >>>
      0;
    this.hi =
      ((b[p + 4] as number) |
        ((b[p + 5] as number) << 8) |
        ((b[p + 6] as number) << 16) |
        ((b[p + 7] as number) << 24)) >>>
      0;
    this.pos = p + 8;
  }

  /** A fixed64 (uint64) as a key (see `u64Key`). */
  fixed64Key(): number | string {
    this.fixed64Parts();
    return partsKey(this.hi, this.lo);
  }

  /** A double (wire type I64). */
  double(): number {
    if (this.wireType !== WT_I64) this.wrongType(WT_I64);
    if (this.pos + 8 > this.end) throw new WireError("a double runs past the end of its message");
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 8).getFloat64(0, true);
    this.pos += 8;
    return v;
  }

  /**
   * The current LEN field as UTF-8 text.
   * @throws WireError when the field is not length-delimited.
   */
  string(): string {
    if (this.wireType !== WT_LEN) this.wrongType(WT_LEN);
    this.pos = this.lenEnd;
    return decoder.decode(this.buf.subarray(this.lenStart, this.lenEnd));
  }

  /**
   * Skips the current LEN field (its bounds stay in lenStart/lenEnd).
   * @throws WireError when the field is not length-delimited.
   */
  bytes(): void {
    if (this.wireType !== WT_LEN) this.wrongType(WT_LEN);
    this.pos = this.lenEnd;
  }

  /** Skips the current field's value, whatever its wire type. */
  skip(): void {
    switch (this.wireType) {
      case WT_VARINT:
        this.rawVarint();
        return;
      case WT_I64:
        if (this.pos + 8 > this.end) throw new WireError("a fixed64 runs past the end of its message");
        this.pos += 8;
        return;
      case WT_I32:
        if (this.pos + 4 > this.end) throw new WireError("a fixed32 runs past the end of its message");
        this.pos += 4;
        return;
      default:
        this.pos = this.lenEnd;
    }
  }

  /** The value of a scalar field as a key, whatever its wire type (varint, fixed64/32). */
  anyU64Key(): number | string {
    if (this.wireType === WT_I64) return this.fixed64Key();
    if (this.wireType === WT_VARINT) return this.u64Key();
    this.skip();
    return 0;
  }
}

/**
 * A uint64 from 32-bit halves as a map key: a number below 2^53, else its decimal text (a
 * string, so never equal to a number key; cheaper than a bigint; `keyText` gives either as text).
 */
export function partsKey(hi: number, lo: number): number | string {
  if (hi < 0x200000) return hi * TWO32 + lo;
  // Most ids recur within a few events (an event's track, its flow): a direct-mapped cache first.
  const slot = (lo ^ hi) & (KEY_CACHE_SIZE - 1);
  const cached = cacheKey[slot];
  if (cached !== undefined && cacheHi[slot] === hi && cacheLo[slot] === lo) return cached;
  const k = bigKey(hi, lo);
  cacheHi[slot] = hi;
  cacheLo[slot] = lo;
  cacheKey[slot] = k;
  return k;
}

/** Slots of partsKey's direct-mapped cache (a power of two). */
const KEY_CACHE_SIZE = 4096;
const cacheHi = new Uint32Array(KEY_CACHE_SIZE);
const cacheLo = new Uint32Array(KEY_CACHE_SIZE);
const cacheKey: (string | undefined)[] = new Array(KEY_CACHE_SIZE).fill(undefined);

/** The key of a uint64 ≥ 2^53 from its halves (see partsKey): its decimal text. */
function bigKey(hi: number, lo: number): string {
  // One string per value (64-bit ids recur: Chromium's track uuids and flow ids are hashes),
  // found by its halves without building the text again.
  let byLo = bigKeys.get(hi);
  if (byLo === undefined) {
    if (bigKeys.size >= 65536) bigKeys.clear();
    byLo = new Map();
    bigKeys.set(hi, byLo);
  }
  let k = byLo.get(lo);
  if (k === undefined) {
    if (byLo.size >= 65536) byLo.clear();
    k = decimalU64(hi, lo);
    byLo.set(lo, k);
  }
  return k;
}

/**
 * The decimal text of the uint64 `hi * 2^32 + lo`, exactly, without BigInt: with 2^32 =
 * 4294 * 10^6 + 967296, the value is `hi * 4294 * 10^6 + (hi * 967296 + lo)`, whose second term
 * (< 4.2e15) and the carried first (< 1.9e13) are exact doubles.
 */
export function decimalU64(hi: number, lo: number): string {
  const low = hi * 967296 + lo;
  const lowRest = low % 1e6;
  const high = hi * 4294 + (low - lowRest) / 1e6;
  if (high === 0) return String(lowRest);
  return `${high}${String(lowRest).padStart(6, "0")}`;
}

/** The keys of `partsKey` above 2^53, by high then low half. */
const bigKeys = new Map<number, Map<number, string>>();

/**
 * The decimal text of a key made by `partsKey` (a key above 2^53 already is its decimal text).
 */
export function keyText(k: number | string): string {
  return typeof k === "number" ? String(k) : k;
}

/** An int64 from 32-bit halves: a number when safe, else a bigint. */
export function signedParts(hi: number, lo: number): number | bigint {
  if (hi < 0x200000) return hi * TWO32 + lo;
  const v = BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo));
  if (v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(v);
  return v;
}

/** Readers for nested messages, reused (one per nesting level in use). */
export class ReaderPool {
  private readonly free: WireReader[] = [];

  /** A reader over `buf[s, e)`; give it back with `release` when done. */
  take(buf: Uint8Array, s: number, e: number): WireReader {
    const r = this.free.pop();
    return r ? r.reset(buf, s, e) : new WireReader(buf, s, e);
  }

  /** Returns a reader taken with `take`. */
  release(r: WireReader): void {
    this.free.push(r);
  }
}

/**
 * Appends the values of a repeated integer field at the reader's current tag to `out` as keys
 * (see `WireReader.u64Key`): one varint or fixed64 value, or a packed run (LEN) of them.
 * @param fixed true when a packed run holds fixed64 values (the field is declared fixed64),
 *   false when it holds varints.
 */
export function readRepeatedKeys(r: WireReader, out: (number | string)[], fixed: boolean): void {
  if (r.wireType === WT_VARINT) out.push(r.u64Key());
  else if (r.wireType === WT_I64) out.push(r.fixed64Key());
  else if (r.wireType === WT_LEN)
    eachPacked(r, fixed ? WT_I64 : WT_VARINT, 1, () => out.push(fixed ? r.fixed64Key() : r.u64Key()));
  else r.skip();
}

/**
 * Runs `read` for each element of the packed run at the reader's current LEN field, in place:
 * the reader is narrowed to the run, with its elements' wire type `wt`, while at least
 * `minBytes` of it remain, then moved past it (its end, position and wire type restored).
 */
function eachPacked(r: WireReader, wt: number, minBytes: number, read: () => void): void {
  const end = r.end;
  const runEnd = r.lenEnd;
  r.pos = r.lenStart;
  r.end = runEnd;
  r.wireType = wt;
  try {
    while (r.end - r.pos >= minBytes) read();
  } finally {
    r.end = end;
    r.pos = runEnd;
    r.wireType = WT_LEN;
  }
}

/**
 * Appends the values of a repeated uint64 field at the reader's current tag to `out` as pairs of
 * 32-bit halves (hi, then lo; unsigned), like readRepeatedKeys but without making a key of each:
 * for ids only compared (U64Set) or made text once (`u64Text`).
 * @param fixed true when a packed run holds fixed64 values, false when it holds varints.
 */
export function readRepeatedParts(r: WireReader, out: number[], fixed: boolean): void {
  if (r.wireType === WT_VARINT || r.wireType === WT_I64) pushParts(r, out);
  else if (r.wireType === WT_LEN) eachPacked(r, fixed ? WT_I64 : WT_VARINT, 1, () => pushParts(r, out));
  else r.skip();
}

/** Reads the reader's current varint or fixed64 value and appends its halves (hi, lo) to `out`. */
function pushParts(r: WireReader, out: number[]): void {
  if (r.wireType === WT_I64) r.fixed64Parts();
  else r.varintParts();
  out.push(r.hi, r.lo);
}

/**
 * The decimal text of the uint64 hi·2^32 + lo (unsigned 32-bit halves): `keyText(partsKey(hi,
 * lo))`, without partsKey's caches.
 */
export function u64Text(hi: number, lo: number): string {
  return hi < 0x200000 ? String(hi * TWO32 + lo) : decimalU64(hi, lo);
}

/** Appends the values of a repeated int64 field (one varint, or a packed run) to `out`, as numbers. */
export function readRepeatedNumbers(r: WireReader, out: number[]): void {
  if (r.wireType === WT_VARINT) out.push(Number(r.i64()));
  else if (r.wireType === WT_LEN) eachPacked(r, WT_VARINT, 1, () => out.push(Number(r.i64())));
  else r.skip();
}

/**
 * Appends the values of a repeated double field (one fixed64, or a packed run of them) to `out`;
 * a packed run's trailing bytes short of 8 are ignored.
 */
export function readRepeatedDoubles(r: WireReader, out: number[]): void {
  if (r.wireType === WT_I64) out.push(r.double());
  else if (r.wireType === WT_LEN) eachPacked(r, WT_I64, 8, () => out.push(r.double()));
  else r.skip();
}
