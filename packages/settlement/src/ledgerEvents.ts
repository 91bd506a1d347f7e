/**
 * Ledger events: plain, JSON-serialisable data, identical on every backend for the same
 * scenario. Amounts are canonical decimal strings (`Decimal#toFixed()`, no trailing zeros,
 * never exponent notation), addresses EIP-55 checksummed, instants ISO 8601 UTC with whole
 * seconds (the ledger's clock floored to the second, as a block timestamp would be).
 */
export type LedgerEvent =
  | AgreementOfferedEvent
  | AgreementOpenedEvent
  | SignerRevokedEvent
  | EntitlementGrantedEvent
  | EntitlementRevokedEvent
  | RecordAcceptedEvent
  | PeriodSettledEvent
  | FundsDepositedEvent
  | FundsWithdrawnEvent
  | OverdraftEvent
  | AgreementSuspendedEvent
  | AgreementResumedEvent
  | WorkOrderOpenedEvent
  | WorkOrderFundedEvent
  | WorkOrderAcceptedEvent
  | WorkOrderCompletedEvent
  | WorkOrderConfirmedEvent
  | WorkOrderReleasedEvent
  | WorkOrderRefundedEvent
  | WorkOrderCancelledEvent
  | WorkOrderDisputedEvent
  | WorkOrderResolvedEvent;

/** The `type` of every ledger event. */
export type LedgerEventType = LedgerEvent["type"];

/** The vendor registered a signed entitlement grant of a feature (docs/entitlements.md §7). */
export interface EntitlementGrantedEvent {
  readonly type: "EntitlementGranted";
  readonly at: string;
  readonly agreementId: string;
  readonly featureId: string;
  readonly generation: number;
  /** The grant's EIP-712 digest. */
  readonly grant: string;
}

/** The vendor registered a signed revocation of a feature's grant, in force from `revokedAt`. */
export interface EntitlementRevokedEvent {
  readonly type: "EntitlementRevoked";
  readonly at: string;
  readonly agreementId: string;
  readonly featureId: string;
  readonly generation: number;
  readonly grant: string;
  readonly revokedAt: string;
}

/** One party offered an agreement; it opens when the other party accepts it. */
export interface AgreementOfferedEvent {
  readonly type: "AgreementOffered";
  readonly at: string;
  readonly agreementId: string;
  /** The party that offered it (provider or customer). */
  readonly by: string;
}

/** A record signer was revoked: from `cutoffSeq` on nothing it signs is accepted. */
export interface SignerRevokedEvent {
  readonly type: "SignerRevoked";
  readonly at: string;
  readonly agreementId: string;
  readonly signer: string;
  readonly cutoffSeq: number;
  readonly by: string;
}

/** Both parties consented: the agreement is open on the ledger. */
export interface AgreementOpenedEvent {
  readonly type: "AgreementOpened";
  readonly at: string;
  readonly agreementId: string;
  readonly machineId: string;
  readonly provider: string;
  readonly customer: string;
  readonly currency: string;
}

/** A signed meter record was accepted (one event per record, never for a duplicate). */
export interface RecordAcceptedEvent {
  readonly type: "RecordAccepted";
  readonly at: string;
  readonly agreementId: string;
  readonly seq: number;
  /** The record's digest (its EIP-712 hash), which the next record's `prevHash` names. */
  readonly recordHash: string;
  readonly periodStart: string;
  readonly periodEnd: string;
}

/** A billing period was settled into an invoice and paid from the balance and/or made due. */
export interface PeriodSettledEvent {
  readonly type: "PeriodSettled";
  readonly at: string;
  readonly agreementId: string;
  readonly periodStart: string;
  readonly periodEnd: string;
  /** Where the usage came from: the ledger's records, or a signed period statement. */
  readonly source: "records" | "statement";
  /** First and last record `seq` the invoice is based on (both `-1` for a period without records). */
  readonly seqFrom: number;
  readonly seqTo: number;
  /** Hash of the last record of the period (the chain head the invoice commits to). */
  readonly headHash: string;
  readonly total: string;
  /** Part of `total` drawn from the prepaid balance. */
  readonly paidFromBalance: string;
  /** Part of `total` left for the customer to pay (added to the amount due). */
  readonly amountDue: string;
}

/** Funds were paid in; they clear any amount due first, the rest tops up the balance. */
export interface FundsDepositedEvent {
  readonly type: "FundsDeposited";
  readonly at: string;
  readonly agreementId: string;
  readonly amount: string;
  readonly appliedToDue: string;
  readonly balance: string;
  readonly due: string;
  readonly reference?: string;
}

