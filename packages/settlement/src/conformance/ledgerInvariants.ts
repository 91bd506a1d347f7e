import {
  buildPeriodStatement,
  dec,
  type MeterRecord,
  signPeriodStatement,
} from "@maaskit/metering";
import type { Decimal } from "decimal.js";
import fc from "fast-check";
import type { Invoice } from "../invoice.js";
import type { LedgerBackend } from "../ledger.js";
import { isLedgerError } from "../ledgerErrors.js";
import { openAgreementWithConsent } from "../openAgreementWithConsent.js";
import {
  conformanceWallets,
  type ScenarioClock,
  scenarioAgreement,
  scenarioDay,
  scenarioRecords,
} from "./ledgerScenario.js";

/** Who acts: the two parties, and a stranger who also relays. */
export type LedgerActor = "provider" | "customer" | "stranger";

/** One step of a random call sequence against one agreement. */
export type LedgerAction =
  | { readonly t: "submit"; readonly from: number; readonly count: number }
  | { readonly t: "settle"; readonly day: number }
  | { readonly t: "statement"; readonly day: number }
  | {
      readonly t: "deposit";
      readonly who: LedgerActor;
      readonly cents: number;
      readonly ref?: string;
    }
  | { readonly t: "withdraw"; readonly who: LedgerActor; readonly cents: number }
  | { readonly t: "revoke"; readonly who: LedgerActor; readonly key: "machineA" | "machineB" };

const actor = fc.constantFrom<LedgerActor>("provider", "customer", "stranger");

/** Random call sequences by provider, customer, stranger and relayer. */
export const ledgerActions = fc.array(
  fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record({
        t: fc.constant("submit" as const),
        from: fc.nat(8),
        count: fc.integer({ min: 0, max: 5 }),
      }),
    },
    { weight: 3, arbitrary: fc.record({ t: fc.constant("settle" as const), day: fc.nat(2) }) },
    { weight: 2, arbitrary: fc.record({ t: fc.constant("statement" as const), day: fc.nat(1) }) },
    {
      weight: 2,
      arbitrary: fc.record(
        {
          t: fc.constant("deposit" as const),
          who: actor,
          cents: fc.integer({ min: 1, max: 5000 }),
          ref: fc.constantFrom("r1", "r2"),
        },
        { requiredKeys: ["t", "who", "cents"] },
      ),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        t: fc.constant("withdraw" as const),
        who: actor,
        cents: fc.integer({ min: 1, max: 3000 }),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        t: fc.constant("revoke" as const),
        who: actor,
        key: fc.constantFrom("machineA" as const, "machineB" as const),
      }),
    },
  ),
  { maxLength: 14 },
);

/** What a run observed, for the invariants. */
export interface LedgerRunResult {
  readonly paidIn: Decimal;
  readonly withdrawn: Decimal;
  readonly available: Decimal;
  readonly paidToProvider: Decimal;
  readonly invoices: readonly Invoice[];
  readonly acceptedSeqs: readonly { seq: number; periodEnd: number }[];
  readonly agreementStart: number;
  /** Errors that were not ledger errors (must stay empty). */
  readonly unexpected: readonly unknown[];
}

/**
 * Runs `actions` against a fresh agreement (opened by both parties) on `ledger`: every call
 * either succeeds or fails with a ledger error code; returns what the invariants need.
 */
