import {
  encodeMeterRecord,
  encodePeriodStatement,
  METER_EXTRAS_TYPES,
  type MeterRecord,
  type PeriodStatement,
  unitToBytes8,
  VOLUME_BASIS_CODES,
} from "@maaskit/metering";
import {
  AbiCoder,
  concat,
  getAddress,
  isAddress,
  keccak256,
  Signature,
  TypedDataEncoder,
  type TypedDataField,
  toUtf8Bytes,
} from "ethers";
import type { Agreement } from "../../agreement.js";
import { type ChainCalendar, chainCalendar } from "../../billingPeriodAt.js";
import type { Currency } from "../../currency.js";
import { type FixedTariff, toFixedTariff } from "../../fixedPoint.js";
import { ledgerError } from "../../ledgerErrors.js";
import type { Tariff } from "../../tariff.js";

// The ABI shapes of MeterAgreements.sol's inputs, as ethers encodes them (plain objects).
// Internal to the EVM backend: what crosses the package boundary is the LedgerBackend port.

/** `upTo` of the last (unbounded) tier on chain: `type(uint120).max`. */
export const UNBOUNDED_TIER = (1n << 120n) - 1n;
/** Quantity decimals on chain: the record format's (docs/meter-record.md §2.1). */
export const CHAIN_QUANTITY_DECIMALS = 9;
const EMPTY_ARRAY_HASH = keccak256("0x");

/** `keccak256(utf8(text))`: agreement keys, machine and channel ids on chain. */
export function hashText(text: string): string {
  return keccak256(toUtf8Bytes(text));
}

/** A record's fields that vary per record, and its compact signature. */
export interface RecordInput {
  periodEnd: bigint;
  quantity: bigint;
  registerStart: bigint;
  registerEnd: bigint;
  flags: number;
  clock: number;
  quarantined: number;
  extrasHash: string;
  r: string;
  vs: string;
}

/** The preimage of a record's `extrasHash`. */
export interface ExtrasInput {
  quantitiesHash: string;
  hasOee: boolean;
  plannedBusyTime: bigint;
  actualProductionTime: bigint;
  unit: string;
  produced: bigint;
  good: bigint;
}

/** A statement as the contract takes it. */
export interface StatementInput {
  channel: string;
  periodStart: bigint;
  periodEnd: bigint;
  firstSeq: bigint;
  lastSeq: bigint;
  startHash: string;
  headHash: string;
  total: bigint;
  registerStart: bigint;
  registerEnd: bigint;
  flags: number;
  plannedBusyTime: bigint;
  actualProductionTime: bigint;
  gapRecords: number;
  quarantined: number;
  extrasHash: string;
  r: string;
  vs: string;
}

/** A tariff as the contract takes it. */
export interface TariffInput {
  priceDecimals: number;
  roundingDecimals: number;
  halfUp: boolean;
  volume: boolean;
  includedVolume: bigint;
  baseFee: bigint;
  minimumCommitment: bigint;
  hasSla: boolean;
  slaThreshold: bigint;
  slaStep: bigint;
  slaCreditPerStep: bigint;
  slaCap: bigint;
  slaStartedSteps: boolean;
  slaMaxCreditWhenUndefined: boolean;
  tiers: { upTo: bigint; unitPrice: bigint }[];
}

/** An agreement as the contract takes it. */
export interface AgreementInput {
  provider: string;
  customer: string;
  token: string;
  currencyDecimals: number;
  overdraft: number;
  machine: string;
  unit: string;
  basis: number;
  start: bigint;
  end: bigint;
  signers: { signer: string; validFrom: bigint; validUntil: bigint }[];
  tariff: TariffInput;
  calendar: CalendarInput;
}

/** The billing calendar as the contract takes it (kind 1 months, kind 2 fixed length). */
export interface CalendarInput {
  kind: number;
  anchor: bigint;
  length: bigint;
  offsets: number[];
}

