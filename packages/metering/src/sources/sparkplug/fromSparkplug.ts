import type { Decimal } from "decimal.js";
import type { IClientOptions, MqttClient } from "mqtt";
import { Observable } from "rxjs";
import { MaaskitError } from "../../errors.js";
import { loadSparkplugCodec } from "../../loadSparkplugCodec.js";
import { assertOptionalInstalled } from "../../optionalDependency.js";
import { Dec } from "../../quantity.js";
import type { MeterEvent } from "../../reading.js";
import { badTopicSegment, loadMqtt } from "../mqttClient.js";
import { createSparkplugHost, type SparkplugHost, type SparkplugHostOutput } from "./host.js";
import { type Mapping, metricEvent, resyncGaps, type SparkplugMetricMapping } from "./readings.js";

export type { SparkplugMetricMapping } from "./readings.js";

/** Options of {@link fromSparkplug}. */
export interface FromSparkplugOptions {
  /** `mqtt://host:port` (or `mqtts://`, `ws://`). */
  readonly brokerUrl: string;
  readonly groupId: string;
  readonly edgeNodeId: string;
  /** Default device of the metrics; the node's own metrics are read either way. */
  readonly deviceId?: string;
  /** This host application's id: unique in the infrastructure, its STATE topic. */
  readonly hostId: string;
  /** Machine id put on every event. Default: the edge node id. */
  readonly machineId?: string;
  readonly metrics: readonly SparkplugMetricMapping[];
  /** Reorder timeout for seq gaps, ms (default 2000). */
  readonly reorderTimeoutMs?: number;
  /** At most one rebirth request per cooldown, ms (default 10000). */
  readonly rebirthCooldownMs?: number;
  /** Act as a primary host that requests rebirths (default true); false = listen only. */
  readonly requestRebirths?: boolean;
  /** Delay between reconnect attempts, ms (default 1000). */
  readonly reconnectPeriodMs?: number;
  /** The first connection must succeed within this many ms (default 30000). */
  readonly connectTimeoutMs?: number;
  /** Extra `mqtt` client options (credentials, TLS…); `will`, `clean` and `reconnectPeriod` are ours. */
  readonly mqttOptions?: Partial<IClientOptions>;
  /** Host application events: STATE seen, deaths, rebirth requests, messages ignored and why. */
  readonly onHostEvent?: (event: SparkplugHostOutput) => void;
  /** Host clock (ms); default `Date.now`. */
  readonly clock?: () => number;
}

export type FromSparkplugErrorCode =
  | "metering.sparkplug.invalidConfig"
  | "metering.sparkplug.connectionFailed";

const ENTRY = "@maaskit/metering/sparkplug";

function parseOptions(o: FromSparkplugOptions): Map<string, Mapping> {
  const problems: string[] = [];
  if (typeof o.brokerUrl !== "string" || !/^(mqtts?|wss?|tcp|tls):\/\//.test(o.brokerUrl)) {
    problems.push("brokerUrl must be an mqtt://, mqtts://, ws:// or wss:// URL");
  }
  for (const key of ["groupId", "edgeNodeId", "hostId"] as const) {
    if (badTopicSegment(o[key]))
      problems.push(`${key} must be a non-empty topic segment without / + #`);
  }
  if (o.deviceId !== undefined && badTopicSegment(o.deviceId)) {
    problems.push("deviceId must be a non-empty topic segment without / + #");
  }
  for (const key of [
    "reorderTimeoutMs",
    "rebirthCooldownMs",
    "reconnectPeriodMs",
    "connectTimeoutMs",
  ] as const) {
    const v = o[key];
    if (v !== undefined && !(Number.isFinite(v) && v >= 0))
      problems.push(`${key} must be a number >= 0`);
  }
  const byKey = new Map<string, Mapping>();
  const channels = new Set<string>();
  if (!Array.isArray(o.metrics) || o.metrics.length === 0)
    problems.push("metrics must list at least one metric");
  for (const [i, m] of (o.metrics ?? []).entries()) {
    if (typeof m.name !== "string" || m.name === "")
      problems.push(`metrics[${i}].name must be a non-empty string`);
    if (typeof m.channel !== "string" || m.channel === "")
      problems.push(`metrics[${i}].channel must be a non-empty string`);
    if (channels.has(m.channel))
      problems.push(`metrics[${i}].channel "${m.channel}" is mapped twice`);
    channels.add(m.channel);
    let scale: Decimal | undefined;
    if (m.scale !== undefined) {
      try {
        scale = new Dec(m.scale);
        if (!scale.isFinite() || scale.isZero()) throw new Error("zero");
      } catch {
        problems.push(`metrics[${i}].scale must be a finite non-zero decimal`);
      }
    }
    const deviceId = m.deviceId ?? o.deviceId;
    byKey.set(`${deviceId ?? ""}\u0000${m.name}`, { m, scale, deviceId, last: undefined });
  }
  if (problems.length > 0) {
    throw new MaaskitError<FromSparkplugErrorCode>(
      "metering.sparkplug.invalidConfig",
      `invalid fromSparkplug options: ${problems.join("; ")}`,
      { details: { problems } },
    );
  }
  return byKey;
}

