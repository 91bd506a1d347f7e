import { Dec, dec, MaaskitError, type Quantity, quantity } from "@maaskit/metering";
import type { Decimal } from "decimal.js";
import type { Currency } from "./currency.js";
import type { Invoice, InvoiceAvailability, InvoiceLine, InvoiceRecords } from "./invoice.js";
import { MAX_FRACTION_DIGITS, MAX_INTEGER_DIGITS } from "./problems.js";
import { roundAmount } from "./roundAmount.js";
import type { Tariff, TariffTier } from "./tariff.js";

/**
 * What pricing needs from a meter record — a `MeterRecord` of `@maaskit/metering` satisfies
 * it structurally (`hash` is not part of a signed record: a ledger that knows the records'
 * digests may add it). Time elements are ISO 22400 planned busy time (PBT) and actual
 * production time (APT) in whole milliseconds.
 */
export interface PricingRecord {
  readonly agreementId?: string;
  readonly seq: number | bigint;
  readonly periodStart: Date;
  readonly periodEnd: Date;
  /** The billed usage of the window; its unit and basis must be the tariff's. */
  readonly quantity: Quantity;
  readonly extras?: {
    readonly oee?: {
      readonly plannedBusyTimeMs: number | bigint | Decimal;
      readonly actualProductionTimeMs: number | bigint | Decimal;
    };
  };
  /** The record's own chain hash (EIP-712 digest), when known; the last one is the invoice's head. */
  readonly hash?: string;
  /** The previous record's hash; checked against `hash` of the record before, when both are known. */
  readonly prevHash?: string;
}

/** Options of `priceRecords`. */
export interface PriceRecordsOptions {
  /** The billing period `[start, end)`; every record must lie inside it. */
  readonly period: { readonly start: Date; readonly end: Date };
  readonly currency: Currency;
  /** When given, every record that names an agreement must name this one. */
  readonly agreementId?: string;
}

export type PricingErrorCode =
  | "settlement.pricing.invalidPeriod"
  | "settlement.pricing.currencyMismatch"
  | "settlement.pricing.invalidRecord"
  | "settlement.pricing.unitMismatch"
  | "settlement.pricing.outsidePeriod"
  | "settlement.pricing.agreementMismatch"
  | "settlement.pricing.duplicateSeq"
  | "settlement.pricing.seqGap"
  | "settlement.pricing.periodOverlap"
  | "settlement.pricing.periodGap"
  | "settlement.pricing.brokenChain"
  | "settlement.pricing.precisionExceeded"
  | "settlement.pricing.negativeAmount";

/**
 * Prices one billing period's records under a tariff: a pure function, reproducible to the
 * last digit. Records may come in any order (they are sorted by `seq`); duplicate or
 * missing `seq`s, overlapping or non-contiguous windows, a broken hash chain, records outside
 * the period or of another agreement throw a `settlement.pricing.…` error.
 *
 * Order of the computation (docs/tariffs.md): usage = Σ the records' billed quantities;
 * included volume first; tiers on the rest; a feature's activation and period lines; each
 * line rounded once; minimum top-up against
 * the usage lines; SLA credit on usage + base fee + top-up; total = Σ rounded lines.
 *
 * @example
 * const invoice = priceRecords(tariff, records, {
 *   period: { start: new Date("2025-01-01T00:00:00Z"), end: new Date("2025-02-01T00:00:00Z") },
 *   currency: { symbol: "EUR", decimals: 2 },
 * });
 * invoice.total.toFixed(); // "35"
 */
