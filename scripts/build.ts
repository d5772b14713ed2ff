/**
 * Builds tracelake's self-contained executables (Bun's --compile), each carrying its platform's
 * DuckDB library zstd-compressed, unpacked once per version by lib/duck/native.ts.
 *
 * Where the library travels matters for start-up: Bun 1.3.5 read its whole module graph (every
 * embedded file) into memory at every start (177 ms of system time for the 70 MB library), so
 * the library once sat outside the graph. Since Bun 1.3.14 every platform keeps the graph in a
 * section of the executable (ELF `.bun`, Mach-O and PE sections) that is mapped, not read: an
 * embedded file costs a start nothing until it is read (a compiled hello world embedding 70 MB:
 * 29.6 MB peak RSS and the same start time as without). So the payload (native.ts
 * encodeLibraryPayload: header, then the zstd frame) is an embedded file on every target.
 *
 * The JavaScript is compiled to bytecode (`--bytecode`, ESM: Bun embeds the modules' import and
 * export metadata and the bytecode, so a start parses no source): node-api's import, the
 * largest module load of a command, took 30 ms instead of 48 (compiled, this 2-core machine).
 *
 * Usage:
 *   bun scripts/build.ts [--outfile dist/tracelake]     this machine's platform
 *   bun scripts/build.ts --target all|darwin-arm64|darwin-x64|linux-x64|linux-arm64|windows-x64[,...]
 *     writes dist/tracelake-<os>-<arch>[.exe] for each, and dist/SHA256SUMS. Other platforms'
 *     DuckDB bindings are fetched by version and integrity from package-lock.json
 *     (scripts/fetch_binding.ts); Bun fetches its runtime for the target from the npm registry.
 */
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { encodeLibraryPayload } from "../lib/duck/native.ts";
import { bindingPackageDir } from "./fetch_binding.ts";

/** A target: our name (dist file suffix), Bun's --target, npm's platform-arch, the library's file name. */
interface Target {
  name: string;
  bun: string;
  npm: string;
  lib: string;
  exe: string;
}

const TARGETS: Target[] = [
  { name: "darwin-arm64", bun: "bun-darwin-arm64", npm: "darwin-arm64", lib: "libduckdb.dylib", exe: "" },
  { name: "darwin-x64", bun: "bun-darwin-x64", npm: "darwin-x64", lib: "libduckdb.dylib", exe: "" },
  { name: "linux-x64", bun: "bun-linux-x64", npm: "linux-x64", lib: "libduckdb.so", exe: "" },
  { name: "linux-arm64", bun: "bun-linux-arm64", npm: "linux-arm64", lib: "libduckdb.so", exe: "" },
  { name: "windows-x64", bun: "bun-windows-x64", npm: "win32-x64", lib: "duckdb.dll", exe: ".exe" },
];
/** Every platform the bindings package names (it requires each by name; only the target's is bundled). */
const ALL_BINDINGS = [
  "darwin-arm64",
  "darwin-x64",
  "linux-arm64",
  "linux-arm64-musl",
  "linux-x64",
  "linux-x64-musl",
  "win32-arm64",
  "win32-x64",
];

const root = resolve(import.meta.dir, "..");
/** zstd level of the library payload (part of its cache key). */
const ZSTD_LEVEL = 19;

/** The commit the build is made from (short hash, "+dirty" with uncommitted changes), or "unknown". */
function commitOf(): string {
  const head = Bun.spawnSync(["git", "rev-parse", "--short=12", "HEAD"], { cwd: root, stdout: "pipe", stderr: "pipe" });
  if (head.exitCode !== 0) return "unknown";
  const dirty = Bun.spawnSync(["git", "status", "--porcelain", "--untracked-files=no"], { cwd: root, stdout: "pipe" });
  return `${head.stdout.toString().trim()}${dirty.stdout.toString().trim() ? "+dirty" : ""}`;
}

/**
 * The zstd payload of a library file, cached by its sha256. Level 19: 70.5 MB -> 17.7 MB in
 * ~45 CPU-s, once per library (level 9: 19.9 MB in ~7 s; 11-16 gain under 0.8 MB).
 */
function payloadOf(libPath: string): { payload: Buffer; raw: Buffer; sha256: string; packedSize: number } {
  const raw = readFileSync(libPath);
  const sha256 = new Bun.CryptoHasher("sha256").update(raw).digest("hex");
  const cacheDir = join(root, "node_modules/.cache/tracelake-build");
  const packedPath = join(cacheDir, `${basename(libPath)}.${sha256.slice(0, 16)}.zstd${ZSTD_LEVEL}`);
  if (!existsSync(packedPath)) {
    mkdirSync(cacheDir, { recursive: true });
    writeFileSync(`${packedPath}.tmp-${process.pid}`, Bun.zstdCompressSync(raw, { level: ZSTD_LEVEL }));
    renameSync(`${packedPath}.tmp-${process.pid}`, packedPath);
  }
  const packed = readFileSync(packedPath);
  return { payload: encodeLibraryPayload(raw, packed), raw, sha256, packedSize: packed.length };
}

/**
 * Builds one target into `outfile`.
 * @throws Error when a binding cannot be fetched or bun build fails (the last build at `outfile`
 *   is left as it was).
 */
