import { Decimal } from "decimal.js";
import { describe, expect, it } from "vitest";
import { isMaaskitError } from "./errors.js";
import { addQuantities, Dec, dec, quantity, quantityFromJson, quantityToJson } from "./quantity.js";

describe("quantity", () => {
  it("default: keeps the value exact beyond 20 significant digits", () => {
    const a = quantity("123456789012345678.123456789", "MTQ");
    const b = quantity("0.000000001", "MTQ");
    expect(addQuantities(a, b).value.toFixed()).toBe("123456789012345678.12345679");
  });

  it("behavior: re-bases a Decimal from decimal.js' default constructor", () => {
    const q = quantity(new Decimal("1.5"), "MTQ");
    expect(q.value.constructor).toBe(Dec);
    expect(q.value.plus("1e-30").toFixed()).toBe("1.500000000000000000000000000001");
  });

  it("behavior: round-trips JSON with its basis", () => {
    const q = quantity("12.50", "MTQ", "ISO1217-FAD");
    expect(quantityToJson(q)).toEqual({ value: "12.5", unit: "MTQ", basis: "ISO1217-FAD" });
    expect(quantityFromJson(quantityToJson(q)).value.eq(q.value)).toBe(true);
  });

  it.each([
    ["a float", 0.1],
    ["NaN", Number.NaN],
    ["Infinity", "Infinity"],
    ["garbage", "12,5"],
    ["an object", {}],
  ])("error: rejects %s with metering.quantity.invalid", (_name, value) => {
    let caught: unknown;
    try {
      dec(value as never);
    } catch (e) {
      caught = e;
    }
    expect(isMaaskitError(caught, "metering.quantity.invalid")).toBe(true);
  });

  it("error: adding different units or bases is a unitMismatch", () => {
    expect(() => addQuantities(quantity(1, "MTQ"), quantity(1, "KWH"))).toThrowError(
      expect.objectContaining({ code: "metering.quantity.unitMismatch" }),
    );
    expect(() =>
      addQuantities(quantity(1, "MTQ", "ISO1217-FAD"), quantity(1, "MTQ", "DIN1343-normal")),
    ).toThrowError(expect.objectContaining({ code: "metering.quantity.unitMismatch" }));
  });
});
