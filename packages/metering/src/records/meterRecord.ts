import type { Decimal } from "decimal.js";
import { decimalToString, type Quantity, type QuantityJson, quantityToJson } from "../quantity.js";
import type { UsageFlags } from "../reading.js";
import { Problems } from "./recordProblems.js";

/** Format version of records and statements this code writes and verifies. */
export const METER_RECORD_VERSION = 1 as const;

/** Fixed-point decimals of every quantity and register value on the wire (version 1). */
export const METER_RECORD_DECIMALS = 9 as const;

/** `prevHash` of the first record (`seq = 0`) of an agreement: 32 zero bytes. */
export const GENESIS_HASH = `0x${"00".repeat(32)}` as const;

/** The zero address: `verifyingContract` of off-chain (embedded-ledger) agreements. */
export const ZERO_ADDRESS = `0x${"00".repeat(20)}` as const;

/**
 * Status of the gateway clock when the window was closed, as signed EV-charging meter
 * values report it (OCMF time status U / I / S).
 */
export type ClockStatus = "unknown" | "informative" | "synchronised";

/** Record flags: the usage flags of the window plus `gap` (an unbridged gap overlapped it). */
export interface RecordFlags extends UsageFlags {
  /** A gap overlapped the window and was not bridged: usage may be missing, never invented. */
  readonly gap?: boolean;
  /**
   * The source was read without security (OPC UA mode None, opted into explicitly): the
   * readings were neither signed nor encrypted and the server was not authenticated.
   */
  readonly insecureSource?: boolean;
  /**
   * Nobody observed the machine during the window (the gateway was down or not connected yet):
   * a `gateway.offline` gap covers all of it (bit 7).
   */
  readonly unobserved?: boolean;
}

/** Raw cumulative register values at the start and end of a window. */
export interface RegisterSpan {
  readonly start: Decimal;
  readonly end: Decimal;
}

/**
 * Binds records to one agreement on one ledger: the EIP-712 domain is derived from it
 * (`chainId 0` and the zero address for the embedded ledger and other off-chain agreements).
 */
export interface MeterRecordBinding {
  readonly agreementId: string;
  readonly chainId: number;
  readonly verifyingContract: string;
}

/** Usage of a further (not billed) channel, committed through `extrasHash`. */
export interface ExtraQuantity {
  readonly channel: string;
  readonly quantity: Quantity;
  readonly register?: RegisterSpan;
  readonly flags: RecordFlags;
}

/** ISO 22400 OEE time elements of a window (milliseconds) and produced / good counts. */
export interface OeeElements {
  /** Planned busy time (PBT), ms. */
  readonly plannedBusyTimeMs: number;
  /** Actual production time (APT), ms. */
  readonly actualProductionTimeMs: number;
  /** Produced quantity (PQ), usually in `C62` (pieces). */
  readonly produced: Quantity;
  /** Good quantity (GQ), same unit as `produced`. */
  readonly good: Quantity;
}

/** Variable-length extras of a record; signed through their EIP-712 hash (`extrasHash`). */
export interface MeterExtras {
  /** Further channels, sorted by channel, never the billed channel. */
  readonly quantities: readonly ExtraQuantity[];
  readonly oee?: OeeElements;
}

/**
 * A meter record before signing: one agreement's usage of one billed channel for one
 * window `[periodStart, periodEnd)`, chained to the previous record by `prevHash`.
 * See docs/meter-record.md for the signed encoding.
 */
export interface UnsignedMeterRecord extends MeterRecordBinding {
  readonly version: typeof METER_RECORD_VERSION;
  readonly machineId: string;
  /** The billed channel (e.g. `"air"`). */
  readonly channel: string;
  /** Gapless per agreement, starting at 0. */
  readonly seq: number;
  readonly periodStart: Date;
  readonly periodEnd: Date;
  /** The billed usage in the window, with its unit (and volume basis). */
  readonly quantity: Quantity;
  /** Raw registers at both ends; absent when the usage did not come from a register. */
  readonly register?: RegisterSpan;
  readonly flags: RecordFlags;
  readonly clock: ClockStatus;
  /** Inputs quarantined in the window. */
  readonly quarantined: number;
  readonly extras?: MeterExtras;
  /** EIP-712 digest of the previous record, or {@link GENESIS_HASH} for `seq = 0`. */
  readonly prevHash: string;
}

