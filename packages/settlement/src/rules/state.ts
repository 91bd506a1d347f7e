import { GENESIS_HASH, type MeterRecord, ZERO_ADDRESS } from "@maaskit/metering";
import type { Decimal } from "decimal.js";
import { getAddress, isAddress } from "ethers/address";
import type { Agreement } from "../agreement.js";
import type { Currency } from "../currency.js";
import type { Invoice } from "../invoice.js";
import { isSignerAllowed } from "../isSignerAllowed.js";
import type { AgreementStatus, LedgerDomain, WorkOrder, WorkOrderTerms } from "../ledger.js";
import { type LedgerErrorCode, ledgerError } from "../ledgerErrors.js";
import type { LedgerEvent } from "../ledgerEvents.js";
import type { Tariff } from "../tariff.js";
import type { FeatureEntry } from "./entitlements.js";

import type { WorkOrderTermsJson } from "./workOrderTerms.js";

/**
 * A command as the embedded ledger logs it: plain JSON, applied by `LedgerCore.execute`.
 * Replaying the logged commands with their logged instants rebuilds the state exactly.
 */
export type Command =
  | { t: "openAgreement"; agreement: unknown; by?: string }
  | { t: "acceptAgreement"; agreementId: string; by: string }
  | { t: "revokeSigner"; agreementId: string; signer: string; by: string }
  | { t: "grantEntitlement"; grant: unknown }
  | { t: "revokeEntitlement"; revocation: unknown }
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

/** The outcome of one command: what it returns, the events it emits, whether to log it. */
export interface Outcome {
  readonly result: unknown;
  readonly events: readonly LedgerEvent[];
  /** False when the command changed nothing (a duplicate): it need not be logged. */
  readonly changed: boolean;
}

/** The embedded ledger's domain: off-chain, chain id 0, the zero address. */
export const EMBEDDED_DOMAIN: LedgerDomain = { chainId: 0, verifyingContract: ZERO_ADDRESS };

/** What the rules read from an agreement. */
export interface AgreementView {
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

export function agreementView(a: Agreement): AgreementView {
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

export interface AgreementEntry {
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
  /** Features on demand: featureId → registered grants and budget use (absent until a grant). */
  entitlements?: Record<string, FeatureEntry>;
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

export interface WorkOrderEntry {
  terms: WorkOrderTerms;
  canonical: string;
  status: WorkOrder["status"];
  proofHash: string | null;
  /** Who paid the escrow in (customer or funder): refunds go back to it. */
  paidBy: string | null;
}

export const ZERO_HASH = GENESIS_HASH;
export const HEX32 = /^0x[0-9a-f]{64}$/;

/**
 * The rules of the embedded ledger as a deterministic state machine: `execute(command, at)`
 * validates fully before it changes anything, so a rejected command leaves no trace.
 * `trusted` skips signature checks when replaying the ledger's own checksummed log.
 * @internal

/**
 * What the rules act on: the agreements and work orders by id, the ledger's EIP-712 domain,
 * and where an agreement's accepted records live. `LedgerCore` is one.
 * @internal
 */
export interface RulesState {
  readonly agreements: Map<string, AgreementEntry>;
  readonly workOrders: Map<string, WorkOrderEntry>;
  readonly domain: LedgerDomain;
  readonly recordsFor: (agreementId: string) => AcceptedRecords;
  /**
   * Whether feature records are checked against registered grants (every backend but the
   * EVM one, whose contract does not hold grants yet: docs/evm.md).
   */
  readonly featureChecks: boolean;
}

/** ISO instant of `at` floored to the second (what a block timestamp holds). */
export function iso(at: Date): string {
  return new Date(secondsFloor(at)).toISOString();
}

export function secondsFloor(at: Date): number {
  return Math.floor(at.getTime() / 1000) * 1000;
}

/** An address EIP-55 checksummed; another party id as it is. */
export function party(p: string): string {
  return isAddress(p) ? getAddress(p) : p;
}

export function sameAddress(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

export function checksum(a: string): string {
  return getAddress(a);
}

export function address(value: string, field: string, code: LedgerErrorCode): string {
  if (!isAddress(value)) throw ledgerError(code, `${field} must be an address`, { [field]: value });
  return getAddress(value);
}
