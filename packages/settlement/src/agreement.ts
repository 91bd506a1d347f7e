import { decimalToString } from "@maaskit/metering";
import type { Decimal } from "decimal.js";
import { getAddress, isAddress } from "ethers/address";
import { z } from "zod";
import { type Currency, currencySchema } from "./currency.js";
import type { Problem } from "./problems.js";
import {
  addressField,
  decimalField,
  instantField,
  integerField,
  objectField,
  oneOfField,
  parseWith,
  textField,
  validateWith,
} from "./schemaFields.js";
import { type Tariff, type TariffJson, tariffSchema, tariffToJson } from "./tariff.js";

/**
 * A key allowed to sign the agreement's records during `[validFrom, validUntil)`.
 * Rotating a key = adding the new one (ranges of different keys may overlap for a
 * hand-over) and closing the old one's range.
 */
export interface AgreementSigner {
  /** EVM address of the signing key, EIP-55 checksummed. */
  readonly address: string;
  readonly validFrom: Date;
  /** Exclusive; absent = until further notice. */
  readonly validUntil?: Date;
}

/**
 * How periods are cut: calendar months in an IANA time zone (local midnight on the 1st to
 * local midnight on the next 1st), or `days` local calendar days from an anchor instant
 * (default: the agreement's start), keeping the anchor's local time of day. Both follow
 * the zone's DST rules, so a period is not a fixed number of hours. See `billingPeriodAt`.
 */
export type BillingPeriod =
  | { readonly kind: "calendarMonth"; readonly timeZone: string }
  | {
      readonly kind: "days";
      readonly days: number;
      readonly timeZone: string;
      readonly anchor?: Date;
    };

/**
 * How usage is paid: from a prepaid balance that settlement draws down (`overdraft` says
 * what happens when it runs out: `suspend` the agreement, or `accrueDebt` and keep
 * metering), or invoiced with payment due `netDays` after the period's settlement.
 */
export type PaymentTerms =
  | { readonly kind: "prepaid"; readonly overdraft: "suspend" | "accrueDebt" }
  | { readonly kind: "invoiced"; readonly netDays: number };

/**
 * The most the machine can deliver of the metered quantity (in the tariff's metered unit)
 * per `per`: e.g. `{ value: 12.5, per: "min" }` for a compressor rated at 12.5 m³/min. A
 * record claiming more than `value × its duration` is rejected, whatever its flags say.
 */
export interface AgreementCapacity {
  readonly value: Decimal;
  readonly per: "s" | "min" | "h";
}

/**
 * Who pays whom for which machine's usage, signed by which keys, under which tariff and
 * terms. `agreementId` is `0x` + 64 lower-case hex digits (a bytes32 on chain); records
 * carry the same string.
 *
 * @example
 * const agreement = parseAgreement(JSON.parse(fs.readFileSync("agreement.json", "utf8")));
 */
export interface Agreement {
  readonly agreementId: string;
  /** Human-readable name. */
  readonly name: string;
  /** Addresses (0x…) or other ids of the provider (who is paid) and the customer (who pays). */
  readonly parties: { readonly provider: string; readonly customer: string };
  readonly machineId: string;
  readonly signers: readonly AgreementSigner[];
  readonly tariff: Tariff;
  readonly currency: Currency;
  readonly billingPeriod: BillingPeriod;
  readonly paymentTerms: PaymentTerms;
  /**
   * The machine's maximum delivery; ledgers then reject records above it. Absent = no
   * bound is checked (records are trusted up to their signature and chain).
   */
  readonly capacity?: AgreementCapacity;
  readonly start: Date;
  /** Exclusive end; absent = open-ended. */
  readonly end?: Date;
  readonly status: "active" | "suspended" | "terminated";
}

/** JSON form of an agreement: instants as ISO-8601 strings, the tariff as `TariffJson`. */
export interface AgreementJson {
  agreementId: string;
  name: string;
  parties: { provider: string; customer: string };
  machineId: string;
  signers: { address: string; validFrom: string; validUntil?: string }[];
  tariff: TariffJson;
  currency: { symbol: string; decimals: number; address?: string };
  billingPeriod:
    | { kind: "calendarMonth"; timeZone: string }
    | { kind: "days"; days: number; timeZone: string; anchor?: string };
  paymentTerms:
    | { kind: "prepaid"; overdraft: "suspend" | "accrueDebt" }
    | { kind: "invoiced"; netDays: number };
  capacity?: { value: string; per: "s" | "min" | "h" };
  start: string;
  end?: string;
  status: "active" | "suspended" | "terminated";
}

export type AgreementErrorCode = "settlement.agreement.invalid";

