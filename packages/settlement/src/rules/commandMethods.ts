import {
  decimalToString,
  type PeriodStatement,
  periodStatementToJson,
  toDecimal,
} from "@maaskit/metering";
import {
  entitlementGrantToJson,
  entitlementRevocationToJson,
} from "@maaskit/metering/entitlements";
import type { Decimal } from "decimal.js";
import { type Agreement, agreementToJson } from "../agreement.js";
import type { Invoice } from "../invoice.js";
import type {
  AgreementState,
  EntitlementState,
  FundsResult,
  LedgerBackend,
  OpenAgreementResult,
  OpenWorkOrderResult,
  SubmitRecordsResult,
  WorkOrder,
} from "../ledger.js";
import { isLedgerError, ledgerError } from "../ledgerErrors.js";
import { recordsToJson } from "../recordsToJson.js";
import type { Command } from "./state.js";
import { workOrderTermsToJson } from "./workOrderTerms.js";

/** The port's methods that change the ledger: each one command of the rules engine. */
export type CommandMethods = Pick<
  LedgerBackend,
  | "openAgreement"
  | "acceptAgreement"
  | "revokeSigner"
  | "grantEntitlement"
  | "revokeEntitlement"
  | "submitRecords"
  | "settlePeriod"
  | "settleStatement"
  | "deposit"
  | "withdraw"
  | "openWorkOrder"
  | "fundWorkOrder"
  | "acceptWorkOrder"
  | "completeWorkOrder"
  | "confirmWorkOrder"
  | "cancelWorkOrder"
  | "disputeWorkOrder"
  | "resolveDispute"
  | "expireWorkOrder"
>;

/**
 * The port's changing methods as rules-engine commands, for a backend that applies commands
 * with `run` (the embedded and the PostgreSQL ledger): one mapping, so the two cannot drift.
 * A command given as a function is built inside `run`, where its encoding errors are the
 * port's errors.
 * @internal
 */
export function commandMethods(
  run: <T>(command: Command | (() => Command)) => Promise<T>,
): CommandMethods {
  return {
    openAgreement: (agreement: Agreement, options?: { by?: string }) =>
      run<OpenAgreementResult>(() => ({
        t: "openAgreement",
        agreement: agreementToJson(agreement),
        by: options?.by ?? agreement.parties.provider,
      })),
    acceptAgreement: ({ agreementId, by }) =>
      run<AgreementState>({ t: "acceptAgreement", agreementId, by }),
    revokeSigner: ({ agreementId, signer, by }) =>
      run<AgreementState>({ t: "revokeSigner", agreementId, signer, by }),
    grantEntitlement: ({ grant }) =>
      run<EntitlementState>(() => ({
        t: "grantEntitlement",
        grant: entitlementJson(grant, entitlementGrantToJson),
      })),
    revokeEntitlement: ({ revocation }) =>
      run<EntitlementState>(() => ({
        t: "revokeEntitlement",
        revocation: entitlementJson(revocation, entitlementRevocationToJson),
      })),
    submitRecords: ({ agreementId, records }) =>
      run<SubmitRecordsResult>(() => ({
        t: "submitRecords",
        agreementId,
        records: recordsToJson(records),
      })),
    settlePeriod: ({ agreementId, period }) =>
      run<Invoice>({
        t: "settlePeriod",
        agreementId,
        start: period.start.toISOString(),
        end: period.end.toISOString(),
      }),
    settleStatement: (statement: PeriodStatement) =>
      run<Invoice>(() => ({ t: "settleStatement", statement: periodStatementToJson(statement) })),
    deposit: ({ agreementId, amount, by, reference }) =>
      run<FundsResult>(() => ({
        t: "deposit",
        agreementId,
        amount: amountString(amount),
        by,
        ...(reference === undefined ? {} : { reference }),
      })),
    withdraw: ({ agreementId, amount, by, reference }) =>
      run<FundsResult>(() => ({
        t: "withdraw",
        agreementId,
        amount: amountString(amount),
        by,
        ...(reference === undefined ? {} : { reference }),
      })),
    openWorkOrder: (terms) =>
      run<OpenWorkOrderResult>(() => ({ t: "openWorkOrder", terms: workOrderTermsToJson(terms) })),
    fundWorkOrder: ({ workOrderId, by }) => run<WorkOrder>({ t: "fundWorkOrder", workOrderId, by }),
    acceptWorkOrder: ({ workOrderId, by }) =>
      run<WorkOrder>({ t: "acceptWorkOrder", workOrderId, by }),
    completeWorkOrder: ({ workOrderId, proofHash, by }) =>
      run<WorkOrder>({ t: "completeWorkOrder", workOrderId, proofHash, by }),
    confirmWorkOrder: (p) =>
      run<WorkOrder>(
        "attestation" in p
          ? {
              t: "confirmWorkOrder",
              workOrderId: p.workOrderId,
              evidenceHash: p.attestation.evidenceHash,
              clearedAt: p.attestation.clearedAt.toISOString(),
              signature: p.attestation.signature,
            }
          : {
              t: "confirmWorkOrder",
              workOrderId: p.workOrderId,
              by: p.by,
              ...(p.evidenceHash === undefined ? {} : { evidenceHash: p.evidenceHash }),
            },
      ),
    cancelWorkOrder: ({ workOrderId, by }) =>
      run<WorkOrder>({ t: "cancelWorkOrder", workOrderId, by }),
    disputeWorkOrder: ({ workOrderId, reasonHash, by }) =>
      run<WorkOrder>({ t: "disputeWorkOrder", workOrderId, reasonHash, by }),
    resolveDispute: ({ workOrderId, toProvider, by }) =>
      run<WorkOrder>(() => ({
        t: "resolveDispute",
        workOrderId,
        toProvider: amountString(toProvider),
        by,
      })),
    expireWorkOrder: ({ workOrderId, by }) =>
      run<WorkOrder>({ t: "expireWorkOrder", workOrderId, by }),
  };
}

/** A grant or revocation as JSON; one that cannot be written is `settlement.entitlement.malformed`. */
function entitlementJson<T>(value: T, toJson: (v: T) => unknown): unknown {
  try {
    return toJson(value);
  } catch (err) {
    throw ledgerError("settlement.entitlement.malformed", "The grant or revocation is malformed", {
      cause: String((err as Error)?.message ?? err),
    });
  }
}

function amountString(amount: Decimal): string {
  try {
    return decimalToString(toDecimal(amount, "amount"));
  } catch (err) {
    if (isLedgerError(err)) throw err;
    throw ledgerError("settlement.funds.invalidAmount", "The amount is not a decimal", {
      amount: String(amount),
    });
  }
}
