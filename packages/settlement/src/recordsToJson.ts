import { type MeterRecord, type MeterRecordJson, meterRecordToJson } from "@maaskit/metering";
import { ledgerError } from "./ledgerErrors.js";

/**
 * Encodes submitted records for a backend's command log. A caller can hand over anything
 * (a record parsed by hand, `null`, a string): what is not a record is
 * `settlement.record.invalid` naming its index, never a TypeError.
 *
 * @example recordsToJson(records) // MeterRecordJson[]
 */
export function recordsToJson(records: readonly MeterRecord[]): MeterRecordJson[] {
  if (!Array.isArray(records)) {
    throw ledgerError("settlement.record.invalid", "records must be an array of meter records", {});
  }
  return records.map((r, index) => {
    try {
      return meterRecordToJson(r);
    } catch (err) {
      throw ledgerError(
        "settlement.record.invalid",
        `Submitted record ${index} is not a meter record`,
        { index },
        err,
      );
    }
  });
}
