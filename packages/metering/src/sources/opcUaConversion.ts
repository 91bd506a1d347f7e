import type { Decimal } from "decimal.js";
import type { DataType, DataValue } from "node-opcua-client";
import { Dec } from "../quantity.js";
import type { MeterEvent, Quality, QuarantineEvent, ReadingValue } from "../reading.js";
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

export function quality(code: number): Quality {
  // the two top bits of a StatusCode are its severity: 00 good, 01 uncertain, 1x bad
  const severity = code >>> 30;
  return severity === 0 ? "good" : severity === 1 ? "uncertain" : "bad";
}

/** Converts one DataValue into a Reading, or a QuarantineEvent when it cannot be one. */
export function dataValueToEvent(machineId: string, n: NodeConfig, dv: DataValue): MeterEvent {
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

export function convertValue(
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
