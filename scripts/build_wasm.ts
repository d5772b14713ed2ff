/**
 * Builds lib/ingest/chrome/wasm/chrome_fast_path.wasm from chrome_fast_path.c with clang's
 * WebAssembly target (Debian: `apt-get install clang lld`). The .wasm is committed, so that a
 * clone works with Node.js and npm only; `.ci/run` rebuilds it and fails when the committed
 * file differs from what the source gives (`--check`).
 *
 * Usage: bun scripts/build_wasm.ts [--check]
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dir, "..");
const src = join(root, "lib/ingest/chrome/wasm/chrome_fast_path.c");
const target = join(root, "lib/ingest/chrome/wasm/chrome_fast_path.wasm");
const check = process.argv.includes("--check");
const tmp = mkdtempSync(join(tmpdir(), "tracelake-wasm-"));
const out = check ? join(tmp, "chrome_fast_path.wasm") : target;

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
  src,
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
  if (!same) {
    console.error(`${target} is not what ${src} builds to: run \`bun scripts/build_wasm.ts\` and commit it`);
    process.exit(1);
  }
  console.log(`${target} matches its source`);
} else {
  rmSync(tmp, { recursive: true, force: true });
  console.log(`wrote ${target}`);
}
