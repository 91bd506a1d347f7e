import {
  dec,
  decimalToString,
  MaaskitError,
  type UnitCode,
  type VolumeBasis,
} from "@maaskit/metering";
import type { Decimal } from "decimal.js";
import { MAX_CURRENCY_DECIMALS } from "./currency.js";
import { join, type Problem, ProblemList } from "./problems.js";

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

const volumeBases: readonly VolumeBasis[] = [
  "ISO1217-FAD",
  "DIN1343-normal",
  "ISO2533-standard",
  "actual",
];

/**
 * Validates a tariff's JSON and returns ALL problems found (empty when valid).
 *
 * @example
 * validateTariff({ metered: { unit: "MTQ" } })
 * // [{ path: "pricing", message: "must be an object" }]
 */
export function validateTariff(json: unknown): readonly Problem[] {
  const problems = new ProblemList();
  readTariff(json, "", problems);
  return problems.items;
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
  const problems = new ProblemList();
  const tariff = readTariff(json, "", problems);
  if (!problems.empty || tariff === undefined) {
    throw new MaaskitError<TariffErrorCode>(
      "settlement.tariff.invalid",
      `Tariff is invalid (${problems.items.length} problem${problems.items.length === 1 ? "" : "s"})`,
      { details: { problems: problems.items } },
    );
  }
  return tariff;
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
  if (tariff.sla !== undefined) {
    const s = tariff.sla;
    const sla = {
      threshold: decimalToString(s.threshold),
      step: decimalToString(s.step),
      creditPerStep: decimalToString(s.creditPerStep),
      cap: decimalToString(s.cap),
      stepping: s.stepping,
      whenUndefined: s.whenUndefined,
    };
    // Keep `sla` before `rounding` in the canonical key order.
    const { rounding, ...rest } = out;
    return { ...rest, sla, rounding };
  }
  return out;
}

/** Reads a tariff's JSON at `path`, recording problems; internal to the package. */
export function readTariff(json: unknown, path: string, problems: ProblemList): Tariff | undefined {
  const obj = problems.object(json, path);
  if (obj === undefined) return undefined;
  const before = problems.items.length;
  problems.unknownKeys(obj, path, [
    "version",
    "metered",
    "pricing",
    "includedVolume",
    "baseFee",
    "minimumCommitment",
    "sla",
    "rounding",
  ]);
  if (obj.version !== undefined && obj.version !== 1) {
    problems.add(join(path, "version"), "must be 1");
  }

  const metered = readMetered(obj.metered, join(path, "metered"), problems);
  const pricing = readPricing(obj.pricing, join(path, "pricing"), problems);
  const money = (key: string) =>
    obj[key] === undefined ? dec(0) : problems.decimal(obj[key], join(path, key));
  const includedVolume = money("includedVolume");
  const baseFee = money("baseFee");
  const minimumCommitment = money("minimumCommitment");
  const sla = obj.sla === undefined ? null : readSla(obj.sla, join(path, "sla"), problems);
  const rounding = readRounding(obj.rounding, join(path, "rounding"), problems);

  if (
    problems.items.length > before ||
    metered === undefined ||
    pricing === undefined ||
    includedVolume === undefined ||
    baseFee === undefined ||
    minimumCommitment === undefined ||
    sla === undefined ||
    rounding === undefined
  ) {
    return undefined;
  }
  const tariff: Tariff = {
    version: 1,
    metered,
    pricing,
    includedVolume,
    baseFee,
    minimumCommitment,
    rounding,
  };
  return sla === null ? tariff : { ...tariff, sla };
}

function readMetered(
  value: unknown,
  path: string,
  problems: ProblemList,
): Tariff["metered"] | undefined {
  const obj = problems.object(value, path);
  if (obj === undefined) return undefined;
  problems.unknownKeys(obj, path, ["unit", "basis"]);
  let unit: string | undefined;
  // UNECE Rec. 20 common codes are 2–3 upper-case letters or digits.
  if (typeof obj.unit !== "string" || !/^[A-Z0-9]{2,3}$/.test(obj.unit)) {
    problems.add(join(path, "unit"), 'must be a UNECE Rec. 20 unit code such as "MTQ"');
  } else unit = obj.unit;
  const basis =
    obj.basis === undefined
      ? undefined
      : problems.oneOf(obj.basis, join(path, "basis"), volumeBases);
  if (unit === undefined || (obj.basis !== undefined && basis === undefined)) return undefined;
  return basis === undefined ? { unit } : { unit, basis };
}

