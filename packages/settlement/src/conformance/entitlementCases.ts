import {
  dec,
  GENESIS_HASH,
  type MeterRecord,
  type MeterRecordBinding,
  meterRecordDigest,
  signMeterRecord,
} from "@maaskit/metering";
import {
  type EntitlementGrant,
  entitlementGrantDigest,
  signEntitlementGrant,
} from "@maaskit/metering/entitlements";
import type { Wallet } from "ethers";
import { expect, it } from "vitest";
import type { ConformanceSuite } from "./describeLedgerBackend.js";
import { at, boostGrant, openFeatureAgreement, revokeBoost } from "./featureCases.js";
import { scenarioDay } from "./ledgerScenario.js";

/**
 * The ledger's own check of feature records (docs/entitlements.md §7), on every backend that
 * holds grants: records signed by the machine's key but not covered by the registered grants
 * — none yet, beyond the day's budget, under the terms of an older generation, after the
 * vendor's revocation, by another of the agreement's keys — are refused with the rule's
 * code, whoever submits them; a use made offline and submitted days later is accepted.
 */
export function describeEntitlementCases(s: ConformanceSuite): void {
  if (!s.entitlements) {
    it(
      "error: a backend that holds no grants refuses them as settlement.ledger.unsupported",
      async () => {
        const { binding } = await openFeatureAgreement(s, "entitlements-unsupported");
        const grant = await signEntitlementGrant(boostGrant(s, binding), {
          signer: s.w.provider,
        });
        await s.rejects(s.ledger().grantEntitlement({ grant }), "settlement.ledger.unsupported");
      },
      s.timeout,
    );
    return;
  }

  it(
    "error: grants the vendor did not sign, of another agreement or machine, tampered or rolled back are refused",
    async () => {
      const { w } = s;
      const ledger = s.ledger();
      const { binding } = await openFeatureAgreement(s, "entitlements-grants");
      const other = await openFeatureAgreement(s, "entitlements-grants-other");
      const g0 = boostGrant(s, binding);
      const grant = (over: object = {}, signer: Wallet = w.provider) =>
        signEntitlementGrant({ ...g0, ...over }, { signer });
      const cases: [Promise<EntitlementGrant>, string][] = [
        [grant({ issuer: w.customer.address }, w.customer), "wrongIssuer"],
        [grant({ chainId: binding.chainId + 1 }), "wrongAgreement"],
        [grant({ subject: w.stranger.address }), "wrongMachine"],
        [grant({ machineId: "compressor-8" }), "wrongMachine"],
        [grant({ generation: 1, prevGrant: `0x${"11".repeat(32)}` }), "brokenChain"],
      ];
      for (const [g, rule] of cases) {
        await s.rejects(
          ledger.grantEntitlement({ grant: await g }),
          `settlement.entitlement.${rule}` as never,
        );
      }
      const signed = await grant();
      const tampered = { ...signed, terms: { ...signed.terms, budget: dec(300) } };
      await s.rejects(
        ledger.grantEntitlement({ grant: tampered }),
        "settlement.entitlement.badSignature",
      );
      // A grant the vendor signed for the other agreement, relabelled for this one.
      const foreign = await signEntitlementGrant(boostGrant(s, other.binding), {
        signer: w.provider,
      });
      await s.rejects(
        ledger.grantEntitlement({ grant: { ...foreign, agreementId: binding.agreementId } }),
        "settlement.entitlement.badSignature",
      );
      expect(await ledger.getEntitlements(binding.agreementId)).toEqual([]);

      const first = await ledger.grantEntitlement({ grant: signed });
      expect(first.grants.map((g) => g.generation)).toEqual([0]);
      // the same grant again changes nothing
      expect((await ledger.grantEntitlement({ grant: signed })).grants.length).toBe(1);
      const g1 = await grant({ generation: 1, prevGrant: entitlementGrantDigest(signed) });
      await ledger.grantEntitlement({ grant: g1 });
      // a more generous generation 0 the vendor once signed cannot come back
      const generous = await grant({ terms: { ...g0.terms, budget: dec(100) } });
      await s.rejects(
        ledger.grantEntitlement({ grant: generous }),
        "settlement.entitlement.rolledBack",
      );
      const fork = await grant({
        generation: 1,
        prevGrant: entitlementGrantDigest(signed),
        offlineGraceMs: 1,
      });
      await s.rejects(
        ledger.grantEntitlement({ grant: fork }),
        "settlement.entitlement.brokenChain",
      );
      const state = await ledger.getEntitlements(binding.agreementId);
      expect(state.map((f) => [f.featureId, f.grants.map((g) => g.generation)])).toEqual([
        ["boost", [0, 1]],
      ]);
    },
    s.timeout,
  );

  it(
    "error: use records without a grant, beyond the budget, under an older generation's terms, after revocation or by another key are refused; an offline use submitted later is accepted",
    async () => {
      const { w, clock } = s;
      const ledger = s.ledger();
      const { agreement, binding } = await openFeatureAgreement(s, "entitlements-uses", {
        withB: true,
        feature: { id: "boost", perActivation: "0.80", perPeriod: "12.50" },
      });
      const id = agreement.agreementId;
      const chain = useChain(binding);
      const submit = (records: MeterRecord[]) => ledger.submitRecords({ agreementId: id, records });
      const refused = async (record: Promise<MeterRecord>, rule: string) =>
        s.rejects(submit([await record]), `settlement.entitlement.${rule}` as never);

      clock.set("2025-01-01T06:30:00Z");
      await refused(chain.use("1T06:00", "1.5", w.machineA), "noGrant");
      // the agreement bills the boost feature: a record of another channel is not its
      const air = await chain.use("1T06:00", "1.5", w.machineA, false, "air");
      await s.rejects(submit([air]), "settlement.record.invalid");
      const g0 = await signEntitlementGrant(boostGrant(s, binding), { signer: w.provider });
      await ledger.grantEntitlement({ grant: g0 });
      await submit([await chain.use("1T06:00", "1.5", w.machineA, true)]);
      // 1.5 + 2 h > the 3 h prepaid for the day; a refused batch leaves nothing behind
      await refused(chain.use("1T10:00", "2", w.machineA), "budgetExhausted");
      const day0 = [
        await chain.use("1T10:00", "1.5", w.machineA, true),
        await chain.use("2T00:00", "0", w.machineA, true),
      ];
      await submit(day0);
      // machine key B is a signer of the agreement, but the grant is for key A
      await refused(chain.use("2T09:00", "1", w.machineB), "wrongMachine");

      // Generation 1 from day 2 12:00: half an hour a day, until day 3.
      const g1 = await signEntitlementGrant(
        {
          ...boostGrant(s, binding),
          terms: { kind: "perUnit", unit: "HUR", budget: dec("0.5"), periodMs: 24 * 3_600_000 },
          notBefore: at("2T12:00:00.000"),
          notAfter: at("3T00:00:00.000"),
          generation: 1,
          prevGrant: entitlementGrantDigest(g0),
        },
        { signer: w.provider },
      );
      await ledger.grantEntitlement({ grant: g1 });
      // Used offline on day 2 at 10:00 under generation 0, submitted on day 3: accepted.
      clock.set("2025-01-03T08:00:00Z");
      await submit([await chain.use("2T10:00", "1", w.machineA, true)]);
      // At 14:00 generation 1 rules: 1 h is beyond its 0.5 h (generation 0 would allow it).
      await refused(chain.use("2T14:00", "1", w.machineA), "budgetExhausted");
      await submit([await chain.use("2T14:00", "0.5", w.machineA, true)]);
      await ledger.revokeEntitlement({
        revocation: await revokeBoost(s, binding, g1, "2T16:00:00.000"),
      });
      await refused(chain.use("2T17:00", "0.25", w.machineA), "revoked");
      await submit([await chain.use("3T00:00", "0", w.machineA, true)]);

      const invoices = [];
      for (const day of [0, 1]) {
        invoices.push(await ledger.settlePeriod({ agreementId: id, period: scenarioDay(day) }));
      }
      // by hand, each day: usage × 4.50, 2 activations × 0.80 = 1.60, the day's 12.50 —
      // day 1: 3 h → 13.50 + 1.60 + 12.50 = 27.60; day 2: 1.5 h → 6.75 + 1.60 + 12.50 = 20.85
      expect(
        invoices.map((i) => [
          i.usage.value.toFixed(),
          i.lines.map((l) => `${l.kind} ${l.amount.toFixed(2)}`),
          i.total.toFixed(2),
        ]),
      ).toEqual([
        ["3", ["usage 13.50", "featureActivation 1.60", "featurePeriod 12.50"], "27.60"],
        ["1.5", ["usage 6.75", "featureActivation 1.60", "featurePeriod 12.50"], "20.85"],
      ]);
      const [boost] = await ledger.getEntitlements(id);
      expect(boost!.revocations.map((r) => r.generation)).toEqual([1]);
      expect(
        boost!.usage.map((u) => [u.grant, u.windowStart.toISOString(), u.used.toFixed()]),
      ).toEqual(
        [
          [entitlementGrantDigest(g0), "2025-01-01T00:00:00.000Z", "3"],
          [entitlementGrantDigest(g0), "2025-01-02T00:00:00.000Z", "1"],
          [entitlementGrantDigest(g1), "2025-01-02T12:00:00.000Z", "0.5"],
        ].sort((a, b) => `${a[0]}@${a[1]}`.localeCompare(`${b[0]}@${b[1]}`)),
      );
    },
    s.timeout,
  );
}

/**
 * Signs the feature records of one agreement as a machine would, one after another; a
 * record is only linked into the chain when it is `kept` (submitted and accepted).
 */
function useChain(binding: MeterRecordBinding) {
  let seq = 0;
  let prevHash: string = GENESIS_HASH;
  let start = at("1T00:00:00.000");
  return {
    async use(
      end: string,
      hours: string,
      signer: Wallet,
      kept = false,
      channel = "feature/boost",
    ): Promise<MeterRecord> {
      const periodEnd = at(`${end}:00.000`);
      const record = await signMeterRecord(
        {
          version: 1,
          ...binding,
          machineId: "compressor-7",
          channel,
          seq,
          periodStart: start,
          periodEnd,
          quantity: { value: dec(hours), unit: "HUR" },
          flags: {},
          clock: "synchronised",
          quarantined: 0,
          prevHash,
        },
        { signer, domain: binding },
      );
      if (kept) {
        seq += 1;
        prevHash = meterRecordDigest(record);
        start = periodEnd;
      }
      return record;
    },
  };
}
