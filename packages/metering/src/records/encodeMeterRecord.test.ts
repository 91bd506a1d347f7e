import { AbiCoder, concat, keccak256, TypedDataEncoder, toUtf8Bytes } from "ethers";
import { describe, expect, test } from "vitest";
import { dec } from "../quantity.js";
import {
  encodeMeterRecord,
  hashMeterExtras,
  meterRecordDigest,
  meterRecordTypedData,
} from "./encodeMeterRecord.js";
import { type MeterRecord, ZERO_ADDRESS } from "./meterRecord.js";
import {
  METER_EXTRAS_TYPE_STRING,
  METER_EXTRAS_TYPES,
  METER_RECORD_TYPE_STRING,
  METER_RECORD_TYPES,
  meterRecordDomain,
  unitToBytes8,
} from "./meterRecordTypedData.js";
import { PERIOD_STATEMENT_TYPE_STRING, PERIOD_STATEMENT_TYPES } from "./periodStatement.js";
import { sampleChain, TEST_BINDING } from "./sampleMeterRecords.js";

const [first, second] = await sampleChain(2);

describe("encodeMeterRecord", () => {
  test("default: the type strings in the spec are the EIP-712 encodeType of the types", () => {
    expect(TypedDataEncoder.from(METER_RECORD_TYPES as never).encodeType("MeterRecord")).toBe(
      METER_RECORD_TYPE_STRING,
    );
    expect(TypedDataEncoder.from(METER_EXTRAS_TYPES as never).encodeType("MeterExtras")).toBe(
      METER_EXTRAS_TYPE_STRING,
    );
    expect(
      TypedDataEncoder.from(PERIOD_STATEMENT_TYPES as never).encodeType("PeriodStatement"),
    ).toBe(PERIOD_STATEMENT_TYPE_STRING);
  });

  test("behavior: struct hash equals a hand-built abi.encode of the type hash and 16 fields", () => {
    const r = first!;
    const { structHash, digest, domainSeparator, message } = encodeMeterRecord(r);
    const words = AbiCoder.defaultAbiCoder().encode(
      [
        "bytes32",
        "uint16",
        "bytes32",
        "bytes32",
        "uint64",
        "uint64",
        "uint64",
        "bytes32",
        "bytes8",
        "uint8",
        "uint128",
        "uint128",
        "uint128",
        "uint16",
        "uint8",
        "uint32",
        "bytes32",
      ],
      [
        keccak256(toUtf8Bytes(METER_RECORD_TYPE_STRING)),
        1,
        keccak256(toUtf8Bytes("compressor-7")),
        keccak256(toUtf8Bytes("air")),
        0,
        Date.UTC(2025, 0, 1),
        Date.UTC(2025, 0, 1, 0, 15),
        `0x${"00".repeat(32)}`,
        "0x4d54510000000000", // "MTQ"
        1, // ISO1217-FAD
        12_000_000_000n, // 12 m³ with 9 decimals
        1_000_000_000_000n,
        1_012_000_000_000n,
        0,
        2, // synchronised
        0,
        message.extrasHash,
      ],
    );
    expect(structHash).toBe(keccak256(words));
    const domainWords = AbiCoder.defaultAbiCoder().encode(
      ["bytes32", "bytes32", "bytes32", "uint256", "address", "bytes32"],
      [
        keccak256(
          toUtf8Bytes(
            "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract,bytes32 salt)",
          ),
        ),
        keccak256(toUtf8Bytes("maaskit")),
        keccak256(toUtf8Bytes("1")),
        0,
        ZERO_ADDRESS,
        keccak256(toUtf8Bytes(TEST_BINDING.agreementId)),
      ],
    );
    expect(domainSeparator).toBe(keccak256(domainWords));
    expect(digest).toBe(keccak256(concat(["0x1901", domainSeparator, structHash])));
    expect(meterRecordDigest(r)).toBe(digest);
    expect(second!.prevHash).toBe(digest);
  });

  test("behavior: deterministic — equal records (even rebuilt from strings) give equal bytes and digests", () => {
    const rebuilt: MeterRecord = {
      ...first!,
      quantity: { ...first!.quantity, value: dec("12.000") },
      periodStart: new Date(first!.periodStart.getTime()),
    };
    const a = encodeMeterRecord(first!);
    const b = encodeMeterRecord(rebuilt);
    expect(b.encoded).toBe(a.encoded);
    expect(b.digest).toBe(a.digest);
    expect(JSON.stringify(meterRecordTypedData(rebuilt))).toBe(
      JSON.stringify(meterRecordTypedData(first!)),
    );
  });

  test("behavior: extrasHash is zero without extras and hashStruct(MeterExtras) with them", () => {
    const { extras: _e, ...bare } = first!;
    expect(encodeMeterRecord(bare).message.extrasHash).toBe(`0x${"00".repeat(32)}`);
    const { message, extras } = encodeMeterRecord(first!);
    expect(message.extrasHash).toBe(
      TypedDataEncoder.from(METER_EXTRAS_TYPES as never).hash(extras!),
    );
    expect(hashMeterExtras(first!.extras!, "air")).toBe(message.extrasHash);
  });

  test("args: units, domain", () => {
    expect(unitToBytes8("C62")).toBe("0x4336320000000000");
    expect(unitToBytes8("KWH")).toBe("0x4b57480000000000");
    expect(meterRecordDomain(TEST_BINDING)).toEqual({
      name: "maaskit",
      version: "1",
      chainId: 0,
      verifyingContract: ZERO_ADDRESS,
      salt: keccak256(toUtf8Bytes("agr-compressor-7")),
    });
  });

  test("error: every unrepresentable or malformed field is reported at once", () => {
    const bad = {
      ...first!,
      seq: -1,
      quantity: { value: dec("-1"), unit: "m3" },
      register: { start: dec("0.0000000001"), end: dec(2).pow(130) },
      prevHash: "0x12",
      periodEnd: first!.periodStart,
    };
    let error: unknown;
    try {
      encodeMeterRecord(bad);
    } catch (e) {
      error = e;
    }
    expect(
      (error as { details: { problems: { field: string; code: string }[] } }).details.problems,
    ).toEqual([
      { field: "seq", problem: "must be an integer in uint64", code: "metering.record.malformed" },
      {
        field: "periodEnd",
        problem: "must be after periodStart",
        code: "metering.record.malformed",
      },
      {
        field: "prevHash",
        problem: "must be 32 bytes of lowercase 0x hex",
        code: "metering.record.malformed",
      },
      {
        field: "quantity.unit",
        problem: "must be a UNECE code of 1-8 characters [A-Z0-9]",
        code: "metering.record.malformed",
      },
      {
        field: "quantity.value",
        problem: "must not be negative",
        code: "metering.record.notRepresentable",
      },
      {
        field: "register.start",
        problem: "has more than 9 decimals (0.0000000001)",
        code: "metering.record.notRepresentable",
      },
      {
        field: "register.end",
        problem: "does not fit in uint128",
        code: "metering.record.notRepresentable",
      },
    ]);
    expect((error as { code: string }).code).toBe("metering.record.malformed");
  });
});
