import { encodeMeterRecord } from "./encodeMeterRecord.js";
import { meterRecordFromJson } from "./meterRecord.js";
import { isChecksummedAddress } from "./meterRecordTypedData.js";
import { SignatureChecker, type SignatureFailure } from "./signatureCheck.js";

/**
 * What checking one record's encoding and signature found, computed ahead of the chain
 * rules — off a ledger's lock, on another thread — as plain data (it crosses
 * `postMessage`). It is about the exact JSON text it was computed from: a ledger keys it by
 * that text and decodes the record it checks from the same text.
 */
export interface PreVerifiedRecord {
  /** The record's EIP-712 digest. */
  readonly digest: string;
  /** `null` when the signature is the signer's; otherwise why it is not. */
  readonly failure: SignatureFailure | null;
}

/**
 * Pre-verified records by the exact JSON text each was decoded from (a `Map`: a verdict is
 * found only for the very bytes it was made for).
 */
export type PreVerifiedRecords = ReadonlyMap<string, PreVerifiedRecord>;

const checker = new SignatureChecker();

/**
 * The pure, parallelisable part of checking a record: decodes its JSON text, encodes its
 * EIP-712 digest and checks its signature. `undefined` when the text is not a well-formed
 * record (the rules then check it themselves and report it as they always do). Nothing about
 * the chain, the agreement or the allowed signers is decided here.
 *
 * @example
 * ```ts
 * const text = JSON.stringify(meterRecordToJson(record))
 * const pre = preVerifyMeterRecord(text) // on a worker thread
 * verifier.check(meterRecordFromJson(JSON.parse(text)), pre)
 * ```
 */
export function preVerifyMeterRecord(text: string): PreVerifiedRecord | undefined {
  let digest: string;
  let signature: string;
  let signer: string;
  try {
    const record = meterRecordFromJson(JSON.parse(text));
    digest = encodeMeterRecord(record).digest;
    signature = record.signature;
    signer = record.signer;
    if (!isChecksummedAddress(signer)) return undefined;
  } catch {
    return undefined;
  }
  const verdict = checker.check(digest, signature, signer);
  return { digest, failure: verdict === true ? null : verdict };
}

/** Whether `p` is a verdict `preVerifyMeterRecord` could have made. @internal */
export function isPreVerifiedRecord(p: unknown): p is PreVerifiedRecord {
  const v = p as PreVerifiedRecord | null | undefined;
  return (
    typeof v?.digest === "string" &&
    /^0x[0-9a-f]{64}$/.test(v.digest) &&
    (v.failure === null ||
      v.failure === "malformed" ||
      v.failure === "highS" ||
      v.failure === "mismatch")
  );
}
