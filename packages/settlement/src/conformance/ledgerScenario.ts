import {
  canonicalJson,
  dec,
  GENESIS_HASH,
  type MeterRecord,
  meterRecordDigest,
  quantity,
  signMeterRecord,
  type UnsignedMeterRecord,
} from "@maaskit/metering";
import { keccak256, toUtf8Bytes, Wallet } from "ethers";
import { type Agreement, parseAgreement } from "../agreement.js";
import type { Balance, LedgerClock, LedgerDomain, WorkOrder } from "../ledger.js";
import type { LedgerEvent } from "../ledgerEvents.js";

/** A clock the scenario moves by hand, so every backend sees the same instants. */
export interface ScenarioClock extends LedgerClock {
  set(instant: Date | string): void;
}

/**
 * A manual clock for conformance runs.
 *
 * @example const clock = scenarioClock("2025-01-01T00:00:00Z"); clock.set("2025-01-02T00:00:00Z")
 */
export function scenarioClock(start: Date | string): ScenarioClock {
  let now = new Date(start);
  return {
    now: () => new Date(now.getTime()),
    set(instant) {
      now = new Date(instant);
    },
  };
}

function key(role: string): string {
  return keccak256(toUtf8Bytes(`maaskit.conformance.${role}`));
}

/**
 * The fixed private keys of the conformance scenario (test keys: never use them for
 * anything real). A backend that sends transactions per party (EVM) signs with these.
 */
export const conformanceKeys = {
  provider: key("provider"),
  customer: key("customer"),
  arbiter: key("arbiter"),
  /** The machine's first record key. */
  machineA: key("machineA"),
  /** The machine's key after rotation. */
  machineB: key("machineB"),
  /** A key no agreement allows. */
  stranger: key("stranger"),
} as const;

/** Wallets (ethers) of the conformance parties. */
export function conformanceWallets(): Record<keyof typeof conformanceKeys, Wallet> {
  return Object.fromEntries(
    Object.entries(conformanceKeys).map(([role, k]) => [role, new Wallet(k)]),
  ) as Record<keyof typeof conformanceKeys, Wallet>;
}

/** Agreement id (bytes32) of a scenario label. */
export function scenarioId(label: string): string {
  return keccak256(toUtf8Bytes(`maaskit.conformance/${label}`));
}

/** Start of the scenario's first billing day. */
export const SCENARIO_START = "2025-01-01T00:00:00.000Z";
const HOUR = 3_600_000;

/**
 * The agreement the scenario (and each bad-input case) opens: one day billing periods in UTC,
 * a graduated air tariff with included volume, base fee, minimum commitment and an
 * availability SLA; key A until 13:00 on day one, key B from 12:00 (rotation overlap).
 */
export function scenarioAgreement(
  label: string,
  options: {
    overdraft?: "suspend" | "accrueDebt";
    invoiced?: boolean;
    token?: string;
  } = {},
): Agreement {
  const w = conformanceWallets();
  return parseAgreement({
    agreementId: scenarioId(label),
    name: `conformance ${label}`,
    parties: { provider: w.provider.address, customer: w.customer.address },
    machineId: "compressor-7",
    signers: [
      {
        address: w.machineA.address,
        validFrom: SCENARIO_START,
        validUntil: "2025-01-01T13:00:00.000Z",
      },
      { address: w.machineB.address, validFrom: "2025-01-01T12:00:00.000Z" },
    ],
    tariff: {
      version: 1,
      metered: { unit: "MTQ", basis: "ISO1217-FAD" },
      pricing: {
        model: "graduated",
        tiers: [{ upTo: "1000", unitPrice: "0.025" }, { unitPrice: "0.02" }],
      },
      includedVolume: "100",
      baseFee: "5",
      minimumCommitment: "10",
      sla: {
        threshold: "0.98",
        step: "0.001",
        creditPerStep: "0.005",
        cap: "0.1",
        stepping: "full",
        whenUndefined: "noCredit",
      },
      rounding: { mode: "halfEven", decimals: 2 },
    },
    currency:
      options.token === undefined
        ? { symbol: "EURT", decimals: 6 }
        : { symbol: "EURT", decimals: 6, address: options.token },
    billingPeriod: { kind: "days", days: 1, timeZone: "UTC" },
    paymentTerms: options.invoiced
      ? { kind: "invoiced", netDays: 30 }
      : { kind: "prepaid", overdraft: options.overdraft ?? "suspend" },
    start: SCENARIO_START,
    status: "active",
  });
}

/** One window of the scenario's usage. */
export interface UsageSpec {
  /** Hours after `SCENARIO_START`. */
  readonly fromHour: number;
  readonly toHour: number;
  /** m³ (FAD), as a decimal string. */
  readonly m3: string;
  /** Planned busy and actual production time, minutes. */
  readonly pbtMin: number;
  readonly aptMin: number;
}

