import type { OPCUACertificateManager } from "node-opcua-certificate-manager";
import type {
  ClientSession,
  EndpointDescription,
  OPCUAClient,
  OPCUAClientOptions,
} from "node-opcua-client";
import { MaaskitError } from "../errors.js";
import type { FromOpcUaOptions } from "./fromOpcUaOptions.js";
import { loadNodeOpcuaClient } from "./nodeOpcuaClient.js";
import {
  certificateThumbprint,
  chooseEndpoint,
  type OpcUaConnectionSecurity,
  type OpcUaSecurityOptions,
  verifyServerCertificate,
} from "./opcUaSecurity.js";

// Session plumbing of fromOpcUa: the server certificate watch and the server StartTime read.

/**
 * The certificate manager as the connected client sees it: a server certificate other than
 * the one verified at connect time (a reconnect to a replaced server) fails the stream —
 * `serverCertificateChanged` with trust on first use (the pin), `untrustedServer` when the
 * trust list does not hold it. A rotated certificate that is in the trust list is accepted.
 */
export function watchServerCertificate(
  cm: OPCUACertificateManager,
  thumbprint: string,
  trust: "list" | "firstUse",
  fail: (err: MaaskitError) => void,
  endpointUrl: string,
): OPCUACertificateManager {
  const check = async (chain: Buffer | Buffer[]) => {
    const status = await cm.checkCertificate(chain as Buffer);
    const cert = Array.isArray(chain) ? chain[0]! : chain;
    const seen = certificateThumbprint(cert);
    if (seen === thumbprint) return status;
    if (trust === "firstUse") {
      fail(
        new MaaskitError(
          "metering.opcua.serverCertificateChanged",
          `${endpointUrl} presented certificate ${seen} on a reconnect, but ${thumbprint} is pinned for it: refusing a possible impostor`,
          { details: { endpointUrl, thumbprint: seen, pinnedThumbprint: thumbprint } },
        ),
      );
    } else if (status.name !== "Good") {
      fail(
        new MaaskitError(
          "metering.opcua.untrustedServer",
          `${endpointUrl} presented certificate ${seen} on a reconnect, which is not in the trust list ${cm.trustedFolder} (${status.name}): refusing the server`,
          {
            details: {
              endpointUrl,
              thumbprint: seen,
              previousThumbprint: thumbprint,
              status: status.name,
              trustedFolder: cm.trustedFolder,
            },
          },
        ),
      );
    }
    return status;
  };
  return new Proxy(cm, {
    get(target, prop) {
      if (prop === "checkCertificate") {
        return (chain: Buffer | Buffer[], callback?: (err: Error | null, s?: unknown) => void) => {
          const p = check(chain);
          if (callback === undefined) return p;
          p.then(
            (s) => callback(null, s),
            (e: Error) => callback(e),
          );
          return undefined;
        };
      }
      const v = Reflect.get(target, prop, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
    set(target, prop, value) {
      return Reflect.set(target, prop, value, target);
    },
  });
}

export async function readServerStartTime(session: ClientSession): Promise<number | undefined> {
  const { AttributeIds, resolveNodeId, VariableIds } = loadNodeOpcuaClient();
  const dv = await session.read({
    nodeId: resolveNodeId(VariableIds.Server_ServerStatus_StartTime),
    attributeId: AttributeIds.Value,
  });
  const v = dv.value?.value;
  return v instanceof Date ? v.getTime() : undefined;
}

/** What {@link negotiateSecurity} needs from fromOpcUa's closure. */
interface SecurityArgs {
  lib: Pick<
    ReturnType<typeof loadNodeOpcuaClient>,
    "MessageSecurityMode" | "OPCUAClient" | "SecurityPolicy"
  >;
  insecure: boolean;
  security: OpcUaSecurityOptions;
  certificateManager: OPCUACertificateManager | undefined;
  base: Partial<OPCUAClientOptions>;
  connectionStrategy: { maxRetry: number; initialDelay: number; maxDelay: number };
  endpointUrl: string;
  machineId: string;
  pkiDir: string | undefined;
  logger: NonNullable<FromOpcUaOptions["logger"]>;
  connectionFailed: (cause: unknown) => MaaskitError;
  /** The discovery client while it is open (so an unsubscribe can close it). */
  setDiscovery: (d: OPCUAClient | undefined) => void;
  isClosed: () => boolean;
}

/**
 * Chooses the endpoint and verifies the server certificate (GetEndpoints on a discovery
 * channel), or accepts security mode None when it was opted into explicitly; undefined when
 * the stream was closed meanwhile.
 */
export async function negotiateSecurity(
  args: SecurityArgs,
): Promise<
  | { secure: Partial<OPCUAClientOptions>; established: Omit<OpcUaConnectionSecurity, "user"> }
  | undefined
> {
  const { MessageSecurityMode, OPCUAClient, SecurityPolicy } = args.lib;
  const { insecure, security, certificateManager, base, connectionStrategy, endpointUrl } = args;
  const { machineId, logger, connectionFailed } = args;
  let secure: Partial<OPCUAClientOptions>;
  let established: Omit<OpcUaConnectionSecurity, "user">;
  if (insecure) {
    logger.warn(
      `OPC UA security mode None for ${endpointUrl} (explicit opt-in): readings are neither signed nor encrypted and the server is not authenticated; records of this source must carry flag insecureSource`,
      { code: "metering.opcua.insecure", endpointUrl, machineId },
    );
    secure = { securityMode: MessageSecurityMode.None, securityPolicy: SecurityPolicy.None };
    established = { endpointUrl, mode: "None", policy: "None", trust: "none" };
  } else {
    const cm = certificateManager!;
    let chosen: ReturnType<typeof chooseEndpoint>;
    let trust: OpcUaConnectionSecurity["trust"];
    try {
      await cm.initialize();
      // GetEndpoints on a None channel (what every OPC UA client does to learn the
      // server's certificate); nothing from this channel is used unverified
      const d = OPCUAClient.create({ ...base, connectionStrategy });
      args.setDiscovery(d);
      let endpoints: EndpointDescription[];
      try {
        await d.connect(endpointUrl);
        endpoints = await d.getEndpoints();
      } finally {
        args.setDiscovery(undefined);
        // close in the background: the secure connection need not wait for it
        void d.disconnect().catch(() => undefined);
      }
      if (args.isClosed()) return undefined;
      chosen = chooseEndpoint(endpoints, security, endpointUrl);
      trust = await verifyServerCertificate({
        endpointUrl,
        certificate: chosen.serverCertificate,
        certificateManager: cm,
        pkiDir: args.pkiDir ?? cm.rootDir,
        trust: security.trust ?? "list",
      });
    } catch (cause) {
      throw connectionFailed(cause);
    }
    const serverThumbprint = certificateThumbprint(chosen.serverCertificate);
    if (trust === "pinnedNow") {
      logger.warn(
        `OPC UA server certificate ${serverThumbprint} of ${endpointUrl} trusted on first use and pinned to that endpoint`,
        { code: "metering.opcua.serverPinned", endpointUrl, thumbprint: serverThumbprint },
      );
    }
    secure = {
      securityMode: chosen.securityMode,
      securityPolicy: chosen.securityPolicy,
      serverCertificate: chosen.serverCertificate,
    };
    established = {
      endpointUrl,
      mode: chosen.mode,
      policy: chosen.policy,
      serverThumbprint,
      trust,
    };
  }
  return { secure, established };
}

/** The error for a failed connection attempt (a MaaskitError cause is kept as it is). */
export function connectionFailedError(endpointUrl: string): (cause: unknown) => MaaskitError {
  return (cause: unknown): MaaskitError =>
    cause instanceof MaaskitError
      ? cause
      : new MaaskitError("metering.opcua.connectionFailed", `Cannot connect to ${endpointUrl}`, {
          details: {
            endpointUrl,
            message: cause instanceof Error ? cause.message : String(cause),
          },
          cause,
        });
}