/**
 * Machine readings from a Sparkplug B edge node (and its devices) as metering events: a
 * Sparkplug 3.0 host application on an MQTT broker (`mqtt` 5.x), payloads decoded with code
 * generated from Tahu's `sparkplug_b.proto` (`@bufbuild/protobuf`).
 *
 * - It registers its STATE will (`spBv1.0/STATE/<hostId>`, `{online:false}`, QoS 1, retained),
 *   publishes `{online:true}` with the same timestamp after each connect and asks the edge
 *   node for a rebirth, so it starts from the birth's full current values.
 * - Births define names, aliases and datatypes; data is read by alias; 64-bit and unsigned
 *   values are exact (bigint → Decimal). Quality (property "Quality", 192 good) and the
 *   metric's timestamp become the reading's `quality`/`statusCode` and `sourceTime`.
 * - **Nothing billed is lost.** After a death, a seq gap, a rebirth or a broker reconnect the
 *   next birth is preceded by a `GapEvent` (`bridgedBy: "register"`, from the last reading to the
 *   birth): `counterDelta` bridges it from the cumulative registers the birth carries. Bill
 *   from registers, never by summing DATA deltas, which QoS 0 may drop.
 * - Values that cannot be a reading (null, wrong wire type) are quarantined, never dropped.
 *
 * `mqtt` and `@bufbuild/protobuf` are optional peer dependencies: without them
 * `fromSparkplug()` throws `maaskit.dependency.missing`. Invalid options throw
 * `metering.sparkplug.invalidConfig` listing every problem; a first connection that does not
 * succeed within `connectTimeoutMs` ends the stream with `metering.sparkplug.connectionFailed`.
 * Unsubscribing publishes our offline STATE and disconnects.
 *
 * @example
 * ```ts
 * import { fromSparkplug } from "@maaskit/metering/sparkplug";
 * fromSparkplug({
 *   brokerUrl: "mqtt://127.0.0.1:1883",
 *   groupId: "plant1",
 *   edgeNodeId: "compressor-edge",
 *   deviceId: "compressor",
 *   hostId: "maaskit-meter",
 *   metrics: [{ name: "Volume", channel: "volume", unit: "MTQ", scale: "0.001" }],
 * });
 * ```
 */
