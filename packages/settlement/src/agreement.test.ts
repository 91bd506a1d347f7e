import { isMaaskitError, type MaaskitError } from "@maaskit/metering";
import { describe, expect, it } from "vitest";
import { agreementToJson, parseAgreement, validateAgreement } from "./agreement.js";
import { isSignerAllowed } from "./isSignerAllowed.js";

const ID = `0x${"7a".repeat(32)}`;
const KEY_A = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
const KEY_B = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC";

const agreementJson = {
  agreementId: ID,
  name: "Compressor 7 — pay per m³",
  parties: { provider: "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", customer: "acme-plant-3" },
  machineId: "compressor-7",
  signers: [
    {
      address: KEY_A,
      validFrom: "2025-01-01T00:00:00.000Z",
      validUntil: "2025-07-01T00:00:00.000Z",
    },
    { address: KEY_B, validFrom: "2025-06-15T00:00:00.000Z" },
  ],
  tariff: {
    version: 1,
    metered: { unit: "MTQ", basis: "ISO1217-FAD" },
    pricing: { model: "perUnit", unitPrice: "0.021" },
    includedVolume: "0",
    baseFee: "250",
    minimumCommitment: "0",
    rounding: { mode: "halfEven", decimals: 2 },
  },
  currency: { symbol: "EUR", decimals: 2 },
  billingPeriod: { kind: "calendarMonth", timeZone: "Europe/Berlin" },
  paymentTerms: { kind: "prepaid", overdraft: "suspend" },
  start: "2025-01-01T00:00:00.000Z",
  status: "active",
};

function problemsOf(json: unknown): string[] {
  try {
    parseAgreement(json);
  } catch (e) {
    expect(isMaaskitError(e, "settlement.agreement.invalid")).toBe(true);
    return ((e as MaaskitError).details.problems as { path: string }[]).map((p) => p.path);
  }
  throw new Error("expected settlement.agreement.invalid");
}

