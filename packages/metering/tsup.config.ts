import { packageBuild } from "../../tsup.base.js";

export default packageBuild(
  [
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
  // Optional peers (node-opcua-client, node-opcua, mqtt; @bufbuild/protobuf through the lazily
  // imported Sparkplug codec) are loaded with createRequire(import.meta.url), also in the CJS
  // build.
  { shims: true },
);
