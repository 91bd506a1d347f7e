import type { MeterRecord } from "./meterRecord.js";
import type { MeterRecordChainState } from "./meterRecordChain.js";
import {
  createMeterRecordVerifier,
  type MeterRecordCheck,
  type VerifyMeterRecordsParameters,
} from "./meterRecordVerifier.js";

/** What {@link verifyMeterRecords} returns. */
export interface VerifyMeterRecordsReturnType {
  /** True when every record is valid. */
  readonly valid: boolean;
  /** One verdict per input record, in input order. */
  readonly results: readonly MeterRecordCheck[];
  /** The chain state after the last record (for verifying the next batch). */
  readonly head: MeterRecordChainState | undefined;
}

/**
 * Verifies a run of records in chain order: each signature (against the record's signer,
 * which must be an allowed key), the agreement binding, gapless `seq`, the `prevHash`
 * chain, contiguous periods and register deltas. Reports every reason per record with
 * `MaaskitError` codes (`metering.record.badSignature`, `…seqGap`, …).
 *
 * @example
 * ```ts
 * const { valid, results } = verifyMeterRecords(records, { signer: "0x…" });
 * for (const r of results) if (!r.valid) console.log(r.seq, r.reasons);
 * ```
 */
export function verifyMeterRecords(
  records: Iterable<MeterRecord>,
  params: VerifyMeterRecordsParameters = {},
): VerifyMeterRecordsReturnType {
  const verifier = createMeterRecordVerifier(params);
  const results: MeterRecordCheck[] = [];
  for (const record of records) results.push(verifier.check(record));
  return { valid: results.every((r) => r.valid), results, head: verifier.state };
}
