import type { Decimal } from "decimal.js";
import type { OPCUACertificateManager } from "node-opcua-certificate-manager";
import type {
  ClientMonitoredItemGroup,
  ClientSession,
  ClientSubscription,
  DataType,
  DataValue,
  EndpointDescription,
  MonitoringParametersOptions,
  OPCUAClient,
  OPCUAClientOptions,
} from "node-opcua-client";
import { Observable } from "rxjs";
import { MaaskitError } from "../errors.js";
import { Dec } from "../quantity.js";
import type {
  GapEvent,
  GapReason,
  MeterEvent,
  Quality,
  QuarantineEvent,
  Reading,
  ReadingValue,
} from "../reading.js";
import type { UnitCode } from "../units.js";
import { loadNodeOpcuaClient } from "./nodeOpcuaClient.js";
import {
  certificateThumbprint,
  chooseEndpoint,
  type OpcUaConnectionSecurity,
  type OpcUaSecurityOptions,
  securityProblems,
  userIdentityOf,
  verifyServerCertificate,
} from "./opcUaSecurity.js";

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

interface NodeConfig {
  node: OpcUaNode;
  scale: Decimal | undefined;
}

/**
 * Machine readings from an OPC UA server as metering events, with `node-opcua-client`:
 * one session, one subscription, monitored items created in groups of `groupSize`.
 * Each DataValue becomes a `Reading` — numbers converted exactly through their shortest
 * decimal string (`new Dec(x.toString())`), Int64/UInt64 exactly, quality from the
 * StatusCode severity, `sourceTime` = source timestamp (else server timestamp),
 * `serverTime` = server timestamp. Values that cannot be a reading (NaN, null, a structure)
 * are quarantined, never dropped.
 *
 * **Reconnection loses no usage.** On a connection loss node-opcua reconnects, then
 * reactivates the session or creates a new one and transfers or recreates the
 * subscription. When the subscription had to be recreated (data of the gap is lost then),
 * this source re-reads every `register` node (Read service) and emits a `GapEvent`
 * (`source.serverRestarted` when the server's StartTime changed, else
 * `source.subscriptionRecreated`; `start` = the last sourceTime seen, `end` = the first one
 * after, `bridgedBy: "register"`), then the re-read values and any notifications held
 * during the repair, in sourceTime order — so `counterDelta` bridges the gap from the
 * register difference.
 *
 * When the session and subscription survived (a short network drop) nothing is re-read:
 * the server queued the changes (up to `queueSize` per item, newest kept) and delivers them
 * after the reconnect, so the `source.reconnected` gap is emitted just before the first of
 * those notifications.
 *
 * Connection and session failures end the stream with typed `MaaskitError`s
 * (`metering.opcua.connectionFailed`, `.connectionLost`, `.subscriptionFailed`,
 * `.badNode`); invalid options throw `metering.opcua.invalidConfig` listing every problem.
 * node-opcua-client is an optional peer dependency: without it installed, `fromOpcUa()` throws
 * `maaskit.dependency.missing` (importing this entry point still works).
 * Unsubscribing terminates the subscription, closes the session and disconnects.
 *
 * @example
 * ```ts
 * import { fromOpcUa } from "@maaskit/metering/opcua";
 * fromOpcUa({
 *   endpointUrl: "opc.tcp://127.0.0.1:4840/UA/Compressor",
 *   machineId: "compressor-1",
 *   nodes: [{ nodeId: "ns=1;s=Compressor.Operational.AccumulatedVolume", channel: "volume", unit: "MTQ", kind: "register" }],
 *   samplingInterval: 1000,
 * }).pipe(counterDelta({ channel: "volume", unit: "MTQ", basis: "ISO1217-FAD" }));
 * ```
 */
