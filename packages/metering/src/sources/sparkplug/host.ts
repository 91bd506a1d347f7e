import type {
  SparkplugHostOptions,
  SparkplugHostOutput,
  SparkplugResyncReason,
} from "./hostTypes.js";
import {
  type ParsedTopic,
  parseStatePayload,
  parseTopic,
  type SparkplugMessageType,
  sparkplugTopic,
  statePayload,
  stateTopic,
} from "./topics.js";
import { metricValue, type SparkplugMetric, type SparkplugPayload } from "./values.js";

export type {
  SparkplugHostOptions,
  SparkplugHostOutput,
  SparkplugResyncReason,
} from "./hostTypes.js";

type MetricOutput = Extract<SparkplugHostOutput, { kind: "metric" }>;

interface Alias {
  readonly name: string;
  readonly datatype: number;
}

interface Scope {
  online: boolean;
  aliases: Map<bigint, Alias>;
  names: Map<string, number>;
  /** A previous session existed and continuity was lost since: the next birth emits a resync. */
  lost?: SparkplugResyncReason;
  born: boolean;
}

interface Pending {
  readonly topic: string;
  readonly type: SparkplugMessageType;
  readonly deviceId: string | undefined;
  readonly payload: SparkplugPayload;
}

/** The Sparkplug 3.0 host application for one edge node, as a pure state machine. */
export interface SparkplugHost {
  /** Topic filters to subscribe to after each connect (our own STATE first). */
  subscriptions(): string[];
  /** The STATE will to register on CONNECT (QoS 1, retained, `online:false`). */
  will(timestamp: number): {
    topic: string;
    payload: Uint8Array;
    qos: 1;
    retain: true;
  };
  /** After CONNECT (with the will of `willTimestamp`): publishes our STATE birth, asks for births. */
  connected(now: number, willTimestamp: number): SparkplugHostOutput[];
  /** The connection to the broker was lost: every session's continuity is lost. */
  connectionLost(now: number): SparkplugHostOutput[];
  /** One MQTT message, at host time `now`. */
  message(topic: string, payload: Uint8Array, now: number): SparkplugHostOutput[];
  /** Timers (reorder timeout, rebirth cooldown) due at `now`. */
  tick(now: number): SparkplugHostOutput[];
  /** When `tick` should next be called, if a timer runs. */
  nextDeadline(): number | undefined;
}

/**
 * Creates the host application state machine for one edge node (and its devices): no sockets,
 * no clocks — the runner passes messages and the current time and carries out the outputs.
 */
