import {
  createMeterRecordVerifier,
  decimalToString,
  encodeMeterRecord,
  GENESIS_HASH,
  type MeterRecord,
  type MeterRecordErrorCode,
  meterRecordFromJson,
  type PeriodStatement,
  periodStatementFromJson,
  toDecimal,
  verifyPeriodStatement,
  ZERO_ADDRESS,
} from "@maaskit/metering";
import type { Decimal } from "decimal.js";
import { getAddress, isAddress } from "ethers/address";
import { type Agreement, agreementToJson, parseAgreement } from "../../agreement.js";
import { billingPeriodAt } from "../../billingPeriodAt.js";
import { recoverConditionCleared } from "../../conditionCleared.js";
import type { Currency } from "../../currency.js";
import type { Invoice } from "../../invoice.js";
import { isSignerAllowed } from "../../isSignerAllowed.js";
import type {
  AgreementState,
  AgreementStatus,
  Balance,
  LedgerDomain,
  RecordsHead,
  SubmitRecordsResult,
  SubmittedRecord,
  WorkOrder,
  WorkOrderTerms,
} from "../../ledger.js";
import { type LedgerErrorCode, ledgerError } from "../../ledgerErrors.js";
import type { LedgerEvent } from "../../ledgerEvents.js";
import { priceRecords } from "../../priceRecords.js";
import type { Tariff } from "../../tariff.js";

/**
 * A command as the embedded ledger logs it: plain JSON, applied by `LedgerCore.execute`.
 * Replaying the logged commands with their logged instants rebuilds the state exactly.
 */
export type Command =
  | { t: "openAgreement"; agreement: unknown; by?: string }
  | { t: "acceptAgreement"; agreementId: string; by: string }
  | { t: "revokeSigner"; agreementId: string; signer: string; by: string }
  | { t: "submitRecords"; agreementId: string; records: unknown[] }
  | { t: "settlePeriod"; agreementId: string; start: string; end: string }
  | { t: "settleStatement"; statement: unknown }
  | { t: "deposit"; agreementId: string; amount: string; by: string; reference?: string }
  | { t: "withdraw"; agreementId: string; amount: string; by: string; reference?: string }
  | { t: "openWorkOrder"; terms: WorkOrderTermsJson }
  | { t: "fundWorkOrder"; workOrderId: string; by: string }
  | { t: "acceptWorkOrder"; workOrderId: string; by: string }
  | { t: "completeWorkOrder"; workOrderId: string; proofHash: string; by: string }
  | {
      t: "confirmWorkOrder";
      workOrderId: string;
      by?: string;
      evidenceHash?: string;
      clearedAt?: string;
      signature?: string;
    }
  | { t: "cancelWorkOrder"; workOrderId: string; by: string }
  | { t: "disputeWorkOrder"; workOrderId: string; reasonHash: string; by: string }
  | { t: "resolveDispute"; workOrderId: string; toProvider: string; by: string }
  | { t: "expireWorkOrder"; workOrderId: string; by: string };

/** JSON form of work-order terms inside a command. */
export interface WorkOrderTermsJson {
  workOrderId: string;
  customer: string;
  provider: string;
  arbiter: string;
  funder: string;
  machineSigner: string;
  amount: string;
  currency: { symbol: string; decimals: number; address?: string };
  acceptBy: string;
  completeBy: string;
  conditionHash: string;
}

/** The outcome of one command: what it returns, the events it emits, whether to log it. */
export interface Outcome {
  readonly result: unknown;
  readonly events: readonly LedgerEvent[];
  /** False when the command changed nothing (a duplicate): it need not be logged. */
  readonly changed: boolean;
}

/** The embedded ledger's domain: off-chain, chain id 0, the zero address. */
const EMBEDDED_DOMAIN: LedgerDomain = { chainId: 0, verifyingContract: ZERO_ADDRESS };

/** What the rules read from an agreement. */
interface AgreementView {
  readonly machineId: string;
  readonly provider: string;
  readonly customer: string;
  readonly currency: Currency;
  readonly tariff: Tariff;
  readonly start: Date;
  readonly end: Date | null;
  /** Prepaid terms: what an overdraft does; invoiced terms: null (a due amount is normal). */
  readonly overdraft: "suspend" | "accrueDebt" | null;
  signerAllowedAt(address: string, at: Date): boolean;
}

function agreementView(a: Agreement): AgreementView {
  const party = (p: string) => (isAddress(p) ? getAddress(p) : p);
  return {
    machineId: a.machineId,
    provider: party(a.parties.provider),
    customer: party(a.parties.customer),
    currency: a.currency,
    tariff: a.tariff,
    start: a.start,
    end: a.end ?? null,
    overdraft: a.paymentTerms.kind === "prepaid" ? a.paymentTerms.overdraft : null,
    signerAllowedAt: (address, at) => isSignerAllowed(a, address, at),
  };
}

interface AgreementEntry {
  readonly agreement: Agreement;
  readonly view: AgreementView;
  readonly canonical: string;
  status: AgreementStatus;
  /** The party that offered the agreement (lower-case); the other one accepts it. */
  readonly offeredBy: string;
  /** Revoked signers (lower-case) → the first seq they may no longer sign. */
  readonly revoked: Map<string, number>;
  /** The billing period the last accepted record ended in (straddle checks without recomputing). */
  period: { start: number; end: number } | null;
  /** Accepted records by seq (absent where a statement settled the seq range). */
  readonly records: AcceptedRecords;
  /** Seq ranges settled from a statement without records on the ledger. */
  readonly statementRanges: { from: number; to: number }[];
  nextSeq: number;
  headHash: string;
  periodEnd: Date | null;
  readonly settled: { start: number; end: number }[];
  readonly invoices: Invoice[];
  available: Decimal;
  due: Decimal;
  paid: Decimal;
  readonly references: Set<string>;
}

