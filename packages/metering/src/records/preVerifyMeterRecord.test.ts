import { describe, expect, test } from "vitest";
import { dec } from "../quantity.js";
import { meterRecordToJson } from "./meterRecord.js";
import { createMeterRecordVerifier } from "./meterRecordVerifier.js";
import { type PreVerifiedSignature, preVerifyMeterRecord } from "./preVerifyMeterRecord.js";
import { sampleChain, TEST_BINDING } from "./sampleMeterRecords.js";

const [first, second] = await sampleChain(2);

/** A lookup that answers `pre` for every digest asked (as a confused or hostile cache would). */
const always = (pre: PreVerifiedSignature) => () => pre;

describe("preVerifyMeterRecord", () => {
  test("a genuine record: its digest, signature and signer, and no failure", () => {
    const pre = preVerifyMeterRecord(meterRecordToJson(first!));
    expect(pre).toMatchObject({
      signature: first!.signature,
      signer: first!.signer,
      failure: null,
    });
    expect(pre?.digest).toMatch(/^0x[0-9a-f]{64}$/);
  });

  test("a tampered quantity: the signature does not match (mismatch)", () => {
    const json = meterRecordToJson(first!);
    const tampered = { ...json, quantity: { ...json.quantity, value: "999" } };
    expect(preVerifyMeterRecord(tampered)?.failure).toBe("mismatch");
  });

  test("undecodable input gives no verdict at all", () => {
    expect(preVerifyMeterRecord({ seq: 0 })).toBeUndefined();
    expect(preVerifyMeterRecord(null)).toBeUndefined();
  });
});

describe("createMeterRecordVerifier with pre-verified signatures", () => {
  test("attack: a genuine record's 'valid' verdict offered for a tampered record is not used", () => {
    const genuine = preVerifyMeterRecord(meterRecordToJson(first!))!;
    const tampered = { ...first!, quantity: { ...first!.quantity, value: dec("999") } };
    const verifier = createMeterRecordVerifier({
      agreement: TEST_BINDING,
      preVerified: always(genuine),
    });
    const check = verifier.check(tampered);
    expect(check.reasons).toContain("metering.record.badSignature");
    expect(check.digest).not.toBe(genuine.digest);
  });

  test("attack: a forged 'valid' verdict with the right digest but another signature is not used", () => {
    const genuine = preVerifyMeterRecord(meterRecordToJson(first!))!;
    // The second record's signature on the first record: the verdict names the first's.
    const swapped = { ...first!, signature: second!.signature };
    const verifier = createMeterRecordVerifier({
      agreement: TEST_BINDING,
      preVerified: always(genuine),
    });
    expect(verifier.check(swapped).reasons).toContain("metering.record.badSignature");
  });

  test("attack: a forged 'valid' verdict for a bad signature is used only if it names that exact triple", () => {
    const json = meterRecordToJson(first!);
    const pre = preVerifyMeterRecord({ ...json, quantity: { ...json.quantity, value: "999" } })!;
    const forged: PreVerifiedSignature = { ...pre, failure: null, signer: second!.signer };
    const verifier = createMeterRecordVerifier({
      agreement: TEST_BINDING,
      preVerified: always({ ...forged, signer: `${forged.signer}x` }),
    });
    const tampered = { ...first!, quantity: { ...first!.quantity, value: dec("999") } };
    expect(verifier.check(tampered).reasons).toContain("metering.record.badSignature");
  });

  test("a verdict of the checked record is used: same result as checking in place", () => {
    const pres = [first!, second!].map((r) => preVerifyMeterRecord(meterRecordToJson(r))!);
    const byDigest = new Map(pres.map((p) => [p.digest, p]));
    const withPre = createMeterRecordVerifier({
      agreement: TEST_BINDING,
      preVerified: (d) => byDigest.get(d),
    });
    const plain = createMeterRecordVerifier({ agreement: TEST_BINDING });
    for (const r of [first!, second!]) {
      expect(withPre.check(r)).toEqual(plain.check(r));
    }
  });

  test("a 'mismatch' verdict of the checked record is honoured (no second check needed)", () => {
    const pre = preVerifyMeterRecord(meterRecordToJson(first!))!;
    const verifier = createMeterRecordVerifier({
      agreement: TEST_BINDING,
      preVerified: always({ ...pre, failure: "mismatch" }),
    });
    expect(verifier.check(first!).reasons).toEqual(["metering.record.badSignature"]);
  });
});
