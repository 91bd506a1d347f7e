import { fc, test } from "@fast-check/vitest";
import { dec, isMaaskitError, quantity } from "@maaskit/metering";
import { describe, expect, it } from "vitest";
import type { Currency } from "./currency.js";
import {
  type FixedTariff,
  fromFixedInteger,
  pow10,
  priceRecordsFixed,
  priceUsageFixed,
  RATIO_DECIMALS,
  rescale,
  roundDiv,
  toFixedInteger,
  toFixedTariff,
} from "./fixedPoint.js";
import { type PricingRecord, priceRecords } from "./priceRecords.js";
import { parseTariff } from "./tariff.js";

const EUR: Currency = { symbol: "EUR", decimals: 2 };

/** A fixed tariff with quantities in litres of m³ (3 decimals) and prices in 1e-4 EUR. */
function fixed(over: Partial<FixedTariff> = {}): FixedTariff {
  return {
    quantityDecimals: 3,
    priceDecimals: 4,
    roundingDecimals: 2,
    currencyDecimals: 2,
    roundingMode: "halfEven",
    volume: false,
    tiers: [
      { upTo: 1_000_000n, unitPrice: 250n }, // ≤ 1000 m³ at 0.0250
      { upTo: null, unitPrice: 200n }, //       then      0.0200
    ],
    includedVolume: 0n,
    baseFee: 0n,
    minimumCommitment: 0n,
    sla: null,
    ...over,
  };
}
const usage = (m3: bigint, pbt = 0n, apt = 0n) => ({
  quantity: m3,
  plannedBusyTime: pbt,
  actualProductionTime: apt,
});

describe("roundDiv", () => {
  it("default: half-even at the half", () => {
    // 12.5 → 12; 13.5 → 14; 12.51 → 13; 12.49 → 12
    expect(roundDiv(125n, 10n, "halfEven")).toBe(12n);
    expect(roundDiv(135n, 10n, "halfEven")).toBe(14n);
    expect(roundDiv(1251n, 100n, "halfEven")).toBe(13n);
    expect(roundDiv(1249n, 100n, "halfEven")).toBe(12n);
  });

  it("args: halfUp", () => {
    // 12.5 → 13; 12.49 → 12
    expect(roundDiv(125n, 10n, "halfUp")).toBe(13n);
    expect(roundDiv(1249n, 100n, "halfUp")).toBe(12n);
  });

  it("behavior: rescale scales up exactly and rounds down once", () => {
    // 0.125 (3 decimals) → 0.12 at 2; 0.12 at 2 → 0.120000 at 6
    expect(rescale(125n, 3, 2, "halfEven")).toBe(12n);
    expect(rescale(12n, 2, 6, "halfEven")).toBe(120_000n);
  });
});