export function priceRecords(
  tariff: Tariff,
  records: readonly PricingRecord[],
  options: PriceRecordsOptions,
): Invoice {
  const { period, currency } = options;
  if (!(period.start.getTime() < period.end.getTime())) {
    fail("settlement.pricing.invalidPeriod", "The billing period must end after it starts", {
      start: period.start.toISOString(),
      end: period.end.toISOString(),
    });
  }
  const decimals = tariff.rounding.decimals ?? currency.decimals;
  if (decimals > currency.decimals) {
    fail(
      "settlement.pricing.currencyMismatch",
      "The tariff rounds to more decimals than the currency has",
      {
        roundingDecimals: decimals,
        currency: currency.symbol,
        currencyDecimals: currency.decimals,
      },
    );
  }
  const mode = tariff.rounding.mode;
  const round = (amount: Decimal) => roundAmount(amount, decimals, mode);
  const metered = (value: Decimal): Quantity =>
    quantity(value, tariff.metered.unit, tariff.metered.basis);

  const sorted = sortAndCheck(records, tariff, options);

  let usage = dec(0);
  let plannedBusyTime = dec(0);
  let actualProductionTime = dec(0);
  for (const { record, quantity: q } of sorted) {
    usage = usage.plus(q);
    plannedBusyTime = plannedBusyTime.plus(timeElement(record, "plannedBusyTimeMs"));
    actualProductionTime = actualProductionTime.plus(timeElement(record, "actualProductionTimeMs"));
  }

  const lines: InvoiceLine[] = [];
  // 1. Included volume: the free allowance comes off the top, before any tier.
  const included = Dec.min(usage, tariff.includedVolume);
  const billable = usage.minus(included);
  if (tariff.includedVolume.gt(0)) {
    lines.push({
      kind: "included",
      quantity: metered(included),
      unitPrice: dec(0),
      amount: dec(0),
    });
  }

  // 2. Usage per tier, each line rounded on its own.
  const tiers: readonly TariffTier[] =
    tariff.pricing.model === "perUnit"
      ? [{ upTo: null, unitPrice: tariff.pricing.unitPrice }]
      : tariff.pricing.tiers;
  const usageLines: InvoiceLine[] = [];
  if (tariff.pricing.model === "volume") {
    // The first tier whose (inclusive) upper bound holds the billable total.
    const index = tiers.findIndex((t) => t.upTo === null || billable.lte(t.upTo));
    const tier = tiers[index]!;
    usageLines.push({
      kind: "usage",
      tier: index,
      quantity: metered(billable),
      unitPrice: tier.unitPrice,
      amount: round(mul(billable, tier.unitPrice)),
    });
  } else {
    let lower = dec(0);
    tiers.forEach((tier, index) => {
      const upper = tier.upTo === null ? billable : Dec.min(billable, tier.upTo);
      if (upper.gt(lower)) {
        const q = upper.minus(lower);
        usageLines.push({
          kind: "usage",
          tier: index,
          quantity: metered(q),
          unitPrice: tier.unitPrice,
          amount: round(mul(q, tier.unitPrice)),
        });
      }
      if (tier.upTo !== null) lower = tier.upTo;
    });
    if (usageLines.length === 0) {
      // No billable usage: still one usage line, so every invoice shows its rate.
      usageLines.push({
        kind: "usage",
        tier: 0,
        quantity: metered(dec(0)),
        unitPrice: tiers[0]!.unitPrice,
        amount: dec(0),
      });
    }
  }
  lines.push(...usageLines);
  const usageCharge = sum(usageLines.map((l) => l.amount));
  // 2b. A feature on demand: its activations, and the period once when it was used.
  lines.push(...featureLines(tariff, sorted, round));

  // 3. Base fee.
  const baseFee = round(tariff.baseFee);
  if (tariff.baseFee.gt(0)) lines.push({ kind: "baseFee", amount: baseFee });

  // 4. Minimum commitment: compares the rounded usage lines only (the base fee does not count).
  const minimum = round(tariff.minimumCommitment);
  const topUp = minimum.gt(usageCharge) ? minimum.minus(usageCharge) : dec(0);
  if (topUp.gt(0)) lines.push({ kind: "minimumTopUp", amount: topUp });

  // 5. Availability SLA credit on the period charge (usage + base fee + top-up).
  let availability: InvoiceAvailability | undefined;
  if (tariff.sla !== undefined) {
    const sla = tariff.sla;
    const periodCharge = usageCharge.plus(baseFee).plus(topUp);
    let steps = dec(0);
    let rate = dec(0);
    if (plannedBusyTime.isZero()) {
      if (sla.whenUndefined === "maxCredit") rate = sla.cap;
    } else {
      // availability < threshold  ⇔  APT < threshold·PBT — compared without dividing,
      // so the decision is exact; steps = (threshold·PBT − APT) / (step·PBT).
      const target = mul(sla.threshold, plannedBusyTime);
      if (actualProductionTime.lt(target)) {
        const num = target.minus(actualProductionTime);
        const den = mul(sla.step, plannedBusyTime);
        steps = num.divToInt(den);
        if (sla.stepping === "started" && !mul(steps, den).eq(num)) steps = steps.plus(1);
        rate = Dec.min(sla.cap, mul(steps, sla.creditPerStep));
      }
    }
    const credit = round(mul(periodCharge, rate));
    if (credit.gt(0)) lines.push({ kind: "slaCredit", rate, amount: credit.neg() });
    availability = {
      plannedBusyTime,
      actualProductionTime,
      ratio: plannedBusyTime.isZero()
        ? null
        : actualProductionTime.div(plannedBusyTime).toDecimalPlaces(6, Dec.ROUND_HALF_EVEN),
      shortfallSteps: steps,
      creditRate: rate,
    };
  }

  const total = sum(lines.map((l) => l.amount));
  const first = sorted[0]?.record;
  const last = sorted.at(-1)?.record;
  let summary: InvoiceRecords | null = null;
  if (first !== undefined && last !== undefined) {
    summary = {
      count: sorted.length,
      firstSeq: BigInt(first.seq),
      lastSeq: BigInt(last.seq),
      ...(last.hash === undefined ? {} : { headHash: last.hash }),
      ...(last.prevHash === undefined ? {} : { headPrevHash: last.prevHash }),
    };
  }
  const agreementId = options.agreementId ?? first?.agreementId;
  return {
    version: 1,
    ...(agreementId === undefined ? {} : { agreementId }),
    period: { start: new Date(period.start.getTime()), end: new Date(period.end.getTime()) },
    currency,
    rounding: { mode, decimals },
    usage: metered(usage),
    lines,
    total,
    records: summary,
    ...(availability === undefined ? {} : { availability }),
  };
}