export function fromOpcUa(options: FromOpcUaOptions): Observable<MeterEvent> {
  const {
    AttributeIds,
    DataChangeFilter,
    DataChangeTrigger,
    DeadbandType,
    MessageSecurityMode,
    OPCUACertificateManager,
    OPCUAClient,
    SecurityPolicy,
    TimestampsToReturn,
  } = loadNodeOpcuaClient();
  const nodes = validate(options);
  const {
    endpointUrl,
    machineId,
    samplingInterval = 1000,
    queueSize = 10,
    groupSize = 500,
    reconnect = true,
    badNodes = "error",
  } = options;
  const publishingInterval = options.publishingInterval ?? Math.max(50, samplingInterval);
  const logger = options.logger ?? { warn: (m: string) => console.warn(m) };

  return new Observable<MeterEvent>((subscriber) => {
    let closed = false;
    let client: OPCUAClient | undefined;
    let discovery: OPCUAClient | undefined;
    // the certificate manager this stream created (and disposes when it ends)
    let ownManager: OPCUACertificateManager | undefined;
    let session: ClientSession | undefined;
    let subscription: ClientSubscription | undefined;
    let serverStartTime: number | undefined;
    // newest sourceTime emitted: where a gap starts
    let lastSourceTime: Date | undefined;
    // while the connection is being repaired, notifications wait here until the gap is emitted
    let held: MeterEvent[] | undefined;
    let recreated = false;
    let repairing: Promise<void> | undefined;

    const fail = (err: MaaskitError): void => {
      if (closed) return;
      subscriber.error(err);
    };

    // a gap to announce before the next reading (reconnects where the subscription survived)
    let pendingGap: { reason: GapReason; start: Date } | undefined;

    const emit = (e: MeterEvent): void => {
      if (closed) return;
      if (held !== undefined) {
        held.push(e);
        return;
      }
      if (e.kind === "reading") {
        if (pendingGap !== undefined) {
          const { reason, start } = pendingGap;
          pendingGap = undefined;
          subscriber.next({
            kind: "gap",
            machineId,
            start,
            end: e.sourceTime,
            reason,
            detail: `OPC UA connection to ${endpointUrl} was interrupted; the subscription survived and its queued notifications follow`,
          });
        }
        if (lastSourceTime === undefined || e.sourceTime > lastSourceTime)
          lastSourceTime = e.sourceTime;
      }
      subscriber.next(e);
    };

    const onConnectionLost = (): void => {
      if (closed) return;
      if (!reconnect) {
        fail(
          new MaaskitError(
            "metering.opcua.connectionLost",
            "Lost the connection to the OPC UA server",
            {
              details: { endpointUrl },
            },
          ),
        );
        return;
      }
      held ??= [];
    };

    const onRestored = (): void => {
      // both the session ("session_restored") and the client ("connection_reestablished")
      // report a repair; bridge once per connection loss
      if (closed || repairing !== undefined || held === undefined) return;
      repairing = (async () => {
        for (let attempt = 1; ; attempt++) {
          try {
            await bridgeGap();
            return;
          } catch (cause) {
            // the connection may have dropped again while re-reading: retry a few times
            if (attempt >= 5 || closed) {
              fail(
                new MaaskitError(
                  "metering.opcua.connectionLost",
                  "Could not re-read the registers after a reconnect",
                  {
                    details: { endpointUrl, attempts: attempt },
                    cause,
                  },
                ),
              );
              return;
            }
            await new Promise((r) => setTimeout(r, 1000));
          }
        }
      })().finally(() => {
        repairing = undefined;
      });
    };

    async function bridgeGap(): Promise<void> {
      held ??= [];
      const s = session!;
      let reason: GapReason = recreated ? "source.subscriptionRecreated" : "source.reconnected";
      recreated = false;
      const startTime = await readServerStartTime(s);
      if (
        startTime !== undefined &&
        serverStartTime !== undefined &&
        startTime !== serverStartTime
      ) {
        reason = "source.serverRestarted";
      }
      if (startTime !== undefined) serverStartTime = startTime;
      if (reason === "source.reconnected") {
        // The session and subscription survived: the server queued what changed meanwhile
        // and delivers it now (older sourceTimes first). Re-reading the registers would put
        // a newer value ahead of those queued notifications, so announce the gap at the
        // next reading instead and let the queue flow.
        const pending = held.sort((a, b) => eventTime(a) - eventTime(b));
        held = undefined;
        if (lastSourceTime !== undefined) pendingGap = { reason, start: lastSourceTime };
        for (const e of pending) emit(e);
        return;
      }
      const registers = nodes.filter((n) => n.node.kind === "register");
      const reread: MeterEvent[] = [];
      if (registers.length > 0) {
        const values = await s.read(
          registers.map((n) => ({ nodeId: n.node.nodeId, attributeId: AttributeIds.Value })),
        );
        for (const [i, dv] of values.entries()) reread.push(toEvent(registers[i]!, dv));
      }
      if (closed) return;
      const after = [...reread, ...held].sort((a, b) => eventTime(a) - eventTime(b));
      held = undefined;
      // this gap covers any earlier one still waiting for a reading
      pendingGap = undefined;
      const firstAfter = after.find((e): e is Reading => e.kind === "reading");
      if (lastSourceTime !== undefined && firstAfter !== undefined) {
        const gap: GapEvent = {
          kind: "gap",
          machineId,
          start: lastSourceTime,
          end: firstAfter.sourceTime,
          reason,
          ...(registers.length > 0 ? { bridgedBy: "register" as const } : {}),
          detail: `OPC UA connection to ${endpointUrl} was interrupted; registers re-read after the reconnect`,
        };
        subscriber.next(gap);
      }
      for (const e of after) emit(e);
    }

    function toEvent(n: NodeConfig, dv: DataValue): MeterEvent {
      return dataValueToEvent(machineId, n, dv);
    }

    async function start(): Promise<void> {
      const security = options.security ?? {};
      const insecure = security.mode === "None";
      if (options.certificateManager === undefined && options.pkiDir !== undefined) {
        ownManager = new OPCUACertificateManager({
          rootFolder: options.pkiDir,
          automaticallyAcceptUnknownCertificate: false,
        });
      }
      const certificateManager = options.certificateManager ?? ownManager;
      const base: Partial<OPCUAClientOptions> = {
        applicationName: "maaskit-metering",
        endpointMustExist: false,
        keepSessionAlive: true,
        ...options.clientOptions,
        ...(certificateManager === undefined
          ? {}
          : { clientCertificateManager: certificateManager }),
      };
      const connectionStrategy = {
        // node-opcua only reconnects after a loss when maxRetry is not 0
        maxRetry: Math.max(reconnect ? 1 : 0, options.connect?.maxRetry ?? 2),
        initialDelay: options.connect?.initialDelay ?? 250,
        maxDelay: options.connect?.maxDelay ?? 2000,
      };
      const connectionFailed = (cause: unknown): MaaskitError =>
        cause instanceof MaaskitError
          ? cause
          : new MaaskitError(
              "metering.opcua.connectionFailed",
              `Cannot connect to ${endpointUrl}`,
              {
                details: {
                  endpointUrl,
                  message: cause instanceof Error ? cause.message : String(cause),
                },
                cause,
              },
            );

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
          discovery = d;
          let endpoints: EndpointDescription[];
          try {
            await d.connect(endpointUrl);
            endpoints = await d.getEndpoints();
          } finally {
            discovery = undefined;
            // close in the background: the secure connection need not wait for it
            void d.disconnect().catch(() => undefined);
          }
          if (closed) return;
          chosen = chooseEndpoint(endpoints, security, endpointUrl);
          trust = await verifyServerCertificate({
            endpointUrl,
            certificate: chosen.serverCertificate,
            certificateManager: cm,
            pkiDir: options.pkiDir ?? cm.rootDir,
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
      if (closed) return;
      const identity = await userIdentityOf(security.user);
      // node-opcua re-checks the server certificate when it changes on a reconnect: end the
      // stream with a clear error instead of retrying against an impostor for ever
      const watched =
        established.serverThumbprint === undefined || certificateManager === undefined
          ? {}
          : {
              clientCertificateManager: watchServerCertificate(
                certificateManager,
                established.serverThumbprint,
                security.trust ?? "list",
                (err) => fail(err),
                endpointUrl,
              ),
            };
      const c = OPCUAClient.create({ ...base, ...watched, connectionStrategy, ...secure });
      client = c;
      c.on("connection_lost", onConnectionLost);
      c.on("connection_reestablished", onRestored);
      try {
        await c.connect(endpointUrl);
      } catch (cause) {
        throw connectionFailed(cause);
      }
      if (closed) return;
      try {
        session = await c.createSession(identity);
      } catch (cause) {
        throw new MaaskitError(
          "metering.opcua.sessionRejected",
          `${endpointUrl} refused a session for user ${security.user?.type === "userName" ? security.user.userName : (security.user?.type ?? "anonymous")}`,
          {
            details: {
              endpointUrl,
              user: security.user?.type ?? "anonymous",
              message: cause instanceof Error ? cause.message : String(cause),
            },
            cause,
          },
        );
      }
      logger.info?.(`OPC UA session to ${endpointUrl}: ${established.mode}/${established.policy}`, {
        ...established,
        user: security.user?.type ?? "anonymous",
      });
      if (closed) return;
      session.on("session_restored", onRestored);
      serverStartTime = await readServerStartTime(session);
      if (closed) return;
      const sub = await session.createSubscription2({
        requestedPublishingInterval: publishingInterval,
        requestedLifetimeCount: 600,
        requestedMaxKeepAliveCount: 10,
        maxNotificationsPerPublish: 0,
        publishingEnabled: true,
        priority: 1,
      });
      subscription = sub;
      if (closed) return;
      sub.on("subscriptionId_changed", () => {
        recreated = true;
      });
      sub.on("internal_error", (cause: Error) =>
        fail(
          new MaaskitError("metering.opcua.subscriptionFailed", "The OPC UA subscription failed", {
            details: { endpointUrl, message: cause.message },
            cause,
          }),
        ),
      );

      const plain: MonitoringParametersOptions = {
        samplingInterval,
        queueSize,
        discardOldest: true,
      };
      const filtered: MonitoringParametersOptions =
        options.deadband === undefined
          ? plain
          : {
              ...plain,
              filter: new DataChangeFilter({
                trigger: DataChangeTrigger.StatusValue,
                deadbandType:
                  options.deadband.type === "absolute"
                    ? DeadbandType.Absolute
                    : DeadbandType.Percent,
                deadbandValue: options.deadband.value,
              }),
            };
      const rejected: { node: OpcUaNode; status: string }[] = [];
      const batches: { params: MonitoringParametersOptions; items: NodeConfig[] }[] = [];
      const exact = nodes.filter((n) => n.node.kind === "register" || n.node.kind === "state");
      const analog = nodes.filter((n) => n.node.kind === "rate" || n.node.kind === "value");
      for (const [params, list] of [
        [plain, exact],
        [filtered, analog],
      ] as const) {
        for (let i = 0; i < list.length; i += groupSize) {
          batches.push({ params, items: list.slice(i, i + groupSize) });
        }
      }
      for (const { params, items } of batches) {
        const group: ClientMonitoredItemGroup = await sub.monitorItems(
          items.map((n) => ({ nodeId: n.node.nodeId, attributeId: AttributeIds.Value })),
          params,
          TimestampsToReturn.Both,
        );
        if (closed) return;
        group.monitoredItems.forEach((item, i) => {
          if (item.statusCode.isNotGood())
            rejected.push({ node: items[i]!.node, status: item.statusCode.name });
        });
        group.on("changed", (item, dv, i) => {
          if (item.statusCode.isNotGood()) return;
          emit(toEvent(items[i]!, dv));
        });
      }
      if (rejected.length > 0) {
        if (badNodes === "error") {
          throw new MaaskitError(
            "metering.opcua.badNode",
            `The OPC UA server rejected ${rejected.length} node(s): ${rejected.map((r) => `${r.node.nodeId} (${r.status})`).join(", ")}`,
            {
              details: {
                endpointUrl,
                nodes: rejected.map((r) => ({
                  nodeId: r.node.nodeId,
                  channel: r.node.channel,
                  status: r.status,
                })),
              },
            },
          );
        }
        for (const r of rejected) {
          const q: QuarantineEvent = {
            kind: "quarantine",
            machineId,
            channel: r.node.channel,
            reason: "node.bad",
            message: `${machineId}/${r.node.channel}: the server rejected node ${r.node.nodeId} (${r.status})`,
            item: { nodeId: r.node.nodeId, channel: r.node.channel, status: r.status },
          };
          emit(q);
        }
      }
    }

    start().catch((err: unknown) => {
      fail(
        err instanceof MaaskitError
          ? err
          : new MaaskitError(
              "metering.opcua.subscriptionFailed",
              "Could not subscribe to the OPC UA server",
              {
                details: { endpointUrl, message: err instanceof Error ? err.message : String(err) },
                cause: err,
              },
            ),
      );
    });

    return () => {
      closed = true;
      void discovery?.disconnect().catch(() => undefined);
      const c = client;
      const s = session;
      const sub = subscription;
      // close in order, ignoring failures: nobody is listening any more
      void (async () => {
        try {
          await sub?.terminate();
        } catch {
          /* the server may be gone */
        }
        try {
          await s?.close(true);
        } catch {
          /* the server may be gone */
        }
        try {
          await c?.disconnect();
        } catch {
          /* already disconnected */
        }
        try {
          await ownManager?.dispose();
        } catch {
          /* nothing left to release */
        }
      })();
    };
  });
}

/**
 * The certificate manager as the connected client sees it: a server certificate other than
 * the one verified at connect time (a reconnect to a replaced server) fails the stream —
 * `serverCertificateChanged` with trust on first use (the pin), `untrustedServer` when the
 * trust list does not hold it. A rotated certificate that is in the trust list is accepted.
 */
function watchServerCertificate(
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

async function readServerStartTime(session: ClientSession): Promise<number | undefined> {
  const { AttributeIds, resolveNodeId, VariableIds } = loadNodeOpcuaClient();
  const dv = await session.read({
    nodeId: resolveNodeId(VariableIds.Server_ServerStatus_StartTime),
    attributeId: AttributeIds.Value,
  });
  const v = dv.value?.value;
  return v instanceof Date ? v.getTime() : undefined;
}

function eventTime(e: MeterEvent): number {
  return e.kind === "reading"
    ? e.sourceTime.getTime()
    : e.kind === "quarantine" && e.at
      ? e.at.getTime()
      : 0;
}

function quality(code: number): Quality {
  // the two top bits of a StatusCode are its severity: 00 good, 01 uncertain, 1x bad
  const severity = code >>> 30;
  return severity === 0 ? "good" : severity === 1 ? "uncertain" : "bad";
}

/** Converts one DataValue into a Reading, or a QuarantineEvent when it cannot be one. */
function dataValueToEvent(machineId: string, n: NodeConfig, dv: DataValue): MeterEvent {
  const { node } = n;
  const code = dv.statusCode.value;
  const sourceTime = dv.sourceTimestamp ?? dv.serverTimestamp ?? new Date();
  const converted = convertValue(n, dv.value?.dataType, dv.value?.value);
  if (typeof converted === "object" && converted !== null && "problem" in converted) {
    const q: QuarantineEvent = {
      kind: "quarantine",
      machineId,
      channel: node.channel,
      reason: converted.problem,
      message: `${machineId}/${node.channel}: ${converted.message} (status ${dv.statusCode.name})`,
      item: { nodeId: node.nodeId, dataValue: dv.toString() },
      at: sourceTime,
    };
    return q;
  }
  const base = {
    kind: "reading" as const,
    machineId,
    channel: node.channel,
    value: converted as ReadingValue,
    quality: quality(code),
    statusCode: code,
    sourceTime,
  };
  const withUnit = node.unit === undefined ? base : { ...base, unit: node.unit };
  return dv.serverTimestamp ? { ...withUnit, serverTime: dv.serverTimestamp } : withUnit;
}

function convertValue(
  n: NodeConfig,
  dataType: DataType | undefined,
  raw: unknown,
): ReadingValue | { problem: string; message: string } {
  const { DataType } = loadNodeOpcuaClient();
  const { node, scale } = n;
  if (raw === null || raw === undefined) return { problem: "value.missing", message: "no value" };
  if (typeof raw === "boolean") return raw;
  if (typeof raw === "string") return raw;
  if (typeof raw === "object" && raw !== null && "text" in raw && typeof raw.text === "string") {
    return raw.text; // LocalizedText
  }
  let d: Decimal;
  if (typeof raw === "number") {
    if (!Number.isFinite(raw))
      return { problem: "value.notFinite", message: `value ${raw} is not finite` };
    if (node.kind === "state" && node.states?.[raw] !== undefined) return node.states[raw]!;
    d = new Dec(raw.toString());
  } else if (
    (dataType === DataType.Int64 || dataType === DataType.UInt64) &&
    Array.isArray(raw) &&
    raw.length === 2
  ) {
    // node-opcua carries 64-bit integers as [high, low] 32-bit words
    const [hi, lo] = raw as [number, number];
    const big =
      dataType === DataType.Int64
        ? BigInt.asIntN(64, (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0))
        : (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
    d = new Dec(big.toString());
  } else if (typeof raw === "bigint") {
    d = new Dec(raw.toString());
  } else {
    return {
      problem: "value.notNumeric",
      message: `value of type ${DataType[dataType ?? 0]} is not a number`,
    };
  }
  if (node.kind === "state") return d.toFixed();
  return scale === undefined ? d : d.times(scale);
}

function validate(options: FromOpcUaOptions): NodeConfig[] {
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
