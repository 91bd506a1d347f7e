// The Sparkplug B protobuf codec. Imports @bufbuild/protobuf (an optional peer dependency):
// loaded only through loadSparkplugCodec(), never by an entry point at import time.
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  type Payload_Metric,
  Payload_MetricSchema,
  type Payload_PropertySet,
  PayloadSchema,
} from "./generated/sparkplug_b_pb.js";
import type { RawMetricValue, SparkplugMetric, SparkplugPayload } from "./values.js";

/** A metric to encode: the value already in its wire form (see `rawValueOf`). */
export interface SparkplugMetricInit {
  readonly name?: string;
  readonly alias?: bigint;
  readonly timestamp?: bigint;
  readonly datatype?: number;
  readonly isHistorical?: boolean;
  readonly isNull?: boolean;
  readonly value?: RawMetricValue;
  /** Written as the property "Quality" (Int32). */
  readonly quality?: number;
}

export interface SparkplugPayloadInit {
  readonly timestamp?: bigint;
  readonly seq?: bigint;
  readonly metrics: readonly SparkplugMetricInit[];
}

function qualityOf(props: Payload_PropertySet | undefined): number | undefined {
  if (props === undefined) return undefined;
  const i = props.keys.indexOf("Quality");
  const v = i < 0 ? undefined : props.values[i]?.value;
  if (v?.case === "intValue") return v.value | 0;
  if (v?.case === "longValue") return Number(BigInt.asIntN(32, v.value));
  return undefined;
}

type MutableMetric = { -readonly [K in keyof SparkplugMetric]: SparkplugMetric[K] };

// hot path (every metric of every message): plain assignments, no spreads or closures
function metricOf(m: Payload_Metric): SparkplugMetric {
  // proto2 optional scalars: own properties are the ones set on the wire
  const hasName = Object.hasOwn(m, "name");
  const hasAlias = Object.hasOwn(m, "alias");
  const hasTimestamp = Object.hasOwn(m, "timestamp");
  const hasDatatype = Object.hasOwn(m, "datatype");
  const value = m.value as RawMetricValue;
  if (hasAlias && hasTimestamp && !hasName && !hasDatatype && m.properties === undefined) {
    // the usual DATA metric (by alias, timestamped): one literal, no properties added later
    return {
      isHistorical: m.isHistorical,
      isNull: m.isNull,
      value,
      alias: m.alias,
      timestamp: m.timestamp,
    };
  }
  const out: MutableMetric = { isHistorical: m.isHistorical, isNull: m.isNull, value };
  if (hasName) out.name = m.name;
  if (hasAlias) out.alias = m.alias;
  if (hasTimestamp) out.timestamp = m.timestamp;
  if (hasDatatype) out.datatype = m.datatype;
  if (m.properties !== undefined) out.quality = qualityOf(m.properties);
  return out;
}

/**
 * Decodes a Sparkplug B payload: 64-bit fields (timestamps, seq, alias, Int64/UInt64/DateTime
 * values) stay bigint; field presence is kept (a metric without a name has no `name`).
 * Throws on bytes that are not a protobuf payload.
 */
export function decodeSparkplugPayload(bytes: Uint8Array): SparkplugPayload {
  const p = fromBinary(PayloadSchema, bytes);
  const metrics = new Array<SparkplugMetric>(p.metrics.length);
  for (let i = 0; i < metrics.length; i++) metrics[i] = metricOf(p.metrics[i]!);
  const hasTimestamp = Object.hasOwn(p, "timestamp");
  const hasSeq = Object.hasOwn(p, "seq");
  if (hasTimestamp && hasSeq) return { metrics, timestamp: p.timestamp, seq: p.seq };
  const out: { timestamp?: bigint; seq?: bigint; metrics: SparkplugMetric[] } = { metrics };
  if (hasTimestamp) out.timestamp = p.timestamp;
  if (hasSeq) out.seq = p.seq;
  return out;
}

/** Encodes a Sparkplug B payload (the inverse of {@link decodeSparkplugPayload}). */
export function encodeSparkplugPayload(init: SparkplugPayloadInit): Uint8Array {
  const payload = create(PayloadSchema, {
    ...(init.timestamp !== undefined ? { timestamp: init.timestamp } : {}),
    ...(init.seq !== undefined ? { seq: init.seq } : {}),
    metrics: init.metrics.map((m) =>
      create(Payload_MetricSchema, {
        ...(m.name !== undefined ? { name: m.name } : {}),
        ...(m.alias !== undefined ? { alias: m.alias } : {}),
        ...(m.timestamp !== undefined ? { timestamp: m.timestamp } : {}),
        ...(m.datatype !== undefined ? { datatype: m.datatype } : {}),
        ...(m.isHistorical ? { isHistorical: true } : {}),
        ...(m.isNull ? { isNull: true } : {}),
        ...(m.value !== undefined && m.value.case !== undefined
          ? { value: m.value as Payload_Metric["value"] }
          : {}),
        ...(m.quality !== undefined
          ? {
              properties: {
                keys: ["Quality"],
                values: [{ type: 3, value: { case: "intValue", value: m.quality >>> 0 } }],
              },
            }
          : {}),
      }),
    ),
  });
  return toBinary(PayloadSchema, payload);
}

/**
 * The rebirth request a host sends to an edge node (NCMD): the metric `Node Control/Rebirth`,
 * Boolean, value true (tck-id-operational-behavior-data-commands-ncmd-rebirth-name/-value).
 */
export function encodeRebirthRequest(timestamp: number): Uint8Array {
  return encodeSparkplugPayload({
    timestamp: BigInt(timestamp),
    metrics: [
      {
        name: "Node Control/Rebirth",
        timestamp: BigInt(timestamp),
        datatype: 11,
        value: { case: "booleanValue", value: true },
      },
    ],
  });
}
