import { Wallet } from "ethers";
import { describe, expect, test } from "vitest";
import { isMaaskitError } from "../errors.js";
import { buildPeriodStatement } from "./buildPeriodStatement.js";
import { meterRecordDigest } from "./encodeMeterRecord.js";
import { encodePeriodStatement } from "./encodePeriodStatement.js";
import { periodStatementFromJson, periodStatementToJson } from "./periodStatementJson.js";
import { OTHER_TEST_KEY, sampleChain, TEST_KEY } from "./sampleMeterRecords.js";
import { signPeriodStatement } from "./signPeriodStatement.js";
import { verifyPeriodStatement } from "./verifyPeriodStatement.js";

const records = await sampleChain(8, { oee: true });
const wallet = new Wallet(TEST_KEY);

describe("period statements", () => {
  test("default: summarises a run of records, hand-checked totals", () => {
    const st = buildPeriodStatement(records);
    expect([st.firstSeq, st.lastSeq]).toEqual([0, 7]);
    expect(st.startHash).toBe(records[0]!.prevHash);
    expect(st.headHash).toBe(meterRecordDigest(records[7]!));
    expect(st.periodStart).toEqual(records[0]!.periodStart);
    expect(st.periodEnd).toEqual(records[7]!.periodEnd);
    // volumes 12 + (k·7919 mod 5000)/1000 for k = 0..7
    const expected =
      [0, 1, 2, 3, 4, 5, 6, 7].reduce((s, k) => s + 12_000 + ((k * 7919) % 5000), 0) / 1000;
    expect(st.total.value.toFixed()).toBe(String(expected));
    expect(st.register?.start.toFixed()).toBe("1000");
    expect(st.register?.end.toFixed()).toBe(String(1000 + expected));
    expect(st.quarantined).toBe(2); // windows 2 and 5
    expect(st.plannedBusyTimeMs).toBe(8 * 900_000);
    expect(st.actualProductionTimeMs).toBe(8 * 900_000 - (0 + 1 + 2 + 3 + 0 + 1 + 2 + 3) * 60_000);
    expect(st.extras?.quantities[0]?.quantity.value.toFixed()).toBe("10"); // 8 × 1.25 kWh
    expect(st.extras?.oee?.produced.value.toFixed()).toBe(
      String([0, 1, 2, 3, 4, 5, 6, 7].reduce((s, i) => s + 20 + i, 0)),
    );
  });

  test("behavior: sign, JSON round trip and verify against the records", async () => {
    const st = await signPeriodStatement(buildPeriodStatement(records), { signer: wallet });
    const back = periodStatementFromJson(JSON.parse(JSON.stringify(periodStatementToJson(st))));
    expect(encodePeriodStatement(back).digest).toBe(encodePeriodStatement(st).digest);
    const result = verifyPeriodStatement(back, { signer: wallet.address, records });
    expect(result.reasons).toEqual([]);
    expect(result.valid).toBe(true);
    expect(verifyPeriodStatement(back, { signer: wallet.address }).valid).toBe(true);
  });

  test("error: a statement whose fields differ from its records names the fields", async () => {
    const unsigned = buildPeriodStatement(records);
    const st = await signPeriodStatement(
      { ...unsigned, quarantined: 0, gapRecords: 1 },
      { signer: wallet },
    );
    const result = verifyPeriodStatement(st, { records });
    expect(result.reasons).toEqual(["metering.statement.mismatch"]);
    expect(result.errors[0]?.details.fields).toEqual(["gapRecords", "quarantined"]);
  });

  test("error: tampered, wrongly signed, or for records that do not verify", async () => {
    const st = await signPeriodStatement(buildPeriodStatement(records), { signer: wallet });
    expect(verifyPeriodStatement({ ...st, lastSeq: 6 }).reasons).toEqual([
      "metering.record.badSignature",
    ]);
    const other = await signPeriodStatement(buildPeriodStatement(records), {
      signer: new Wallet(OTHER_TEST_KEY),
    });
    expect(verifyPeriodStatement(other, { signer: wallet.address }).reasons).toEqual([
      "metering.record.wrongSigner",
    ]);
    const missing = [...records.slice(0, 3), ...records.slice(4)];
    expect(verifyPeriodStatement(st, { records: missing }).reasons).toEqual([
      "metering.statement.mismatch",
    ]);
  });

  test("error: a run that is not a chain cannot be summarised", () => {
    const e = (() => {
      try {
        return buildPeriodStatement([records[0]!, records[2]!]);
      } catch (err) {
        return err;
      }
    })();
    expect(isMaaskitError(e, "metering.record.invalidInput")).toBe(true);
    expect(() => buildPeriodStatement([])).toThrow(/at least one record/);
  });
});
