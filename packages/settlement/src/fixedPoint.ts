import { dec, MaaskitError } from "@maaskit/metering";
import type { Decimal } from "decimal.js";
import type { Currency } from "./currency.js";
import type { RoundingMode, Tariff } from "./tariff.js";

/**
 * The integer (bigint) mirror of `priceRecords`: the arithmetic a Solidity contract
 * implements with `uint256`, line for line. Every value is an unsigned integer with
 * declared decimals; the only rounding is `rescale` down to the rounding decimals, once per
 * line, exactly as the Decimal pricing does. docs/tariffs.md lists the formulas.
 */

/** Decimals of the SLA fractions (threshold, step, credit per step, cap): 1e18 = 100 %. */
export const RATIO_DECIMALS = 18;
const RATIO_ONE = 10n ** BigInt(RATIO_DECIMALS);

/** One tier in fixed point: `upTo` in quantity units (null = unbounded), price in price units. */
export interface FixedTier {
  readonly upTo: bigint | null;
  readonly unitPrice: bigint;
}

/** SLA terms in fixed point; the fractions are scaled by 10^18. */
export interface FixedSla {
  readonly threshold: bigint;
  readonly step: bigint;
  readonly creditPerStep: bigint;
  readonly cap: bigint;
  /** true = count every started step (ceil), false = whole steps only (floor). */
  readonly startedSteps: boolean;
  /** true = the capped credit when Σ PBT = 0, false = no credit. */
  readonly maxCreditWhenUndefined: boolean;
}

/**
 * A tariff in fixed point. Quantities (`upTo`, `includedVolume`, usage) are integers of
 * `10^-quantityDecimals` units; money terms (`unitPrice` per whole unit, `baseFee`,
 * `minimumCommitment`) are integers of `10^-priceDecimals` currency units. Amounts come out
 * in `10^-currencyDecimals` (the token's base units), rounded at `roundingDecimals`.
 */
export interface FixedTariff {
  readonly quantityDecimals: number;
  readonly priceDecimals: number;
  readonly roundingDecimals: number;
  readonly currencyDecimals: number;
  readonly roundingMode: RoundingMode;
  /** true = volume tiers; false = graduated (per-unit pricing is graduated with one tier). */
  readonly volume: boolean;
  readonly tiers: readonly FixedTier[];
  readonly includedVolume: bigint;
  readonly baseFee: bigint;
  readonly minimumCommitment: bigint;
  readonly sla: FixedSla | null;
}

/** Usage of one record (or a period's totals) in fixed point; time elements in ms. */
export interface FixedUsage {
  readonly quantity: bigint;
  readonly plannedBusyTime: bigint;
  readonly actualProductionTime: bigint;
}

/**
 * The charge of a period in fixed point. Quantities in quantity units; amounts in currency
 * base units (`10^-currencyDecimals`), every one already rounded; `slaCredit` is a magnitude
 * (the invoice line is its negative); `total = usageAmount + baseFee + minimumTopUp − slaCredit`.
 */
export interface FixedCharge {
  readonly usage: bigint;
  readonly included: bigint;
  readonly billable: bigint;
  /** Quantity priced in each tier (volume: all in one tier). */
  readonly tierQuantities: readonly bigint[];
  /** Rounded amount of each tier. */
  readonly tierAmounts: readonly bigint[];
  readonly usageAmount: bigint;
  readonly baseFee: bigint;
  readonly minimumTopUp: bigint;
  /** usageAmount + baseFee + minimumTopUp: what the SLA credit is a fraction of. */
  readonly periodCharge: bigint;
  readonly plannedBusyTime: bigint;
  readonly actualProductionTime: bigint;
  readonly shortfallSteps: bigint;
  /** Credited fraction, scaled by 10^18, after the cap. */
  readonly creditRate: bigint;
  readonly slaCredit: bigint;
  readonly total: bigint;
}

export type FixedPointErrorCode = "settlement.fixedPoint.notRepresentable";

/** 10^n as a bigint. */
export function pow10(n: number): bigint {
  return 10n ** BigInt(n);
}

/**
 * `n / d` rounded to an integer with the given mode; `n ≥ 0`, `d > 0`.
 * Solidity: `q = n / d; r = n % d;` then half-even `if (2r > d || (2r == d && q % 2 == 1)) q++`,
 * half-up `if (2r >= d) q++`.
 *
 * @example roundDiv(125n, 10n, "halfEven") // 12n
 */
