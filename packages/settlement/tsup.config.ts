import { packageBuild } from "../../tsup.base.js";

export default packageBuild(
  [
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
  // startAnvil resolves the anvil binary with import.meta.url, also in the CJS build.
  { shims: true },
);
