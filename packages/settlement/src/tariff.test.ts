import { isMaaskitError, type MaaskitError } from "@maaskit/metering";
import { describe, expect, it } from "vitest";
import { parseTariff, tariffToJson, validateTariff } from "./tariff.js";

const fullJson = {
  version: 1,
  metered: { unit: "MTQ", basis: "ISO1217-FAD" },
  pricing: {
    model: "graduated",
    tiers: [{ upTo: "1000", unitPrice: "0.025" }, { unitPrice: "0.02" }],
  },
  includedVolume: "100",
  baseFee: "250",
  minimumCommitment: "500",
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

function problemsOf(fn: () => unknown): { path: string; message: string }[] {
  try {
    fn();
  } catch (e) {
    expect(isMaaskitError(e, "settlement.tariff.invalid")).toBe(true);
    return (e as MaaskitError).details.problems as { path: string; message: string }[];
  }
  throw new Error("expected settlement.tariff.invalid");
}

describe("parseTariff", () => {
  it("default: parses every term into Decimals", () => {
    const t = parseTariff(fullJson);
    expect(t.metered).toEqual({ unit: "MTQ", basis: "ISO1217-FAD" });
    expect(t.pricing.model).toBe("graduated");
    if (t.pricing.model === "perUnit") throw new Error("unreachable");
    expect(t.pricing.tiers.map((x) => [x.upTo?.toFixed() ?? null, x.unitPrice.toFixed()])).toEqual([
      ["1000", "0.025"],
      [null, "0.02"],
    ]);
    expect(t.includedVolume.toFixed()).toBe("100");
    expect(t.baseFee.toFixed()).toBe("250");
    expect(t.minimumCommitment.toFixed()).toBe("500");
    expect(t.sla?.threshold.toFixed()).toBe("0.98");
    expect(t.sla?.stepping).toBe("full");
    expect(t.rounding).toEqual({ mode: "halfEven", decimals: 2 });
  });

  it("behavior: optional terms default to zero, no SLA and half-even at the currency's decimals", () => {
    const t = parseTariff({
      metered: { unit: "KWH" },
      pricing: { model: "perUnit", unitPrice: "0.31" },
    });
    expect(t.version).toBe(1);
    expect(t.includedVolume.isZero()).toBe(true);
    expect(t.baseFee.isZero()).toBe(true);
    expect(t.minimumCommitment.isZero()).toBe(true);
    expect(t.sla).toBeUndefined();
    expect(t.rounding).toEqual({ mode: "halfEven" });
  });

  it("behavior: round-trips through tariffToJson to the same canonical bytes", () => {
    const once = JSON.stringify(tariffToJson(parseTariff(fullJson)));
    const twice = JSON.stringify(tariffToJson(parseTariff(JSON.parse(once))));
    expect(twice).toBe(once);
    expect(JSON.parse(once)).toEqual(fullJson);
  });

  it("behavior: canonical JSON normalises decimals and writes defaults out", () => {
    const json = tariffToJson(
      parseTariff({
        metered: { unit: "MTQ" },
        pricing: {
          model: "volume",
          tiers: [{ upTo: "10.500", unitPrice: "1.0" }, { unitPrice: "0.90" }],
        },
      }),
    );
    expect(json).toEqual({
      version: 1,
      metered: { unit: "MTQ" },
      pricing: { model: "volume", tiers: [{ upTo: "10.5", unitPrice: "1" }, { unitPrice: "0.9" }] },
      includedVolume: "0",
      baseFee: "0",
      minimumCommitment: "0",
      rounding: { mode: "halfEven" },
    });
  });

  it("error: reports every problem at once with its path", () => {
    const problems = problemsOf(() =>
      parseTariff({
        version: 2,
        metered: { unit: "", basis: "wet" },
        pricing: {
          model: "graduated",
          tiers: [
            { upTo: "500", unitPrice: "0.02" },
            { upTo: "500", unitPrice: 0.01 },
            { upTo: "100", unitPrice: "-1" },
          ],
        },
        includedVolume: "1e3",
        baseFee: "12,50",
        sla: {
          threshold: "1.5",
          step: "0",
          creditPerStep: "0.005",
          cap: "2",
          stepping: "sometimes",
        },
        rounding: { mode: "bankers", decimals: 99 },
        discount: "5",
      }),
    );
    expect(problems.map((p) => p.path).sort()).toEqual(
      [
        "version",
        "metered.unit",
        "metered.basis",
        "pricing.tiers[1].upTo",
        "pricing.tiers[1].unitPrice",
        "pricing.tiers[2].upTo",
        "pricing.tiers[2].unitPrice",
        "pricing.tiers[2].upTo",
        "includedVolume",
        "baseFee",
        "sla.threshold",
        "sla.step",
        "sla.cap",
        "sla.stepping",
        "sla.whenUndefined",
        "rounding.mode",
        "rounding.decimals",
        "discount",
      ].sort(),
    );
    expect(problems.find((p) => p.path === "discount")?.message).toBe("is not a known field");
  });

  it("error: a tariff that is not an object", () => {
    expect(problemsOf(() => parseTariff("tariff"))).toEqual([
      { path: "", message: "must be an object" },
    ]);
  });

  it("error: per-unit pricing must not carry tiers, tiered pricing needs tiers", () => {
    const problems = problemsOf(() =>
      parseTariff({
        metered: { unit: "MTQ" },
        pricing: { model: "perUnit", unitPrice: "1", tiers: [] },
      }),
    );
    expect(problems).toEqual([{ path: "pricing.tiers", message: "is not a known field" }]);
    expect(
      problemsOf(() =>
        parseTariff({ metered: { unit: "MTQ" }, pricing: { model: "volume", tiers: [] } }),
      ),
    ).toEqual([{ path: "pricing.tiers", message: "must be a non-empty array of tiers" }]);
  });

  it("error: rejects more than 18 fractional digits (the fixed-point bound)", () => {
    expect(
      problemsOf(() =>
        parseTariff({
          metered: { unit: "MTQ" },
          pricing: { model: "perUnit", unitPrice: "0.0000000000000000001" },
        }),
      ),
    ).toEqual([{ path: "pricing.unitPrice", message: "must have at most 18 fractional digits" }]);
  });
});

describe("validateTariff", () => {
  it("default: returns no problems for a valid tariff", () => {
    expect(validateTariff(fullJson)).toEqual([]);
  });

  it("behavior: returns the problems instead of throwing", () => {
    expect(validateTariff({ metered: { unit: "MTQ" } })).toEqual([
      { path: "pricing", message: "must be an object" },
    ]);
  });
});