/**
 * A signed meter record.
 *
 * @example
 * ```ts
 * const record = await signMeterRecord(buildMeterRecord(window, options), { signer: wallet });
 * record.signer; // 0x… (EIP-55)
 * ```
 */
export interface MeterRecord extends UnsignedMeterRecord {
  /** Address of the signing key (EIP-55). */
  readonly signer: string;
  /** 65-byte `r ‖ s ‖ v` signature, low-s, `v ∈ {27, 28}`. */
  readonly signature: string;
}

/** JSON form of record flags: only the flags that are set. */
export type RecordFlagsJson = { -readonly [K in keyof RecordFlags]?: true };

/** JSON form of a register span (decimal strings). */
export interface RegisterSpanJson {
  start: string;
  end: string;
}

/** JSON form of an extra quantity. */
export interface ExtraQuantityJson {
  channel: string;
  quantity: QuantityJson;
  register?: RegisterSpanJson;
  flags: RecordFlagsJson;
}

/** JSON form of OEE elements. */
export interface OeeElementsJson {
  plannedBusyTimeMs: number;
  actualProductionTimeMs: number;
  produced: QuantityJson;
  good: QuantityJson;
}

/** JSON form of record extras. */
export interface MeterExtrasJson {
  quantities: ExtraQuantityJson[];
  oee?: OeeElementsJson;
}

/** The JSON members that bind a record or a statement to its agreement, machine and channel. */
export interface BindingJson {
  version: number;
  agreementId: string;
  chainId: number;
  verifyingContract: string;
  machineId: string;
  channel: string;
}

/** The {@link BindingJson} members, in canonical order (they follow `kind`). */
export const BINDING_JSON_KEYS = [
  "version",
  "agreementId",
  "chainId",
  "verifyingContract",
  "machineId",
  "channel",
] as const;

/** JSON form of a signed meter record (one line of an export file), decimals as strings. */
export interface MeterRecordJson extends BindingJson {
  kind: "meterRecord";
  seq: number;
  periodStart: string;
  periodEnd: string;
  quantity: QuantityJson;
  register?: RegisterSpanJson;
  flags: RecordFlagsJson;
  clock: ClockStatus;
  quarantined: number;
  extras?: MeterExtrasJson;
  prevHash: string;
  signer: string;
  signature: string;
}

/**
 * The flag names in bit order (lowest bit first); their bits are {@link RECORD_FLAG_BITS}.
 * `noRegister` (bit 5) is not a named flag: it is implied by the absence of `register`.
 */
export const RECORD_FLAG_NAMES = [
  "bridged",
  "derivedFromRate",
  "rollover",
  "reset",
  "gap",
  "replaced",
  "unobserved",
  "insecureSource",
  "ambiguous",
] as const;

/** A record flag name. */
export type RecordFlagName = (typeof RECORD_FLAG_NAMES)[number];

/**
 * The bit of each named flag in the signed `flags` field (docs/meter-record.md §2.2). Bit 5
 * is `noRegister`.
 */
export const RECORD_FLAG_BITS: Readonly<Record<RecordFlagName, number>> = Object.freeze({
  bridged: 0,
  derivedFromRate: 1,
  rollover: 2,
  reset: 3,
  gap: 4,
  replaced: 6,
  unobserved: 7,
  insecureSource: 8,
  ambiguous: 9,
});

/** The clock statuses in code order (`0` unknown, `1` informative, `2` synchronised). */
export const CLOCK_STATUSES: readonly ClockStatus[] = ["unknown", "informative", "synchronised"];

/**
 * Serialises a signed record to its JSON form (canonical: the same record gives the same
 * JSON, key order included).
 *
 * @example JSON.stringify(meterRecordToJson(record))
 */
export function meterRecordToJson(record: MeterRecord): MeterRecordJson {
  // Built field by field: insertion order is the canonical key order.
  const out = {
    kind: "meterRecord",
    version: record.version,
    agreementId: record.agreementId,
    chainId: record.chainId,
    verifyingContract: record.verifyingContract,
    machineId: record.machineId,
    channel: record.channel,
    seq: record.seq,
    periodStart: record.periodStart.toISOString(),
    periodEnd: record.periodEnd.toISOString(),
    quantity: quantityToJson(record.quantity),
  } as MeterRecordJson;
  if (record.register !== undefined) out.register = registerToJson(record.register);
  out.flags = flagsToJson(record.flags);
  out.clock = record.clock;
  out.quarantined = record.quarantined;
  if (record.extras !== undefined) out.extras = extrasToJson(record.extras);
  out.prevHash = record.prevHash;
  out.signer = record.signer;
  out.signature = record.signature;
  return out;
}

