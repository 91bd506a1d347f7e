import { Dec, MaaskitError } from "@maaskit/metering";
import type { Decimal } from "decimal.js";
import type { PricingErrorCode } from "./priceRecords.js";
import type { RoundingMode } from "./tariff.js";

/**
 * Rounds a non-negative amount to `decimals` places with the tariff's rounding mode —
 * the one rounding step of the pricing, applied once per invoice line.
 * Half-even: 0.125 → 0.12, 0.135 → 0.14; half-up: 0.125 → 0.13.
 *
 * @example roundAmount(dec("0.125"), 2, "halfEven").toFixed() // "0.12"
 */
export function roundAmount(amount: Decimal, decimals: number, mode: RoundingMode): Decimal {
  if (amount.isNegative() && !amount.isZero()) {
    // Rounding is defined on magnitudes only, so half-up cannot mean two things.
    throw new MaaskitError<PricingErrorCode>(
      "settlement.pricing.negativeAmount",
      "Only non-negative amounts are rounded",
      {
        details: { amount: amount.toFixed() },
      },
    );
  }
  return amount.toDecimalPlaces(
    decimals,
    mode === "halfEven" ? Dec.ROUND_HALF_EVEN : Dec.ROUND_HALF_UP,
  );
}
