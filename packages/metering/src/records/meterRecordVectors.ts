import { Signature, Wallet } from "ethers";
import { dec } from "../quantity.js";
import { buildPeriodStatement } from "./buildPeriodStatement.js";
import { buildMeterRecord } from "./createMeterRecord.js";
import { encodeMeterRecord, hashExtrasMessage, meterRecordTypedData } from "./encodeMeterRecord.js";
import { encodePeriodStatement, periodStatementTypedData } from "./encodePeriodStatement.js";
import {
  type MeterRecord,
  type MeterRecordBinding,
  type MeterRecordJson,
  meterRecordToJson,
} from "./meterRecord.js";
import type { MeterRecordErrorCode } from "./meterRecordErrors.js";
import {
  METER_EXTRAS_TYPE_STRING,
  METER_EXTRAS_TYPES,
  METER_RECORD_TYPE_STRING,
  stringifyIntegers,
  type TypedDataJson,
} from "./meterRecordTypedData.js";
import { PERIOD_STATEMENT_TYPE_STRING, type PeriodStatementJson } from "./periodStatement.js";
import { periodStatementToJson } from "./periodStatementJson.js";
import { OTHER_TEST_KEY, sampleChain, TEST_KEY } from "./sampleMeterRecords.js";
import { signMeterRecord } from "./signMeterRecord.js";
import { signPeriodStatement } from "./signPeriodStatement.js";

/** One test vector of docs/meter-record.vectors.json. @internal */
export interface MeterRecordVector {
  name: string;
  typedData: TypedDataJson;
  digest: string;
  signature: string;
  /** The address the verifier expects (the agreement's allowed key). */
  signer: string;
  valid: boolean;
  reason: MeterRecordErrorCode | null;
  record?: MeterRecordJson;
  statement?: PeriodStatementJson;
  extras?: {
    primaryType: "MeterExtras";
    types: Record<string, { name: string; type: string }[]>;
    message: unknown;
    hash: string;
  };
}

/** The vectors file. @internal */
export interface MeterRecordVectors {
  description: string;
  typeStrings: Record<string, string>;
  vectors: MeterRecordVector[];
}

const ON_CHAIN: MeterRecordBinding = {
  agreementId: "42",
  chainId: 31337,
  verifyingContract: "0x5FbDB2315678afecb367f032d93F642f64180aa3",
};

/**
 * Builds the test vectors deterministically from fixed keys (RFC 6979 signatures): the
 * generator script writes them to docs/meter-record.vectors.json, and a test checks the
 * committed file is what this returns. @internal
 */
