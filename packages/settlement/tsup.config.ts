import { defineConfig } from "tsup";

export default defineConfig({
  entry: [
    "./src/anvil.ts",
    "./src/index.ts",
    "./src/conformance.ts",
    "./src/cactus.ts",
    "./src/evm.ts",
  ],
  format: ["esm", "cjs"],
  dts: true,
  clean: true,
  sourcemap: true,
  target: "node20",
  splitting: false,
  treeshake: true,
  // startAnvil resolves the anvil binary with import.meta.url, also in the CJS build.
  shims: true,
});
