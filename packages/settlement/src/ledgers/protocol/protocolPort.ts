import type { LedgerBackend } from "../../ledger.js";
import type { LedgerMethod, LedgerMethodArgs, LedgerMethodResults } from "./ledgerMethods.js";

/** One call of a protocol method over some transport (HTTP, a Cactus connector, …). */
export type ProtocolCall = <M extends LedgerMethod>(
  method: M,
  args: LedgerMethodArgs[M],
) => Promise<LedgerMethodResults[M]>;

/** The port's methods that map one to one onto protocol methods. */
type ProtocolPortMethods = Omit<LedgerBackend, "kind" | "events$" | "close">;

/**
 * The port's methods of a backend that reaches its ledger through the ledger protocol: the
 * changing methods go through `write` (so the backend can catch up on their events before
 * it resolves), the reads through `read`. One mapping for every remote backend.
 */
export function protocolPortMethods(write: ProtocolCall, read: ProtocolCall): ProtocolPortMethods {
  return {
    openAgreement: (agreement, options) =>
      write("openAgreement", {
        agreement,
        ...(options?.by === undefined ? {} : { by: options.by }),
      }),
    acceptAgreement: (p) => write("acceptAgreement", p),
    revokeSigner: (p) => write("revokeSigner", p),
    grantEntitlement: (p) => write("grantEntitlement", p),
    revokeEntitlement: (p) => write("revokeEntitlement", p),
    submitRecords: (p) => write("submitRecords", p),
    settlePeriod: (p) => write("settlePeriod", p),
    settleStatement: (st) => write("settleStatement", st),
    deposit: (p) => write("deposit", p),
    withdraw: (p) => write("withdraw", p),
    getAgreement: (id) => read("getAgreement", id),
    getBalance: (id) => read("getBalance", id),
    getInvoices: (id) => read("getInvoices", id),
    getRecordsHead: (id) => read("getRecordsHead", id),
    getEntitlements: (id) => read("getEntitlements", id),
    getEvents: async () => (await read("getEvents", { from: 0 })).events,
    openWorkOrder: (terms) => write("openWorkOrder", terms),
    fundWorkOrder: (p) => write("fundWorkOrder", p),
    acceptWorkOrder: (p) => write("acceptWorkOrder", p),
    completeWorkOrder: (p) => write("completeWorkOrder", p),
    confirmWorkOrder: (p) => write("confirmWorkOrder", p),
    cancelWorkOrder: (p) => write("cancelWorkOrder", p),
    disputeWorkOrder: (p) => write("disputeWorkOrder", p),
    resolveDispute: (p) => write("resolveDispute", p),
    expireWorkOrder: (p) => write("expireWorkOrder", p),
    getWorkOrder: (id) => read("getWorkOrder", id),
  };
}
