/**
 * `npm run build -- --target all`: one executable per platform, each with its own platform's
 * DuckDB library inside, and dist/SHA256SUMS. The formats and architectures are read from the
 * files' headers here (ELF e_machine, Mach-O cputype, PE Machine and optional-header magic), not
 * by `file`; the library is found by its payload header (lib/duck/native.ts), decompressed,
 * checked against its sha256, and its own header read the same way. linux-arm64 is also run
 * under qemu-aarch64 when the machine has it (Debian's qemu-user-static with arm64 libc).
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { decodeLibraryPayloadHeader, LIB_PAYLOAD_HEADER, LIB_PAYLOAD_MAGIC } from "../../lib/duck/native.ts";
import { BUN, ROOT, tempDir } from "../helpers.ts";

/** What a file's header says: its format and architecture. */
function headerOf(b: Buffer): string {
  if (b.readUInt32BE(0) === 0x7f454c46) {
    const machine = b.readUInt16LE(0x12);
    return `ELF64 ${b[4] === 2 ? "" : "(32-bit?) "}${machine === 62 ? "x86-64" : machine === 183 ? "aarch64" : `machine ${machine}`}`;
  }
  if (b.readUInt32LE(0) === 0xfeedfacf) {
    const cpu = b.readUInt32LE(4);
    return `Mach-O ${cpu === 0x0100000c ? "arm64" : cpu === 0x01000007 ? "x86_64" : `cputype ${cpu.toString(16)}`}`;
  }
  if (b.toString("latin1", 0, 2) === "MZ") {
    const pe = b.readUInt32LE(0x3c);
    if (b.toString("latin1", pe, pe + 4) !== "PE\0\0") return "MZ without PE";
    const machine = b.readUInt16LE(pe + 4);
    const magic = b.readUInt16LE(pe + 24);
    return `${magic === 0x20b ? "PE32+" : "PE32"} ${machine === 0x8664 ? "x86-64" : `machine ${machine.toString(16)}`}`;
  }
  return "unknown";
}

const EXPECTED: Record<string, { exe: string; lib: string }> = {
  "tracelake-darwin-arm64": { exe: "Mach-O arm64", lib: "Mach-O arm64" },
  "tracelake-darwin-x64": { exe: "Mach-O x86_64", lib: "Mach-O x86_64" },
  "tracelake-linux-x64": { exe: "ELF64 x86-64", lib: "ELF64 x86-64" },
  "tracelake-linux-arm64": { exe: "ELF64 aarch64", lib: "ELF64 aarch64" },
  "tracelake-windows-x64.exe": { exe: "PE32+ x86-64", lib: "PE32+ x86-64" },
};

describe("npm run build -- --target all", () => {
  test("every platform's executable and library, by their headers, and SHA256SUMS", async () => {
    const dist = tempDir("tl-dist-");
    const b = Bun.spawnSync([BUN, join(ROOT, "scripts/build.ts"), "--target", "all", "--outdir", dist], {
      stdout: "pipe",
      stderr: "pipe",
    });
    expect(b.stderr.toString()).not.toContain("build failed");
    expect(b.exitCode).toBe(0);
    const sums = readFileSync(join(dist, "SHA256SUMS"), "utf8").trim().split("\n");
    expect(sums.map((l) => l.split("  ")[1]).sort()).toEqual(Object.keys(EXPECTED).sort());
    for (const line of sums) {
      const [hash, file] = line.split("  ") as [string, string];
      const bytes = readFileSync(join(dist, file));
      expect(new Bun.CryptoHasher("sha256").update(bytes).digest("hex"), file).toBe(hash);
      expect(headerOf(bytes), file).toBe((EXPECTED[file] as { exe: string }).exe);
      // The DuckDB library inside: one payload (the magic also occurs in the bundled JS text:
      // a payload is a header followed by a zstd frame, magic 28 B5 2F FD), of this platform.
      const payloads: number[] = [];
      for (let at = bytes.indexOf(LIB_PAYLOAD_MAGIC); at >= 0; at = bytes.indexOf(LIB_PAYLOAD_MAGIC, at + 1)) {
        if (bytes.readUInt32LE(at + LIB_PAYLOAD_HEADER) === 0xfd2fb528) payloads.push(at);
      }
      expect(payloads.length, `${file}: one payload`).toBe(1);
      const at = payloads[0] as number;
      const h = decodeLibraryPayloadHeader(bytes.subarray(at, at + LIB_PAYLOAD_HEADER));
      expect(h).not.toBeNull();
      const { packedSize, rawSize, sha256 } = h as { packedSize: number; rawSize: number; sha256: string };
      const lib = Buffer.from(
        Bun.zstdDecompressSync(bytes.subarray(at + LIB_PAYLOAD_HEADER, at + LIB_PAYLOAD_HEADER + packedSize)),
      );
      expect(lib.length, file).toBe(rawSize);
      expect(new Bun.CryptoHasher("sha256").update(lib).digest("hex"), file).toBe(sha256);
      expect(headerOf(lib), `${file}'s DuckDB library`).toBe((EXPECTED[file] as { lib: string }).lib);
    }
    // Under qemu when available: the arm64 Linux binary runs for real.
    const qemu = ["/usr/bin/qemu-aarch64-static", "/usr/bin/qemu-aarch64"].find((q) => existsSync(q));
    if (!qemu || (!existsSync("/usr/aarch64-linux-gnu") && !existsSync("/lib/ld-linux-aarch64.so.1"))) {
      console.warn("qemu-aarch64 or arm64 libc missing: tracelake-linux-arm64 checked by its headers only");
      return;
    }
    const dir = tempDir("tl-arm64-");
    const env = { PATH: "/usr/bin:/bin", HOME: dir, TRACELAKE_CACHE_DIR: join(dir, "cache") };
    const v = Bun.spawnSync([qemu, join(dist, "tracelake-linux-arm64"), "--version"], {
      env,
      stdout: "pipe",
      stderr: "pipe",
    });
    expect(v.stdout.toString()).toContain("linux-arm64");
    const ing = Bun.spawnSync(
      [
        qemu,
        join(dist, "tracelake-linux-arm64"),
        "--lake",
        join(dir, "lake"),
        "ingest",
        join(ROOT, "fixtures/span_edge_cases.json"),
      ],
      { env, stdout: "pipe", stderr: "pipe" },
    );
    expect(ing.stderr.toString()).toBe("");
    expect(ing.exitCode).toBe(0);
    const q = Bun.spawnSync(
      [
        qemu,
        join(dist, "tracelake-linux-arm64"),
        "--lake",
        join(dir, "lake"),
        "query",
        "-f",
        "csv",
        "SELECT count(*) AS n FROM processes",
      ],
      { env, stdout: "pipe", stderr: "pipe" },
    );
    expect(q.stdout.toString()).toMatch(/^n\n[1-9]\d*\n$/);
  }, 1_200_000);
});
