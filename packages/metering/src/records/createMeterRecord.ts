import type { Decimal } from "decimal.js";
import { MaaskitError } from "../errors.js";
import { Dec, type Quantity, toDecimal } from "../quantity.js";
import type { UnitCode, VolumeBasis } from "../units.js";
import type { MeterWindow, WindowUsage } from "../window.js";
import {
  type ClockStatus,
  type ExtraQuantity,
  GENESIS_HASH,
  METER_RECORD_DECIMALS,
  METER_RECORD_VERSION,
  type MeterRecordBinding,
  type OeeElements,
  RECORD_FLAG_NAMES,
  type RecordFlags,
  type RegisterSpan,
  type UnsignedMeterRecord,
} from "./meterRecord.js";
import type { MeterRecordChainState } from "./meterRecordChain.js";
import { meterRecordMessage } from "./meterRecordTypedData.js";

/** Parameters of {@link buildMeterRecord}. */
export interface BuildMeterRecordParameters {
  /** The agreement (and ledger) the record is bound to. */
  readonly binding: MeterRecordBinding;
  /** Where the agreement's chain stands: the record gets `chain.seq` and `chain.prevHash`. */
  readonly chain: MeterRecordChainState;
  /** The gateway clock status when the window closed. */
  readonly clock: ClockStatus;
  /** The billed channel; default: the window's only channel. */
  readonly channel?: string;
  /** Unit (and basis) of the billed quantity when the window has no usage on that channel. */
  readonly unit?: UnitCode;
  readonly basis?: VolumeBasis;
  /**
   * OEE elements of the window (e.g. mapped from `window.oee` by the caller), committed
   * through `extrasHash`.
   */
  readonly oee?: OeeElements;
  /** Further channels to record as extras: `"all"` (default), `"none"` or a list. */
  readonly extraChannels?: "all" | "none" | readonly string[];
  /**
   * Round rate-derived quantities that have no register half-even to 9 decimals instead
   * of rejecting them as not representable. Registers are never rounded.
   */
  readonly quantize?: boolean;
  /**
   * The window's readings came from an insecure source (OPC UA security mode None, opted
   * into explicitly): every quantity of the record gets flag `insecureSource` (bit 8). A
   * gateway sets it from its source configuration (`opcUaSourceIsInsecure(security)`).
   */
  readonly insecureSource?: boolean;
}

/** Errors {@link buildMeterRecord} throws. */
export type BuildMeterRecordErrorType = MaaskitError<
  | "metering.record.invalidInput"
  | "metering.record.nonContiguous"
  | "metering.record.notRepresentable"
  | "metering.record.malformed"
>;

/**
 * Turns a closed window into the next unsigned record of an agreement's chain: the billed
 * channel's usage and raw registers, the other channels and the OEE elements as extras,
 * flags from the usage and the window's gaps (an unbridged gap sets `gap`; nothing is
 * invented for it), the quarantined count and the clock status.
 *
 * A window without usage on the billed channel gives quantity 0 (in `unit`) and, when no
 * unbridged gap overlapped it, the unchanged register from the chain state.
 *
 * @example
 * ```ts
 * const unsigned = buildMeterRecord(window, {
 *   binding: { agreementId: "agr-1", chainId: 0, verifyingContract: ZERO_ADDRESS },
 *   chain, clock: "synchronised", channel: "air",
 * });
 * ```
 */
