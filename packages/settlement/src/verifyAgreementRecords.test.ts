import { meterRecordDigest, meterRecordToJson, signMeterRecord } from "@maaskit/metering";
import { describe, expect, it } from "vitest";
import {
  conformanceWallets,
  scenarioAgreement,
  scenarioRecords,
  scenarioUsage,
  unsignedScenarioRecord,
} from "./conformance/ledgerScenario.js";
import { verifyAgreementRecords } from "./verifyAgreementRecords.js";

/** The embedded ledger's domain. */
const domain = { chainId: 0, verifyingContract: `0x${"00".repeat(20)}` };

async function setup() {
  const agreement = scenarioAgreement("verifyAgreementRecords");
  const binding = { agreementId: agreement.agreementId, ...domain };
  const records = await scenarioRecords(agreement, domain, scenarioUsage.slice(0, 3));
  const jsonl = (rs: typeof records) =>
    `${rs.map((r) => JSON.stringify(meterRecordToJson(r))).join("\n")}\n`;
  return { agreement, binding, records, jsonl };
}

describe("verifyAgreementRecords", () => {
  it("default: records signed by the key valid for each window verify, and are returned", async () => {
    const { agreement, binding, records, jsonl } = await setup();
    const v = verifyAgreementRecords(jsonl(records), { agreement, binding });
    expect(v.valid).toBe(true);
    expect(v.records.map((r) => r.seq)).toEqual([0, 1, 2]);
  });

  it("attack: a rotated-out key keeps signing — settlement.record.unknownSigner at its record, though the signature is good", async () => {
    const { agreement, binding, records, jsonl } = await setup();
    // Key A is valid until 13:00; the window 12:00–18:00 ends after that.
    const stolen = await signMeterRecord(
      unsignedScenarioRecord(
        agreement,
        domain,
        scenarioUsage[2]!,
        2,
        meterRecordDigest(records[1]!),
      ),
      { signer: conformanceWallets().machineA },
    );
    const v = verifyAgreementRecords(jsonl([records[0]!, records[1]!, stolen]), {
      agreement,
      binding,
    });
    expect(v.valid).toBe(false);
    expect(v.verdicts.map((x) => x.valid)).toEqual([true, true, false]);
    expect(v.verdicts[2]!.reasons).toEqual(["settlement.record.unknownSigner"]);
    expect(v.records).toHaveLength(2);
    // Explicit keys replace the agreement's (without validity ranges).
    const explicit = verifyAgreementRecords(jsonl([records[0]!, records[1]!, stolen]), {
      agreement,
      binding,
      signers: [conformanceWallets().machineA.address],
    });
    expect(explicit.valid).toBe(true);
  });

  it("attack: a record bound to another agreement, a flipped byte, or nothing at all is not valid", async () => {
    const { agreement, binding, records, jsonl } = await setup();
    const other = verifyAgreementRecords(jsonl(records), {
      agreement,
      binding: { ...binding, agreementId: `0x${"cd".repeat(32)}` },
    });
    expect(other.valid).toBe(false);
    const text = jsonl(records).replace('"412.25"', '"412.26"');
    const flipped = verifyAgreementRecords(text, { agreement, binding });
    expect(flipped.verdicts.map((x) => x.valid)).toEqual([true, false, false]);
    expect(verifyAgreementRecords("", { agreement, binding }).valid).toBe(false);
  });
});
