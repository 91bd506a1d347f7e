import type { Decimal } from "decimal.js";
import type { OPCUACertificateManager } from "node-opcua-certificate-manager";
import type { OPCUAClientOptions } from "node-opcua-client";
import { MaaskitError } from "../errors.js";
import { Dec } from "../quantity.js";
import type { UnitCode } from "../units.js";
import { loadNodeOpcuaClient } from "./nodeOpcuaClient.js";
import {
  type OpcUaConnectionSecurity,
  type OpcUaSecurityOptions,
  securityProblems,
} from "./opcUaSecurity.js";

// fromOpcUa's public option types and their validation (split from fromOpcUa.ts).
/** How a node's values are used downstream. */
export type OpcUaNodeKind = "register" | "rate" | "state" | "value";

/** One OPC UA variable mapped onto a metering channel. */
export interface OpcUaNode {
  /** NodeId string, e.g. `ns=1;s=Compressor.Operational.AccumulatedVolume`. */
  readonly nodeId: string;
  /** Channel name put on the readings. */
  readonly channel: string;
  /** UNECE unit of the (scaled) value. */
  readonly unit?: UnitCode;
  /**
   * `register`: a totalizer (re-read after every reconnect so counters bridge the gap; never
   * deadbanded). `rate`, `value`: analogue values (deadband applies). `state`: an operating
   * state (numbers are mapped through `states`).
   */
  readonly kind: OpcUaNodeKind;
  /** Multiplier applied exactly to numeric values, e.g. "0.001" for a litre register read as m³. */
  readonly scale?: Decimal.Value;
  /** For `state` nodes: enumeration value → state name (e.g. OPC 40250 7 → "Loaded"). */
  readonly states?: Readonly<Record<number, string>>;
}

export interface FromOpcUaOptions {
  /** `opc.tcp://host:port/path`. */
  readonly endpointUrl: string;
  /** Machine id put on every event. */
  readonly machineId: string;
  readonly nodes: readonly OpcUaNode[];
  /** Requested sampling interval in ms (0 = the server's fastest). Default 1000. */
  readonly samplingInterval?: number;
  /** Requested publishing interval in ms. Default: the sampling interval (at least 50). */
  readonly publishingInterval?: number;
  /** Server-side queue per monitored item. Default 10. */
  readonly queueSize?: number;
  /** Deadband for `rate` and `value` nodes (never for registers or states). */
  readonly deadband?: { readonly type: "absolute" | "percent"; readonly value: number };
  /** Monitored items created per CreateMonitoredItems call. Default 500. */
  readonly groupSize?: number;
  /**
   * Client PKI folder, kept by the caller (e.g. `<dataDir>/pki`): the client's own
   * certificate (`own/`, created in pure JS on first start), the server trust list
   * (`trusted/certs/`), refused certificates (`rejected/`) and, with `trust: "firstUse"`, the
   * pins (`maaskit-pinned-servers.json`). Required unless `security.mode` is `"None"` or a
   * `certificateManager` is given.
   */
  readonly pkiDir?: string;
  /**
   * A ready client certificate manager (takes precedence over `pkiDir` for the certificates;
   * pins still go to `pkiDir`, else to its root folder). Its own acceptance policy applies: build
   * it with `automaticallyAcceptUnknownCertificate: false`.
   */
  readonly certificateManager?: OPCUACertificateManager;
  /**
   * Connection security (a plain serialisable object). Default: the strongest mode
   * (SignAndEncrypt > Sign) and policy the server offers, the server certificate checked
   * against the trust list in `pkiDir`, anonymous user. See {@link OpcUaSecurityOptions}.
   */
  readonly security?: OpcUaSecurityOptions;
  /**
   * Where warnings (security mode None, a certificate pinned on first use) and the
   * established security (`info`, with an {@link OpcUaConnectionSecurity} as details) go.
   * Default: warnings to `console.warn`, no info.
   */
  readonly logger?: {
    warn(message: string, details?: Record<string, unknown>): void;
    info?(message: string, details?: Record<string, unknown>): void;
  };
  /**
   * Extra node-opcua client options (timeouts…). Security is set through `security` only:
   * `securityMode`, `securityPolicy`, `serverCertificate` and `clientCertificateManager` here
   * are refused.
   */
  readonly clientOptions?: Partial<OPCUAClientOptions>;
  /**
   * Initial connection: retries before `metering.opcua.connectionFailed` (default 2; at least 1
   * while `reconnect` is on, because node-opcua reconnects only then); delays in ms.
   */
  readonly connect?: {
    readonly maxRetry?: number;
    readonly initialDelay?: number;
    readonly maxDelay?: number;
  };
  /**
   * Reconnect after a connection loss (default true). With `false` a loss ends the stream
   * with `metering.opcua.connectionLost`.
   */
  readonly reconnect?: boolean;
  /**
   * Nodes the server rejects (unknown NodeId, no access…): `"error"` (default) ends the
   * stream with `metering.opcua.badNode` naming all of them; `"quarantine"` emits one
   * `QuarantineEvent` (reason `node.bad`) per node and meters the rest.
   */
  readonly badNodes?: "error" | "quarantine";
  /**
   * Notifications held while a lost connection is repaired (they go out after the gap).
   * Beyond this bound the further ones are not kept: one `GapEvent` with reason
   * `source.overflow` (from the first to the last sourceTime not kept, with their count in
   * `detail`) follows the held ones, so nothing is lost silently. Default: twice what the
   * server can queue, `2 × nodes × queueSize`, at least 10,000.
   */
  readonly maxHeldNotifications?: number;
}

