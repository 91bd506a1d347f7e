import type { Decimal } from "decimal.js";
import type { OPCUACertificateManager } from "node-opcua-certificate-manager";
import type {
  ClientMonitoredItemGroup,
  ClientSession,
  ClientSubscription,
  DataType,
  DataValue,
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
   * Client PKI folder (own certificate, trusted servers). Default: node-opcua's per-user
   * folder. Ignored when `certificateManager` is given.
   */
  readonly pkiDir?: string;
  /** A ready client certificate manager (takes precedence over `pkiDir`). */
  readonly certificateManager?: OPCUACertificateManager;
  /** Extra node-opcua client options (security mode, policy, timeouts…). */
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
  | "metering.opcua.badNode";

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
    OPCUACertificateManager,
    OPCUAClient,
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

  return new Observable<MeterEvent>((subscriber) => {
    let closed = false;
    let client: OPCUAClient | undefined;
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
      const certificateManager =
        options.certificateManager ??
        (options.pkiDir === undefined
          ? undefined
          : new OPCUACertificateManager({
              rootFolder: options.pkiDir,
              automaticallyAcceptUnknownCertificate: true,
            }));
      const c = OPCUAClient.create({
        applicationName: "maaskit-metering",
        endpointMustExist: false,
        keepSessionAlive: true,
        connectionStrategy: {
          // node-opcua only reconnects after a loss when maxRetry is not 0
          maxRetry: Math.max(reconnect ? 1 : 0, options.connect?.maxRetry ?? 2),
          initialDelay: options.connect?.initialDelay ?? 250,
          maxDelay: options.connect?.maxDelay ?? 2000,
        },
        ...(certificateManager === undefined
          ? {}
          : { clientCertificateManager: certificateManager }),
        ...options.clientOptions,
      });
      client = c;
      c.on("connection_lost", onConnectionLost);
      c.on("connection_reestablished", onRestored);
      try {
        await c.connect(endpointUrl);
        if (closed) return;
        session = await c.createSession();
      } catch (cause) {
        throw new MaaskitError(
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
      }
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
      })();
    };
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
