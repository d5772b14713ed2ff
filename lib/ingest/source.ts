/**
 * Input sources for ingest: a file (plain or gzip) or standard input (`-`), read as a stream
 * of decompressed chunks. Gzip is recognized by its magic bytes (RFC 1952 §2.3.1: 0x1f 0x8b),
 * not by the file name.
 */
import { closeSync, openSync, readSync, statSync } from "node:fs";
import { createGunzip } from "node:zlib";
import { ExitCode, InputError, messageOf } from "../errors.ts";

/** A readable input. */
export interface Source {
  /** What the user passed (a path, or `-` for stdin). */
  readonly name: string;
  /** Size in bytes of the file as stored (compressed size for gzip); null for stdin. */
  readonly size: number | null;
  /** Whether the content is gzip-compressed. */
  readonly gzip: boolean;
  /** Bytes read so far from the file or stdin (before decompression). */
  readonly bytesRead: number;
  /** Problems the reader recovered from (e.g. a truncated gzip stream), for the summary. */
  readonly warnings: string[];
  /**
   * The decompressed content, in chunks. A chunk may be modified by the caller and is valid
   * only until the next chunk is requested (the reader reuses its buffer).
   */
  chunks(): AsyncIterable<Uint8Array>;
}

const CHUNK = 4 * 1024 * 1024;

/**
 * Opens `spec` (a file path, or `-` for stdin) for reading.
 * @throws InputError when the file is missing, a directory, or unreadable.
 */
export function openSource(spec: string): Source {
  if (spec === "-") return new StdinSource();
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(spec);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new InputError(`${spec}: no such file; check the path`, ExitCode.noInput);
    throw new InputError(`${spec}: cannot read it (${messageOf(e)})`, ExitCode.noInput);
  }
  if (st.isDirectory()) {
    throw new InputError(
      `${spec} is a directory; pass the trace files inside it (for example ${spec}/*.json)`,
      ExitCode.noInput,
    );
  }
  let fd: number;
  try {
    fd = openSync(spec, "r");
  } catch (e) {
    throw new InputError(`${spec}: cannot open it (${messageOf(e)})`, ExitCode.noInput);
  }
  const head = new Uint8Array(2);
  const n = readSync(fd, head, 0, 2, 0);
  const gzip = n === 2 && head[0] === 0x1f && head[1] === 0x8b;
  return new FileSource(spec, fd, st.size, gzip);
}

class FileSource implements Source {
  bytesRead = 0;
  readonly warnings: string[] = [];
  constructor(
    readonly name: string,
    private readonly fd: number,
    readonly size: number,
    readonly gzip: boolean,
  ) {}

  async *raw(): AsyncGenerator<Uint8Array> {
    // One buffer, reused: a chunk is valid until the next one is requested (see `chunks`).
    const buf = new Uint8Array(CHUNK);
    try {
      for (;;) {
        let r: number;
        try {
          r = readSync(this.fd, buf, 0, CHUNK, null);
        } catch (e) {
          throw new InputError(`${this.name}: read failed (${messageOf(e)})`, ExitCode.noInput);
        }
        if (r <= 0) return;
        this.bytesRead += r;
        yield r === CHUNK ? buf : buf.subarray(0, r);
      }
    } finally {
      closeSync(this.fd);
    }
  }

  chunks(): AsyncIterable<Uint8Array> {
    return this.gzip ? gunzip(this.raw(), this.name, this.warnings) : this.raw();
  }
}

class StdinSource implements Source {
  readonly name = "-";
  readonly size = null;
  bytesRead = 0;
  readonly warnings: string[] = [];
  gzip = false;

  async *raw(): AsyncGenerator<Uint8Array> {
    for await (const chunk of Bun.stdin.stream()) {
      this.bytesRead += chunk.length;
      yield chunk;
    }
  }

  async *chunks(): AsyncGenerator<Uint8Array> {
    const it = this.raw()[Symbol.asyncIterator]();
    const first = await it.next();
    if (first.done) return;
    const head = first.value;
    this.gzip = head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
    async function* rest(): AsyncGenerator<Uint8Array> {
      yield head;
      for (;;) {
        const n = await it.next();
        if (n.done) return;
        yield n.value;
      }
    }
    if (this.gzip) yield* gunzip(rest(), "standard input", this.warnings);
    else yield* rest();
  }
}

/**
 * Decompresses a gzip byte stream (multi-member gzip included, as `gzip -c a b` writes).
 * A stream that ends early (a trace copied while still being written) yields what it holds
 * and adds a warning; corrupt data throws InputError.
 */
async function* gunzip(input: AsyncIterable<Uint8Array>, name: string, warnings: string[]): AsyncGenerator<Uint8Array> {
  const z = createGunzip({ chunkSize: 1024 * 1024 });
  const pump = (async () => {
    try {
      for await (const c of input) {
        if (!z.write(c)) await new Promise((r) => z.once("drain", r));
      }
      z.end();
    } catch (e) {
      z.destroy(e as Error);
    }
  })();
  try {
    for await (const out of z) {
      const b = out as Buffer;
      yield new Uint8Array(b.buffer, b.byteOffset, b.length);
    }
  } catch (e) {
    const msg = messageOf(e);
    if (/unexpected end of file/i.test(msg)) {
      warnings.push("the gzip stream ends early (truncated file): what it held was imported");
      await pump;
      return;
    }
    throw new InputError(
      `${name}: the gzip data is corrupt or truncated (${msg}); check the file, or decompress it and ingest what is left`,
    );
  }
  await pump;
}
