import type { TypedDataField } from "ethers";
import { TypedDataEncoder } from "ethers/hash";
import { EncodingProblems } from "./encodingProblems.js";
import type { MeterExtras, MeterRecordBinding, UnsignedMeterRecord } from "./meterRecord.js";
import {
  bytesToHex,
  encodeRecordMessage,
  hashExtrasBytes,
  hexToBytes32,
  keccakBytes,
  typedDataDigest,
} from "./meterRecordHashing.js";
import {
  extrasMessage,
  hashUtf8,
  METER_RECORD_TYPES,
  type MeterExtrasMessage,
  type MeterRecordMessage,
  meterRecordDomain,
  meterRecordMessage,
  type TypedDataJson,
  typedDataJson,
} from "./meterRecordTypedData.js";

/** What `encodeMeterRecord` returns: the canonical bytes and hashes of a record. */
export interface EncodeMeterRecordReturnType {
  /** The EIP-712 message (fixed-point integers, hashed ids). */
  readonly message: MeterRecordMessage;
  /** `encodeData(MeterRecord)`: type hash and 16 words, the bytes the struct hash covers. */
  readonly encoded: string;
  readonly structHash: string;
  readonly domainSeparator: string;
  /** `keccak256(0x1901 ‖ domainSeparator ‖ structHash)`: what is signed; the record's hash. */
  readonly digest: string;
  /** The extras message, when the record has extras. */
  readonly extras?: MeterExtrasMessage;
}

const domainSeparators = new Map<string, { hex: string; bytes: Uint8Array }>();
const digests = new WeakMap<object, string>();

/** A generic ethers encoder of EIP-712 types (statements, tests). @internal */
export function getEncoder(types: Readonly<Record<string, readonly TypedDataField[]>>) {
  return TypedDataEncoder.from(types as Record<string, TypedDataField[]>);
}

function cachedDomainSeparator(binding: MeterRecordBinding): { hex: string; bytes: Uint8Array } {
  const key = `${binding.chainId}|${binding.verifyingContract}|${binding.agreementId}`;
  let ds = domainSeparators.get(key);
  if (ds === undefined) {
    const hex = TypedDataEncoder.hashDomain(meterRecordDomain(binding));
    ds = { hex, bytes: hexToBytes32(hex) };
    if (domainSeparators.size >= 1024) domainSeparators.clear();
    domainSeparators.set(key, ds);
  }
  return ds;
}

/**
 * The EIP-712 domain separator of an agreement's domain (cached per binding).
 *
 * @example domainSeparatorOf({ agreementId: "agr-1", chainId: 0, verifyingContract: ZERO_ADDRESS })
 */
export function domainSeparatorOf(binding: MeterRecordBinding): string {
  return cachedDomainSeparator(binding).hex;
}

/** `hashStruct(MeterExtras)` of an extras message. @internal */
export function hashExtrasMessage(message: MeterExtrasMessage): string {
  return bytesToHex(hashExtrasBytes(message, hashUtf8));
}

/**
 * `extrasHash` of record extras: EIP-712 `hashStruct(MeterExtras)` (docs/meter-record.md §3).
 * Throws `metering.record.malformed` / `notRepresentable` naming every problem.
 *
 * @example hashMeterExtras({ quantities: [], oee }) // 0x…
 */
export function hashMeterExtras(extras: MeterExtras, billedChannel?: string): string {
  const p = new EncodingProblems();
  const message = extrasMessage(p, extras, "extras", billedChannel);
  p.throwIfAny("Extras");
  return hashExtrasMessage(message!);
}

/**
 * Canonical encoding of a record: the same record always gives the same message, bytes,
 * struct hash and digest. Throws `metering.record.malformed` or
 * `metering.record.notRepresentable` naming every problem of an invalid record.
 *
 * @example
 * ```ts
 * const { digest } = encodeMeterRecord(record);
 * ```
 */
export function encodeMeterRecord(record: UnsignedMeterRecord): EncodeMeterRecordReturnType {
  let extras: MeterExtrasMessage | undefined;
  const message = meterRecordMessage(record, (m) => {
    extras = m;
    return hashExtrasMessage(m);
  });
  // The fixed layout of the record type, hashed as bytes (the vectors and a differential
  // test against ethers' generic encoder pin every byte).
  const encodedBytes = encodeRecordMessage(message);
  const structHashBytes = keccakBytes(encodedBytes);
  const ds = cachedDomainSeparator(record);
  const encoded = bytesToHex(encodedBytes);
  const structHash = bytesToHex(structHashBytes);
  const domainSeparator = ds.hex;
  const digest = bytesToHex(typedDataDigest(ds.bytes, structHashBytes));
  return extras === undefined
    ? { message, encoded, structHash, domainSeparator, digest }
    : { message, encoded, structHash, domainSeparator, digest, extras };
}

/**
 * The record's EIP-712 digest — its hash in the chain (the next record's `prevHash`).
 *
 * @example const next = { seq: record.seq + 1, prevHash: meterRecordDigest(record) };
 */
export function meterRecordDigest(record: UnsignedMeterRecord): string {
  return digests.get(record) ?? encodeMeterRecord(record).digest;
}

/** Remembers the digest of a record object this module created (records are immutable). @internal */
export function rememberDigest(record: object, digest: string): void {
  digests.set(record, digest);
}

/**
 * The record as `eth_signTypedData_v4` JSON (`types` with `EIP712Domain`, integers as
 * decimal strings): hand it to any EIP-712 implementation or wallet.
 *
 * @example JSON.stringify(meterRecordTypedData(record))
 */
export function meterRecordTypedData(record: UnsignedMeterRecord): TypedDataJson {
  const { message } = encodeMeterRecord(record);
  return typedDataJson(record, METER_RECORD_TYPES, "MeterRecord", message);
}
