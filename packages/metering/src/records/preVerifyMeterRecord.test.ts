import { describe, expect, test } from "vitest";
import { type MeterRecord, meterRecordFromJson, meterRecordToJson } from "./meterRecord.js";
import { createMeterRecordVerifier } from "./meterRecordVerifier.js";
import { preVerifyMeterRecord } from "./preVerifyMeterRecord.js";
import { sampleChain, TEST_BINDING } from "./sampleMeterRecords.js";

const [first, second] = await sampleChain(2);

const text = (r: MeterRecord) => JSON.stringify(meterRecordToJson(r));

/** The record's JSON text with its billed quantity raised (its signature kept). */
function raisedText(r: MeterRecord): string {
  const json = meterRecordToJson(r);
  return JSON.stringify({ ...json, quantity: { ...json.quantity, value: "999" } });
}

describe("preVerifyMeterRecord", () => {
  test("a genuine record: its digest and no failure", () => {
    const pre = preVerifyMeterRecord(text(first!));
    expect(pre?.failure).toBeNull();
    const plain = createMeterRecordVerifier({ agreement: TEST_BINDING }).check(first!);
    expect(pre?.digest).toBe(plain.digest);
  });

  test("a tampered quantity: the signature does not match (mismatch)", () => {
    expect(preVerifyMeterRecord(raisedText(first!))?.failure).toBe("mismatch");
  });

  test("text that is not a well-formed record gives no verdict at all", () => {
    for (const bad of [
      '{"seq":0}',
      "null",
      "{",
      text(first!).replace(/"signer":"0x2c/, '"signer":"0x2C'),
    ]) {
      expect(preVerifyMeterRecord(bad)).toBeUndefined();
    }
  });
});

describe("createMeterRecordVerifier.check with a pre-verified record", () => {
  test("the same check as without it, for every record of a chain", () => {
    const withPre = createMeterRecordVerifier({ agreement: TEST_BINDING });
    const plain = createMeterRecordVerifier({ agreement: TEST_BINDING });
    for (const r of [first!, second!]) {
      const t = text(r);
      expect(withPre.check(meterRecordFromJson(JSON.parse(t)), preVerifyMeterRecord(t))).toEqual(
        plain.check(r),
      );
    }
  });

  test("a tampered record decoded from its own text is refused with its own verdict", () => {
    const t = raisedText(first!);
    const check = createMeterRecordVerifier({ agreement: TEST_BINDING }).check(
      meterRecordFromJson(JSON.parse(t)),
      preVerifyMeterRecord(t),
    );
    expect(check.reasons).toContain("metering.record.badSignature");
  });

  test("something that is not a verdict is ignored (the record is checked in place)", () => {
    const t = raisedText(first!);
    const forged = { digest: "not a digest", failure: null };
    const check = createMeterRecordVerifier({ agreement: TEST_BINDING }).check(
      meterRecordFromJson(JSON.parse(t)),
      forged as never,
    );
    expect(check.reasons).toContain("metering.record.badSignature");
  });
});
