/**
 * Builds lib/ingest/chrome/wasm/chrome_fast_path.wasm from chrome_fast_path.c with clang's
 * WebAssembly target (Debian: `apt-get install clang lld`), after writing the C header of the
 * raw block layout, lib/ingest/chrome/wasm/raw_block.h, from lib/lake/raw_block.ts (the one
 * definition of the layout). Both are committed, so that a clone works with Node.js and npm
 * only; `.ci/run` rebuilds them and fails when a committed file differs from what the sources
 * give (`--check`).
 *
 * Usage: bun scripts/build_wasm.ts [--check]
 */
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { rawBlockCHeader } from "../lib/lake/raw_block.ts";

const root = resolve(import.meta.dir, "..");
const dir = join(root, "lib/ingest/chrome/wasm");
const src = join(dir, "chrome_fast_path.c");
const target = join(dir, "chrome_fast_path.wasm");
const header = join(dir, "raw_block.h");
const check = process.argv.includes("--check");
const tmp = mkdtempSync(join(tmpdir(), "tracelake-wasm-"));
const out = check ? join(tmp, "chrome_fast_path.wasm") : target;

// With --check, the C file is compiled beside the header the layout gives (not the committed
// one), so that a stale committed header cannot hide a change of layout.
const headerText = rawBlockCHeader();
const headerSame = existsSync(header) && readFileSync(header, "utf8") === headerText;
let cSrc = src;
if (check) {
  writeFileSync(join(tmp, "raw_block.h"), headerText);
  cSrc = join(tmp, "chrome_fast_path.c");
  copyFileSync(src, cSrc);
} else if (!headerSame) writeFileSync(header, headerText);

// -mbulk-memory: memcpy becomes memory.copy (there is no libc). Only the functions marked
// EXPORT are exported; --strip-all drops names, so the output depends on the source only.
const cmd = [
  process.env.CLANG ?? "clang",
  "--target=wasm32",
  "-O2",
  "-mbulk-memory",
  "-Wall",
  "-Wextra",
  "-Werror",
  "-nostdlib",
  "-fvisibility=hidden",
  "-Wl,--no-entry",
  "-Wl,--export-dynamic",
  "-Wl,--strip-all",
  "-o",
  out,
  cSrc,
];
const p = Bun.spawnSync(cmd, { stdout: "inherit", stderr: "inherit" });
if (p.exitCode !== 0) {
  rmSync(tmp, { recursive: true, force: true });
  console.error(`clang failed (${cmd.join(" ")}); clang and wasm-ld come from Debian's clang and lld packages`);
  process.exit(1);
}
if (check) {
  const same = Buffer.compare(readFileSync(out), readFileSync(target)) === 0;
  rmSync(tmp, { recursive: true, force: true });
  if (!headerSame) {
    console.error(`${header} is not what lib/lake/raw_block.ts gives: run \`bun scripts/build_wasm.ts\` and commit it`);
    process.exit(1);
  }
  if (!same) {
    console.error(`${target} is not what ${src} builds to: run \`bun scripts/build_wasm.ts\` and commit it`);
    process.exit(1);
  }
  console.log(`${target} and ${header} match their sources`);
} else {
  rmSync(tmp, { recursive: true, force: true });
  console.log(`wrote ${header} and ${target}`);
}
