import { decimalToString } from "../quantity.js";
import { meterRecordDigest } from "../records/encodeMeterRecord.js";
import {
  type MeterRecord,
  meterRecordFromJson,
  meterRecordToJson,
} from "../records/meterRecord.js";
import type { JsonValue } from "./canonicalJson.js";
import type { JournalCodec } from "./journalCodec.js";

/**
 * Journals signed `MeterRecord`s: stored in their JSON form, chained by their EIP-712
 * digest, and remembering the end register of the billed channel and of every extra
 * channel that has one.
 *
 * @example
 * ```ts
 * const journal = await openJournal({ dir, codec: meterRecordCodec });
 * ```
 */
export const meterRecordCodec: JournalCodec<MeterRecord> = {
  encode: (record) => meterRecordToJson(record) as unknown as JsonValue,
  decode: (json) => meterRecordFromJson(json),
  seq: (record) => record.seq,
  prevHash: (record) => record.prevHash,
  hash: (record) => meterRecordDigest(record),
  registers: (record) => {
    const out: Record<string, string> = {};
    if (record.register !== undefined) out[record.channel] = decimalToString(record.register.end);
    for (const extra of record.extras?.quantities ?? []) {
      if (extra.register !== undefined) out[extra.channel] = decimalToString(extra.register.end);
    }
    return out;
  },
};
