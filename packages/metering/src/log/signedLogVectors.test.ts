import { readFileSync } from "node:fs";
import {
  getAddress,
  keccak256,
  recoverAddress,
  Signature,
  TypedDataEncoder,
  toUtf8Bytes,
} from "ethers";
import { describe, expect, test } from "vitest";
import { verifyLogEntries } from "./signedLog.js";
import { buildSignedLogVectors, type SignedLogVectors } from "./signedLogVectors.js";

// docs/signed-log.vectors.json checked from docs/signed-log.md alone: an EIP-712 encoder,
// keccak-256 and ecrecover — none of maaskit's log code (until the last two tests).

const doc = JSON.parse(
  readFileSync(new URL("../../../../docs/signed-log.vectors.json", import.meta.url), "utf8"),
) as SignedLogVectors;

const N = BigInt("0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141");
const ZERO32 = `0x${"00".repeat(32)}`;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const MEMBERS = [
  "kind",
  "version",
  "logId",
  "seq",
  "at",
  "type",
  "payload",
  "prevHash",
  "signer",
  "signature",
];

/** §3: members sorted by UTF-16 code units, no whitespace, JSON.stringify for scalars. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v !== null && typeof v === "object") {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
      .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(v);
}

/** §1. */
function domain(logId: string) {
  return {
    name: "maaskit-log",
    version: "1",
    chainId: 0,
    verifyingContract: "0x0000000000000000000000000000000000000000",
    salt: keccak256(toUtf8Bytes(logId)),
  };
}

/** §2. */
const TYPES = {
  LogEntry: [
    { name: "version", type: "uint16" },
    { name: "seq", type: "uint64" },
    { name: "at", type: "uint64" },
    { name: "entryType", type: "bytes32" },
    { name: "payloadHash", type: "bytes32" },
    { name: "prevHash", type: "bytes32" },
  ],
};

type Entry = Record<string, unknown> & {
  logId: string;
  seq: number;
  at: string;
  type: string;
  prevHash: string;
  signer: string;
  signature: string;
};

function message(e: Entry) {
  return {
    version: String(e.version),
    seq: String(e.seq),
    at: String(Date.parse(e.at)),
    entryType: keccak256(toUtf8Bytes(e.type)),
    payloadHash: keccak256(toUtf8Bytes(canonical(e.payload))),
    prevHash: e.prevHash,
  };
}

/** §4: recovers to `signer` with a canonical low-s signature. */
function signatureOk(digest: string, e: Entry): boolean {
  if (!/^0x[0-9a-f]{130}$/.test(e.signature)) return false;
  const v = Number.parseInt(e.signature.slice(130), 16);
  if (v !== 27 && v !== 28) return false;
  if (BigInt(`0x${e.signature.slice(66, 130)}`) > N / 2n) return false;
  try {
    return recoverAddress(digest, Signature.from(e.signature)) === e.signer;
  } catch {
    return false;
  }
}

/** §6, from the spec: the reasons of each entry of a chain, in the order of the table. */
function verifyChain(entries: readonly Entry[], signer: string): string[][] {
  let logId: string | undefined;
  let next = 0;
  let prev = ZERO32;
  let last = Number.NEGATIVE_INFINITY;
  const seen = new Set<number>();
  return entries.map((e) => {
    const reasons: string[] = [];
    const shapeOk =
      Object.keys(e).every((k) => MEMBERS.includes(k)) &&
      e.kind === "logEntry" &&
      e.version === 1 &&
      typeof e.logId === "string" &&
      Number.isSafeInteger(e.seq) &&
      ISO.test(e.at) &&
      getAddress(e.signer) === e.signer;
    if (!shapeOk) return ["metering.log.malformed"];
    const digest = TypedDataEncoder.hash(domain(e.logId), TYPES, message(e));
    if (!signatureOk(digest, e)) reasons.push("metering.log.badSignature");
    else if (e.signer !== signer) reasons.push("metering.log.wrongSigner");
    logId ??= e.logId;
    if (e.logId !== logId) reasons.push("metering.log.wrongLog");
    if (seen.has(e.seq)) reasons.push("metering.log.seqDuplicate");
    else if (e.seq !== next) reasons.push("metering.log.seqGap");
    if (e.prevHash !== prev) reasons.push("metering.log.brokenChain");
    const at = Date.parse(e.at);
    if (at < last) reasons.push("metering.log.timeNotMonotonic");
    seen.add(e.seq);
    next = e.seq + 1;
    prev = digest;
    last = Math.max(last, at);
    return reasons;
  });
}

describe("docs/signed-log.vectors.json, from the spec alone", () => {
  test("default: the file has a valid chain and invalid ones of every kind", () => {
    expect(doc.vectors[0]!.entries.every((e) => e.valid)).toBe(true);
    const reasons = new Set(doc.vectors.flatMap((v) => v.entries.flatMap((e) => e.reasons)));
    for (const r of [
      "badSignature",
      "wrongSigner",
      "wrongLog",
      "seqGap",
      "brokenChain",
      "timeNotMonotonic",
    ]) {
      expect(reasons).toContain(`metering.log.${r}`);
    }
  });

  test("behavior: the type strings are what EIP-712 encodeType gives for §2", () => {
    expect(TypedDataEncoder.from(TYPES).encodeType("LogEntry")).toBe(doc.typeStrings.LogEntry);
  });

  test.each(doc.vectors.map((v) => [v.name, v] as const))("vector: %s", (_name, v) => {
    for (const x of v.entries) {
      const e = x.entry as Entry;
      expect(canonical(e.payload)).toBe(x.canonicalPayload);
      expect(keccak256(toUtf8Bytes(x.canonicalPayload))).toBe(x.payloadHash);
      expect(x.typedData.domain).toEqual(domain(e.logId));
      expect(x.typedData.message).toEqual(message(e));
      const types = Object.fromEntries(
        Object.entries(x.typedData.types).filter(([k]) => k !== "EIP712Domain"),
      );
      expect(TypedDataEncoder.hash(x.typedData.domain, types, x.typedData.message)).toBe(x.digest);
    }
    const verdicts = verifyChain(
      v.entries.map((x) => x.entry as Entry),
      v.signer,
    );
    expect(verdicts).toEqual(v.entries.map((x) => [...x.reasons]));
    expect(verdicts.map((r) => r.length === 0)).toEqual(v.entries.map((x) => x.valid));
  });
});

describe("docs/signed-log.vectors.json and the implementation", () => {
  test.each(
    doc.vectors.map((v) => [v.name, v] as const),
  )("behavior: verifyLogEntries agrees: %s", (_name, v) => {
    const results = verifyLogEntries(
      v.entries.map((x) => x.entry),
      { signers: [v.signer] },
    );
    expect(results.map((r) => r.reasons.map((x) => x.code))).toEqual(
      v.entries.map((x) => [...x.reasons]),
    );
  });

  test("behavior: the committed file is exactly what the generator gives (deterministic)", async () => {
    expect(JSON.parse(JSON.stringify(await buildSignedLogVectors()))).toEqual(doc);
  });
});
