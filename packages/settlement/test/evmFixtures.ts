import {
  buildMeterRecord,
  dec,
  genesisChainState,
  type MeterRecord,
  type MeterRecordBinding,
  type MeterRecordChainState,
  nextChainState,
  signMeterRecord,
} from "@maaskit/metering";
import type { Signer } from "ethers";
import { type Agreement, parseAgreement } from "../src/agreement.js";

export const QUARTER_HOUR = 15 * 60_000;
export const START = Date.UTC(2025, 0, 1);

/** A test agreement (JSON form) between two addresses, pay per m³ FAD. */
export function agreementJson(options: {
  agreementId: string;
  provider: string;
  customer: string;
  signer: string;
  token: string;
  tariff?: Record<string, unknown>;
  paymentTerms?: Record<string, unknown>;
  billingPeriod?: Record<string, unknown>;
  signers?: { address: string; validFrom: string; validUntil?: string }[];
  end?: string;
}): Agreement {
  return parseAgreement({
    agreementId: options.agreementId,
    name: "Compressor 7 — pay per m³",
    parties: { provider: options.provider, customer: options.customer },
    machineId: "compressor-7",
    signers: options.signers ?? [
      { address: options.signer, validFrom: "2024-12-01T00:00:00.000Z" },
    ],
    tariff: options.tariff ?? {
      version: 1,
      metered: { unit: "MTQ", basis: "ISO1217-FAD" },
      pricing: {
        model: "graduated",
        tiers: [{ upTo: "100", unitPrice: "0.025" }, { unitPrice: "0.0195" }],
      },
      includedVolume: "10",
      baseFee: "25",
      minimumCommitment: "5",
      rounding: { mode: "halfEven", decimals: 2 },
    },
    currency: { symbol: "tEUR", decimals: 6, address: options.token },
    billingPeriod: options.billingPeriod ?? { kind: "calendarMonth", timeZone: "Europe/Berlin" },
    paymentTerms: options.paymentTerms ?? { kind: "prepaid", overdraft: "accrueDebt" },
    start: "2025-01-01T00:00:00.000Z",
    ...(options.end === undefined ? {} : { end: options.end }),
    status: "active",
  });
}

/** Volume of the i-th quarter hour, exact in 3 decimals (12–17 m³). */
export function volumeAt(i: number) {
  return dec(12_000 + ((i * 7919) % 5000)).div(1000);
}

/**
 * Signs `count` contiguous 15-minute records from `chain` on; with `oee`, each record commits
 * OEE time elements in its extras.
 */
export async function signRecords(
  count: number,
  options: {
    binding: MeterRecordBinding;
    signer: Signer;
    chain?: MeterRecordChainState;
    from?: number;
    oee?: boolean;
  },
): Promise<{ records: MeterRecord[]; chain: MeterRecordChainState }> {
  let chain = options.chain ?? genesisChainState();
  const from = options.from ?? 0;
  const records: MeterRecord[] = [];
  let register = dec(1000);
  for (let k = 0; k < from; k++) register = register.plus(volumeAt(k));
  for (let i = from; i < from + count; i++) {
    const v = volumeAt(i);
    const unsigned = buildMeterRecord(
      {
        kind: "window",
        machineId: "compressor-7",
        start: new Date(START + i * QUARTER_HOUR),
        end: new Date(START + (i + 1) * QUARTER_HOUR),
        usage: [
          {
            channel: "air",
            quantity: { value: v, unit: "MTQ", basis: "ISO1217-FAD" },
            register: { start: register, end: register.plus(v) },
            flags: {},
          },
        ],
        gaps: [],
        quarantined: 0,
      },
      {
        binding: options.binding,
        chain,
        clock: "synchronised",
        channel: "air",
        ...(options.oee === true
          ? {
              oee: {
                plannedBusyTimeMs: QUARTER_HOUR,
                actualProductionTimeMs: QUARTER_HOUR - (i % 5) * 60_000,
                produced: { value: dec(20), unit: "C62" },
                good: { value: dec(19), unit: "C62" },
              },
            }
          : {}),
      },
    );
    register = register.plus(v);
    const record = await signMeterRecord(unsigned, { signer: options.signer });
    records.push(record);
    chain = nextChainState(record);
  }
  return { records, chain };
}
