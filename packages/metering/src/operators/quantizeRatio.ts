// Internal helper of the metering operators (not exported from the package).
import type { Decimal } from "decimal.js";
import { Dec } from "../quantity.js";

/**
 * `numerator / denominator` rounded half-even to a multiple of `resolution`, exactly: the
 * quotient is formed in bigint, so a non-terminating ratio is never rounded twice.
 */
export function quantizeRatio(
  numerator: Decimal,
  denominator: Decimal,
  resolution: Decimal,
): Decimal {
  const places = Math.max(
    numerator.decimalPlaces(),
    denominator.decimalPlaces(),
    resolution.decimalPlaces(),
  );
  const scale = new Dec(10).pow(places);
  const n = BigInt(numerator.times(scale).toFixed());
  const d = BigInt(denominator.times(scale).toFixed());
  const r = BigInt(resolution.times(scale).toFixed());
  // numerator / (denominator · resolution) = n · 10^places / (d · r)
  let top = n * 10n ** BigInt(places);
  let bottom = d * r;
  if (bottom < 0n) {
    top = -top;
    bottom = -bottom;
  }
  const negative = top < 0n;
  const abs = negative ? -top : top;
  let q = abs / bottom;
  const twice = (abs % bottom) * 2n;
  if (twice > bottom || (twice === bottom && q % 2n === 1n)) q += 1n;
  return resolution.times((negative ? -q : q).toString());
}
