import { createRequire } from "node:module";
import type * as CertificateManager from "node-opcua-certificate-manager";
import type * as Client from "node-opcua-client";
import { requireOptional } from "../optionalDependency.js";

/** What `@maaskit/metering/opcua` uses of node-opcua-client (and its certificate manager). */
export type NodeOpcuaClient = typeof Client & {
  readonly OPCUACertificateManager: typeof CertificateManager.OPCUACertificateManager;
};

let loaded: NodeOpcuaClient | undefined;

/**
 * node-opcua-client, an optional peer dependency, loaded on first use (`fromOpcUa()`), so that
 * importing `@maaskit/metering/opcua` without it installed succeeds and using it fails with
 * `maaskit.dependency.missing`. The certificate manager is the copy node-opcua-client uses.
 */
export function loadNodeOpcuaClient(): NodeOpcuaClient {
  if (loaded !== undefined) return loaded;
  const entry = "@maaskit/metering/opcua";
  const client = requireOptional<typeof Client>("node-opcua-client", entry);
  const clientPath = createRequire(import.meta.url).resolve("node-opcua-client");
  const certificates = requireOptional<typeof CertificateManager>(
    "node-opcua-certificate-manager",
    entry,
    clientPath,
  );
  // the client's own exports stay behind (no copy of its many getters)
  loaded = Object.assign(Object.create(client) as typeof Client, {
    OPCUACertificateManager: certificates.OPCUACertificateManager,
  });
  return loaded;
}
