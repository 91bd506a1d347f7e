import type { MeterRecord, PeriodStatement } from "@maaskit/metering";
import type { EntitlementGrant, EntitlementRevocation } from "@maaskit/metering/entitlements";
import type { Decimal } from "decimal.js";
import type { Observable } from "rxjs";
import type { Agreement } from "./agreement.js";
import type { Currency } from "./currency.js";
import type { Invoice } from "./invoice.js";
import type { LedgerEvent } from "./ledgerEvents.js";

/** An Ethereum address (EIP-55 checksummed when a ledger returns it). */
export type Address = string;
/** A 32-byte value as `0x` + 64 lowercase hex digits. */
export type Hex32 = string;

/**
 * The time source of a ledger. Injected so tests, and every backend running one scenario,
 * agree on the instants: ledgers stamp events with `now()` floored to the second (what a
 * block timestamp can hold), and an EVM backend sets the next block's timestamp from it.
 *
 * @example const clock: LedgerClock = { now: () => new Date() }
 */
export interface LedgerClock {
  now(): Date;
}

/**
 * The EIP-712 domain fields a ledger verifies signatures under. Records and statements of an
 * agreement are signed under `{ name: "maaskit", version: "1", chainId, verifyingContract,
 * salt: keccak256(agreementId) }` (docs/meter-record.md); work-order `ConditionCleared`
 * attestations under `{ name: "maaskit WorkOrderEscrow", version: "1", chainId,
 * verifyingContract }`. The embedded ledger uses chain id 0 and the zero address.
 */
export interface LedgerDomain {
  readonly chainId: number;
  readonly verifyingContract: Address;
}

/** `[start, end)` of a billing period (or any settled stretch). */
export interface SettlementPeriod {
  readonly start: Date;
  readonly end: Date;
}

/**
 * What `openAgreement` did: `offered` (waiting for the other party's `acceptAgreement`);
 * offering the identical agreement again is a `duplicate`.
 */
export interface OpenAgreementResult {
  readonly status: "offered" | "duplicate";
  /** Domain the agreement's records and statements must be signed under. */
  readonly recordDomain: LedgerDomain;
}

/**
 * Lifecycle of an agreement on a ledger: `pending` until the second party accepted it (no
 * records, funds or settlements before), then `active`, or `suspended` by an overdraft.
 */
export type AgreementStatus = "pending" | "active" | "suspended";

/** An agreement as the ledger holds it. */
export interface AgreementState {
  readonly agreement: Agreement;
  readonly status: AgreementStatus;
  readonly recordDomain: LedgerDomain;
}

/** The per-record outcome of `submitRecords`, in input order. */
export interface SubmittedRecord {
  readonly seq: number;
  /** `accepted`: applied now; `duplicate`: this identical record was applied before. */
  readonly status: "accepted" | "duplicate";
  readonly recordHash: Hex32;
}

/** What `submitRecords` did. */
export interface SubmitRecordsResult {
  readonly agreementId: string;
  readonly results: readonly SubmittedRecord[];
  readonly accepted: number;
  readonly duplicates: number;
}

/** The chain head of an agreement's accepted records (and statements). */
export interface RecordsHead {
  readonly agreementId: string;
  /** The `seq` the next record must carry (0 before the first). */
  readonly nextSeq: number;
  /** Digest of the last accepted record; 32 zero bytes before the first. */
  readonly headHash: Hex32;
  /** End of the last accepted record's period; `null` before the first. */
  readonly periodEnd: Date | null;
}

/**
 * Money an agreement holds. `available`: prepaid funds not yet used; `due`: what the
 * customer owes (settled but unpaid); `paidToProvider`: everything the provider was paid.
 */
export interface Balance {
  readonly agreementId: string;
  readonly currency: Currency;
  readonly available: Decimal;
  readonly due: Decimal;
  readonly paidToProvider: Decimal;
}

/** What `deposit` / `withdraw` did; a repeated `reference` is a `duplicate` and moves nothing. */
export interface FundsResult {
  readonly status: "applied" | "duplicate";
  readonly balance: Balance;
}

