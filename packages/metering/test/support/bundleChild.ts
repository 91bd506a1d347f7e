import * as path from "node:path";
import { build } from "tsup";

/**
 * Bundles a TypeScript child-process script (and the sources it imports) into one ESM file
 * that plain `node` runs — Node 20 can't run TypeScript, and building the whole package
 * would make these tests depend on every other module compiling. Dependencies stay
 * external and resolve from the package's node_modules, because the bundle is written
 * inside the package (`test/.tmp/`, git-ignored).
 */
export async function bundleChild(entry: string, name: string): Promise<string> {
  const outDir = path.join(import.meta.dirname, "..", ".tmp", name);
  await build({
    entry: { [name]: entry },
    outDir,
    format: ["esm"],
    platform: "node",
    target: "node20",
    splitting: false,
    sourcemap: false,
    dts: false,
    clean: true,
    silent: true,
    config: false,
    // tiny-secp256k1 loads its WASM from beside its own module, better-sqlite3 is native:
    // both resolve from the package's node_modules.
    external: ["ethers", "rxjs", "decimal.js", "@noble/*", "tiny-secp256k1", "better-sqlite3"],
    outExtension: () => ({ js: ".mjs" }),
  });
  return path.join(outDir, `${name}.mjs`);
}
