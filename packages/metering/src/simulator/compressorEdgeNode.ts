import type { Decimal } from "decimal.js";
import type { IClientOptions, MqttClient } from "mqtt";
import { MaaskitError } from "../errors.js";
import { loadSparkplugCodec } from "../loadSparkplugCodec.js";
import type { ReadingValue } from "../reading.js";
import { loadMqtt } from "../sources/mqttClient.js";
import { sparkplugTopic } from "../sources/sparkplug/topics.js";
import { rawValueOf, SparkplugDataType as T } from "../sources/sparkplug/values.js";
import {
  type CompressorModel,
  type CompressorModelOptions,
  type CompressorSnapshot,
  compressorModel,
} from "./compressorModel.js";

/** Options of {@link startCompressorEdgeNode}. */
export interface StartCompressorEdgeNodeOptions {
  readonly brokerUrl: string;
  readonly groupId: string;
  readonly edgeNodeId: string;
  /** The device the compressor's metrics belong to. Default "compressor". */
  readonly deviceId?: string;
  /** The compressor: a model, or options to create one. */
  readonly model?: CompressorModel | CompressorModelOptions;
  /** First bdSeq (0–255). Default 0; it rises by one on every new MQTT CONNECT. */
  readonly bdSeq?: number;
  /** After an unexpected connection loss, connect again (a new bdSeq) after this many ms. Default 500. */
  readonly reconnectDelayMs?: number;
  readonly mqttOptions?: Partial<IClientOptions>;
}

/** A Sparkplug B edge node publishing the simulated compressor; driven step by step. */
export interface CompressorEdgeNode {
  readonly model: CompressorModel;
  /** bdSeq of the current (or last) MQTT session. */
  readonly bdSeq: number;
  /** NBIRTHs published so far (first births, reconnects and rebirths on command). */
  readonly births: number;
  /** Rebirth commands (NCMD `Node Control/Rebirth` = true) received. */
  readonly rebirthCommands: number;
  readonly connected: boolean;
  /**
   * Advances the model `steps` steps (default 1), publishing after each one a DDATA with the
   * metrics that changed (report by exception). While disconnected nothing is sent.
   */
  advance(steps?: number): Promise<void>;
  /** The next `count` DATA messages are not sent, their seq numbers used up: a seq gap. */
  dropNext(count: number): void;
  /** The displayed totalizer is reset to 0 (ground truth unaffected); published as usual. */
  resetRegister(): void;
  /** The edge node dies: its socket closes without DISCONNECT, the broker sends the NDEATH will. */
  crash(): Promise<void>;
  /** Connects again after `crash()` (or a broker restart): a new bdSeq, then births. */
  reconnect(): Promise<void>;
  /** The last Volume register value sent (m³) and its timestamp (a birth, or a DDATA that changed it). */
  lastPublished(): { readonly volume: Decimal; readonly at: Date } | undefined;
  /** Delivered m³ so far (independent of rollover, resets and lost messages). */
  groundTruth(): Decimal;
  /** Clean shutdown: NDEATH published, then DISCONNECT. */
  stop(): Promise<void>;
}

const ENTRY = "@maaskit/metering/simulator (startCompressorEdgeNode)";
const VOLUME_ALIAS = 1n;

/** The compressor's device metrics: name, alias, datatype, value from a snapshot. */
const METRICS: readonly {
  readonly name: string;
  readonly alias: bigint;
  readonly datatype: number;
  readonly read: (s: CompressorSnapshot) => ReadingValue;
}[] = [
  // before the register: a reset is announced no later than the register's first value after it
  { name: "Counter Resets", alias: 4n, datatype: T.UInt32, read: (s) => String(s.counterResets) },
  // the register in whole litres, UInt64: exact, and the host scales it by 0.001 to m³
  { name: "Volume", alias: VOLUME_ALIAS, datatype: T.UInt64, read: (s) => s.volume.times(1000) },
  { name: "Flow", alias: 2n, datatype: T.Double, read: (s) => s.flow },
  { name: "State", alias: 3n, datatype: T.Int32, read: (s) => String(s.stateCode) },
  { name: "Net Pressure", alias: 5n, datatype: T.Float, read: (s) => s.netPressure },
];

