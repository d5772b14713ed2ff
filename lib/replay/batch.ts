/**
 * Columnar batches for the workers (format in lib/replay/state.ts): reading DuckDB chunk
 * vectors into Float64Array columns (validity from DuckDB's bitmask, i64 as offsets from a
 * per-column base), and cutting a batch into row ranges and per-partition selections.
 *
 * The node-api vectors of fixed-width types hold their data in a typed array (`items`) and
 * their validity bitmask in `validity.data` (node_modules/@duckdb/node-api/lib/vectors); we
 * read both directly, as lib/duck/columnar.ts does.
 */
import type { DuckDBVector } from "@duckdb/node-api";
import type { ArgKind, Batch } from "./state.ts";

/** The parts of a node-api vector we read. */
export interface RawVector {
  items: BigInt64Array | BigUint64Array | Float64Array;
  validity: { data: BigUint64Array | null };
}

/** Column readers: DuckDB vectors → the numeric batch form (lib/replay/state.ts). */
export class ColumnReader {
  /** Per column: base of i64 offsets as [hi, lo] 32-bit halves (set by the first value). */
  private readonly baseHi: Float64Array;
  private readonly baseLo: Float64Array;
  private readonly baseSet: Uint8Array;

  /** @param kinds how each transfer column is carried (ReplayPlan keyKinds then argKinds). */
  constructor(private readonly kinds: ArgKind[]) {
    this.baseHi = new Float64Array(kinds.length);
    this.baseLo = new Float64Array(kinds.length);
    this.baseSet = new Uint8Array(kinds.length);
    // Dictionary ids are small: no offset.
    kinds.forEach((k, c) => {
      if (k === "dict") this.baseSet[c] = 1;
    });
  }

  /** The base of column `c` (0 when unset or not i64). */
  base(c: number): bigint {
    if (!this.baseSet[c]) return 0n;
    return (BigInt(this.baseHi[c] as number) << 32n) + BigInt(this.baseLo[c] as number);
  }

  /**
   * Appends `m` rows of vector `v` (column `c`) at row `at` of `b`.
   */
  read(v: DuckDBVector, c: number, m: number, b: Batch, at: number): void {
    const r = v as unknown as RawVector;
    const out = b.vals[c] as Float64Array;
    const vd = r.validity.data;
    let validBits: Uint32Array | null = null;
    if (vd) {
      validBits = new Uint32Array(vd.buffer, vd.byteOffset, Math.ceil(m / 32));
      let all = true;
      for (let w = 0; w < m >>> 5; w++) if (validBits[w] !== 0xffffffff) all = false;
      for (let i = m & ~31; i < m; i++) if ((((validBits[i >>> 5] as number) >>> (i & 31)) & 1) === 0) all = false;
      if (all) validBits = null;
    }
    if (validBits) {
      let valid = b.valid[c];
      if (!valid) {
        valid = new Uint8Array(out.length).fill(1);
        b.valid[c] = valid;
      }
      for (let i = 0; i < m; i++) valid[at + i] = ((validBits[i >>> 5] as number) >>> (i & 31)) & 1;
    }
    if (this.kinds[c] === "f64") {
      out.set((r.items as Float64Array).subarray(0, m), at);
      return;
    }
    const items = r.items as BigInt64Array;
    const w32 = new Int32Array(items.buffer, items.byteOffset, m * 2);
    if (!this.baseSet[c]) {
      for (let i = 0; i < m; i++) {
        if (validBits && (((validBits[i >>> 5] as number) >>> (i & 31)) & 1) === 0) continue;
        this.baseHi[c] = w32[2 * i + 1] as number;
        this.baseLo[c] = (w32[2 * i] as number) >>> 0;
        this.baseSet[c] = 1;
        break;
      }
    }
    const bh = this.baseHi[c] as number;
    const bl = this.baseLo[c] as number;
    for (let i = 0; i < m; i++) {
      const dh = (w32[2 * i + 1] as number) - bh;
      if (dh > -1048576 && dh < 1048576) out[at + i] = dh * 4294967296 + (((w32[2 * i] as number) >>> 0) - bl);
      else {
        // Out of a double's exact range from the base: carry the exact offset on the side.
        out[at + i] = Number.NaN;
        let wide = b.wide[c];
        if (!wide) {
          wide = new Map();
          b.wide[c] = wide;
        }
        wide.set(at + i, (items[i] as bigint) - this.base(c));
      }
    }
  }
}

/** An empty batch of `n` rows and `cols` columns. */
export function newBatch(cols: number, n: number): Batch {
  return {
    vals: Array.from({ length: cols }, () => new Float64Array(n)),
    valid: new Array(cols).fill(null),
    wide: new Array(cols).fill(null),
  };
}

/** Rows [s, e) of `b` as a new batch (copies: the buffers are transferred to a worker). */
export function sliceBatch(b: Batch, s: number, e: number): Batch {
  return {
    vals: b.vals.map((v) => v.slice(s, e)),
    valid: b.valid.map((v) => (v ? v.slice(s, e) : null)),
    wide: b.wide.map((w) => {
      if (!w) return null;
      const out = new Map<number, bigint>();
      for (const [i, x] of w) if (i >= s && i < e) out.set(i - s, x);
      return out.size > 0 ? out : null;
    }),
  };
}

/** The rows of `b` whose partition is `p`, as a new batch of `count` rows. */
export function selectBatch(b: Batch, part: Uint16Array, n: number, p: number, count: number): Batch {
  const out = newBatch(b.vals.length, count);
  for (let c = 0; c < b.vals.length; c++) {
    const src = b.vals[c] as Float64Array;
    const dst = out.vals[c] as Float64Array;
    let k = 0;
    for (let i = 0; i < n; i++) if (part[i] === p) dst[k++] = src[i] as number;
    const v = b.valid[c];
    if (v) {
      const dv = new Uint8Array(count);
      k = 0;
      for (let i = 0; i < n; i++) if (part[i] === p) dv[k++] = v[i] as number;
      out.valid[c] = dv;
    }
    const w = b.wide[c];
    if (w) {
      const dw = new Map<number, bigint>();
      k = 0;
      for (let i = 0; i < n; i++) {
        if (part[i] !== p) continue;
        const x = w.get(i);
        if (x !== undefined) dw.set(k, x);
        k++;
      }
      out.wide[c] = dw.size > 0 ? dw : null;
    }
  }
  return out;
}
