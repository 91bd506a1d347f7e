import { Decimal } from "decimal.js";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Dec } from "../quantity.js";
import { bigOf, decimalOf, decimalOfBig, fixedOf, fixedScale, rescale } from "./fixedPoint.js";

/** What decimal.js' arithmetic gives for m · 10^-k. */
const viaArithmetic = (m: bigint, k: number): Decimal =>
  new Dec(m.toString()).div(new Dec(10).pow(k));
const internals = (x: Decimal) => ({ s: x.s, e: x.e, d: x.d, ctor: x.constructor === Dec });

describe("fixed-point core conversions", () => {
  it("decimalOf builds exactly the Decimal decimal.js' arithmetic builds", () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), fc.integer({ min: 0, max: 30 }), (m, k) => {
        const expected = viaArithmetic(BigInt(m), k);
        expect(internals(decimalOf(m, k))).toEqual(internals(expected));
        expect(decimalOf(m, k).toFixed()).toBe(expected.toFixed());
      }),
      { numRuns: 3000 },
    );
  });

  it("decimalOf handles every digit count and word alignment", () => {
    for (let digits = 1; digits <= 16; digits++) {
      for (const lead of [1, 9]) {
        const m = Number(`${lead}${"0".repeat(digits - 1)}`) + (digits > 1 ? 7 : 0);
        for (let k = 0; k <= 22; k++) {
          if (m > Number.MAX_SAFE_INTEGER) continue;
          expect(internals(decimalOf(m, k))).toEqual(internals(viaArithmetic(BigInt(m), k)));
        }
      }
    }
    expect(internals(decimalOf(0, 5))).toEqual(internals(new Dec(0)));
  });

  it("fixedOf reads back value and smallest scale, and refuses what it cannot hold", () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), fc.integer({ min: 0, max: 30 }), (m, k) => {
        const x = viaArithmetic(BigInt(m), k);
        const back = fixedOf(x);
        expect(back).toBeGreaterThanOrEqual(0);
        expect(new Dec(back).div(new Dec(10).pow(fixedScale)).eq(x)).toBe(true);
        expect(fixedScale === 0 || back % 10 !== 0).toBe(true);
      }),
      { numRuns: 3000 },
    );
    for (const bad of ["-1", "-0", "-0.5", "NaN", "Infinity", "9007199254740992", "1e30"]) {
      expect(fixedOf(new Dec(bad)), bad).toBe(-1);
    }
    expect(fixedOf(new Dec("1e-40"))).toBe(1);
    expect(fixedScale).toBe(40);
    expect(fixedOf(new Decimal("12.50"))).toBe(125);
    expect(fixedScale).toBe(1);
    expect(fixedOf(new Dec("1200"))).toBe(1200);
    expect(fixedScale).toBe(0);
  });

  it("fixedOf of the Decimal decimalOf just built (remembered) equals fixedOf of a copy", () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), fc.integer({ min: 0, max: 30 }), (m, k) => {
        const copy = fixedOf(new Dec(decimalOf(m, k)));
        const copyScale = fixedScale;
        const built = decimalOf(m, k);
        expect(fixedOf(built)).toBe(copy);
        expect(fixedScale).toBe(copyScale);
      }),
      { numRuns: 3000 },
    );
    // Trailing zeros and zero itself: read back at the smallest scale.
    expect(fixedOf(decimalOf(1200, 3))).toBe(12);
    expect(fixedScale).toBe(1);
    expect(fixedOf(decimalOf(0, 5))).toBe(0);
    expect(fixedScale).toBe(0);
  });

  it("rescale refuses results beyond a safe integer", () => {
    expect(rescale(123, 1, 4)).toBe(123_000);
    expect(rescale(9_000_000_000, 0, 7)).toBe(-1);
    expect(rescale(0, 0, 40)).toBe(0);
    expect(rescale(1, 0, 16)).toBe(-1);
  });

  it("bigOf and decimalOfBig round-trip any non-negative Decimal exactly", () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 10n ** 60n }),
        fc.integer({ min: 0, max: 30 }),
        (n, k) => {
          const x = viaArithmetic(n, k);
          const b = bigOf(x)!;
          expect(new Dec(b.n.toString()).div(new Dec(10).pow(b.k)).eq(x)).toBe(true);
          expect(internals(decimalOfBig(b.n, b.k))).toEqual(internals(x));
          expect(internals(decimalOfBig(n, k))).toEqual(internals(x));
        },
      ),
      { numRuns: 2000 },
    );
    expect(bigOf(new Dec("-3"))).toBeUndefined();
    expect(bigOf(new Dec("1e30"))).toEqual({ n: 10n ** 30n, k: 0 });
  });
});
