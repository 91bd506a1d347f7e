import type { AbstractSigner, TypedDataField } from "ethers";
import { getAddress } from "ethers/address";
import { ZeroHash } from "ethers/constants";
import { keccak256 } from "ethers/crypto";
import { id, TypedDataEncoder } from "ethers/hash";
import { toUtf8Bytes } from "ethers/utils";
import { writeCanonicalJson } from "../canonicalJson.js";
import { MaaskitError } from "../errors.js";
import { isChecksummedAddress } from "../records/meterRecordTypedData.js";
import { SignatureChecker } from "../records/signatureCheck.js";

/**
 * A signed, hash-chained, append-only log entry: the generic building block of
 * tamper-evident histories (the maintenance history is one). Each entry commits to its
 * payload by hash and to the previous entry by its EIP-712 digest, so a changed, removed,
 * inserted or reordered entry is detected by anyone holding the signer's address.
 */
export interface LogEntry<P = unknown> {
  readonly kind: "logEntry";
  readonly version: 1;
  /** Which log: e.g. `maintenance/<machineId>`. */
  readonly logId: string;
  readonly seq: number;
  /** Event time of the entry (ISO 8601 UTC with ms in JSON). */
  readonly at: string;
  /** Entry type within the log, e.g. `serviceRequest`, `workOrder.paid`. */
  readonly type: string;
  readonly payload: P;
  readonly prevHash: string;
  readonly signer: string;
  readonly signature: string;
}

/** EIP-712 domain of a log: bound to one log id by its salt. */
export function logDomain(logId: string) {
  return {
    name: "maaskit-log",
    version: "1",
    chainId: 0,
    verifyingContract: "0x0000000000000000000000000000000000000000",
    salt: id(logId),
  };
}

/** The EIP-712 struct an entry's signature covers (field order is normative). */
export const logEntryTypes: Record<string, TypedDataField[]> = {
  LogEntry: [
    { name: "version", type: "uint16" },
    { name: "seq", type: "uint64" },
    { name: "at", type: "uint64" },
    { name: "entryType", type: "bytes32" },
    { name: "payloadHash", type: "bytes32" },
    { name: "prevHash", type: "bytes32" },
  ],
};

/**
 * Signed-log payload JSON, version 1 (docs/signed-log.md §3): RFC 8785 (the shared
 * `writeCanonicalJson`) with the two rules the log was specified with before it adopted
 * RFC 8785, kept so every signed entry keeps verifying: a bigint is written as its decimal
 * string, and an unpaired surrogate is escaped (`"\ud800"`) instead of refused. Dates and
 * Decimals are written as their `toJSON`. Errors are `metering.log.notCanonical`.
 * @internal
 */
export function canonicalJsonLogV1(value: unknown): string {
  return writeCanonicalJson(value, {
    bigint: "string",
    loneSurrogates: "escape",
    errorCode: "metering.log.notCanonical",
    what: "A log payload",
  });
}

function message(e: Omit<LogEntry, "signer" | "signature" | "kind">) {
  return {
    version: e.version,
    seq: e.seq,
    at: Date.parse(e.at),
    entryType: id(e.type),
    payloadHash: keccak256(toUtf8Bytes(canonicalJsonLogV1(e.payload))),
    prevHash: e.prevHash,
  };
}

/** The EIP-712 digest of an entry: what is signed, and the next entry's `prevHash`. */
export function hashLogEntry(e: Omit<LogEntry, "signer" | "signature" | "kind">): string {
  return TypedDataEncoder.hash(logDomain(e.logId), logEntryTypes, message(e));
}

/**
 * Signs the next entry of a log. `head` is the previous entry (or undefined for the
 * first); seq and prevHash follow from it.
 *
 * @example
 * const e0 = await signLogEntry({ logId: "maintenance/c1", type: "serviceRequest", at, payload }, wallet)
 * const e1 = await signLogEntry({ …, head: e0 }, wallet)
 */
export async function signLogEntry<P>(
  input: { logId: string; type: string; at: Date; payload: P; head?: LogEntry | undefined },
  signer: Pick<AbstractSigner, "signTypedData" | "getAddress">,
): Promise<LogEntry<P>> {
  if (input.head && input.head.logId !== input.logId) {
    throw new MaaskitError("metering.log.wrongLog", "head belongs to another log", {
      details: { logId: input.logId, headLogId: input.head.logId },
    });
  }
  const base = {
    version: 1 as const,
    logId: input.logId,
    seq: input.head ? input.head.seq + 1 : 0,
    at: input.at.toISOString(),
    type: input.type,
    payload: JSON.parse(canonicalJsonLogV1(input.payload)) as P,
    prevHash: input.head ? hashLogEntry(input.head) : ZeroHash,
  };
  const signature = await signer.signTypedData(logDomain(base.logId), logEntryTypes, message(base));
  return { kind: "logEntry", ...base, signer: getAddress(await signer.getAddress()), signature };
}