export type FromOpcUaErrorCode =
  | "metering.opcua.invalidConfig"
  | "metering.opcua.connectionFailed"
  | "metering.opcua.connectionLost"
  | "metering.opcua.subscriptionFailed"
  | "metering.opcua.badNode"
  | "metering.opcua.untrustedServer"
  | "metering.opcua.serverCertificateChanged"
  | "metering.opcua.noSecureEndpoint"
  | "metering.opcua.sessionRejected";

export interface NodeConfig {
  node: OpcUaNode;
  scale: Decimal | undefined;
}

export function validate(options: FromOpcUaOptions): NodeConfig[] {
  const { resolveNodeId } = loadNodeOpcuaClient();
  const problems: string[] = [];
  if (typeof options !== "object" || options === null) {
    throw new MaaskitError("metering.opcua.invalidConfig", "fromOpcUa needs an options object", {
      details: { problems: ["options must be an object"] },
    });
  }
  if (
    typeof options.endpointUrl !== "string" ||
    !/^opc\.tcp:\/\/[^/\s]+/.test(options.endpointUrl)
  ) {
    problems.push("endpointUrl must be an opc.tcp:// URL");
  }
  if (typeof options.machineId !== "string" || options.machineId.length === 0) {
    problems.push("machineId must be a non-empty string");
  }
  const positive = (name: keyof FromOpcUaOptions, min: number): void => {
    const v = options[name];
    if (v !== undefined && (typeof v !== "number" || !Number.isFinite(v) || v < min)) {
      problems.push(`${name} must be a number >= ${min}`);
    }
  };
  positive("samplingInterval", 0);
  positive("publishingInterval", 0);
  positive("queueSize", 1);
  positive("groupSize", 1);
  positive("maxHeldNotifications", 1);
  if (options.deadband !== undefined) {
    const { type, value } = options.deadband;
    if (type !== "absolute" && type !== "percent")
      problems.push("deadband.type must be absolute or percent");
    if (typeof value !== "number" || !(value >= 0) || (type === "percent" && value > 100)) {
      problems.push("deadband.value must be >= 0 (and <= 100 for percent)");
    }
  }
  if (
    options.badNodes !== undefined &&
    options.badNodes !== "error" &&
    options.badNodes !== "quarantine"
  ) {
    problems.push("badNodes must be error or quarantine");
  }
  problems.push(...securityProblems(options.security));
  if (
    options.security?.mode !== "None" &&
    options.pkiDir === undefined &&
    options.certificateManager === undefined
  ) {
    problems.push(
      "pkiDir is required (the server trust list and the client certificate live there) unless security.mode is None or a certificateManager is given",
    );
  }
  if (options.pkiDir !== undefined && (typeof options.pkiDir !== "string" || options.pkiDir === ""))
    problems.push("pkiDir must be a folder path");
  for (const key of [
    "securityMode",
    "securityPolicy",
    "serverCertificate",
    "clientCertificateManager",
  ]) {
    if (options.clientOptions !== undefined && key in options.clientOptions)
      problems.push(
        `clientOptions.${key} is not allowed: set security (or certificateManager) instead`,
      );
  }
  const out: NodeConfig[] = [];
  const channels = new Set<string>();
  if (!Array.isArray(options.nodes) || options.nodes.length === 0) {
    problems.push("nodes must be a non-empty array");
  } else {
    options.nodes.forEach((node, i) => {
      const at = `nodes[${i}]`;
      try {
        resolveNodeId(node.nodeId);
      } catch {
        problems.push(`${at}.nodeId ${JSON.stringify(node.nodeId)} is not a NodeId`);
      }
      if (typeof node.channel !== "string" || node.channel.length === 0) {
        problems.push(`${at}.channel must be a non-empty string`);
      } else if (channels.has(node.channel)) {
        problems.push(`${at}.channel ${node.channel} is used twice`);
      } else channels.add(node.channel);
      if (!["register", "rate", "state", "value"].includes(node.kind)) {
        problems.push(`${at}.kind must be register, rate, state or value`);
      }
      let scale: Decimal | undefined;
      if (node.scale !== undefined) {
        try {
          scale = new Dec(node.scale);
          if (!scale.isFinite() || scale.lte(0)) throw new Error("not positive");
        } catch {
          problems.push(`${at}.scale must be a positive decimal`);
          scale = undefined;
        }
      }
      out.push({ node, scale });
    });
  }
  if (problems.length > 0) {
    throw new MaaskitError(
      "metering.opcua.invalidConfig",
      `Invalid fromOpcUa options: ${problems.join("; ")}`,
      {
        details: { problems },
      },
    );
  }
  return out;
}