/** JSON form of record extras (also used by period statements). */
export function extrasToJson(extras: MeterExtras): MeterExtrasJson {
  const out: MeterExtrasJson = {
    quantities: extras.quantities.map((q) => {
      const j = { channel: q.channel, quantity: quantityToJson(q.quantity) } as ExtraQuantityJson;
      if (q.register !== undefined) j.register = registerToJson(q.register);
      j.flags = flagsToJson(q.flags);
      return j;
    }),
  };
  if (extras.oee !== undefined) {
    out.oee = {
      plannedBusyTimeMs: extras.oee.plannedBusyTimeMs,
      actualProductionTimeMs: extras.oee.actualProductionTimeMs,
      produced: quantityToJson(extras.oee.produced),
      good: quantityToJson(extras.oee.good),
    };
  }
  return out;
}

function registerToJson(r: RegisterSpan): RegisterSpanJson {
  return { start: decimalToString(r.start), end: decimalToString(r.end) };
}

/** JSON form of flags: only the set flags, in bit order. */
export function flagsToJson(flags: RecordFlags): RecordFlagsJson {
  const out: RecordFlagsJson = {};
  for (const name of RECORD_FLAG_NAMES) if (flags[name] === true) out[name] = true;
  return out;
}

export const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/**
 * A canonical decimal string (docs/meter-record.md §5): what `Decimal.toFixed()` prints for
 * a non-negative value — no sign, no exponent, no leading zeros, no trailing fractional
 * zeros, no lone dot (`"0"`, `"12.5"`, `"1000"`; not `"112.50"`, `"1.125e2"`, `"+1"`, `".5"`).
 */
export const CANONICAL_DECIMAL = /^(0|[1-9][0-9]*)(\.[0-9]*[1-9])?$/;

/** The members of a record's JSON form (`kind` optional); any other member is malformed. */
export const METER_RECORD_JSON_KEYS = [
  "kind",
  ...BINDING_JSON_KEYS,
  "seq",
  "periodStart",
  "periodEnd",
  "quantity",
  "register",
  "flags",
  "clock",
  "quarantined",
  "extras",
  "prevHash",
  "signer",
  "signature",
] as const;

/**
 * Parses the JSON form of a signed record, reporting every structural problem at once as
 * `metering.record.malformed` (`details.problems`). Strict: a member the format does not
 * define (an unsigned extra field), a decimal that is not canonical (`"112.50"`,
 * `"1.125e2"`) or a time not printed as `toISOString` prints it is malformed, even though it
 * would encode to the same signed bytes. It does not check the signature or the chain: that
 * is `verifyMeterRecords`.
 *
 * @example const record = meterRecordFromJson(JSON.parse(line));
 */
export function meterRecordFromJson(json: unknown): MeterRecord {
  const p = new Problems();
  const o = p.object(json, "record");
  if (o === undefined) throw p.error();
  p.unknownKeys(o, "record", METER_RECORD_JSON_KEYS);
  if (o.kind !== undefined && o.kind !== "meterRecord") p.add("kind", "must be meterRecord");
  const binding = p.binding(o);
  const register = o.register === undefined ? undefined : p.register(o.register, "register");
  const extras = o.extras === undefined ? undefined : p.extras(o.extras, "extras");
  const record = {
    ...binding,
    seq: p.int(o.seq, "seq"),
    periodStart: p.date(o.periodStart, "periodStart"),
    periodEnd: p.date(o.periodEnd, "periodEnd"),
    quantity: p.quantity(o.quantity, "quantity"),
    ...(register === undefined ? {} : { register }),
    flags: p.flags(o.flags, "flags"),
    clock: p.clock(o.clock, "clock"),
    quarantined: p.int(o.quarantined, "quarantined"),
    ...(extras === undefined ? {} : { extras }),
    prevHash: p.string(o.prevHash, "prevHash"),
    signer: p.string(o.signer, "signer"),
    signature: p.string(o.signature, "signature"),
  };
  if (p.list.length > 0) throw p.error();
  return record as MeterRecord;
}

/** Parses JSON extras (shared with period statements). */
export function extrasFromJson(json: unknown): MeterExtras {
  const p = new Problems();
  const extras = p.extras(json, "extras");
  if (p.list.length > 0 || extras === undefined) throw p.error();
  return extras;
}
