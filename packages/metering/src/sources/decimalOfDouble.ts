import type { Decimal } from "decimal.js";
import { decimalOf } from "../operators/fixedPoint.js";
import { Dec } from "../quantity.js";

// A finite double as the exact Decimal of its shortest round-trip decimal string —
// `new Dec(x.toString())` — without the string: the per-notification conversion of fromOpcUa.

/** 10^0 … 10^15, exact doubles. */
const POW10 = Array.from({ length: 16 }, (_, i) => 10 ** i);
/** Scaled values stay below 2^50: one integer at most lies within half an ulp there. */
const LIMIT = 2 ** 50;

/**
 * `new Dec(x.toString())` for a finite double, byte for byte (same digits, exponent and sign;
 * -0 becomes 0 as its string "0" does). The fast path finds the smallest scale k ≤ 15 at which
 * an integer m (< 2^50) round-trips, `m / 10^k === x` (both exact doubles, so the division is
 * the correctly rounded value of the decimal m·10^-k, which is what parsing it gives). Below
 * 2^50 the scaled value's rounding error is under 1/8, so no scale below k has a round-tripping
 * integer that `Math.round` missed, and at k that integer is unique: m·10^-k has the value of
 * the shortest round-trip string. Everything else (magnitudes ≥ 2^50 or < 10^-15 and digits
 * beyond) takes the string path. A property test keeps both equal.
 */
export function decimalOfDouble(x: number): Decimal {
  const a = x < 0 ? -x : x;
  if (a < LIMIT && a !== 0) {
    for (let k = 0; k < 16; k++) {
      const p = POW10[k]!;
      const y = a * p;
      if (y >= LIMIT) break;
      const m = Math.round(y);
      if (m / p === a) {
        const d = decimalOf(m, k);
        if (x < 0) (d as { s: number }).s = -1;
        return d;
      }
    }
  }
  return new Dec(x.toString());
}
