import {
  decimalToString,
  type MeterRecord,
  type PeriodStatement,
  periodStatementFromJson,
  toDecimal,
  verifyPeriodStatement,
} from "@maaskit/metering";
import { billingPeriodAt } from "../billingPeriodAt.js";
import type { Invoice } from "../invoice.js";
import { ledgerError } from "../ledgerErrors.js";
import type { LedgerEvent } from "../ledgerEvents.js";
import { priceRecords } from "../priceRecords.js";
import { activeAgreement, agreementEntry, signerAllowed } from "./agreements.js";
import { type AgreementEntry, type Outcome, type RulesState, ZERO_HASH } from "./state.js";
export function checkPeriod(e: AgreementEntry, start: Date, end: Date): void {
  const agreementId = e.agreement.agreementId;
  if (!(start.getTime() < end.getTime())) {
    throw ledgerError("settlement.period.invalid", "The period must end after it starts", {
      agreementId,
      start: start.toISOString(),
      end: end.toISOString(),
    });
  }
  let expected: { start: Date; end: Date } | undefined;
  try {
    expected = billingPeriodAt(e.agreement, start);
  } catch {
    expected = undefined;
  }
  if (
    expected === undefined ||
    expected.start.getTime() !== start.getTime() ||
    expected.end.getTime() !== end.getTime()
  ) {
    throw ledgerError(
      "settlement.period.invalid",
      "The period is not a billing period of the agreement",
      {
        agreementId,
        start: start.toISOString(),
        end: end.toISOString(),
        expected:
          expected === undefined
            ? null
            : { start: expected.start.toISOString(), end: expected.end.toISOString() },
      },
    );
  }
  // Periods settle in calendar order, each once: exactly the next unsettled one.
  const last = e.settled[e.settled.length - 1];
  const nextStart = last === undefined ? e.agreement.start.getTime() : last.end;
  if (start.getTime() < nextStart) {
    throw ledgerError("settlement.period.alreadySettled", "The period is already settled", {
      agreementId,
      start: start.toISOString(),
      end: end.toISOString(),
      settledUntil: new Date(nextStart).toISOString(),
    });
  }
  if (start.getTime() > nextStart) {
    const next = billingPeriodAt(e.agreement, new Date(nextStart));
    throw ledgerError(
      "settlement.period.notNext",
      "An earlier billing period is not settled yet: periods settle in order",
      {
        agreementId,
        start: start.toISOString(),
        end: end.toISOString(),
        next: { start: next.start.toISOString(), end: next.end.toISOString() },
      },
    );
  }
}

export function settlePeriod(
  core: RulesState,
  agreementId: string,
  start: Date,
  end: Date,
  stamp: string,
): Outcome {
  const e = activeAgreement(core, agreementId);
  checkPeriod(e, start, end);
  if (e.periodEnd === null || e.periodEnd.getTime() < end.getTime()) {
    throw ledgerError(
      "settlement.period.incomplete",
      "The ledger has no records up to the period's end yet",
      { agreementId, end: end.toISOString(), recordsEnd: e.periodEnd?.toISOString() ?? null },
    );
  }
  const inPeriod: { record: MeterRecord; digest: string }[] = [];
  for (const r of e.records.overlapping(start, end)) {
    const rs = r.record.periodStart.getTime();
    const re = r.record.periodEnd.getTime();
    if (re <= start.getTime() || rs >= end.getTime()) continue;
    if (rs < start.getTime() || re > end.getTime()) {
      throw ledgerError("settlement.period.invalid", "A record straddles the period's boundary", {
        agreementId,
        seq: r.record.seq,
      });
    }
    inPeriod.push(r);
  }
  inPeriod.sort((a, b) => a.record.seq - b.record.seq);
  const invoice = priceRecords(
    e.view.tariff,
    // Without prevHash: the ledger checked the chain already, and an invoice from records
    // must equal one from the period's statement (which carries no prevHash).
    inPeriod.map((r) => ({ ...r.record, prevHash: undefined, hash: r.digest })),
    { period: { start, end }, currency: e.view.currency, agreementId },
  );
  const first = inPeriod[0];
  const last = inPeriod[inPeriod.length - 1];
  return book(e, invoice, stamp, {
    source: "records",
    seqFrom: first?.record.seq ?? -1,
    seqTo: last?.record.seq ?? -1,
    headHash: last?.digest ?? ZERO_HASH,
  });
}

