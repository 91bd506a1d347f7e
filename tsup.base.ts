import { defineConfig, type Options } from "tsup";

/**
 * The build every maaskit package shares: ESM and CJS for Node 20, with declarations and
 * source maps. No `splitting` key by default on purpose: tsup then splits the ESM build
 * (modules shared by several entry points, such as errors.ts, exist once) and not the CJS build
 * (esbuild cannot split CJS). Errors stay one identity across CJS entries through the
 * MaaskitError brand.
 */
export function packageBuild(entry: string[], options: Options = {}) {
  return defineConfig({
    entry,
    format: ["esm", "cjs"],
    dts: true,
    clean: true,
    sourcemap: true,
    target: "node20",
    treeshake: true,
    ...options,
  });
}