/** Parameters of `deposit`. */
export interface DepositParameters {
  readonly agreementId: string;
  /** Positive, with at most the currency's decimals. */
  readonly amount: Decimal;
  /** Who pays in (any address). */
  readonly by: Address;
  /** Idempotency key (a bank reference, a transfer id): the same reference applies once. */
  readonly reference?: string;
}

/** Parameters of `withdraw` (customer only, at most `available`). */
export interface WithdrawParameters {
  readonly agreementId: string;
  readonly amount: Decimal;
  readonly by: Address;
  readonly reference?: string;
}

/**
 * What a ledger holds of one feature of an agreement (features on demand,
 * docs/entitlements.md §7): the grants the vendor registered (generation order), their
 * revocations, and the budget the accepted feature records used per grant and window.
 */
export interface EntitlementState {
  readonly agreementId: string;
  readonly featureId: string;
  readonly grants: readonly EntitlementGrant[];
  readonly revocations: readonly EntitlementRevocation[];
  readonly usage: readonly {
    /** Digest of the grant the use counted against. */
    readonly grant: Hex32;
    /** Start of the budget window (`budgetWindow`). */
    readonly windowStart: Date;
    /** In the grant's unit. */
    readonly used: Decimal;
  }[];
}

/** Status of a work order; mirrors the escrow contract. */
export type WorkOrderStatus =
  | "open"
  | "funded"
  | "accepted"
  | "completed"
  | "released"
  | "refunded"
  | "cancelled"
  | "disputed"
  | "resolved";

/** Terms of a maintenance work order, fixed when it is opened. */
export interface WorkOrderTerms {
  /** 32-byte id chosen by the opener (e.g. keccak256 of the service request id). */
  readonly workOrderId: Hex32;
  readonly customer: Address;
  readonly provider: Address;
  readonly arbiter: Address;
  /** Who may fund besides the customer (an agreement, a fleet wallet); omit for nobody. */
  readonly funder?: Address;
  /** Key whose signed `ConditionCleared` confirms completion; omit for customer-only. */
  readonly machineSigner?: Address;
  readonly amount: Decimal;
  readonly currency: Currency;
  /** Funding and acceptance must happen by then (inclusive). */
  readonly acceptBy: Date;
  /** Completion must be reported by then (inclusive); `completeBy >= acceptBy`. */
  readonly completeBy: Date;
  /** The condition to clear (e.g. keccak256 of the service request). */
  readonly conditionHash: Hex32;
}

/** A work order as the ledger holds it. */
export interface WorkOrder extends WorkOrderTerms {
  readonly status: WorkOrderStatus;
  readonly proofHash: Hex32 | null;
}

/** What `openWorkOrder` did; reopening with identical terms is a `duplicate`. */
export interface OpenWorkOrderResult {
  readonly status: "opened" | "duplicate";
  readonly workOrder: WorkOrder;
}

/**
 * A machine's signed statement that the work order's condition cleared: EIP-712
 * `ConditionCleared(bytes32 workOrderId,bytes32 conditionHash,bytes32 evidenceHash,uint64 clearedAt)`
 * by the work order's `machineSigner` (see `signConditionCleared`).
 */
export interface ConditionClearedAttestation {
  readonly evidenceHash: Hex32;
  /** Whole seconds. */
  readonly clearedAt: Date;
  /** 65-byte `r‖s‖v` hex. */
  readonly signature: string;
}

/** Parameters of `confirmWorkOrder`: by the customer, or by the machine's attestation. */
export type ConfirmWorkOrderParameters =
  | { readonly workOrderId: Hex32; readonly by: Address; readonly evidenceHash?: Hex32 }
  | { readonly workOrderId: Hex32; readonly attestation: ConditionClearedAttestation };

