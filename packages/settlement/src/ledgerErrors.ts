import { MaaskitError } from "@maaskit/metering";

/**
 * Every error code a `LedgerBackend` may raise. Every backend (embedded, EVM, Cactus, …)
 * rejects the same bad input with the same code, so callers and the conformance suite
 * can branch on `code` and never on backend-specific messages.
 */
export const ledgerErrorCodes = [
  // records
  "settlement.record.invalid",
  "settlement.record.badSignature",
  "settlement.record.unknownSigner",
  "settlement.record.conflict",
  "settlement.record.seqGap",
  "settlement.record.brokenChain",
  "settlement.record.periodOverlap",
  "settlement.record.periodGap",
  "settlement.record.wrongAgreement",
  "settlement.record.outsideTerm",
  "settlement.record.straddlesPeriod",
  // agreements
  "settlement.agreement.notFound",
  "settlement.agreement.conflict",
  "settlement.agreement.invalid",
  "settlement.agreement.notActive",
  "settlement.agreement.unauthorized",
  // periods and statements
  "settlement.period.invalid",
  "settlement.period.incomplete",
  "settlement.period.alreadySettled",
  "settlement.period.notNext",
  "settlement.statement.badSignature",
  "settlement.statement.mismatch",
  // funds
  "settlement.funds.invalidAmount",
  "settlement.funds.insufficient",
  "settlement.funds.unauthorized",
  // work orders
  "settlement.workOrder.notFound",
  "settlement.workOrder.conflict",
  "settlement.workOrder.invalid",
  "settlement.workOrder.invalidState",
  "settlement.workOrder.unauthorized",
  "settlement.workOrder.badProof",
  "settlement.workOrder.deadlinePassed",
  "settlement.workOrder.deadlineNotReached",
  // entitlements (features on demand, docs/entitlements.md §7): one code per rule of
  // `evaluateFeature`, `settlement.entitlement.<rule>` for `metering.entitlement.<rule>`
  "settlement.entitlement.noGrant",
  "settlement.entitlement.malformed",
  "settlement.entitlement.notRepresentable",
  "settlement.entitlement.wrongAgreement",
  "settlement.entitlement.wrongIssuer",
  "settlement.entitlement.badSignature",
  "settlement.entitlement.wrongMachine",
  "settlement.entitlement.wrongFeature",
  "settlement.entitlement.brokenChain",
  "settlement.entitlement.rolledBack",
  "settlement.entitlement.revoked",
  "settlement.entitlement.clockUnknown",
  "settlement.entitlement.clockBehind",
  "settlement.entitlement.notYetValid",
  "settlement.entitlement.expired",
  "settlement.entitlement.offlineBeyondGrace",
  "settlement.entitlement.budgetExhausted",
  // the backend itself
  "settlement.ledger.unsupported",
  "settlement.ledger.unavailable",
  "settlement.ledger.locked",
  "settlement.ledger.corrupt",
  "settlement.ledger.closed",
  // checkpoints (ledgers that sign Merkle checkpoints: postgres)
  "settlement.checkpoint.notFound",
  "settlement.checkpoint.invalid",
] as const;

/** A dotted code of `ledgerErrorCodes`. */
export type LedgerErrorCode = (typeof ledgerErrorCodes)[number];

/**
 * The error a ledger backend raises: a `MaaskitError` whose code is a `LedgerErrorCode`.
 * `details` is JSON-serialisable (agreementId, seq, expected/actual values).
 *
 * @example
 * ```ts
 * try { await ledger.submitRecords({ agreementId, records }) } catch (e) {
 *   if (isLedgerError(e, "settlement.record.seqGap")) resendFrom(e.details.expectedSeq)
 * }
 * ```
 */
export class LedgerError extends MaaskitError<LedgerErrorCode> {
  override name = "LedgerError";
}

/**
 * Builds a `LedgerError`.
 *
 * @example ledgerError("settlement.period.alreadySettled", "Period already settled", { agreementId })
 */
export function ledgerError(
  code: LedgerErrorCode,
  shortMessage: string,
  details: Record<string, unknown> = {},
  cause?: unknown,
): LedgerError {
  return new LedgerError(
    code,
    shortMessage,
    cause === undefined ? { details } : { details, cause },
  );
}

/**
 * True when `err` is a ledger error, optionally with the given code. Accepts any
 * `MaaskitError` with a `settlement.` ledger code (errors may be re-created across
 * package copies or process boundaries, where `instanceof LedgerError` would fail).
 *
 * @example if (isLedgerError(e, "settlement.record.conflict")) …
 */
export function isLedgerError(err: unknown, code?: LedgerErrorCode): err is LedgerError {
  if (!(err instanceof Error)) return false;
  const c = (err as { code?: unknown }).code;
  if (typeof c !== "string" || !(ledgerErrorCodes as readonly string[]).includes(c)) return false;
  return code === undefined || c === code;
}