export function buildMeterRecord(
  window: MeterWindow,
  params: BuildMeterRecordParameters,
): UnsignedMeterRecord {
  const problems: { field: string; problem: string }[] = [];
  const channel =
    params.channel ?? (window.usage.length === 1 ? window.usage[0]?.channel : undefined);
  if (channel === undefined) {
    problems.push({
      field: "channel",
      problem: "must be given when the window has not exactly one channel",
    });
  }
  const billed = window.usage.find((u) => u.channel === channel);
  if (billed === undefined && params.unit === undefined) {
    problems.push({
      field: "unit",
      problem: `must be given: the window has no usage on ${channel}`,
    });
  }
  if (problems.length > 0 || channel === undefined) {
    throw new MaaskitError(
      "metering.record.invalidInput",
      `Cannot build a record: ${problems[0]?.field} ${problems[0]?.problem}`,
      {
        details: { problems },
      },
    );
  }
  const { chain } = params;
  if (chain.periodEnd !== undefined && chain.periodEnd.getTime() !== window.start.getTime()) {
    throw new MaaskitError(
      "metering.record.nonContiguous",
      "The window does not start where the previous record ended",
      {
        details: {
          seq: chain.seq,
          expectedStart: chain.periodEnd.toISOString(),
          windowStart: window.start.toISOString(),
        },
      },
    );
  }
  const gapped = (ch: string) =>
    window.gaps.some(
      (g) => (g.channel === undefined || g.channel === ch) && g.bridgedBy !== "register",
    );

  let quantity: Quantity;
  let register: RegisterSpan | undefined;
  let flags: RecordFlags;
  if (billed !== undefined) {
    ({ quantity, register, flags } = fromUsage(
      billed,
      gapped(channel),
      params.quantize === true,
      false,
    ));
  } else {
    const gap = gapped(channel);
    quantity =
      params.basis === undefined
        ? { value: toDecimal(0), unit: params.unit! }
        : { value: toDecimal(0), unit: params.unit!, basis: params.basis };
    register =
      !gap && chain.registerEnd !== undefined
        ? { start: chain.registerEnd, end: chain.registerEnd }
        : undefined;
    flags = gap ? { gap: true } : {};
  }
  const insecure = params.insecureSource === true;
  if (insecure) flags = { ...flags, insecureSource: true };

  const wanted = params.extraChannels ?? "all";
  const extraQuantities: ExtraQuantity[] = window.usage
    .filter(
      (u) =>
        u.channel !== channel &&
        (wanted === "all" || (wanted !== "none" && wanted.includes(u.channel))),
    )
    .map((u) => ({
      channel: u.channel,
      ...fromUsage(u, gapped(u.channel), params.quantize === true, insecure),
    }))
    .map(({ register: r, ...rest }) => (r === undefined ? rest : { ...rest, register: r }))
    .sort((a, b) => (a.channel < b.channel ? -1 : a.channel > b.channel ? 1 : 0));

  const record: Record<string, unknown> = {
    version: METER_RECORD_VERSION,
    agreementId: params.binding.agreementId,
    chainId: params.binding.chainId,
    verifyingContract: params.binding.verifyingContract,
    machineId: window.machineId,
    channel,
    seq: chain.seq,
    periodStart: window.start,
    periodEnd: window.end,
    quantity,
  };
  if (register !== undefined) record.register = register;
  record.flags = flags;
  record.clock = params.clock;
  record.quarantined = window.quarantined;
  if (extraQuantities.length > 0 || params.oee !== undefined) {
    record.extras =
      params.oee === undefined
        ? { quantities: extraQuantities }
        : { quantities: extraQuantities, oee: params.oee };
  }
  record.prevHash = chain.prevHash;
  const unsigned = record as unknown as UnsignedMeterRecord;
  // Validate now (every problem at once) so a bad window fails here, not at signing.
  meterRecordMessage(unsigned, () => GENESIS_HASH);
  return unsigned;
}

function fromUsage(
  u: WindowUsage,
  gap: boolean,
  quantize: boolean,
  insecure: boolean,
): { quantity: Quantity; register?: RegisterSpan; flags: RecordFlags } {
  const base: RecordFlags = gap ? { ...u.flags, gap: true } : { ...u.flags };
  const flags: RecordFlags = insecure ? { ...base, insecureSource: true } : base;
  let value: Decimal = u.quantity.value;
  if (quantize && u.register === undefined && u.flags.derivedFromRate === true) {
    value = new Dec(value).toDecimalPlaces(METER_RECORD_DECIMALS, Dec.ROUND_HALF_EVEN);
  }
  const quantity: Quantity =
    u.quantity.basis === undefined
      ? { value, unit: u.quantity.unit }
      : { value, unit: u.quantity.unit, basis: u.quantity.basis };
  return u.register === undefined
    ? { quantity, flags: cleanFlags(flags) }
    : {
        quantity,
        register: { start: u.register.start, end: u.register.end },
        flags: cleanFlags(flags),
      };
}

// Keep only the record flags that are set, so equal windows give equal records.
function cleanFlags(flags: RecordFlags): RecordFlags {
  const out: Record<string, true> = {};
  for (const name of RECORD_FLAG_NAMES) if (flags[name] === true) out[name] = true;
  return out as RecordFlags;
}
