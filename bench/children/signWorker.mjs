// A signing worker of the benchmarks' record generator (bench/lib/signedRecords.ts): for each
// message { id, digests } (32-byte digests, concatenated) it signs every digest with
// libsecp256k1 (tiny-secp256k1, RFC 6979: the same signature on every run and core) and posts
// { id, signatures } — 65 bytes each, r ‖ s ‖ v with v ∈ {27, 28}, as an ethers Wallet gives.
import { parentPort, workerData } from "node:worker_threads";
import { signRecoverable } from "tiny-secp256k1";

const key = new Uint8Array(workerData.key);
parentPort.on("message", ({ id, digests }) => {
  const n = digests.length / 32;
  const out = new Uint8Array(n * 65);
  for (let i = 0; i < n; i++) {
    const { signature, recoveryId } = signRecoverable(digests.subarray(i * 32, i * 32 + 32), key);
    out.set(signature, i * 65);
    out[i * 65 + 64] = 27 + recoveryId;
  }
  parentPort.postMessage({ id, signatures: out }, [out.buffer]);
});