export function settleStatement(
  core: RulesState,
  json: unknown,
  stamp: string,
  trusted: boolean,
): Outcome {
  let st: PeriodStatement;
  try {
    st = periodStatementFromJson(json);
  } catch (err) {
    throw ledgerError("settlement.period.invalid", "The statement is malformed", {
      problems: (err as { details?: { problems?: unknown } }).details?.problems ?? String(err),
    });
  }
  const e = activeAgreement(core, st.agreementId);
  const v = e.view;
  const agreementId = st.agreementId;
  if (
    st.chainId !== core.domain.chainId ||
    st.verifyingContract.toLowerCase() !== core.domain.verifyingContract.toLowerCase() ||
    st.machineId !== v.machineId
  ) {
    throw ledgerError("settlement.statement.mismatch", "The statement is bound elsewhere", {
      agreementId,
    });
  }
  if (!trusted) {
    const check = verifyPeriodStatement(st, {});
    if (!check.valid) {
      throw ledgerError(
        "settlement.statement.badSignature",
        "The statement's signature is invalid",
        {
          agreementId,
          reasons: check.reasons,
        },
      );
    }
  }
  if (!signerAllowed(e, st.signer, st.periodEnd, st.lastSeq)) {
    throw ledgerError("settlement.record.unknownSigner", "The statement's signer is not allowed", {
      agreementId,
      signer: st.signer,
    });
  }
  checkPeriod(e, st.periodStart, st.periodEnd);
  const mismatch = (what: string, details: Record<string, unknown> = {}) =>
    ledgerError(
      "settlement.statement.mismatch",
      `The statement does not match the ledger: ${what}`,
      {
        agreementId,
        ...details,
      },
    );
  let advance = false;
  if (st.firstSeq === e.nextSeq) {
    // Continues the chain: the ledger takes the statement's head.
    if (st.startHash !== e.headHash) throw mismatch("startHash", { expected: e.headHash });
    if (e.periodEnd !== null && st.periodStart.getTime() !== e.periodEnd.getTime()) {
      throw mismatch("periodStart", { expected: e.periodEnd.toISOString() });
    }
    advance = true;
  } else if (st.lastSeq < e.nextSeq) {
    // Covers records already on the ledger: every field must match them.
    const records: MeterRecord[] = [];
    for (let s = st.firstSeq; s <= st.lastSeq; s++) {
      const r = e.records.get(s);
      if (r === undefined) throw mismatch("records not on the ledger", { seq: s });
      records.push(r.record);
    }
    const check = verifyPeriodStatement(st, { records });
    if (!check.valid) throw mismatch("fields", { reasons: check.reasons });
  } else {
    throw mismatch("seq range", { nextSeq: e.nextSeq, firstSeq: st.firstSeq });
  }
  if (st.total.unit !== v.tariff.metered.unit || st.total.basis !== v.tariff.metered.basis) {
    throw mismatch("unit", { unit: st.total.unit });
  }
  const synthetic = {
    agreementId,
    seq: st.lastSeq,
    periodStart: st.periodStart,
    periodEnd: st.periodEnd,
    quantity: st.total,
    extras: {
      oee: {
        plannedBusyTimeMs: st.plannedBusyTimeMs,
        actualProductionTimeMs: st.actualProductionTimeMs,
      },
    },
    hash: st.headHash,
  };
  const priced = priceRecords(v.tariff, [synthetic], {
    period: { start: st.periodStart, end: st.periodEnd },
    currency: v.currency,
    agreementId,
  });
  const invoice: Invoice = {
    ...priced,
    records: {
      count: st.lastSeq - st.firstSeq + 1,
      firstSeq: BigInt(st.firstSeq),
      lastSeq: BigInt(st.lastSeq),
      headHash: st.headHash,
    },
  };
  if (advance) {
    e.statementRanges.push({ from: st.firstSeq, to: st.lastSeq });
    e.nextSeq = st.lastSeq + 1;
    e.headHash = st.headHash;
    e.periodEnd = st.periodEnd;
  }
  return book(e, invoice, stamp, {
    source: "statement",
    seqFrom: st.firstSeq,
    seqTo: st.lastSeq,
    headHash: st.headHash,
  });
}

/** Books an invoice: draws the prepaid balance, makes the rest due, applies the overdraft terms. */
export function book(
  e: AgreementEntry,
  invoice: Invoice,
  stamp: string,
  origin: { source: "records" | "statement"; seqFrom: number; seqTo: number; headHash: string },
): Outcome {
  const agreementId = e.agreement.agreementId;
  const total = invoice.total.isNegative() ? toDecimal(0) : invoice.total;
  const fromBalance = total.lte(e.available) ? total : e.available;
  const shortfall = total.minus(fromBalance);
  e.available = e.available.minus(fromBalance);
  e.paid = e.paid.plus(fromBalance);
  e.due = e.due.plus(shortfall);
  e.settled.push({ start: invoice.period.start.getTime(), end: invoice.period.end.getTime() });
  e.invoices.push(invoice);
  const events: LedgerEvent[] = [
    {
      type: "PeriodSettled",
      at: stamp,
      agreementId,
      periodStart: invoice.period.start.toISOString(),
      periodEnd: invoice.period.end.toISOString(),
      source: origin.source,
      seqFrom: origin.seqFrom,
      seqTo: origin.seqTo,
      headHash: origin.headHash,
      total: decimalToString(total),
      paidFromBalance: decimalToString(fromBalance),
      amountDue: decimalToString(shortfall),
    },
  ];
  const overdraft = e.view.overdraft;
  if (overdraft !== null && shortfall.gt(0)) {
    events.push({
      type: "Overdraft",
      at: stamp,
      agreementId,
      periodStart: invoice.period.start.toISOString(),
      shortfall: decimalToString(shortfall),
      due: decimalToString(e.due),
      action: overdraft,
    });
    if (overdraft === "suspend" && e.status === "active") {
      e.status = "suspended";
      events.push({ type: "AgreementSuspended", at: stamp, agreementId, reason: "overdraft" });
    }
  }
  return { result: invoice, events, changed: true };
}

export function invoicesOf(core: RulesState, agreementId: string): readonly Invoice[] {
  return [...agreementEntry(core, agreementId).invoices];
}
