import {
  type ClockStatus,
  dec,
  GENESIS_HASH,
  type MeterRecord,
  meterRecordDigest,
  signMeterRecord,
} from "@maaskit/metering";
import {
  type EntitlementRevocation,
  entitlementGrantDigest,
  entitlementGrantToJson,
  entitlementRevocationToJson,
  signEntitlementGrant,
  signEntitlementRevocation,
} from "@maaskit/metering/entitlements";
import { type Signer, Wallet } from "ethers";
import { describe, expect, it } from "vitest";
import { agreementToJson, parseAgreement } from "../agreement.js";
import { recordsToJson } from "../recordsToJson.js";
import { LedgerCore } from "./ledgerCore.js";
import { EMBEDDED_DOMAIN } from "./state.js";

// The ledger's check of feature records, rule by rule, on the rules engine itself (every
// backend but EVM runs it). Times: day 1 = 2025-01-01 UTC; the grant is valid day 1 12:00 to
// day 3 00:00, 2 h a day, revoked from day 2 18:00.

const vendor = Wallet.createRandom();
const customer = Wallet.createRandom();
const machine = Wallet.createRandom();
const AGREEMENT = `0x${"ab".repeat(32)}`;
const binding = { agreementId: AGREEMENT, ...EMBEDDED_DOMAIN };
const t = (day: number, hour: number) => new Date(Date.UTC(2025, 0, day, hour));

async function setUp(revoke = true) {
  const core = new LedgerCore();
  const at = t(1, 0);
  const agreement = parseAgreement({
    agreementId: AGREEMENT,
    name: "boost rules",
    parties: { provider: vendor.address, customer: customer.address },
    machineId: "compressor-7",
    signers: [{ address: machine.address, validFrom: "2025-01-01T00:00:00.000Z" }],
    tariff: {
      metered: { unit: "HUR" },
      pricing: { model: "perUnit", unitPrice: "4.50" },
      rounding: { mode: "halfEven", decimals: 2 },
    },
    currency: { symbol: "EUR", decimals: 2 },
    billingPeriod: { kind: "days", days: 1, timeZone: "UTC" },
    paymentTerms: { kind: "invoiced", netDays: 30 },
    start: "2025-01-01T00:00:00.000Z",
    status: "active",
  });
  core.execute({ t: "openAgreement", agreement: agreementToJson(agreement) }, at);
  // What the boost grant and its revocation share: binding, issuer, machine and feature.
  const boost = {
    version: 1,
    ...binding,
    issuer: vendor.address,
    subject: machine.address,
    machineId: "compressor-7",
    featureId: "boost",
  } as const;
  const grant = await signEntitlementGrant(
    {
      ...boost,
      terms: { kind: "perUnit", unit: "HUR", budget: dec(2), periodMs: 86_400_000 },
      notBefore: t(1, 12),
      notAfter: t(3, 0),
      offlineGraceMs: 0,
      generation: 0,
      prevGrant: GENESIS_HASH,
    },
    { signer: vendor },
  );
  core.execute({ t: "grantEntitlement", grant: entitlementGrantToJson(grant) }, at);
  const revocation = await signEntitlementRevocation(
    {
      ...boost,
      grant: entitlementGrantDigest(grant),
      generation: 0,
      revokedAt: t(2, 18),
    },
    { signer: vendor },
  );
  if (revoke) {
    core.execute(
      { t: "revokeEntitlement", revocation: entitlementRevocationToJson(revocation) },
      at,
    );
  }
  return { core, grant };
}

/** Signed records continuing from 00:00 of day 1: each `[end, hours, clock?]`. */
async function chain(...uses: [Date, string, ClockStatus?][]): Promise<MeterRecord[]> {
  const out: MeterRecord[] = [];
  let prevHash: string = GENESIS_HASH;
  let start = t(1, 0);
  for (const [end, hours, clock] of uses) {
    const r = await signMeterRecord(
      {
        version: 1,
        ...binding,
        machineId: "compressor-7",
        channel: "feature/boost",
        seq: out.length,
        periodStart: start,
        periodEnd: end,
        quantity: { value: dec(hours), unit: "HUR" },
        flags: {},
        clock: clock ?? "synchronised",
        quarantined: 0,
        prevHash,
      },
      { signer: machine, domain: binding },
    );
    out.push(r);
    prevHash = meterRecordDigest(r);
    start = end;
  }
  return out;
}

function submit(core: LedgerCore, records: MeterRecord[]): string {
  try {
    core.execute(
      { t: "submitRecords", agreementId: AGREEMENT, records: recordsToJson(records) },
      t(4, 0),
    );
    return "accepted";
  } catch (err) {
    return (err as { code: string }).code;
  }
}