export function createSparkplugHost(options: SparkplugHostOptions): SparkplugHost {
  const reorderTimeout = options.reorderTimeoutMs ?? 2000;
  const cooldown = options.rebirthCooldownMs ?? 10_000;
  const primary = options.requestRebirths ?? true;
  const { groupId, edgeNodeId, hostId } = options;
  const newScope = (): Scope => ({
    online: false,
    aliases: new Map(),
    names: new Map(),
    born: false,
  });
  const node: Scope = newScope();
  const devices = new Map<string, Scope>();
  let bdSeq: bigint | undefined;
  // seq arithmetic in numbers (0–255): no bigint allocated per message
  let expectedSeq: number | undefined;
  let pending = new Map<number, Pending>();
  let reorderDeadline: number | undefined;
  let lastRebirth = Number.NEGATIVE_INFINITY;
  let rebirthWanted: SparkplugResyncReason | "sparkplug.noSession" | undefined;
  let connectedNow = false;
  const topics = new Map<string, ParsedTopic>();
  let ownWillTimestamp = 0;

  const deviceScope = (id: string): Scope => {
    let s = devices.get(id);
    if (s === undefined) {
      s = newScope();
      devices.set(id, s);
    }
    return s;
  };
  const wanted = (deviceId: string | undefined) =>
    deviceId === undefined || options.deviceId === undefined || deviceId === options.deviceId;

  function loseAll(reason: SparkplugResyncReason): void {
    for (const s of [node, ...devices.values()]) {
      if (s.born && s.lost === undefined) s.lost = reason;
      s.online = false;
    }
    expectedSeq = undefined;
    pending = new Map();
    reorderDeadline = undefined;
  }

  function requestRebirth(
    cause: SparkplugResyncReason | "sparkplug.noSession",
    now: number,
  ): SparkplugHostOutput[] {
    if (!primary || !connectedNow) return [];
    if (now - lastRebirth < cooldown) {
      rebirthWanted ??= cause;
      return [];
    }
    lastRebirth = now;
    rebirthWanted = undefined;
    return [
      {
        kind: "publish",
        topic: sparkplugTopic(groupId, "NCMD", edgeNodeId),
        payload: options.encodeRebirth(now),
        qos: 0,
        retain: false,
      },
      { kind: "rebirthRequested", cause, at: now },
    ];
  }

  function metricsOf(
    scope: Scope,
    deviceId: string | undefined,
    payload: SparkplugPayload,
    birth: boolean,
    topic: string,
    now: number,
  ): SparkplugHostOutput[] {
    const out: SparkplugHostOutput[] = [];
    let unknownAlias = false;
    const session = bdSeq;
    const seq = payload.seq;
    for (const m of payload.metrics) {
      const def = resolve(scope, m, birth);
      if (def === undefined) {
        unknownAlias = true;
        out.push({ kind: "ignored", topic, reason: "sparkplug.unknownAlias" });
        continue;
      }
      const { name, datatype } = def;
      const value = metricValue(m.value, datatype, m.isNull);
      const timestamp = m.timestamp ?? payload.timestamp ?? BigInt(now);
      const historical = m.isHistorical;
      const quality = m.quality;
      const o: { -readonly [K in keyof MetricOutput]: MetricOutput[K] } = {
        kind: "metric",
        name,
        datatype,
        value,
        timestamp,
        historical,
        birth,
      };
      if (deviceId !== undefined) o.deviceId = deviceId;
      if (quality !== undefined) o.quality = quality;
      if (session !== undefined) o.bdSeq = session;
      if (seq !== undefined) o.seq = seq;
      out.push(o);
    }
    if (unknownAlias) {
      // aliases are only valid within the birth that defined them: ask for a new one
      loseAll("sparkplug.unknownAlias");
      node.lost ??= "sparkplug.unknownAlias";
      out.push(...requestRebirth("sparkplug.unknownAlias", now));
    }
    return out;
  }

  function resolve(scope: Scope, m: SparkplugMetric, birth: boolean): Alias | undefined {
    if (birth) {
      if (m.name === undefined) return undefined;
      const def = { name: m.name, datatype: m.datatype ?? 0 };
      scope.names.set(m.name, def.datatype);
      if (m.alias !== undefined) scope.aliases.set(m.alias, def);
      return def;
    }
    if (m.alias !== undefined) return scope.aliases.get(m.alias);
    if (m.name !== undefined) {
      const datatype = scope.names.get(m.name);
      return datatype === undefined ? undefined : { name: m.name, datatype };
    }
    return undefined;
  }

  function birthOf(
    scope: Scope,
    deviceId: string | undefined,
    payload: SparkplugPayload,
    topic: string,
    now: number,
  ): SparkplugHostOutput[] {
    const out: SparkplugHostOutput[] = [];
    const at =
      payload.timestamp ?? payload.metrics.find((m) => m.timestamp)?.timestamp ?? BigInt(now);
    if (scope.born && scope.lost === undefined) scope.lost = "sparkplug.rebirth";
    if (scope.lost !== undefined) {
      out.push({
        kind: "resync",
        ...(deviceId === undefined ? {} : { deviceId }),
        reason: scope.lost,
        at,
      });
    }
    scope.lost = undefined;
    scope.born = true;
    scope.online = true;
    scope.aliases = new Map();
    scope.names = new Map();
    out.push(...metricsOf(scope, deviceId, payload, true, topic, now));
    return out;
  }

  /** A message of the current session, in seq order. */
  function apply(p: Pending, now: number): SparkplugHostOutput[] {
    const { type, deviceId, payload, topic } = p;
    if (deviceId !== undefined && !wanted(deviceId)) return [];
    const scope = deviceId === undefined ? node : deviceScope(deviceId);
    switch (type) {
      case "DBIRTH":
        return birthOf(scope, deviceId, payload, topic, now);
      case "DDEATH":
        if (!scope.online) return [{ kind: "ignored", topic, reason: "sparkplug.deviceOffline" }];
        scope.online = false;
        scope.lost ??= "sparkplug.death";
        return [{ kind: "offline", deviceId: deviceId!, reason: "DDEATH", at: now }];
      default:
        if (!scope.online) {
          return [
            { kind: "ignored", topic, reason: "sparkplug.deviceOffline" },
            ...requestRebirth("sparkplug.noSession", now),
          ];
        }
        return metricsOf(scope, deviceId, payload, false, topic, now);
    }
  }

  function drain(now: number): SparkplugHostOutput[] {
    const out: SparkplugHostOutput[] = [];
    while (expectedSeq !== undefined) {
      const next = pending.get(expectedSeq);
      if (next === undefined) break;
      pending.delete(expectedSeq);
      expectedSeq = (expectedSeq + 1) % 256;
      out.push(...apply(next, now));
    }
    if (pending.size === 0) reorderDeadline = undefined;
    return out;
  }

  function nodeMessage(
    type: SparkplugMessageType,
    deviceId: string | undefined,
    topic: string,
    bytes: Uint8Array,
    now: number,
  ): SparkplugHostOutput[] {
    if (type === "NCMD" || type === "DCMD") {
      // commands (ours included) are never data: reading them loops on our own rebirth requests
      return [{ kind: "ignored", topic, reason: "sparkplug.command" }];
    }
    let payload: SparkplugPayload;
    try {
      payload = options.decode(bytes);
    } catch {
      return [{ kind: "ignored", topic, reason: "sparkplug.undecodable" }];
    }
    if (type === "NBIRTH") {
      const b = payload.metrics.find((m) => m.name === "bdSeq")?.value;
      const births: SparkplugHostOutput[] = [];
      for (const [id, s] of devices) {
        // a new node session ends every device session: their DBIRTHs follow
        if (s.born && s.lost === undefined) s.lost = "sparkplug.rebirth";
        s.online = false;
        if (!wanted(id)) devices.delete(id);
      }
      bdSeq =
        b?.case === "longValue"
          ? (b.value as bigint)
          : b?.case === "intValue"
            ? BigInt(b.value as number)
            : undefined;
      pending = new Map();
      reorderDeadline = undefined;
      rebirthWanted = undefined;
      expectedSeq = Number(((payload.seq ?? 0n) + 1n) % 256n);
      births.push(...birthOf(node, undefined, payload, topic, now));
      return births;
    }
    if (type === "NDEATH") {
      const b = payload.metrics.find((m) => m.name === "bdSeq")?.value;
      const deathSeq =
        b?.case === "longValue"
          ? (b.value as bigint)
          : b?.case === "intValue"
            ? BigInt(b.value as number)
            : undefined;
      if (!node.online || bdSeq === undefined || deathSeq !== bdSeq) {
        // a will of an earlier connection (or of a session we never saw): not this session's death
        return [{ kind: "ignored", topic, reason: "sparkplug.staleDeath" }];
      }
      loseAll("sparkplug.death");
      const out: SparkplugHostOutput[] = [{ kind: "offline", reason: "NDEATH", at: now }];
      for (const id of devices.keys())
        out.push({ kind: "offline", deviceId: id, reason: "NDEATH", at: now });
      return out;
    }
    // DBIRTH, DDEATH, NDATA, DDATA: in seq order within the node session
    if (!node.online || expectedSeq === undefined) {
      return [
        { kind: "ignored", topic, reason: "sparkplug.noSession" },
        ...requestRebirth(node.lost ?? "sparkplug.noSession", now),
      ];
    }
    const wireSeq = payload.seq;
    if (wireSeq === undefined || wireSeq < 0n || wireSeq > 255n) {
      return [{ kind: "ignored", topic, reason: "sparkplug.badSeq" }];
    }
    const seq = Number(wireSeq);
    const ahead = (seq - expectedSeq + 256) % 256;
    if (ahead >= 128 || pending.has(seq)) {
      return [{ kind: "ignored", topic, reason: "sparkplug.duplicateSeq" }];
    }
    if (ahead === 0 && pending.size === 0) {
      // the usual case, in order with nothing waiting: applied at once
      expectedSeq = (expectedSeq + 1) % 256;
      return apply({ topic, type, deviceId, payload }, now);
    }
    pending.set(seq, { topic, type, deviceId, payload });
    if (ahead !== 0) {
      reorderDeadline ??= now + reorderTimeout;
      return [];
    }
    return drain(now);
  }

  return {
    subscriptions: () => [
      stateTopic(hostId),
      `spBv1.0/${groupId}/+/${edgeNodeId}`,
      `spBv1.0/${groupId}/+/${edgeNodeId}/+`,
    ],
    will: (timestamp) => ({
      topic: stateTopic(hostId),
      payload: statePayload(false, timestamp),
      qos: 1,
      retain: true,
    }),
    connected(now, willTimestamp) {
      connectedNow = true;
      ownWillTimestamp = willTimestamp;
      lastRebirth = Number.NEGATIVE_INFINITY;
      return [
        {
          kind: "publish",
          topic: stateTopic(hostId),
          payload: statePayload(true, willTimestamp),
          qos: 1,
          retain: true,
        },
        // a host that connects (again) has missed the births: ask for them
        ...requestRebirth(node.lost ?? "sparkplug.noSession", now),
      ];
    },
    connectionLost() {
      connectedNow = false;
      loseAll("source.reconnected");
      return [];
    },
    message(topic, bytes, now) {
      let t = topics.get(topic);
      if (t === undefined) {
        // an edge node publishes on a handful of topics: parsed once, not per message
        if (topics.size >= 1024) topics.clear();
        t = parseTopic(topic);
        topics.set(topic, t);
      }
      if (t.kind === "state") {
        const state = parseStatePayload(bytes);
        if (state === undefined) return [{ kind: "ignored", topic, reason: "sparkplug.badState" }];
        const out: SparkplugHostOutput[] = [{ kind: "hostState", hostId: t.hostId, ...state }];
        if (t.hostId === hostId && !state.online && connectedNow) {
          // our own offline STATE while we are connected (a stale will): say we are online
          out.push({
            kind: "publish",
            topic: stateTopic(hostId),
            payload: statePayload(true, ownWillTimestamp),
            qos: 1,
            retain: true,
          });
        }
        return out;
      }
      if (t.kind !== "sparkplug" || t.groupId !== groupId || t.edgeNodeId !== edgeNodeId) {
        return [{ kind: "ignored", topic, reason: "sparkplug.otherTopic" }];
      }
      return nodeMessage(t.type, t.deviceId, topic, bytes, now);
    },
    tick(now) {
      const out: SparkplugHostOutput[] = [];
      if (reorderDeadline !== undefined && now >= reorderDeadline) {
        // the missing messages never came: skip them, the registers bridge the hole
        const seqs = [...pending.keys()].sort(
          (a, b) => ((a - expectedSeq! + 256) % 256) - ((b - expectedSeq! + 256) % 256),
        );
        for (const s of [node, ...devices.values()]) if (s.online) s.lost ??= "sparkplug.seqGap";
        if (seqs.length > 0) expectedSeq = seqs[0]!;
        const lostScopes = [node, ...devices.values()];
        const resyncs = drainWithResync(now, lostScopes);
        out.push(...requestRebirth("sparkplug.seqGap", now), ...resyncs);
        reorderDeadline = undefined;
      }
      if (rebirthWanted !== undefined && now - lastRebirth >= cooldown) {
        out.push(...requestRebirth(rebirthWanted, now));
      }
      return out;
    },
    nextDeadline() {
      const cooldownEnd = rebirthWanted !== undefined ? lastRebirth + cooldown : undefined;
      if (reorderDeadline === undefined) return cooldownEnd;
      return cooldownEnd === undefined ? reorderDeadline : Math.min(reorderDeadline, cooldownEnd);
    },
  };

  /**
   * After a reorder timeout: the messages that did arrive are applied in seq order, each
   * scope's first metric message preceded by a resync at that message's timestamp.
   */
  function drainWithResync(now: number, scopes: Scope[]): SparkplugHostOutput[] {
    const out: SparkplugHostOutput[] = [];
    for (const o of drain(now)) {
      if (o.kind === "metric") {
        const scope = o.deviceId === undefined ? node : deviceScope(o.deviceId);
        if (scopes.includes(scope) && scope.lost !== undefined) {
          out.push({
            kind: "resync",
            ...(o.deviceId === undefined ? {} : { deviceId: o.deviceId }),
            reason: scope.lost,
            at: o.timestamp,
          });
          scope.lost = undefined;
        }
      }
      out.push(o);
    }
    return out;
  }
}
