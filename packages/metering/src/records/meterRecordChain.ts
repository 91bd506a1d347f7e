import type { Decimal } from "decimal.js";
import { meterRecordDigest } from "./encodeMeterRecord.js";
import { GENESIS_HASH, type UnsignedMeterRecord } from "./meterRecord.js";

/**
 * Where an agreement's chain stands: the `seq` and `prevHash` the next record gets, and
 * (after the first record) the previous period end and register end, so the next window
 * is checked for contiguity and a window without usage can carry the unchanged register.
 */
export interface MeterRecordChainState {
  /** Seq of the next record. */
  readonly seq: number;
  /** Digest of the last record, or {@link GENESIS_HASH}. */
  readonly prevHash: string;
  /** `periodEnd` of the last record. */
  readonly periodEnd?: Date;
  /** Register at the end of the last record, when it had one. */
  readonly registerEnd?: Decimal;
}

/**
 * The chain state of an agreement without records: seq 0, genesis prevHash.
 *
 * @example buildMeterRecord(window, { chain: genesisChainState(), … })
 */
export function genesisChainState(): MeterRecordChainState {
  return { seq: 0, prevHash: GENESIS_HASH };
}

/**
 * The chain state after `record`: the next seq, the record's digest, its period end and
 * register end.
 *
 * @example chain = nextChainState(await signMeterRecord(unsigned, { signer }))
 */
export function nextChainState(record: UnsignedMeterRecord): MeterRecordChainState {
  const base = {
    seq: record.seq + 1,
    prevHash: meterRecordDigest(record),
    periodEnd: record.periodEnd,
  };
  return record.register === undefined ? base : { ...base, registerEnd: record.register.end };
}