/**
 * The feature lines of a tariff with `feature` prices: one `featureActivation` line pricing
 * the period's activations (records with a positive billed quantity) at `perActivation`,
 * when that price is set; one `featurePeriod` line of `perPeriod` when it is set and the
 * feature was used in the period. Each rounded once; neither counts toward the minimum
 * commitment or is credited by the SLA.
 */
function featureLines(
  tariff: Tariff,
  sorted: readonly CheckedRecord[],
  round: (amount: Decimal) => Decimal,
): InvoiceLine[] {
  const f = tariff.feature;
  if (f === undefined) return [];
  const activations = dec(sorted.filter((r) => r.quantity.gt(0)).length);
  const out: InvoiceLine[] = [];
  if (f.perActivation.gt(0)) {
    out.push({
      kind: "featureActivation",
      feature: f.id,
      quantity: quantity(activations, "C62"),
      unitPrice: f.perActivation,
      amount: round(mul(activations, f.perActivation)),
    });
  }
  if (f.perPeriod.gt(0) && activations.gt(0)) {
    out.push({ kind: "featurePeriod", feature: f.id, amount: round(f.perPeriod) });
  }
  return out;
}

interface CheckedRecord {
  readonly record: PricingRecord;
  readonly seq: bigint;
  /** The record's billed quantity. */
  readonly quantity: Decimal;
}

