import {
  dec,
  decimalToString,
  type UnitCode,
  type VolumeBasis,
  volumeBases,
} from "@maaskit/metering";
import type { Decimal } from "decimal.js";
import { z } from "zod";
import { MAX_CURRENCY_DECIMALS } from "./currency.js";
import type { Problem } from "./problems.js";
import {
  decimalField,
  integerField,
  objectField,
  oneOfField,
  parseWith,
  validateWith,
} from "./schemaFields.js";

/**
 * How a rounded amount is chosen when the exact amount lies between two minor units.
 * `halfEven` (banker's rounding, the default): 0.125 → 0.12, 0.135 → 0.14.
 * `halfUp` (commercial rounding): 0.125 → 0.13. Amounts are rounded as non-negative
 * magnitudes, so both are unambiguous (a credit is rounded, then negated).
 */
export type RoundingMode = "halfEven" | "halfUp";

/**
 * One price tier. A tier covers the billable quantity `q` with `lower < q ≤ upTo`, where
 * `lower` is the previous tier's `upTo` (0 for the first): `upTo` is INCLUSIVE. The last
 * tier has no `upTo` (unbounded).
 */
export interface TariffTier {
  readonly upTo: Decimal | null;
  readonly unitPrice: Decimal;
}

/**
 * How usage is priced.
 * - `perUnit`: every billable unit at `unitPrice`.
 * - `graduated`: each unit at the rate of the tier it falls in (1,000 m³ at 0.025 then the
 *   rest at 0.02).
 * - `volume`: ALL billable units at the rate of the tier the billable total falls in.
 */
export type TariffPricing =
  | { readonly model: "perUnit"; readonly unitPrice: Decimal }
  | { readonly model: "graduated" | "volume"; readonly tiers: readonly TariffTier[] };

/**
 * Availability SLA. Availability is Σ actual production time / Σ planned busy time over
 * the period (ISO 22400 time elements summed, never an average of ratios). Below
 * `threshold`, the shortfall is counted in `step`s — whole steps (`full`) or every step
 * begun (`started`) — and each step credits `creditPerStep` of the period charge, at most
 * `cap`. All four are fractions (0.98 = 98 %).
 */
export interface AvailabilitySla {
  readonly threshold: Decimal;
  readonly step: Decimal;
  readonly creditPerStep: Decimal;
  readonly cap: Decimal;
  readonly stepping: "full" | "started";
  /** When the period has no planned busy time: no credit, or the capped credit. */
  readonly whenUndefined: "noCredit" | "maxCredit";
}

/**
 * Prices of the feature on demand an agreement bills (docs/entitlements.md §7), beside its
 * metered usage: `perActivation` for each activation (each record of the period with a
 * positive quantity: one `useFeature`), `perPeriod` once for each billing period in which the
 * feature was used at least once. Both in currency units, 0 when absent.
 */
export interface FeaturePrices {
  /** The feature's id: the agreement takes only records of channel `feature/<id>`. */
  readonly id: string;
  readonly perActivation: Decimal;
  readonly perPeriod: Decimal;
}

/**
 * A tariff, declared as data. Money terms are in currency units (not minor units).
 * `rounding.decimals` defaults to the currency's decimals and may be fewer (cents of an
 * 18-decimal token). See docs/tariffs.md for the exact semantics and formulas.
 */
export interface Tariff {
  readonly version: 1;
  /** The quantity billed; a record's quantities of this unit and basis are summed. */
  readonly metered: { readonly unit: UnitCode; readonly basis?: VolumeBasis };
  readonly pricing: TariffPricing;
  /** Free allowance per period, deducted from usage before the tiers apply. */
  readonly includedVolume: Decimal;
  /** Fixed fee per period. It does not count toward the minimum commitment. */
  readonly baseFee: Decimal;
  /** Minimum USAGE charge per period; a top-up line makes up the difference. */
  readonly minimumCommitment: Decimal;
  /** A feature on demand's activation and period prices (absent: none). */
  readonly feature?: FeaturePrices;
  readonly sla?: AvailabilitySla;
  readonly rounding: { readonly mode: RoundingMode; readonly decimals?: number };
}

/** JSON form of a tier: decimal strings; the last tier omits `upTo`. */
export interface TariffTierJson {
  upTo?: string;
  unitPrice: string;
}

/** JSON form of a tariff: every decimal is a plain decimal string. */
export interface TariffJson {
  version: 1;
  metered: { unit: UnitCode; basis?: VolumeBasis };
  pricing:
    | { model: "perUnit"; unitPrice: string }
    | { model: "graduated" | "volume"; tiers: TariffTierJson[] };
  includedVolume: string;
  baseFee: string;
  minimumCommitment: string;
  feature?: { id: string; perActivation: string; perPeriod: string };
  sla?: {
    threshold: string;
    step: string;
    creditPerStep: string;
    cap: string;
    stepping: "full" | "started";
    whenUndefined: "noCredit" | "maxCredit";
  };
  rounding: { mode: RoundingMode; decimals?: number };
}

