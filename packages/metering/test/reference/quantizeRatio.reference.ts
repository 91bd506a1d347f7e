// REFERENCE ORACLE — a frozen copy of src/operators/quantizeRatio.ts as it was before the fixed-point
// core (issue 20). Test-only: the differential test (src/operators/fixedPoint.differential.test.ts)
// checks that the live operators emit exactly what this copy emits. Never edit to match the live code.
// Internal helper of the metering operators (not exported from the package).
import type { Decimal } from "decimal.js";

/**
 * `numerator / denominator` rounded half-even to a multiple of `resolution`, exactly: the
 * integer quotient and its remainder are exact (no digit is rounded while they fit in the
 * 64-digit precision), so a non-terminating ratio is never rounded twice.
 */
export function quantizeRatio(
  numerator: Decimal,
  denominator: Decimal,
  resolution: Decimal,
): Decimal {
  const step = denominator.times(resolution).abs();
  // Truncated quotient and the exact remainder (same sign as the numerator).
  let q = numerator.divToInt(step);
  const twice = numerator.minus(q.times(step)).abs().times(2);
  const c = twice.cmp(step);
  if (c > 0 || (c === 0 && !q.mod(2).isZero())) q = numerator.isNegative() ? q.minus(1) : q.plus(1);
  const signed = denominator.times(resolution).isNegative() ? q.neg() : q;
  const out = signed.times(resolution);
  // Never a negative zero: it would print as "-0".
  return out.isZero() ? out.abs() : out;
}
