import type { TypedDataField } from "ethers";
import { Wallet } from "ethers";
import { keccak256 } from "ethers/crypto";
import { toUtf8Bytes } from "ethers/utils";
import { OTHER_TEST_KEY, TEST_KEY } from "../records/sampleMeterRecords.js";
import {
  canonicalJsonLogV1,
  hashLogEntry,
  type LogEntry,
  logDomain,
  logEntryTypes,
  signLogEntry,
  verifyLogEntries,
} from "./signedLog.js";

/** One entry of a vector chain, with the intermediate values of the spec. @internal */
export interface SignedLogVectorEntry {
  /** The JSON line. */
  readonly entry: Record<string, unknown>;
  /** canonical JSON of `payload` (signed-log.md §3). */
  readonly canonicalPayload: string;
  readonly payloadHash: string;
  /** `eth_signTypedData_v4` typed data the signature is over. */
  readonly typedData: {
    domain: ReturnType<typeof logDomain>;
    types: Record<string, TypedDataField[]>;
    primaryType: "LogEntry";
    message: Record<string, string | number>;
  };
  readonly digest: string;
  readonly valid: boolean;
  /** Reason codes, empty when valid. */
  readonly reasons: readonly string[];
}

/** A chain of entries verified in order, as `maaskit verify` does per log. @internal */
export interface SignedLogVector {
  readonly name: string;
  /** The expected signer (the key the log's reader trusts). */
  readonly signer: string;
  readonly entries: readonly SignedLogVectorEntry[];
}

/** docs/signed-log.vectors.json. @internal */
export interface SignedLogVectors {
  readonly description: string;
  readonly typeStrings: Record<string, string>;
  readonly vectors: readonly SignedLogVector[];
}

const DOMAIN_TYPE = [
  { name: "name", type: "string" },
  { name: "version", type: "string" },
  { name: "chainId", type: "uint256" },
  { name: "verifyingContract", type: "address" },
  { name: "salt", type: "bytes32" },
];

function described(
  e: LogEntry,
  result: { valid: boolean; reasons: readonly { code: string }[] },
): SignedLogVectorEntry {
  const canonicalPayload = canonicalJsonLogV1(e.payload);
  return {
    entry: JSON.parse(JSON.stringify(e)) as Record<string, unknown>,
    canonicalPayload,
    payloadHash: keccak256(toUtf8Bytes(canonicalPayload)),
    typedData: {
      domain: logDomain(e.logId),
      types: { EIP712Domain: DOMAIN_TYPE, ...logEntryTypes },
      primaryType: "LogEntry",
      message: {
        version: String(e.version),
        seq: String(e.seq),
        at: String(Date.parse(e.at)),
        entryType: keccak256(toUtf8Bytes(e.type)),
        payloadHash: keccak256(toUtf8Bytes(canonicalPayload)),
        prevHash: e.prevHash,
      },
    },
    digest: hashLogEntry(e),
    valid: result.valid,
    reasons: result.reasons.map((r) => r.code),
  };
}

function chain(name: string, signer: string, entries: readonly LogEntry[]): SignedLogVector {
  const results = verifyLogEntries(entries, { signers: [signer] });
  return { name, signer, entries: entries.map((e, i) => described(e, results[i]!)) };
}

/**
 * Builds the signed-log vectors from fixed test keys (deterministic: RFC 6979). @internal
 */
export async function buildSignedLogVectors(): Promise<SignedLogVectors> {
  const vendor = new Wallet(TEST_KEY);
  const stranger = new Wallet(OTHER_TEST_KEY);
  const logId = "maintenance/compressor-7";
  const at = (minutes: number) => new Date(Date.UTC(2025, 2, 1, 8, minutes));
  const e0 = await signLogEntry(
    { logId, type: "trigger", at: at(0), payload: { runHours: "4000", conditionId: "oil" } },
    vendor,
  );
  const e1 = await signLogEntry(
    {
      logId,
      type: "workOrder.opened",
      at: at(5),
      payload: {
        workOrderId: "wo-1",
        price: "640.00",
        notes: "Ölwechsel ✓",
        parts: ["oil-5l", "filter"],
        urgent: false,
        hours: 2.5,
      },
      head: e0,
    },
    vendor,
  );
  const e2 = await signLogEntry(
    {
      logId,
      type: "service.performed",
      at: at(5),
      payload: { serviceType: "oilChange", z: null, a: { nested: { b: 1, a: [] } } },
      head: e1,
    },
    vendor,
  );
  const valid = [e0, e1, e2];
  const tamperedPayload = { ...e1, payload: { ...(e1.payload as object), price: "64.00" } };
  const forged = await signLogEntry(
    { logId, type: "workOrder.opened", at: at(5), payload: e1.payload, head: e0 },
    stranger,
  );
  const otherLog = await signLogEntry(
    { logId: "maintenance/compressor-8", type: "trigger", at: at(0), payload: e0.payload },
    vendor,
  );
  const earlier = await signLogEntry(
    { logId, type: "workOrder.opened", at: at(-1), payload: e1.payload, head: e0 },
    vendor,
  );
  return {
    description:
      "Signed log (maintenance history) test vectors: see docs/signed-log.md. Each vector is a chain verified in order against the expected signer; every entry lists the canonical payload, payload hash, typed data and digest of the spec, and its verdict. Signed with public test keys: never use them for anything real.",
    typeStrings: {
      EIP712Domain:
        "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract,bytes32 salt)",
      LogEntry:
        "LogEntry(uint16 version,uint64 seq,uint64 at,bytes32 entryType,bytes32 payloadHash,bytes32 prevHash)",
    },
    vectors: [
      chain(
        "valid: three entries (sorted keys, non-ASCII text, numbers, null, nested)",
        vendor.address,
        valid,
      ),
      chain("invalid: a payload changed after signing", vendor.address, [e0, tamperedPayload, e2]),
      chain("invalid: the middle entry deleted", vendor.address, [e0, e2]),
      chain("invalid: an entry signed by another key", vendor.address, [e0, forged]),
      chain("invalid: an entry of another log spliced in", vendor.address, [
        e0,
        { ...otherLog, seq: 1, prevHash: hashLogEntry(e0) },
      ]),
      chain("invalid: time goes backwards", vendor.address, [e0, earlier]),
      chain("invalid: the first entry does not start at seq 0", vendor.address, [e1, e2]),
    ],
  };
}