export type TariffErrorCode = "settlement.tariff.invalid";

const one = dec(1);

const tierSchema = objectField({
  upTo: decimalField({ positive: true }).nullable().optional(),
  unitPrice: decimalField(),
});

const tiersError = "must be a non-empty array of tiers";
/** Tiers in ascending `upTo`, every one bounded but the last (checked on what parsed). */
const tiersSchema = z
  .array(tierSchema, { error: tiersError })
  .min(1, { error: tiersError })
  .superRefine(
    (tiers, ctx) => {
      if (!Array.isArray(tiers)) return;
      let previous: Decimal | undefined;
      tiers.forEach((tier: unknown, i) => {
        const raw = tier as { upTo?: unknown } | null;
        if (typeof raw !== "object" || raw === null) return;
        const last = i === tiers.length - 1;
        const upTo = raw.upTo;
        if (upTo === undefined || upTo === null) {
          if (!last)
            ctx.addIssue({
              code: "custom",
              path: [i, "upTo"],
              message: "is required on every tier but the last",
            });
          return;
        }
        const parsed = typeof upTo === "object" ? (upTo as Decimal) : undefined;
        if (parsed !== undefined && previous !== undefined && !parsed.gt(previous)) {
          ctx.addIssue({
            code: "custom",
            path: [i, "upTo"],
            message: `must be greater than the previous tier's upTo (${previous.toFixed()})`,
          });
        }
        if (last)
          ctx.addIssue({
            code: "custom",
            path: [i, "upTo"],
            message: "must be absent: the last tier is unbounded",
          });
        if (parsed !== undefined) previous = parsed;
      });
    },
    { when: () => true },
  );

const pricingModels = ["perUnit", "graduated", "volume"] as const;
const pricingSchema = z.discriminatedUnion(
  "model",
  [
    objectField({ model: z.literal("perUnit"), unitPrice: decimalField() }),
    objectField({ model: z.enum(["graduated", "volume"]), tiers: tiersSchema }),
  ],
  {
    error: (issue) =>
      (issue.code as string) === "invalid_type"
        ? "must be an object"
        : `must be one of ${pricingModels.map((m) => JSON.stringify(m)).join(", ")}`,
  },
);

const slaSchema = objectField({
  threshold: decimalField({ positive: true, max: one }),
  step: decimalField({ positive: true, max: one }),
  creditPerStep: decimalField({ max: one }),
  cap: decimalField({ max: one }),
  stepping: oneOfField(["full", "started"]),
  whenUndefined: oneOfField(["noCredit", "maxCredit"]),
});

const roundingSchema = objectField({
  mode: oneOfField(["halfEven", "halfUp"]).optional(),
  decimals: integerField(0, MAX_CURRENCY_DECIMALS).optional(),
});

/**
 * The members of a tariff's JSON form, one schema each. Exported as an object schema so a
 * feature can extend the tariff with more members (`tariffShape.extend({ … })`).
 */
export const tariffShape = objectField({
  version: z.literal(1, { error: "must be 1" }).optional(),
  metered: objectField({
    // UNECE Rec. 20 common codes are 2–3 upper-case letters or digits.
    unit: z
      .string({ error: 'must be a UNECE Rec. 20 unit code such as "MTQ"' })
      .regex(/^[A-Z0-9]{2,3}$/, { error: 'must be a UNECE Rec. 20 unit code such as "MTQ"' }),
    basis: oneOfField(volumeBases).optional(),
  }),
  pricing: pricingSchema,
  includedVolume: decimalField().optional(),
  baseFee: decimalField().optional(),
  minimumCommitment: decimalField().optional(),
  feature: objectField({
    id: z
      .string({ error: "must be a feature id" })
      .min(1, { error: "must be a feature id" })
      .max(64, { error: "must be at most 64 characters" }),
    perActivation: decimalField().optional(),
    perPeriod: decimalField().optional(),
  }).optional(),
  sla: slaSchema.optional(),
  rounding: roundingSchema.optional(),
});

/** A tariff's JSON form (what `parseTariff` accepts), as the schema infers it. */
export type TariffInput = z.input<typeof tariffShape>;