/** Usage of the two scenario days: four 6-hour windows per day. */
export const scenarioUsage: readonly UsageSpec[] = [
  { fromHour: 0, toHour: 6, m3: "300.5", pbtMin: 360, aptMin: 360 },
  { fromHour: 6, toHour: 12, m3: "412.25", pbtMin: 360, aptMin: 351 },
  { fromHour: 12, toHour: 18, m3: "0", pbtMin: 360, aptMin: 355 },
  { fromHour: 18, toHour: 24, m3: "510.125", pbtMin: 360, aptMin: 360 },
  { fromHour: 24, toHour: 30, m3: "120", pbtMin: 360, aptMin: 360 },
  { fromHour: 30, toHour: 36, m3: "98.765432", pbtMin: 360, aptMin: 360 },
  { fromHour: 36, toHour: 42, m3: "77.1", pbtMin: 360, aptMin: 359 },
  { fromHour: 42, toHour: 48, m3: "0.000000001", pbtMin: 0, aptMin: 0 },
];

/** The key the machine uses for a window: A before the rotation at 12:00, B after. */
export function keyFor(spec: UsageSpec): "machineA" | "machineB" {
  return spec.toHour <= 12 ? "machineA" : "machineB";
}

/** An unsigned scenario record (for tests that sign it with another key or alter it). */
export function unsignedScenarioRecord(
  agreement: Agreement,
  domain: LedgerDomain,
  spec: UsageSpec,
  seq: number,
  prevHash: string,
): UnsignedMeterRecord {
  const start = Date.parse(SCENARIO_START);
  return {
    version: 1,
    agreementId: agreement.agreementId,
    chainId: domain.chainId,
    verifyingContract: domain.verifyingContract,
    machineId: agreement.machineId,
    channel: "air",
    seq,
    periodStart: new Date(start + spec.fromHour * HOUR),
    periodEnd: new Date(start + spec.toHour * HOUR),
    quantity: quantity(spec.m3, "MTQ", "ISO1217-FAD"),
    flags: {},
    clock: "synchronised",
    quarantined: 0,
    extras: {
      quantities: [],
      oee: {
        plannedBusyTimeMs: spec.pbtMin * 60_000,
        actualProductionTimeMs: spec.aptMin * 60_000,
        produced: quantity("0", "C62"),
        good: quantity("0", "C62"),
      },
    },
    prevHash,
  };
}

/**
 * Signs the scenario's records for an agreement on a ledger domain, chained from genesis,
 * each with the key valid for its window.
 *
 * @example const records = await scenarioRecords(agreement, domain)
 */
export async function scenarioRecords(
  agreement: Agreement,
  domain: LedgerDomain,
  usage: readonly UsageSpec[] = scenarioUsage,
): Promise<MeterRecord[]> {
  const w = conformanceWallets();
  const out: MeterRecord[] = [];
  let prevHash: string = GENESIS_HASH;
  for (const [seq, spec] of usage.entries()) {
    const record = await signMeterRecord(
      unsignedScenarioRecord(agreement, domain, spec, seq, prevHash),
      { signer: w[keyFor(spec)] },
    );
    out.push(record);
    prevHash = meterRecordDigest(record);
  }
  return out;
}

/** A billing day of the scenario: day 0 is 2025-01-01. */
export function scenarioDay(day: number): { start: Date; end: Date } {
  const start = Date.parse(SCENARIO_START) + day * 24 * HOUR;
  return { start: new Date(start), end: new Date(start + 24 * HOUR) };
}

/** Serialisable snapshot of a balance. */
export function balanceToJson(b: Balance) {
  return {
    agreementId: b.agreementId,
    currency: b.currency.symbol,
    available: b.available.toFixed(),
    due: b.due.toFixed(),
    paidToProvider: b.paidToProvider.toFixed(),
  };
}

/** Serialisable snapshot of a work order. */
export function workOrderToJson(w: WorkOrder) {
  return {
    workOrderId: w.workOrderId,
    status: w.status,
    customer: w.customer,
    provider: w.provider,
    arbiter: w.arbiter,
    funder: w.funder ?? null,
    machineSigner: w.machineSigner ?? null,
    amount: dec(w.amount).toFixed(),
    currency: w.currency.symbol,
    acceptBy: w.acceptBy.toISOString(),
    completeBy: w.completeBy.toISOString(),
    conditionHash: w.conditionHash,
    proofHash: w.proofHash,
  };
}

/**
 * Replaces every string of `names` (digests, which depend on the ledger's EIP-712 domain)
 * by its stable name and drops currency token addresses, so the snapshot of the same
 * scenario is byte-identical across backends.
 */
export function normaliseSnapshot(value: unknown, names: ReadonlyMap<string, string>): unknown {
  if (typeof value === "string") return names.get(value.toLowerCase()) ?? value;
  if (Array.isArray(value)) return value.map((v) => normaliseSnapshot(v, names));
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (k === "currency" && v !== null && typeof v === "object") {
        const { address: _address, ...rest } = v as Record<string, unknown>;
        out[k] = rest;
      } else out[k] = normaliseSnapshot(v, names);
    }
    return out;
  }
  return value;
}

/** Canonical JSON text of a snapshot (sorted keys, no whitespace). */
export function snapshotText(value: unknown): string {
  return canonicalJson(value);
}

/** The events of the given agreements and work orders, in ledger order. */
export function eventsOf(
  events: readonly LedgerEvent[],
  ids: ReadonlySet<string>,
): readonly LedgerEvent[] {
  return events.filter(
    (e) =>
      ("agreementId" in e && ids.has(e.agreementId)) ||
      ("workOrderId" in e && ids.has(e.workOrderId)),
  );
}