export function roundDiv(n: bigint, d: bigint, mode: RoundingMode): bigint {
  let q = n / d;
  const twiceR = 2n * (n % d);
  if (mode === "halfEven" ? twiceR > d || (twiceR === d && q % 2n === 1n) : twiceR >= d) q += 1n;
  return q;
}

/**
 * Re-expresses `x` (an integer with `from` decimals) with `to` decimals: exact when
 * `to ≥ from`, else rounded once with `roundDiv`.
 *
 * @example rescale(12_345n, 3, 2, "halfEven") // 1_234n (12.345 → 12.34)
 */
export function rescale(x: bigint, from: number, to: number, mode: RoundingMode): bigint {
  return to >= from ? x * pow10(to - from) : roundDiv(x, pow10(from - to), mode);
}

/**
 * Prices one period's total usage in fixed point — the formulas the contract implements.
 *
 * @example priceUsageFixed(fixedTariff, { quantity: 1_500_000n, plannedBusyTime: 0n, actualProductionTime: 0n })
 */
export function priceUsageFixed(t: FixedTariff, u: FixedUsage): FixedCharge {
  const mode = t.roundingMode;
  // An amount with `decimals` decimals, rounded at the rounding decimals, in currency base units.
  const money = (x: bigint, decimals: number) =>
    rescale(x, decimals, t.roundingDecimals, mode) * pow10(t.currencyDecimals - t.roundingDecimals);
  const productDecimals = t.quantityDecimals + t.priceDecimals;

  // 1. Included volume first.
  const included = u.quantity < t.includedVolume ? u.quantity : t.includedVolume;
  const billable = u.quantity - included;

  // 2. Tiers; `upTo` is inclusive.
  const tierQuantities: bigint[] = t.tiers.map(() => 0n);
  const tierAmounts: bigint[] = t.tiers.map(() => 0n);
  if (t.volume) {
    let i = 0;
    while (t.tiers[i]!.upTo !== null && billable > t.tiers[i]!.upTo!) i++;
    tierQuantities[i] = billable;
    tierAmounts[i] = money(billable * t.tiers[i]!.unitPrice, productDecimals);
  } else {
    let lower = 0n;
    for (let i = 0; i < t.tiers.length; i++) {
      const upTo = t.tiers[i]!.upTo;
      const upper = upTo === null || billable < upTo ? billable : upTo;
      if (upper > lower) {
        tierQuantities[i] = upper - lower;
        tierAmounts[i] = money((upper - lower) * t.tiers[i]!.unitPrice, productDecimals);
      }
      if (upTo === null || billable <= upTo) break;
      lower = upTo;
    }
  }
  let usageAmount = 0n;
  for (const a of tierAmounts) usageAmount += a;

  // 3. Base fee; 4. minimum commitment against the usage amount only.
  const baseFee = money(t.baseFee, t.priceDecimals);
  const minimum = money(t.minimumCommitment, t.priceDecimals);
  const minimumTopUp = minimum > usageAmount ? minimum - usageAmount : 0n;
  const periodCharge = usageAmount + baseFee + minimumTopUp;

  // 5. SLA: availability = APT / PBT compared as APT·10^18 < threshold·PBT (no division).
  let shortfallSteps = 0n;
  let creditRate = 0n;
  const sla = t.sla;
  if (sla !== null) {
    if (u.plannedBusyTime === 0n) {
      if (sla.maxCreditWhenUndefined) creditRate = sla.cap;
    } else {
      const target = sla.threshold * u.plannedBusyTime;
      const actual = u.actualProductionTime * RATIO_ONE;
      if (actual < target) {
        const num = target - actual;
        const den = sla.step * u.plannedBusyTime;
        shortfallSteps = sla.startedSteps ? (num + den - 1n) / den : num / den;
        const rate = shortfallSteps * sla.creditPerStep;
        creditRate = rate < sla.cap ? rate : sla.cap;
      }
    }
  }
  // periodCharge has currencyDecimals; × rate (18 decimals) → round once at the rounding decimals.
  const slaCredit = money(periodCharge * creditRate, t.currencyDecimals + RATIO_DECIMALS);

  return {
    usage: u.quantity,
    included,
    billable,
    tierQuantities,
    tierAmounts,
    usageAmount,
    baseFee,
    minimumTopUp,
    periodCharge,
    plannedBusyTime: u.plannedBusyTime,
    actualProductionTime: u.actualProductionTime,
    shortfallSteps,
    creditRate,
    slaCredit,
    total: periodCharge - slaCredit,
  };
}