/**
 * The port every ledger backend implements (embedded, EVM, Cactus, …). Small factories
 * build one (`embeddedLedger({ dir })`); `describeLedgerBackend` checks that a backend
 * behaves exactly like the others: same invoices, balances, events and error codes
 * (`LedgerErrorCode`) for the same inputs.
 *
 * Calls that act for a party take `by`; a backend checks it (the embedded ledger trusts its
 * single writer; an EVM backend sends from that address's signer).
 *
 * @example
 * ```ts
 * const ledger = embeddedLedger({ dir: "./ledger" })
 * await ledger.openAgreement(agreement)
 * await ledger.submitRecords({ agreementId: agreement.id, records })
 * const invoice = await ledger.settlePeriod({ agreementId: agreement.id, period })
 * ```
 */
export interface LedgerBackend {
  /** A short name of the backend kind: `"embedded"`, `"evm"`, `"cactus"`. */
  readonly kind: string;

  /**
   * Offers an agreement, `by` one party (default: the provider). It stays `pending` until the
   * other party accepts it (`acceptAgreement`). Identical again: `duplicate`; same id, other
   * terms: `settlement.agreement.conflict`; `by` not a party: `settlement.agreement.unauthorized`.
   */
  openAgreement(
    agreement: Agreement,
    options?: { readonly by?: Address },
  ): Promise<OpenAgreementResult>;

  /**
   * The other party accepts a pending agreement: it becomes `active`. Accepting an active one
   * again is a no-op; the offering party or a stranger: `settlement.agreement.unauthorized`.
   */
  acceptAgreement(params: {
    readonly agreementId: string;
    readonly by: Address;
  }): Promise<AgreementState>;

  /**
   * Revokes a record signer (provider or customer alone): from the current chain head on
   * (`cutoffSeq` = next seq) no record or statement reaching that seq signed by this key is
   * accepted, whatever its times. A key not in the agreement, or revoked already:
   * `settlement.agreement.invalid`; a stranger: `settlement.agreement.unauthorized`.
   */
  revokeSigner(params: {
    readonly agreementId: string;
    readonly signer: Address;
    readonly by: Address;
  }): Promise<AgreementState>;

  /**
   * Registers the vendor's signed entitlement grant of a feature on its agreement (the
   * grant's `agreementId`). It must be signed by the agreement's provider, for the
   * agreement's machine and one of its signers, and extend the feature's chain (generation
   * 0, then each `prevGrant` the digest before): an older generation
   * `settlement.entitlement.rolledBack`, a gap or fork `.brokenChain`, other failures the
   * rule's code (`.badSignature`, `.wrongIssuer`, `.wrongMachine`, `.wrongAgreement`,
   * `.malformed`). The same grant again changes nothing.
   */
  grantEntitlement(params: { readonly grant: EntitlementGrant }): Promise<EntitlementState>;

  /**
   * Registers the vendor's signed revocation of a registered grant: no feature record of
   * that grant ending at or after `revokedAt` is accepted. A grant not registered:
   * `settlement.entitlement.noGrant`.
   */
  revokeEntitlement(params: {
    readonly revocation: EntitlementRevocation;
  }): Promise<EntitlementState>;

  /** The features of an agreement with registered grants, by feature id. */
  getEntitlements(agreementId: string): Promise<readonly EntitlementState[]>;

  /**
   * Submits signed records of one agreement, applied atomically (all or none). Idempotent by
   * `(agreementId, seq)`: the identical record again is a `duplicate`; a different record with
   * a used seq throws `settlement.record.conflict`. Other rejections: `badSignature`,
   * `unknownSigner` (not allowed at the record's time), `seqGap`, `brokenChain`,
   * `periodOverlap`, `periodGap`, `wrongAgreement`, `outsideTerm`, `invalid`. A record of a
   * feature's channel (`feature/<id>`) with a quantity is a use: it must rest on the grant in
   * force at its end, by the rules of `evaluateFeature` (`settlement.entitlement.<rule>`:
   * `noGrant`, `revoked`, `expired`, `notYetValid`, `budgetExhausted`, `wrongMachine`, …).
   */
  submitRecords(params: {
    readonly agreementId: string;
    readonly records: readonly MeterRecord[];
  }): Promise<SubmitRecordsResult>;

