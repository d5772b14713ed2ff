/**
 * A minimal Parquet writer for raw blocks (the layout of lib/lake/raw_block.ts), so that ingest
 * does not go through DuckDB's partitioned COPY (whose fixed cost per small file dominated ingest).
 *
 * It writes exactly the schema DuckDB wrote for these blocks (same physical, converted and
 * logical types, all columns OPTIONAL, root named `duckdb_schema`), so every reader sees the
 * same table, with the DuckDB types of raw_block.ts (RAW_KIND_SQL_TYPE).
 *
 * Layout: row groups of at most `ROW_GROUP_ROWS` rows, one v1 data page per column chunk,
 * PLAIN values, definition levels in the RLE/bit-packed hybrid, each page compressed with zstd
 * (pages of 64 bytes or less are stored uncompressed).
 * Column statistics: null counts for every column, min/max for `seq` and `time` (per row group,
 * written when an `encodeRowGroups` call makes one row group). A file may be written in several
 * appends of row groups before its footer (`encodeRowGroups`, `encodeFooter`; block_file.ts).
 *
 * Format reference: apache/parquet-format `parquet.thrift` and `Encodings.md`.
 */
import { noFTL } from "bun:jsc";
import { grownBytes } from "../../bytes.ts";
import { RAW_BLOCK_COLUMNS, type RawColumnKind, ROW_GROUP_ROWS } from "../../lake/raw_block.ts";

/**
 * The values of one column chunk, already in PLAIN encoding, plus one definition level per row.
 * - `i64`/`ts`: 8 bytes little-endian per non-null value;
 * - `str`/`json`: 4-byte little-endian length then the UTF-8 bytes, per non-null value;
 * - `bool`: one byte (0 or 1) per non-null value (bit-packed by the writer).
 */
export interface ColumnData {
  /** PLAIN values of the non-null rows, `values[0, valuesLen)`. */
  values: Uint8Array;
  valuesLen: number;
  /** 1 for a present value, 0 for null, one per row: `defs[0, rows)`. */
  defs: Uint8Array;
  /**
   * Byte offset in `values` of the first value of each row group: entry k is the offset at row
   * k × ROW_GROUP_ROWS, and a last entry is `valuesLen`.
   */
  groupStarts: number[];
  /** min/max statistics as 8-byte little-endian INT64, or null when not kept. */
  min: Uint8Array | null;
  max: Uint8Array | null;
}

// Thrift compact protocol type ids.
const T_BOOL_TRUE = 1;
const T_I32 = 5;
const T_I64 = 6;
const T_BINARY = 8;
const T_LIST = 9;
const T_STRUCT = 12;

/** A growable byte buffer with Thrift compact protocol helpers. */
class Out {
  buf: Uint8Array;
  len = 0;
  private lastField: number[] = [0];