const timeZoneField = textField().refine(
  (tz) => {
    try {
      new Intl.DateTimeFormat("en-US", { timeZone: tz });
      return true;
    } catch {
      return false;
    }
  },
  { error: 'must be an IANA time zone such as "Europe/Berlin" or "UTC"' },
);

/** `kind` must be one of `kinds`; a value that is not an object is reported as such. */
function kindError(kinds: readonly string[]) {
  return (issue: { code: string }) =>
    issue.code === "invalid_type"
      ? "must be an object"
      : `must be one of ${kinds.map((k) => JSON.stringify(k)).join(", ")}`;
}

const billingPeriodSchema = z.discriminatedUnion(
  "kind",
  [
    objectField({ kind: z.literal("calendarMonth"), timeZone: timeZoneField }),
    objectField({
      kind: z.literal("days"),
      days: integerField(1, 3660),
      timeZone: timeZoneField,
      anchor: instantField().optional(),
    }),
  ],
  { error: kindError(["calendarMonth", "days"]) },
);

const paymentTermsSchema = z.discriminatedUnion(
  "kind",
  [
    objectField({ kind: z.literal("prepaid"), overdraft: oneOfField(["suspend", "accrueDebt"]) }),
    objectField({ kind: z.literal("invoiced"), netDays: integerField(0, 365) }),
  ],
  { error: kindError(["prepaid", "invoiced"]) },
);

/** A party: any id, but a 0x-prefixed one is meant to be an address, so it is checked. */
const partyField = textField().refine((v) => !v.startsWith("0x") || isAddress(v), {
  error: "starts with 0x but is not a valid 20-byte address",
});

const signerSchema = objectField({
  address: addressField().transform((a) => getAddress(a)),
  validFrom: instantField(),
  validUntil: instantField().optional(),
}).superRefine((s, ctx) => {
  if (s.validUntil !== undefined && !(s.validUntil > s.validFrom)) {
    ctx.addIssue({ code: "custom", path: ["validUntil"], message: "must be after validFrom" });
  }
});

const signersError = "must be a non-empty array of signer keys";
/** One key must not have two overlapping ranges: which range applies would be ambiguous. */
const signersSchema = z
  .array(signerSchema, { error: signersError })
  .min(1, { error: signersError })
  .superRefine(
    (signers, ctx) => {
      if (!Array.isArray(signers)) return;
      const valid = signers.map((s) =>
        typeof s?.address === "string" && s.validFrom instanceof Date ? s : undefined,
      );
      valid.forEach((s, i) => {
        if (s === undefined) return;
        for (let j = 0; j < i; j++) {
          const t = valid[j];
          if (t === undefined || t.address !== s.address) continue;
          const sEnd = s.validUntil instanceof Date ? s.validUntil.getTime() : Infinity;
          const tEnd = t.validUntil instanceof Date ? t.validUntil.getTime() : Infinity;
          if (s.validFrom.getTime() < tEnd && t.validFrom.getTime() < sEnd) {
            ctx.addIssue({
              code: "custom",
              path: [i],
              message: `overlaps the validity range of signers[${j}] (same key)`,
            });
            return;
          }
        }
      });
    },
    { when: () => true },
  );

/** The members of an agreement's JSON form, one schema each. */
export const agreementShape = objectField({
  agreementId: z
    .string({ error: "must be 0x followed by 64 lower-case hex digits (a bytes32)" })
    .regex(/^0x[0-9a-f]{64}$/, {
      error: "must be 0x followed by 64 lower-case hex digits (a bytes32)",
    }),
  name: textField(),
  parties: objectField({ provider: partyField, customer: partyField }),
  machineId: textField(),
  signers: signersSchema,
  tariff: tariffSchema,
  currency: currencySchema,
  billingPeriod: billingPeriodSchema,
  paymentTerms: paymentTermsSchema,
  capacity: objectField({
    value: decimalField({ positive: true }),
    per: oneOfField(["s", "min", "h"]),
  }).optional(),
  start: instantField(),
  end: instantField().optional(),
  status: oneOfField(["active", "suspended", "terminated"]),
});

/** An agreement's JSON form (what `parseAgreement` accepts), as the schema infers it. */
export type AgreementInput = z.input<typeof agreementShape>;

