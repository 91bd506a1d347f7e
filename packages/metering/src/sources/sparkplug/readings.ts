// From the host state machine's outputs to metering events: the per-metric hot path of
// fromSparkplug (every metric of every DATA message passes through metricEvent).
import type { Decimal } from "decimal.js";
import type { GapEvent, MeterEvent, Reading, ReadingValue } from "../../reading.js";
import type { UnitCode } from "../../units.js";
import { qualityOfCode } from "../mqttClient.js";
import type { SparkplugHostOutput } from "./hostTypes.js";
import { isValueProblem } from "./values.js";

/** One Sparkplug metric mapped onto a metering channel. */
export interface SparkplugMetricMapping {
  /** Metric name as in the NBIRTH/DBIRTH (e.g. `Compressor/Volume`). */
  readonly name: string;
  /** The device that publishes it; default the source's `deviceId`; none = an edge-node metric. */
  readonly deviceId?: string;
  /** Channel name put on the readings. */
  readonly channel: string;
  /** UNECE unit of the (scaled) value. */
  readonly unit?: UnitCode;
  /** Multiplier applied exactly to numeric values, e.g. "0.001" for a litre register read as m³. */
  readonly scale?: Decimal.Value;
  /** Numeric value → state name (for operating-state metrics). */
  readonly states?: Readonly<Record<number, string>>;
}

/** A parsed mapping, with the last live sourceTime emitted on its channel (ms). */
export interface Mapping {
  readonly m: SparkplugMetricMapping;
  readonly scale: Decimal | undefined;
  readonly deviceId: string | undefined;
  last: number | undefined;
}

type MetricOutput = Extract<SparkplugHostOutput, { kind: "metric" }>;
type ResyncOutput = Extract<SparkplugHostOutput, { kind: "resync" }>;

/**
 * The event of one metric: a reading (scaled exactly, state-mapped, quality and timestamp
 * carried), or a quarantine when the value cannot be a reading. Updates `map.last` for live
 * metrics. Plain assignments only: this runs for every metric received.
 */
export function metricEvent(o: MetricOutput, map: Mapping, machineId: string): MeterEvent {
  const { m, scale } = map;
  const t = Number(o.timestamp);
  const raw = o.value;
  if (isValueProblem(raw)) {
    const reason = raw.problem;
    return {
      kind: "quarantine",
      machineId,
      channel: m.channel,
      reason,
      message: `Sparkplug metric "${o.name}" has no usable value (${reason})`,
      item: {
        ...o,
        timestamp: o.timestamp.toString(),
        bdSeq: o.bdSeq?.toString(),
        seq: o.seq?.toString(),
      },
      at: new Date(t),
    };
  }
  let value: ReadingValue = raw;
  if (typeof value === "object") {
    if (m.states !== undefined) value = m.states[value.toNumber()] ?? value.toFixed();
    else if (scale !== undefined) value = value.times(scale);
  }
  const quality = o.quality;
  const reading: { -readonly [K in keyof Reading]: Reading[K] } = {
    kind: "reading",
    machineId,
    channel: m.channel,
    value,
    quality: quality === undefined ? "good" : qualityOfCode(quality),
    sourceTime: new Date(t),
  };
  if (m.unit !== undefined) reading.unit = m.unit;
  if (quality !== undefined) reading.statusCode = quality;
  if (!o.historical && (map.last === undefined || t > map.last)) map.last = t;
  return reading;
}

/**
 * The gaps a resync of the host means: from the last reading of each channel in its scope to
 * the birth that restores it (one machine-wide gap for the node, one per channel for a
 * device), bridged by the registers the birth carries. None before the first reading.
 */
export function resyncGaps(
  o: ResyncOutput,
  mappings: Iterable<Mapping>,
  machineId: string,
  where: string,
): GapEvent[] {
  const end = Number(o.at);
  const scoped = [...mappings].filter((x) => o.deviceId === undefined || x.deviceId === o.deviceId);
  const seen = scoped.filter((x) => x.last !== undefined);
  if (seen.length === 0) return [];
  const gap = (channel: string | undefined, start: number): GapEvent => ({
    kind: "gap",
    machineId,
    ...(channel === undefined ? {} : { channel }),
    start: new Date(Math.min(start, end)),
    end: new Date(end),
    reason: o.reason,
    bridgedBy: "register",
    detail: `Sparkplug ${where}${o.deviceId === undefined ? "" : `/${o.deviceId}`}: continuity lost (${o.reason}), registers re-read from the birth`,
  });
  if (o.deviceId === undefined) return [gap(undefined, Math.min(...seen.map((x) => x.last!)))];
  return seen.map((x) => gap(x.m.channel, x.last!));
}
