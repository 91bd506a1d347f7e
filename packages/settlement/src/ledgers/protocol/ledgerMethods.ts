import type { PeriodStatement } from "@maaskit/metering";
import { z } from "zod";
import type { Agreement } from "../../agreement.js";
import type { Invoice } from "../../invoice.js";
import type {
  AgreementState,
  Balance,
  ConfirmWorkOrderParameters,
  DepositParameters,
  EntitlementState,
  FundsResult,
  LedgerBackend,
  OpenAgreementResult,
  OpenWorkOrderResult,
  RecordsHead,
  SubmitRecordsResult,
  WithdrawParameters,
  WorkOrder,
  WorkOrderTerms,
} from "../../ledger.js";
import type { LedgerErrorCode } from "../../ledgerErrors.js";
import type { LedgerEvent } from "../../ledgerEvents.js";
import {
  agreementIdWire,
  agreementStateWire,
  agreementWire,
  balanceWire,
  decimalWire,
  domainWire,
  entitlementGrantWire,
  entitlementRevocationWire,
  entitlementStateWire,
  eventWire,
  instantWire,
  invoiceWire,
  meterRecordWire,
  periodStatementWire,
  recordsHeadWire,
  workOrderIdWire,
  workOrderTermsWire,
  workOrderWire,
} from "./wireValues.js";

const by = z.string();
const workOrderBy = z.object({ workOrderId: z.string(), by });
const fundsParams = z.object({
  agreementId: z.string(),
  amount: decimalWire,
  by,
  reference: z.string().optional(),
});
const fundsResult = z.object({ status: z.enum(["applied", "duplicate"]), balance: balanceWire });

/** One method of the protocol: its parameters and its result, wire form ↔ port types. */
interface MethodSpec {
  readonly params: z.ZodType;
  readonly result: z.ZodType;
  /** Whether the call changes the ledger. */
  readonly write: boolean;
  /** The ledger error code a malformed request of the method is refused with. */
  readonly invalid: LedgerErrorCode;
  /** What the method does (the OpenAPI summary). */
  readonly summary: string;
}

function method<P extends z.ZodType, R extends z.ZodType>(spec: {
  params: P;
  result: R;
  write: boolean;
  invalid: LedgerErrorCode;
  summary: string;
}) {
  return spec;
}

const agreementCall = (summary: string) => ({ write: false, summary });

/**
 * The ledger protocol (`maaskit.ledger/1`): every `LedgerBackend` method with the zod 4
 * schemas of its parameters and its result. One table serves every transport (Cactus
 * `transact`, the HTTP ledger service) and generates the OpenAPI document.
 */
