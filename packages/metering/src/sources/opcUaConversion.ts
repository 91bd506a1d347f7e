import type { Decimal } from "decimal.js";
import type { DataType, DataValue } from "node-opcua-client";
import { Dec } from "../quantity.js";
import type { MeterEvent, Quality, QuarantineEvent, ReadingValue } from "../reading.js";
import { decimalOfDouble } from "./decimalOfDouble.js";
import type { NodeConfig } from "./fromOpcUaOptions.js";
import { loadNodeOpcuaClient } from "./nodeOpcuaClient.js";

// DataValue → metering event, without a server: value conversion, quality, timestamps
// (split from fromOpcUa.ts; unit-tested in opcUaConversion.test.ts).

export function eventTime(e: MeterEvent): number {
  return e.kind === "reading"
    ? e.sourceTime.getTime()
    : e.kind === "quarantine" && e.at
      ? e.at.getTime()
      : 0;
}

function qualityOf(code: number): Quality {
  // the two top bits of a StatusCode are its severity: 00 good, 01 uncertain, 1x bad
  const severity = code >>> 30;
  return severity === 0 ? "good" : severity === 1 ? "uncertain" : "bad";
}

/**
 * Converts one DataValue into a Reading, or a QuarantineEvent when it cannot be one. The
 * per-notification path: one object per Reading (in the key order the Reading always had),
 * the DataValue's own Dates, a double's Decimal built without its string.
 */
export function dataValueToEvent(machineId: string, n: NodeConfig, dv: DataValue): MeterEvent {
  const node = n.node;
  const statusCode = dv.statusCode.value;
  const serverTime = dv.serverTimestamp;
  const sourceTime = dv.sourceTimestamp ?? serverTime ?? new Date();
  const variant = dv.value;
  const value = convertValue(n, variant?.dataType, variant?.value);
  if (value instanceof ValueProblem) {
    const q: QuarantineEvent = {
      kind: "quarantine",
      machineId,
      channel: node.channel,
      reason: value.problem,
      message: `${machineId}/${node.channel}: ${value.message} (status ${dv.statusCode.name})`,
      item: { nodeId: node.nodeId, dataValue: dv.toString() },
      at: sourceTime,
    };
    return q;
  }
  const channel = node.channel;
  const quality = qualityOf(statusCode);
  const unit = node.unit;
  if (serverTime) {
    return unit === undefined
      ? { kind: "reading", machineId, channel, value, quality, statusCode, sourceTime, serverTime }
      : {
          kind: "reading",
          machineId,
          channel,
          value,
          quality,
          statusCode,
          sourceTime,
          unit,
          serverTime,
        };
  }
  return unit === undefined
    ? { kind: "reading", machineId, channel, value, quality, statusCode, sourceTime }
    : { kind: "reading", machineId, channel, value, quality, statusCode, sourceTime, unit };
}

/** What a value that cannot be a reading gets quarantined for. */
class ValueProblem {
  constructor(
    readonly problem: string,
    readonly message: string,
  ) {}
}

export function convertValue(
  n: NodeConfig,
  dataType: DataType | undefined,
  raw: unknown,
): ReadingValue | ValueProblem {
  const { node, scale } = n;
  let d: Decimal;
  if (typeof raw === "number") {
    if (!Number.isFinite(raw))
      return new ValueProblem("value.notFinite", `value ${raw} is not finite`);
    if (node.kind === "state" && node.states?.[raw] !== undefined) return node.states[raw]!;
    d = decimalOfDouble(raw);
  } else {
    const other = convertOther(dataType, raw);
    if (!(other instanceof Dec)) return other;
    d = other;
  }
  if (node.kind === "state") return d.toFixed();
  return scale === undefined ? d : d.times(scale);
}

/** Anything but a number: flags, text, 64-bit words, bigints; else the problem. */
function convertOther(
  dataType: DataType | undefined,
  raw: unknown,
): boolean | string | Decimal | ValueProblem {
  if (raw === null || raw === undefined) return new ValueProblem("value.missing", "no value");
  if (typeof raw === "boolean") return raw;
  if (typeof raw === "string") return raw;
  if (typeof raw === "object" && "text" in raw && typeof raw.text === "string") {
    return raw.text; // LocalizedText
  }
  const { DataType } = loadNodeOpcuaClient();
  if (
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
    return new Dec(big.toString());
  }
  if (typeof raw === "bigint") return new Dec(raw.toString());
  return new ValueProblem(
    "value.notNumeric",
    `value of type ${DataType[dataType ?? 0]} is not a number`,
  );
}
