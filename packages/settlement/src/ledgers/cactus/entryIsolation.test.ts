import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const src = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** Every module a source file reaches through its static relative imports, and the packages it names. */
function importGraph(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    const text = readFileSync(file, "utf8");
    for (const m of text.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+"([^"]+)"/gms)) {
      const spec = m[1]!;
      const typeOnly = /^\s*(?:import|export)\s+type\s/.test(m[0]);
      if (spec.startsWith(".")) visit(join(dirname(file), spec.replace(/\.js$/, ".ts")));
      else if (!typeOnly) packages.add(spec);
    }
  };
  visit(entry);
  return { files, packages };
}

describe("entry points", () => {
  it("default: only the cactus entry loads @hyperledger/cactus-*", () => {
    const cactus = importGraph(join(src, "cactus.ts"));
    // an optional peer: loaded on first use (cactusCoreApi.ts), never by a static import
    expect([...cactus.packages].filter((p) => p.startsWith("@hyperledger/"))).toEqual([]);
    expect([...cactus.files].some((f) => f.endsWith("/ledgers/cactus/cactusCoreApi.ts"))).toBe(
      true,
    );
    for (const entry of ["index.ts", "conformance.ts", "evm.ts"]) {
      if (!existsSync(join(src, entry))) continue; // ./evm may not exist yet
      const graph = importGraph(join(src, entry));
      expect([...graph.files].filter((f) => f.includes("/ledgers/cactus/"))).toEqual([]);
      expect([...graph.packages].filter((p) => p.startsWith("@hyperledger/"))).toEqual([]);
    }
  });
});