export const ledgerMethods = {
  openAgreement: method({
    params: z.object({ agreement: agreementWire, by: by.optional() }),
    result: z.object({ status: z.enum(["offered", "duplicate"]), recordDomain: domainWire }),
    write: true,
    invalid: "settlement.agreement.invalid",
    summary: "Offer an agreement (by a party; default the provider)",
  }),
  acceptAgreement: method({
    params: z.object({ agreementId: z.string(), by }),
    result: agreementStateWire,
    write: true,
    invalid: "settlement.agreement.invalid",
    summary: "The other party accepts a pending agreement",
  }),
  revokeSigner: method({
    params: z.object({ agreementId: z.string(), signer: z.string(), by }),
    result: agreementStateWire,
    write: true,
    invalid: "settlement.agreement.invalid",
    summary: "Revoke a record signer from the current chain head on",
  }),
  grantEntitlement: method({
    params: z.object({ grant: entitlementGrantWire }),
    result: entitlementStateWire,
    write: true,
    invalid: "settlement.entitlement.malformed",
    summary: "Register the vendor's signed grant of a feature (docs/entitlements.md §7)",
  }),
  revokeEntitlement: method({
    params: z.object({ revocation: entitlementRevocationWire }),
    result: entitlementStateWire,
    write: true,
    invalid: "settlement.entitlement.malformed",
    summary: "Register the vendor's signed revocation of a feature's grant",
  }),
  submitRecords: method({
    params: z.object({ agreementId: z.string(), records: z.array(meterRecordWire) }),
    result: z.object({
      agreementId: z.string(),
      results: z.array(
        z.object({
          seq: z.number().int().min(0),
          status: z.enum(["accepted", "duplicate"]),
          recordHash: z.string(),
        }),
      ),
      accepted: z.number().int().min(0),
      duplicates: z.number().int().min(0),
    }),
    write: true,
    invalid: "settlement.record.invalid",
    summary: "Submit signed meter records of one agreement (all or none; idempotent by seq)",
  }),
  settlePeriod: method({
    params: z.object({
      agreementId: z.string(),
      period: z.object({ start: instantWire, end: instantWire }),
    }),
    result: invoiceWire,
    write: true,
    invalid: "settlement.period.invalid",
    summary: "Settle the next billing period from the accepted records",
  }),
  settleStatement: method({
    params: periodStatementWire,
    result: invoiceWire,
    write: true,
    invalid: "settlement.period.invalid",
    summary: "Settle the next billing period from a signed period statement",
  }),
  deposit: method({
    params: fundsParams,
    result: fundsResult,
    write: true,
    invalid: "settlement.funds.invalidAmount",
    summary: "Pay funds in (idempotent by reference)",
  }),
  withdraw: method({
    params: fundsParams,
    result: fundsResult,
    write: true,
    invalid: "settlement.funds.invalidAmount",
    summary: "Pay unused prepaid funds back to the customer",
  }),
  getAgreement: method({
    params: agreementIdWire,
    result: agreementStateWire,
    invalid: "settlement.agreement.invalid",
    ...agreementCall("An agreement as the ledger holds it"),
  }),
  getBalance: method({
    params: agreementIdWire,
    result: balanceWire,
    invalid: "settlement.agreement.invalid",
    ...agreementCall("The money an agreement holds"),
  }),
  getInvoices: method({
    params: agreementIdWire,
    result: z.array(invoiceWire),
    invalid: "settlement.agreement.invalid",
    ...agreementCall("The agreement's invoices in settlement order"),
  }),
  getRecordsHead: method({
    params: agreementIdWire,
    result: recordsHeadWire,
    invalid: "settlement.agreement.invalid",
    ...agreementCall("The chain head of the agreement's accepted records"),
  }),
  getEntitlements: method({
    params: agreementIdWire,
    result: z.array(entitlementStateWire),
    invalid: "settlement.agreement.invalid",
    ...agreementCall("The agreement's features with registered grants"),
  }),
  getEvents: method({
    params: z.object({ from: z.number().int().min(0).optional() }),
    result: z.object({
      from: z.number().int().min(0),
      total: z.number().int().min(0),
      events: z.array(eventWire),
    }),
    write: false,
    invalid: "settlement.ledger.unavailable",
    summary: "The ledger's events from index `from` on (default 0) and how many there are",
  }),
  openWorkOrder: method({
    params: workOrderTermsWire,
    result: z.object({ status: z.enum(["opened", "duplicate"]), workOrder: workOrderWire }),
    write: true,
    invalid: "settlement.workOrder.invalid",
    summary: "Open a work order (by its customer)",
  }),
  fundWorkOrder: workOrderCall(workOrderBy, "Pay the escrow in"),
  acceptWorkOrder: workOrderCall(workOrderBy, "The provider accepts a funded work order"),
  completeWorkOrder: workOrderCall(
    z.object({ workOrderId: z.string(), proofHash: z.string(), by }),
    "The provider reports completion with the hash of its proof",
  ),
  confirmWorkOrder: workOrderCall(
    z.union([
      z.object({
        workOrderId: z.string(),
        attestation: z.object({
          evidenceHash: z.string(),
          clearedAt: instantWire,
          signature: z.string(),
        }),
      }),
      z.object({ workOrderId: z.string(), by, evidenceHash: z.string().optional() }),
    ]),
    "Confirm completion (customer, or the machine's signed ConditionCleared); releases the escrow",
  ),
  cancelWorkOrder: workOrderCall(workOrderBy, "Cancel a work order not accepted yet"),
  disputeWorkOrder: workOrderCall(
    z.object({ workOrderId: z.string(), reasonHash: z.string(), by }),
    "Dispute an accepted or completed work order",
  ),
  resolveDispute: workOrderCall(
    z.object({ workOrderId: z.string(), toProvider: decimalWire, by }),
    "The arbiter splits a disputed escrow",
  ),
  expireWorkOrder: workOrderCall(workOrderBy, "Refund the escrow after a missed deadline"),
  getWorkOrder: method({
    params: workOrderIdWire,
    result: workOrderWire,
    write: false,
    invalid: "settlement.workOrder.invalid",
    summary: "A work order as the ledger holds it",
  }),
} satisfies Record<string, MethodSpec>;