describe("priceUsageFixed", () => {
  it("default: graduated across the boundary", () => {
    // 1500 m³ = 1_500_000 litres. Tier 0: 1_000_000 × 250 = 250_000_000 (7 decimals) → 2500 (25.00)
    // Tier 1: 500_000 × 200 = 100_000_000 → 1000 (10.00); total 3500 (35.00)
    const c = priceUsageFixed(fixed(), usage(1_500_000n));
    expect(c.tierQuantities).toEqual([1_000_000n, 500_000n]);
    expect(c.tierAmounts).toEqual([2500n, 1000n]);
    expect(c.total).toBe(3500n);
  });

  it("args: volume tiers price all units at the total's tier", () => {
    // 1_500_000 × 200 = 300_000_000 → 3000 (30.00); exactly 1_000_000 stays in tier 0 → 2500
    expect(priceUsageFixed(fixed({ volume: true }), usage(1_500_000n)).tierAmounts).toEqual([
      0n,
      3000n,
    ]);
    expect(priceUsageFixed(fixed({ volume: true }), usage(1_000_000n)).tierAmounts).toEqual([
      2500n,
      0n,
    ]);
  });

  it("behavior: included volume, base fee and minimum top-up", () => {
    // 400 m³ − 100 included = 300 billable × 0.025 = 7.50 (750); base 20.00 (200000 at 4 dp → 2000);
    // minimum 50.00 → top-up 5000 − 750 = 4250; total 750 + 2000 + 4250 = 7000
    const c = priceUsageFixed(
      fixed({ includedVolume: 100_000n, baseFee: 200_000n, minimumCommitment: 500_000n }),
      usage(400_000n),
    );
    expect([c.included, c.billable, c.usageAmount, c.baseFee, c.minimumTopUp, c.total]).toEqual([
      100_000n,
      300_000n,
      750n,
      2000n,
      4250n,
      7000n,
    ]);
  });

  it("behavior: SLA at 97.95 % — full steps 0, started steps 1", () => {
    // perUnit 0.02 × 10000 m³ = 200.00; base 100.00 → period charge 30000.
    // T·PBT = 0.98e18 × 1e6 = 9.8e23; APT·1e18 = 9.795e23; num = 5e20; den = 1e15 × 1e6 = 1e21
    // full: 5e20 / 1e21 = 0; started: ceil = 1 → rate 5e15 → 30000 × 5e15 / 1e18 = 150 (1.50)
    const t = (startedSteps: boolean) =>
      fixed({
        tiers: [{ upTo: null, unitPrice: 200n }],
        baseFee: 1_000_000n,
        sla: {
          threshold: 98n * 10n ** 16n,
          step: 10n ** 15n,
          creditPerStep: 5n * 10n ** 15n,
          cap: 10n ** 17n,
          startedSteps,
          maxCreditWhenUndefined: false,
        },
      });
    const full = priceUsageFixed(t(false), usage(10_000_000n, 1_000_000n, 979_500n));
    expect([full.shortfallSteps, full.slaCredit, full.total]).toEqual([0n, 0n, 30000n]);
    const started = priceUsageFixed(t(true), usage(10_000_000n, 1_000_000n, 979_500n));
    expect([started.shortfallSteps, started.creditRate, started.slaCredit, started.total]).toEqual([
      1n,
      5n * 10n ** 15n,
      150n,
      29850n,
    ]);
    // 50 %: 480 steps × 0.5 % → capped at 10 % → 3000 (30.00)
    const capped = priceUsageFixed(t(false), usage(10_000_000n, 1_000_000n, 500_000n));
    expect([capped.shortfallSteps, capped.creditRate, capped.slaCredit]).toEqual([
      480n,
      10n ** 17n,
      3000n,
    ]);
  });

  it("behavior: an 18-decimal token billed to the cent", () => {
    // 10 m³ × 0.0125 = 0.125 → 0.12 → 12 × 10^16 base units
    const c = priceUsageFixed(
      fixed({ currencyDecimals: 18, tiers: [{ upTo: null, unitPrice: 125n }] }),
      usage(10_000n),
    );
    expect(c.total).toBe(12n * 10n ** 16n);
  });

  it("behavior: priceRecordsFixed sums records in any order", () => {
    const records = [usage(700_000n, 10n, 9n), usage(800_000n, 20n, 20n)];
    expect(priceRecordsFixed(fixed(), records)).toEqual(
      priceRecordsFixed(fixed(), [...records].reverse()),
    );
    expect(priceRecordsFixed(fixed(), records).total).toBe(3500n);
  });
});

describe("toFixedTariff", () => {
  it("default: converts exactly", () => {
    const t = toFixedTariff(
      parseTariff({
        metered: { unit: "MTQ" },
        pricing: {
          model: "volume",
          tiers: [{ upTo: "1000.5", unitPrice: "0.025" }, { unitPrice: "0.02" }],
        },
        baseFee: "12.5",
        sla: {
          threshold: "0.98",
          step: "0.001",
          creditPerStep: "0.005",
          cap: "0.1",
          stepping: "started",
          whenUndefined: "maxCredit",
        },
      }),
      { quantityDecimals: 3, priceDecimals: 4, currency: EUR },
    );
    expect(t).toEqual({
      quantityDecimals: 3,
      priceDecimals: 4,
      roundingDecimals: 2,
      currencyDecimals: 2,
      roundingMode: "halfEven",
      volume: true,
      tiers: [
        { upTo: 1_000_500n, unitPrice: 250n },
        { upTo: null, unitPrice: 200n },
      ],
      includedVolume: 0n,
      baseFee: 125_000n,
      minimumCommitment: 0n,
      sla: {
        threshold: 980_000_000_000_000_000n,
        step: 1_000_000_000_000_000n,
        creditPerStep: 5_000_000_000_000_000n,
        cap: 100_000_000_000_000_000n,
        startedSteps: true,
        maxCreditWhenUndefined: true,
      },
    });
  });

  it("error: a term finer than the declared decimals", () => {
    let caught: unknown;
    try {
      toFixedInteger(dec("0.00001"), 4, "pricing.unitPrice");
    } catch (e) {
      caught = e;
    }
    expect(isMaaskitError(caught, "settlement.fixedPoint.notRepresentable")).toBe(true);
    expect(fromFixedInteger(250n, 4).toFixed()).toBe("0.025");
  });
});