function buildTarget(t: Target, outfile: string, commit: string): void {
  const bindingsVersion = (
    JSON.parse(readFileSync(join(root, "node_modules/@duckdb/node-bindings/package.json"), "utf8")) as {
      version: string;
    }
  ).version;
  // The bundler resolves @duckdb/node-bindings-<target>/duckdb.node from node_modules: a
  // fetched package is placed there for the build and removed afterwards.
  const pkgDir = bindingPackageDir(root, t.npm);
  const inModules = join(root, "node_modules/@duckdb", `node-bindings-${t.npm}`);
  const placed = resolve(pkgDir) !== resolve(inModules);
  if (placed) {
    rmSync(inModules, { recursive: true, force: true });
    mkdirSync(inModules, { recursive: true });
    for (const f of ["package.json", "duckdb.node"]) copyFileSync(join(pkgDir, f), join(inModules, f));
  }
  const { payload, raw, sha256, packedSize } = payloadOf(join(pkgDir, t.lib));
  const work = join(root, ".build");
  mkdirSync(work, { recursive: true });
  const payloadFile = join(work, `duckdb-${t.name}.payload`);
  writeFileSync(payloadFile, payload);
  const entry = join(root, ".build-entry.ts");
  const lib = { version: bindingsVersion, fileName: t.lib, rawSize: raw.length, sha256, packedSize };
  writeFileSync(
    entry,
    `// Generated by scripts/build.ts: the compiled binary's entry.
import { versionText } from "./cmd/version.ts";
import packedPath from ${JSON.stringify(payloadFile)} with { type: "file" };
globalThis.__TRACELAKE_EMBEDDED_LIBDUCKDB = { ...${JSON.stringify(lib)}, packedPath };
globalThis.__TRACELAKE_BUILD = ${JSON.stringify({ commit, target: t.name })};
// Workers are further entry points of the binary, named by their path from the build root
// (Bun: "Worker" in docs/bundler/executables; a URL does not resolve there).
globalThis.__TRACELAKE_INGEST_WORKER = "./lib/ingest/chrome/worker.ts";
globalThis.__TRACELAKE_REPLAY_WORKER = "./lib/replay/worker.ts";
// \`tracelake --version\` alone is answered here, without loading main.ts and commander (its
// text comes from cmd/version.ts, as commander's does): ~20 ms of a ~60 ms run. console.log, not
// process.stdout: the first touch of process.stdout loads Node's stream and tty modules, ~20 ms
// of a compiled Bun program's start (measured: a hello world 33 ms either way with console.log,
// 53 ms with process.stdout.write).
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === "--version" || args[0] === "-V")) {
  console.log(versionText());
} else {
  // Every command but help opens DuckDB: its library loads on a worker thread while main.ts and
  // the command's modules load (lib/duck/preload.ts).
  if (!args.some((a) => a === "--help" || a === "-h" || a === "help")) {
    (await import("./lib/duck/preload.ts")).preloadNativeDuckDB("./lib/duck/preload_worker.ts", process.env);
  }
  await import("./main.ts");
}
`,
  );
  mkdirSync(dirname(outfile), { recursive: true });
  // Compiled beside the output and renamed over it once built: a failed build leaves the last one.
  // Its name ends as the output's does: Bun adds ".exe" to a Windows target's name without it.
  const compiled = join(dirname(outfile), `.compiling-${process.pid}-${basename(outfile)}`);
  const cmd = [
    process.execPath,
    "build",
    "--compile",
    // A user's directory is not the binary's configuration: without these, a bunfig.toml in the
    // working directory runs its \`preload\` scripts inside tracelake and a .env file there sets
    // its environment (TRACELAKE_LAKE...).
    "--no-compile-autoload-dotenv",
    "--no-compile-autoload-bunfig",
    "--splitting",
    // Bytecode for every module (see the file comment); ESM, which --splitting needs.
    "--bytecode",
    "--format=esm",
    `--target=${t.bun}`,
    ...ALL_BINDINGS.filter((p) => p !== t.npm).flatMap((p) => ["--external", `@duckdb/node-bindings-${p}/duckdb.node`]),
    entry,
    // The workers' entry points (see the globals above).
    join(root, "lib/ingest/chrome/worker.ts"),
    join(root, "lib/replay/worker.ts"),
    join(root, "lib/duck/preload_worker.ts"),
    "--outfile",
    compiled,
  ];
  const proc = Bun.spawnSync(cmd, { cwd: root, stdout: "inherit", stderr: "inherit" });
  rmSync(entry, { force: true });
  if (placed) rmSync(inModules, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
  if (proc.exitCode !== 0) {
    rmSync(compiled, { force: true });
    throw new Error(`bun build --compile --target=${t.bun} failed`);
  }
  chmodSync(compiled, 0o755);
  renameSync(compiled, outfile);
}

const args = process.argv.slice(2);
const value = (flag: string): string | undefined => {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
};
const commit = commitOf();
const targetArg = value("--target");
try {
  if (targetArg === undefined) {
    const host = TARGETS.find((t) => t.npm === `${process.platform}-${process.arch}`);
    if (!host) throw new Error(`no build target for ${process.platform}-${process.arch}`);
    const outfile = resolve(root, value("--outfile") ?? "dist/tracelake");
    buildTarget(host, outfile, commit);
    console.log(`built ${outfile}`);
  } else {
    const names = targetArg === "all" ? TARGETS.map((t) => t.name) : targetArg.split(",");
    const dist = resolve(root, value("--outdir") ?? "dist");
    const sums: string[] = [];
    for (const name of names) {
      const t = TARGETS.find((x) => x.name === name);
      if (!t) throw new Error(`unknown target ${name}; use all or ${TARGETS.map((x) => x.name).join(", ")}`);
      const file = `tracelake-${t.name}${t.exe}`;
      buildTarget(t, join(dist, file), commit);
      const hash = new Bun.CryptoHasher("sha256").update(readFileSync(join(dist, file))).digest("hex");
      sums.push(`${hash}  ${file}`);
      console.log(`built ${join(dist, file)}`);
    }
    writeFileSync(join(dist, "SHA256SUMS"), `${sums.join("\n")}\n`);
    console.log(`wrote ${join(dist, "SHA256SUMS")}`);
  }
} catch (e) {
  console.error(`build failed: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
}