  constructor(initial = 64) {
    this.buf = new Uint8Array(initial);
  }

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    this.buf = grownBytes(this.buf, this.len, n);
  }

  byte(b: number): void {
    this.ensure(1);
    this.buf[this.len++] = b;
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  varint(v: number): void {
    // Unsigned LEB128 of a non-negative safe integer.
    while (v >= 0x80) {
      this.byte((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    this.byte(v);
  }

  zigzag(v: number): void {
    this.varint(v >= 0 ? v * 2 : -v * 2 - 1);
  }

  fieldHeader(id: number, type: number): void {
    const last = this.lastField[this.lastField.length - 1] as number;
    const delta = id - last;
    if (delta > 0 && delta <= 15) this.byte((delta << 4) | type);
    else {
      this.byte(type);
      this.zigzag(id);
    }
    this.lastField[this.lastField.length - 1] = id;
  }

  i32(id: number, v: number): void {
    this.fieldHeader(id, T_I32);
    this.zigzag(v);
  }

  i64(id: number, v: number): void {
    this.fieldHeader(id, T_I64);
    this.zigzag(v);
  }

  bin(id: number, b: Uint8Array): void {
    this.fieldHeader(id, T_BINARY);
    this.varint(b.length);
    this.bytes(b);
  }

  str(id: number, s: string): void {
    this.bin(id, new TextEncoder().encode(s));
  }

  boolTrue(id: number): void {
    this.fieldHeader(id, T_BOOL_TRUE);
  }

  beginStruct(id: number): void {
    this.fieldHeader(id, T_STRUCT);
    this.lastField.push(0);
  }

  /** Begins a struct that is a list element (no field header). */
  beginElem(): void {
    this.lastField.push(0);
  }

  endStruct(): void {
    this.byte(0);
    this.lastField.pop();
  }

  list(id: number, elemType: number, n: number): void {
    this.fieldHeader(id, T_LIST);
    if (n < 15) this.byte((n << 4) | elemType);
    else {
      this.byte(0xf0 | elemType);
      this.varint(n);
    }
  }
}

/** Parquet enums used here. */
const TYPE_BOOLEAN = 0;
const TYPE_INT64 = 2;
const TYPE_BYTE_ARRAY = 6;
const CONVERTED_UTF8 = 0;
const CONVERTED_INT_64 = 18;
const CONVERTED_JSON = 19;
const REP_REQUIRED = 0;
const REP_OPTIONAL = 1;
const ENC_PLAIN = 0;
const ENC_RLE = 3;
const CODEC_UNCOMPRESSED = 0;
const CODEC_ZSTD = 6;
/** Pages of at most this many bytes are not compressed (see encodeRowGroups). */
const UNCOMPRESSED_PAGE_BYTES = 64;
const PAGE_DATA = 0;

const MAGIC = new Uint8Array([0x50, 0x41, 0x52, 0x31]); // PAR1

/** The column names as UTF-8 (ColumnMetaData.path_in_schema). */
const COLUMN_NAME_BYTES = RAW_BLOCK_COLUMNS.map((c) => new TextEncoder().encode(c.name));

function physicalType(kind: RawColumnKind): number {
  return kind === "bool" ? TYPE_BOOLEAN : kind === "i64" || kind === "ts" ? TYPE_INT64 : TYPE_BYTE_ARRAY;
}

function writeSchema(o: Out): void {
  o.list(2, T_STRUCT, RAW_BLOCK_COLUMNS.length + 1);
  o.beginElem();
  o.i32(3, REP_REQUIRED);
  o.str(4, "duckdb_schema");
  o.i32(5, RAW_BLOCK_COLUMNS.length);
  o.endStruct();
  for (const c of RAW_BLOCK_COLUMNS) {
    o.beginElem();
    o.i32(1, physicalType(c.kind));
    o.i32(3, REP_OPTIONAL);
    o.str(4, c.name);
    if (c.kind === "i64") o.i32(6, CONVERTED_INT_64);
    else if (c.kind === "str") o.i32(6, CONVERTED_UTF8);
    else if (c.kind === "json") o.i32(6, CONVERTED_JSON);
    if (c.kind === "ts") {
      // LogicalType.TIMESTAMP (8): TimestampType{isAdjustedToUTC: false, unit: NANOS (3)}.
      o.beginStruct(10);
      o.beginStruct(8);
      o.fieldHeader(1, 2); // bool false
      o.beginStruct(2);
      o.beginStruct(3);
      o.endStruct();
      o.endStruct();
      o.endStruct();
      o.endStruct();
    } else if (c.kind === "json") {
      // LogicalType.JSON (12): JsonType{}.
      o.beginStruct(10);
      o.beginStruct(12);
      o.endStruct();
      o.endStruct();
    }
    o.endStruct();
  }
}

/** Definition levels of rows [from, to) in the RLE/bit-packed hybrid (bit width 1), length-prefixed. */
function encodeDefs(defs: Uint8Array, from: number, to: number, nulls: number): Uint8Array {
  const n = to - from;
  if (nulls === 0 || nulls === n) {
    // One RLE run.
    const o = new Out();
    o.varint(n * 2);
    o.byte(nulls === 0 ? 1 : 0);
    return withLengthPrefix(o);
  }
  // One bit-packed run: header varint, then 8 levels per byte, LSB first.
  const groups = Math.ceil(n / 8);
  const h = new Out();
  h.varint(groups * 2 + 1);
  const r = new Uint8Array(4 + h.len + groups);
  new DataView(r.buffer).setUint32(0, h.len + groups, true);
  r.set(h.buf.subarray(0, h.len), 4);
  let p = 4 + h.len;
  let k = from;
  let g = 0;
  const words = wordsAt(defs, from, Math.floor(n / 8) * 2);
  if (words !== null) {
    // Eight levels from two words: `pack4` puts a word's four 0/1 bytes in its low four bits.
    for (; g < words.length >> 1; g++) {
      r[p++] = pack4(words[2 * g] as number) | (pack4(words[2 * g + 1] as number) << 4);
    }
    k += g * 8;
  }
  for (; g < groups; g++) {
    let b = 0;
    const lim = Math.min(8, to - k);
    for (let bit = 0; bit < lim; bit++) b |= (defs[k + bit] as number) << bit;
    r[p++] = b;
    k += 8;
  }
  return r;
}

/**
 * The four definition levels (bytes of 0 or 1, little-endian) of word `w` as bits 0-3, the first
 * level lowest: the product puts byte i's bit at bit 24 + i (the other partial products land
 * on distinct bits outside 24-27, so nothing carries into them).
 */
function pack4(w: number): number {
  return (Math.imul(w, 0x01020408) >>> 24) & 15;
}

/**
 * `count` 32-bit words of `defs` from level `from` on, when that level is 4-byte aligned in its
 * buffer (null otherwise: the caller reads bytes).
 */
function wordsAt(defs: Uint8Array, from: number, count: number): Int32Array | null {
  const at = defs.byteOffset + from;
  if ((at & 3) !== 0 || count === 0) return null;
  return new Int32Array(defs.buffer, at, count);
}

/**
 * The NULLs among `defs[from, to)` (definition levels: 0 NULL, 1 a value; every writer of the
 * raw columns sets only these), four levels at a time where the buffer allows.
 */
function countNulls(defs: Uint8Array, from: number, to: number): number {
  let ones = 0;
  let k = from;
  while (k < to && ((defs.byteOffset + k) & 3) !== 0) ones += defs[k++] as number;
  const words = wordsAt(defs, k, (to - k) >> 2);
  if (words !== null) {
    // A word's four 0/1 bytes summed into its top byte.
    for (let i = 0; i < words.length; i++) ones += Math.imul(words[i] as number, 0x01010101) >>> 24;
    k += words.length * 4;
  }
  while (k < to) ones += defs[k++] as number;
  return to - from - ones;
}

function withLengthPrefix(o: Out): Uint8Array {
  const r = new Uint8Array(4 + o.len);
  new DataView(r.buffer).setUint32(0, o.len, true);
  r.set(o.buf.subarray(0, o.len), 4);
  return r;
}

/** Bit-packs one-byte booleans (PLAIN BOOLEAN: LSB first). */
function packBools(values: Uint8Array, from: number, to: number): Uint8Array {
  const n = to - from;
  const r = new Uint8Array(Math.ceil(n / 8));
  for (let k = 0; k < n; k++) if (values[from + k] === 1) (r[k >> 3] as number) |= 1 << (k & 7);
  return r;
}

let pageBuf = new Uint8Array(64 * 1024);

/** Bytes of a raw block file's header: the magic `PAR1` (parquet-format "File Format"). */
export const BLOCK_FILE_HEADER: Uint8Array = MAGIC;

/** Row groups encoded by `encodeRowGroups`, to be appended to a block file. */
export interface EncodedRowGroups {
  /** The bytes to append, in order (page headers and compressed pages). */
  parts: Uint8Array[];
  /** Their total length in bytes. */
  bytes: number;
  /** One Thrift-encoded `RowGroup` struct per row group, for `encodeFooter`. */
  rowGroups: Uint8Array[];
}

/** One page of `encodePages`: its compressed bytes as `compress` made them, and its chunk's facts. */
export interface EncodedPage<Z> {
  /** The compressed page (or a promise of it), or the page itself when `plain`. */
  z: Z;
  /** Bytes of the uncompressed page. */
  length: number;
  /** Null values in the page's rows. */
  nulls: number;
  /** Stored uncompressed (a page of at most UNCOMPRESSED_PAGE_BYTES). */
  plain: boolean;
}

/**
 * The row groups of `encodePages`, before their file offsets are known: per row group its rows
 * and one page per column (RAW_BLOCK_COLUMNS order), and the columns' min/max statistics
 * (copies) when the call makes one row group.
 */
export interface EncodedPages<Z> {
  groups: { rows: number; pages: EncodedPage<Z>[] }[];
  /** Per column its min/max (ColumnData.min/max, copied), or null when there are several row groups. */
  stats: { min: Uint8Array | null; max: Uint8Array | null }[] | null;
}

/**
 * Encodes rows as the pages of row groups of a raw block file (ROW_GROUP_ROWS rows each, one
 * data page per column chunk); `assembleRowGroups` then lays them out at a file offset. Each page
 * is handed to `compress` as it is built, in a buffer reused for the next one (a compressor that
 * works later, on another thread, must take a copy) unless `newPage` is given. Pages of a few bytes are not handed over:
 * their `z` is a copy of the page.
 * @param rows number of rows (0 makes one empty row group).
 * @param columns one ColumnData per RAW_BLOCK_COLUMNS entry, in that order; not read after the
 *   call returns.
 * @param compress zstd compression of a page, or the start of it (Z: a promise of the bytes).
 * @param newPage when given, each page is built in a buffer of its own of this function's
 *   (n: the page's bytes), which `compress` may keep (a compressor working later then needs no
 *   copy of it); otherwise pages share one buffer.
 */
export function encodePages<Z>(
  rows: number,
  columns: readonly ColumnData[],
  compress: (page: Uint8Array) => Z,
  newPage: ((n: number) => Uint8Array) | null = null,
): EncodedPages<Z | Uint8Array> {
  const groups: EncodedPages<Z | Uint8Array>["groups"] = [];
  for (let g0 = 0; g0 < rows || (rows === 0 && g0 === 0); g0 += ROW_GROUP_ROWS) {
    const g1 = Math.min(rows, g0 + ROW_GROUP_ROWS);
    const pages: EncodedPage<Z | Uint8Array>[] = [];
    for (let c = 0; c < RAW_BLOCK_COLUMNS.length; c++) {
      const col = columns[c] as ColumnData;
      const kind = (RAW_BLOCK_COLUMNS[c] as { kind: RawColumnKind }).kind;
      const nulls = countNulls(col.defs, g0, g1);
      const defs = encodeDefs(col.defs, g0, g1, nulls);
      const gi = g0 / ROW_GROUP_ROWS;
      const vFrom = col.groupStarts[gi] as number;
      const vTo = g1 === rows ? col.valuesLen : (col.groupStarts[gi + 1] as number);
      const vals = kind === "bool" ? packBools(col.values, vFrom, vTo) : col.values.subarray(vFrom, vTo);
      // The uncompressed page is built in a buffer reused from page to page and file to file
      // (allocating one per page made most of the ingest's memory churn).
      const plen = defs.length + vals.length;
      let page: Uint8Array;
      if (newPage !== null) page = newPage(plen);
      else {
        if (pageBuf.length < plen) pageBuf = new Uint8Array(Math.max(plen, pageBuf.length * 2));
        page = pageBuf.subarray(0, plen);
      }
      page.set(defs);
      page.set(vals, defs.length);
      // A page of a few bytes (an all-null or all-false column of a small row group) is stored
      // as is: zstd would make it larger, for a call costing ~10 µs (ColumnMetaData.codec is
      // per column chunk: parquet.thrift).
      const plain = plen <= UNCOMPRESSED_PAGE_BYTES;
      pages.push({ z: plain ? (newPage !== null ? page : page.slice()) : compress(page), length: plen, nulls, plain });
    }
    groups.push({ rows: g1 - g0, pages });
    if (rows === 0) break;
  }
  const stats =
    groups.length === 1
      ? columns.map((col) => ({ min: col.min?.slice() ?? null, max: col.max?.slice() ?? null }))
      : null;
  return { groups, stats };
}

/**
 * Lays out the pages of `encodePages` (compressed) as row groups of a raw block file for bytes
 * that go at `offset` in the file. Appending the row groups of several calls to one file, then
 * its footer, makes a block file out of several flushes of a group: the file's layout is
 * parquet-format's "File Format" (magic, column chunks, FileMetaData, its length, magic); the
 * column chunks of a row group are contiguous, row groups follow each other. Min/max statistics
 * (Statistics.max_value/min_value of a ColumnChunk's ColumnMetaData) are written when the call
 * made one row group: `ColumnData.min/max` are those of its rows then.
 * @param offset byte offset in the file of the first part (4 right after the header).
 */
export function assembleRowGroups(encoded: EncodedPages<Uint8Array>, offset: number): EncodedRowGroups {
  const parts: Uint8Array[] = [];
  const start = offset;
  interface ChunkMeta {
    offset: number;
    compressed: number;
    uncompressed: number;
    nulls: number;
    codec: number;
  }
  const groups: { rows: number; chunks: ChunkMeta[] }[] = [];
  for (const eg of encoded.groups) {
    const chunks: ChunkMeta[] = [];
    for (const p of eg.pages) {
      const z = p.z;
      const h = new Out();
      h.i32(1, PAGE_DATA);
      h.i32(2, p.length);
      h.i32(3, z.length);
      h.beginStruct(5);
      h.i32(1, eg.rows);
      h.i32(2, ENC_PLAIN);
      h.i32(3, ENC_RLE);
      h.i32(4, ENC_RLE);
      h.endStruct();
      h.byte(0);
      const header = h.buf.slice(0, h.len);
      parts.push(header, z);
      chunks.push({
        offset,
        compressed: header.length + z.length,
        uncompressed: header.length + p.length,
        nulls: p.nulls,
        codec: p.plain ? CODEC_UNCOMPRESSED : CODEC_ZSTD,
      });
      offset += header.length + z.length;
    }
    groups.push({ rows: eg.rows, chunks });
  }

  const rowGroups = groups.map((g) => {
    const m = new Out(1024);
    m.beginElem();
    m.list(1, T_STRUCT, g.chunks.length);
    let total = 0;
    let totalCompressed = 0;
    g.chunks.forEach((ch, c) => {
      const st = encoded.stats?.[c];
      const kind = (RAW_BLOCK_COLUMNS[c] as { kind: RawColumnKind; name: string }).kind;
      total += ch.uncompressed;
      totalCompressed += ch.compressed;
      m.beginElem();
      m.i64(2, ch.offset);
      m.beginStruct(3);
      m.i32(1, physicalType(kind));
      m.list(2, T_I32, 2);
      m.zigzag(ENC_PLAIN);
      m.zigzag(ENC_RLE);
      m.list(3, T_BINARY, 1);
      const nb = COLUMN_NAME_BYTES[c] as Uint8Array;
      m.varint(nb.length);
      m.bytes(nb);
      m.i32(4, ch.codec);
      m.i64(5, g.rows);
      m.i64(6, ch.uncompressed);
      m.i64(7, ch.compressed);
      m.i64(9, ch.offset);
      m.beginStruct(12);
      m.i64(3, ch.nulls);
      // min/max are those of all the call's rows: exact for its only row group.
      if (st?.min && st.max && ch.nulls < g.rows) {
        m.bin(5, st.max);
        m.bin(6, st.min);
      }
      m.endStruct();
      m.endStruct();
      m.endStruct();
    });
    m.i64(2, total);
    m.i64(3, g.rows);
    m.i64(5, g.chunks[0]?.offset ?? start);
    m.i64(6, totalCompressed);
    m.endStruct();
    return m.buf.slice(0, m.len);
  });
  return { parts, bytes: offset - start, rowGroups };
}

/**
 * Encodes rows as row groups of a raw block file for bytes that go at `offset` in the file,
 * compressing each page as it is built (`encodePages`, then `assembleRowGroups`).
 * @param rows number of rows (0 makes one empty row group).
 * @param columns one ColumnData per RAW_BLOCK_COLUMNS entry, in that order.
 * @param compress zstd compression of a page (e.g. `(b) => Bun.zstdCompressSync(b, { level: 1 })`);
 *   it must not keep the page (its buffer is reused).
 * @param offset byte offset in the file of the first part (4 right after the header).
 */
export function encodeRowGroups(
  rows: number,
  columns: readonly ColumnData[],
  compress: (page: Uint8Array) => Uint8Array,
  offset: number,
): EncodedRowGroups {
  return assembleRowGroups(encodePages(rows, columns, compress), offset);
}

/**
 * Encodes the end of a raw block file: its FileMetaData (schema, `rows`, the row groups of
 * `encodeRowGroups` in file order), the metadata's length (4 bytes little-endian) and the magic.
 * @param rows the file's total rows.
 * @param rowGroups every `EncodedRowGroups.rowGroups` entry of the file, in order.
 */
export function encodeFooter(rows: number, rowGroups: readonly Uint8Array[]): Uint8Array[] {
  const m = new Out(4096);
  m.i32(1, 1);
  writeSchema(m);
  m.i64(3, rows);
  // (A RowGroup list element is a struct encoded on its own: field ids restart in a struct.)
  m.list(4, T_STRUCT, rowGroups.length);
  for (const g of rowGroups) m.bytes(g);
  m.str(6, "tracelake raw block writer (parquet-format 2)");
  m.byte(0);
  const footer = m.buf.slice(0, m.len);
  const tail = new Uint8Array(8);
  new DataView(tail.buffer).setUint32(0, footer.length, true);
  tail.set(MAGIC, 4);
  return [footer, tail];
}

/**
 * Encodes a whole raw block file: header, `encodeRowGroups`, `encodeFooter`.
 * @param rows number of rows.
 * @param columns one ColumnData per RAW_BLOCK_COLUMNS entry, in that order.
 * @param compress as for `encodeRowGroups`.
 * @returns the file's bytes, in parts.
 */
export function encodeRawBlock(
  rows: number,
  columns: readonly ColumnData[],
  compress: (page: Uint8Array) => Uint8Array,
): Uint8Array[] {
  const g = encodeRowGroups(rows, columns, compress, MAGIC.length);
  return [MAGIC, ...g.parts, ...encodeFooter(rows, g.rowGroups)];
}

// Compile hint for JavaScriptCore (bun:jsc): encodeRowGroups runs once per flush of a block and spends its
// time in zstd and in the helpers it calls, but its top tier (FTL) compile, with everything
// inlined, took ~165 ms and was redone 3 times per worker thread (1 s of CPU per ingest).
// (Since split: encodePages and assembleRowGroups hold that code.)
noFTL(encodeRowGroups);
noFTL(encodePages);
noFTL(assembleRowGroups);
