import type { Decimal } from "decimal.js";
import type { IClientOptions, MqttClient } from "mqtt";
import { Observable } from "rxjs";
import { MaaskitError } from "../errors.js";
import { Dec } from "../quantity.js";
import type { MeterEvent, Quality, ReadingValue } from "../reading.js";
import type { UnitCode } from "../units.js";
import { loadMqtt, qualityOfCode } from "./mqttClient.js";

/** One MQTT topic (plain JSON or a bare value) mapped onto a metering channel. */
export interface MqttTopicMapping {
  /** The exact topic (no wildcards). */
  readonly topic: string;
  readonly channel: string;
  readonly unit?: UnitCode;
  /**
   * Dotted path of the value in a JSON object payload (default `value`); `""` = the payload
   * itself is the value (a bare number, `true`/`false`, or a string). Numbers are exact: a
   * bare payload is read from its text; a JSON number must be a safe integer or is read
   * through its shortest decimal; strings holding decimals (`"12.345"`) are exact.
   */
  readonly valuePath?: string;
  /** Dotted path of the timestamp (ms since the epoch, or an ISO 8601 string). Default `timestamp`. */
  readonly timePath?: string;
  /** Dotted path of a numeric quality (OPC DA: 192 good). Default: none (good). */
  readonly qualityPath?: string;
  /** Multiplier applied exactly to numeric values. */
  readonly scale?: Decimal.Value;
}

/** Options of {@link fromMqtt}. */
export interface FromMqttOptions {
  readonly brokerUrl: string;
  readonly machineId: string;
  readonly topics: readonly MqttTopicMapping[];
  /** Subscription QoS (default 1). */
  readonly qos?: 0 | 1 | 2;
  /** A payload without a timestamp is stamped with the receive time (default false: quarantined). */
  readonly receiveTimeFallback?: boolean;
  readonly reconnectPeriodMs?: number;
  /** The first connection must succeed within this many ms (default 30000). */
  readonly connectTimeoutMs?: number;
  readonly mqttOptions?: Partial<IClientOptions>;
  readonly clock?: () => number;
}

export type FromMqttErrorCode = "metering.mqtt.invalidConfig" | "metering.mqtt.connectionFailed";

const ENTRY = "@maaskit/metering/mqtt";

