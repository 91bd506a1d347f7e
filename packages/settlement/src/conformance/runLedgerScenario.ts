import {
  buildPeriodStatement,
  dec,
  meterRecordDigest,
  signPeriodStatement,
} from "@maaskit/metering";
import { keccak256, toUtf8Bytes } from "ethers";
import { signConditionCleared } from "../conditionCleared.js";
import { invoiceToJson } from "../invoice.js";
import type { LedgerBackend, LedgerDomain, WorkOrderTerms } from "../ledger.js";
import {
  balanceToJson,
  conformanceWallets,
  eventsOf,
  normaliseSnapshot,
  type ScenarioClock,
  scenarioAgreement,
  scenarioDay,
  scenarioRecords,
  workOrderToJson,
} from "./ledgerScenario.js";

/** What `runLedgerScenario` returns. */
export interface LedgerScenarioResult {
  /** The normalised snapshot: invoices, balances, work orders, call results and events. */
  readonly snapshot: unknown;
  /** Digest → stable name, for normalising further values. */
  readonly names: ReadonlyMap<string, string>;
}

/** 32-byte id of a scenario work order. */
export function workOrderId(label: string): string {
  return keccak256(toUtf8Bytes(`maaskit.conformance.workOrder/${label}`));
}

/** Work-order terms of the scenario (deadlines relative to `SCENARIO_START`). */
export function scenarioWorkOrder(
  label: string,
  options: { token?: string; amount?: string } = {},
): WorkOrderTerms {
  const w = conformanceWallets();
  return {
    workOrderId: workOrderId(label),
    customer: w.customer.address,
    provider: w.provider.address,
    arbiter: w.arbiter.address,
    machineSigner: w.machineB.address,
    amount: dec(options.amount ?? "150.5"),
    currency:
      options.token === undefined
        ? { symbol: "EURT", decimals: 6 }
        : { symbol: "EURT", decimals: 6, address: options.token },
    acceptBy: new Date("2025-01-03T12:00:00.000Z"),
    completeBy: new Date("2025-01-05T12:00:00.000Z"),
    conditionHash: keccak256(toUtf8Bytes(`condition/${label}`)),
  };
}

/**
 * Runs the deterministic conformance scenario on a ledger and returns its snapshot: two
 * agreements (records path with overdraft → suspension → resumption; statement path with
 * accruing debt), deposits and a withdrawal with idempotency references, duplicate
 * submissions, and three work orders (paid on the machine's confirmation, expired and
 * refunded, disputed and resolved). Every backend must produce the same snapshot.
 *
 * @example const { snapshot } = await runLedgerScenario(ledger, clock)
 */
