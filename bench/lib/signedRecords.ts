// Deterministic chains of signed 15-minute compressor records, made fast enough for files and
// ledgers of a million: each record is built with buildMeterRecord and signed once with
// libsecp256k1 (tiny-secp256k1; the same low-s, v ∈ {27, 28} signature an ethers Wallet
// gives), and yielded one at a time so no caller has to hold the chain in memory.
import {
  buildMeterRecord,
  dec,
  type MeterRecord,
  type MeterRecordBinding,
  type MeterRecordChainState,
  type MeterWindow,
  meterRecordDigest,
} from "@maaskit/metering";
import { getBytes, hexlify, type Wallet } from "ethers";
import { signRecoverable } from "tiny-secp256k1";

const QUARTER_HOUR = 15 * 60_000;

/** `n` chained records of `compressor-7` from `start`, signed by `wallet`, bound to `binding`. */
export function* signedRecords(
  n: number,
  binding: MeterRecordBinding,
  wallet: Wallet,
  start = Date.UTC(2025, 0, 1),
): Generator<MeterRecord> {
  const key = getBytes(wallet.privateKey);
  let chain: MeterRecordChainState = { seq: 0, prevHash: `0x${"00".repeat(32)}` };
  let air = dec("1000.000");
  let energy = dec("500.00");
  for (let i = 0; i < n; i++) {
    const volume = dec(12_000 + ((i * 7919) % 5000)).div(1000);
    const kwh = dec(125 + (i % 7)).div(100);
    const window: MeterWindow = {
      kind: "window",
      machineId: "compressor-7",
      start: new Date(start + i * QUARTER_HOUR),
      end: new Date(start + (i + 1) * QUARTER_HOUR),
      usage: [
        {
          channel: "air",
          quantity: { value: volume, unit: "MTQ", basis: "ISO1217-FAD" },
          register: { start: air, end: air.plus(volume) },
          flags: {},
        },
        {
          channel: "energy",
          quantity: { value: kwh, unit: "KWH" },
          register: { start: energy, end: energy.plus(kwh) },
          flags: {},
        },
      ],
      gaps: [],
      quarantined: 0,
    };
    air = air.plus(volume);
    energy = energy.plus(kwh);
    const unsigned = buildMeterRecord(window, {
      binding,
      chain,
      clock: "synchronised",
      channel: "air",
    });
    const digest = meterRecordDigest(unsigned);
    const { signature, recoveryId } = signRecoverable(getBytes(digest), key);
    yield {
      ...unsigned,
      signer: wallet.address,
      signature: `${hexlify(signature)}${(27 + recoveryId).toString(16)}`,
    };
    chain = {
      seq: unsigned.seq + 1,
      prevHash: digest,
      periodEnd: unsigned.periodEnd,
      registerEnd: unsigned.register!.end,
    };
  }
}