/** A record the ledger accepted, with its EIP-712 digest. */
export interface AcceptedRecord {
  readonly record: MeterRecord;
  readonly digest: string;
}

/**
 * Storage seam: where one agreement's accepted records live. In memory by default; the
 * embedded ledger keeps them in SQLite so opening it does not load the history.
 * @internal
 */
export interface AcceptedRecords {
  get(seq: number): AcceptedRecord | undefined;
  set(seq: number, accepted: AcceptedRecord): void;
  /** The records whose period overlaps [start, end), in any order. */
  overlapping(start: Date, end: Date): Iterable<AcceptedRecord>;
}

/** Accepted records in a Map (the default store). @internal */
export function memoryRecords(): AcceptedRecords {
  const map = new Map<number, AcceptedRecord>();
  return {
    get: (seq) => map.get(seq),
    set: (seq, accepted) => void map.set(seq, accepted),
    *overlapping(start, end) {
      for (const r of map.values()) {
        if (r.record.periodEnd > start && r.record.periodStart < end) yield r;
      }
    },
  };
}

interface WorkOrderEntry {
  terms: WorkOrderTerms;
  canonical: string;
  status: WorkOrder["status"];
  proofHash: string | null;
  /** Who paid the escrow in (customer or funder): refunds go back to it. */
  paidBy: string | null;
}

const ZERO_HASH = GENESIS_HASH;
const HEX32 = /^0x[0-9a-f]{64}$/;

/**
 * The rules of the embedded ledger as a deterministic state machine: `execute(command, at)`
 * validates fully before it changes anything, so a rejected command leaves no trace.
 * `trusted` skips signature checks when replaying the ledger's own checksummed log.
 * @internal
 */
export class LedgerCore {
  readonly agreements = new Map<string, AgreementEntry>();
  readonly workOrders = new Map<string, WorkOrderEntry>();

  constructor(
    readonly domain: LedgerDomain = EMBEDDED_DOMAIN,
    /** Storage seam: the record store of an agreement (memory unless the owner persists it). */
    private readonly recordsFor: (agreementId: string) => AcceptedRecords = () => memoryRecords(),
  ) {}

  /**
   * Storage seam: the state of one agreement (or work order) as plain data — everything
   * but its accepted records (kept by `recordsFor`) and its derived view (rebuilt on
   * restore) — so an owner can persist it beside each command and restore it at open
   * instead of replaying the history.
   * @internal
   */
  saveState(kind: "agreement" | "workOrder", id: string): Record<string, unknown> {
    if (kind === "workOrder") {
      const w = this.workOrders.get(id);
      if (w === undefined) throw new Error(`no work order ${id}`);
      return { ...w };
    }
    const { view: _view, records: _records, ...state } = this.agreement(id);
    return state;
  }

  /** Storage seam: the inverse of `saveState`. @internal */
  restoreState(kind: "agreement" | "workOrder", state: Record<string, unknown>): void {
    if (kind === "workOrder") {
      const w = state as unknown as WorkOrderEntry;
      this.workOrders.set(w.terms.workOrderId, w);
      return;
    }
    const agreement = state.agreement as Agreement;
    this.agreements.set(agreement.agreementId, {
      ...(state as unknown as Omit<AgreementEntry, "view" | "records">),
      view: agreementView(agreement),
      records: this.recordsFor(agreement.agreementId),
    });
  }

  execute(cmd: Command, at: Date, trusted = false): Outcome {
    return this.dispatch(cmd, at, iso(at), trusted);
  }

  private dispatch(cmd: Command, at: Date, stamp: string, trusted: boolean): Outcome {
    switch (cmd.t) {
      case "openAgreement":
        return this.openAgreement(cmd.agreement, cmd.by, stamp);
      case "acceptAgreement":
        return this.acceptAgreement(cmd.agreementId, cmd.by, stamp);
      case "revokeSigner":
        return this.revokeSigner(cmd, stamp);
      case "submitRecords":
        return this.submitRecords(cmd.agreementId, cmd.records, stamp, trusted);
      case "settlePeriod":
        return this.settlePeriod(cmd.agreementId, new Date(cmd.start), new Date(cmd.end), stamp);
      case "settleStatement":
        return this.settleStatement(cmd.statement, stamp, trusted);
      case "deposit":
        return this.deposit(cmd, stamp);
      case "withdraw":
        return this.withdraw(cmd, stamp);
      case "openWorkOrder":
        return this.openWorkOrder(cmd.terms, at, stamp);
      default:
        return this.workOrderCommand(cmd, at, stamp, trusted);
    }
  }

  // ───────────────────────────── agreements ─────────────────────────────

