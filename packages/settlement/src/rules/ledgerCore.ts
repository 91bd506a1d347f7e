import type { PreVerifiedRecords } from "@maaskit/metering";
import type { Agreement } from "../agreement.js";
import type { Invoice } from "../invoice.js";
import type {
  AgreementState,
  Balance,
  EntitlementState,
  LedgerDomain,
  RecordsHead,
  WorkOrder,
} from "../ledger.js";
import {
  acceptAgreement,
  agreementEntry,
  agreementState,
  balanceOf,
  headOf,
  openAgreement,
  revokeSigner,
} from "./agreements.js";
import { entitlementsOf, grantEntitlement, revokeEntitlement } from "./entitlements.js";
import { deposit, withdraw } from "./funds.js";
import { submitRecords } from "./records.js";
import { invoicesOf, settlePeriod, settleStatement } from "./settlement.js";
import {
  type AcceptedRecords,
  type AgreementEntry,
  agreementView,
  type Command,
  EMBEDDED_DOMAIN,
  iso,
  memoryRecords,
  type Outcome,
  type RulesState,
  type WorkOrderEntry,
} from "./state.js";
import { openWorkOrder, workOrderCommand, workOrderOf } from "./workOrders.js";

/**
 * The rules of the ledger as a deterministic state machine: `execute(command, at)`
 * validates fully before it changes anything, so a rejected command leaves no trace.
 * `trusted` skips signature checks when replaying the ledger's own checksummed log.
 * The embedded ledger and the EVM backend both use it; the rules per aggregate live in
 * `agreements.ts`, `entitlements.ts`, `records.ts`, `settlement.ts`, `funds.ts` and `workOrders.ts`.
 * @internal
 */
export class LedgerCore implements RulesState {
  readonly agreements = new Map<string, AgreementEntry>();
  readonly workOrders = new Map<string, WorkOrderEntry>();

  constructor(
    readonly domain: LedgerDomain = EMBEDDED_DOMAIN,
    /** Storage seam: the record store of an agreement (memory unless the owner persists it). */
    readonly recordsFor: (agreementId: string) => AcceptedRecords = () => memoryRecords(),
    /** Checks feature records against registered grants (`RulesState.featureChecks`). */
    readonly featureChecks = true,
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
    const { view: _view, records: _records, ...state } = agreementEntry(this, id);
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

  /**
   * Applies `cmd`. `preVerified`: digests and signature verdicts of submitted records made
   * ahead (off the lock), by each record's JSON text; the rules use one only for a record
   * whose text is exactly that, decoded from that text, and check any other themselves.
   */
  execute(cmd: Command, at: Date, trusted = false, preVerified?: PreVerifiedRecords): Outcome {
    return this.dispatch(cmd, at, iso(at), trusted, preVerified);
  }

  private dispatch(
    cmd: Command,
    at: Date,
    stamp: string,
    trusted: boolean,
    preVerified: PreVerifiedRecords | undefined,
  ): Outcome {
    switch (cmd.t) {
      case "openAgreement":
        return openAgreement(this, cmd.agreement, cmd.by, stamp);
      case "acceptAgreement":
        return acceptAgreement(this, cmd.agreementId, cmd.by, stamp);
      case "revokeSigner":
        return revokeSigner(this, cmd, stamp);
      case "grantEntitlement":
        return grantEntitlement(this, cmd.grant, stamp);
      case "revokeEntitlement":
        return revokeEntitlement(this, cmd.revocation, stamp);
      case "submitRecords":
        return submitRecords(this, cmd.agreementId, cmd.records, stamp, trusted, preVerified);
      case "settlePeriod":
        return settlePeriod(this, cmd.agreementId, new Date(cmd.start), new Date(cmd.end), stamp);
      case "settleStatement":
        return settleStatement(this, cmd.statement, stamp, trusted);
      case "deposit":
        return deposit(this, cmd, stamp);
      case "withdraw":
        return withdraw(this, cmd, stamp);
      case "openWorkOrder":
        return openWorkOrder(this, cmd.terms, at, stamp);
      default:
        return workOrderCommand(this, cmd, at, stamp, trusted);
    }
  }

  agreement(agreementId: string): AgreementEntry {
    return agreementEntry(this, agreementId);
  }

  agreementState(agreementId: string): AgreementState {
    return agreementState(this, agreementId);
  }

  balance(agreementId: string): Balance {
    return balanceOf(this, agreementId);
  }

  head(agreementId: string): RecordsHead {
    return headOf(this, agreementId);
  }

  entitlements(agreementId: string): readonly EntitlementState[] {
    return entitlementsOf(this, agreementId);
  }

  invoices(agreementId: string): readonly Invoice[] {
    return invoicesOf(this, agreementId);
  }

  workOrder(workOrderId: string): WorkOrder {
    return workOrderOf(this, workOrderId);
  }
}
