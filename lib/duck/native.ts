/**
 * Makes DuckDB's native library loadable from a compiled single-file binary.
 *
 * `@duckdb/node-bindings` loads `duckdb.node`, which links `libduckdb.so` by soname with
 * RUNPATH `$ORIGIN`. Inside a `bun build --compile` binary the `.node` file is unpacked by
 * Bun to a temporary path where no `libduckdb.so` sits beside it. So the build carries the
 * library, zstd-compressed (scripts/build.ts), and before the binding is imported we unpack it
 * once to a per-version cache directory and dlopen it: the dynamic linker then satisfies the
 * binding's DT_NEEDED with the already-loaded library of the same soname. When the library is
 * already unpacked, the binary's entry has usually loaded it on a worker thread by then
 * (lib/duck/preload.ts): this waits for that worker's answer and loads it only if it did not.
 *
 * The compressed library (a payload: header, then zstd frame) is a file embedded in the
 * executable (`packedPath`), read only when the library must be unpacked (scripts/build.ts says
 * why that costs a start nothing).
 *
 * When running from source (`bun main.ts`), nothing is embedded and the binding finds the
 * library in node_modules as usual.
 */
import { createWriteStream, mkdirSync, renameSync, rmSync, statSync } from "node:fs";
import { LakeError, messageOf } from "../errors.ts";
import { type EmbeddedLibrary, libraryFile } from "./library_file.ts";
import { openLibrary } from "./open_library.ts";
import { preloadOutcome } from "./preload_state.ts";

/** The first 16 bytes of the library's payload (the header below, then the zstd frame). */
export const LIB_PAYLOAD_MAGIC = Buffer.from("tracelake-duckdb");
/**
 * The payload's header: the magic (16 bytes), the compressed size and the library's size (u64
 * LE each), the library's sha256 (32 bytes). A build check or a test can find and verify the
 * library in any binary from it alone.
 */
export const LIB_PAYLOAD_HEADER = 64;

/**
 * The payload the build carries: LIB_PAYLOAD_HEADER bytes of header, then `packed`.
 * @param raw the library's bytes; @param packed its zstd compression.
 */
export function encodeLibraryPayload(raw: Uint8Array, packed: Uint8Array): Buffer {
  const h = Buffer.alloc(LIB_PAYLOAD_HEADER);
  LIB_PAYLOAD_MAGIC.copy(h, 0);
  h.writeBigUInt64LE(BigInt(packed.length), 16);
  h.writeBigUInt64LE(BigInt(raw.length), 24);
  Buffer.from(new Bun.CryptoHasher("sha256").update(raw).digest()).copy(h, 32);
  return Buffer.concat([h, packed]);
}

/** A payload's header fields. */
export interface LibraryPayloadHeader {
  /** Compressed bytes following the header. */
  packedSize: number;
  /** Uncompressed library bytes. */
  rawSize: number;
  /** sha256 of the uncompressed library, hex. */
  sha256: string;
}

/**
 * Reads a payload header (LIB_PAYLOAD_HEADER bytes), or null when `h` does not start with
 * LIB_PAYLOAD_MAGIC.
 */
export function decodeLibraryPayloadHeader(h: Uint8Array): LibraryPayloadHeader | null {
  const b = Buffer.from(h.buffer, h.byteOffset, h.byteLength);
  if (b.length < LIB_PAYLOAD_HEADER || !b.subarray(0, 16).equals(LIB_PAYLOAD_MAGIC)) return null;
  return {
    packedSize: Number(b.readBigUInt64LE(16)),
    rawSize: Number(b.readBigUInt64LE(24)),
    sha256: b.subarray(32, 64).toString("hex"),
  };
}

let prepared = false;

/**
 * Unpacks (once per library version and hash) and preloads the library the compiled binary
 * carries; a no-op when running from source. Idempotent. Two processes unpacking at once each
 * write their own temporary file and rename it into place; the content is checked (size and
 * sha256) before the rename.
 * @param cache the cache directory (`cacheDir`); needed only in a compiled binary.
 * @throws LakeError when the cache directory cannot be written, or the executable's copy of
 *   the library is damaged; Error when a compiled binary was given no cache directory.
 */
