import { fc, test } from "@fast-check/vitest";
import type { Decimal } from "decimal.js";
import { describe, expect, it } from "vitest";
import { Dec } from "../quantity.js";
import { decimalOfDouble } from "./decimalOfDouble.js";

/** The Decimal's inside: decimal.js keeps one normalised form per value. */
const parts = (d: Decimal) => ({ s: d.s, e: d.e, d: d.d, ctor: d.constructor });
const reference = (x: number) => new Dec(x.toString());

describe("decimalOfDouble: new Dec(x.toString()) without the string", () => {
  it("hand-picked: decimals, integers, -0, tiny, huge, shortest strings that are not the obvious ones", () => {
    const cases: [number, string][] = [
      [12.345, "12.345"],
      [0.1 + 0.2, "0.30000000000000004"],
      [-0.001, "-0.001"],
      [-0, "0"],
      [0, "0"],
      [1200, "1200"],
      [12_000_000, "12000000"],
      [123456789.1234567, "123456789.1234567"],
      [2 ** 50 - 1, "1125899906842623"],
      [2 ** 53 + 2, "9007199254740994"],
      [1e21, "1e+21"],
      [5e-324, "5e-324"],
      [1.7976931348623157e308, "1.7976931348623157e+308"],
      [1e-7, "1e-7"],
      [0.000123, "0.000123"],
      [99.99999999999999, "99.99999999999999"],
    ];
    for (const [x, text] of cases) {
      expect(x.toString()).toBe(text);
      const d = decimalOfDouble(x);
      expect(parts(d)).toEqual(parts(reference(x)));
      expect(d.equals(new Dec(text))).toBe(true);
    }
    expect(decimalOfDouble(-0).isNegative()).toBe(false);
  });

  test.prop([fc.double({ noNaN: true, noDefaultInfinity: true })], { numRuns: 20_000 })(
    "any finite double (random bit patterns)",
    (x) => {
      expect(parts(decimalOfDouble(x))).toEqual(parts(reference(x)));
    },
  );

  test.prop([fc.integer({ min: -(2 ** 52), max: 2 ** 52 }), fc.integer({ min: 0, max: 20 })], {
    numRuns: 20_000,
  })("readings as machines send them: an integer over a power of ten", (m, k) => {
    const x = m / 10 ** k;
    expect(parts(decimalOfDouble(x))).toEqual(parts(reference(x)));
  });

  test.prop([fc.integer({ min: 1, max: 15 }), fc.integer({ min: -3, max: 3 })], {
    numRuns: 5_000,
  })("near powers of ten and their neighbouring doubles", (k, ulps) => {
    const base = 10 ** (k - 8);
    const buf = new Float64Array([base]);
    const bits = new BigInt64Array(buf.buffer);
    bits[0] = bits[0]! + BigInt(ulps);
    const x = buf[0]!;
    expect(parts(decimalOfDouble(x))).toEqual(parts(reference(x)));
  });
});
