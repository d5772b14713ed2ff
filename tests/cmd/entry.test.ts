import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../helpers.ts";

/** Every .ts file under `dir`, recursively, relative to ROOT. */
function tsFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

describe("main.ts's command loaders (the rule in main.ts's file comment)", () => {
  test("main.ts imports commands only through cmd/entry/, and nothing else imports cmd/entry/", () => {
    const main = readFileSync(join(ROOT, "main.ts"), "utf8");
    const dynamic = [...main.matchAll(/import\("(\.\/[^"]+)"\)/g)].map((m) => m[1] as string);
    expect(dynamic.length).toBeGreaterThan(5);
    for (const d of dynamic) expect(d).toMatch(/^\.\/cmd\/entry\/[a-z_]+\.ts$/);
    // Each entry file exists and is a re-export, and no other source file imports an entry.
    const entries = readdirSync(join(ROOT, "cmd/entry"));
    for (const d of dynamic) expect(entries).toContain(d.replace("./cmd/entry/", ""));
    for (const f of [...tsFiles("cmd"), ...tsFiles("lib")]) {
      expect({
        f,
        imports: /cmd\/entry\/|from "\.\/entry\/|from "\.\.\/entry\//.test(readFileSync(join(ROOT, f), "utf8")),
      }).toEqual({
        f,
        imports: false,
      });
    }
  });

  test("no module of lib/ or cmd/ imports another of ours dynamically (the splitter bug of main.ts's comment)", () => {
    for (const f of [...tsFiles("cmd"), ...tsFiles("lib")]) {
      const dynamicLocal = [...readFileSync(join(ROOT, f), "utf8").matchAll(/import\(\s*["'](\.[^"']+)["']/g)].map(
        (m) => m[1],
      );
      expect({ f, dynamicLocal }).toEqual({ f, dynamicLocal: [] });
    }
  });
});