describe("ledger rules: feature records against registered grants", () => {
  const cases: [string, () => Promise<MeterRecord[]>, string, boolean?][] = [
    ["a use before notBefore", () => chain([t(1, 6), "1"]), "settlement.entitlement.notYetValid"],
    [
      "a use ending at notAfter (exclusive), not revoked",
      () => chain([t(2, 0), "0"], [t(3, 0), "0.5"]),
      "settlement.entitlement.expired",
      false,
    ],
    [
      "a use after notAfter, not revoked",
      () => chain([t(2, 0), "0"], [t(3, 0), "0"], [t(3, 6), "0.5"]),
      "settlement.entitlement.expired",
      false,
    ],
    [
      "the same use after the revocation",
      () => chain([t(2, 0), "0"], [t(3, 0), "0"], [t(3, 6), "0.5"]),
      "settlement.entitlement.revoked",
    ],
    [
      "a use from an unset clock",
      () => chain([t(1, 14), "1", "unknown"]),
      "settlement.entitlement.clockUnknown",
    ],
    [
      "a use ending exactly at revokedAt",
      () => chain([t(2, 0), "0"], [t(2, 18), "0.5"]),
      "settlement.entitlement.revoked",
    ],
    [
      "a batch whose second use is beyond the day's 2 h",
      () => chain([t(1, 14), "1.5"], [t(1, 16), "0.75"]),
      "settlement.entitlement.budgetExhausted",
    ],
    ["uses within the day's 2 h", () => chain([t(1, 14), "1.5"], [t(1, 16), "0.5"]), "accepted"],
    [
      "zero records after revocation and expiry (a chain closed to the boundaries)",
      () => chain([t(2, 0), "0"], [t(3, 0), "0"], [t(4, 0), "0"]),
      "accepted",
    ],
  ];
  for (const [what, records, expected, revoke] of cases) {
    it(`error/behavior: ${what} → ${expected}`, async () => {
      const { core } = await setUp(revoke);
      expect(submit(core, await records())).toBe(expected);
    });
  }

  it("adversary: revocations not signed by the vendor, of another ledger, or of no registered grant are refused", async () => {
    const { core, grant } = await setUp(false);
    const base = {
      version: 1 as const,
      ...binding,
      issuer: vendor.address,
      subject: machine.address,
      machineId: "compressor-7",
      featureId: "boost",
      grant: entitlementGrantDigest(grant),
      generation: 0,
      revokedAt: t(2, 18),
    };
    const submitRevocation = (r: EntitlementRevocation) => {
      try {
        core.execute(
          { t: "revokeEntitlement", revocation: entitlementRevocationToJson(r) },
          t(1, 0),
        );
        return "accepted";
      } catch (err) {
        return (err as { code: string }).code;
      }
    };
    const sign = (over: object, signer: Signer = vendor) =>
      signEntitlementRevocation({ ...base, ...over }, { signer });
    const revoke = async (over: object, signer: Signer = vendor) =>
      submitRevocation(await sign(over, signer));
    // moved to day 2 20:00 after signing
    expect(submitRevocation({ ...(await sign({})), revokedAt: t(2, 20) })).toBe(
      "settlement.entitlement.badSignature",
    );
    expect(await revoke({ issuer: customer.address }, customer)).toBe(
      "settlement.entitlement.wrongIssuer",
    );
    expect(await revoke({ chainId: 5 })).toBe("settlement.entitlement.wrongAgreement");
    expect(await revoke({ grant: `0x${"22".repeat(32)}` })).toBe("settlement.entitlement.noGrant");
    expect(core.entitlements(AGREEMENT)[0]!.revocations).toEqual([]);
    expect(await revoke({})).toBe("accepted");
    expect(await revoke({})).toBe("accepted"); // the same again: no change
    expect(core.entitlements(AGREEMENT)[0]!.revocations.length).toBe(1);
  });

  it("behavior: a refused batch counts nothing; the budget resets with the next day's window", async () => {
    const { core, grant } = await setUp();
    const records = await chain(
      [t(1, 14), "1.5"],
      [t(1, 16), "0.75"],
      [t(2, 0), "0"],
      [t(2, 14), "2"],
    );
    expect(submit(core, records.slice(0, 2))).toBe("settlement.entitlement.budgetExhausted");
    expect(core.entitlements(AGREEMENT)[0]!.usage).toEqual([]);
    const ok = await chain([t(1, 14), "1.5"], [t(2, 0), "0"], [t(2, 14), "2"]);
    expect(submit(core, ok)).toBe("accepted");
    const digest = entitlementGrantDigest(grant);
    expect(
      core
        .entitlements(AGREEMENT)[0]!
        .usage.map((u) => [u.grant, u.windowStart.toISOString(), u.used.toFixed()]),
    ).toEqual([
      [digest, "2025-01-01T12:00:00.000Z", "1.5"],
      [digest, "2025-01-02T12:00:00.000Z", "2"],
    ]);
  });
});
