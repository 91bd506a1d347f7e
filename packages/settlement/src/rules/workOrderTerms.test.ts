import { dec, ZERO_ADDRESS } from "@maaskit/metering";
import { describe, expect, test } from "vitest";
import type { WorkOrderTerms } from "../ledger.js";
import { LedgerError } from "../ledgerErrors.js";
import {
  type WorkOrderTermsJson,
  workOrderTermsFromJson,
  workOrderTermsToJson,
} from "./workOrderTerms.js";

const terms: WorkOrderTerms = {
  workOrderId: `0x${"ab".repeat(32)}`,
  customer: "0x1111111111111111111111111111111111111111",
  provider: "0x2222222222222222222222222222222222222222",
  arbiter: "0x3333333333333333333333333333333333333333",
  amount: dec("12.5"),
  currency: { symbol: "EURT", decimals: 6 },
  acceptBy: new Date("2025-01-02T00:00:00.000Z"),
  completeBy: new Date("2025-01-03T00:00:00.000Z"),
  conditionHash: `0x${"cd".repeat(32)}`,
};

function problemsOf(json: unknown): unknown {
  try {
    workOrderTermsFromJson(json as WorkOrderTermsJson);
  } catch (error) {
    expect(error).toBeInstanceOf(LedgerError);
    expect((error as LedgerError).code).toBe("settlement.workOrder.invalid");
    return (error as LedgerError).details.problems;
  }
  throw new Error("accepted");
}

describe("workOrderTermsSchema (the protocol's wire terms, narrowed)", () => {
  test("default: logged terms round-trip; the zero address stands for an absent party", () => {
    const json = workOrderTermsToJson(terms);
    expect(json.funder).toBe(ZERO_ADDRESS);
    expect(json.amount).toBe("12.5");
    const back = workOrderTermsFromJson(json);
    expect(back).toEqual(terms);
    expect(JSON.stringify(workOrderTermsToJson(back))).toBe(JSON.stringify(json));
  });

  test("adversarial: forged members are refused with settlement.workOrder.invalid naming each", () => {
    const json = workOrderTermsToJson(terms);
    expect(
      problemsOf({
        ...json,
        customer: "0xnot-an-address",
        workOrderId: "0x1234",
        amount: "1.50", // not canonical
        acceptBy: "yesterday",
      }),
    ).toEqual(["workOrderId", "customer", "amount", "acceptBy"]);
    const { funder: _funder, ...noFunder } = json;
    expect(problemsOf(noFunder)).toEqual(["funder"]);
    expect(problemsOf({ ...json, currency: { symbol: "EURT", decimals: -1 } })).toEqual([
      "currency",
    ]);
  });
});
