import { copyFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "tsup";

/**
 * Bundles a child-process script and the maaskit sources it imports (through their "source"
 * export condition) into one CJS file in `outDir` that plain Node 20 runs. `import.meta.url`
 * is shimmed, and tiny-secp256k1's `secp256k1.wasm` (loaded beside its module) is copied next
 * to the bundle. better-sqlite3, a native module, is never bundled: the storage layer loads it
 * at run time.
 */
export async function bundleChild(entry: URL, outDir: string): Promise<string> {
  await build({
    config: false,
    entry: { child: fileURLToPath(entry) },
    outDir,
    format: ["cjs"],
    platform: "node",
    target: "node20",
    dts: false,
    sourcemap: false,
    silent: true,
    shims: true,
    noExternal: [/.*/],
    esbuildOptions(options) {
      options.conditions = ["source"];
    },
  });
  const metering = createRequire(new URL("../../../metering/package.json", import.meta.url));
  await copyFile(
    join(metering.resolve("tiny-secp256k1"), "../../secp256k1.wasm"),
    join(outDir, "secp256k1.wasm"),
  );
  return join(outDir, "child.cjs");
}
