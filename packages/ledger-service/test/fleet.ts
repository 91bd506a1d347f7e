import {
  dec,
  GENESIS_HASH,
  type MeterRecord,
  meterRecordDigest,
  quantity,
  signMeterRecord,
} from "@maaskit/metering";
import {
  type Agreement,
  isLedgerError,
  type LedgerBackend,
  type LedgerDomain,
  parseAgreement,
} from "@maaskit/settlement";
import { keccak256, toUtf8Bytes, Wallet } from "ethers";

// A simulated fleet: gateway i has its own machine key and its own agreement (one-day
// billing periods, hourly records from 2025-01-01), shared by the load test, the kill test
// and the ledger-service bench.

const START = Date.parse("2025-01-01T00:00:00.000Z");
const HOUR = 3_600_000;
const provider = new Wallet(keccak256(toUtf8Bytes("maaskit.fleet.provider")));
const customer = new Wallet(keccak256(toUtf8Bytes("maaskit.fleet.customer")));

/** The fleet's provider and customer (the same for every gateway). */
export const fleetParties = { provider: provider.address, customer: customer.address };

/** One simulated gateway. */
export interface FleetGateway {
  readonly index: number;
  readonly key: Wallet;
  readonly agreement: Agreement;
}

/** Gateway `index` of a fleet labelled `label` (deterministic keys and ids). */
export function fleetGateway(label: string, index: number): FleetGateway {
  const key = new Wallet(keccak256(toUtf8Bytes(`maaskit.fleet.${label}.${index}`)));
  const agreement = parseAgreement({
    agreementId: keccak256(toUtf8Bytes(`maaskit.fleet.${label}/agreement/${index}`)),
    name: `fleet ${label} machine ${index}`,
    parties: fleetParties,
    machineId: `machine-${index}`,
    signers: [{ address: key.address, validFrom: "2025-01-01T00:00:00.000Z" }],
    tariff: {
      version: 1,
      metered: { unit: "MTQ", basis: "ISO1217-FAD" },
      pricing: { model: "perUnit", unitPrice: "0.025" },
      rounding: { mode: "halfEven", decimals: 2 },
    },
    currency: { symbol: "EURT", decimals: 6 },
    billingPeriod: { kind: "days", days: 1, timeZone: "UTC" },
    paymentTerms: { kind: "prepaid", overdraft: "accrueDebt" },
    start: "2025-01-01T00:00:00.000Z",
    status: "active",
  });
  return { index, key, agreement };
}

/** The volume (m³) gateway `index` delivers in hour `seq`: exact decimals, never negative. */
export function fleetVolume(index: number, seq: number): string {
  return `${(index * 7 + seq * 13) % 97}.${(index + seq) % 10}25`;
}

/** Signs `count` hourly records of a gateway on a ledger's record domain, chained from genesis. */
export async function fleetRecords(
  g: FleetGateway,
  domain: LedgerDomain,
  count: number,
): Promise<MeterRecord[]> {
  const out: MeterRecord[] = [];
  let prevHash: string = GENESIS_HASH;
  for (let seq = 0; seq < count; seq++) {
    const record = await signMeterRecord(
      {
        version: 1,
        agreementId: g.agreement.agreementId,
        chainId: domain.chainId,
        verifyingContract: domain.verifyingContract,
        machineId: g.agreement.machineId,
        channel: "air",
        seq,
        periodStart: new Date(START + seq * HOUR),
        periodEnd: new Date(START + (seq + 1) * HOUR),
        quantity: quantity(fleetVolume(g.index, seq), "MTQ", "ISO1217-FAD"),
        flags: {},
        clock: "synchronised",
        quarantined: 0,
        prevHash,
      },
      { signer: g.key },
    );
    out.push(record);
    prevHash = meterRecordDigest(record);
  }
  return out;
}

/** Billing day `day` of the fleet (day 0 is 2025-01-01). */
export function fleetDay(day: number): { start: Date; end: Date } {
  return { start: new Date(START + day * 24 * HOUR), end: new Date(START + (day + 1) * 24 * HOUR) };
}

/** Offers (provider), accepts (customer) and funds an agreement; returns its record domain. */
export async function openFleetAgreement(
  ledger: LedgerBackend,
  g: FleetGateway,
  customerLedger: LedgerBackend = ledger,
): Promise<LedgerDomain> {
  const { recordDomain } = await ledger.openAgreement(g.agreement);
  await customerLedger.acceptAgreement({
    agreementId: g.agreement.agreementId,
    by: fleetParties.customer,
  });
  await customerLedger.deposit({
    agreementId: g.agreement.agreementId,
    amount: dec("1000"),
    by: fleetParties.customer,
    reference: `fleet-deposit-${g.index}`,
  });
  return recordDomain;
}

/**
 * Runs `fn` until it succeeds, retrying while the ledger is unavailable (down, restarting,
 * rate limited): what a gateway's delivery loop does. Other refusals are thrown.
 */
export async function untilDelivered<T>(fn: (attempt: number) => Promise<T>): Promise<T> {
  const deadline = Date.now() + 60_000;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (!isLedgerError(err, "settlement.ledger.unavailable") || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** A small seeded PRNG (mulberry32) so duplicates and retries are the same in every run. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** How far a fleet delivery got: records delivered, and deliveries retried after a failure. */
export interface DeliveryProgress {
  delivered: number;
  retries: number;
}

/**
 * Every gateway delivers its records two at a time, then settles day 0, each call retried until
 * it lands (a settle whose answer was lost is found settled on the retry: that is success).
 * `progress` moves as it goes, for a test that injects faults at thresholds.
 */
export async function deliverAndSettle(
  ledger: LedgerBackend,
  gateways: readonly FleetGateway[],
  records: readonly (readonly MeterRecord[])[],
  progress: DeliveryProgress,
): Promise<void> {
  await Promise.all(
    gateways.map(async (g, i) => {
      const mine = records[i] ?? [];
      for (let from = 0; from < mine.length; from += 2) {
        await untilDelivered((attempt) => {
          if (attempt > 0) progress.retries++;
          return ledger.submitRecords({
            agreementId: g.agreement.agreementId,
            records: mine.slice(from, from + 2),
          });
        });
        progress.delivered += 2;
      }
      await untilDelivered(async (attempt) => {
        try {
          await ledger.settlePeriod({ agreementId: g.agreement.agreementId, period: fleetDay(0) });
        } catch (err) {
          if (!(attempt > 0 && isLedgerError(err, "settlement.period.alreadySettled"))) throw err;
        }
      });
    }),
  );
}