// --- Differential test: the fixed-point result equals the Decimal pricing for every case. ---

/** A decimal string k / 10^d. */
const decimalString = (maxInt: bigint, maxDecimals: number) =>
  fc
    .tuple(fc.bigInt({ min: 0n, max: maxInt }), fc.integer({ min: 0, max: maxDecimals }))
    .map(([k, d]) => dec(k.toString()).div(pow10(d).toString()).toFixed());

const QD = 9; // the records' wire decimals
const PD = 8;

const tariffArb = fc
  .record({
    model: fc.constantFrom("perUnit", "graduated", "volume"),
    // Tier bounds as increasing sums of positive steps.
    bounds: fc.array(
      decimalString(2_000_000n, 3).filter((s) => s !== "0"),
      {
        minLength: 0,
        maxLength: 4,
      },
    ),
    prices: fc.array(decimalString(100_000n, 5), { minLength: 5, maxLength: 5 }),
    included: fc.oneof(fc.constant("0"), decimalString(500_000n, 2)),
    baseFee: fc.oneof(fc.constant("0"), decimalString(100_000n, 3)),
    minimum: fc.oneof(fc.constant("0"), decimalString(1_000_000n, 3)),
    sla: fc.option(
      fc.record({
        threshold: fc.constantFrom("0.98", "0.95", "0.999", "1", "0.5"),
        step: fc.constantFrom("0.001", "0.0005", "0.01", "0.003"),
        creditPerStep: fc.constantFrom("0.005", "0.01", "0.0333", "0"),
        cap: fc.constantFrom("0.1", "0.05", "1", "0.123"),
        stepping: fc.constantFrom("full", "started"),
        whenUndefined: fc.constantFrom("noCredit", "maxCredit"),
      }),
      { nil: undefined },
    ),
    mode: fc.constantFrom("halfEven", "halfUp"),
    decimals: fc.option(fc.integer({ min: 0, max: 4 }), { nil: undefined }),
    currencyExtra: fc.constantFrom(0, 1, 4, 16),
  })
  .map((a) => {
    let acc = dec(0);
    const upTos = a.bounds.map((b) => {
      acc = acc.plus(b);
      return acc.toFixed();
    });
    const tiers = [
      ...upTos.map((upTo, i) => ({ upTo, unitPrice: a.prices[i]! })),
      { unitPrice: a.prices[4]! },
    ];
    const currencyDecimals = (a.decimals ?? 2) + a.currencyExtra;
    return {
      json: {
        metered: { unit: "MTQ", basis: "ISO1217-FAD" },
        pricing:
          a.model === "perUnit"
            ? { model: "perUnit", unitPrice: a.prices[0] }
            : { model: a.model, tiers },
        includedVolume: a.included,
        baseFee: a.baseFee,
        minimumCommitment: a.minimum,
        ...(a.sla === undefined ? {} : { sla: a.sla }),
        rounding:
          a.decimals === undefined ? { mode: a.mode } : { mode: a.mode, decimals: a.decimals },
      },
      currency: { symbol: "TKN", decimals: currencyDecimals } satisfies Currency,
    };
  });

const recordsArb = fc.array(
  fc.record({
    // usage up to 3,000 m³ per record at the wire's 9 decimals
    quantity: fc.oneof(
      fc.bigInt({ min: 0n, max: 3_000n * 10n ** 9n }),
      fc
        .bigInt({ min: 0n, max: 1_000n })
        .map((k) => k * 10n ** 6n), // whole litres
    ),
    pbt: fc.bigInt({ min: 0n, max: 900_000n }),
    // availability near the usual thresholds, exactly on them, or anywhere
    aptPermille: fc.oneof(
      fc.constantFrom(1000n, 999n, 980n, 979n, 950n, 500n, 0n),
      fc.bigInt({ min: 0n, max: 1000n }),
    ),
    jitter: fc.bigInt({ min: -3n, max: 3n }),
  }),
  { minLength: 0, maxLength: 8 },
);

const T0 = Date.parse("2025-01-01T00:00:00Z");
const PERIOD = { start: new Date(T0), end: new Date("2025-02-01T00:00:00Z") };