  /**
   * One party offers the agreement; it is `pending` until the other accepts. A command without
   * `by` (logs written before two-party consent) opens it at once, as it did then.
   */
  private openAgreement(json: unknown, by: string | undefined, stamp: string): Outcome {
    let agreement: Agreement;
    try {
      agreement = parseAgreement(json);
    } catch (err) {
      throw ledgerError("settlement.agreement.invalid", "The agreement is invalid", {
        problems: (err as { details?: { problems?: unknown } }).details?.problems ?? String(err),
      });
    }
    const canonical = JSON.stringify(agreementToJson(agreement));
    const existing = this.agreements.get(agreement.agreementId);
    if (existing !== undefined) {
      if (existing.canonical !== canonical) {
        throw ledgerError(
          "settlement.agreement.conflict",
          "An agreement with this id and other terms is already open",
          { agreementId: agreement.agreementId },
        );
      }
      return {
        result: { status: "duplicate", recordDomain: this.domain },
        events: [],
        changed: false,
      };
    }
    const view = agreementView(agreement);
    if (by !== undefined && !sameAddress(by, view.provider) && !sameAddress(by, view.customer)) {
      throw ledgerError(
        "settlement.agreement.unauthorized",
        "Only the provider or the customer may offer an agreement",
        { agreementId: agreement.agreementId, by },
      );
    }
    if (agreement.status === "terminated") {
      throw ledgerError(
        "settlement.agreement.notActive",
        "A terminated agreement cannot be opened",
        {
          agreementId: agreement.agreementId,
        },
      );
    }
    const active = agreement.status === "suspended" ? "suspended" : "active";
    this.agreements.set(agreement.agreementId, {
      agreement,
      view,
      canonical,
      status: by === undefined ? active : "pending",
      offeredBy: (by ?? "").toLowerCase(),
      revoked: new Map(),
      period: null,
      records: this.recordsFor(agreement.agreementId),
      statementRanges: [],
      nextSeq: 0,
      headHash: ZERO_HASH,
      periodEnd: null,
      settled: [],
      invoices: [],
      available: toDecimal(0),
      due: toDecimal(0),
      paid: toDecimal(0),
      references: new Set(),
    });
    const opened: LedgerEvent = {
      type: "AgreementOpened",
      at: stamp,
      agreementId: agreement.agreementId,
      machineId: view.machineId,
      provider: view.provider,
      customer: view.customer,
      currency: view.currency.symbol,
    };
    return {
      result: { status: "offered", recordDomain: this.domain },
      events:
        by === undefined
          ? [opened]
          : [
              {
                type: "AgreementOffered",
                at: stamp,
                agreementId: agreement.agreementId,
                by: party(by),
              },
            ],
      changed: true,
    };
  }

  /** The other party accepts a pending agreement. */
  private acceptAgreement(agreementId: string, by: string, stamp: string): Outcome {
    const e = this.agreement(agreementId);
    const v = e.view;
    const isParty = sameAddress(by, v.provider) || sameAddress(by, v.customer);
    if (e.status !== "pending") {
      if (!isParty) throw this.unauthorized(agreementId, by, "accept");
      return { result: this.agreementState(agreementId), events: [], changed: false };
    }
    if (!isParty || sameAddress(by, e.offeredBy))
      throw this.unauthorized(agreementId, by, "accept");
    e.status = e.agreement.status === "suspended" ? "suspended" : "active";
    return {
      result: this.agreementState(agreementId),
      events: [
        {
          type: "AgreementOpened",
          at: stamp,
          agreementId,
          machineId: v.machineId,
          provider: v.provider,
          customer: v.customer,
          currency: v.currency.symbol,
        },
      ],
      changed: true,
    };
  }

  /** Provider or customer revokes a record signer from the current chain head on. */
  private revokeSigner(
    cmd: { agreementId: string; signer: string; by: string },
    stamp: string,
  ): Outcome {
    const e = this.active(cmd.agreementId);
    const v = e.view;
    if (!sameAddress(cmd.by, v.provider) && !sameAddress(cmd.by, v.customer)) {
      throw this.unauthorized(cmd.agreementId, cmd.by, "revoke a signer of");
    }
    const signer = cmd.signer.toLowerCase();
    if (!e.agreement.signers.some((s) => sameAddress(s.address, signer)) || e.revoked.has(signer)) {
      throw ledgerError(
        "settlement.agreement.invalid",
        e.revoked.has(signer)
          ? "The signer is revoked already"
          : "The signer is not a signer of this agreement",
        { agreementId: cmd.agreementId, signer: cmd.signer },
      );
    }
    e.revoked.set(signer, e.nextSeq);
    return {
      result: this.agreementState(cmd.agreementId),
      events: [
        {
          type: "SignerRevoked",
          at: stamp,
          agreementId: cmd.agreementId,
          signer: party(cmd.signer),
          cutoffSeq: e.nextSeq,
          by: party(cmd.by),
        },
      ],
      changed: true,
    };
  }

  private unauthorized(agreementId: string, by: string, what: string) {
    return ledgerError(
      "settlement.agreement.unauthorized",
      `This party may not ${what} the agreement`,
      { agreementId, by },
    );
  }

  /** An agreement both parties consented to (active or suspended); pending: `notActive`. */
  private active(agreementId: string): AgreementEntry {
    const e = this.agreement(agreementId);
    if (e.status === "pending") {
      throw ledgerError(
        "settlement.agreement.notActive",
        "The agreement waits for the other party's acceptance",
        { agreementId },
      );
    }
    return e;
  }

  /** Whether `signer` may sign the record with `seq` ending at `at`. */
  private signerAllowed(e: AgreementEntry, signer: string, at: Date, seq: number): boolean {
    const cutoff = e.revoked.get(signer.toLowerCase());
    return (cutoff === undefined || seq < cutoff) && e.view.signerAllowedAt(signer, at);
  }

  agreement(agreementId: string): AgreementEntry {
    const entry = this.agreements.get(agreementId);
    if (entry === undefined) {
      throw ledgerError("settlement.agreement.notFound", "No such agreement on this ledger", {
        agreementId,
      });
    }
    return entry;
  }

  agreementState(agreementId: string): AgreementState {
    const e = this.agreement(agreementId);
    return { agreement: e.agreement, status: e.status, recordDomain: this.domain };
  }

  balance(agreementId: string): Balance {
    const e = this.agreement(agreementId);
    return {
      agreementId,
      currency: e.view.currency,
      available: e.available,
      due: e.due,
      paidToProvider: e.paid,
    };
  }

  head(agreementId: string): RecordsHead {
    const e = this.agreement(agreementId);
    return { agreementId, nextSeq: e.nextSeq, headHash: e.headHash, periodEnd: e.periodEnd };
  }

  // ─────────────────────────────── records ──────────────────────────────