export async function buildMeterRecordVectors(): Promise<MeterRecordVectors> {
  const wallet = new Wallet(TEST_KEY);
  const other = new Wallet(OTHER_TEST_KEY);
  const chain = await sampleChain(3, { oee: true });
  const vectors: MeterRecordVector[] = [];

  const vector = (name: string, record: MeterRecord, extra: Partial<MeterRecordVector> = {}) => {
    const encoded = encodeMeterRecord(record);
    const v: MeterRecordVector = {
      name,
      typedData: meterRecordTypedData(record),
      digest: encoded.digest,
      signature: record.signature,
      signer: wallet.address,
      valid: true,
      reason: null,
      record: meterRecordToJson(record),
      ...extra,
    };
    if (encoded.extras !== undefined) {
      v.extras = {
        primaryType: "MeterExtras",
        types: Object.fromEntries(
          Object.entries(METER_EXTRAS_TYPES).map(([k, f]) => [
            k,
            f.map((x) => ({ name: x.name, type: x.type })),
          ]),
        ),
        message: stringifyIntegers(encoded.extras),
        hash: hashExtrasMessage(encoded.extras),
      };
    }
    vectors.push(v);
  };

  vector("valid: first record (genesis prevHash), register, extra channel and OEE", chain[0]!);
  vector("valid: second record chained to the first", chain[1]!);

  const minimal = await signMeterRecord(
    buildMeterRecord(
      {
        kind: "window",
        machineId: "compressor-7",
        start: new Date(Date.UTC(2025, 5, 1, 12)),
        end: new Date(Date.UTC(2025, 5, 1, 12, 15)),
        usage: [
          {
            channel: "air",
            quantity: { value: dec("3.141592653"), unit: "MTQ", basis: "DIN1343-normal" },
            flags: { derivedFromRate: true, bridged: true },
          },
        ],
        gaps: [
          {
            kind: "gap",
            machineId: "compressor-7",
            start: new Date(Date.UTC(2025, 5, 1, 12, 3)),
            end: new Date(Date.UTC(2025, 5, 1, 12, 4)),
            reason: "source.reconnected",
          },
        ],
        quarantined: 4,
      },
      {
        binding: ON_CHAIN,
        chain: { seq: 7, prevHash: `0x${"ab".repeat(32)}` },
        clock: "informative",
      },
    ),
    { signer: wallet },
  );
  vector("valid: on-chain agreement, no register, no extras, rate-derived with a gap", minimal);

  // Invalid: each keeps a real signature but changes what it covers or who made it.
  const tampered = {
    ...chain[1]!,
    quantity: { ...chain[1]!.quantity, value: chain[1]!.quantity.value.plus("0.001") },
  };
  vector("invalid: quantity tampered after signing", tampered, {
    signature: chain[1]!.signature,
    valid: false,
    reason: "metering.record.badSignature",
  });
  const relinked = { ...chain[2]!, prevHash: chain[1]!.prevHash };
  vector("invalid: prevHash tampered after signing", relinked, {
    valid: false,
    reason: "metering.record.badSignature",
  });
  const byOther = await signMeterRecord(chain[0]!, { signer: other });
  vector("invalid: validly signed by a key the agreement does not allow", byOther, {
    valid: false,
    reason: "metering.record.wrongSigner",
  });
  const otherAgreement = await signMeterRecord(
    { ...chain[0]!, agreementId: "agr-another-customer" },
    { signer: wallet },
  );
  vector("invalid: signed for another agreement (domain salt differs)", chain[0]!, {
    signature: otherAgreement.signature,
    record: meterRecordToJson(otherAgreement),
    valid: false,
    reason: "metering.record.wrongAgreement",
  });
  const otherChain = await signMeterRecord({ ...minimal, chainId: 1 }, { signer: wallet });
  vector("invalid: signed for another chain id", minimal, {
    signature: otherChain.signature,
    record: meterRecordToJson(otherChain),
    valid: false,
    reason: "metering.record.wrongAgreement",
  });
  const sig = Signature.from(chain[0]!.signature);
  const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
  const highS = `0x${sig.r.slice(2)}${(n - BigInt(sig.s)).toString(16).padStart(64, "0")}${sig.v === 27 ? "1c" : "1b"}`;
  vector(
    "invalid: high-s twin of a valid signature (malleable, EIP-2)",
    { ...chain[0]!, signature: highS },
    {
      valid: false,
      reason: "metering.record.badSignature",
    },
  );
  vector(
    "invalid: malformed signature (recovery byte 0x00)",
    { ...chain[0]!, signature: `${chain[0]!.signature.slice(0, 130)}00` },
    {
      valid: false,
      reason: "metering.record.badSignature",
    },
  );
  vector(
    "invalid: malformed signature (64 bytes)",
    { ...chain[0]!, signature: chain[0]!.signature.slice(0, 130) },
    {
      valid: false,
      reason: "metering.record.badSignature",
    },
  );

  const statement = await signPeriodStatement(buildPeriodStatement(chain), { signer: wallet });
  const { message, ...typedRest } = periodStatementTypedData(statement);
  vectors.push({
    name: "valid: period statement over the three sample records",
    typedData: { ...typedRest, message },
    digest: encodePeriodStatement(statement).digest,
    signature: statement.signature,
    signer: wallet.address,
    valid: true,
    reason: null,
    statement: periodStatementToJson(statement),
  });

  return {
    description:
      "maaskit meter record format v1 test vectors (docs/meter-record.md). Keys are public test keys. Generated by packages/metering/scripts/generateVectors.ts; do not edit.",
    typeStrings: {
      EIP712Domain:
        "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract,bytes32 salt)",
      MeterRecord: METER_RECORD_TYPE_STRING,
      MeterExtras: METER_EXTRAS_TYPE_STRING,
      PeriodStatement: PERIOD_STATEMENT_TYPE_STRING,
    },
    vectors,
  };
}
