import { defineConfig } from "tsup";

export default defineConfig({
  entry: [
    "./src/anvil.ts",
    "./src/index.ts",
    "./src/conformance.ts",
    "./src/cactus.ts",
    "./src/evm.ts",
    "./src/postgres.ts",
    "./src/http.ts",
    // the pre-verification worker thread (started by preVerifyPool.ts beside the bundle)
    "./src/preVerifyWorker.ts",
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
  // startAnvil resolves the anvil binary with import.meta.url, also in the CJS build.
  shims: true,
});
