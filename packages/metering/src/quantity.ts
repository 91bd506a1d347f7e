import { Decimal } from "decimal.js";
import { MaaskitError } from "./errors.js";
import type { UnitCode, VolumeBasis } from "./units.js";

/**
 * The Decimal constructor maaskit computes with: 64 significant digits and half-even
 * rounding, so sums of register values and prices never hit decimal.js' default 20-digit
 * precision. Every Decimal maaskit creates comes from here (`dec(x)`); a Decimal passed in
 * by a user is re-based onto it.
 */
export const Dec: typeof Decimal = Decimal.clone({
  precision: 64,
  rounding: Decimal.ROUND_HALF_EVEN,
  toExpNeg: -64,
  toExpPos: 64,
});

/** Shorthand for `toDecimal(value)`: a finite Decimal on maaskit's constructor. */
export function dec(value: Decimal.Value | bigint): Decimal {
  return toDecimal(value);
}

/** An exact amount with its UNECE unit. Air volumes also name their reference basis. */
export interface Quantity {
  readonly value: Decimal;
  readonly unit: UnitCode;
  readonly basis?: VolumeBasis;
}

/** JSON form of a quantity: the value as a plain decimal string (never exponent notation). */
export interface QuantityJson {
  value: string;
  unit: UnitCode;
  basis?: VolumeBasis;
}

export type QuantityErrorCode = "metering.quantity.invalid" | "metering.quantity.unitMismatch";

/**
 * Builds a quantity from a Decimal, a decimal string or a bigint. `number` is accepted
 * only when it is a safe integer: binary floats never become money or usage.
 *
 * @example quantity("12.5", "MTQ", "ISO1217-FAD")
 */
export function quantity(
  value: Decimal.Value | bigint,
  unit: UnitCode,
  basis?: VolumeBasis,
): Quantity {
  const v = toDecimal(value, "value");
  return basis === undefined ? { value: v, unit } : { value: v, unit, basis };
}

/** Adds quantities of the same unit and basis, exactly. */
export function addQuantities(a: Quantity, b: Quantity): Quantity {
  assertSameUnit(a, b);
  return a.basis === undefined
    ? { value: a.value.plus(b.value), unit: a.unit }
    : { value: a.value.plus(b.value), unit: a.unit, basis: a.basis };
}

/** Throws `metering.quantity.unitMismatch` unless both have the same unit and basis. */
export function assertSameUnit(a: Quantity, b: Quantity): void {
  if (a.unit !== b.unit || a.basis !== b.basis) {
    throw new MaaskitError("metering.quantity.unitMismatch", "Quantities have different units", {
      details: { a: { unit: a.unit, basis: a.basis }, b: { unit: b.unit, basis: b.basis } },
    });
  }
}

/** Converts a Decimal-like input into a finite Decimal, or throws `metering.quantity.invalid`. */
export function toDecimal(value: unknown, field = "value"): Decimal {
  let d: Decimal;
  if (Decimal.isDecimal(value)) {
    d = (value as Decimal).constructor === Dec ? (value as Decimal) : new Dec(value as Decimal);
  } else if (typeof value === "bigint") d = new Dec(value.toString());
  else if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) {
      throw new MaaskitError(
        "metering.quantity.invalid",
        `${field} must be a Decimal, a decimal string or a safe integer, got the float ${value}`,
        { details: { field, value: String(value) } },
      );
    }
    d = new Dec(value);
  } else if (typeof value === "string" && /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(value)) {
    d = new Dec(value);
  } else {
    throw new MaaskitError("metering.quantity.invalid", `${field} is not a decimal number`, {
      details: { field, value: String(value) },
    });
  }
  if (!d.isFinite()) {
    throw new MaaskitError("metering.quantity.invalid", `${field} is not finite`, {
      details: { field, value: d.toString() },
    });
  }
  return d;
}

/** Plain decimal string without exponent notation, normalised (no trailing zeros). */
export function decimalToString(d: Decimal): string {
  return d.toFixed();
}

/** Serialises a quantity for JSON. */
export function quantityToJson(q: Quantity): QuantityJson {
  const out: QuantityJson = { value: decimalToString(q.value), unit: q.unit };
  if (q.basis !== undefined) out.basis = q.basis;
  return out;
}

/** Parses the JSON form of a quantity, validating the value. */
export function quantityFromJson(json: QuantityJson): Quantity {
  return quantity(toDecimal(json.value), json.unit, json.basis);
}
