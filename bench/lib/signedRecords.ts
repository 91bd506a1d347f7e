// Deterministic chains of signed 15-minute compressor records, made fast enough for files and
// ledgers of a million: each record is built with buildMeterRecord and signed once with
// libsecp256k1 (tiny-secp256k1; the same low-s, v ∈ {27, 28} signature an ethers Wallet
// gives), and yielded one at a time so no caller has to hold the chain in memory.
// `signedRecordsParallel` gives exactly the same records, signed on worker threads (one per
// core) while this thread builds and hashes the chain: the chain is sequential (each record
// names its predecessor's digest) but a digest does not depend on any signature.
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
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
type Unsigned = Omit<MeterRecord, "signer" | "signature">;

/** `n` chained unsigned records of `compressor-7` from `start`, each with its digest. */
function* unsignedRecords(
  n: number,
  binding: MeterRecordBinding,
  start: number,
): Generator<{ unsigned: Unsigned; digest: string }> {
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
    yield { unsigned, digest };
    chain = {
      seq: unsigned.seq + 1,
      prevHash: digest,
      periodEnd: unsigned.periodEnd,
      registerEnd: unsigned.register!.end,
    };
  }
}

/** `n` chained records of `compressor-7` from `start`, signed by `wallet`, bound to `binding`. */
export function* signedRecords(
  n: number,
  binding: MeterRecordBinding,
  wallet: Wallet,
  start = Date.UTC(2025, 0, 1),
): Generator<MeterRecord> {
  const key = getBytes(wallet.privateKey);
  for (const { unsigned, digest } of unsignedRecords(n, binding, start)) {
    const { signature, recoveryId } = signRecoverable(getBytes(digest), key);
    yield {
      ...unsigned,
      signer: wallet.address,
      signature: `${hexlify(signature)}${(27 + recoveryId).toString(16)}`,
    };
  }
}

const SIGN_WORKER = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  "../children/signWorker.mjs",
);

/**
 * The records of {@link signedRecords}, identical byte for byte, yielded in batches of
 * `batch` in chain order; the signatures are made on `threads` worker threads (default: one
 * per core) while this thread builds the next batches. With `from`, the records before seq
 * `from` are built and hashed (the chain needs them) but neither signed nor yielded.
 */
export async function* signedRecordsParallel(
  n: number,
  binding: MeterRecordBinding,
  wallet: Wallet,
  start = Date.UTC(2025, 0, 1),
  { batch = 1_000, threads = os.availableParallelism(), from = 0 } = {},
): AsyncGenerator<MeterRecord[]> {
  const key = getBytes(wallet.privateKey);
  const workers = Array.from(
    { length: Math.max(1, threads) },
    () => new Worker(SIGN_WORKER, { workerData: { key: [...key] } }),
  );
  const waiting = new Map<number, (sigs: Uint8Array) => void>();
  for (const w of workers) {
    w.on("message", ({ id, signatures }: { id: number; signatures: Uint8Array }) => {
      waiting.get(id)?.(signatures);
      waiting.delete(id);
    });
  }
  const failed = new Promise<never>((_, reject) => {
    for (const w of workers) w.once("error", reject);
  });
  // Batches in flight, oldest first: at most two per worker, so memory stays bounded.
  const inFlight: { records: Unsigned[]; signatures: Promise<Uint8Array> }[] = [];
  let id = 0;
  const send = (records: Unsigned[], digests: Uint8Array) => {
    const myId = id++;
    const signatures = new Promise<Uint8Array>((resolve) => waiting.set(myId, resolve));
    workers[myId % workers.length]!.postMessage({ id: myId, digests }, [
      digests.buffer as ArrayBuffer,
    ]);
    inFlight.push({ records, signatures: Promise.race([signatures, failed]) });
  };
  const take = async (): Promise<MeterRecord[]> => {
    const { records, signatures } = inFlight.shift()!;
    const sigs = await signatures;
    return records.map((r, i) => ({
      ...r,
      signer: wallet.address,
      signature: hexlify(sigs.subarray(i * 65, i * 65 + 65)),
    }));
  };
  try {
    let records: Unsigned[] = [];
    let digests = new Uint8Array(batch * 32);
    for (const { unsigned, digest } of unsignedRecords(n, binding, start)) {
      if (unsigned.seq < from) continue;
      digests.set(getBytes(digest), records.length * 32);
      records.push(unsigned);
      if (records.length === batch) {
        send(records, digests);
        records = [];
        digests = new Uint8Array(batch * 32);
        if (inFlight.length >= 2 * workers.length) yield await take();
      }
    }
    if (records.length > 0) send(records, digests.slice(0, records.length * 32));
    while (inFlight.length > 0) yield await take();
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
