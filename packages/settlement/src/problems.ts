import { dec } from "@maaskit/metering";
import type { Decimal } from "decimal.js";

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

const plainDecimal = /^\d+(\.\d+)?$/;
const signedDecimal = /^-?\d+(\.\d+)?$/;

/**
 * Collects problems while walking untrusted JSON, so validation can report all of them at once.
 * Internal to the settlement package.
 */
export class ProblemList {
  readonly items: Problem[] = [];

  add(path: string, message: string): void {
    this.items.push({ path, message });
  }

  get empty(): boolean {
    return this.items.length === 0;
  }

  /** A plain non-negative decimal string (no sign, no exponent) within the digit bounds. */
  decimal(
    value: unknown,
    path: string,
    opts: {
      positive?: boolean;
      signed?: boolean;
      max?: Decimal;
      maxFractionDigits?: number;
      maxIntegerDigits?: number;
    } = {},
  ): Decimal | undefined {
    const pattern = opts.signed ? signedDecimal : plainDecimal;
    if (typeof value !== "string" || !pattern.test(value)) {
      this.add(
        path,
        opts.signed
          ? 'must be a plain decimal string such as "-12.5"'
          : 'must be a plain non-negative decimal string such as "12.5"',
      );
      return undefined;
    }
    const [intPart = "", fracPart = ""] = value.replace(/^-/, "").split(".");
    const maxFrac = opts.maxFractionDigits ?? MAX_FRACTION_DIGITS;
    const maxInt = opts.maxIntegerDigits ?? MAX_INTEGER_DIGITS;
    let ok = true;
    if (fracPart.length > maxFrac) {
      this.add(path, `must have at most ${maxFrac} fractional digits`);
      ok = false;
    }
    if (intPart.replace(/^0+/, "").length > maxInt) {
      this.add(path, `must be below 1e${maxInt}`);
      ok = false;
    }
    if (!ok) return undefined;
    const d = dec(value);
    if (opts.positive && d.isZero()) {
      this.add(path, "must be greater than 0");
      return undefined;
    }
    if (opts.max !== undefined && d.gt(opts.max)) {
      this.add(path, `must be at most ${opts.max.toFixed()}`);
      return undefined;
    }
    return d;
  }

  /** An integer number within [min, max]. */
  integer(value: unknown, path: string, min: number, max: number): number | undefined {
    if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
      this.add(path, `must be an integer from ${min} to ${max}`);
      return undefined;
    }
    return value;
  }

  /** A non-empty string. */
  string(value: unknown, path: string): string | undefined {
    if (typeof value !== "string" || value.trim() === "") {
      this.add(path, "must be a non-empty string");
      return undefined;
    }
    return value;
  }

  /** One of the given literal values. */
  oneOf<T extends string>(value: unknown, path: string, allowed: readonly T[]): T | undefined {
    if (typeof value !== "string" || !(allowed as readonly string[]).includes(value)) {
      this.add(path, `must be one of ${allowed.map((a) => JSON.stringify(a)).join(", ")}`);
      return undefined;
    }
    return value as T;
  }

  /** An ISO-8601 instant with an explicit offset or `Z`. */
  instant(value: unknown, path: string): Date | undefined {
    if (
      typeof value !== "string" ||
      !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/.test(value)
    ) {
      this.add(path, "must be an ISO-8601 instant with an offset, e.g. 2025-01-01T00:00:00Z");
      return undefined;
    }
    const d = new Date(value);
    if (Number.isNaN(d.getTime())) {
      this.add(path, "is not a valid date");
      return undefined;
    }
    return d;
  }

  /** A plain object (not null, not an array). */
  object(value: unknown, path: string): Record<string, unknown> | undefined {
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      this.add(path, "must be an object");
      return undefined;
    }
    return value as Record<string, unknown>;
  }

  /** Reports keys the schema does not know, so a typo never silently drops a term. */
  unknownKeys(obj: Record<string, unknown>, path: string, known: readonly string[]): void {
    for (const key of Object.keys(obj)) {
      if (!known.includes(key)) this.add(join(path, key), "is not a known field");
    }
  }
}

/** Joins a parent path and a key: `join("", "a") === "a"`, `join("a", "b") === "a.b"`. */
export function join(parent: string, key: string): string {
  return parent === "" ? key : `${parent}.${key}`;
}
