import { dec } from "@maaskit/metering";
import { Decimal } from "decimal.js";
import { describe, expect, it } from "vitest";
import { ledgerMethodNames, ledgerMethods } from "./ledgerMethods.js";
import {
  decodeLedgerParams,
  decodeLedgerResponse,
  encodeLedgerParams,
  encodeLedgerRequest,
} from "./ledgerProtocol.js";

const agreementId = `0x${"ab".repeat(32)}`;
const by = "0x1111111111111111111111111111111111111111";

describe("ledger protocol table", () => {
  it("default: a deposit crosses the wire as canonical strings and comes back as a Decimal", () => {
    const wire = encodeLedgerParams("deposit", { agreementId, amount: dec("12.50"), by });
    expect(wire).toEqual({ agreementId, amount: "12.5", by });
    const back = decodeLedgerParams("deposit", JSON.parse(JSON.stringify(wire)));
    expect(Decimal.isDecimal(back.amount)).toBe(true);
    expect(back.amount.toFixed()).toBe("12.5");
  });

  it("error: a non-canonical amount on the wire is the method's invalid code, with the path", () => {
    for (const amount of ["1e3", "01", "1.50", 12, " 1"]) {
      let caught: unknown;
      try {
        decodeLedgerParams("deposit", { agreementId, amount, by });
      } catch (err) {
        caught = err;
      }
      expect(caught).toMatchObject({
        code: "settlement.funds.invalidAmount",
        details: { problems: [{ path: "amount" }] },
      });
    }
  });

  it("error: an invalid instant cannot be encoded (settlePeriod's invalid code)", () => {
    expect(() =>
      encodeLedgerRequest("settlePeriod", {
        agreementId,
        period: { start: new Date(Number.NaN), end: new Date(0) },
      }),
    ).toThrow(expect.objectContaining({ code: "settlement.period.invalid" }));
  });

  it("error: a malformed or foreign answer is settlement.ledger.unavailable; a refusal keeps its code", () => {
    expect(() => decodeLedgerResponse("getBalance", { ok: true, result: { nope: 1 } })).toThrow(
      expect.objectContaining({ code: "settlement.ledger.unavailable" }),
    );
    expect(() =>
      decodeLedgerResponse("getBalance", {
        ok: false,
        error: { code: "settlement.agreement.notFound", message: "x", details: {} },
      }),
    ).toThrow(expect.objectContaining({ code: "settlement.agreement.notFound" }));
    expect(() =>
      decodeLedgerResponse("getBalance", {
        ok: false,
        error: { code: "evil.code", message: "x", details: {} },
      }),
    ).toThrow(expect.objectContaining({ code: "settlement.ledger.unavailable" }));
  });

  it("default: the table covers every LedgerBackend method with a description", () => {
    expect(ledgerMethodNames).toHaveLength(26);
    for (const name of ledgerMethodNames) expect(ledgerMethods[name].summary).not.toBe("");
  });
});
