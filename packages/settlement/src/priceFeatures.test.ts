import { fc, test } from "@fast-check/vitest";
import { dec, isMaaskitError, quantity } from "@maaskit/metering";
import { describe, expect, it } from "vitest";
import type { Currency } from "./currency.js";
import { invoiceFromJson, invoiceToJson } from "./invoice.js";
import { type PricingRecord, priceRecords } from "./priceRecords.js";
import { parseTariff, type TariffJson, tariffToJson } from "./tariff.js";

// Features on demand priced per activation and per period (docs/tariffs.md "Feature prices"),
// every expected amount computed by hand.

const EUR: Currency = { symbol: "EUR", decimals: 2 };
const T0 = Date.parse("2025-01-01T00:00:00Z");
const HOUR = 3_600_000;
const DAY = { start: new Date(T0), end: new Date(T0 + 24 * HOUR) };

function boostTariff(overrides: Partial<Record<keyof TariffJson, unknown>> = {}) {
  return parseTariff({
    metered: { unit: "HUR" },
    pricing: { model: "perUnit", unitPrice: "4.50" },
    feature: { id: "boost", perActivation: "0.80", perPeriod: "12.50" },
    rounding: { mode: "halfEven", decimals: 2 },
    ...overrides,
  });
}

/** Feature records of the day: each `[fromHour, toHour, hours]`, contiguous from 00:00. */
function uses(...spans: [number, number, string][]): PricingRecord[] {
  return spans.map(([from, to, hours], i) => ({
    seq: i,
    periodStart: new Date(T0 + from * HOUR),
    periodEnd: new Date(T0 + to * HOUR),
    quantity: quantity(hours, "HUR"),
  }));
}

const lines = (records: PricingRecord[], t = boostTariff()) => {
  const invoice = priceRecords(t, records, { period: DAY, currency: EUR });
  return {
    invoice,
    lines: invoiceToJson(invoice).lines,
    total: invoice.total.toFixed(2),
  };
};

