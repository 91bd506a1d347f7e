import type { OPCUACertificateManager } from "node-opcua-certificate-manager";
import type {
  ClientMonitoredItemGroup,
  ClientSession,
  ClientSubscription,
  MonitoringParametersOptions,
  OPCUAClient,
  OPCUAClientOptions,
} from "node-opcua-client";
import { Observable } from "rxjs";
import { MaaskitError } from "../errors.js";
import type { GapReason, MeterEvent, QuarantineEvent } from "../reading.js";
import {
  type FromOpcUaOptions,
  type NodeConfig,
  type OpcUaNode,
  validate,
} from "./fromOpcUaOptions.js";
import { loadNodeOpcuaClient } from "./nodeOpcuaClient.js";
import { dataValueToEvent } from "./opcUaConversion.js";
import { opcUaGaps } from "./opcUaGaps.js";
import { userIdentityOf } from "./opcUaSecurity.js";
import {
  connectionFailedError,
  negotiateSecurity,
  readServerStartTime,
  watchServerCertificate,
} from "./opcUaSession.js";

export type {
  FromOpcUaErrorCode,
  FromOpcUaOptions,
  OpcUaNode,
  OpcUaNodeKind,
} from "./fromOpcUaOptions.js";

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
 * Notifications that arrive while a connection is repaired are held (at most
 * `maxHeldNotifications`; what arrives beyond is reported as one `source.overflow` gap after
 * the held ones, never dropped silently). Per notification the path is one `Reading` object
 * and the value's exact Decimal (built from the double's shortest round-trip digits without
 * the string, `decimalOfDouble`); the gap logic lives in `opcUaGaps.ts`.
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
  const maxHeld = options.maxHeldNotifications ?? Math.max(10_000, 2 * nodes.length * queueSize);
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
    let recreated = false;
    let repairing: Promise<void> | undefined;

    const fail = (err: MaaskitError): void => {
      if (closed) return;
      subscriber.error(err);
    };

    const gaps = opcUaGaps({
      machineId,
      endpointUrl,
      maxHeld,
      next: (e) => subscriber.next(e),
    });
    const emit = (e: MeterEvent): void => {
      if (!closed) gaps.emit(e);
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
      gaps.hold();
    };

    const onRestored = (): void => {
      // both the session ("session_restored") and the client ("connection_reestablished")
      // report a repair; bridge once per connection loss
      if (closed || repairing !== undefined || !gaps.holding) return;
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
      gaps.hold();
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
        if (!closed) gaps.resume(reason);
        return;
      }
      const registers = nodes.filter((n) => n.node.kind === "register");
      const reread: MeterEvent[] = [];
      if (registers.length > 0) {
        const values = await s.read(
          registers.map((n) => ({ nodeId: n.node.nodeId, attributeId: AttributeIds.Value })),
        );
        for (const [i, dv] of values.entries())
          reread.push(dataValueToEvent(machineId, registers[i]!, dv));
      }
      if (closed) return;
      gaps.bridge(reason, reread, registers.length > 0);
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
      const connectionFailed = connectionFailedError(endpointUrl);

      const negotiated = await negotiateSecurity({
        lib: { MessageSecurityMode, OPCUAClient, SecurityPolicy },
        insecure,
        security,
        certificateManager,
        base,
        connectionStrategy,
        endpointUrl,
        machineId,
        pkiDir: options.pkiDir,
        logger,
        connectionFailed,
        setDiscovery: (d) => {
          discovery = d;
        },
        isClosed: () => closed,
      });
      if (negotiated === undefined) return;
      const { established, secure } = negotiated;
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
          if (closed || item.statusCode.isNotGood()) return;
          gaps.emit(dataValueToEvent(machineId, items[i]!, dv));
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