  /**
   * Settles the next unsettled billing period from the accepted records in it: prices them
   * (`priceRecords`), draws the total from the prepaid balance and records the rest as due
   * (overdraft per terms). Periods settle in calendar order, each exactly once: not a billing
   * period: `settlement.period.invalid`; before the next: `.alreadySettled`; after it:
   * `.notNext`; records do not reach its end yet: `.incomplete`. Anyone may settle.
   */
  settlePeriod(params: {
    readonly agreementId: string;
    readonly period: SettlementPeriod;
  }): Promise<Invoice>;

  /**
   * Settles the next unsettled billing period from a signed `PeriodStatement` (one signature
   * check for the period), relayed by anyone. The statement must continue the agreement's
   * chain right after the last settled period (`startHash` = head) or match the records
   * already accepted in that period; the records head moves to its `headHash`.
   */
  settleStatement(statement: PeriodStatement): Promise<Invoice>;

  /** Pays funds in: they clear any amount due first, the rest tops up the prepaid balance. */
  deposit(params: DepositParameters): Promise<FundsResult>;
  /** Pays unused prepaid funds back to the customer. */
  withdraw(params: WithdrawParameters): Promise<FundsResult>;

  getAgreement(agreementId: string): Promise<AgreementState>;
  getBalance(agreementId: string): Promise<Balance>;
  /** Invoices of the agreement in settlement order. */
  getInvoices(agreementId: string): Promise<readonly Invoice[]>;
  getRecordsHead(agreementId: string): Promise<RecordsHead>;
  /** Every event since the ledger began, in order. */
  getEvents(): Promise<readonly LedgerEvent[]>;
  /** Every event since the ledger began, then each new one as it is committed. */
  readonly events$: Observable<LedgerEvent>;

  /** Opens a work order (by its customer); not funded yet. */
  openWorkOrder(terms: WorkOrderTerms): Promise<OpenWorkOrderResult>;
  /** Pays the escrow in (customer or the named funder), by `acceptBy`. */
  fundWorkOrder(params: { readonly workOrderId: Hex32; readonly by: Address }): Promise<WorkOrder>;
  /** The provider accepts a funded work order, by `acceptBy`. */
  acceptWorkOrder(params: {
    readonly workOrderId: Hex32;
    readonly by: Address;
  }): Promise<WorkOrder>;
  /** The provider reports completion with the (non-zero) hash of its proof, by `completeBy`. */
  completeWorkOrder(params: {
    readonly workOrderId: Hex32;
    readonly proofHash: Hex32;
    readonly by: Address;
  }): Promise<WorkOrder>;
  /**
   * Confirms a completed work order, by the customer or by the machine's signed
   * `ConditionCleared`; releases the escrow to the provider in the same command.
   */
  confirmWorkOrder(params: ConfirmWorkOrderParameters): Promise<WorkOrder>;
  /** Cancels a work order not accepted yet (customer or provider); a funded one is refunded. */
  cancelWorkOrder(params: {
    readonly workOrderId: Hex32;
    readonly by: Address;
  }): Promise<WorkOrder>;
  /** Customer or provider disputes an accepted or completed work order. */
  disputeWorkOrder(params: {
    readonly workOrderId: Hex32;
    readonly reasonHash: Hex32;
    readonly by: Address;
  }): Promise<WorkOrder>;
  /** The arbiter splits a disputed escrow: `toProvider` to the provider, the rest refunded. */
  resolveDispute(params: {
    readonly workOrderId: Hex32;
    readonly toProvider: Decimal;
    readonly by: Address;
  }): Promise<WorkOrder>;
  /**
   * After a missed deadline (not accepted by `acceptBy`, or not completed by `completeBy`) the
   * escrow goes back to the customer (customer or arbiter). An unfunded one is cancelled.
   */
  expireWorkOrder(params: {
    readonly workOrderId: Hex32;
    readonly by: Address;
  }): Promise<WorkOrder>;
  getWorkOrder(workOrderId: Hex32): Promise<WorkOrder>;

  /** Releases files, connections and subscriptions; `events$` completes. */
  close(): Promise<void>;
}