describe("priceRecords: feature prices", () => {
  it("default: usage at 4.50/h, 0.80 per activation and 12.50 for the day it was used", () => {
    // 1.5 h + 0.25 h = 1.75 h × 4.50 = 7.875 → 7.88 (half-even); 2 activations × 0.80 = 1.60;
    // the period 12.50; the zero record closing the day is no activation. 7.88 + 1.60 + 12.50.
    const { lines: l, total } = lines(uses([0, 6, "1.5"], [6, 10, "0.25"], [10, 24, "0"]));
    expect(l).toEqual([
      {
        kind: "usage",
        tier: 0,
        quantity: { value: "1.75", unit: "HUR" },
        unitPrice: "4.5",
        amount: "7.88",
      },
      {
        kind: "featureActivation",
        feature: "boost",
        quantity: { value: "2", unit: "C62" },
        unitPrice: "0.8",
        amount: "1.6",
      },
      { kind: "featurePeriod", feature: "boost", amount: "12.5" },
    ]);
    expect(total).toBe("21.98");
  });

  it("edge: a day without use shows the activation rate at 0 and no period line", () => {
    const { lines: l, total } = lines(uses([0, 24, "0"]));
    expect(l.slice(1)).toEqual([
      {
        kind: "featureActivation",
        feature: "boost",
        quantity: { value: "0", unit: "C62" },
        unitPrice: "0.8",
        amount: "0",
      },
    ]);
    expect(total).toBe("0.00");
  });

  it("edge: the activation line is rounded once — 3 × 0.125 = 0.375 → 0.38, not 3 × 0.12", () => {
    const t = boostTariff({
      pricing: { model: "perUnit", unitPrice: "0" },
      feature: { id: "boost", perActivation: "0.125" },
    });
    const { lines: l, total } = lines(uses([0, 1, "1"], [1, 2, "1"], [2, 24, "1"]), t);
    expect(l.map((x) => [x.kind, x.amount])).toEqual([
      ["usage", "0"],
      ["featureActivation", "0.38"],
    ]);
    expect(total).toBe("0.38");
  });

  it("behavior: feature lines do not count toward the minimum commitment", () => {
    // usage 1 h × 4.50 = 4.50 < minimum 10 → top-up 5.50, though the feature lines add 13.30
    const t = boostTariff({ minimumCommitment: "10" });
    const { lines: l, total } = lines(uses([0, 24, "1"]), t);
    expect(l.map((x) => [x.kind, x.amount])).toEqual([
      ["usage", "4.5"],
      ["featureActivation", "0.8"],
      ["featurePeriod", "12.5"],
      ["minimumTopUp", "5.5"],
    ]);
    expect(total).toBe("23.30");
  });

  it("default: the invoice with feature lines round-trips through its JSON", () => {
    const { invoice } = lines(uses([0, 6, "1.5"], [6, 24, "0"]));
    expect(invoiceToJson(invoiceFromJson(invoiceToJson(invoice)))).toEqual(invoiceToJson(invoice));
  });

  test.prop([
    fc.array(fc.bigInt({ min: 0n, max: 40_000n }), { minLength: 1, maxLength: 12 }),
    fc.bigInt({ min: 0n, max: 100_000n }),
    fc.bigInt({ min: 0n, max: 100_000n }),
  ])(
    "property: feature lines leave the usage lines alone and add n × perActivation and the period, each rounded once",
    (hundredths, activationMills, periodMills) => {
      const spans = hundredths.map((h, i): [number, number, string] => [
        i,
        i + 1,
        dec(h.toString()).div(100).toFixed(),
      ]);
      spans.push([spans.length, 24, "0"]);
      const perActivation = dec(activationMills.toString()).div(1000);
      const perPeriod = dec(periodMills.toString()).div(1000);
      const withFeature = boostTariff({
        feature: {
          id: "boost",
          perActivation: perActivation.toFixed(),
          perPeriod: perPeriod.toFixed(),
        },
      });
      const plain = boostTariff({ feature: undefined });
      const a = priceRecords(withFeature, uses(...spans), { period: DAY, currency: EUR });
      const b = priceRecords(plain, uses(...spans), { period: DAY, currency: EUR });
      const n = hundredths.filter((h) => h > 0n).length;
      const round = (x: ReturnType<typeof dec>) => x.toDecimalPlaces(2, 6); // ROUND_HALF_EVEN
      const expected = [
        ...(perActivation.gt(0) ? [round(perActivation.times(n))] : []),
        ...(perPeriod.gt(0) && n > 0 ? [round(perPeriod)] : []),
      ];
      const featureAmounts = a.lines.filter((l) => l.feature === "boost").map((l) => l.amount);
      expect(featureAmounts.map((x) => x.toFixed())).toEqual(expected.map((x) => x.toFixed()));
      expect(invoiceToJson(b).lines).toEqual(
        invoiceToJson(a).lines.filter((l) => l.feature === undefined),
      );
      expect(a.total.minus(b.total).toFixed()).toBe(
        expected.reduce((s, x) => s.plus(x), dec(0)).toFixed(),
      );
    },
  );
});

describe("tariff: feature prices", () => {
  it("default: canonical JSON writes the feature after the minimum commitment, defaults 0", () => {
    const t = boostTariff({ feature: { id: "monitoring", perPeriod: "49.00" } });
    const json = tariffToJson(t);
    expect(Object.keys(json)).toEqual([
      "version",
      "metered",
      "pricing",
      "includedVolume",
      "baseFee",
      "minimumCommitment",
      "feature",
      "rounding",
    ]);
    expect(json.feature).toEqual({ id: "monitoring", perActivation: "0", perPeriod: "49" });
    expect(tariffToJson(parseTariff(json))).toEqual(json);
  });

  it("default: a tariff without a feature writes no feature member (bytes unchanged)", () => {
    expect("feature" in tariffToJson(boostTariff({ feature: undefined }))).toBe(false);
  });

  it("error: an empty feature id or a negative price is settlement.tariff.invalid naming it", () => {
    let error: unknown;
    try {
      boostTariff({ feature: { id: "", perActivation: "-1" } });
    } catch (err) {
      error = err;
    }
    expect(isMaaskitError(error) && error.code).toBe("settlement.tariff.invalid");
    const paths = (error as { details: { problems: { path: string }[] } }).details.problems.map(
      (p) => p.path,
    );
    expect(paths).toEqual(expect.arrayContaining(["feature.id", "feature.perActivation"]));
  });
});
