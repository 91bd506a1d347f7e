// The zod building blocks of the settlement package's external types (tariff, currency,
// agreement, …): each field's schema carries the problem message users see, and
// `problemsOf` turns zod's issues into the package's `{ path, message }` problems.
import { dec, MaaskitError } from "@maaskit/metering";
import { problemsOf } from "@maaskit/metering/internal";
import type { Decimal } from "decimal.js";
import { isAddress } from "ethers/address";
import { z } from "zod";
import { MAX_FRACTION_DIGITS, MAX_INTEGER_DIGITS, type Problem } from "./problems.js";

const plainDecimal = /^\d+(\.\d+)?$/;
const signedDecimal = /^-?\d+(\.\d+)?$/;

/** Options of a decimal field (all bounds inclusive). */
export interface DecimalFieldOptions {
  /** Must be greater than 0. */
  readonly positive?: boolean;
  /** A leading `-` is allowed. */
  readonly signed?: boolean;
  readonly max?: Decimal;
  readonly maxFractionDigits?: number;
  readonly maxIntegerDigits?: number;
}

/**
 * A plain decimal string (no exponent; non-negative unless `signed`) within the digit bounds
 * that keep the pricing exact, parsed to a `Decimal`.
 */
export function decimalField(opts: DecimalFieldOptions = {}) {
  const message = opts.signed
    ? 'must be a plain decimal string such as "-12.5"'
    : 'must be a plain non-negative decimal string such as "12.5"';
  const pattern = opts.signed ? signedDecimal : plainDecimal;
  const maxFrac = opts.maxFractionDigits ?? MAX_FRACTION_DIGITS;
  const maxInt = opts.maxIntegerDigits ?? MAX_INTEGER_DIGITS;
  return z
    .string({ error: message })
    .regex(pattern, { error: message })
    .superRefine((value, ctx) => {
      if (!pattern.test(value)) return; // reported by the pattern
      const [intPart = "", fracPart = ""] = value.replace(/^-/, "").split(".");
      let ok = true;
      if (fracPart.length > maxFrac) {
        ctx.addIssue(`must have at most ${maxFrac} fractional digits`);
        ok = false;
      }
      if (intPart.replace(/^0+/, "").length > maxInt) {
        ctx.addIssue(`must be below 1e${maxInt}`);
        ok = false;
      }
      if (!ok) return;
      const d = dec(value);
      if (opts.positive && d.isZero()) ctx.addIssue("must be greater than 0");
      else if (opts.max !== undefined && d.gt(opts.max)) {
        ctx.addIssue(`must be at most ${opts.max.toFixed()}`);
      }
    })
    .transform((value) => dec(value));
}

/** An integer number within [min, max]. */
export function integerField(min: number, max: number) {
  const error = `must be an integer from ${min} to ${max}`;
  return z.int({ error }).min(min, { error }).max(max, { error });
}

/** A non-empty (not only blank) string. */
export function textField() {
  const error = "must be a non-empty string";
  return z.string({ error }).refine((s) => s.trim() !== "", { error });
}

/** One of the given literal values. */
export function oneOfField<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, {
    error: `must be one of ${values.map((v) => JSON.stringify(v)).join(", ")}`,
  });
}

const instantPattern = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/;

/** An ISO-8601 instant with an explicit offset or `Z`, parsed to a `Date`. */
export function instantField() {
  const error = "must be an ISO-8601 instant with an offset, e.g. 2025-01-01T00:00:00Z";
  return z
    .string({ error })
    .regex(instantPattern, { error })
    .refine((s) => !instantPattern.test(s) || !Number.isNaN(new Date(s).getTime()), {
      error: "is not a valid date",
    })
    .transform((s) => new Date(s));
}

/** A 20-byte hex address (any case; not checksum-normalised). */
export function addressField() {
  const error = "must be a 20-byte hex address";
  return z.string({ error }).refine((s) => isAddress(s), { error });
}

/** A JSON object with exactly the given members (any other member is a problem). */
export function objectField<S extends z.ZodRawShape>(shape: S) {
  return z.strictObject(shape, { error: "must be an object" });
}

/** The problems of `json` against `schema` (empty when it is valid). */
export function validateWith(schema: z.ZodType, json: unknown): readonly Problem[] {
  const result = schema.safeParse(json);
  return result.success ? [] : problemsOf(result.error);
}

/**
 * Parses `json` with `schema`, or throws one `code` error (`"<what> is invalid (n problems)"`)
 * whose `details.problems` lists every problem with its path.
 */
export function parseWith<S extends z.ZodType, C extends string>(
  schema: S,
  json: unknown,
  code: C,
  what: string,
): z.output<S> {
  const result = schema.safeParse(json);
  if (result.success) return result.data;
  const problems = problemsOf(result.error);
  throw new MaaskitError<C>(
    code,
    `${what} is invalid (${problems.length} problem${problems.length === 1 ? "" : "s"})`,
    { details: { problems } },
  );
}

/** The JSON Schema of what `schema` accepts (its input, the JSON form). */
export function jsonSchemaOf(schema: z.ZodType): Record<string, unknown> {
  return z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as Record<string, unknown>;
}
