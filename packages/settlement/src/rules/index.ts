/**
 * The ledger rules engine (internal): one deterministic state machine the embedded ledger
 * and the EVM backend share. Not part of the public API.
 * @internal
 */
export { LedgerCore } from "./ledgerCore.js";
export type { AcceptedRecord, AcceptedRecords, Command, Outcome } from "./state.js";
export { workOrderTermsToJson } from "./workOrderTerms.js";