export async function prepareNativeDuckDB(cache: string | undefined): Promise<void> {
  if (prepared) return;
  prepared = true;
  const lib = globalThis.__TRACELAKE_EMBEDDED_LIBDUCKDB;
  if (!lib) return;
  if (cache === undefined) throw new Error("no cache directory to unpack DuckDB's native library into");
  const { dir, file: dst } = libraryFile(lib, cache);
  let present = false;
  try {
    present = statSync(dst).size === lib.rawSize;
  } catch {
    present = false;
  }
  // The preload worker's answer comes first, loaded or not: its bun:ffi call and ours must not
  // overlap (preload_state.ts).
  const preloaded = await preloadOutcome();
  if (present && preloaded) return;
  if (!present) await unpack(lib, dir, dst);
  openLibrary(dst);
}

/**
 * Decompresses the library into `dst` through a temporary file, streaming (zstd → sha256 and
 * the file: half the CPU of a one-shot decompression, measured 0.55 against 1.1 CPU-s, and no
 * 70 MB buffer), and renames it into place once its size and sha256 are checked.
 * @throws LakeError when the cache directory cannot be written or the library is damaged.
 */
async function unpack(lib: EmbeddedLibrary, dir: string, dst: string): Promise<void> {
  const packed = await packedLibrary(lib);
  const tmp = `${dst}.${process.pid}.tmp`;
  const hash = new Bun.CryptoHasher("sha256");
  let size = 0;
  // Loaded here, on the first run only: node:stream and node:zlib cost a command ~7 ms to load.
  const [{ Readable }, { pipeline }, { createZstdDecompress }] = await Promise.all([
    import("node:stream"),
    import("node:stream/promises"),
    import("node:zlib"),
  ]);
  try {
    mkdirSync(dir, { recursive: true });
    const z = createZstdDecompress();
    z.on("data", (b: Buffer) => {
      hash.update(b);
      size += b.length;
    });
    await pipeline(Readable.from([packed]), z, createWriteStream(tmp));
  } catch (e) {
    removeQuietly(tmp);
    if (e instanceof Error && /zstd|decompress/i.test(e.message)) {
      throw new LakeError(
        `the copy of DuckDB's library inside ${process.execPath} does not decompress; download tracelake again`,
      );
    }
    throw new LakeError(
      `cannot unpack DuckDB's native library into ${dir} (${messageOf(e)}); set TRACELAKE_CACHE_DIR to a writable directory with ${Math.ceil(lib.rawSize / 1e6)} MB free`,
    );
  }
  if (size !== lib.rawSize || hash.digest("hex") !== lib.sha256) {
    removeQuietly(tmp);
    throw new LakeError(
      `the copy of DuckDB's library inside ${process.execPath} is damaged (size or sha256 differs); download tracelake again`,
    );
  }
  renameSync(tmp, dst);
}

/** Removes a file if it exists; ignores every error (Bun's rmSync with force throws EFAULT below a regular file). */
function removeQuietly(path: string): void {
  try {
    rmSync(path, { force: true });
  } catch {
    // nothing there, or nothing to be done about it
  }
}

/**
 * The compressed library's bytes, from the embedded file; the header is checked against what the
 * entry says.
 * @throws LakeError when the embedded file is not the payload the build wrote.
 */
async function packedLibrary(lib: EmbeddedLibrary): Promise<Uint8Array> {
  const payload = await Bun.file(lib.packedPath).bytes();
  const header = decodeLibraryPayloadHeader(payload);
  if (!header || header.packedSize !== lib.packedSize || header.sha256 !== lib.sha256) {
    throw new LakeError(
      `DuckDB's library is not where or what the build put in ${process.execPath}; download or build tracelake again`,
    );
  }
  return payload.subarray(LIB_PAYLOAD_HEADER, LIB_PAYLOAD_HEADER + header.packedSize);
}
