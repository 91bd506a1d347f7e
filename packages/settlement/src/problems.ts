/** One validation problem: where (a dotted/indexed path like `pricing.tiers[1].upTo`) and what. */
export interface Problem {
  readonly path: string;
  readonly message: string;
}

/**
 * Largest integer part and fractional digits a tariff or agreement decimal may have.
 * The bounds keep every product the pricing forms within Dec's 64 significant digits,
 * so the Decimal pricing stays exact and the fixed-point mirror can agree with it.
 */
export const MAX_FRACTION_DIGITS = 18;
export const MAX_INTEGER_DIGITS = 27;
