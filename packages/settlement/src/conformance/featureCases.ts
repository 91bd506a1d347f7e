import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dec, GENESIS_HASH, type MeterRecordBinding } from "@maaskit/metering";
import {
  type EntitlementGrant,
  type EntitlementRevocation,
  entitlementGrantDigest,
  openFeatureGate,
  signEntitlementGrant,
  signEntitlementRevocation,
  type UnsignedEntitlementGrant,
} from "@maaskit/metering/entitlements";
import { keccak256, toUtf8Bytes } from "ethers";
import { expect, it } from "vitest";
import { type Agreement, parseAgreement } from "../agreement.js";
import { billingPeriodAt } from "../billingPeriodAt.js";
import type { ConformanceSuite } from "./describeLedgerBackend.js";
import { scenarioDay } from "./ledgerScenario.js";

const HOUR = 3_600_000;
export const at = (iso: string) => new Date(`2025-01-0${iso}Z`);

/**
 * Features on demand on every backend (docs/entitlements.md): a "boost" feature billed per
 * hour in use on its own agreement, 3 h prepaid per day. The machine's gate allows a use
 * online, one offline within grace (settled later), refuses one beyond the day's budget and
 * one after the vendor's revocation; the vendor registers the grant and the revocation on the
 * ledger (where the backend holds grants), which checks each use record against them and
 * settles them like any usage, to the same invoices on every backend.
 */
export function describeFeatureCases(s: ConformanceSuite): void {
  it(
    "behavior: features on demand — allowed online and offline within grace, refused beyond budget and after revocation, the same invoices",
    async () => {
      const { w, clock } = s;
      const ledger = s.ledger();
      const { agreement, binding } = await openFeatureAgreement(s, "features");
      const grant = await signEntitlementGrant(boostGrant(s, binding), { signer: w.provider });
      if (s.entitlements) await ledger.grantEntitlement({ grant });
      const dir = mkdtempSync(join(tmpdir(), "maaskit-conformance-features-"));
      let now = at("1T00:00:00.000");
      const gate = await openFeatureGate({
        file: join(dir, "features.db"),
        issuer: w.provider.address,
        machineId: "compressor-7",
        signer: w.machineA,
        features: {
          boost: { ...binding, billingPeriodEnd: (t) => billingPeriodAt(agreement, t).end },
        },
        clock: () => "synchronised",
        now: () => now,
      });
      try {
        const use = async (iso: string, hours: string) => {
          now = at(iso);
          const d = await gate.useFeature("boost", { amount: dec(hours) });
          return d.allowed ? "allowed" : d.reason;
        };
        gate.sync({ grants: [grant], at: now });
        expect(await use("1T06:00:00.000", "1.5")).toBe("allowed");
        // offline since day 1 00:00: 34 h later still within the 48 h grace
        expect(await use("2T10:00:00.000", "1")).toBe("allowed");
        expect(await use("2T11:00:00.000", "2.5")).toBe("metering.entitlement.budgetExhausted");
        const revocation = await revokeBoost(s, binding, grant, "2T12:00:00.000");
        now = at("2T12:30:00.000");
        gate.sync({ revocations: [revocation], at: now });
        if (s.entitlements) await ledger.revokeEntitlement({ revocation });
        expect(await use("2T12:30:00.000", "0.5")).toBe("metering.entitlement.revoked");
        await gate.closePeriods(at("3T00:00:00.000"));
        const records = gate.records(agreement.agreementId);

        clock.set("2025-01-03T00:05:00Z");
        await ledger.submitRecords({ agreementId: agreement.agreementId, records });
        const invoices = [];
        for (const day of [0, 1]) {
          invoices.push(
            await ledger.settlePeriod({
              agreementId: agreement.agreementId,
              period: scenarioDay(day),
            }),
          );
        }
        expect(
          invoices.map((i) => [i.usage.value.toFixed(), i.usage.unit, i.total.toFixed(2)]),
        ).toEqual([
          ["1.5", "HUR", "6.75"],
          ["1", "HUR", "4.50"],
        ]);
        // day 0: the use and a zero record to midnight; day 1: the offline use and the closing zero record
        expect(invoices.map((i) => i.records?.count)).toEqual([2, 2]);
      } finally {
        gate.close();
        rmSync(dir, { recursive: true, force: true });
      }
    },
    s.timeout,
  );
}

