import { defineConfig } from "tsup";

export default defineConfig({
  entry: [
    "./src/index.ts",
    "./src/simulator.ts",
    "./src/opcua.ts",
    "./src/cli.ts",
    "./src/storage.ts",
    "./src/internal.ts",
    "./src/sparkplug.ts",
    "./src/mqtt.ts",
    "./src/aas.ts",
    "./src/entitlements.ts",
    // not an export: loaded by path from loadSparkplugCodec (keeps @bufbuild/protobuf lazy)
    "./src/sparkplugCodec.ts",
  ],
  format: ["esm", "cjs"],
  dts: true,
  clean: true,
  sourcemap: true,
  target: "node20",
  // No `splitting` key on purpose: tsup then splits the ESM build (modules shared by several
  // entry points, such as errors.ts, exist once) and not the CJS build (esbuild cannot split
  // CJS). Errors stay one identity across CJS entries through the MaaskitError brand.
  treeshake: true,
  // Optional peers (node-opcua-client, node-opcua, mqtt; @bufbuild/protobuf through the lazily
  // imported Sparkplug codec) are loaded with createRequire(import.meta.url),
  // also in the CJS build.
  shims: true,
});
