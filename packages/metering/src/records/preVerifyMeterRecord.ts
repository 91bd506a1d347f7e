import { encodeMeterRecord } from "./encodeMeterRecord.js";
import { meterRecordFromJson } from "./meterRecord.js";
import { SignatureChecker, type SignatureFailure } from "./signatureCheck.js";

/**
 * A record's signature verdict computed ahead of the chain rules — off a ledger's lock, on
 * another thread — as plain data (it crosses `postMessage`). It states a fact about exactly
 * one `(digest, signature, signer)` triple: whether `signature` over the EIP-712 `digest` was
 * made by `signer`'s key (`failure: null`) or why not.
 */
export interface PreVerifiedSignature {
  /** The record's EIP-712 digest. */
  readonly digest: string;
  /** The record's signature, as it was checked. */
  readonly signature: string;
  /** The record's signer address, as it was checked. */
  readonly signer: string;
  /** `null` when the signature is the signer's; otherwise why it is not. */
  readonly failure: SignatureFailure | null;
}

/** A lookup of pre-verified signatures by digest (see `createMeterRecordVerifier`). */
export type PreVerifiedSignatures = (digest: string) => PreVerifiedSignature | undefined;

const checker = new SignatureChecker();

/**
 * The pure, parallelisable part of checking a record: decodes the wire form, encodes its
 * EIP-712 digest and checks its signature. `undefined` when the record cannot be decoded
 * or encoded (the rules then report it as they always do). Nothing about the chain, the
 * agreement or the allowed signers is decided here.
 *
 * @example
 * ```ts
 * const pre = preVerifyMeterRecord(meterRecordToJson(record))
 * const verifier = createMeterRecordVerifier({ preVerified: (d) => (d === pre?.digest ? pre : undefined) })
 * ```
 */
export function preVerifyMeterRecord(json: unknown): PreVerifiedSignature | undefined {
  let digest: string;
  let signature: string;
  let signer: string;
  try {
    const record = meterRecordFromJson(json);
    digest = encodeMeterRecord(record).digest;
    signature = record.signature;
    signer = record.signer;
  } catch {
    return undefined;
  }
  if (typeof signature !== "string" || typeof signer !== "string") return undefined;
  const verdict = checker.check(digest, signature, signer);
  return { digest, signature, signer, failure: verdict === true ? null : verdict };
}

/**
 * The verdict of `pre` for this exact triple, or `undefined` when `pre` is about anything
 * else (another digest, signature or signer): a verdict is never reused for another record.
 * @internal
 */
export function verdictFor(
  pre: PreVerifiedSignatures | undefined,
  digest: string,
  signature: string,
  signer: string,
): true | SignatureFailure | undefined {
  const p = pre?.(digest);
  if (p === undefined || p.digest !== digest || p.signature !== signature || p.signer !== signer) {
    return undefined;
  }
  if (p.failure === null) return true;
  // Only the checker's own verdicts; anything else is not a verdict.
  return p.failure === "malformed" || p.failure === "highS" || p.failure === "mismatch"
    ? p.failure
    : undefined;
}
