import type { Decimal } from "decimal.js";
import { DataType, DataValue, StatusCodes } from "node-opcua-client";
import { describe, expect, it } from "vitest";
import { Dec } from "../quantity.js";
import type { NodeConfig } from "./fromOpcUaOptions.js";
import { convertValue, dataValueToEvent } from "./opcUaConversion.js";

// The conversion of a notification into a metering event, without a server (the session
// plumbing is tested against a real server in test/opcua.test.ts).
const register: NodeConfig = {
  node: { nodeId: "ns=1;s=V", channel: "volume", unit: "MTQ", kind: "register" },
  scale: undefined,
};
const at = new Date("2026-01-01T00:00:00.000Z");
const server = new Date("2026-01-01T00:00:00.250Z");

describe("OPC UA DataValue conversion", () => {
  it("a Double becomes an exact Decimal through its shortest decimal string", () => {
    const dv = new DataValue({
      value: { dataType: DataType.Double, value: 0.1 + 0.2 },
      statusCode: StatusCodes.Good,
      sourceTimestamp: at,
      serverTimestamp: server,
    });
    const e = dataValueToEvent("c1", register, dv);
    expect(e).toMatchObject({
      kind: "reading",
      machineId: "c1",
      channel: "volume",
      unit: "MTQ",
      quality: "good",
      sourceTime: at,
      serverTime: server,
    });
    expect((e as { value: Decimal }).value.toFixed()).toBe("0.30000000000000004");
    // one object, keys in the order Readings always had (records hash what operators build)
    expect(Object.keys(e)).toEqual([
      "kind",
      "machineId",
      "channel",
      "value",
      "quality",
      "statusCode",
      "sourceTime",
      "unit",
      "serverTime",
    ]);
    const bare = dataValueToEvent(
      "c1",
      { ...register, node: { ...register.node, unit: undefined } },
      new DataValue({
        value: { dataType: DataType.Float, value: 1.5 },
        statusCode: StatusCodes.Good,
        sourceTimestamp: at,
      }),
    );
    expect(bare).toStrictEqual({
      kind: "reading",
      machineId: "c1",
      channel: "volume",
      value: new Dec("1.5"),
      quality: "good",
      statusCode: 0,
      sourceTime: at,
    });
  });

  it("UInt64 words and a scale are exact; a state's number maps to its name", () => {
    const u64 = convertValue(register, DataType.UInt64, [0xffffffff, 0xffffffff]);
    expect((u64 as Decimal).toFixed()).toBe("18446744073709551615");
    const i64 = convertValue(register, DataType.Int64, [0xffffffff, 0xfffffffe]);
    expect((i64 as Decimal).toFixed()).toBe("-2");
    const scaled = convertValue({ ...register, scale: new Dec("0.001") }, DataType.Double, 1234);
    expect((scaled as Decimal).toFixed()).toBe("1.234");
    const state: NodeConfig = {
      node: { nodeId: "ns=1;s=S", channel: "state", kind: "state", states: { 1: "Loaded" } },
      scale: undefined,
    };
    expect(convertValue(state, DataType.Int32, 1)).toBe("Loaded");
    expect(convertValue(state, DataType.Int32, 7)).toBe("7");
  });

  it("adversarial: NaN, null and structures are quarantined with the reason, never dropped", () => {
    expect(convertValue(register, DataType.Double, Number.NaN)).toMatchObject({
      problem: "value.notFinite",
    });
    expect(convertValue(register, DataType.Double, null)).toMatchObject({
      problem: "value.missing",
    });
    expect(convertValue(register, DataType.ExtensionObject, { a: 1 })).toMatchObject({
      problem: "value.notNumeric",
    });
    const dv = new DataValue({
      value: { dataType: DataType.Double, value: Number.NaN },
      statusCode: StatusCodes.Good,
      sourceTimestamp: at,
    });
    expect(dataValueToEvent("c1", register, dv)).toMatchObject({
      kind: "quarantine",
      reason: "value.notFinite",
      at,
    });
  });

  it("bad and uncertain status codes set the quality; no source timestamp falls back to the server's", () => {
    const bad = new DataValue({
      value: { dataType: DataType.Double, value: 1 },
      statusCode: StatusCodes.BadSensorFailure,
      serverTimestamp: server,
    });
    expect(dataValueToEvent("c1", register, bad)).toMatchObject({
      quality: "bad",
      sourceTime: server,
    });
    const uncertain = new DataValue({
      value: { dataType: DataType.Double, value: 1 },
      statusCode: StatusCodes.UncertainLastUsableValue,
      sourceTimestamp: at,
    });
    expect(dataValueToEvent("c1", register, uncertain)).toMatchObject({ quality: "uncertain" });
  });
});
