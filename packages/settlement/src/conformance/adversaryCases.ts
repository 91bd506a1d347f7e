import { dec, GENESIS_HASH } from "@maaskit/metering";
import { keccak256, toUtf8Bytes } from "ethers";
import { expect, it } from "vitest";
import { signConditionCleared } from "../conditionCleared.js";
import type { ConformanceSuite } from "./describeLedgerBackend.js";
import { scenarioAgreement, scenarioDay, scenarioRecords } from "./ledgerScenario.js";
import { scenarioWorkOrder } from "./runLedgerScenario.js";

/**
 * The adversarial half of the conformance suite: consent, settlement order, revoked keys,
 * funds and work orders attacked by the other party or a stranger. Registered by
 * `describeLedgerBackend` inside its `describe`.
 */
export function describeAdversaryCases(s: ConformanceSuite): void {
  const { name, clock, w, timeout, tokenOpt, fresh, rejects } = s;

  it(
    "adversary: nothing before both parties consent; strangers can neither offer nor accept",
    async () => {
      clock.set("2025-01-01T00:00:00Z");
      const agreement = scenarioAgreement(`case/${name}/consent`, tokenOpt());
      const id = agreement.agreementId;
      await rejects(
        s.ledger().openAgreement(agreement, { by: w.stranger.address }),
        "settlement.agreement.unauthorized",
      );
      const offered = await s.ledger().openAgreement(agreement, { by: w.provider.address });
      expect(offered.status).toBe("offered");
      expect((await s.ledger().getAgreement(id)).status).toBe("pending");
      const records = await scenarioRecords(agreement, offered.recordDomain);
      clock.set("2025-01-02T00:05:00Z");
      await rejects(
        s.ledger().submitRecords({ agreementId: id, records: records.slice(0, 1) }),
        "settlement.agreement.notActive",
      );
      await rejects(
        s.ledger().deposit({ agreementId: id, amount: dec("1"), by: w.customer.address }),
        "settlement.agreement.notActive",
      );
      await rejects(
        s.ledger().acceptAgreement({ agreementId: id, by: w.provider.address }),
        "settlement.agreement.unauthorized",
      );
      await rejects(
        s.ledger().acceptAgreement({ agreementId: id, by: w.stranger.address }),
        "settlement.agreement.unauthorized",
      );
      expect(
        (await s.ledger().acceptAgreement({ agreementId: id, by: w.customer.address })).status,
      ).toBe("active");
      expect(
        (await s.ledger().submitRecords({ agreementId: id, records: records.slice(0, 1) }))
          .accepted,
      ).toBe(1);
    },
    timeout,
  );

  it(
    "adversary: periods settle once each, in calendar order; empty batches are refused",
    async () => {
      const { id, records } = await fresh("calendar");
      clock.set("2025-01-03T00:05:00Z");
      await rejects(
        s.ledger().submitRecords({ agreementId: id, records: [] }),
        "settlement.record.invalid",
      );
      await s.ledger().submitRecords({ agreementId: id, records });
      // Day 1 before day 0 (the customer skipping a period), a sub-period, a future day.
      await rejects(
        s.ledger().settlePeriod({ agreementId: id, period: scenarioDay(1) }),
        "settlement.period.notNext",
      );
      const day0 = scenarioDay(0);
      await rejects(
        s.ledger().settlePeriod({
          agreementId: id,
          period: { start: day0.start, end: new Date(day0.start.getTime() + 1) },
        }),
        "settlement.period.invalid",
      );
      await rejects(
        s.ledger().settlePeriod({ agreementId: id, period: scenarioDay(2) }),
        "settlement.period.notNext",
      );
      await s.ledger().settlePeriod({ agreementId: id, period: day0 });
      await rejects(
        s.ledger().settlePeriod({ agreementId: id, period: day0 }),
        "settlement.period.alreadySettled",
      );
      await s.ledger().settlePeriod({ agreementId: id, period: scenarioDay(1) });
      await rejects(
        s.ledger().settlePeriod({ agreementId: id, period: scenarioDay(2) }),
        "settlement.period.incomplete",
      );
      const invoices = await s.ledger().getInvoices(id);
      expect(invoices.map((i) => i.period.start.toISOString())).toEqual([
        day0.start.toISOString(),
        scenarioDay(1).start.toISOString(),
      ]);
      // Every accepted record is in exactly one settled period.
      const settled = invoices.reduce((n, i) => n + (i.records?.count ?? 0), 0);
      expect(settled).toBe(records.length);
    },
    timeout,
  );

  it(
    "adversary: a revoked key signs nothing more, whatever its timestamps; strangers cannot revoke",
    async () => {
      const { id, records } = await fresh("revoked");
      clock.set("2025-01-02T00:05:00Z");
      await s.ledger().submitRecords({ agreementId: id, records: records.slice(0, 2) });
      const next = records[2]!;
      expect(next.signer.toLowerCase()).toBe(w.machineB.address.toLowerCase());
      await rejects(
        s.ledger().revokeSigner({
          agreementId: id,
          signer: w.machineB.address,
          by: w.stranger.address,
        }),
        "settlement.agreement.unauthorized",
      );
      await s.ledger().revokeSigner({
        agreementId: id,
        signer: w.machineB.address,
        by: w.customer.address,
      });
      await rejects(
        s.ledger().revokeSigner({
          agreementId: id,
          signer: w.machineB.address,
          by: w.provider.address,
        }),
        "settlement.agreement.invalid",
      );
      // Record 2 was signed inside key B's window; after the revocation it is refused all the same.
      await rejects(
        s.ledger().submitRecords({ agreementId: id, records: [next] }),
        "settlement.record.unknownSigner",
      );
      expect((await s.ledger().getRecordsHead(id)).nextSeq).toBe(2);
    },
    timeout,
  );

  it(
    "adversary: a stranger's deposit reference does not block the customer's",
    async () => {
      const { id } = await fresh("references");
      clock.set("2025-01-01T01:00:00Z");
      const squat = await s.ledger().deposit({
        agreementId: id,
        amount: dec("0.000001"),
        by: w.stranger.address,
        reference: "initial-deposit",
      });
      expect(squat.status).toBe("applied");
      const real = await s.ledger().deposit({
        agreementId: id,
        amount: dec("20"),
        by: w.customer.address,
        reference: "initial-deposit",
      });
      expect(real.status).toBe("applied");
      expect(real.balance.available.toFixed()).toBe("20.000001");
      const again = await s.ledger().deposit({
        agreementId: id,
        amount: dec("20"),
        by: w.customer.address,
        reference: "initial-deposit",
      });
      expect(again.status).toBe("duplicate");
    },
    timeout,
  );

  it(
    "behavior: an overdraft suspends (prepaid, suspend) until the due amount is paid",
    async () => {
      const { id, records } = await fresh("overdraft/suspend");
      await s.ledger().deposit({ agreementId: id, amount: dec("1"), by: w.customer.address });
      clock.set("2025-01-02T00:05:00Z");
      await s.ledger().submitRecords({ agreementId: id, records: records.slice(0, 4) });
      const invoice = await s.ledger().settlePeriod({ agreementId: id, period: scenarioDay(0) });
      const balance = await s.ledger().getBalance(id);
      expect(balance.available.toFixed()).toBe("0");
      expect(balance.due.toFixed()).toBe(invoice.total.minus(1).toFixed());
      expect((await s.ledger().getAgreement(id)).status).toBe("suspended");
      await s.ledger().deposit({ agreementId: id, amount: balance.due, by: w.customer.address });
      expect((await s.ledger().getAgreement(id)).status).toBe("active");
      expect((await s.ledger().getBalance(id)).paidToProvider.toFixed()).toBe(
        invoice.total.toFixed(),
      );
    },
    timeout,
  );

  it(
    "behavior: an overdraft accrues debt (prepaid, accrueDebt) and the agreement stays active",
    async () => {
      const { id, records } = await fresh("overdraft/debt", { overdraft: "accrueDebt" });
      clock.set("2025-01-02T00:05:00Z");
      await s.ledger().submitRecords({ agreementId: id, records: records.slice(0, 4) });
      const invoice = await s.ledger().settlePeriod({ agreementId: id, period: scenarioDay(0) });
      expect((await s.ledger().getBalance(id)).due.toFixed()).toBe(invoice.total.toFixed());
      expect((await s.ledger().getAgreement(id)).status).toBe("active");
      const events = (await s.ledger().getEvents()).filter(
        (e) => "agreementId" in e && e.agreementId === id,
      );
      expect(events.map((e) => e.type)).toContain("Overdraft");
    },
    timeout,
  );

  it(
    "error: funds — withdrawing more than the balance, or by another party, or a zero amount",
    async () => {
      const { id } = await fresh("funds");
      await s.ledger().deposit({ agreementId: id, amount: dec("5"), by: w.customer.address });
      await rejects(
        s.ledger().withdraw({ agreementId: id, amount: dec("5.000001"), by: w.customer.address }),
        "settlement.funds.insufficient",
      );
      await rejects(
        s.ledger().withdraw({ agreementId: id, amount: dec("1"), by: w.provider.address }),
        "settlement.funds.unauthorized",
      );
      await rejects(
        s.ledger().deposit({ agreementId: id, amount: dec("0"), by: w.customer.address }),
        "settlement.funds.invalidAmount",
      );
      await rejects(
        s.ledger().deposit({ agreementId: id, amount: dec("0.0000001"), by: w.customer.address }),
        "settlement.funds.invalidAmount",
      );
      expect((await s.ledger().getBalance(id)).available.toFixed()).toBe("5");
    },
    timeout,
  );

  it(
    "error: work orders — wrong party, wrong state, deadlines, forged attestation",
    async () => {
      clock.set("2025-01-02T10:00:00Z");
      const wo = scenarioWorkOrder(`case/${name}/wo`, tokenOpt());
      const id = wo.workOrderId;
      await s.ledger().openWorkOrder(wo);
      await rejects(
        s.ledger().openWorkOrder({ ...wo, amount: dec("1") }),
        "settlement.workOrder.conflict",
      );
      await rejects(
        s.ledger().acceptWorkOrder({ workOrderId: id, by: w.provider.address }),
        "settlement.workOrder.invalidState",
      );
      await rejects(
        s.ledger().fundWorkOrder({ workOrderId: id, by: w.provider.address }),
        "settlement.workOrder.unauthorized",
      );
      await s.ledger().fundWorkOrder({ workOrderId: id, by: w.customer.address });
      await rejects(
        s.ledger().fundWorkOrder({ workOrderId: id, by: w.customer.address }),
        "settlement.workOrder.invalidState",
      );
      await rejects(
        s.ledger().expireWorkOrder({ workOrderId: id, by: w.customer.address }),
        "settlement.workOrder.deadlineNotReached",
      );
      await rejects(
        s.ledger().acceptWorkOrder({ workOrderId: id, by: w.customer.address }),
        "settlement.workOrder.unauthorized",
      );
      await s.ledger().acceptWorkOrder({ workOrderId: id, by: w.provider.address });
      await rejects(
        s.ledger().completeWorkOrder({
          workOrderId: id,
          proofHash: GENESIS_HASH,
          by: w.provider.address,
        }),
        "settlement.workOrder.badProof",
      );
      await s.ledger().completeWorkOrder({
        workOrderId: id,
        proofHash: keccak256(toUtf8Bytes("report")),
        by: w.provider.address,
      });
      const cleared = {
        workOrderId: id,
        conditionHash: wo.conditionHash,
        evidenceHash: keccak256(toUtf8Bytes("evidence")),
        clearedAt: new Date("2025-01-02T11:00:00Z"),
      };
      const forged = await signConditionCleared(w.stranger, s.domain(), cleared);
      await rejects(
        s.ledger().confirmWorkOrder({
          workOrderId: id,
          attestation: { ...cleared, signature: forged },
        }),
        "settlement.workOrder.badProof",
      );
      await rejects(
        s.ledger().confirmWorkOrder({ workOrderId: id, by: w.provider.address }),
        "settlement.workOrder.unauthorized",
      );
      await rejects(
        s.ledger().resolveDispute({ workOrderId: id, toProvider: dec("1"), by: w.arbiter.address }),
        "settlement.workOrder.invalidState",
      );
      const done = await s.ledger().confirmWorkOrder({ workOrderId: id, by: w.customer.address });
      expect(done.status).toBe("released");
      await rejects(
        s.ledger().getWorkOrder(`0x${"cd".repeat(32)}`),
        "settlement.workOrder.notFound",
      );

      const late = scenarioWorkOrder(`case/${name}/wo-late`, tokenOpt());
      await s.ledger().openWorkOrder(late);
      clock.set("2025-01-03T12:00:01Z");
      await rejects(
        s.ledger().fundWorkOrder({ workOrderId: late.workOrderId, by: w.customer.address }),
        "settlement.workOrder.deadlinePassed",
      );
      const expired = await s.ledger().expireWorkOrder({
        workOrderId: late.workOrderId,
        by: w.arbiter.address,
      });
      expect(expired.status).toBe("cancelled");
    },
    timeout,
  );
}
