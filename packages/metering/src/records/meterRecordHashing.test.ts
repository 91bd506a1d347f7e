import { fc, test } from "@fast-check/vitest";
import { TypedDataEncoder, type TypedDataField } from "ethers";
import { describe, expect } from "vitest";
import {
  bytesToHex,
  encodeRecordMessage,
  hashExtrasBytes,
  hexToBytes32,
  keccakBytes,
  typedDataDigest,
} from "./meterRecordHashing.js";
import {
  hashUtf8,
  METER_EXTRAS_TYPES,
  METER_RECORD_TYPES,
  type MeterExtrasMessage,
  type MeterRecordMessage,
  meterRecordDomain,
} from "./meterRecordTypedData.js";

// The byte-level encoder against ethers' generic EIP-712 implementation: every field at its
// full range (0, small, the type's maximum), so a misplaced word or a short write shows.
const records = TypedDataEncoder.from(METER_RECORD_TYPES as Record<string, TypedDataField[]>);
const extras = TypedDataEncoder.from(METER_EXTRAS_TYPES as Record<string, TypedDataField[]>);

const uint = (bits: number) =>
  fc.oneof(
    fc.constant(0n),
    fc.constant((1n << BigInt(bits)) - 1n),
    fc.bigInt({ min: 0n, max: (1n << BigInt(bits)) - 1n }),
  );
const small = (bits: number) => uint(bits).map(Number);
const bytes = (n: number) =>
  fc.uint8Array({ minLength: n, maxLength: n }).map((b) => bytesToHex(b));

const recordMessage: fc.Arbitrary<MeterRecordMessage> = fc.record({
  version: small(16),
  machine: bytes(32),
  channel: bytes(32),
  seq: uint(64),
  periodStart: uint(64),
  periodEnd: uint(64),
  prevHash: bytes(32),
  unit: bytes(8),
  basis: small(8),
  quantity: uint(128),
  registerStart: uint(128),
  registerEnd: uint(128),
  flags: small(16),
  clock: small(8),
  quarantined: small(32),
  extrasHash: bytes(32),
});

const extrasMessage: fc.Arbitrary<MeterExtrasMessage> = fc.record({
  quantities: fc.array(
    fc.record({
      channel: fc.string({ unit: "grapheme", minLength: 1, maxLength: 12 }),
      unit: bytes(8),
      basis: small(8),
      value: uint(128),
      registerStart: uint(128),
      registerEnd: uint(128),
      flags: small(16),
    }),
    { maxLength: 3 },
  ),
  oee: fc.array(
    fc.record({
      plannedBusyTime: uint(64),
      actualProductionTime: uint(64),
      unit: bytes(8),
      produced: uint(128),
      good: uint(128),
    }),
    { maxLength: 2 },
  ),
});

describe("meterRecordHashing", () => {
  test.prop([recordMessage], { numRuns: 300 })(
    "behavior: encodeData(MeterRecord) is byte for byte ethers' TypedDataEncoder",
    (m) => {
      const ours = encodeRecordMessage(m);
      expect(bytesToHex(ours)).toBe(records.encodeData("MeterRecord", m));
      expect(bytesToHex(keccakBytes(ours))).toBe(records.hash(m));
    },
  );

  test.prop([extrasMessage], { numRuns: 200 })(
    "behavior: hashStruct(MeterExtras) equals ethers' TypedDataEncoder",
    (m) => {
      expect(bytesToHex(hashExtrasBytes(m, hashUtf8))).toBe(extras.hash(m));
    },
  );

  test.prop([recordMessage, fc.string({ minLength: 1 }), fc.nat()], { numRuns: 50 })(
    "behavior: the digest equals ethers' EIP-712 hash of domain and message",
    (m, agreementId, chainId) => {
      const domain = meterRecordDomain({
        agreementId,
        chainId,
        verifyingContract: "0x5FbDB2315678afecb367f032d93F642f64180aa3",
      });
      const ds = hexToBytes32(TypedDataEncoder.hashDomain(domain));
      const digest = typedDataDigest(ds, keccakBytes(encodeRecordMessage(m)));
      expect(bytesToHex(digest)).toBe(
        TypedDataEncoder.hash(domain, METER_RECORD_TYPES as Record<string, TypedDataField[]>, m),
      );
    },
  );
});