/**
 * Opens (and accepts) the agreement a "boost" feature is billed on: per hour in use at
 * 4.50 (plus `feature` prices when given), daily billing in UTC, signed by machine key A (and
 * B when `withB`, from the start).
 */
export async function openFeatureAgreement(
  s: ConformanceSuite,
  label: string,
  options: {
    withB?: boolean;
    feature?: { id: string; perActivation: string; perPeriod: string };
  } = {},
): Promise<{ agreement: Agreement; binding: MeterRecordBinding }> {
  const { w } = s;
  const ledger = s.ledger();
  s.clock.set("2025-01-01T00:00:00Z");
  const from = "2025-01-01T00:00:00.000Z";
  const agreement = parseAgreement({
    agreementId: keccak256(toUtf8Bytes(`maaskit.conformance/case/${s.name}/${label}`)),
    name: `conformance ${s.name} feature boost`,
    parties: { provider: w.provider.address, customer: w.customer.address },
    machineId: "compressor-7",
    signers: [
      { address: w.machineA.address, validFrom: from },
      ...(options.withB === true ? [{ address: w.machineB.address, validFrom: from }] : []),
    ],
    tariff: {
      version: 1,
      metered: { unit: "HUR" },
      pricing: { model: "perUnit", unitPrice: "4.50" },
      ...(options.feature === undefined ? {} : { feature: options.feature }),
      rounding: { mode: "halfEven", decimals: 2 },
    },
    currency: {
      symbol: "EURT",
      decimals: 6,
      ...(s.tokenOpt().token === undefined ? {} : { address: s.tokenOpt().token }),
    },
    billingPeriod: { kind: "days", days: 1, timeZone: "UTC" },
    paymentTerms: { kind: "invoiced", netDays: 30 },
    start: from,
    status: "active",
  });
  const { recordDomain } = await ledger.openAgreement(agreement);
  await ledger.acceptAgreement({ agreementId: agreement.agreementId, by: w.customer.address });
  return { agreement, binding: { agreementId: agreement.agreementId, ...recordDomain } };
}

/** Generation 0 of the boost grant: per hour in use, 3 h prepaid per day, a week, 48 h grace. */
export function boostGrant(
  s: ConformanceSuite,
  binding: MeterRecordBinding,
): UnsignedEntitlementGrant {
  return {
    ...boostHead(s, binding),
    terms: { kind: "perUnit", unit: "HUR", budget: dec(3), periodMs: 24 * HOUR },
    notBefore: at("1T00:00:00.000"),
    notAfter: at("8T00:00:00.000"),
    offlineGraceMs: 48 * HOUR,
    generation: 0,
    prevGrant: GENESIS_HASH,
  };
}

/** The vendor's signed revocation of a boost grant of machine key A, from `revokedAt`. */
export function revokeBoost(
  s: ConformanceSuite,
  binding: MeterRecordBinding,
  grant: EntitlementGrant,
  revokedAt: string,
): Promise<EntitlementRevocation> {
  return signEntitlementRevocation(
    {
      ...boostHead(s, binding),
      grant: entitlementGrantDigest(grant),
      generation: grant.generation,
      revokedAt: at(revokedAt),
    },
    { signer: s.w.provider },
  );
}

/** What a boost grant and its revocation share: the vendor, machine key A, the feature. */
function boostHead(s: ConformanceSuite, binding: MeterRecordBinding) {
  return {
    version: 1 as const,
    ...binding,
    issuer: s.w.provider.address,
    subject: s.w.machineA.address,
    machineId: "compressor-7",
    featureId: "boost",
  };
}
