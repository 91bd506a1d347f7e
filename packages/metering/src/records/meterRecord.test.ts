import { describe, expect, test } from "vitest";
import { isMaaskitError } from "../errors.js";
import { meterRecordFromJson, meterRecordToJson } from "./meterRecord.js";
import { sampleChain } from "./sampleMeterRecords.js";

const [record] = await sampleChain(1, { oee: true });

describe("meter record JSON", () => {
  test("default: round trip is lossless and canonical (same JSON text)", () => {
    const json = meterRecordToJson(record!);
    const text = JSON.stringify(json);
    const back = meterRecordFromJson(JSON.parse(text));
    expect(JSON.stringify(meterRecordToJson(back))).toBe(text);
    expect(Object.keys(json)).toEqual([
      "kind",
      "version",
      "agreementId",
      "chainId",
      "verifyingContract",
      "machineId",
      "channel",
      "seq",
      "periodStart",
      "periodEnd",
      "quantity",
      "register",
      "flags",
      "clock",
      "quarantined",
      "extras",
      "prevHash",
      "signer",
      "signature",
    ]);
    expect(json.quantity).toEqual({ value: "12", unit: "MTQ", basis: "ISO1217-FAD" });
  });

  test("error: every structural problem is reported at once", () => {
    const json = {
      ...meterRecordToJson(record!),
      seq: -1,
      periodStart: "2025-01-01T00:00:00Z",
      flags: { bridged: false, shiny: true },
      clock: "atomic",
      quantity: { value: "1e3x", unit: "MTQ" },
    };
    let error: unknown;
    try {
      meterRecordFromJson(json);
    } catch (e) {
      error = e;
    }
    expect(isMaaskitError(error, "metering.record.malformed")).toBe(true);
    expect(
      (error as { details: { problems: { field: string }[] } }).details.problems.map(
        (p) => p.field,
      ),
    ).toEqual(["seq", "periodStart", "quantity.value", "flags.bridged", "flags.shiny", "clock"]);
  });
});