/** The contract's calendar input of an agreement (`chainCalendar`). */
export function toCalendarInput(agreement: Agreement): CalendarInput {
  let c: ChainCalendar;
  try {
    c = chainCalendar(agreement);
  } catch (cause) {
    throw ledgerError(
      "settlement.agreement.invalid",
      (cause as Error).message,
      { problems: (cause as { details?: { problems?: unknown } }).details?.problems ?? [] },
      cause,
    );
  }
  return c.kind === "months"
    ? { kind: 1, anchor: BigInt(c.anchor), length: 0n, offsets: [...c.offsetsMinutes] }
    : {
        kind: 2,
        anchor: BigInt(c.anchor),
        length: BigInt(c.length),
        offsets: new Array<number>(12).fill(0),
      };
}

function compact(signature: string): { r: string; vs: string } {
  const sig = Signature.from(signature);
  return { r: sig.r, vs: sig.yParityAndS };
}

/** The contract input of a signed record (its chained fields come from the contract's head). */
export function toRecordInput(record: MeterRecord): RecordInput {
  const m = encodeMeterRecord(record).message;
  return {
    periodEnd: m.periodEnd,
    quantity: m.quantity,
    registerStart: m.registerStart,
    registerEnd: m.registerEnd,
    flags: m.flags,
    clock: m.clock,
    quarantined: m.quarantined,
    extrasHash: m.extrasHash,
    ...compact(record.signature),
  };
}

let extrasEncoder: TypedDataEncoder | undefined;

/** The preimage of a record's `extrasHash`, for SLA tariffs (OEE checked on chain). */
export function toExtrasInput(record: MeterRecord): ExtrasInput {
  const x = encodeMeterRecord(record).extras;
  extrasEncoder ??= TypedDataEncoder.from(METER_EXTRAS_TYPES as Record<string, TypedDataField[]>);
  const enc = extrasEncoder;
  const quantitiesHash =
    x === undefined || x.quantities.length === 0
      ? EMPTY_ARRAY_HASH
      : keccak256(
          concat(
            x.quantities.map((q) =>
              enc.hashStruct("MeterQuantity", q as unknown as Record<string, unknown>),
            ),
          ),
        );
  const oee = x?.oee[0];
  return {
    quantitiesHash,
    hasOee: oee !== undefined,
    plannedBusyTime: oee === undefined ? 0n : BigInt(oee.plannedBusyTime),
    actualProductionTime: oee === undefined ? 0n : BigInt(oee.actualProductionTime),
    unit: oee === undefined ? `0x${"00".repeat(8)}` : oee.unit,
    produced: oee === undefined ? 0n : BigInt(oee.produced),
    good: oee === undefined ? 0n : BigInt(oee.good),
  };
}

/** The contract input of a signed period statement. */
export function toStatementInput(st: PeriodStatement): StatementInput {
  const m = encodePeriodStatement(st).message;
  return {
    channel: m.channel,
    periodStart: m.periodStart,
    periodEnd: m.periodEnd,
    firstSeq: m.firstSeq,
    lastSeq: m.lastSeq,
    startHash: m.startHash,
    headHash: m.headHash,
    total: m.total,
    registerStart: m.registerStart,
    registerEnd: m.registerEnd,
    flags: m.flags,
    plannedBusyTime: m.plannedBusyTime,
    actualProductionTime: m.actualProductionTime,
    gapRecords: m.gapRecords,
    quarantined: m.quarantined,
    extrasHash: m.extrasHash,
    ...compact(st.signature),
  };
}

/**
 * The fixed-point tariff the contract stores: quantities with 9 decimals (the records'),
 * prices with the fewest decimals that hold every price exactly. Throws
 * `settlement.agreement.invalid` when a term does not fit the contract's integers.
 */