function readPricing(
  value: unknown,
  path: string,
  problems: ProblemList,
): TariffPricing | undefined {
  const obj = problems.object(value, path);
  if (obj === undefined) return undefined;
  const model = problems.oneOf(obj.model, join(path, "model"), [
    "perUnit",
    "graduated",
    "volume",
  ] as const);
  if (model === undefined) return undefined;
  if (model === "perUnit") {
    problems.unknownKeys(obj, path, ["model", "unitPrice"]);
    const unitPrice = problems.decimal(obj.unitPrice, join(path, "unitPrice"));
    return unitPrice === undefined ? undefined : { model, unitPrice };
  }
  problems.unknownKeys(obj, path, ["model", "tiers"]);
  const tiersPath = join(path, "tiers");
  if (!Array.isArray(obj.tiers) || obj.tiers.length === 0) {
    problems.add(tiersPath, "must be a non-empty array of tiers");
    return undefined;
  }
  const before = problems.items.length;
  const tiers: TariffTier[] = [];
  let previous: Decimal | undefined;
  obj.tiers.forEach((raw: unknown, i: number) => {
    const tierPath = `${tiersPath}[${i}]`;
    const last = i === (obj.tiers as unknown[]).length - 1;
    const tier = problems.object(raw, tierPath);
    if (tier === undefined) return;
    problems.unknownKeys(tier, tierPath, ["upTo", "unitPrice"]);
    const unitPrice = problems.decimal(tier.unitPrice, join(tierPath, "unitPrice"));
    let upTo: Decimal | null | undefined = null;
    if (tier.upTo !== undefined && tier.upTo !== null) {
      upTo = problems.decimal(tier.upTo, join(tierPath, "upTo"), { positive: true });
      if (upTo !== undefined && previous !== undefined && !upTo.gt(previous)) {
        problems.add(
          join(tierPath, "upTo"),
          `must be greater than the previous tier's upTo (${previous.toFixed()})`,
        );
      }
      if (last) problems.add(join(tierPath, "upTo"), "must be absent: the last tier is unbounded");
      if (upTo !== undefined) previous = upTo;
    } else if (!last) {
      problems.add(join(tierPath, "upTo"), "is required on every tier but the last");
    }
    if (unitPrice !== undefined && upTo !== undefined) tiers.push({ upTo, unitPrice });
  });
  if (problems.items.length > before) return undefined;
  return { model, tiers };
}

function readSla(value: unknown, path: string, problems: ProblemList): AvailabilitySla | undefined {
  const obj = problems.object(value, path);
  if (obj === undefined) return undefined;
  problems.unknownKeys(obj, path, [
    "threshold",
    "step",
    "creditPerStep",
    "cap",
    "stepping",
    "whenUndefined",
  ]);
  const one = dec(1);
  const threshold = problems.decimal(obj.threshold, join(path, "threshold"), {
    positive: true,
    max: one,
  });
  const step = problems.decimal(obj.step, join(path, "step"), { positive: true, max: one });
  const creditPerStep = problems.decimal(obj.creditPerStep, join(path, "creditPerStep"), {
    max: one,
  });
  const cap = problems.decimal(obj.cap, join(path, "cap"), { max: one });
  const stepping = problems.oneOf(obj.stepping, join(path, "stepping"), [
    "full",
    "started",
  ] as const);
  const whenUndefined = problems.oneOf(obj.whenUndefined, join(path, "whenUndefined"), [
    "noCredit",
    "maxCredit",
  ] as const);
  if (
    threshold === undefined ||
    step === undefined ||
    creditPerStep === undefined ||
    cap === undefined ||
    stepping === undefined ||
    whenUndefined === undefined
  ) {
    return undefined;
  }
  return { threshold, step, creditPerStep, cap, stepping, whenUndefined };
}

function readRounding(
  value: unknown,
  path: string,
  problems: ProblemList,
): Tariff["rounding"] | undefined {
  if (value === undefined) return { mode: "halfEven" };
  const obj = problems.object(value, path);
  if (obj === undefined) return undefined;
  problems.unknownKeys(obj, path, ["mode", "decimals"]);
  const mode =
    obj.mode === undefined
      ? "halfEven"
      : problems.oneOf(obj.mode, join(path, "mode"), ["halfEven", "halfUp"] as const);
  const decimals =
    obj.decimals === undefined
      ? undefined
      : problems.integer(obj.decimals, join(path, "decimals"), 0, MAX_CURRENCY_DECIMALS);
  if (mode === undefined || (obj.decimals !== undefined && decimals === undefined))
    return undefined;
  return decimals === undefined ? { mode } : { mode, decimals };
}
