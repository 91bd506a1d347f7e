import * as path from "node:path";
import { build } from "tsup";

/**
 * Bundles a child-process script and the maaskit sources it imports (through their
 * "source" export condition) into one ESM file that plain `node` runs, so the harness needs
 * no package build and no TypeScript loader in the children. Third-party dependencies stay
 * external and resolve from this package's node_modules (the bundle is written under
 * `faults/.tmp/`, git-ignored).
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
    // maaskit packages and the example are bundled from source; everything else is external.
    noExternal: [/^@maaskit\//, /^compressor-pay-per-volume\//],
    external: [/^(?!@maaskit\/|compressor-pay-per-volume\/)[^./]/],
    esbuildOptions(options) {
      options.conditions = ["source"];
    },
    outExtension: () => ({ js: ".mjs" }),
  });
  return path.join(outDir, `${name}.mjs`);
}