/** Unused prepaid funds were paid back to the customer. */
export interface FundsWithdrawnEvent {
  readonly type: "FundsWithdrawn";
  readonly at: string;
  readonly agreementId: string;
  readonly amount: string;
  readonly balance: string;
  readonly reference?: string;
}

/** A settlement cost more than the prepaid balance; the shortfall became an amount due. */
export interface OverdraftEvent {
  readonly type: "Overdraft";
  readonly at: string;
  readonly agreementId: string;
  /** Start of the settled period that overdrew the balance. */
  readonly periodStart: string;
  readonly shortfall: string;
  readonly due: string;
  /** What the terms say happens now: the agreement is suspended, or the debt accrues. */
  readonly action: "suspend" | "accrueDebt";
}

/** The agreement was suspended (usage should stop until the amount due is paid). */
export interface AgreementSuspendedEvent {
  readonly type: "AgreementSuspended";
  readonly at: string;
  readonly agreementId: string;
  readonly reason: "overdraft";
}

/** A suspended agreement is active again (its amount due was paid). */
export interface AgreementResumedEvent {
  readonly type: "AgreementResumed";
  readonly at: string;
  readonly agreementId: string;
}

/**
 * A maintenance work order was opened (not funded yet). Work-order events mirror the
 * escrow contract's logs one to one, so an EVM backend derives them from receipts.
 */
export interface WorkOrderOpenedEvent {
  readonly type: "WorkOrderOpened";
  readonly at: string;
  readonly workOrderId: string;
  readonly customer: string;
  readonly provider: string;
  readonly arbiter: string;
  /** Who may fund besides the customer (zero address: nobody). */
  readonly funder: string;
  /** Key whose signed `ConditionCleared` confirms completion (zero address: customer only). */
  readonly machineSigner: string;
  readonly amount: string;
  readonly currency: string;
  readonly acceptBy: string;
  readonly completeBy: string;
  readonly conditionHash: string;
}

/** The escrow of a work order was paid in. */
export interface WorkOrderFundedEvent {
  readonly type: "WorkOrderFunded";
  readonly at: string;
  readonly workOrderId: string;
  readonly from: string;
  readonly amount: string;
}

/** The provider accepted the work order. */
export interface WorkOrderAcceptedEvent {
  readonly type: "WorkOrderAccepted";
  readonly at: string;
  readonly workOrderId: string;
  readonly provider: string;
}

/** The provider reported completion with the hash of its proof. */
export interface WorkOrderCompletedEvent {
  readonly type: "WorkOrderCompleted";
  readonly at: string;
  readonly workOrderId: string;
  readonly provider: string;
  readonly proofHash: string;
}

/** The customer, or the machine through a signed `ConditionCleared`, confirmed the work. */
export interface WorkOrderConfirmedEvent {
  readonly type: "WorkOrderConfirmed";
  readonly at: string;
  readonly workOrderId: string;
  /** The customer's address, or the machine signer whose signature was checked. */
  readonly by: string;
  readonly evidenceHash: string;
  /** When the condition cleared (the machine's claim), or the ledger time for a customer. */
  readonly clearedAt: string;
}

/** The escrow was paid to the provider (in the confirming command). */
export interface WorkOrderReleasedEvent {
  readonly type: "WorkOrderReleased";
  readonly at: string;
  readonly workOrderId: string;
  readonly provider: string;
  readonly amount: string;
}

/** The escrow went back to whoever paid it in (cancelled after funding, or expired). */
export interface WorkOrderRefundedEvent {
  readonly type: "WorkOrderRefunded";
  readonly at: string;
  readonly workOrderId: string;
  readonly customer: string;
  /** Who paid the escrow in and gets it back: the customer or the work order's funder. */
  readonly to: string;
  readonly amount: string;
}

/** A work order that was never funded was cancelled or expired. */
export interface WorkOrderCancelledEvent {
  readonly type: "WorkOrderCancelled";
  readonly at: string;
  readonly workOrderId: string;
  readonly by: string;
}

/** Customer or provider disputed the work order; only the arbiter can move it on. */
export interface WorkOrderDisputedEvent {
  readonly type: "WorkOrderDisputed";
  readonly at: string;
  readonly workOrderId: string;
  readonly by: string;
  readonly reasonHash: string;
}

/** The arbiter split the escrow between provider and customer. */
export interface WorkOrderResolvedEvent {
  readonly type: "WorkOrderResolved";
  readonly at: string;
  readonly workOrderId: string;
  readonly arbiter: string;
  readonly toProvider: string;
  /** Refunded to whoever paid the escrow in (`refundTo`: the customer or the funder). */
  readonly toCustomer: string;
  readonly refundTo: string;
}