export async function runLedgerScenario(
  ledger: LedgerBackend,
  clock: ScenarioClock,
  options: { token?: string } = {},
): Promise<LedgerScenarioResult> {
  const w = conformanceWallets();
  const names = new Map<string, string>();
  const results: Record<string, unknown> = {};

  // Agreement 1: records path, prepaid, overdraft suspends.
  clock.set("2025-01-01T00:00:00Z");
  const a1 = scenarioAgreement("scenario/a1", options);
  const id1 = a1.agreementId;
  const opened = await ledger.openAgreement(a1);
  const domain: LedgerDomain = opened.recordDomain;
  results.open1 = opened.status;
  results.open1Again = (await ledger.openAgreement(a1)).status;
  results.status1Offered = (await ledger.getAgreement(id1)).status;
  results.accept1 = (
    await ledger.acceptAgreement({ agreementId: id1, by: w.customer.address })
  ).status;
  const r1 = await scenarioRecords(a1, domain);
  for (const [i, r] of r1.entries()) names.set(meterRecordDigest(r).toLowerCase(), `a1#${i}`);

  clock.set("2025-01-01T00:30:00Z");
  results.deposit1 = (
    await ledger.deposit({
      agreementId: id1,
      amount: dec("20"),
      by: w.customer.address,
      reference: "dep-1",
    })
  ).status;
  results.deposit1Again = (
    await ledger.deposit({
      agreementId: id1,
      amount: dec("20"),
      by: w.customer.address,
      reference: "dep-1",
    })
  ).status;

  clock.set("2025-01-01T12:05:00Z");
  results.submit01 = await ledger.submitRecords({ agreementId: id1, records: r1.slice(0, 2) });
  clock.set("2025-01-02T00:05:00Z");
  results.submit2 = await ledger.submitRecords({ agreementId: id1, records: [r1[2]!] });
  results.submit123 = await ledger.submitRecords({ agreementId: id1, records: r1.slice(1, 4) });
  results.head1 = headJson(await ledger.getRecordsHead(id1));

  clock.set("2025-01-02T00:10:00Z");
  const day0 = await ledger.settlePeriod({ agreementId: id1, period: scenarioDay(0) });
  results.invoiceDay0 = invoiceToJson(day0);
  results.statusAfterOverdraft = (await ledger.getAgreement(id1)).status;
  results.balanceAfterOverdraft = balanceToJson(await ledger.getBalance(id1));

  clock.set("2025-01-02T09:00:00Z");
  results.deposit2 = balanceToJson(
    (
      await ledger.deposit({
        agreementId: id1,
        amount: dec("30.5"),
        by: w.customer.address,
        reference: "dep-2",
      })
    ).balance,
  );
  results.statusAfterDeposit = (await ledger.getAgreement(id1)).status;

  clock.set("2025-01-03T00:05:00Z");
  results.submit4to7 = await ledger.submitRecords({ agreementId: id1, records: r1.slice(4) });
  const day1 = await ledger.settlePeriod({ agreementId: id1, period: scenarioDay(1) });
  results.invoiceDay1 = invoiceToJson(day1);
  clock.set("2025-01-03T00:10:00Z");
  results.withdraw = balanceToJson(
    (
      await ledger.withdraw({
        agreementId: id1,
        amount: dec("0.25"),
        by: w.customer.address,
        reference: "wd-1",
      })
    ).balance,
  );

  // Agreement 2: statement path, prepaid, debt accrues.
  clock.set("2025-01-01T00:00:00Z");
  const a2 = scenarioAgreement("scenario/a2", { ...options, overdraft: "accrueDebt" });
  const id2 = a2.agreementId;
  await ledger.openAgreement(a2, { by: w.customer.address });
  await ledger.acceptAgreement({ agreementId: id2, by: w.provider.address });
  const r2 = await scenarioRecords(a2, domain);
  for (const [i, r] of r2.entries()) names.set(meterRecordDigest(r).toLowerCase(), `a2#${i}`);
  const statement = await signPeriodStatement(buildPeriodStatement(r2.slice(0, 4)), {
    signer: w.machineB,
  });
  clock.set("2025-01-02T00:15:00Z");
  const st = await ledger.settleStatement(statement);
  results.invoiceStatement = invoiceToJson(st);
  results.head2 = headJson(await ledger.getRecordsHead(id2));
  results.submitCoveredByStatement = await ledger.submitRecords({
    agreementId: id2,
    records: r2.slice(2, 5),
  });
  results.balance2 = balanceToJson(await ledger.getBalance(id2));
  results.status2 = (await ledger.getAgreement(id2)).status;

  // Work order 1: funded, accepted, completed, confirmed by the machine, paid.
  clock.set("2025-01-02T10:00:00Z");
  const wo1 = scenarioWorkOrder("scenario/wo1", options);
  results.wo1Open = (await ledger.openWorkOrder(wo1)).status;
  results.wo1OpenAgain = (await ledger.openWorkOrder(wo1)).status;
  await ledger.fundWorkOrder({ workOrderId: wo1.workOrderId, by: w.customer.address });
  clock.set("2025-01-02T11:00:00Z");
  await ledger.acceptWorkOrder({ workOrderId: wo1.workOrderId, by: w.provider.address });
  clock.set("2025-01-03T08:00:00Z");
  const proofHash = keccak256(toUtf8Bytes("service report wo1"));
  await ledger.completeWorkOrder({
    workOrderId: wo1.workOrderId,
    proofHash,
    by: w.provider.address,
  });
  const evidenceHash = meterRecordDigest(r1[7]!);
  const cleared = {
    workOrderId: wo1.workOrderId,
    conditionHash: wo1.conditionHash,
    evidenceHash,
    clearedAt: new Date("2025-01-03T09:00:00.000Z"),
  };
  const signature = await signConditionCleared(w.machineB, domain, cleared);
  clock.set("2025-01-03T09:30:00Z");
  await ledger.confirmWorkOrder({
    workOrderId: wo1.workOrderId,
    attestation: { evidenceHash, clearedAt: cleared.clearedAt, signature },
  });

  // Work order 2: funded, never accepted, expired after acceptBy: refunded.
  clock.set("2025-01-02T10:00:00Z");
  const wo2 = scenarioWorkOrder("scenario/wo2", { ...options, amount: "80" });
  await ledger.openWorkOrder(wo2);
  await ledger.fundWorkOrder({ workOrderId: wo2.workOrderId, by: w.customer.address });
  clock.set("2025-01-03T12:00:01Z");
  await ledger.expireWorkOrder({ workOrderId: wo2.workOrderId, by: w.customer.address });

  // Work order 3: completed, disputed by the customer, split by the arbiter.
  clock.set("2025-01-02T10:00:00Z");
  const wo3 = scenarioWorkOrder("scenario/wo3", { ...options, amount: "100" });
  await ledger.openWorkOrder(wo3);
  await ledger.fundWorkOrder({ workOrderId: wo3.workOrderId, by: w.customer.address });
  await ledger.acceptWorkOrder({ workOrderId: wo3.workOrderId, by: w.provider.address });
  await ledger.completeWorkOrder({
    workOrderId: wo3.workOrderId,
    proofHash: keccak256(toUtf8Bytes("service report wo3")),
    by: w.provider.address,
  });
  clock.set("2025-01-02T14:00:00Z");
  await ledger.disputeWorkOrder({
    workOrderId: wo3.workOrderId,
    reasonHash: keccak256(toUtf8Bytes("pressure still drops")),
    by: w.customer.address,
  });
  clock.set("2025-01-04T10:00:00Z");
  await ledger.resolveDispute({
    workOrderId: wo3.workOrderId,
    toProvider: dec("30.25"),
    by: w.arbiter.address,
  });

  const ids = new Set([id1, id2, wo1.workOrderId, wo2.workOrderId, wo3.workOrderId]);
  const snapshot = {
    results,
    invoices: {
      a1: (await ledger.getInvoices(id1)).map(invoiceToJson),
      a2: (await ledger.getInvoices(id2)).map(invoiceToJson),
    },
    balances: {
      a1: balanceToJson(await ledger.getBalance(id1)),
      a2: balanceToJson(await ledger.getBalance(id2)),
    },
    workOrders: {
      wo1: workOrderToJson(await ledger.getWorkOrder(wo1.workOrderId)),
      wo2: workOrderToJson(await ledger.getWorkOrder(wo2.workOrderId)),
      wo3: workOrderToJson(await ledger.getWorkOrder(wo3.workOrderId)),
    },
    events: eventsOf(await ledger.getEvents(), ids),
  };
  names.set(id1.toLowerCase(), "agreement:a1");
  names.set(id2.toLowerCase(), "agreement:a2");
  return { snapshot: normaliseSnapshot(JSON.parse(JSON.stringify(snapshot)), names), names };
}

function headJson(h: {
  agreementId: string;
  nextSeq: number;
  headHash: string;
  periodEnd: Date | null;
}) {
  return {
    agreementId: h.agreementId,
    nextSeq: h.nextSeq,
    headHash: h.headHash,
    periodEnd: h.periodEnd?.toISOString() ?? null,
  };
}
