import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Decimal } from "decimal.js";
import type * as NodeOpcua from "node-opcua";
import type { Namespace, OPCUAServer, UAVariable } from "node-opcua";
import { MaaskitError } from "../errors.js";
import { requireOptional } from "../optionalDependency.js";
import { Dec } from "../quantity.js";
import type { CompressorChannel } from "../sources/fromSimulatedCompressor.js";
import {
  certificateThumbprint,
  type OpcUaSecurityMode,
  type OpcUaSecurityPolicy,
  trustOpcUaServerCertificate,
} from "../sources/opcUaSecurity.js";
import {
  type CompressorModel,
  type CompressorModelOptions,
  compressorModel,
} from "./compressorModel.js";
import { VARIABLES, type VariableDef } from "./compressorVariables.js";

export interface StartCompressorServerOptions extends CompressorModelOptions {
  /** TCP port; 0 (default) picks a free one, kept across `restart()`. */
  port?: number;
  /** Interface to bind. Default "127.0.0.1" (loopback only). */
  host?: string;
  /** An existing model to serve (it keeps its state); otherwise one is built from the options. */
  model?: CompressorModel;
  /** Simulated seconds per real second. Default 1. */
  accelerate?: number;
  /** Real milliseconds between model updates pushed to the address space. Default 100. */
  tickMs?: number;
  /** PKI folder for the server certificates; default a temp folder removed by `stop()`. */
  pkiDir?: string;
  /**
   * The server's fastest sampling, in ms (node-opcua coalesces changes to it). Default 0:
   * every pushed update is sampled, so clients with samplingInterval 0 see each tick.
   */
  minSupportedSampleRate?: number;
  /**
   * What the server offers. Default: modes None, Sign and SignAndEncrypt; policies None,
   * Basic256Sha256, Aes128_Sha256_RsaOaep and Aes256_Sha256_RsaPss; anonymous users.
   * The simulator accepts every client certificate (it is a test double, not a hardened server).
   */
  security?: {
    modes?: readonly OpcUaSecurityMode[];
    policies?: readonly ("None" | OpcUaSecurityPolicy)[];
    /** User name / password pairs the server accepts. */
    users?: readonly { readonly userName: string; readonly password: string }[];
    /** Whether anonymous sessions are allowed. Default: true unless `users` are given. */
    allowAnonymous?: boolean;
  };
  /**
   * PKI folders of clients (a gateway's `pkiDir`) whose trust list gets this server's
   * certificate at start — what a vendor's provisioning does, so `fromOpcUa` with its
   * default strict trust accepts this server. See also `CompressorServer.trustIn`.
   */
  trustedBy?: readonly string[];
}

/** Security of one open session, as the server sees it. */
export interface CompressorSessionSecurity {
  readonly mode: OpcUaSecurityMode;
  /** Security policy URI suffix (e.g. `Aes256_Sha256_RsaPss`, `None`). */
  readonly policy: string;
  /** `anonymous`, `userName` (with the name) or `certificate`. */
  readonly user: string;
}

export type CompressorFault = "disconnect" | "counterReset";

/** A running simulated compressor behind a real OPC UA server. */
export interface CompressorServer {
  /** `opc.tcp://127.0.0.1:<port>/UA/Compressor`. */
  readonly endpointUrl: string;
  readonly port: number;
  /** Channel → NodeId string (`ns=1;s=…`) of each served variable. */
  readonly nodeIds: Readonly<Record<CompressorChannel, string>>;
  /** The simulation; its `groundTruthVolumeAt(t)` is what a meter must measure. */
  readonly model: CompressorModel;
  /** Whether the OPC UA server is currently up (the model runs on while it is down). */
  readonly online: boolean;
  /** Open client sessions right now (0 while the server is down). */
  readonly sessions: number;
  /** The server's application certificate (DER); stays the same across `restart()`. */
  readonly certificate: Buffer;
  /** SHA-1 thumbprint (hex) of `certificate`. */
  readonly thumbprint: string;
  /** Security mode, policy and user of every open session, as the server sees them. */
  sessionSecurity(): CompressorSessionSecurity[];
  /** Puts this server's certificate into the trust list of a client PKI folder (provisioning). */
  trustIn(pkiDir: string): Promise<string>;
  /** Stops the OPC UA server and the simulation clock, and removes a temp PKI folder. */
  stop(): Promise<void>;
  /**
   * Reboots the OPC UA server on the same port with the same model: sessions and
   * subscriptions are lost, the compressor keeps running (and counting) while it is down.
   */
  restart(options?: { downtimeMs?: number }): Promise<void>;
  /** `disconnect`: drop every client TCP connection (sessions survive). `counterReset`: zero the totalizer. */
  injectFault(fault: CompressorFault): Promise<void>;
}

