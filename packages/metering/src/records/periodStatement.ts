import type { TypedDataField } from "ethers";
import type { Quantity, quantityToJson } from "../quantity.js";
import type {
  BindingJson,
  METER_RECORD_VERSION,
  MeterExtras,
  MeterExtrasJson,
  MeterRecordBinding,
  RecordFlags,
  RecordFlagsJson,
  RegisterSpan,
  RegisterSpanJson,
} from "./meterRecord.js";

/** EIP-712 types of a period statement (primary type `PeriodStatement`), field order normative. */
export const PERIOD_STATEMENT_TYPES: Readonly<Record<string, readonly TypedDataField[]>> = {
  PeriodStatement: [
    { name: "version", type: "uint16" },
    { name: "machine", type: "bytes32" },
    { name: "channel", type: "bytes32" },
    { name: "periodStart", type: "uint64" },
    { name: "periodEnd", type: "uint64" },
    { name: "firstSeq", type: "uint64" },
    { name: "lastSeq", type: "uint64" },
    { name: "startHash", type: "bytes32" },
    { name: "headHash", type: "bytes32" },
    { name: "unit", type: "bytes8" },
    { name: "basis", type: "uint8" },
    { name: "total", type: "uint128" },
    { name: "registerStart", type: "uint128" },
    { name: "registerEnd", type: "uint128" },
    { name: "flags", type: "uint16" },
    { name: "plannedBusyTime", type: "uint64" },
    { name: "actualProductionTime", type: "uint64" },
    { name: "gapRecords", type: "uint32" },
    { name: "quarantined", type: "uint32" },
    { name: "extrasHash", type: "bytes32" },
  ],
};

/** EIP-712 type string of `PeriodStatement`. */
export const PERIOD_STATEMENT_TYPE_STRING =
  "PeriodStatement(uint16 version,bytes32 machine,bytes32 channel,uint64 periodStart,uint64 periodEnd,uint64 firstSeq,uint64 lastSeq,bytes32 startHash,bytes32 headHash,bytes8 unit,uint8 basis,uint128 total,uint128 registerStart,uint128 registerEnd,uint16 flags,uint64 plannedBusyTime,uint64 actualProductionTime,uint32 gapRecords,uint32 quarantined,bytes32 extrasHash)";

/** A period statement before signing: the summary of records `firstSeq..lastSeq`. */
export interface UnsignedPeriodStatement extends MeterRecordBinding {
  readonly version: typeof METER_RECORD_VERSION;
  readonly machineId: string;
  readonly channel: string;
  readonly periodStart: Date;
  readonly periodEnd: Date;
  readonly firstSeq: number;
  readonly lastSeq: number;
  /** `prevHash` of the first record (the previous statement's head). */
  readonly startHash: string;
  /** Digest of the last record: the chain head the statement commits to. */
  readonly headHash: string;
  /** Sum of the billed quantities. */
  readonly total: Quantity;
  /** First record's registerStart, last record's registerEnd (absent if either has none). */
  readonly register?: RegisterSpan;
  /** OR of the records' flags. */
  readonly flags: RecordFlags;
  /** Sums of the OEE elements (SLA availability = actual / planned). */
  readonly plannedBusyTimeMs: number;
  readonly actualProductionTimeMs: number;
  /** Records flagged `gap`. */
  readonly gapRecords: number;
  /** Sum of the records' quarantined counts. */
  readonly quarantined: number;
  /** Per-channel totals of the further quantities and the summed OEE element. */
  readonly extras?: MeterExtras;
}

/**
 * A signed period statement: settles a billing period with one signature check.
 *
 * @example
 * ```ts
 * const statement = await signPeriodStatement(buildPeriodStatement(records), { signer });
 * ```
 */
export interface PeriodStatement extends UnsignedPeriodStatement {
  readonly signer: string;
  readonly signature: string;
}

/** JSON form of a period statement (one line of an export file). */
export interface PeriodStatementJson extends BindingJson {
  kind: "periodStatement";
  periodStart: string;
  periodEnd: string;
  firstSeq: number;
  lastSeq: number;
  startHash: string;
  headHash: string;
  total: ReturnType<typeof quantityToJson>;
  register?: RegisterSpanJson;
  flags: RecordFlagsJson;
  plannedBusyTimeMs: number;
  actualProductionTimeMs: number;
  gapRecords: number;
  quarantined: number;
  extras?: MeterExtrasJson;
  signer: string;
  signature: string;
}

/** The signed message of a statement. */
export interface PeriodStatementMessage {
  version: number;
  machine: string;
  channel: string;
  periodStart: bigint;
  periodEnd: bigint;
  firstSeq: bigint;
  lastSeq: bigint;
  startHash: string;
  headHash: string;
  unit: string;
  basis: number;
  total: bigint;
  registerStart: bigint;
  registerEnd: bigint;
  flags: number;
  plannedBusyTime: bigint;
  actualProductionTime: bigint;
  gapRecords: number;
  quarantined: number;
  extrasHash: string;
}
