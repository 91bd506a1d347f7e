import type { Signer, TypedDataField } from "ethers";
import { getAddress } from "ethers/address";
import { Signature } from "ethers/crypto";
import { MaaskitError } from "../errors.js";
import { encodeMeterRecord, rememberDigest } from "./encodeMeterRecord.js";
import type { MeterRecord, MeterRecordBinding, UnsignedMeterRecord } from "./meterRecord.js";
import { METER_RECORD_TYPES, meterRecordDomain } from "./meterRecordTypedData.js";
import { SignatureChecker } from "./signatureCheck.js";

/** Parameters of {@link signMeterRecord}. */
export interface SignMeterRecordParameters {
  /** Any ethers v6 signer: a `Wallet` (signed in-process), a hardware or KMS signer. */
  readonly signer: Signer;
  /** The agreement the caller expects; signing fails if the record is bound to another. */
  readonly domain?: MeterRecordBinding;
}

/** Errors {@link signMeterRecord} throws. */
export type SignMeterRecordErrorType = MaaskitError<
  | "metering.record.malformed"
  | "metering.record.notRepresentable"
  | "metering.record.wrongAgreement"
  | "metering.record.badSignature"
>;

/** A wallet-like signer that can sign a digest without re-hashing the typed data. */
interface DigestSigner {
  readonly address: string;
  readonly signingKey: { sign(digest: string): { serialized: string } };
}

const checker = new SignatureChecker();
const addresses = new WeakMap<object, string>();

/**
 * Signs a record as EIP-712 typed data under its agreement's domain. With an ethers
 * `Wallet` the digest is signed directly (RFC 6979: the same record always gives the same
 * signature); any other `Signer` gets `signTypedData`, and its answer is checked (low-s,
 * recovers to the signer's address) before it becomes a record.
 *
 * @example
 * ```ts
 * const record = await signMeterRecord(unsigned, { signer: await loadSigner({ env: "MAASKIT_SIGNER_KEY" }) });
 * ```
 */
export async function signMeterRecord(
  unsigned: UnsignedMeterRecord,
  { signer, domain }: SignMeterRecordParameters,
): Promise<MeterRecord> {
  if (domain !== undefined && !sameBinding(domain, unsigned)) {
    throw new MaaskitError(
      "metering.record.wrongAgreement",
      "Record is bound to another agreement",
      {
        details: {
          expected: { ...domain },
          actual: {
            agreementId: unsigned.agreementId,
            chainId: unsigned.chainId,
            verifyingContract: unsigned.verifyingContract,
          },
        },
      },
    );
  }
  const { message, digest } = encodeMeterRecord(unsigned);
  let signature: string;
  let address: string;
  if (isDigestSigner(signer)) {
    signature = signer.signingKey.sign(digest).serialized;
    address = signer.address;
  } else {
    address = addresses.get(signer) ?? getAddress(await signer.getAddress());
    addresses.set(signer, address);
    const raw = await signer.signTypedData(
      meterRecordDomain(unsigned),
      METER_RECORD_TYPES as Record<string, TypedDataField[]>,
      message as unknown as Record<string, unknown>,
    );
    signature = Signature.from(raw).serialized;
    const ok = checker.check(digest, signature, address);
    if (ok !== true) {
      throw new MaaskitError(
        "metering.record.badSignature",
        "The signer returned a signature that does not verify",
        { details: { signer: address, seq: unsigned.seq, failure: ok } },
      );
    }
  }
  const record = copyRecord(unsigned, getAddress(address), signature);
  rememberDigest(record, digest);
  return record;
}

/** True when two bindings name the same agreement, chain and contract. */
export function sameBinding(a: MeterRecordBinding, b: MeterRecordBinding): boolean {
  return (
    a.agreementId === b.agreementId &&
    a.chainId === b.chainId &&
    a.verifyingContract.toLowerCase() === b.verifyingContract.toLowerCase()
  );
}

function isDigestSigner(signer: Signer): signer is Signer & DigestSigner {
  const s = signer as Partial<DigestSigner>;
  return typeof s.address === "string" && typeof s.signingKey?.sign === "function";
}

// A fresh object with exactly the record's fields, in canonical order.
function copyRecord(u: UnsignedMeterRecord, signer: string, signature: string): MeterRecord {
  const out: Record<string, unknown> = {
    version: u.version,
    agreementId: u.agreementId,
    chainId: u.chainId,
    verifyingContract: u.verifyingContract,
    machineId: u.machineId,
    channel: u.channel,
    seq: u.seq,
    periodStart: u.periodStart,
    periodEnd: u.periodEnd,
    quantity: u.quantity,
  };
  if (u.register !== undefined) out.register = u.register;
  out.flags = u.flags;
  out.clock = u.clock;
  out.quarantined = u.quarantined;
  if (u.extras !== undefined) out.extras = u.extras;
  out.prevHash = u.prevHash;
  out.signer = signer;
  out.signature = signature;
  return out as unknown as MeterRecord;
}