describe("differential: priceRecordsFixed ≡ priceRecords", () => {
  test.prop([tariffArb, recordsArb, fc.option(fc.nat(), { nil: undefined })], { numRuns: 400 })(
    "behavior: every line, the credit and the total agree to the last base unit",
    ({ json, currency }, items, snap) => {
      const tariff = parseTariff(json);
      if (snap !== undefined && items.length > 0 && tariff.pricing.model !== "perUnit") {
        // Land the total exactly on a tier boundary (after the included volume) to probe
        // the inclusive upTo.
        const bounds = tariff.pricing.tiers.flatMap((t) => (t.upTo === null ? [] : [t.upTo]));
        if (bounds.length > 0) {
          const target = toFixedInteger(
            bounds[snap % bounds.length]!.plus(tariff.includedVolume),
            QD,
          );
          const others = items.slice(1).reduce((a, it) => a + it.quantity, 0n);
          if (target >= others) items[0] = { ...items[0]!, quantity: target - others };
        }
      }
      const records: PricingRecord[] = items.map((it, i) => {
        let apt = (it.pbt * it.aptPermille) / 1000n + it.jitter;
        if (apt < 0n) apt = 0n;
        return {
          seq: i,
          periodStart: new Date(T0 + i * 900_000),
          periodEnd: new Date(T0 + (i + 1) * 900_000),
          quantity: quantity(fromFixedInteger(it.quantity, QD), "MTQ", "ISO1217-FAD"),
          extras: { oee: { plannedBusyTimeMs: it.pbt, actualProductionTimeMs: apt } },
        };
      });
      const invoice = priceRecords(tariff, records, { period: PERIOD, currency });
      const ft = toFixedTariff(tariff, { quantityDecimals: QD, priceDecimals: PD, currency });
      const charge = priceRecordsFixed(
        ft,
        records.map((r) => ({
          quantity: toFixedInteger(r.quantity.value, QD),
          plannedBusyTime: BigInt(r.extras!.oee!.plannedBusyTimeMs as bigint),
          actualProductionTime: BigInt(r.extras!.oee!.actualProductionTimeMs as bigint),
        })),
      );
      const cd = currency.decimals;
      const base = (d: { toFixed(): string } | undefined) =>
        d === undefined ? 0n : toFixedInteger(dec(d.toFixed()).abs(), cd);
      const lineOf = (kind: string) => invoice.lines.find((l) => l.kind === kind);

      const tierAmounts = charge.tierAmounts.map((_, i) =>
        base(invoice.lines.find((l) => l.kind === "usage" && l.tier === i)?.amount),
      );
      expect(tierAmounts).toEqual(charge.tierAmounts);
      const tierQuantities = charge.tierQuantities.map((_, i) => {
        const q = invoice.lines.find((l) => l.kind === "usage" && l.tier === i)?.quantity;
        return q === undefined ? 0n : toFixedInteger(q.value, QD);
      });
      expect(tierQuantities).toEqual(charge.tierQuantities);
      expect(toFixedInteger(invoice.usage.value, QD)).toBe(charge.usage);
      expect(base(lineOf("baseFee")?.amount)).toBe(charge.baseFee);
      expect(base(lineOf("minimumTopUp")?.amount)).toBe(charge.minimumTopUp);
      expect(base(lineOf("slaCredit")?.amount)).toBe(charge.slaCredit);
      expect(toFixedInteger(invoice.total, cd)).toBe(charge.total);
      if (invoice.availability !== undefined) {
        expect(BigInt(invoice.availability.shortfallSteps.toFixed())).toBe(charge.shortfallSteps);
        expect(toFixedInteger(invoice.availability.creditRate, RATIO_DECIMALS)).toBe(
          charge.creditRate,
        );
      }
    },
  );

  it("behavior: the rounding edge agrees (0.125 → 0.12, 0.135 → 0.14)", () => {
    const tariff = parseTariff({
      metered: { unit: "MTQ" },
      pricing: { model: "perUnit", unitPrice: "0.0125" },
      rounding: { decimals: 2 },
    });
    for (const [m3, cents] of [
      ["10", 12n],
      ["10.8", 14n],
    ] as const) {
      const record: PricingRecord = {
        seq: 0,
        periodStart: PERIOD.start,
        periodEnd: new Date(T0 + 900_000),
        quantity: quantity(m3, "MTQ"),
      };
      const decimal = priceRecords(tariff, [record], { period: PERIOD, currency: EUR }).total;
      const ft = toFixedTariff(tariff, { quantityDecimals: QD, priceDecimals: PD, currency: EUR });
      const fixedTotal = priceRecordsFixed(ft, [
        { quantity: toFixedInteger(dec(m3), QD), plannedBusyTime: 0n, actualProductionTime: 0n },
      ]).total;
      expect(fixedTotal).toBe(cents);
      expect(toFixedInteger(decimal, 2)).toBe(fixedTotal);
    }
  });
});
