import { fc, test } from "@fast-check/vitest";
import {
  buildMeterRecord,
  dec,
  genesisChainState,
  isMaaskitError,
  type MeterRecord,
  type MeterWindow,
  meterRecordDigest,
  nextChainState,
  quantity,
  signMeterRecord,
} from "@maaskit/metering";
import { id, Wallet } from "ethers";
import { describe, expect, it } from "vitest";
import type { Currency } from "./currency.js";
import { invoiceToJson } from "./invoice.js";
import { type PricingRecord, priceRecords } from "./priceRecords.js";
import { parseTariff, type TariffJson } from "./tariff.js";

const EUR: Currency = { symbol: "EUR", decimals: 2 };
const T0 = Date.parse("2025-01-01T00:00:00Z");
const JANUARY = { start: new Date(T0), end: new Date("2025-02-01T00:00:00Z") };
const FAD = "ISO1217-FAD" as const;
const MIN = 60_000;

function tariff(overrides: Partial<Record<keyof TariffJson, unknown>> = {}) {
  return parseTariff({
    metered: { unit: "MTQ", basis: FAD },
    pricing: { model: "perUnit", unitPrice: "0.021" },
    rounding: { mode: "halfEven", decimals: 2 },
    ...overrides,
  });
}

const TIERS = [{ upTo: "1000", unitPrice: "0.025" }, { unitPrice: "0.02" }];

/** Record `seq` covering [15·(seq−1), 15·seq) minutes of January with `m3` of air. */
function rec(
  seq: number,
  m3: string,
  oee?: { pbt: bigint | number | string; apt: bigint | number | string },
  extra: Partial<PricingRecord> = {},
): PricingRecord {
  const time = (v: bigint | number | string) => (typeof v === "string" ? dec(v) : v);
  return {
    seq,
    periodStart: new Date(T0 + (seq - 1) * 15 * MIN),
    periodEnd: new Date(T0 + seq * 15 * MIN),
    quantity: quantity(m3, "MTQ", FAD),
    ...(oee === undefined
      ? {}
      : {
          extras: {
            oee: { plannedBusyTimeMs: time(oee.pbt), actualProductionTimeMs: time(oee.apt) },
          },
        }),
    ...extra,
  };
}

function lines(invoice: ReturnType<typeof priceRecords>) {
  return invoice.lines.map((l) => ({
    kind: l.kind,
    ...(l.tier === undefined ? {} : { tier: l.tier }),
    ...(l.quantity === undefined ? {} : { quantity: l.quantity.value.toFixed() }),
    amount: l.amount.toFixed(),
  }));
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (isMaaskitError(e)) return e.code;
    throw e;
  }
  throw new Error("expected a MaaskitError");
}