export function toChainTariff(
  tariff: Tariff,
  currency: Currency,
): { input: TariffInput; fixed: FixedTariff } {
  if (tariff.feature !== undefined) {
    throw ledgerError(
      "settlement.agreement.invalid",
      "Feature prices (tariff.feature) are not supported on chain yet (docs/evm.md)",
      { feature: tariff.feature.id },
    );
  }
  const prices =
    tariff.pricing.model === "perUnit"
      ? [tariff.pricing.unitPrice]
      : tariff.pricing.tiers.map((t) => t.unitPrice);
  const priceDecimals = Math.max(
    0,
    ...[...prices, tariff.baseFee, tariff.minimumCommitment].map((d) => d.decimalPlaces()),
  );
  let fixed: FixedTariff;
  try {
    fixed = toFixedTariff(tariff, {
      quantityDecimals: CHAIN_QUANTITY_DECIMALS,
      priceDecimals,
      currency,
    });
  } catch (cause) {
    throw ledgerError(
      "settlement.agreement.invalid",
      "The tariff is not representable on chain (quantities have 9 decimals, prices at most 18)",
      { reason: (cause as Error).message },
      cause,
    );
  }
  const problems: string[] = [];
  const fits = (value: bigint, bits: bigint, field: string) => {
    if (value >= 1n << bits) problems.push(`${field} exceeds ${bits} bits`);
    return value;
  };
  const tiers = fixed.tiers.map((t, i) => ({
    // type(uint120).max itself means "unbounded" on chain, so a bound must stay below it.
    upTo: t.upTo === null ? UNBOUNDED_TIER : fits(t.upTo + 1n, 120n, `tiers[${i}].upTo`) - 1n,
    unitPrice: fits(t.unitPrice, 136n, `tiers[${i}].unitPrice`),
  }));
  const sla = fixed.sla;
  const input: TariffInput = {
    priceDecimals: fixed.priceDecimals,
    roundingDecimals: fixed.roundingDecimals,
    halfUp: fixed.roundingMode === "halfUp",
    volume: fixed.volume,
    includedVolume: fits(fixed.includedVolume, 128n, "includedVolume"),
    baseFee: fits(fixed.baseFee, 128n, "baseFee"),
    minimumCommitment: fits(fixed.minimumCommitment, 128n, "minimumCommitment"),
    hasSla: sla !== null,
    slaThreshold: sla?.threshold ?? 0n,
    slaStep: sla?.step ?? 0n,
    slaCreditPerStep: sla?.creditPerStep ?? 0n,
    slaCap: sla?.cap ?? 0n,
    slaStartedSteps: sla?.startedSteps ?? false,
    slaMaxCreditWhenUndefined: sla?.maxCreditWhenUndefined ?? false,
    tiers,
  };
  if (problems.length > 0) {
    throw ledgerError("settlement.agreement.invalid", "The tariff does not fit the contract", {
      problems,
    });
  }
  return { input, fixed };
}

/** The contract input of an agreement settled in the ERC-20 `token`. */
export function toAgreementInput(agreement: Agreement, token: string): AgreementInput {
  const { provider, customer } = agreement.parties;
  if (!isAddress(provider) || !isAddress(customer)) {
    throw ledgerError(
      "settlement.agreement.invalid",
      "On an EVM ledger both parties must be addresses",
      { provider, customer },
    );
  }
  const metered = agreement.tariff.metered;
  const terms = agreement.paymentTerms;
  return {
    provider: getAddress(provider),
    customer: getAddress(customer),
    token: getAddress(token),
    currencyDecimals: agreement.currency.decimals,
    overdraft: terms.kind === "invoiced" ? 0 : terms.overdraft === "suspend" ? 1 : 2,
    machine: hashText(agreement.machineId),
    unit: unitToBytes8(metered.unit),
    basis: metered.basis === undefined ? 0 : VOLUME_BASIS_CODES[metered.basis],
    start: BigInt(agreement.start.getTime()),
    end: agreement.end === undefined ? 0n : BigInt(agreement.end.getTime()),
    signers: agreement.signers.map((s) => ({
      signer: getAddress(s.address),
      validFrom: BigInt(s.validFrom.getTime()),
      validUntil: s.validUntil === undefined ? 0n : BigInt(s.validUntil.getTime()),
    })),
    tariff: toChainTariff(agreement.tariff, agreement.currency).input,
    calendar: toCalendarInput(agreement),
  };
}

/** The contract's storage key of an agreement: its id bound to both parties. */
export function agreementKey(agreementId: string, provider: string, customer: string): string {
  return keccak256(
    AbiCoder.defaultAbiCoder().encode(
      ["bytes32", "address", "address"],
      [hashText(agreementId), provider, customer],
    ),
  );
}

/** The escrow's storage key of a work order: its id bound to its customer. */
export function workOrderKey(customer: string, workOrderId: string): string {
  return keccak256(
    AbiCoder.defaultAbiCoder().encode(["address", "bytes32"], [customer, workOrderId]),
  );
}