/** The tariff schema: its JSON form in, a `Tariff` out (defaults filled in, canonical order). */
export const tariffSchema = tariffShape.transform((t): Tariff => {
  const basis = t.metered.basis;
  const pricing: TariffPricing =
    t.pricing.model === "perUnit"
      ? { model: "perUnit", unitPrice: t.pricing.unitPrice }
      : {
          model: t.pricing.model,
          tiers: t.pricing.tiers.map((tier) => ({
            upTo: tier.upTo ?? null,
            unitPrice: tier.unitPrice,
          })),
        };
  const decimals = t.rounding?.decimals;
  const tariff: Tariff = {
    version: 1,
    metered: basis === undefined ? { unit: t.metered.unit } : { unit: t.metered.unit, basis },
    pricing,
    includedVolume: t.includedVolume ?? dec(0),
    baseFee: t.baseFee ?? dec(0),
    minimumCommitment: t.minimumCommitment ?? dec(0),
    rounding: {
      mode: t.rounding?.mode ?? "halfEven",
      ...(decimals === undefined ? {} : { decimals }),
    },
  };
  // Key order as before features existed (saved ledger states keep their bytes).
  const withFeature: Tariff =
    t.feature === undefined
      ? tariff
      : {
          ...tariff,
          feature: {
            id: t.feature.id,
            perActivation: t.feature.perActivation ?? dec(0),
            perPeriod: t.feature.perPeriod ?? dec(0),
          },
        };
  return t.sla === undefined ? withFeature : { ...withFeature, sla: t.sla };
});

/**
 * Validates a tariff's JSON and returns ALL problems found (empty when valid).
 *
 * @example
 * validateTariff({ metered: { unit: "MTQ" } })
 * // [{ path: "pricing", message: "must be an object" }]
 */
export function validateTariff(json: unknown): readonly Problem[] {
  return validateWith(tariffSchema, json);
}

/**
 * Parses a tariff from its JSON form, or throws one `settlement.tariff.invalid` whose
 * `details.problems` lists every problem as `{ path, message }`.
 *
 * @example
 * const tariff = parseTariff({
 *   metered: { unit: "MTQ", basis: "ISO1217-FAD" },
 *   pricing: { model: "graduated", tiers: [{ upTo: "1000", unitPrice: "0.025" }, { unitPrice: "0.02" }] },
 *   includedVolume: "100",
 *   baseFee: "250",
 *   rounding: { mode: "halfEven", decimals: 2 },
 * });
 */
export function parseTariff(json: unknown): Tariff {
  return parseWith(
    tariffSchema,
    json,
    "settlement.tariff.invalid" satisfies TariffErrorCode,
    "Tariff",
  );
}

/**
 * Serialises a tariff to its canonical JSON: fixed key order, normalised decimal strings,
 * defaults written out — the same tariff always gives the same bytes.
 *
 * @example JSON.stringify(tariffToJson(parseTariff(json)))
 */
export function tariffToJson(tariff: Tariff): TariffJson {
  const metered: TariffJson["metered"] =
    tariff.metered.basis === undefined
      ? { unit: tariff.metered.unit }
      : { unit: tariff.metered.unit, basis: tariff.metered.basis };
  const pricing: TariffJson["pricing"] =
    tariff.pricing.model === "perUnit"
      ? { model: "perUnit", unitPrice: decimalToString(tariff.pricing.unitPrice) }
      : {
          model: tariff.pricing.model,
          tiers: tariff.pricing.tiers.map((t) =>
            t.upTo === null
              ? { unitPrice: decimalToString(t.unitPrice) }
              : { upTo: decimalToString(t.upTo), unitPrice: decimalToString(t.unitPrice) },
          ),
        };
  const out: TariffJson = {
    version: 1,
    metered,
    pricing,
    includedVolume: decimalToString(tariff.includedVolume),
    baseFee: decimalToString(tariff.baseFee),
    minimumCommitment: decimalToString(tariff.minimumCommitment),
    rounding:
      tariff.rounding.decimals === undefined
        ? { mode: tariff.rounding.mode }
        : { mode: tariff.rounding.mode, decimals: tariff.rounding.decimals },
  };
  const f = tariff.feature;
  const feature =
    f === undefined
      ? undefined
      : {
          id: f.id,
          perActivation: decimalToString(f.perActivation),
          perPeriod: decimalToString(f.perPeriod),
        };
  let sla: TariffJson["sla"];
  if (tariff.sla !== undefined) {
    const s = tariff.sla;
    sla = {
      threshold: decimalToString(s.threshold),
      step: decimalToString(s.step),
      creditPerStep: decimalToString(s.creditPerStep),
      cap: decimalToString(s.cap),
      stepping: s.stepping,
      whenUndefined: s.whenUndefined,
    };
  }
  // Canonical key order: … minimumCommitment, feature, sla, rounding.
  const { rounding, ...rest } = out;
  return {
    ...rest,
    ...(feature === undefined ? {} : { feature }),
    ...(sla === undefined ? {} : { sla }),
    rounding,
  };
}