  private submitRecords(
    agreementId: string,
    raw: readonly unknown[],
    stamp: string,
    trusted: boolean,
  ): Outcome {
    const e = this.active(agreementId);
    const v = e.view;
    if (raw.length === 0) {
      throw ledgerError("settlement.record.invalid", "An empty batch of records", { agreementId });
    }
    let period = e.period;
    // Expectations move through the batch as if each record were applied; nothing is
    // written to `e` until every record passed.
    let nextSeq = e.nextSeq;
    let headHash = e.headHash;
    let periodEnd = e.periodEnd;
    const verifier = trusted
      ? undefined
      : createMeterRecordVerifier({
          agreement: { agreementId, ...this.domain },
          // The machine's capacity bounds every record's quantity (docs/meter-record.md §2.4).
          ...(e.agreement.capacity === undefined
            ? {}
            : {
                capacity: {
                  value: e.agreement.capacity.value,
                  per: e.agreement.capacity.per,
                  unit: v.tariff.metered.unit,
                },
              }),
          expectedStart: {
            seq: e.nextSeq,
            prevHash: e.headHash,
            ...(e.periodEnd === null ? {} : { periodEnd: e.periodEnd }),
          },
        });
    const results: SubmittedRecord[] = [];
    const accepted: { record: MeterRecord; digest: string }[] = [];
    for (const item of raw) {
      let record: MeterRecord;
      try {
        record = meterRecordFromJson(item);
      } catch (err) {
        throw ledgerError("settlement.record.invalid", "The record is malformed", {
          agreementId,
          problems: (err as { details?: { problems?: unknown } }).details?.problems ?? String(err),
        });
      }
      const seq = record.seq;
      const fail = (
        code: LedgerErrorCode,
        message: string,
        details: Record<string, unknown> = {},
      ) => ledgerError(code, `seq ${seq}: ${message}`, { agreementId, seq, ...details });
      if (
        record.agreementId !== agreementId ||
        record.chainId !== this.domain.chainId ||
        record.verifyingContract.toLowerCase() !== this.domain.verifyingContract.toLowerCase()
      ) {
        throw fail("settlement.record.wrongAgreement", "the record is bound to another agreement", {
          recordAgreementId: record.agreementId,
          chainId: record.chainId,
          verifyingContract: record.verifyingContract,
        });
      }
      if (record.machineId !== v.machineId) {
        throw fail("settlement.record.wrongAgreement", "the record is of another machine", {
          machineId: record.machineId,
          expected: v.machineId,
        });
      }
      // The verifier encodes the record once (its digest); outside the verifier (replay of
      // the ledger's own log, or a seq already taken) encode it here.
      const check = verifier !== undefined && seq === nextSeq ? verifier.check(record) : undefined;
      let digest: string;
      try {
        digest = check?.digest ?? encodeMeterRecord(record).digest;
      } catch (err) {
        throw fail("settlement.record.invalid", "the record cannot be encoded", {
          cause: (err as Error).message,
        });
      }
      if (seq < nextSeq) {
        const prior = e.records.get(seq) ?? accepted.find((a) => a.record.seq === seq);
        if (prior !== undefined) {
          if (prior.digest === digest && prior.record.signature === record.signature) {
            results.push({ seq, status: "duplicate", recordHash: digest });
            continue;
          }
          throw fail(
            "settlement.record.conflict",
            "a different record with this seq was accepted",
            {
              acceptedHash: prior.digest,
              recordHash: digest,
            },
          );
        }
        // Settled by a statement: the ledger keeps only the range's head hash.
        results.push({ seq, status: "duplicate", recordHash: digest });
        continue;
      }
      if (seq > nextSeq) {
        throw fail("settlement.record.seqGap", `expected seq ${nextSeq}`, { expectedSeq: nextSeq });
      }
      if (
        record.quantity.unit !== v.tariff.metered.unit ||
        record.quantity.basis !== v.tariff.metered.basis
      ) {
        throw fail("settlement.record.invalid", "the billed quantity is not in the tariff's unit", {
          unit: record.quantity.unit,
          basis: record.quantity.basis ?? null,
        });
      }
      if (check !== undefined) {
        const has = (c: MeterRecordErrorCode) => check.reasons.includes(c);
        if (has("metering.record.malformed")) {
          throw fail("settlement.record.invalid", "the record is malformed", {
            reasons: check.reasons,
          });
        }
        if (has("metering.record.badSignature")) {
          throw fail("settlement.record.badSignature", "the signature does not match the record", {
            signer: record.signer,
          });
        }
        if (has("metering.record.exceedsCapacity")) {
          throw fail("settlement.record.invalid", "the quantity exceeds the agreement's capacity", {
            reasons: check.reasons,
            quantity: record.quantity.value.toFixed(),
          });
        }
      }
      if (!this.signerAllowed(e, record.signer, record.periodEnd, seq)) {
        throw fail(
          "settlement.record.unknownSigner",
          "the signer is not allowed (time or revocation)",
          {
            signer: record.signer,
            at: record.periodEnd.toISOString(),
          },
        );
      }
      if (record.prevHash !== headHash) {
        throw fail("settlement.record.brokenChain", "prevHash is not the head of the chain", {
          expected: headHash,
          actual: record.prevHash,
        });
      }
      if (periodEnd !== null) {
        const start = record.periodStart.getTime();
        if (start < periodEnd.getTime()) {
          throw fail("settlement.record.periodOverlap", "the period overlaps the previous one", {
            previousEnd: periodEnd.toISOString(),
          });
        }
        if (start > periodEnd.getTime()) {
          throw fail(
            "settlement.record.periodGap",
            "the period leaves a gap after the previous one",
            {
              previousEnd: periodEnd.toISOString(),
            },
          );
        }
      }
      if (
        record.periodStart.getTime() < v.start.getTime() ||
        (v.end !== null && record.periodEnd.getTime() > v.end.getTime())
      ) {
        throw fail(
          "settlement.record.outsideTerm",
          "the period lies outside the agreement's term",
          {
            start: v.start.toISOString(),
            end: v.end?.toISOString() ?? null,
          },
        );
      }
      const rs = record.periodStart.getTime();
      if (period === null || rs < period.start || rs >= period.end) {
        const p = billingPeriodAt(e.agreement, record.periodStart);
        period = { start: p.start.getTime(), end: p.end.getTime() };
      }
      if (record.periodEnd.getTime() > period.end) {
        throw fail(
          "settlement.record.straddlesPeriod",
          "the record straddles the end of its billing period",
          { periodEnd: new Date(period.end).toISOString() },
        );
      }
      accepted.push({ record, digest });
      results.push({ seq, status: "accepted", recordHash: digest });
      nextSeq = seq + 1;
      headHash = digest;
      periodEnd = record.periodEnd;
    }
    const events: LedgerEvent[] = [];
    for (const a of accepted) {
      e.records.set(a.record.seq, a);
      events.push({
        type: "RecordAccepted",
        at: stamp,
        agreementId,
        seq: a.record.seq,
        recordHash: a.digest,
        periodStart: a.record.periodStart.toISOString(),
        periodEnd: a.record.periodEnd.toISOString(),
      });
    }
    e.nextSeq = nextSeq;
    e.headHash = headHash;
    e.periodEnd = periodEnd;
    e.period = period;
    const result: SubmitRecordsResult = {
      agreementId,
      results,
      accepted: accepted.length,
      duplicates: results.length - accepted.length,
    };
    return { result, events, changed: accepted.length > 0 };
  }

