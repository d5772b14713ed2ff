/**
 * Fetches another platform's DuckDB binding package (`@duckdb/node-bindings-<platform>`) for a
 * cross-platform build, pinned like everything else: the version and sha512 integrity come from
 * package-lock.json (npm records every platform's optional binding there), the tarball from the
 * npm registry (`npm pack`), checked against that integrity before it is unpacked. Fetched once
 * into node_modules/.cache/tracelake-build; users of the source checkout never need them.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";

/**
 * The directory of the unpacked package `@duckdb/node-bindings-<platform>` (its duckdb.node
 * and native library), fetched and checked when not cached.
 * @param root the repository root (package-lock.json, node_modules).
 * @param platform npm's platform-arch, e.g. "darwin-arm64", "win32-x64".
 * @throws Error when the lock has no entry for it, npm cannot fetch it, or its integrity differs.
 */
export function bindingPackageDir(root: string, platform: string): string {
  const name = `@duckdb/node-bindings-${platform}`;
  const installed = join(root, "node_modules", name);
  if (existsSync(join(installed, "package.json"))) return installed;
  const lock = JSON.parse(readFileSync(join(root, "package-lock.json"), "utf8")) as {
    packages: Record<string, { version?: string; integrity?: string }>;
  };
  const entry = lock.packages[`node_modules/${name}`];
  if (!entry?.version || !entry.integrity?.startsWith("sha512-")) {
    throw new Error(`package-lock.json pins no version and sha512 integrity for ${name}`);
  }
  const dir = join(root, "node_modules/.cache/tracelake-build/bindings", `${platform}-${entry.version}`);
  if (existsSync(join(dir, "package", "package.json"))) return join(dir, "package");
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    const pack = Bun.spawnSync(
      ["npm", "pack", `${name}@${entry.version}`, "--pack-destination", tmp, "--silent", "--ignore-scripts"],
      { stdout: "pipe", stderr: "pipe" },
    );
    const tgz = readdirSync(tmp).find((f) => f.endsWith(".tgz"));
    if (pack.exitCode !== 0 || !tgz) {
      throw new Error(`npm pack ${name}@${entry.version} failed: ${pack.stderr.toString().trim()}`);
    }
    const digest = `sha512-${createHash("sha512")
      .update(readFileSync(join(tmp, tgz)))
      .digest("base64")}`;
    if (digest !== entry.integrity) {
      throw new Error(`${name}@${entry.version}: integrity ${digest} is not package-lock.json's ${entry.integrity}`);
    }
    const untar = Bun.spawnSync(["tar", "-xzf", join(tmp, tgz), "-C", tmp], { stderr: "pipe" });
    if (untar.exitCode !== 0) throw new Error(`cannot unpack ${tgz}: ${untar.stderr.toString().trim()}`);
    rmSync(join(tmp, tgz));
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return join(dir, "package");
}
