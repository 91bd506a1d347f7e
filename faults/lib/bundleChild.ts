import { copyFile } from "node:fs/promises";
import { createRequire } from "node:module";
import * as path from "node:path";
import { build } from "tsup";

/** Resolved at run time from this package's node_modules (same versions as the packages). */
const EXTERNAL = [
  "ethers",
  "rxjs",
  "decimal.js",
  "node-opcua",
  "node-opcua-client",
  "node-opcua-certificate-manager",
  "@foundry-rs/anvil",
];

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");

/**
 * Bundles a child-process script and the maaskit sources it imports (through their
 * "source" export condition) into one ESM file that plain `node` runs, so the harness needs
 * no package build and no TypeScript loader in the children. The heavy third-party dependencies
 * stay external and resolve from this package's node_modules (the bundle is written under
 * `faults/.tmp/`, git-ignored); the rest is bundled, so a new small dependency of a package
 * needs no change here.
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
    // The heavy dependencies stay external (this package depends on the same exact
    // versions); maaskit, the example and any small dependency they add are bundled.
    noExternal: [new RegExp(`^(?!(${EXTERNAL.map(escapeRegExp).join("|")})(/|$))`)],
    external: [...EXTERNAL],
    esbuildOptions(options) {
      options.conditions = ["source"];
    },
    outExtension: () => ({ js: ".mjs" }),
  });
  // tiny-secp256k1 (signature checks in @maaskit/metering) loads secp256k1.wasm from beside
  // its module, i.e. beside the bundle.
  const metering = createRequire(
    path.join(import.meta.dirname, "..", "..", "packages", "metering", "package.json"),
  );
  await copyFile(
    path.join(metering.resolve("tiny-secp256k1"), "..", "..", "secp256k1.wasm"),
    path.join(outDir, "secp256k1.wasm"),
  );
  return path.join(outDir, `${name}.mjs`);
}
