import { isMaaskitError, type MaaskitError, quantity } from "@maaskit/metering";
import { describe, expect, it } from "vitest";
import { invoiceFromJson, invoiceToJson } from "./invoice.js";
import { priceRecords } from "./priceRecords.js";
import { parseTariff } from "./tariff.js";

const T0 = Date.parse("2025-01-01T00:00:00Z");

// Every line kind: included, two tiers, base fee, minimum top-up, SLA credit.
const invoice = priceRecords(
  parseTariff({
    metered: { unit: "MTQ", basis: "ISO1217-FAD" },
    pricing: {
      model: "graduated",
      tiers: [{ upTo: "10", unitPrice: "0.05" }, { unitPrice: "0.04" }],
    },
    includedVolume: "5",
    baseFee: "10",
    minimumCommitment: "20",
    sla: {
      threshold: "0.98",
      step: "0.001",
      creditPerStep: "0.005",
      cap: "0.1",
      stepping: "full",
      whenUndefined: "noCredit",
    },
    rounding: { mode: "halfEven", decimals: 2 },
  }),
  [
    {
      agreementId: `0x${"11".repeat(32)}`,
      seq: 41n,
      periodStart: new Date(T0),
      periodEnd: new Date(T0 + 900_000),
      quantity: quantity("25.5", "MTQ", "ISO1217-FAD"),
      extras: { oee: { plannedBusyTimeMs: 900_000, actualProductionTimeMs: 800_000 } },
      hash: `0x${"cd".repeat(32)}`,
      prevHash: `0x${"ab".repeat(32)}`,
    },
  ],
  {
    period: { start: new Date(T0), end: new Date("2025-02-01T00:00:00Z") },
    currency: {
      symbol: "EURe",
      decimals: 18,
      address: "0x5FbDB2315678afecb367f032d93F642f64180aa3",
    },
  },
);

describe("invoiceToJson", () => {
  it("default: canonical JSON with decimal strings", () => {
    // 25.5 − 5 included = 20.5: 10 × 0.05 = 0.50; 10.5 × 0.04 = 0.42; base 10.00;
    // top-up 20 − 0.92 = 19.08; charge 30.00; APT/PBT = 0.888… → 9.2 % short = 91 steps →
    // capped 10 % = 3.00; total 27.00
    expect(invoiceToJson(invoice)).toEqual({
      version: 1,
      agreementId: `0x${"11".repeat(32)}`,
      period: { start: "2025-01-01T00:00:00.000Z", end: "2025-02-01T00:00:00.000Z" },
      currency: {
        symbol: "EURe",
        decimals: 18,
        address: "0x5FbDB2315678afecb367f032d93F642f64180aa3",
      },
      rounding: { mode: "halfEven", decimals: 2 },
      usage: { value: "25.5", unit: "MTQ", basis: "ISO1217-FAD" },
      lines: [
        {
          kind: "included",
          quantity: { value: "5", unit: "MTQ", basis: "ISO1217-FAD" },
          unitPrice: "0",
          amount: "0",
        },
        {
          kind: "usage",
          tier: 0,
          quantity: { value: "10", unit: "MTQ", basis: "ISO1217-FAD" },
          unitPrice: "0.05",
          amount: "0.5",
        },
        {
          kind: "usage",
          tier: 1,
          quantity: { value: "10.5", unit: "MTQ", basis: "ISO1217-FAD" },
          unitPrice: "0.04",
          amount: "0.42",
        },
        { kind: "baseFee", amount: "10" },
        { kind: "minimumTopUp", amount: "19.08" },
        { kind: "slaCredit", rate: "0.1", amount: "-3" },
      ],
      total: "27",
      records: {
        count: 1,
        firstSeq: "41",
        lastSeq: "41",
        headHash: `0x${"cd".repeat(32)}`,
        headPrevHash: `0x${"ab".repeat(32)}`,
      },
      availability: {
        plannedBusyTime: "900000",
        actualProductionTime: "800000",
        ratio: "0.888889",
        shortfallSteps: "91",
        creditRate: "0.1",
      },
    });
  });

  it("behavior: round-trips to the same bytes", () => {
    const text = JSON.stringify(invoiceToJson(invoice));
    const back = invoiceFromJson(JSON.parse(text));
    expect(JSON.stringify(invoiceToJson(back))).toBe(text);
    expect(back.records?.lastSeq).toBe(41n);
    expect(back.total.toFixed()).toBe("27");
  });
});

describe("invoiceFromJson", () => {
  it("error: reports every problem at once", () => {
    const json = JSON.parse(JSON.stringify(invoiceToJson(invoice)));
    json.version = 2;
    json.total = "27.0.0";
    json.lines[1].kind = "discount";
    json.records.firstSeq = -1;
    json.period.end = "tomorrow";
    let caught: unknown;
    try {
      invoiceFromJson(json);
    } catch (e) {
      caught = e;
    }
    expect(isMaaskitError(caught, "settlement.invoice.invalid")).toBe(true);
    expect(
      ((caught as MaaskitError).details.problems as { path: string }[]).map((p) => p.path).sort(),
    ).toEqual(["lines[1].kind", "period.end", "records.firstSeq", "total", "version"]);
  });
});