function workOrderCall<P extends z.ZodType>(params: P, summary: string) {
  return method({
    params,
    result: workOrderWire,
    write: true,
    invalid: "settlement.workOrder.invalid",
    summary,
  });
}

/** Every `LedgerBackend` call the protocol carries. */
export type LedgerMethod = keyof typeof ledgerMethods;

/** Every method name, in table order. */
export const ledgerMethodNames = Object.keys(ledgerMethods) as LedgerMethod[];

/** Arguments of each method, in the port's (in-process) types. */
export interface LedgerMethodArgs {
  openAgreement: { readonly agreement: Agreement; readonly by?: string };
  acceptAgreement: Parameters<LedgerBackend["acceptAgreement"]>[0];
  revokeSigner: Parameters<LedgerBackend["revokeSigner"]>[0];
  grantEntitlement: Parameters<LedgerBackend["grantEntitlement"]>[0];
  revokeEntitlement: Parameters<LedgerBackend["revokeEntitlement"]>[0];
  submitRecords: Parameters<LedgerBackend["submitRecords"]>[0];
  settlePeriod: Parameters<LedgerBackend["settlePeriod"]>[0];
  settleStatement: PeriodStatement;
  deposit: DepositParameters;
  withdraw: WithdrawParameters;
  getAgreement: string;
  getBalance: string;
  getInvoices: string;
  getRecordsHead: string;
  getEntitlements: string;
  getEvents: GetEventsParams;
  openWorkOrder: WorkOrderTerms;
  fundWorkOrder: Parameters<LedgerBackend["fundWorkOrder"]>[0];
  acceptWorkOrder: Parameters<LedgerBackend["acceptWorkOrder"]>[0];
  completeWorkOrder: Parameters<LedgerBackend["completeWorkOrder"]>[0];
  confirmWorkOrder: ConfirmWorkOrderParameters;
  cancelWorkOrder: Parameters<LedgerBackend["cancelWorkOrder"]>[0];
  disputeWorkOrder: Parameters<LedgerBackend["disputeWorkOrder"]>[0];
  resolveDispute: Parameters<LedgerBackend["resolveDispute"]>[0];
  expireWorkOrder: Parameters<LedgerBackend["expireWorkOrder"]>[0];
  getWorkOrder: string;
}

/** Results of each method, in the port's types. */
export interface LedgerMethodResults {
  openAgreement: OpenAgreementResult;
  acceptAgreement: AgreementState;
  revokeSigner: AgreementState;
  grantEntitlement: EntitlementState;
  revokeEntitlement: EntitlementState;
  submitRecords: SubmitRecordsResult;
  settlePeriod: Invoice;
  settleStatement: Invoice;
  deposit: FundsResult;
  withdraw: FundsResult;
  getAgreement: AgreementState;
  getBalance: Balance;
  getInvoices: readonly Invoice[];
  getRecordsHead: RecordsHead;
  getEntitlements: readonly EntitlementState[];
  getEvents: GetEventsResult;
  openWorkOrder: OpenWorkOrderResult;
  fundWorkOrder: WorkOrder;
  acceptWorkOrder: WorkOrder;
  completeWorkOrder: WorkOrder;
  confirmWorkOrder: WorkOrder;
  cancelWorkOrder: WorkOrder;
  disputeWorkOrder: WorkOrder;
  resolveDispute: WorkOrder;
  expireWorkOrder: WorkOrder;
  getWorkOrder: WorkOrder;
}

/** Parameters of the `getEvents` method: events from index `from` on (default 0). */
export interface GetEventsParams {
  readonly from?: number;
}

/** Result of the `getEvents` method: the events from `from` on, and how many there are in all. */
export interface GetEventsResult {
  readonly from: number;
  readonly total: number;
  readonly events: readonly LedgerEvent[];
}

// The table's decoded types must be the port's: a schema that drifts from ledger.ts fails here.
type Decoded = { [M in LedgerMethod]: z.output<(typeof ledgerMethods)[M]["params"]> };
type DecodedResult = { [M in LedgerMethod]: z.output<(typeof ledgerMethods)[M]["result"]> };
type Assignable<A, B extends A> = B;
// biome-ignore lint/correctness/noUnusedVariables: a compile-time check, never used at run time
type ProtocolMatchesPort = [
  { [M in LedgerMethod]: Assignable<LedgerMethodArgs[M], Decoded[M]> },
  { [M in LedgerMethod]: Assignable<LedgerMethodResults[M], DecodedResult[M]> },
];