/** The agreement schema: its JSON form in, an `Agreement` out. Cross-member rules included. */
export const agreementSchema = agreementShape
  .superRefine(
    (a, ctx) => {
      // Checked on what parsed, so it is reported even when other terms are wrong — which
      // includes input that is no object at all (then there is nothing to cross-check).
      if (typeof a !== "object" || a === null) return;
      const rounding = (a.tariff as { rounding?: { decimals?: unknown } } | undefined)?.rounding;
      const currency = (a.currency as { decimals?: unknown } | undefined)?.decimals;
      if (
        Number.isInteger(currency) &&
        Number.isInteger(rounding?.decimals) &&
        (rounding?.decimals as number) > (currency as number)
      ) {
        ctx.addIssue({
          code: "custom",
          path: ["tariff", "rounding", "decimals"],
          message: `must not exceed the currency's decimals (${currency})`,
        });
      }
      if (a.start instanceof Date && a.end instanceof Date && !(a.end > a.start)) {
        ctx.addIssue({ code: "custom", path: ["end"], message: "must be after start" });
      }
    },
    { when: () => true },
  )
  .transform(
    (a): Agreement => ({
      agreementId: a.agreementId,
      name: a.name,
      parties: { provider: a.parties.provider, customer: a.parties.customer },
      machineId: a.machineId,
      signers: a.signers.map((s) =>
        s.validUntil === undefined
          ? { address: s.address, validFrom: s.validFrom }
          : { address: s.address, validFrom: s.validFrom, validUntil: s.validUntil },
      ),
      tariff: a.tariff,
      currency: a.currency,
      billingPeriod:
        a.billingPeriod.kind === "calendarMonth"
          ? { kind: "calendarMonth", timeZone: a.billingPeriod.timeZone }
          : {
              kind: "days",
              days: a.billingPeriod.days,
              timeZone: a.billingPeriod.timeZone,
              ...(a.billingPeriod.anchor === undefined ? {} : { anchor: a.billingPeriod.anchor }),
            },
      paymentTerms:
        a.paymentTerms.kind === "prepaid"
          ? { kind: "prepaid", overdraft: a.paymentTerms.overdraft }
          : { kind: "invoiced", netDays: a.paymentTerms.netDays },
      ...(a.capacity === undefined ? {} : { capacity: a.capacity }),
      start: a.start,
      ...(a.end === undefined ? {} : { end: a.end }),
      status: a.status,
    }),
  );

/**
 * Validates an agreement's JSON (its tariff included) and returns ALL problems found.
 *
 * @example validateAgreement(json) // [] when valid
 */
export function validateAgreement(json: unknown): readonly Problem[] {
  return validateWith(agreementSchema, json);
}

/**
 * Parses an agreement from JSON, or throws one `settlement.agreement.invalid` whose
 * `details.problems` lists every problem (tariff problems under `tariff.…`).
 *
 * @example const agreement = parseAgreement(json);
 */
export function parseAgreement(json: unknown): Agreement {
  return parseWith(
    agreementSchema,
    json,
    "settlement.agreement.invalid" satisfies AgreementErrorCode,
    "Agreement",
  );
}

/**
 * Serialises an agreement to canonical JSON (fixed key order, ISO instants in UTC with
 * milliseconds, canonical tariff).
 *
 * @example JSON.stringify(agreementToJson(agreement))
 */
export function agreementToJson(a: Agreement): AgreementJson {
  const billingPeriod: AgreementJson["billingPeriod"] =
    a.billingPeriod.kind === "calendarMonth"
      ? { kind: "calendarMonth", timeZone: a.billingPeriod.timeZone }
      : {
          kind: "days",
          days: a.billingPeriod.days,
          timeZone: a.billingPeriod.timeZone,
          ...(a.billingPeriod.anchor === undefined
            ? {}
            : { anchor: a.billingPeriod.anchor.toISOString() }),
        };
  return {
    agreementId: a.agreementId,
    name: a.name,
    parties: { provider: a.parties.provider, customer: a.parties.customer },
    machineId: a.machineId,
    signers: a.signers.map((s) => ({
      address: s.address,
      validFrom: s.validFrom.toISOString(),
      ...(s.validUntil === undefined ? {} : { validUntil: s.validUntil.toISOString() }),
    })),
    tariff: tariffToJson(a.tariff),
    currency:
      a.currency.address === undefined
        ? { symbol: a.currency.symbol, decimals: a.currency.decimals }
        : { symbol: a.currency.symbol, decimals: a.currency.decimals, address: a.currency.address },
    billingPeriod,
    paymentTerms:
      a.paymentTerms.kind === "prepaid"
        ? { kind: "prepaid", overdraft: a.paymentTerms.overdraft }
        : { kind: "invoiced", netDays: a.paymentTerms.netDays },
    ...(a.capacity === undefined
      ? {}
      : { capacity: { value: decimalToString(a.capacity.value), per: a.capacity.per } }),
    start: a.start.toISOString(),
    ...(a.end === undefined ? {} : { end: a.end.toISOString() }),
    status: a.status,
  };
}
