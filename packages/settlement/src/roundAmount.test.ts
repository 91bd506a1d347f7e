import { dec, isMaaskitError } from "@maaskit/metering";
import { describe, expect, it } from "vitest";
import { roundAmount } from "./roundAmount.js";

describe("roundAmount", () => {
  it("default: half-even to the given decimals", () => {
    // 0.125 → 0.12 (2 even); 0.135 → 0.14 (4 even); 2.5 → 2 at 0 decimals
    expect(roundAmount(dec("0.125"), 2, "halfEven").toFixed()).toBe("0.12");
    expect(roundAmount(dec("0.135"), 2, "halfEven").toFixed()).toBe("0.14");
    expect(roundAmount(dec("2.5"), 0, "halfEven").toFixed()).toBe("2");
  });

  it("args: halfUp", () => {
    // 0.125 → 0.13; 2.5 → 3
    expect(roundAmount(dec("0.125"), 2, "halfUp").toFixed()).toBe("0.13");
    expect(roundAmount(dec("2.5"), 0, "halfUp").toFixed()).toBe("3");
  });

  it("error: a negative amount", () => {
    let caught: unknown;
    try {
      roundAmount(dec("-0.125"), 2, "halfUp");
    } catch (e) {
      caught = e;
    }
    expect(isMaaskitError(caught, "settlement.pricing.negativeAmount")).toBe(true);
  });
});