export async function runLedgerActions(
  ledger: LedgerBackend,
  clock: ScenarioClock,
  label: string,
  actions: readonly LedgerAction[],
  options: { readonly token?: string } = {},
): Promise<LedgerRunResult> {
  const w = conformanceWallets();
  clock.set("2025-01-01T00:00:00Z");
  const agreement = scenarioAgreement(
    label,
    options.token === undefined ? {} : { token: options.token },
  );
  const id = agreement.agreementId;
  const { recordDomain } = await openAgreementWithConsent(ledger, agreement);
  const records: MeterRecord[] = await scenarioRecords(agreement, recordDomain);
  clock.set("2025-01-03T00:05:00Z");
  let paidIn = dec(0);
  let withdrawn = dec(0);
  const unexpected: unknown[] = [];
  const attempt = async (fn: () => Promise<unknown>) => {
    try {
      return await fn();
    } catch (err) {
      if (!isLedgerError(err)) unexpected.push(err);
      return undefined;
    }
  };
  for (const a of actions) {
    switch (a.t) {
      case "submit":
        await attempt(() =>
          ledger.submitRecords({
            agreementId: id,
            records: records.slice(a.from, a.from + a.count),
          }),
        );
        break;
      case "settle":
        await attempt(() => ledger.settlePeriod({ agreementId: id, period: scenarioDay(a.day) }));
        break;
      case "statement": {
        const st = await signPeriodStatement(
          buildPeriodStatement(records.slice(a.day * 4, a.day * 4 + 4)),
          { signer: w.machineB },
        );
        await attempt(() => ledger.settleStatement(st));
        break;
      }
      case "deposit": {
        const amount = dec(a.cents).div(100);
        const out = (await attempt(() =>
          ledger.deposit({
            agreementId: id,
            amount,
            by: w[a.who].address,
            ...(a.ref === undefined ? {} : { reference: a.ref }),
          }),
        )) as { status: string } | undefined;
        if (out?.status === "applied") paidIn = paidIn.plus(amount);
        break;
      }
      case "withdraw": {
        const amount = dec(a.cents).div(100);
        const out = (await attempt(() =>
          ledger.withdraw({ agreementId: id, amount, by: w[a.who].address }),
        )) as { status: string } | undefined;
        if (out?.status === "applied") withdrawn = withdrawn.plus(amount);
        break;
      }
      case "revoke":
        await attempt(() =>
          ledger.revokeSigner({ agreementId: id, signer: w[a.key].address, by: w[a.who].address }),
        );
        break;
    }
  }
  const balance = await ledger.getBalance(id);
  const events = await ledger.getEvents();
  return {
    paidIn,
    withdrawn,
    available: balance.available,
    paidToProvider: balance.paidToProvider,
    invoices: await ledger.getInvoices(id),
    acceptedSeqs: events.flatMap((e) =>
      e.type === "RecordAccepted" && e.agreementId === id
        ? [{ seq: e.seq, periodEnd: Date.parse(e.periodEnd) }]
        : [],
    ),
    agreementStart: agreement.start.getTime(),
    unexpected,
  };
}

/**
 * The invariants of a run, as a list of violations (empty when all hold): money paid in =
 * paid out + held; periods settle consecutively from the start, none skipped; every record
 * accepted up to the last settled end lies in exactly one invoice's seq range.
 */
export function ledgerInvariantViolations(r: LedgerRunResult): string[] {
  const out: string[] = [];
  if (r.unexpected.length > 0)
    out.push(`non-ledger errors: ${r.unexpected.map(String).join("; ")}`);
  const held = r.paidToProvider.plus(r.available).plus(r.withdrawn);
  if (!held.eq(r.paidIn)) out.push(`paid in ${r.paidIn} ≠ paid out + held ${held}`);
  let expectedStart = r.agreementStart;
  let nextSeq = 0;
  const covered = new Map<number, number>();
  for (const inv of r.invoices) {
    if (inv.period.start.getTime() !== expectedStart) {
      out.push(
        `period ${inv.period.start.toISOString()} does not follow ${new Date(expectedStart).toISOString()}`,
      );
    }
    expectedStart = inv.period.end.getTime();
    const rec = inv.records;
    if (rec !== null && rec !== undefined && rec.count > 0) {
      const first = Number(rec.firstSeq);
      const last = Number(rec.lastSeq);
      if (first !== nextSeq) out.push(`invoice seqs start at ${first}, expected ${nextSeq}`);
      for (let s = first; s <= last; s++) covered.set(s, (covered.get(s) ?? 0) + 1);
      nextSeq = last + 1;
    }
  }
  for (const a of r.acceptedSeqs) {
    if (a.periodEnd <= expectedStart && covered.get(a.seq) !== 1) {
      out.push(`record ${a.seq} is settled ${covered.get(a.seq) ?? 0} times`);
    }
  }
  return out;
}