  // ────────────────────────────── settlement ─────────────────────────────

  private checkPeriod(e: AgreementEntry, start: Date, end: Date): void {
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

  private settlePeriod(agreementId: string, start: Date, end: Date, stamp: string): Outcome {
    const e = this.active(agreementId);
    this.checkPeriod(e, start, end);
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
    return this.book(e, invoice, stamp, {
      source: "records",
      seqFrom: first?.record.seq ?? -1,
      seqTo: last?.record.seq ?? -1,
      headHash: last?.digest ?? ZERO_HASH,
    });
  }

  private settleStatement(json: unknown, stamp: string, trusted: boolean): Outcome {
    let st: PeriodStatement;
    try {
      st = periodStatementFromJson(json);
    } catch (err) {
      throw ledgerError("settlement.period.invalid", "The statement is malformed", {
        problems: (err as { details?: { problems?: unknown } }).details?.problems ?? String(err),
      });
    }
    const e = this.active(st.agreementId);
    const v = e.view;
    const agreementId = st.agreementId;
    if (
      st.chainId !== this.domain.chainId ||
      st.verifyingContract.toLowerCase() !== this.domain.verifyingContract.toLowerCase() ||
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
    if (!this.signerAllowed(e, st.signer, st.periodEnd, st.lastSeq)) {
      throw ledgerError(
        "settlement.record.unknownSigner",
        "The statement's signer is not allowed",
        {
          agreementId,
          signer: st.signer,
        },
      );
    }
    this.checkPeriod(e, st.periodStart, st.periodEnd);
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
    return this.book(e, invoice, stamp, {
      source: "statement",
      seqFrom: st.firstSeq,
      seqTo: st.lastSeq,
      headHash: st.headHash,
    });
  }

  /** Books an invoice: draws the prepaid balance, makes the rest due, applies the overdraft terms. */
  private book(
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

  invoices(agreementId: string): readonly Invoice[] {
    return [...this.agreement(agreementId).invoices];
  }

  // ──────────────────────────────── funds ────────────────────────────────

  private amount(e: AgreementEntry, raw: string, field = "amount"): Decimal {
    let d: Decimal;
    try {
      d = toDecimal(raw, field);
    } catch {
      throw ledgerError("settlement.funds.invalidAmount", "The amount is not a decimal", {
        agreementId: e.agreement.agreementId,
        amount: raw,
      });
    }
    if (!d.gt(0) || d.decimalPlaces() > e.view.currency.decimals) {
      throw ledgerError(
        "settlement.funds.invalidAmount",
        `The amount must be positive with at most ${e.view.currency.decimals} decimals`,
        { agreementId: e.agreement.agreementId, amount: raw },
      );
    }
    return d;
  }

  /** A funds reference is scoped to its sender: another sender's use does not block it. */
  private funds(
    cmd: { agreementId: string; by: string; reference?: string },
    e: AgreementEntry,
  ): { duplicate: boolean; key?: string } {
    if (cmd.reference === undefined) return { duplicate: false };
    const key = `${cmd.by.toLowerCase()}|${cmd.reference}`;
    return { duplicate: e.references.has(key), key };
  }

  private deposit(
    cmd: { agreementId: string; amount: string; by: string; reference?: string },
    stamp: string,
  ): Outcome {
    const e = this.active(cmd.agreementId);
    const amount = this.amount(e, cmd.amount);
    address(cmd.by, "by", "settlement.funds.unauthorized");
    const ref = this.funds(cmd, e);
    if (ref.duplicate) {
      return {
        result: { status: "duplicate", balance: this.balance(cmd.agreementId) },
        events: [],
        changed: false,
      };
    }
    if (ref.key !== undefined) e.references.add(ref.key);
    const toDue = amount.lte(e.due) ? amount : e.due;
    e.due = e.due.minus(toDue);
    e.paid = e.paid.plus(toDue);
    e.available = e.available.plus(amount.minus(toDue));
    const events: LedgerEvent[] = [
      {
        type: "FundsDeposited",
        at: stamp,
        agreementId: cmd.agreementId,
        amount: decimalToString(amount),
        appliedToDue: decimalToString(toDue),
        balance: decimalToString(e.available),
        due: decimalToString(e.due),
        ...(cmd.reference === undefined ? {} : { reference: cmd.reference }),
      },
    ];
    if (e.status === "suspended" && e.due.isZero()) {
      e.status = "active";
      events.push({ type: "AgreementResumed", at: stamp, agreementId: cmd.agreementId });
    }
    return {
      result: { status: "applied", balance: this.balance(cmd.agreementId) },
      events,
      changed: true,
    };
  }

  private withdraw(
    cmd: { agreementId: string; amount: string; by: string; reference?: string },
    stamp: string,
  ): Outcome {
    const e = this.active(cmd.agreementId);
    const amount = this.amount(e, cmd.amount);
    const ref = this.funds(cmd, e);
    if (ref.duplicate) {
      return {
        result: { status: "duplicate", balance: this.balance(cmd.agreementId) },
        events: [],
        changed: false,
      };
    }
    if (!sameAddress(cmd.by, e.view.customer)) {
      throw ledgerError("settlement.funds.unauthorized", "Only the customer may withdraw", {
        agreementId: cmd.agreementId,
        by: cmd.by,
      });
    }
    if (amount.gt(e.available)) {
      throw ledgerError("settlement.funds.insufficient", "The prepaid balance is too small", {
        agreementId: cmd.agreementId,
        amount: decimalToString(amount),
        available: decimalToString(e.available),
      });
    }
    if (ref.key !== undefined) e.references.add(ref.key);
    e.available = e.available.minus(amount);
    return {
      result: { status: "applied", balance: this.balance(cmd.agreementId) },
      events: [
        {
          type: "FundsWithdrawn",
          at: stamp,
          agreementId: cmd.agreementId,
          amount: decimalToString(amount),
          balance: decimalToString(e.available),
          ...(cmd.reference === undefined ? {} : { reference: cmd.reference }),
        },
      ],
      changed: true,
    };
  }

  // ───────────────────────────── work orders ─────────────────────────────

  private openWorkOrder(json: WorkOrderTermsJson, at: Date, stamp: string): Outcome {
    const terms = workOrderTermsFromJson(json);
    const canonical = JSON.stringify(workOrderTermsToJson(terms));
    const existing = this.workOrders.get(terms.workOrderId);
    if (existing !== undefined) {
      if (existing.canonical !== canonical) {
        throw ledgerError("settlement.workOrder.conflict", "A work order with this id exists", {
          workOrderId: terms.workOrderId,
        });
      }
      return {
        result: { status: "duplicate", workOrder: this.workOrder(terms.workOrderId) },
        events: [],
        changed: false,
      };
    }
    const problems: string[] = [];
    const zero = ZERO_ADDRESS.toLowerCase();
    if (sameAddress(terms.provider, zero) || sameAddress(terms.provider, terms.customer)) {
      problems.push("provider");
    }
    if (
      sameAddress(terms.arbiter, zero) ||
      sameAddress(terms.arbiter, terms.customer) ||
      sameAddress(terms.arbiter, terms.provider)
    ) {
      problems.push("arbiter");
    }
    if (!terms.amount.gt(0) || terms.amount.decimalPlaces() > terms.currency.decimals) {
      problems.push("amount");
    }
    if (
      terms.acceptBy.getTime() <= secondsFloor(at) ||
      terms.completeBy.getTime() < terms.acceptBy.getTime()
    ) {
      problems.push("deadlines");
    }
    if (problems.length > 0) {
      throw ledgerError(
        "settlement.workOrder.invalid",
        `Invalid work-order terms: ${problems.join(", ")}`,
        {
          workOrderId: terms.workOrderId,
          problems,
        },
      );
    }
    this.workOrders.set(terms.workOrderId, {
      terms,
      canonical,
      status: "open",
      proofHash: null,
      paidBy: null,
    });
    const j = workOrderTermsToJson(terms);
    return {
      result: { status: "opened", workOrder: this.workOrder(terms.workOrderId) },
      events: [
        {
          type: "WorkOrderOpened",
          at: stamp,
          workOrderId: j.workOrderId,
          customer: j.customer,
          provider: j.provider,
          arbiter: j.arbiter,
          funder: j.funder,
          machineSigner: j.machineSigner,
          amount: j.amount,
          currency: j.currency.symbol,
          acceptBy: j.acceptBy,
          completeBy: j.completeBy,
          conditionHash: j.conditionHash,
        },
      ],
      changed: true,
    };
  }

  workOrder(workOrderId: string): WorkOrder {
    const w = this.workOrders.get(workOrderId);
    if (w === undefined) {
      throw ledgerError("settlement.workOrder.notFound", "No such work order", { workOrderId });
    }
    return { ...w.terms, status: w.status, proofHash: w.proofHash };
  }

  private workOrderCommand(cmd: Command, at: Date, stamp: string, trusted: boolean): Outcome {
    if (!("workOrderId" in cmd)) throw new Error(`unknown command ${(cmd as { t: string }).t}`);
    const id = cmd.workOrderId;
    const w = this.workOrders.get(id);
    if (w === undefined) {
      throw ledgerError("settlement.workOrder.notFound", "No such work order", { workOrderId: id });
    }
    const t = w.terms;
    const now = secondsFloor(at);
    const deny = (by: string | undefined) =>
      ledgerError("settlement.workOrder.unauthorized", "This party may not do that", {
        workOrderId: id,
        by: by ?? null,
      });
    const wrongState = () =>
      ledgerError("settlement.workOrder.invalidState", `The work order is ${w.status}`, {
        workOrderId: id,
        status: w.status,
      });
    const passed = (deadline: Date) =>
      ledgerError("settlement.workOrder.deadlinePassed", "The deadline has passed", {
        workOrderId: id,
        deadline: iso(deadline),
      });
    const amount = decimalToString(t.amount);
    const done = (events: LedgerEvent[]): Outcome => ({
      result: this.workOrder(id),
      events,
      changed: true,
    });
    switch (cmd.t) {
      case "fundWorkOrder": {
        if (
          !sameAddress(cmd.by, t.customer) &&
          !(t.funder !== undefined && sameAddress(cmd.by, t.funder))
        ) {
          throw deny(cmd.by);
        }
        if (w.status !== "open") throw wrongState();
        if (now > t.acceptBy.getTime()) throw passed(t.acceptBy);
        w.status = "funded";
        w.paidBy = checksum(cmd.by);
        return done([
          { type: "WorkOrderFunded", at: stamp, workOrderId: id, from: checksum(cmd.by), amount },
        ]);
      }
      case "acceptWorkOrder": {
        if (!sameAddress(cmd.by, t.provider)) throw deny(cmd.by);
        if (w.status !== "funded") throw wrongState();
        if (now > t.acceptBy.getTime()) throw passed(t.acceptBy);
        w.status = "accepted";
        return done([
          { type: "WorkOrderAccepted", at: stamp, workOrderId: id, provider: checksum(t.provider) },
        ]);
      }
      case "completeWorkOrder": {
        if (!sameAddress(cmd.by, t.provider)) throw deny(cmd.by);
        if (w.status !== "accepted") throw wrongState();
        if (now > t.completeBy.getTime()) throw passed(t.completeBy);
        if (!HEX32.test(cmd.proofHash) || cmd.proofHash === ZERO_HASH) {
          throw ledgerError(
            "settlement.workOrder.badProof",
            "The proof hash must be a non-zero bytes32",
            {
              workOrderId: id,
            },
          );
        }
        w.status = "completed";
        w.proofHash = cmd.proofHash;
        return done([
          {
            type: "WorkOrderCompleted",
            at: stamp,
            workOrderId: id,
            provider: checksum(t.provider),
            proofHash: cmd.proofHash,
          },
        ]);
      }
      case "confirmWorkOrder": {
        let by: string;
        let evidenceHash: string;
        let clearedAt: string;
        if (cmd.signature !== undefined) {
          if (w.status !== "completed") throw wrongState();
          if (t.machineSigner === undefined) throw deny(undefined);
          evidenceHash = cmd.evidenceHash ?? "";
          const cleared = new Date(cmd.clearedAt ?? "");
          if (!HEX32.test(evidenceHash) || Number.isNaN(cleared.getTime())) {
            throw ledgerError("settlement.workOrder.badProof", "The attestation is malformed", {
              workOrderId: id,
            });
          }
          if (!trusted) {
            const signer = recoverConditionCleared(
              this.domain,
              { workOrderId: id, conditionHash: t.conditionHash, evidenceHash, clearedAt: cleared },
              cmd.signature,
            );
            if (signer === null || !sameAddress(signer, t.machineSigner)) {
              throw ledgerError(
                "settlement.workOrder.badProof",
                "The attestation is not signed by the machine's key",
                { workOrderId: id, signer },
              );
            }
          }
          by = checksum(t.machineSigner);
          clearedAt = iso(cleared);
        } else {
          if (!sameAddress(cmd.by ?? "", t.customer)) throw deny(cmd.by);
          if (w.status !== "completed") throw wrongState();
          by = checksum(t.customer);
          evidenceHash = cmd.evidenceHash ?? ZERO_HASH;
          if (!HEX32.test(evidenceHash)) {
            throw ledgerError("settlement.workOrder.badProof", "evidenceHash must be bytes32", {
              workOrderId: id,
            });
          }
          clearedAt = stamp;
        }
        w.status = "released";
        return done([
          { type: "WorkOrderConfirmed", at: stamp, workOrderId: id, by, evidenceHash, clearedAt },
          {
            type: "WorkOrderReleased",
            at: stamp,
            workOrderId: id,
            provider: checksum(t.provider),
            amount,
          },
        ]);
      }
      case "cancelWorkOrder": {
        if (!sameAddress(cmd.by, t.customer) && !sameAddress(cmd.by, t.provider))
          throw deny(cmd.by);
        if (w.status === "open") {
          w.status = "cancelled";
          return done([
            { type: "WorkOrderCancelled", at: stamp, workOrderId: id, by: checksum(cmd.by) },
          ]);
        }
        if (w.status === "funded") {
          w.status = "refunded";
          return done([
            { type: "WorkOrderCancelled", at: stamp, workOrderId: id, by: checksum(cmd.by) },
            {
              type: "WorkOrderRefunded",
              at: stamp,
              workOrderId: id,
              customer: checksum(t.customer),
              to: w.paidBy ?? checksum(t.customer),
              amount,
            },
          ]);
        }
        throw wrongState();
      }
      case "expireWorkOrder": {
        if (!sameAddress(cmd.by, t.customer) && !sameAddress(cmd.by, t.arbiter)) throw deny(cmd.by);
        let deadline: Date;
        if (w.status === "open" || w.status === "funded") deadline = t.acceptBy;
        else if (w.status === "accepted") deadline = t.completeBy;
        else throw wrongState();
        if (now <= deadline.getTime()) {
          throw ledgerError(
            "settlement.workOrder.deadlineNotReached",
            "The deadline has not passed",
            {
              workOrderId: id,
              deadline: iso(deadline),
            },
          );
        }
        if (w.status === "open") {
          w.status = "cancelled";
          return done([
            { type: "WorkOrderCancelled", at: stamp, workOrderId: id, by: checksum(cmd.by) },
          ]);
        }
        w.status = "refunded";
        return done([
          {
            type: "WorkOrderRefunded",
            at: stamp,
            workOrderId: id,
            customer: checksum(t.customer),
            to: w.paidBy ?? checksum(t.customer),
            amount,
          },
        ]);
      }
      case "disputeWorkOrder": {
        if (!sameAddress(cmd.by, t.customer) && !sameAddress(cmd.by, t.provider))
          throw deny(cmd.by);
        if (w.status !== "accepted" && w.status !== "completed") throw wrongState();
        if (!HEX32.test(cmd.reasonHash)) {
          throw ledgerError("settlement.workOrder.invalid", "reasonHash must be bytes32", {
            workOrderId: id,
          });
        }
        w.status = "disputed";
        return done([
          {
            type: "WorkOrderDisputed",
            at: stamp,
            workOrderId: id,
            by: checksum(cmd.by),
            reasonHash: cmd.reasonHash,
          },
        ]);
      }
      case "resolveDispute": {
        if (!sameAddress(cmd.by, t.arbiter)) throw deny(cmd.by);
        if (w.status !== "disputed") throw wrongState();
        let toProvider: Decimal;
        try {
          toProvider = toDecimal(cmd.toProvider, "toProvider");
        } catch {
          toProvider = toDecimal(-1);
        }
        if (
          toProvider.isNegative() ||
          toProvider.gt(t.amount) ||
          toProvider.decimalPlaces() > t.currency.decimals
        ) {
          throw ledgerError(
            "settlement.workOrder.invalid",
            "The split must lie between 0 and the amount",
            {
              workOrderId: id,
              toProvider: cmd.toProvider,
            },
          );
        }
        w.status = "resolved";
        return done([
          {
            type: "WorkOrderResolved",
            at: stamp,
            workOrderId: id,
            arbiter: checksum(t.arbiter),
            toProvider: decimalToString(toProvider),
            toCustomer: decimalToString(t.amount.minus(toProvider)),
            refundTo: w.paidBy ?? checksum(t.customer),
          },
        ]);
      }
      default:
        throw new Error(`unknown command ${(cmd as { t: string }).t}`);
    }
  }
}

/** ISO instant of `at` floored to the second (what a block timestamp holds). */
function iso(at: Date): string {
  return new Date(secondsFloor(at)).toISOString();
}

function secondsFloor(at: Date): number {
  return Math.floor(at.getTime() / 1000) * 1000;
}

/** An address EIP-55 checksummed; another party id as it is. */
function party(p: string): string {
  return isAddress(p) ? getAddress(p) : p;
}

function sameAddress(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

function checksum(a: string): string {
  return getAddress(a);
}

function address(value: string, field: string, code: LedgerErrorCode): string {
  if (!isAddress(value)) throw ledgerError(code, `${field} must be an address`, { [field]: value });
  return getAddress(value);
}

/** JSON form of work-order terms (addresses EIP-55, zero address for absent parties). */
export function workOrderTermsToJson(t: WorkOrderTerms): WorkOrderTermsJson {
  return {
    workOrderId: t.workOrderId,
    customer: checksum(t.customer),
    provider: checksum(t.provider),
    arbiter: checksum(t.arbiter),
    funder: checksum(t.funder ?? ZERO_ADDRESS),
    machineSigner: checksum(t.machineSigner ?? ZERO_ADDRESS),
    amount: decimalToString(toDecimal(t.amount)),
    currency:
      t.currency.address === undefined
        ? { symbol: t.currency.symbol, decimals: t.currency.decimals }
        : {
            symbol: t.currency.symbol,
            decimals: t.currency.decimals,
            address: checksum(t.currency.address),
          },
    acceptBy: iso(t.acceptBy),
    completeBy: iso(t.completeBy),
    conditionHash: t.conditionHash,
  };
}

/** Parses logged work-order terms, reporting every problem at once. */
function workOrderTermsFromJson(j: WorkOrderTermsJson): WorkOrderTerms {
  const problems: string[] = [];
  const addr = (v: string, f: string) => {
    if (typeof v !== "string" || !isAddress(v)) problems.push(f);
    return typeof v === "string" && isAddress(v) ? getAddress(v) : v;
  };
  if (typeof j.workOrderId !== "string" || !HEX32.test(j.workOrderId)) problems.push("workOrderId");
  if (typeof j.conditionHash !== "string" || !HEX32.test(j.conditionHash))
    problems.push("conditionHash");
  const customer = addr(j.customer, "customer");
  const provider = addr(j.provider, "provider");
  const arbiter = addr(j.arbiter, "arbiter");
  const funder = addr(j.funder, "funder");
  const machineSigner = addr(j.machineSigner, "machineSigner");
  let amount = toDecimal(0);
  try {
    amount = toDecimal(j.amount, "amount");
  } catch {
    problems.push("amount");
  }
  const acceptBy = new Date(j.acceptBy);
  const completeBy = new Date(j.completeBy);
  if (Number.isNaN(acceptBy.getTime())) problems.push("acceptBy");
  if (Number.isNaN(completeBy.getTime())) problems.push("completeBy");
  if (
    typeof j.currency !== "object" ||
    j.currency === null ||
    typeof j.currency.symbol !== "string" ||
    !Number.isInteger(j.currency.decimals)
  ) {
    problems.push("currency");
  }
  if (problems.length > 0) {
    throw ledgerError(
      "settlement.workOrder.invalid",
      `Invalid work-order terms: ${problems.join(", ")}`,
      {
        workOrderId: j.workOrderId ?? null,
        problems,
      },
    );
  }
  const zero = ZERO_ADDRESS.toLowerCase();
  return {
    workOrderId: j.workOrderId,
    customer,
    provider,
    arbiter,
    ...(funder.toLowerCase() === zero ? {} : { funder }),
    ...(machineSigner.toLowerCase() === zero ? {} : { machineSigner }),
    amount,
    currency: j.currency,
    acceptBy,
    completeBy,
    conditionHash: j.conditionHash,
  };
}