export type LogVerificationReason =
  | "metering.log.malformed"
  | "metering.log.badSignature"
  | "metering.log.wrongSigner"
  | "metering.log.wrongLog"
  | "metering.log.brokenChain"
  | "metering.log.seqGap"
  | "metering.log.seqDuplicate"
  | "metering.log.timeNotMonotonic";

export interface LogVerificationResult {
  readonly seq: number | undefined;
  readonly valid: boolean;
  readonly reasons: readonly { code: LogVerificationReason; message: string }[];
}

/**
 * Verifies a log in order: signature, allowed signer, one log id, gapless seq from 0,
 * chain of digests, non-decreasing time. Returns one result per entry naming every
 * reason it fails; expectations move on after each entry so one tampered entry is
 * reported where it happened.
 */
export function verifyLogEntries(
  entries: readonly unknown[],
  options: { signers?: readonly string[]; logId?: string } = {},
): LogVerificationResult[] {
  const allowed = options.signers?.map((s) => getAddress(s));
  let logId = options.logId;
  let nextSeq = 0;
  let prev: string = ZeroHash;
  let lastAt = Number.NEGATIVE_INFINITY;
  const seen = new Set<number>();
  return entries.map((raw) => {
    const reasons: { code: LogVerificationReason; message: string }[] = [];
    const e = raw as LogEntry;
    const malformed = checkShape(e);
    if (malformed) {
      return {
        seq: typeof e?.seq === "number" ? e.seq : undefined,
        valid: false,
        reasons: [{ code: "metering.log.malformed", message: malformed }],
      };
    }
    const digest = hashLogEntry(e);
    const sig = checker.check(digest, e.signature, e.signer);
    if (sig !== true) {
      reasons.push({
        code: "metering.log.badSignature",
        message:
          sig === "highS"
            ? "signature is malleable (high s)"
            : sig === "malformed"
              ? "signature is malformed (65 bytes of lowercase hex, v 27 or 28)"
              : "signature does not match the entry and its signer",
      });
    } else if (allowed && !allowed.includes(getAddress(e.signer))) {
      reasons.push({
        code: "metering.log.wrongSigner",
        message: `signer ${e.signer} is not allowed`,
      });
    }
    logId ??= e.logId;
    if (e.logId !== logId) {
      reasons.push({
        code: "metering.log.wrongLog",
        message: `entry of log ${e.logId}, expected ${logId}`,
      });
    }
    if (seen.has(e.seq)) {
      reasons.push({ code: "metering.log.seqDuplicate", message: `seq ${e.seq} appears twice` });
    } else if (e.seq !== nextSeq) {
      reasons.push({ code: "metering.log.seqGap", message: `seq ${e.seq}, expected ${nextSeq}` });
    }
    if (e.prevHash !== prev) {
      reasons.push({
        code: "metering.log.brokenChain",
        message: "prevHash is not the digest of the previous entry",
      });
    }
    const at = Date.parse(e.at);
    if (at < lastAt) {
      reasons.push({
        code: "metering.log.timeNotMonotonic",
        message: `time ${e.at} goes backwards`,
      });
    }
    seen.add(e.seq);
    nextSeq = e.seq + 1;
    prev = digest;
    lastAt = Math.max(lastAt, at);
    return { seq: e.seq, valid: reasons.length === 0, reasons };
  });
}

const checker = new SignatureChecker();

/** The members of an entry's JSON form; any other member is malformed. */
export const LOG_ENTRY_JSON_KEYS = [
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
] as const;

function checkShape(e: LogEntry): string | undefined {
  if (typeof e !== "object" || e === null) return "not an object";
  if (e.kind !== "logEntry") return 'kind must be "logEntry"';
  const unknown = Object.keys(e).filter(
    (k) => !(LOG_ENTRY_JSON_KEYS as readonly string[]).includes(k),
  );
  if (unknown.length > 0) return `${unknown.join(", ")} is not a member of the format`;
  if (e.version !== 1) return "unsupported version";
  if (typeof e.logId !== "string" || e.logId.length === 0) return "logId missing";
  if (!Number.isSafeInteger(e.seq) || e.seq < 0) return "seq must be a non-negative integer";
  if (typeof e.at !== "string" || !isIsoUtc(e.at)) {
    return "at must be an ISO 8601 UTC timestamp with milliseconds";
  }
  if (typeof e.type !== "string" || e.type.length === 0) return "type missing";
  if (!/^0x[0-9a-f]{64}$/.test(e.prevHash)) return "prevHash must be 32 bytes of lowercase hex";
  if (!isChecksummedAddress(e.signer)) return "signer must be an EIP-55 address";
  if (typeof e.signature !== "string" || !/^0x[0-9a-f]{130}$/.test(e.signature)) {
    return "signature must be 65 bytes of lowercase hex";
  }
  if (e.payload === undefined) return "payload missing";
  try {
    canonicalJsonLogV1(e.payload);
  } catch {
    return "payload is not canonical JSON";
  }
  return undefined;
}

function isIsoUtc(s: string): boolean {
  const t = Date.parse(s);
  return Number.isFinite(t) && new Date(t).toISOString() === s;
}
