/**
 * Codes of the errors and verification failures of meter records and period statements.
 * Each names one reason a record (or statement) must be rejected; see docs/meter-record.md §7.
 *
 * @example
 * ```ts
 * if (result.reasons.includes("metering.record.seqGap")) …
 * ```
 */
export type MeterRecordErrorCode =
  | "metering.record.malformed"
  | "metering.record.notRepresentable"
  | "metering.record.nonContiguous"
  | "metering.record.invalidInput"
  | "metering.record.badSignature"
  | "metering.record.wrongSigner"
  | "metering.record.wrongAgreement"
  | "metering.record.brokenChain"
  | "metering.record.seqGap"
  | "metering.record.seqDuplicate"
  | "metering.record.seqOutOfOrder"
  | "metering.record.periodOverlap"
  | "metering.record.periodGap"
  | "metering.record.registerMismatch"
  | "metering.record.registerDiscontinuity"
  | "metering.record.exceedsCapacity"
  | "metering.statement.mismatch"
  | "metering.signer.invalidKey"
  | "metering.signer.missing";