describe("priceRecords", () => {
  it("default: per-unit price, one line, seq range and chain head", () => {
    // 100.5 + 200.25 + 99.25 = 400 m³; 400 × 0.021 = 8.40
    const invoice = priceRecords(
      tariff(),
      [
        rec(5, "100.5", undefined, { hash: "0xa5", prevHash: "0xa4" }),
        rec(6, "200.25", undefined, { hash: "0xa6", prevHash: "0xa5" }),
        rec(7, "99.25", undefined, { hash: "0xa7", prevHash: "0xa6" }),
      ].map((r, i) => ({
        ...r,
        // Windows 5–7 of the day start 60 minutes in.
        periodStart: new Date(T0 + (60 + 15 * i) * MIN),
        periodEnd: new Date(T0 + (75 + 15 * i) * MIN),
      })),
      { period: JANUARY, currency: EUR },
    );
    expect(lines(invoice)).toEqual([{ kind: "usage", tier: 0, quantity: "400", amount: "8.4" }]);
    expect(invoice.total.toFixed()).toBe("8.4");
    expect(invoice.usage).toEqual(quantity("400", "MTQ", FAD));
    expect(invoice.records).toEqual({
      count: 3,
      firstSeq: 5n,
      lastSeq: 7n,
      headHash: "0xa7",
      headPrevHash: "0xa6",
    });
    expect(invoice.rounding).toEqual({ mode: "halfEven", decimals: 2 });
    expect(invoice.availability).toBeUndefined();
  });

  describe("tiers", () => {
    it("behavior: graduated across the boundary prices each unit in its tier", () => {
      // 1500 m³: 1000 × 0.025 = 25.00; 500 × 0.02 = 10.00; total 35.00
      const invoice = priceRecords(
        tariff({ pricing: { model: "graduated", tiers: TIERS } }),
        [rec(1, "700"), rec(2, "800")],
        { period: JANUARY, currency: EUR },
      );
      expect(lines(invoice)).toEqual([
        { kind: "usage", tier: 0, quantity: "1000", amount: "25" },
        { kind: "usage", tier: 1, quantity: "500", amount: "10" },
      ]);
      expect(invoice.total.toFixed()).toBe("35");
    });

    it("behavior: volume across the boundary prices all units at the total's tier", () => {
      // 1500 m³ falls in tier 1: 1500 × 0.02 = 30.00
      const invoice = priceRecords(
        tariff({ pricing: { model: "volume", tiers: TIERS } }),
        [rec(1, "700"), rec(2, "800")],
        { period: JANUARY, currency: EUR },
      );
      expect(lines(invoice)).toEqual([{ kind: "usage", tier: 1, quantity: "1500", amount: "30" }]);
      expect(invoice.total.toFixed()).toBe("30");
    });

    it("behavior: upTo is inclusive — exactly 1000 stays in tier 0 for both models", () => {
      // 1000 × 0.025 = 25.00 either way
      for (const model of ["graduated", "volume"]) {
        const invoice = priceRecords(
          tariff({ pricing: { model, tiers: TIERS } }),
          [rec(1, "1000")],
          { period: JANUARY, currency: EUR },
        );
        expect(lines(invoice)).toEqual([
          { kind: "usage", tier: 0, quantity: "1000", amount: "25" },
        ]);
      }
    });

    it("behavior: one litre past the boundary", () => {
      // graduated: 1000 × 0.025 = 25.00; 0.001 × 0.02 = 0.00002 → 0.00; total 25.00
      // volume:    1000.001 × 0.02 = 20.00002 → 20.00 (the volume cliff)
      const graduated = priceRecords(
        tariff({ pricing: { model: "graduated", tiers: TIERS } }),
        [rec(1, "1000.001")],
        { period: JANUARY, currency: EUR },
      );
      expect(lines(graduated)).toEqual([
        { kind: "usage", tier: 0, quantity: "1000", amount: "25" },
        { kind: "usage", tier: 1, quantity: "0.001", amount: "0" },
      ]);
      const volume = priceRecords(
        tariff({ pricing: { model: "volume", tiers: TIERS } }),
        [rec(1, "1000.001")],
        { period: JANUARY, currency: EUR },
      );
      expect(lines(volume)).toEqual([
        { kind: "usage", tier: 1, quantity: "1000.001", amount: "20" },
      ]);
    });

    it("behavior: three graduated tiers, the middle one partly used", () => {
      // tiers ≤100 @ 0.05, ≤1000 @ 0.03, rest @ 0.01; usage 250:
      // 100 × 0.05 = 5.00; 150 × 0.03 = 4.50; total 9.50
      const invoice = priceRecords(
        tariff({
          pricing: {
            model: "graduated",
            tiers: [
              { upTo: "100", unitPrice: "0.05" },
              { upTo: "1000", unitPrice: "0.03" },
              { unitPrice: "0.01" },
            ],
          },
        }),
        [rec(1, "250")],
        { period: JANUARY, currency: EUR },
      );
      expect(lines(invoice)).toEqual([
        { kind: "usage", tier: 0, quantity: "100", amount: "5" },
        { kind: "usage", tier: 1, quantity: "150", amount: "4.5" },
      ]);
    });
  });

  describe("included volume", () => {
    it("behavior: deducted before the tiers", () => {
      // 1500 m³ − 100 included = 1400 billable; 1000 × 0.025 = 25.00; 400 × 0.02 = 8.00
      const invoice = priceRecords(
        tariff({ pricing: { model: "graduated", tiers: TIERS }, includedVolume: "100" }),
        [rec(1, "1500")],
        { period: JANUARY, currency: EUR },
      );
      expect(lines(invoice)).toEqual([
        { kind: "included", quantity: "100", amount: "0" },
        { kind: "usage", tier: 0, quantity: "1000", amount: "25" },
        { kind: "usage", tier: 1, quantity: "400", amount: "8" },
      ]);
      expect(invoice.total.toFixed()).toBe("33");
      expect(invoice.usage.value.toFixed()).toBe("1500");
    });

    it("behavior: usage below the allowance is free", () => {
      // 80 m³ of 100 included: included line 80, usage 0 × 0.025 = 0
      const invoice = priceRecords(
        tariff({ pricing: { model: "graduated", tiers: TIERS }, includedVolume: "100" }),
        [rec(1, "80")],
        { period: JANUARY, currency: EUR },
      );
      expect(lines(invoice)).toEqual([
        { kind: "included", quantity: "80", amount: "0" },
        { kind: "usage", tier: 0, quantity: "0", amount: "0" },
      ]);
      expect(invoice.total.toFixed()).toBe("0");
    });
  });

  describe("base fee and minimum commitment", () => {
    it("behavior: tops usage up to the minimum; the base fee does not count toward it", () => {
      // usage 400 × 0.021 = 8.40; minimum 50 → top-up 50 − 8.40 = 41.60;
      // total 8.40 + 20.00 + 41.60 = 70.00
      const invoice = priceRecords(
        tariff({ baseFee: "20", minimumCommitment: "50" }),
        [rec(1, "400")],
        { period: JANUARY, currency: EUR },
      );
      expect(lines(invoice)).toEqual([
        { kind: "usage", tier: 0, quantity: "400", amount: "8.4" },
        { kind: "baseFee", amount: "20" },
        { kind: "minimumTopUp", amount: "41.6" },
      ]);
      expect(invoice.total.toFixed()).toBe("70");
    });

    it("behavior: no top-up line when usage reaches the minimum", () => {
      // 3000 × 0.021 = 63.00 ≥ 50; total 63.00 + 20.00 = 83.00
      const invoice = priceRecords(
        tariff({ baseFee: "20", minimumCommitment: "50" }),
        [rec(1, "3000")],
        { period: JANUARY, currency: EUR },
      );
      expect(lines(invoice).map((l) => l.kind)).toEqual(["usage", "baseFee"]);
      expect(invoice.total.toFixed()).toBe("83");
    });

    it("behavior: a period without records still bills the base fee and the minimum", () => {
      // usage 0; base 20; top-up 50; total 70
      const invoice = priceRecords(tariff({ baseFee: "20", minimumCommitment: "50" }), [], {
        period: JANUARY,
        currency: EUR,
      });
      expect(lines(invoice)).toEqual([
        { kind: "usage", tier: 0, quantity: "0", amount: "0" },
        { kind: "baseFee", amount: "20" },
        { kind: "minimumTopUp", amount: "50" },
      ]);
      expect(invoice.records).toBeNull();
      expect(invoice.total.toFixed()).toBe("70");
    });
  });

  describe("availability SLA", () => {
    // usage 10000 × 0.02 = 200.00; base fee 100.00; period charge 300.00
    const slaTariff = (stepping: "full" | "started", whenUndefined = "noCredit") =>
      tariff({
        pricing: { model: "perUnit", unitPrice: "0.02" },
        baseFee: "100",
        sla: {
          threshold: "0.98",
          step: "0.001",
          creditPerStep: "0.005",
          cap: "0.1",
          stepping,
          whenUndefined,
        },
      });
    const price = (stepping: "full" | "started", pbt: bigint, apt: bigint, w?: string) =>
      priceRecords(slaTariff(stepping, w), [rec(1, "10000", { pbt, apt })], {
        period: JANUARY,
        currency: EUR,
      });

    it("behavior: exactly at the threshold — no credit", () => {
      // 980,000 / 1,000,000 = 98 %: shortfall 0
      const invoice = price("full", 1_000_000n, 980_000n);
      expect(lines(invoice).map((l) => l.kind)).toEqual(["usage", "baseFee"]);
      expect(invoice.total.toFixed()).toBe("300");
      expect(invoice.availability?.ratio?.toFixed()).toBe("0.98");
      expect(invoice.availability?.shortfallSteps.toFixed()).toBe("0");
    });

    it("behavior: 97.95 % — half a step: nothing per full step, one step per started step", () => {
      // shortfall 0.05 % = 0.5 steps. full: 0 steps → 0. started: 1 step → 0.5 % × 300 = 1.50
      expect(price("full", 1_000_000n, 979_500n).total.toFixed()).toBe("300");
      const started = price("started", 1_000_000n, 979_500n);
      expect(lines(started).at(-1)).toEqual({ kind: "slaCredit", amount: "-1.5" });
      expect(started.lines.at(-1)?.rate?.toFixed()).toBe("0.005");
      expect(started.total.toFixed()).toBe("298.5");
    });

    it("behavior: 97.85 % — one full step, two started steps", () => {
      // shortfall 0.15 % = 1.5 steps. full: 1 × 0.5 % × 300 = 1.50; started: 2 × 0.5 % × 300 = 3.00
      expect(price("full", 1_000_000n, 978_500n).total.toFixed()).toBe("298.5");
      expect(price("started", 1_000_000n, 978_500n).total.toFixed()).toBe("297");
    });

    it("behavior: far below the threshold the credit is capped", () => {
      // 50 %: shortfall 48 % = 480 steps × 0.5 % = 240 % → cap 10 % × 300 = 30.00
      const invoice = price("full", 1_000_000n, 500_000n);
      expect(lines(invoice).at(-1)).toEqual({ kind: "slaCredit", amount: "-30" });
      expect(invoice.availability?.shortfallSteps.toFixed()).toBe("480");
      expect(invoice.availability?.creditRate.toFixed()).toBe("0.1");
      expect(invoice.total.toFixed()).toBe("270");
    });

    it("behavior: sums time elements across records, never averages ratios", () => {
      // A: 100,000 / 100,000 = 100 %; B: 870,000 / 900,000 ≈ 96.67 %.
      // Average of ratios ≈ 98.33 % (no credit) — wrong. Σ APT / Σ PBT = 970,000 / 1,000,000 = 97 %:
      // shortfall 1 % = 10 steps × 0.5 % = 5 % × 300 = 15.00
      const invoice = priceRecords(
        slaTariff("full"),
        [
          rec(1, "5000", { pbt: 100_000n, apt: 100_000n }),
          rec(2, "5000", { pbt: "900000", apt: "870000" }),
        ],
        { period: JANUARY, currency: EUR },
      );
      expect(lines(invoice).at(-1)).toEqual({ kind: "slaCredit", amount: "-15" });
      expect(invoice.availability?.plannedBusyTime.toFixed()).toBe("1000000");
      expect(invoice.availability?.actualProductionTime.toFixed()).toBe("970000");
      expect(invoice.total.toFixed()).toBe("285");
    });

    it("behavior: the credit counts the minimum top-up and base fee in the period charge", () => {
      // usage 100 × 0.02 = 2.00; base 100; minimum 50 → top-up 48.00; period charge 150.00;
      // 50 % availability → capped 10 % → credit 15.00; total 135.00
      const invoice = priceRecords(
        parseTariff({ ...JSON.parse(JSON.stringify(slaTariffJson)), minimumCommitment: "50" }),
        [rec(1, "100", { pbt: 1000n, apt: 500n })],
        { period: JANUARY, currency: EUR },
      );
      expect(lines(invoice)).toEqual([
        { kind: "usage", tier: 0, quantity: "100", amount: "2" },
        { kind: "baseFee", amount: "100" },
        { kind: "minimumTopUp", amount: "48" },
        { kind: "slaCredit", amount: "-15" },
      ]);
      expect(invoice.total.toFixed()).toBe("135");
    });

    it("behavior: no planned busy time — no credit, or the cap, as the tariff says", () => {
      // Records without time elements: Σ PBT = 0, availability undefined.
      const none = priceRecords(slaTariff("full"), [rec(1, "10000")], {
        period: JANUARY,
        currency: EUR,
      });
      expect(none.total.toFixed()).toBe("300");
      expect(none.availability?.ratio).toBeNull();
      const max = priceRecords(slaTariff("full", "maxCredit"), [rec(1, "10000")], {
        period: JANUARY,
        currency: EUR,
      });
      // cap 10 % × 300 = 30.00
      expect(max.total.toFixed()).toBe("270");
    });

    const slaTariffJson = {
      metered: { unit: "MTQ", basis: FAD },
      pricing: { model: "perUnit", unitPrice: "0.02" },
      baseFee: "100",
      sla: {
        threshold: "0.98",
        step: "0.001",
        creditPerStep: "0.005",
        cap: "0.1",
        stepping: "full",
        whenUndefined: "noCredit",
      },
      rounding: { mode: "halfEven", decimals: 2 },
    };
  });

  describe("rounding", () => {
    const at = (price: string, m3: string, mode = "halfEven", decimals?: number, currency = EUR) =>
      priceRecords(
        tariff({
          pricing: { model: "perUnit", unitPrice: price },
          rounding: decimals === undefined ? { mode } : { mode, decimals },
        }),
        [rec(1, m3)],
        { period: JANUARY, currency },
      ).total.toFixed();

    it("behavior: half-even at the half-cent edge", () => {
      // 10 × 0.0125 = 0.125 → 0.12 (2 is even); 10.8 × 0.0125 = 0.135 → 0.14 (4 is even)
      expect(at("0.0125", "10")).toBe("0.12");
      expect(at("0.0125", "10.8")).toBe("0.14");
      // just above the half: 10.0008 × 0.0125 = 0.12501 → 0.13
      expect(at("0.0125", "10.0008")).toBe("0.13");
    });

    it("args: halfUp rounds the half away from zero", () => {
      // 0.125 → 0.13; 0.135 → 0.14
      expect(at("0.0125", "10", "halfUp")).toBe("0.13");
      expect(at("0.0125", "10.8", "halfUp")).toBe("0.14");
    });

    it("behavior: rounds each line, and the total is the sum of the rounded lines", () => {
      // graduated ≤1 @ 0.005, rest @ 0.005: line 0: 1 × 0.005 = 0.005 → 0.00;
      // line 1: 1 × 0.005 = 0.005 → 0.00; total 0.00 (not round(0.01) = 0.01)
      const invoice = priceRecords(
        tariff({
          pricing: {
            model: "graduated",
            tiers: [{ upTo: "1", unitPrice: "0.005" }, { unitPrice: "0.005" }],
          },
        }),
        [rec(1, "2")],
        { period: JANUARY, currency: EUR },
      );
      expect(lines(invoice).map((l) => l.amount)).toEqual(["0", "0"]);
      expect(invoice.total.toFixed()).toBe("0");
    });

    it("behavior: the SLA credit is rounded as a magnitude, then negated", () => {
      // usage 50 × 0.02 = 1.00; 50 % availability → 10 % cap... use cap 0.005:
      // credit 0.5 % × 1.00 = 0.005 → half-even 0.00; half-up 0.01
      const t = (mode: string) =>
        parseTariff({
          metered: { unit: "MTQ", basis: FAD },
          pricing: { model: "perUnit", unitPrice: "0.02" },
          sla: {
            threshold: "0.98",
            step: "0.001",
            creditPerStep: "0.005",
            cap: "0.005",
            stepping: "full",
            whenUndefined: "noCredit",
          },
          rounding: { mode, decimals: 2 },
        });
      const records = [rec(1, "50", { pbt: 1000n, apt: 500n })];
      const even = priceRecords(t("halfEven"), records, { period: JANUARY, currency: EUR });
      expect(even.lines.map((l) => l.kind)).toEqual(["usage"]);
      expect(even.total.toFixed()).toBe("1");
      const up = priceRecords(t("halfUp"), records, { period: JANUARY, currency: EUR });
      expect(lines(up).at(-1)).toEqual({ kind: "slaCredit", amount: "-0.01" });
      expect(up.total.toFixed()).toBe("0.99");
    });

    it("args: rounding decimals default to the currency's", () => {
      // USDC, 6 decimals: 10 × 0.0125 = 0.125 exactly
      expect(at("0.0125", "10", "halfEven", undefined, { symbol: "USDC", decimals: 6 })).toBe(
        "0.125",
      );
      // an 18-decimal token billed to the cent: 0.125 → 0.12
      expect(at("0.0125", "10", "halfEven", 2, { symbol: "EURe", decimals: 18 })).toBe("0.12");
    });

    it("error: rounding to more decimals than the currency has", () => {
      expect(codeOf(() => at("0.0125", "10", "halfEven", 3))).toBe(
        "settlement.pricing.currencyMismatch",
      );
    });
  });

  describe("records", () => {
    it("behavior: prices the billed quantity only, not the extras", () => {
      // 10 m³ billed; the 5 kWh extra channel is not priced: 10 × 0.021 = 0.21
      // A MeterRecord's extras carry further channels besides the OEE elements.
      const extras = {
        quantities: [{ channel: "power", quantity: quantity("5", "KWH"), flags: {} }],
        oee: { plannedBusyTimeMs: 900_000, actualProductionTimeMs: 900_000 },
      };
      const r: PricingRecord = { ...rec(1, "10"), extras };
      expect(priceRecords(tariff(), [r], { period: JANUARY, currency: EUR }).total.toFixed()).toBe(
        "0.21",
      );
    });

    it("behavior: the agreement id of the records goes on the invoice", () => {
      const id = `0x${"ab".repeat(32)}`;
      const invoice = priceRecords(
        tariff(),
        [rec(1, "1", undefined, { agreementId: id }), rec(2, "1", undefined, { agreementId: id })],
        { period: JANUARY, currency: EUR },
      );
      expect(invoice.agreementId).toBe(id);
    });

    it.each([
      ["a duplicate seq", [rec(1, "1"), rec(1, "1")], "settlement.pricing.duplicateSeq"],
      ["a seq gap", [rec(1, "1"), rec(3, "1")], "settlement.pricing.seqGap"],
      [
        "overlapping periods",
        [rec(1, "1"), { ...rec(2, "1"), periodStart: new Date(T0 + 10 * MIN) }],
        "settlement.pricing.periodOverlap",
      ],
      [
        "a hole between periods",
        [rec(1, "1"), { ...rec(2, "1"), periodStart: new Date(T0 + 20 * MIN) }],
        "settlement.pricing.periodGap",
      ],
      [
        "a record outside the period",
        [{ ...rec(1, "1"), periodStart: new Date(T0 - MIN) }],
        "settlement.pricing.outsidePeriod",
      ],
      [
        "a broken chain",
        [
          rec(1, "1", undefined, { hash: "0x01" }),
          rec(2, "1", undefined, { hash: "0x02", prevHash: "0x99" }),
        ],
        "settlement.pricing.brokenChain",
      ],
      [
        "the metered unit in another basis",
        [{ ...rec(1, "1"), quantity: quantity("1", "MTQ", "DIN1343-normal") }],
        "settlement.pricing.unitMismatch",
      ],
      [
        "another unit",
        [{ ...rec(1, "1"), quantity: quantity("1", "KWH") }],
        "settlement.pricing.unitMismatch",
      ],
      [
        "a negative quantity",
        [{ ...rec(1, "1"), quantity: quantity("-1", "MTQ", FAD) }],
        "settlement.pricing.invalidRecord",
      ],
      [
        "a fractional time element given as a number",
        [rec(1, "1", { pbt: 1000.5, apt: 1000 })],
        "settlement.pricing.invalidRecord",
      ],
      [
        "a fractional time element",
        [rec(1, "1", { pbt: "1000.5", apt: "1000" })],
        "settlement.pricing.invalidRecord",
      ],
      [
        "an empty period",
        [{ ...rec(1, "1"), periodEnd: new Date(T0) }],
        "settlement.pricing.invalidRecord",
      ],
      [
        "records of two agreements",
        [
          rec(1, "1", undefined, { agreementId: "0x01" }),
          rec(2, "1", undefined, { agreementId: "0x02" }),
        ],
        "settlement.pricing.agreementMismatch",
      ],
    ] as [string, PricingRecord[], string][])("error: %s", (_name, records, code) => {
      expect(
        codeOf(() => priceRecords(tariff(), records, { period: JANUARY, currency: EUR })),
      ).toBe(code);
      // The order the records arrive in does not change which error is reported.
      expect(
        codeOf(() =>
          priceRecords(tariff(), [...records].reverse(), { period: JANUARY, currency: EUR }),
        ),
      ).toBe(code);
    });

    it("error: records for another agreement than the one asked for", () => {
      expect(
        codeOf(() =>
          priceRecords(tariff(), [rec(1, "1", undefined, { agreementId: "0x01" })], {
            period: JANUARY,
            currency: EUR,
            agreementId: "0x02",
          }),
        ),
      ).toBe("settlement.pricing.agreementMismatch");
    });

    it("error: an invalid billing period", () => {
      expect(
        codeOf(() =>
          priceRecords(tariff(), [], {
            period: { start: JANUARY.end, end: JANUARY.start },
            currency: EUR,
          }),
        ),
      ).toBe("settlement.pricing.invalidPeriod");
    });
  });

  describe("properties", () => {
    const tiered = tariff({
      pricing: {
        model: "graduated",
        tiers: [{ upTo: "10", unitPrice: "0.0375" }, { unitPrice: "0.0125" }],
      },
      includedVolume: "2.5",
      baseFee: "3.33",
      minimumCommitment: "0.5",
      sla: {
        threshold: "0.98",
        step: "0.001",
        creditPerStep: "0.005",
        cap: "0.1",
        stepping: "started",
        whenUndefined: "noCredit",
      },
    });
    const usage = fc.array(
      fc.record({
        m3: fc.bigInt({ min: 0n, max: 5_000_000n }), // thousandths of m³
        pbt: fc.bigInt({ min: 0n, max: 900_000n }),
        lost: fc.bigInt({ min: 0n, max: 30_000n }),
      }),
      { minLength: 0, maxLength: 12 },
    );
    const build = (items: { m3: bigint; pbt: bigint; lost: bigint }[]) =>
      items.map((u, i) =>
        rec(i + 1, dec(u.m3.toString()).div(1000).toFixed(), {
          pbt: u.pbt,
          apt: u.pbt > u.lost ? u.pbt - u.lost : 0n,
        }),
      );

    test.prop([usage, fc.integer()])(
      "behavior: any order of a period's records gives the same invoice, byte for byte",
      (items, seed) => {
        const records = build(items);
        const shuffled = fc.sample(fc.shuffledSubarray(records, { minLength: records.length }), {
          numRuns: 1,
          seed,
        })[0]!;
        const a = JSON.stringify(
          invoiceToJson(priceRecords(tiered, records, { period: JANUARY, currency: EUR })),
        );
        const b = JSON.stringify(
          invoiceToJson(priceRecords(tiered, shuffled, { period: JANUARY, currency: EUR })),
        );
        expect(b).toBe(a);
      },
    );

    test.prop([usage, fc.array(fc.nat(), { minLength: 12, maxLength: 12 })])(
      "behavior: splitting records into finer windows gives the same lines and total",
      (items, cuts) => {
        const coarse = build(items);
        // Split window i into two windows with usage a + b and time elements split alike.
        const fine: PricingRecord[] = [];
        items.forEach((u, i) => {
          const c = BigInt(cuts[i]!) % (u.m3 + 1n);
          const p = BigInt(cuts[i]!) % (u.pbt + 1n);
          const apt = u.pbt > u.lost ? u.pbt - u.lost : 0n;
          const pa = apt < p ? apt : p;
          const start = T0 + i * 15 * MIN;
          const mid = start + 7 * MIN;
          const half = (seq: number, from: number, to: number, m: bigint, pbt: bigint, a: bigint) =>
            ({
              seq,
              periodStart: new Date(from),
              periodEnd: new Date(to),
              quantity: quantity(dec(m.toString()).div(1000), "MTQ", FAD),
              extras: { oee: { plannedBusyTimeMs: pbt, actualProductionTimeMs: a } },
            }) satisfies PricingRecord;
          fine.push(half(2 * i + 1, start, mid, c, p, pa));
          fine.push(half(2 * i + 2, mid, start + 15 * MIN, u.m3 - c, u.pbt - p, apt - pa));
        });
        const a = priceRecords(tiered, coarse, { period: JANUARY, currency: EUR });
        const b = priceRecords(tiered, fine, { period: JANUARY, currency: EUR });
        expect(invoiceToJson(b).lines).toEqual(invoiceToJson(a).lines);
        expect(b.total.eq(a.total)).toBe(true);
        expect(invoiceToJson(b).availability).toEqual(invoiceToJson(a).availability);
      },
    );
  });

  describe("with signed MeterRecords", () => {
    // A MeterRecord must satisfy PricingRecord structurally (checked by the compiler here).
    const asPricing = (r: MeterRecord): PricingRecord => r;
    // A deterministic throwaway test key (the hash of a public phrase).
    const signer = new Wallet(id("maaskit settlement pricing test key"));
    const agreementId = `0x${"c7".repeat(32)}`;

    async function chain(volumes: string[], lost: number[]): Promise<MeterRecord[]> {
      const records: MeterRecord[] = [];
      let state = genesisChainState();
      for (const [i, v] of volumes.entries()) {
        const window: MeterWindow = {
          kind: "window",
          machineId: "compressor-7",
          start: new Date(T0 + i * 15 * MIN),
          end: new Date(T0 + (i + 1) * 15 * MIN),
          usage: [{ channel: "air", quantity: quantity(v, "MTQ", FAD), flags: {} }],
          gaps: [],
          quarantined: 0,
        };
        const unsigned = buildMeterRecord(window, {
          binding: { agreementId, chainId: 0, verifyingContract: `0x${"00".repeat(20)}` },
          chain: state,
          clock: "synchronised",
          channel: "air",
          oee: {
            plannedBusyTimeMs: 15 * MIN,
            actualProductionTimeMs: 15 * MIN - lost[i]!,
            produced: quantity(10, "C62"),
            good: quantity(10, "C62"),
          },
        });
        const record = await signMeterRecord(unsigned, { signer });
        records.push(record);
        state = nextChainState(record);
      }
      return records;
    }

    it("behavior: prices a signed chain; the invoice names its seq range and head", async () => {
      // 400.5 + 350.25 + 300.125 = 1050.875 m³, graduated: 1000 × 0.025 = 25.00;
      // 50.875 × 0.02 = 1.0175 → 1.02. PBT = 3 × 900,000 = 2,700,000 ms;
      // APT = 2,700,000 − 60,000 = 2,640,000 → 97.78 %: shortfall 0.2222 % = 2 full steps
      // → 1 % × 26.02 = 0.2602 → 0.26; total 25.76
      const signed = await chain(["400.5", "350.25", "300.125"], [0, 60_000, 0]);
      const records = signed.map((r) => ({ ...asPricing(r), hash: meterRecordDigest(r) }));
      const invoice = priceRecords(
        tariff({
          pricing: { model: "graduated", tiers: TIERS },
          sla: {
            threshold: "0.98",
            step: "0.001",
            creditPerStep: "0.005",
            cap: "0.1",
            stepping: "full",
            whenUndefined: "noCredit",
          },
        }),
        [...records].reverse(),
        { period: JANUARY, currency: EUR, agreementId },
      );
      expect(lines(invoice)).toEqual([
        { kind: "usage", tier: 0, quantity: "1000", amount: "25" },
        { kind: "usage", tier: 1, quantity: "50.875", amount: "1.02" },
        { kind: "slaCredit", amount: "-0.26" },
      ]);
      expect(invoice.total.toFixed()).toBe("25.76");
      expect(invoice.records).toEqual({
        count: 3,
        firstSeq: 0n,
        lastSeq: 2n,
        headHash: nextChainState(signed[2]!).prevHash,
        headPrevHash: signed[2]!.prevHash,
      });
    });

    it("error: a tampered chain link is detected from the digests", async () => {
      const signed = await chain(["1", "2"], [0, 0]);
      const records = signed.map((r) => ({ ...asPricing(r), hash: meterRecordDigest(r) }));
      records[1] = { ...records[1]!, prevHash: `0x${"00".repeat(32)}` };
      expect(
        codeOf(() => priceRecords(tariff(), records, { period: JANUARY, currency: EUR })),
      ).toBe("settlement.pricing.brokenChain");
    });
  });
});
