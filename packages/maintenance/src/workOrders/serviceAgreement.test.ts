import { describe, expect, it } from "vitest";
import { parseServiceAgreement } from "./serviceAgreement.js";

const a = "0x1111111111111111111111111111111111111111";
const valid = {
  id: "svc-1",
  machineId: "c1",
  customer: a,
  provider: a,
  arbiter: a,
  currency: { symbol: "EUR", decimals: 2 },
  prices: { oilChange: "250.00" },
  responseHours: 24,
  completionHours: 72,
};

describe("parseServiceAgreement", () => {
  it("default: parses prices to Decimal and hours to ms", () => {
    const s = parseServiceAgreement(valid);
    expect(s.prices.oilChange!.toFixed(2)).toBe("250.00");
    expect(s.completionMs).toBe(72 * 3_600_000);
  });

  it("error: reports every problem at once", () => {
    expect(() =>
      parseServiceAgreement({
        ...valid,
        provider: "bob",
        prices: { oilChange: "250.001", filter: "-1" },
        responseHours: 0,
        completionHours: -1,
      }),
    ).toThrowError(
      expect.objectContaining({
        code: "maintenance.serviceAgreement.invalid",
        details: {
          problems: [
            { path: "provider", message: "must be a 20-byte hex address" },
            { path: "prices.oilChange", message: "has more than 2 decimals" },
            { path: "prices.filter", message: "must be > 0" },
            { path: "responseHours", message: "must be a positive number of hours" },
            { path: "completionHours", message: "must be a positive number of hours" },
            { path: "completionHours", message: "must be >= responseHours" },
          ],
        },
      }),
    );
  });

  it("error: a non-object or a malformed warranty is reported as invalid, not thrown as a TypeError", () => {
    for (const bad of [
      undefined,
      null,
      7,
      "x",
      [],
      { ...valid, warranty: "yearly" },
      { ...valid, warranty: [null] },
    ]) {
      expect(() => parseServiceAgreement(bad as never)).toThrow(
        expect.objectContaining({ code: "maintenance.serviceAgreement.invalid" }),
      );
    }
  });
});