export function fromSparkplug(options: FromSparkplugOptions): Observable<MeterEvent> {
  const parsed = parseOptions(options);
  const mqtt = loadMqtt(ENTRY);
  assertOptionalInstalled("@bufbuild/protobuf", ENTRY); // fails now, not on subscribe
  const machineId = options.machineId ?? options.edgeNodeId;
  const clock = options.clock ?? Date.now;
  const onHostEvent = options.onHostEvent;
  const where = `${options.groupId}/${options.edgeNodeId}`;

  return new Observable<MeterEvent>((subscriber) => {
    // each subscription its own last-reading times
    const mappings = [...parsed.values()].map((x): Mapping => ({ ...x, last: undefined }));
    // device ("" for the node) → metric name → mapping: no key string built per metric
    const byDevice = new Map<string, Map<string, Mapping>>();
    for (const x of mappings) {
      const d = x.deviceId ?? "";
      if (!byDevice.has(d)) byDevice.set(d, new Map());
      byDevice.get(d)!.set(x.m.name, x);
    }
    let closed = false;
    let client: MqttClient | undefined;
    let host: SparkplugHost | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let willTimestamp = 0;
    let everConnected = false;
    let connectedNow = false;
    let firstConnect: ReturnType<typeof setTimeout> | undefined;
    const fail = (err: unknown) => {
      if (closed) return;
      subscriber.error(err);
    };

    let timerAt: number | undefined;
    // after every message: a timer is (re)armed only when the host's next deadline changed
    const schedule = () => {
      const at = closed ? undefined : host?.nextDeadline();
      if (at === timerAt) return;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      timerAt = at;
      if (at === undefined) return;
      timer = setTimeout(
        () => {
          timer = undefined;
          timerAt = undefined;
          run(host!.tick(clock()));
        },
        Math.max(0, at - clock()),
      );
    };

    const run = (outputs: SparkplugHostOutput[]) => {
      if (closed) return;
      for (const o of outputs) {
        switch (o.kind) {
          case "metric": {
            const map = byDevice.get(o.deviceId ?? "")?.get(o.name);
            if (map !== undefined) subscriber.next(metricEvent(o, map, machineId));
            break;
          }
          case "resync":
            for (const gap of resyncGaps(o, mappings, machineId, where)) subscriber.next(gap);
            onHostEvent?.(o);
            break;
          case "publish":
            if (connectedNow)
              client?.publish(o.topic, Buffer.from(o.payload), { qos: o.qos, retain: o.retain });
            onHostEvent?.(o);
            break;
          default:
            onHostEvent?.(o);
        }
      }
      schedule();
    };

    loadSparkplugCodec(ENTRY).then(
      (codec) => {
        if (closed) return;
        host = createSparkplugHost({
          hostId: options.hostId,
          groupId: options.groupId,
          edgeNodeId: options.edgeNodeId,
          ...(options.deviceId === undefined ? {} : { deviceId: options.deviceId }),
          ...(options.reorderTimeoutMs === undefined
            ? {}
            : { reorderTimeoutMs: options.reorderTimeoutMs }),
          ...(options.rebirthCooldownMs === undefined
            ? {}
            : { rebirthCooldownMs: options.rebirthCooldownMs }),
          ...(options.requestRebirths === undefined
            ? {}
            : { requestRebirths: options.requestRebirths }),
          decode: codec.decodeSparkplugPayload,
          encodeRebirth: codec.encodeRebirthRequest,
        });
        const h = host;
        willTimestamp = clock();
        const will = h.will(willTimestamp);
        client = mqtt.connect(options.brokerUrl, {
          ...options.mqttOptions,
          clean: true,
          reconnectPeriod: options.reconnectPeriodMs ?? 1000,
          will: {
            topic: will.topic,
            payload: Buffer.from(will.payload),
            qos: will.qos,
            retain: will.retain,
          },
        });
        firstConnect = setTimeout(() => {
          if (!everConnected) {
            fail(
              new MaaskitError<FromSparkplugErrorCode>(
                "metering.sparkplug.connectionFailed",
                `no connection to ${options.brokerUrl} within ${options.connectTimeoutMs ?? 30_000} ms`,
                { details: { brokerUrl: options.brokerUrl } },
              ),
            );
          }
        }, options.connectTimeoutMs ?? 30_000);
        client.on("connect", () => {
          everConnected = true;
          clearTimeout(firstConnect);
          client?.subscribe(h.subscriptions(), { qos: 0 }, (err) => {
            if (err) {
              fail(
                new MaaskitError<FromSparkplugErrorCode>(
                  "metering.sparkplug.connectionFailed",
                  `subscribe failed: ${err.message}`,
                  { cause: err },
                ),
              );
              return;
            }
            connectedNow = true;
            run(h.connected(clock(), willTimestamp));
          });
        });
        client.on("message", (topic, payload) => run(h.message(topic, payload, clock())));
        client.on("close", () => {
          if (!connectedNow) return;
          connectedNow = false;
          run(h.connectionLost(clock()));
        });
        // connection errors are retried (reconnectPeriod); the first connect is bounded above
        client.on("error", () => {});
      },
      (err: unknown) => fail(err),
    );

    return () => {
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
      if (firstConnect !== undefined) clearTimeout(firstConnect);
      const c = client;
      if (c === undefined) return;
      if (connectedNow && host !== undefined) {
        const will = host.will(willTimestamp);
        // an intentional disconnect: our offline STATE first (the will is not sent then)
        c.publish(will.topic, Buffer.from(will.payload), { qos: 1, retain: true }, () => c.end());
        setTimeout(() => c.end(true), 2000).unref();
      } else c.end(true);
    };
  });
}
