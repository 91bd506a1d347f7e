import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dec, GENESIS_HASH } from "@maaskit/metering";
import {
  entitlementGrantDigest,
  openFeatureGate,
  signEntitlementGrant,
  signEntitlementRevocation,
} from "@maaskit/metering/entitlements";
import { keccak256, toUtf8Bytes } from "ethers";
import { expect, it } from "vitest";
import { parseAgreement } from "../agreement.js";
import { billingPeriodAt } from "../billingPeriodAt.js";
import type { ConformanceSuite } from "./describeLedgerBackend.js";
import { scenarioDay } from "./ledgerScenario.js";

const HOUR = 3_600_000;
const at = (iso: string) => new Date(`2025-01-0${iso}Z`);

/**
 * Features on demand on every backend (docs/entitlements.md): a "boost" feature billed per
 * hour in use on its own agreement, 3 h prepaid per day. The machine's gate allows a use
 * online, one offline within grace (settled later), refuses one beyond the day's budget and
 * one after the vendor's revocation; the ledger settles the feature records like any usage,
 * to the same invoices on every backend.
 */
export function describeFeatureCases(s: ConformanceSuite): void {
  it(
    "behavior: features on demand — allowed online and offline within grace, refused beyond budget and after revocation, the same invoices",
    async () => {
      const { w, clock } = s;
      const ledger = s.ledger();
      clock.set("2025-01-01T00:00:00Z");
      const agreement = parseAgreement({
        agreementId: keccak256(toUtf8Bytes(`maaskit.conformance/case/${s.name}/features`)),
        name: `conformance ${s.name} feature boost`,
        parties: { provider: w.provider.address, customer: w.customer.address },
        machineId: "compressor-7",
        signers: [{ address: w.machineA.address, validFrom: "2025-01-01T00:00:00.000Z" }],
        tariff: {
          version: 1,
          metered: { unit: "HUR" },
          pricing: { model: "perUnit", unitPrice: "4.50" },
          rounding: { mode: "halfEven", decimals: 2 },
        },
        currency: {
          symbol: "EURT",
          decimals: 6,
          ...(s.tokenOpt().token === undefined ? {} : { address: s.tokenOpt().token }),
        },
        billingPeriod: { kind: "days", days: 1, timeZone: "UTC" },
        paymentTerms: { kind: "invoiced", netDays: 30 },
        start: "2025-01-01T00:00:00.000Z",
        status: "active",
      });
      const { recordDomain } = await ledger.openAgreement(agreement);
      await ledger.acceptAgreement({ agreementId: agreement.agreementId, by: w.customer.address });
      const binding = { agreementId: agreement.agreementId, ...recordDomain };
      const grant = await signEntitlementGrant(
        {
          version: 1,
          ...binding,
          issuer: w.provider.address,
          subject: w.machineA.address,
          machineId: "compressor-7",
          featureId: "boost",
          terms: { kind: "perUnit", unit: "HUR", budget: dec(3), periodMs: 24 * HOUR },
          notBefore: at("1T00:00:00.000"),
          notAfter: at("8T00:00:00.000"),
          offlineGraceMs: 48 * HOUR,
          generation: 0,
          prevGrant: GENESIS_HASH,
        },
        { signer: w.provider },
      );
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
        const revocation = await signEntitlementRevocation(
          {
            version: 1,
            ...binding,
            issuer: w.provider.address,
            subject: w.machineA.address,
            machineId: "compressor-7",
            featureId: "boost",
            grant: entitlementGrantDigest(grant),
            generation: 0,
            revokedAt: at("2T12:00:00.000"),
          },
          { signer: w.provider },
        );
        now = at("2T12:30:00.000");
        gate.sync({ revocations: [revocation], at: now });
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