function sortAndCheck(
  records: readonly PricingRecord[],
  tariff: Tariff,
  options: PriceRecordsOptions,
): CheckedRecord[] {
  const checked = records.map((record) => ({ record, seq: seqOf(record) }));
  // Sorting by seq alone makes the result independent of arrival order.
  checked.sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0));
  const { period } = options;
  let agreementId = options.agreementId;
  const out: CheckedRecord[] = [];
  for (const c of checked) {
    const r = c.record;
    const seq = c.seq.toString();
    const start = r.periodStart.getTime();
    const end = r.periodEnd.getTime();
    if (!Number.isFinite(start) || !Number.isFinite(end) || !(start < end)) {
      fail("settlement.pricing.invalidRecord", `Record ${seq} has an empty or invalid period`, {
        seq,
      });
    }
    if (start < period.start.getTime() || end > period.end.getTime()) {
      fail("settlement.pricing.outsidePeriod", `Record ${seq} lies outside the billing period`, {
        seq,
        periodStart: r.periodStart.toISOString(),
        periodEnd: r.periodEnd.toISOString(),
      });
    }
    if (r.agreementId !== undefined) {
      if (agreementId === undefined) agreementId = r.agreementId;
      else if (r.agreementId !== agreementId) {
        fail("settlement.pricing.agreementMismatch", `Record ${seq} belongs to another agreement`, {
          seq,
          expected: agreementId,
          actual: r.agreementId,
        });
      }
    }
    const item = r.quantity;
    if (item.unit !== tariff.metered.unit || item.basis !== tariff.metered.basis) {
      fail(
        "settlement.pricing.unitMismatch",
        `Record ${seq} meters another unit or basis than the tariff`,
        {
          seq,
          unit: item.unit,
          basis: item.basis ?? null,
          expected: { unit: tariff.metered.unit, basis: tariff.metered.basis ?? null },
        },
      );
    }
    checkAmount(item.value, seq, "quantity");
    for (const key of ["plannedBusyTimeMs", "actualProductionTimeMs"] as const) {
      const v = timeElement(r, key);
      checkAmount(v, seq, key);
      if (!v.isInteger()) {
        fail("settlement.pricing.invalidRecord", `Record ${seq} has a fractional ${key}`, {
          seq,
          [key]: v.toFixed(),
        });
      }
    }

    const prev = out.at(-1);
    if (prev !== undefined) {
      if (c.seq === prev.seq) {
        fail("settlement.pricing.duplicateSeq", `Two records have seq ${seq}`, { seq });
      }
      if (c.seq !== prev.seq + 1n) {
        fail("settlement.pricing.seqGap", `Records ${prev.seq + 1n}…${c.seq - 1n} are missing`, {
          after: prev.seq.toString(),
          next: seq,
        });
      }
      const prevEnd = prev.record.periodEnd.getTime();
      if (start < prevEnd) {
        fail("settlement.pricing.periodOverlap", `Record ${seq} overlaps record ${prev.seq}`, {
          seq,
          periodStart: r.periodStart.toISOString(),
          previousEnd: prev.record.periodEnd.toISOString(),
        });
      }
      if (start > prevEnd) {
        fail("settlement.pricing.periodGap", `Record ${seq} does not follow record ${prev.seq}`, {
          seq,
          periodStart: r.periodStart.toISOString(),
          previousEnd: prev.record.periodEnd.toISOString(),
        });
      }
      if (
        r.prevHash !== undefined &&
        prev.record.hash !== undefined &&
        r.prevHash !== prev.record.hash
      ) {
        fail(
          "settlement.pricing.brokenChain",
          `Record ${seq} does not chain to record ${prev.seq}`,
          {
            seq,
            prevHash: r.prevHash,
            expected: prev.record.hash,
          },
        );
      }
    }
    out.push({ ...c, quantity: item.value });
  }
  return out;
}

function seqOf(record: PricingRecord): bigint {
  const s = record.seq;
  if (typeof s === "bigint" ? s < 0n : !Number.isSafeInteger(s) || s < 0) {
    fail("settlement.pricing.invalidRecord", "A record's seq must be a non-negative integer", {
      seq: String(s),
    });
  }
  return BigInt(s);
}

function timeElement(
  record: PricingRecord,
  key: "plannedBusyTimeMs" | "actualProductionTimeMs",
): Decimal {
  const v = record.extras?.oee?.[key];
  if (v === undefined) return dec(0);
  if (typeof v === "number" && !Number.isSafeInteger(v)) {
    fail(
      "settlement.pricing.invalidRecord",
      `Record ${String(record.seq)} has a fractional ${key}`,
      {
        seq: String(record.seq),
        [key]: String(v),
      },
    );
  }
  return dec(v);
}

/** Usage and time elements: non-negative, at most 18 decimals, below 1e27 — the exactness bounds. */
function checkAmount(value: Decimal, seq: string, field: string): void {
  if (
    value.isNegative() ||
    value.decimalPlaces() > MAX_FRACTION_DIGITS ||
    value.abs().gte(dec(10).pow(MAX_INTEGER_DIGITS))
  ) {
    fail(
      "settlement.pricing.invalidRecord",
      `Record ${seq} has a ${field} that is negative or beyond 18 decimals / 1e27`,
      { seq, field, value: value.toFixed() },
    );
  }
}

/** An exact product, or an error: Dec keeps 64 significant digits and must never round here. */
function mul(a: Decimal, b: Decimal): Decimal {
  if (a.sd() + b.sd() > Dec.precision) {
    fail("settlement.pricing.precisionExceeded", "A product would exceed 64 significant digits", {
      a: a.toFixed(),
      b: b.toFixed(),
    });
  }
  return a.mul(b);
}

function sum(values: readonly Decimal[]): Decimal {
  return values.reduce((acc, v) => acc.plus(v), dec(0));
}

function fail(code: PricingErrorCode, message: string, details: Record<string, unknown>): never {
  throw new MaaskitError<PricingErrorCode>(code, message, { details });
}