describe("parseAgreement", () => {
  it.each([
    undefined,
    null,
    5,
    "x",
    [],
  ])("error: %s is not an agreement — a typed error, never a TypeError", (json) => {
    expect(problemsOf(json).length).toBeGreaterThan(0);
  });

  it("default: parses an agreement with its tariff", () => {
    const a = parseAgreement(agreementJson);
    expect(a.agreementId).toBe(ID);
    expect(a.parties.customer).toBe("acme-plant-3");
    expect(
      a.signers.map((s) => [s.address, s.validFrom.toISOString(), s.validUntil?.toISOString()]),
    ).toEqual([
      [KEY_A, "2025-01-01T00:00:00.000Z", "2025-07-01T00:00:00.000Z"],
      [KEY_B, "2025-06-15T00:00:00.000Z", undefined],
    ]);
    expect(a.tariff.baseFee.toFixed()).toBe("250");
    expect(a.billingPeriod).toEqual({ kind: "calendarMonth", timeZone: "Europe/Berlin" });
    expect(a.paymentTerms).toEqual({ kind: "prepaid", overdraft: "suspend" });
    expect(a.end).toBeUndefined();
  });

  it("behavior: round-trips to the same canonical JSON", () => {
    const json = agreementToJson(parseAgreement(agreementJson));
    expect(json).toEqual(agreementJson);
    expect(JSON.stringify(agreementToJson(parseAgreement(JSON.parse(JSON.stringify(json)))))).toBe(
      JSON.stringify(json),
    );
  });

  it("behavior: normalises signer addresses to EIP-55", () => {
    const a = parseAgreement({
      ...agreementJson,
      signers: [{ address: KEY_A.toLowerCase(), validFrom: "2025-01-01T00:00:00Z" }],
    });
    expect(a.signers[0]?.address).toBe(KEY_A);
  });

  it("args: invoiced terms and N-day periods from an anchor", () => {
    const a = parseAgreement({
      ...agreementJson,
      billingPeriod: { kind: "days", days: 14, timeZone: "UTC", anchor: "2025-01-06T00:00:00Z" },
      paymentTerms: { kind: "invoiced", netDays: 30 },
      end: "2026-01-01T00:00:00Z",
      status: "terminated",
    });
    expect(a.billingPeriod).toEqual({
      kind: "days",
      days: 14,
      timeZone: "UTC",
      anchor: new Date("2025-01-06T00:00:00Z"),
    });
    expect(a.paymentTerms).toEqual({ kind: "invoiced", netDays: 30 });
    expect(a.end?.toISOString()).toBe("2026-01-01T00:00:00.000Z");
  });

  it("error: reports every problem at once, tariff problems included", () => {
    expect(
      problemsOf({
        ...agreementJson,
        agreementId: "agr-1",
        name: "",
        parties: { provider: "0x1234", customer: "" },
        machineId: 7,
        signers: [
          { address: "0xnope", validFrom: "2025-01-01T00:00:00Z" },
          { address: KEY_A, validFrom: "2025-02-01T00:00:00Z", validUntil: "2025-01-01T00:00:00Z" },
        ],
        tariff: { ...agreementJson.tariff, baseFee: "-1", rounding: { decimals: 3 } },
        currency: { symbol: "EUR", decimals: 2, address: "0x12" },
        billingPeriod: { kind: "calendarMonth", timeZone: "Mars/Olympus" },
        paymentTerms: { kind: "prepaid", overdraft: "maybe" },
        start: "2025-01-01",
        end: "2024-01-01T00:00:00Z",
        status: "paused",
        extra: true,
      }).sort(),
    ).toEqual(
      [
        "agreementId",
        "name",
        "parties.provider",
        "parties.customer",
        "machineId",
        "signers[0].address",
        "signers[1].validUntil",
        "tariff.baseFee",
        "tariff.rounding.decimals",
        "currency.address",
        "billingPeriod.timeZone",
        "paymentTerms.overdraft",
        "start",
        "status",
        "extra",
      ].sort(),
    );
  });

  it("args: capacity — the machine's maximum delivery round-trips; invalid ones are reported", () => {
    const a = parseAgreement({ ...agreementJson, capacity: { value: "12.5", per: "min" } });
    expect(a.capacity?.value.toFixed()).toBe("12.5");
    expect(a.capacity?.per).toBe("min");
    const json = agreementToJson(a);
    expect(json.capacity).toEqual({ value: "12.5", per: "min" });
    expect(Object.keys(json).indexOf("capacity")).toBe(
      Object.keys(json).indexOf("paymentTerms") + 1,
    );
    expect(agreementToJson(parseAgreement(json))).toEqual(json);
    expect(agreementToJson(parseAgreement(agreementJson)).capacity).toBeUndefined();
    expect(problemsOf({ ...agreementJson, capacity: { value: "0", per: "day", x: 1 } })).toEqual([
      "capacity.x",
      "capacity.value",
      "capacity.per",
    ]);
  });

  it("error: the end must follow the start; days and net days are bounded", () => {
    expect(
      problemsOf({
        ...agreementJson,
        billingPeriod: { kind: "days", days: 0, timeZone: "UTC" },
        paymentTerms: { kind: "invoiced", netDays: -1 },
        end: "2024-12-31T00:00:00Z",
      }).sort(),
    ).toEqual(["billingPeriod.days", "end", "paymentTerms.netDays"]);
  });

  it("error: one key with overlapping validity ranges, or no signer", () => {
    expect(
      problemsOf({
        ...agreementJson,
        signers: [
          { address: KEY_A, validFrom: "2025-01-01T00:00:00Z", validUntil: "2025-03-01T00:00:00Z" },
          { address: KEY_A.toLowerCase(), validFrom: "2025-02-01T00:00:00Z" },
        ],
      }),
    ).toEqual(["signers[1]"]);
    expect(problemsOf({ ...agreementJson, signers: [] })).toEqual(["signers"]);
  });
});

describe("validateAgreement", () => {
  it("default: no problems for a valid agreement", () => {
    expect(validateAgreement(agreementJson)).toEqual([]);
  });
});

describe("isSignerAllowed", () => {
  const a = parseAgreement(agreementJson);

  it("default: a key inside its validity range", () => {
    expect(isSignerAllowed(a, KEY_A, new Date("2025-03-01T00:00:00Z"))).toBe(true);
  });

  it("behavior: validFrom is inclusive, validUntil exclusive; both keys valid during the overlap", () => {
    expect(isSignerAllowed(a, KEY_A, new Date("2025-01-01T00:00:00Z"))).toBe(true);
    expect(isSignerAllowed(a, KEY_A, new Date("2025-07-01T00:00:00Z"))).toBe(false);
    expect(isSignerAllowed(a, KEY_B, new Date("2025-06-20T00:00:00Z"))).toBe(true);
    expect(isSignerAllowed(a, KEY_A, new Date("2025-06-20T00:00:00Z"))).toBe(true);
    expect(isSignerAllowed(a, KEY_B, new Date("2025-06-14T23:59:59.999Z"))).toBe(false);
  });

  it("behavior: compares addresses case-insensitively", () => {
    expect(isSignerAllowed(a, KEY_B.toLowerCase(), new Date("2030-01-01T00:00:00Z"))).toBe(true);
  });

  it("behavior: an unknown key is never allowed", () => {
    expect(
      isSignerAllowed(
        a,
        "0x90F79bf6EB2c4f870365E785982E1f101E93b906",
        new Date("2025-03-01T00:00:00Z"),
      ),
    ).toBe(false);
  });
});