/**
 * Sums the records' usage and time elements (integers, so any order gives the same sums) and
 * prices the period in fixed point. Sequence, period and chain checks are the ledger's job,
 * as in `priceRecords`.
 *
 * @example priceRecordsFixed(toFixedTariff(tariff, { quantityDecimals: 9, priceDecimals: 6, currency }), usages)
 */
export function priceRecordsFixed(t: FixedTariff, records: readonly FixedUsage[]): FixedCharge {
  let quantity = 0n;
  let plannedBusyTime = 0n;
  let actualProductionTime = 0n;
  for (const r of records) {
    quantity += r.quantity;
    plannedBusyTime += r.plannedBusyTime;
    actualProductionTime += r.actualProductionTime;
  }
  return priceUsageFixed(t, { quantity, plannedBusyTime, actualProductionTime });
}

/**
 * Scales an exact decimal to an integer with `decimals` decimals, or throws
 * `settlement.fixedPoint.notRepresentable` when that would lose digits.
 *
 * @example toFixedInteger(dec("0.025"), 4) // 250n
 */
export function toFixedInteger(value: Decimal, decimals: number, field = "value"): bigint {
  const scaled = value.mul(pow10(decimals).toString());
  if (!scaled.isInteger() || scaled.isNegative()) {
    throw new MaaskitError<FixedPointErrorCode>(
      "settlement.fixedPoint.notRepresentable",
      `${field} is not a non-negative multiple of 1e-${decimals}`,
      { details: { field, value: value.toFixed(), decimals } },
    );
  }
  return BigInt(scaled.toFixed());
}

/**
 * Converts a tariff to fixed point at the given decimals (exactly, or throws
 * `settlement.fixedPoint.notRepresentable`). The rounding decimals are the tariff's, else the
 * currency's — as in `priceRecords`.
 *
 * @example toFixedTariff(tariff, { quantityDecimals: 9, priceDecimals: 6, currency: { symbol: "EUR", decimals: 2 } })
 */
export function toFixedTariff(
  tariff: Tariff,
  options: { quantityDecimals: number; priceDecimals: number; currency: Currency },
): FixedTariff {
  const { quantityDecimals: qd, priceDecimals: pd, currency } = options;
  const roundingDecimals = tariff.rounding.decimals ?? currency.decimals;
  if (roundingDecimals > currency.decimals) {
    throw new MaaskitError(
      "settlement.pricing.currencyMismatch",
      "The tariff rounds to more decimals than the currency has",
      {
        details: { roundingDecimals, currencyDecimals: currency.decimals },
      },
    );
  }
  const tiers =
    tariff.pricing.model === "perUnit"
      ? [
          {
            upTo: null,
            unitPrice: toFixedInteger(tariff.pricing.unitPrice, pd, "pricing.unitPrice"),
          },
        ]
      : tariff.pricing.tiers.map((tier, i) => ({
          upTo:
            tier.upTo === null ? null : toFixedInteger(tier.upTo, qd, `pricing.tiers[${i}].upTo`),
          unitPrice: toFixedInteger(tier.unitPrice, pd, `pricing.tiers[${i}].unitPrice`),
        }));
  const sla = tariff.sla;
  return {
    quantityDecimals: qd,
    priceDecimals: pd,
    roundingDecimals,
    currencyDecimals: currency.decimals,
    roundingMode: tariff.rounding.mode,
    volume: tariff.pricing.model === "volume",
    tiers,
    includedVolume: toFixedInteger(tariff.includedVolume, qd, "includedVolume"),
    baseFee: toFixedInteger(tariff.baseFee, pd, "baseFee"),
    minimumCommitment: toFixedInteger(tariff.minimumCommitment, pd, "minimumCommitment"),
    sla:
      sla === undefined
        ? null
        : {
            threshold: toFixedInteger(sla.threshold, RATIO_DECIMALS, "sla.threshold"),
            step: toFixedInteger(sla.step, RATIO_DECIMALS, "sla.step"),
            creditPerStep: toFixedInteger(sla.creditPerStep, RATIO_DECIMALS, "sla.creditPerStep"),
            cap: toFixedInteger(sla.cap, RATIO_DECIMALS, "sla.cap"),
            startedSteps: sla.stepping === "started",
            maxCreditWhenUndefined: sla.whenUndefined === "maxCredit",
          },
  };
}

/** Turns a fixed-point amount back into a Decimal with `decimals` decimals (for comparisons and display). */
export function fromFixedInteger(value: bigint, decimals: number): Decimal {
  return dec(value.toString()).div(pow10(decimals).toString());
}
