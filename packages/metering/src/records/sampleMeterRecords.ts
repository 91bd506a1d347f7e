import { Wallet } from "ethers";
import { dec } from "../quantity.js";
import type { MeterWindow } from "../window.js";
import { buildMeterRecord } from "./createMeterRecord.js";
import { type MeterRecord, type MeterRecordBinding, ZERO_ADDRESS } from "./meterRecord.js";
import { genesisChainState, nextChainState } from "./meterRecordChain.js";
import { signMeterRecord } from "./signMeterRecord.js";

// Test fixtures (internal, not exported from the package): fixed, public keys that must
// never hold anything of value.

/** The test key of the vectors (address 0x2c7536E3605D9C16a7a3D7b1898e529396a65c23). @internal */
export const TEST_KEY = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";
/** A second test key, for "signed by another key" cases. @internal */
export const OTHER_TEST_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
/** An off-chain (embedded-ledger) agreement binding. @internal */
export const TEST_BINDING: MeterRecordBinding = {
  agreementId: "agr-compressor-7",
  chainId: 0,
  verifyingContract: ZERO_ADDRESS,
};

const START = Date.UTC(2025, 0, 1);
const QUARTER_HOUR = 15 * 60_000;

/**
 * The i-th 15-minute window of a compressor: air volume (FAD) from a register, electrical
 * energy as a second channel. Deterministic. @internal
 */
export function sampleWindow(i: number): MeterWindow {
  // Register values: sum of previous windows' volumes, exact in 3 decimals.
  const volume = (k: number) => dec(12_000 + ((k * 7919) % 5000)).div(1000);
  let air = dec(1000);
  for (let k = 0; k < i; k++) air = air.plus(volume(k));
  const energy = dec(500).plus(dec(i).times("1.25"));
  return {
    kind: "window",
    machineId: "compressor-7",
    start: new Date(START + i * QUARTER_HOUR),
    end: new Date(START + (i + 1) * QUARTER_HOUR),
    usage: [
      {
        channel: "air",
        quantity: { value: volume(i), unit: "MTQ", basis: "ISO1217-FAD" },
        register: { start: air, end: air.plus(volume(i)) },
        flags: {},
      },
      {
        channel: "energy",
        quantity: { value: dec("1.25"), unit: "KWH" },
        register: { start: energy, end: energy.plus("1.25") },
        flags: {},
      },
    ],
    gaps: [],
    quarantined: i % 3 === 2 ? 1 : 0,
  };
}

/** A valid signed chain of `n` records from {@link sampleWindow}. @internal */
export async function sampleChain(
  n: number,
  options: { key?: string; binding?: MeterRecordBinding; oee?: boolean } = {},
): Promise<MeterRecord[]> {
  const signer = new Wallet(options.key ?? TEST_KEY);
  const records: MeterRecord[] = [];
  let chain = genesisChainState();
  for (let i = 0; i < n; i++) {
    const unsigned = buildMeterRecord(sampleWindow(i), {
      binding: options.binding ?? TEST_BINDING,
      chain,
      clock: "synchronised",
      channel: "air",
      ...(options.oee === true
        ? {
            oee: {
              plannedBusyTimeMs: QUARTER_HOUR,
              actualProductionTimeMs: QUARTER_HOUR - (i % 4) * 60_000,
              produced: { value: dec(20 + i), unit: "C62" },
              good: { value: dec(19 + i), unit: "C62" },
            },
          }
        : {}),
    });
    const record = await signMeterRecord(unsigned, { signer });
    records.push(record);
    chain = nextChainState(record);
  }
  return records;
}
