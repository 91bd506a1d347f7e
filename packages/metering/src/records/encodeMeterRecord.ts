import type { TypedDataField } from "ethers";
import { keccak256 } from "ethers/crypto";
import { TypedDataEncoder } from "ethers/hash";
import { concat } from "ethers/utils";
import type { MeterExtras, MeterRecordBinding, UnsignedMeterRecord } from "./meterRecord.js";
import {
  EncodingProblems,
  extrasMessage,
  METER_EXTRAS_TYPES,
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

// Building a TypedDataEncoder parses the types; do it once per process, not per record.
let recordEncoder: TypedDataEncoder | undefined;
let extrasEncoder: TypedDataEncoder | undefined;
const domainSeparators = new Map<string, string>();
const digests = new WeakMap<object, string>();

/** @internal */
export function getEncoder(types: Readonly<Record<string, readonly TypedDataField[]>>) {
  return TypedDataEncoder.from(types as Record<string, TypedDataField[]>);
}

function records(): TypedDataEncoder {
  if (recordEncoder === undefined) recordEncoder = getEncoder(METER_RECORD_TYPES);
  return recordEncoder;
}

function extrasEnc(): TypedDataEncoder {
  if (extrasEncoder === undefined) extrasEncoder = getEncoder(METER_EXTRAS_TYPES);
  return extrasEncoder;
}

/**
 * The EIP-712 domain separator of an agreement's domain (cached per binding).
 *
 * @example domainSeparatorOf({ agreementId: "agr-1", chainId: 0, verifyingContract: ZERO_ADDRESS })
 */
export function domainSeparatorOf(binding: MeterRecordBinding): string {
  const key = `${binding.chainId}|${binding.verifyingContract}|${binding.agreementId}`;
  let ds = domainSeparators.get(key);
  if (ds === undefined) {
    ds = TypedDataEncoder.hashDomain(meterRecordDomain(binding));
    if (domainSeparators.size >= 1024) domainSeparators.clear();
    domainSeparators.set(key, ds);
  }
  return ds;
}

/** `hashStruct(MeterExtras)` of an extras message. @internal */
export function hashExtrasMessage(message: MeterExtrasMessage): string {
  return extrasEnc().hash(message as unknown as Record<string, unknown>);
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
  const enc = records();
  const encoded = enc.encodeData("MeterRecord", message);
  const structHash = keccak256(encoded);
  const domainSeparator = domainSeparatorOf(record);
  const digest = keccak256(concat(["0x1901", domainSeparator, structHash]));
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