export type CompressorServerErrorCode =
  | "metering.simulator.invalidConfig"
  | "metering.simulator.startFailed"
  | "metering.simulator.stopped";

/**
 * Starts a node-opcua server on loopback that serves a {@link compressorModel} as
 * OPC 40250-flavoured variables (`Compressor/Operational/AccumulatedVolume`, …) with UNECE
 * `EUInformation`, source timestamps in simulated time, and a time-acceleration factor.
 * For tests, examples and demos; it needs the `node-opcua` package (an optional peer).
 *
 * The totalizer is a Double in m³. To keep it exact the server refuses model settings whose
 * register values would not survive the trip: the step volume, initial register and
 * rollover modulus must be binary fractions (e.g. 0.125) and `modulus · 10^decimals < 2^52`,
 * so every register value is a double whose shortest decimal string is its exact value —
 * a client converting with `new Dec(x.toString())` gets the register exactly.
 *
 * @example
 * ```ts
 * const server = await startCompressorServer({ accelerate: 600 });
 * // … connect to server.endpointUrl, monitor server.nodeIds.volume …
 * await server.restart();
 * await server.stop();
 * ```
 */
export async function startCompressorServer(
  options: StartCompressorServerOptions = {},
): Promise<CompressorServer> {
  const host = options.host ?? "127.0.0.1";
  const accelerate = options.accelerate ?? 1;
  const tickMs = options.tickMs ?? 100;
  const problems: string[] = [];
  if (!(accelerate > 0) || !Number.isFinite(accelerate))
    problems.push("accelerate must be a positive number");
  if (!(tickMs > 0) || !Number.isFinite(tickMs)) problems.push("tickMs must be a positive number");
  if (
    options.port !== undefined &&
    !(Number.isInteger(options.port) && options.port >= 0 && options.port < 65536)
  ) {
    problems.push("port must be an integer from 0 to 65535");
  }
  const model = options.model ?? compressorModel(options);
  checkExactRegister(model, problems);
  if (problems.length > 0) {
    throw new MaaskitError(
      "metering.simulator.invalidConfig",
      `Invalid compressor server options: ${problems.join("; ")}`,
      { details: { problems } },
    );
  }
  // node-opcua (the server) is an optional peer dependency, loaded only here
  const {
    DataType,
    MessageSecurityMode,
    makeEUInformation,
    nodesets,
    OPCUACertificateManager,
    OPCUAServer,
    SecurityPolicy,
    StatusCodes,
    Variant,
  } = requireOptional<typeof NodeOpcua>("node-opcua", "@maaskit/metering/simulator");
  const port = options.port || (await freePort(host));
  const ownPki = options.pkiDir === undefined;
  const pkiDir = options.pkiDir ?? (await mkdtemp(join(tmpdir(), "maaskit-opcua-server-")));
  const endpointUrl = `opc.tcp://${host}:${port}/UA/Compressor`;
  const nodeIds = Object.fromEntries(
    VARIABLES.map((v) => [v.channel, `ns=1;s=Compressor.${v.group}.${v.browseName}`]),
  ) as Record<CompressorChannel, string>;

  let server: OPCUAServer | undefined;
  let variables: { def: VariableDef; node: UAVariable }[] = [];
  let stopped = false;
  let certificate: Buffer | undefined;

  // The simulated clock belongs to the compressor, not to the OPC UA server: it keeps running
  // through a server restart, as a real machine keeps compressing while its gateway reboots.
  // Simulated time starts when the server is up (certificates made, address space built,
  // listening) — not while it boots, which on a busy machine takes seconds of simulated days.
  const simStart = model.time.getTime();
  let realStart: number | undefined;
  const tick = (): void => {
    if (realStart === undefined) return;
    model.advanceTo(simStart + (performance.now() - realStart) * accelerate);
    publish();
  };
  const publish = (): void => {
    if (variables.length === 0) return;
    const s = model.snapshot();
    for (const { def, node } of variables) {
      const raw = s[def.field] as Decimal | number;
      const value = typeof raw === "number" ? raw : Number(raw.toFixed());
      node.setValueFromSource(
        new Variant({
          dataType: def.field === "stateCode" ? DataType.Int32 : DataType.Double,
          value,
        }),
        StatusCodes.Good,
        s.time,
      );
    }
  };
  const timer = setInterval(tick, tickMs);

  async function boot(): Promise<void> {
    const certificateManager = new OPCUACertificateManager({
      rootFolder: join(pkiDir, "server"),
      automaticallyAcceptUnknownCertificate: true,
    });
    const sec = options.security ?? {};
    const modes = sec.modes ?? ["None", "Sign", "SignAndEncrypt"];
    const users = sec.users ?? [];
    const s = new OPCUAServer({
      port,
      host,
      hostname: host,
      resourcePath: "/UA/Compressor",
      nodeset_filename: [nodesets.standard],
      serverCertificateManager: certificateManager,
      userCertificateManager: certificateManager,
      serverCapabilities: { minSupportedSampleRate: options.minSupportedSampleRate ?? 0 },
      buildInfo: { productName: "maaskit compressor simulator", manufacturerName: "maaskit" },
      securityModes: modes.map((m) => MessageSecurityMode[m]),
      securityPolicies: (
        sec.policies ?? ["None", "Basic256Sha256", "Aes128_Sha256_RsaOaep", "Aes256_Sha256_RsaPss"]
      ).map((p) => SecurityPolicy[p]),
      allowAnonymous: sec.allowAnonymous ?? users.length === 0,
      userManager: {
        isValidUser: (userName: string, password: string) =>
          users.some((u) => u.userName === userName && u.password === password),
      },
      // without a None endpoint node-opcua needs a (restricted) discovery endpoint so
      // clients can read the endpoints and the server certificate
      disableDiscovery: modes.includes("None"),
    } as ConstructorParameters<typeof OPCUAServer>[0]);
    await s.initialize();
    certificate ??= Buffer.from(s.getCertificate());
    const ns = s.engine.addressSpace!.getOwnNamespace();
    variables = buildAddressSpace(ns);
    await s.start();
    server = s;
    publish();
  }

  function buildAddressSpace(ns: Namespace): { def: VariableDef; node: UAVariable }[] {
    const addressSpace = ns.addressSpace;
    const compressor = ns.addObject({
      browseName: "Compressor",
      nodeId: "s=Compressor",
      organizedBy: addressSpace.rootFolder.objects,
      description: "Simulated fixed-speed screw compressor (maaskit)",
    });
    const groups = {
      Operational: ns.addObject({
        browseName: "Operational",
        nodeId: "s=Compressor.Operational",
        componentOf: compressor,
      }),
      Maintenance: ns.addObject({
        browseName: "Maintenance",
        nodeId: "s=Compressor.Maintenance",
        componentOf: compressor,
      }),
    };
    return VARIABLES.map((def) => {
      const common = {
        browseName: def.browseName,
        nodeId: `s=Compressor.${def.group}.${def.browseName}`,
        componentOf: groups[def.group],
        description: def.description,
        minimumSamplingInterval: 0,
      };
      const node =
        def.unit === undefined
          ? ns.addVariable({ ...common, dataType: "Int32" })
          : ns.addAnalogDataItem({
              ...common,
              dataType: "Double",
              engineeringUnits: makeEUInformation(...def.unit),
              engineeringUnitsRange: {
                low: 0,
                high: def.channel === "volume" ? model.registerModulus.toNumber() : 1e6,
              },
            });
      return { def, node: node as UAVariable };
    });
  }

  async function shutdown(): Promise<void> {
    const s = server;
    server = undefined;
    variables = [];
    if (s !== undefined) await s.shutdown(0);
  }

  try {
    await boot();
    for (const dir of options.trustedBy ?? []) await trustOpcUaServerCertificate(dir, certificate!);
    realStart = performance.now();
  } catch (cause) {
    clearInterval(timer);
    await shutdown().catch(() => undefined);
    if (ownPki) await rm(pkiDir, { recursive: true, force: true });
    throw new MaaskitError(
      "metering.simulator.startFailed",
      "The OPC UA compressor server did not start",
      {
        details: { endpointUrl },
        cause,
      },
    );
  }

  return {
    endpointUrl,
    port,
    nodeIds,
    model,
    get online() {
      return server !== undefined;
    },
    get sessions() {
      return server?.currentSessionCount ?? 0;
    },
    certificate: certificate!,
    thumbprint: certificateThumbprint(certificate!),
    sessionSecurity() {
      return (server?.engine.getSessions() ?? []).map((session) => {
        const token = session.userIdentityToken as
          | { userName?: string; constructor: { name: string } }
          | undefined;
        const kind = token?.constructor.name ?? "";
        const channel = session.channel;
        return {
          mode: (MessageSecurityMode[channel?.securityMode ?? MessageSecurityMode.Invalid] ??
            "None") as OpcUaSecurityMode,
          policy: String(channel?.securityPolicy ?? "").replace(/^.*#/, ""),
          user: kind.startsWith("UserName")
            ? `userName:${token?.userName ?? ""}`
            : kind.startsWith("X509")
              ? "certificate"
              : "anonymous",
        };
      });
    },
    trustIn(dir: string) {
      return trustOpcUaServerCertificate(dir, certificate!);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      await shutdown();
      if (ownPki) await rm(pkiDir, { recursive: true, force: true });
    },
    async restart({ downtimeMs = 0 } = {}) {
      assertRunning();
      await shutdown();
      if (downtimeMs > 0) await new Promise((r) => setTimeout(r, downtimeMs));
      assertRunning();
      await boot();
    },
    async injectFault(fault) {
      assertRunning();
      if (fault === "counterReset") {
        model.resetCounter();
        publish();
        return;
      }
      if (fault === "disconnect") {
        // end the TCP sockets under every secure channel; sessions and subscriptions survive
        for (const endpoint of server?.endpoints ?? []) endpoint.abruptlyInterruptChannels();
        return;
      }
      throw new MaaskitError("metering.simulator.invalidConfig", `Unknown fault ${String(fault)}`, {
        details: { fault: String(fault) },
      });
    },
  };

  function assertRunning(): void {
    if (stopped) {
      throw new MaaskitError("metering.simulator.stopped", "The compressor server was stopped", {
        details: { endpointUrl },
      });
    }
  }
}

/** Checks that every register value is a double whose shortest decimal string is exact. */
function checkExactRegister(model: CompressorModel, problems: string[]): void {
  const values: [string, Decimal][] = [
    ["step volume", model.stepVolume],
    ["register", model.snapshot().volume],
    ["registerModulus", model.registerModulus],
  ];
  let places = 0;
  for (const [name, v] of values) {
    const dp = v.decimalPlaces();
    places = Math.max(places, dp);
    // a decimal with dp places is a binary fraction iff v · 2^dp is an integer
    if (!v.times(new Dec(2).pow(dp)).isInteger()) {
      problems.push(
        `${name} ${v.toFixed()} is not a binary fraction, so a Double register cannot carry it exactly`,
      );
    }
  }
  const limit = new Dec(2).pow(52);
  if (model.registerModulus.times(new Dec(10).pow(places)).gte(limit)) {
    problems.push("registerModulus is too large for an exact Double register at this resolution");
  }
}

function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, host, () => {
      const address = s.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      s.close(() => resolve(port));
    });
  });
}