/**
 * Starts a Sparkplug B edge node for the simulated compressor on an MQTT broker: NBIRTH
 * (bdSeq, `Node Control/Rebirth`) and DBIRTH with aliases, DDATA by exception with alias only,
 * the NDEATH registered as the will (QoS 1) with the session's bdSeq, a rebirth on an NCMD
 * `Node Control/Rebirth`, and a litre register that rolls over with the model's modulus and can
 * be reset. The model's ground truth tells what was really delivered.
 */
export async function startCompressorEdgeNode(
  options: StartCompressorEdgeNodeOptions,
): Promise<CompressorEdgeNode> {
  const mqtt = loadMqtt(ENTRY);
  const codec = await loadSparkplugCodec(ENTRY);
  const model =
    options.model !== undefined && "snapshot" in options.model
      ? (options.model as CompressorModel)
      : compressorModel((options.model ?? {}) as CompressorModelOptions);
  const { groupId, edgeNodeId } = options;
  const deviceId = options.deviceId ?? "compressor";
  let bdSeq = options.bdSeq ?? 0;
  let seq = 0;
  let births = 0;
  let rebirthCommands = 0;
  let drop = 0;
  let client: MqttClient | undefined;
  let connected = false;
  let intentional = false;
  let reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  let sent = new Map<bigint, string>();
  let lastVolume: { volume: Decimal; at: Date } | undefined;

  const nextSeq = () => {
    const s = seq;
    seq = (seq + 1) % 256;
    return BigInt(s);
  };
  const publish = (topic: string, payload: Uint8Array) =>
    new Promise<void>((resolve, reject) => {
      if (!connected || client === undefined) return resolve();
      client.publish(topic, Buffer.from(payload), { qos: 0, retain: false }, (err) =>
        err ? reject(err) : resolve(),
      );
    });
  const bdSeqMetric = () => ({
    name: "bdSeq",
    datatype: T.UInt64,
    value: rawValueOf(String(bdSeq), T.UInt64),
  });
  const noteVolume = (s: CompressorSnapshot) => {
    lastVolume = { volume: s.volume, at: s.time };
  };

  async function publishBirths(): Promise<void> {
    const s = model.snapshot();
    const ts = BigInt(s.time.getTime());
    seq = 0;
    births += 1;
    await publish(
      sparkplugTopic(groupId, "NBIRTH", edgeNodeId),
      codec.encodeSparkplugPayload({
        timestamp: ts,
        seq: nextSeq(),
        metrics: [
          { ...bdSeqMetric(), timestamp: ts },
          {
            name: "Node Control/Rebirth",
            timestamp: ts,
            datatype: T.Boolean,
            value: rawValueOf(false, T.Boolean),
          },
        ],
      }),
    );
    sent = new Map();
    const metrics = METRICS.map((m) => {
      const v = m.read(s);
      sent.set(m.alias, String(v));
      return {
        name: m.name,
        alias: m.alias,
        timestamp: ts,
        datatype: m.datatype,
        value: rawValueOf(v, m.datatype),
        quality: 192,
      };
    });
    await publish(
      sparkplugTopic(groupId, "DBIRTH", edgeNodeId, deviceId),
      codec.encodeSparkplugPayload({ timestamp: ts, seq: nextSeq(), metrics }),
    );
    noteVolume(s);
  }

  function connect(): Promise<void> {
    intentional = false;
    const will = codec.encodeSparkplugPayload({ metrics: [bdSeqMetric()] });
    const c = mqtt.connect(options.brokerUrl, {
      ...options.mqttOptions,
      clean: true,
      reconnectPeriod: 0,
      will: {
        topic: sparkplugTopic(groupId, "NDEATH", edgeNodeId),
        payload: Buffer.from(will),
        qos: 1,
        retain: false,
      },
    });
    client = c;
    c.on("message", (_topic, payload) => {
      let cmd: ReturnType<typeof codec.decodeSparkplugPayload>;
      try {
        cmd = codec.decodeSparkplugPayload(payload);
      } catch {
        return;
      }
      const rebirth = cmd.metrics.find((m) => m.name === "Node Control/Rebirth");
      if (rebirth?.value.case === "booleanValue" && rebirth.value.value === true) {
        rebirthCommands += 1;
        void publishBirths().catch(() => {});
      }
    });
    c.on("close", () => {
      if (client !== c) return;
      connected = false;
      if (!intentional && reconnectTimer === undefined) {
        reconnectTimer = setTimeout(() => {
          reconnectTimer = undefined;
          if (intentional || client !== c) return;
          bdSeq = (bdSeq + 1) % 256;
          // a failed attempt closes the new client, whose own handler tries again
          connect().catch(() => {});
        }, options.reconnectDelayMs ?? 500);
      }
    });
    c.on("error", () => {});
    return new Promise<void>((resolve, reject) => {
      c.once("connect", () => {
        c.subscribe(sparkplugTopic(groupId, "NCMD", edgeNodeId), { qos: 0 }, (err) => {
          if (err) return reject(err);
          connected = true;
          publishBirths().then(resolve, reject);
        });
      });
      c.once("close", () => {
        if (!connected)
          reject(
            new MaaskitError(
              "metering.sparkplug.connectionFailed",
              `edge node: no connection to ${options.brokerUrl}`,
            ),
          );
      });
    });
  }

  async function advanceOnce(): Promise<void> {
    model.step();
    const s = model.snapshot();
    const ts = BigInt(s.time.getTime());
    const changed = METRICS.flatMap((m) => {
      const v = m.read(s);
      const text = String(v);
      if (sent.get(m.alias) === text) return [];
      sent.set(m.alias, text);
      return [{ alias: m.alias, timestamp: ts, value: rawValueOf(v, m.datatype), quality: 192 }];
    });
    if (changed.length === 0 || !connected) return;
    const payload = codec.encodeSparkplugPayload({
      timestamp: ts,
      seq: nextSeq(),
      metrics: changed,
    });
    if (drop > 0) {
      drop -= 1;
      return;
    }
    await publish(sparkplugTopic(groupId, "DDATA", edgeNodeId, deviceId), payload);
    if (changed.some((m) => m.alias === VOLUME_ALIAS)) noteVolume(s);
  }

  await connect();

  return {
    model,
    get bdSeq() {
      return bdSeq;
    },
    get births() {
      return births;
    },
    get rebirthCommands() {
      return rebirthCommands;
    },
    get connected() {
      return connected;
    },
    async advance(steps = 1) {
      for (let i = 0; i < steps; i++) await advanceOnce();
    },
    dropNext(count) {
      drop += count;
    },
    resetRegister() {
      model.resetCounter();
    },
    async crash() {
      intentional = true;
      connected = false;
      const c = client;
      if (c === undefined) return;
      await new Promise<void>((resolve) => {
        c.stream.destroy();
        c.end(true, {}, () => resolve());
      });
    },
    async reconnect() {
      if (reconnectTimer !== undefined) clearTimeout(reconnectTimer);
      reconnectTimer = undefined;
      intentional = true;
      client?.end(true);
      bdSeq = (bdSeq + 1) % 256;
      await connect();
    },
    lastPublished: () => lastVolume,
    groundTruth: () => model.groundTruthVolume,
    async stop() {
      intentional = true;
      if (reconnectTimer !== undefined) clearTimeout(reconnectTimer);
      const c = client;
      if (c === undefined) return;
      if (connected) {
        await publish(
          sparkplugTopic(groupId, "NDEATH", edgeNodeId),
          codec.encodeSparkplugPayload({ metrics: [bdSeqMetric()] }),
        );
      }
      connected = false;
      await new Promise<void>((resolve) => c.end(false, {}, () => resolve()));
    },
  };
}
