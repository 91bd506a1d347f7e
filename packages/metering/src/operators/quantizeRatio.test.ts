import { describe, expect, it } from "vitest";
import { dec } from "../quantity.js";
import { quantizeRatio } from "./quantizeRatio.js";

const q = (n: string, d: string, r: string): string =>
  quantizeRatio(dec(n), dec(d), dec(r)).toFixed();

describe("quantizeRatio", () => {
  it("default: rounds a non-terminating ratio once, to the resolution", () => {
    // 1/3600 = 0.000277777…, 2/3600 = 0.000555555…, 3/3600 = 0.000833333…
    expect(q("1", "3600", "1e-9")).toBe("0.000277778");
    expect(q("2", "3600", "1e-9")).toBe("0.000555556");
    expect(q("3", "3600", "1e-9")).toBe("0.000833333");
    expect(q("2", "3", "0.01")).toBe("0.67");
  });

  it("behavior: exact halves round to the even multiple", () => {
    expect(q("60000", "120000", "1")).toBe("0");
    expect(q("180000", "120000", "1")).toBe("2");
    expect(q("0.25", "1", "0.1")).toBe("0.2");
    expect(q("0.35", "1", "0.1")).toBe("0.4");
    expect(q("-0.25", "1", "0.1")).toBe("-0.2");
    expect(q("-0.35", "1", "0.1")).toBe("-0.4");
    expect(q("-0.01", "1", "1")).toBe("0");
  });

  it("behavior: a resolution that is not a power of ten gives its multiples", () => {
    // 7 / 2 = 3.5 → multiples of 0.25: 3.5 exactly; 7 / 3 = 2.333… → 2.25 (2.333 is nearer 2.25 than 2.5)
    expect(q("7", "2", "0.25")).toBe("3.5");
    expect(q("7", "3", "0.25")).toBe("2.25");
  });

  it("behavior: exact with 50 significant digits", () => {
    // 10^40 + 0.5e-9 over 1 at 1e-9: the tie is at the 50th digit, rounds to even (…000).
    expect(q("10000000000000000000000000000000000000000.0000000005", "1", "1e-9")).toBe(
      "10000000000000000000000000000000000000000",
    );
    expect(q("10000000000000000000000000000000000000000.0000000015", "1", "1e-9")).toBe(
      "10000000000000000000000000000000000000000.000000002",
    );
  });
});