function at(value: unknown, path: string): unknown {
  if (path === "") return value;
  let v: unknown = value;
  for (const key of path.split(".")) {
    if (typeof v !== "object" || v === null || !Object.hasOwn(v, key)) return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}

const DECIMAL = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;

function exact(v: unknown, raw: string | undefined): ReadingValue | string {
  if (typeof v === "boolean") return v;
  if (raw !== undefined && DECIMAL.test(raw)) return new Dec(raw);
  if (typeof v === "number") {
    if (!Number.isFinite(v)) return "value.notFinite";
    if (Number.isInteger(v) && !Number.isSafeInteger(v)) return "value.unsafeNumber";
    return new Dec(v.toString());
  }
  if (typeof v === "string") return DECIMAL.test(v.trim()) ? new Dec(v.trim()) : v;
  return "value.notNumeric";
}

/**
 * Machine readings from plain MQTT topics (JSON objects or bare values) as metering events,
 * with `mqtt` 5.x (an optional peer: without it `fromMqtt()` throws `maaskit.dependency.missing`).
 * Values are exact (see {@link MqttTopicMapping.valuePath}); a payload that cannot be read is
 * quarantined with the reason, never dropped. After a reconnect the first reading of each
 * channel is preceded by a `source.reconnected` gap, so `counterDelta` bridges from the register.
 *
 * @example
 * ```ts
 * import { fromMqtt } from "@maaskit/metering/mqtt";
 * fromMqtt({
 *   brokerUrl: "mqtt://127.0.0.1:1883",
 *   machineId: "compressor-1",
 *   topics: [{ topic: "plant1/compressor-1/volume", channel: "volume", unit: "MTQ" }],
 * });
 * ```
 */
export function fromMqtt(options: FromMqttOptions): Observable<MeterEvent> {
  const problems: string[] = [];
  if (
    typeof options.brokerUrl !== "string" ||
    !/^(mqtts?|wss?|tcp|tls):\/\//.test(options.brokerUrl)
  ) {
    problems.push("brokerUrl must be an mqtt://, mqtts://, ws:// or wss:// URL");
  }
  if (typeof options.machineId !== "string" || options.machineId === "")
    problems.push("machineId must be a non-empty string");
  const byTopic = new Map<string, { t: MqttTopicMapping; scale?: Decimal }>();
  if (!Array.isArray(options.topics) || options.topics.length === 0)
    problems.push("topics must list at least one topic");
  for (const [i, t] of (options.topics ?? []).entries()) {
    if (typeof t.topic !== "string" || t.topic === "" || /[+#]/.test(t.topic))
      problems.push(`topics[${i}].topic must be a topic without wildcards`);
    if (typeof t.channel !== "string" || t.channel === "")
      problems.push(`topics[${i}].channel must be a non-empty string`);
    if (byTopic.has(t.topic)) problems.push(`topics[${i}].topic "${t.topic}" is mapped twice`);
    let scale: Decimal | undefined;
    try {
      if (t.scale !== undefined) scale = new Dec(t.scale);
    } catch {
      problems.push(`topics[${i}].scale must be a decimal`);
    }
    byTopic.set(t.topic, { t, ...(scale === undefined ? {} : { scale }) });
  }
  if (problems.length > 0) {
    throw new MaaskitError<FromMqttErrorCode>(
      "metering.mqtt.invalidConfig",
      `invalid fromMqtt options: ${problems.join("; ")}`,
      {
        details: { problems },
      },
    );
  }
  const mqtt = loadMqtt(ENTRY);
  const clock = options.clock ?? Date.now;
  const { machineId } = options;

  return new Observable<MeterEvent>((subscriber) => {
    let connections = 0;
    const last = new Map<string, number>();
    const needGap = new Set<string>();
    let lostAt: number | undefined;
    const client: MqttClient = mqtt.connect(options.brokerUrl, {
      ...options.mqttOptions,
      clean: true,
      reconnectPeriod: options.reconnectPeriodMs ?? 1000,
    });
    const firstConnect = setTimeout(() => {
      if (connections === 0) {
        subscriber.error(
          new MaaskitError<FromMqttErrorCode>(
            "metering.mqtt.connectionFailed",
            `no connection to ${options.brokerUrl}`,
            {
              details: { brokerUrl: options.brokerUrl },
            },
          ),
        );
      }
    }, options.connectTimeoutMs ?? 30_000);
    client.on("error", () => {});
    client.on("connect", () => {
      connections += 1;
      clearTimeout(firstConnect);
      if (connections > 1) for (const t of byTopic.values()) needGap.add(t.t.channel);
      client.subscribe([...byTopic.keys()], { qos: options.qos ?? 1 });
    });
    client.on("close", () => {
      lostAt ??= clock();
    });
    client.on("message", (topic, payload) => {
      const map = byTopic.get(topic);
      if (map === undefined) return;
      const { t, scale } = map;
      const text = payload.toString("utf8");
      const quarantine = (reason: string, message: string) =>
        subscriber.next({
          kind: "quarantine",
          machineId,
          channel: t.channel,
          reason,
          message,
          item: { topic, payload: text },
        });
      let json: unknown;
      let raw: string | undefined;
      try {
        json = JSON.parse(text);
      } catch {
        json = text;
      }
      const valuePath = t.valuePath ?? "value";
      if (valuePath === "") raw = text.trim();
      const v = at(json, valuePath);
      let value = exact(v, raw);
      if (typeof value === "string" && value.startsWith("value."))
        return quarantine(value, `no usable value at "${valuePath}"`);
      if (typeof value === "object" && scale !== undefined) value = value.times(scale);
      const ts = valuePath === "" ? undefined : at(json, t.timePath ?? "timestamp");
      let time: number;
      if (typeof ts === "number" && Number.isSafeInteger(ts)) time = ts;
      else if (typeof ts === "string" && !Number.isNaN(Date.parse(ts))) time = Date.parse(ts);
      else if (options.receiveTimeFallback) time = clock();
      else return quarantine("time.missing", `no timestamp at "${t.timePath ?? "timestamp"}"`);
      let quality: Quality = "good";
      let statusCode: number | undefined;
      if (t.qualityPath !== undefined) {
        const q = at(json, t.qualityPath);
        if (typeof q !== "number" || !Number.isInteger(q))
          return quarantine("quality.missing", `no numeric quality at "${t.qualityPath}"`);
        quality = qualityOfCode(q);
        statusCode = q;
      }
      const prev = last.get(t.channel);
      if (needGap.delete(t.channel) && prev !== undefined) {
        subscriber.next({
          kind: "gap",
          machineId,
          channel: t.channel,
          start: new Date(prev),
          end: new Date(Math.max(prev, time)),
          reason: "source.reconnected",
          bridgedBy: "register",
          detail: `MQTT connection to ${options.brokerUrl} lost${lostAt === undefined ? "" : ` at ${new Date(lostAt).toISOString()}`}`,
        });
      }
      lostAt = undefined;
      last.set(t.channel, Math.max(prev ?? time, time));
      subscriber.next({
        kind: "reading",
        machineId,
        channel: t.channel,
        value,
        ...(t.unit === undefined ? {} : { unit: t.unit }),
        quality,
        ...(statusCode === undefined ? {} : { statusCode }),
        sourceTime: new Date(time),
      });
    });
    return () => {
      clearTimeout(firstConnect);
      client.end(true);
    };
  });
}
