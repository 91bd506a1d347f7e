import type { Signer, TypedDataField } from "ethers";
import { getAddress } from "ethers/address";
import { keccak256, Signature } from "ethers/crypto";
import { concat } from "ethers/utils";
import { MaaskitError } from "../errors.js";
import { type Quantity, quantityToJson, toDecimal } from "../quantity.js";
import {
  domainSeparatorOf,
  getEncoder,
  hashExtrasMessage,
  meterRecordDigest,
} from "./encodeMeterRecord.js";
import {
  type ExtraQuantity,
  extrasFromJson,
  extrasToJson,
  flagsToJson,
  GENESIS_HASH,
  METER_RECORD_VERSION,
  type MeterExtras,
  type MeterExtrasJson,
  type MeterRecord,
  type MeterRecordBinding,
  Problems,
  RECORD_FLAG_BITS,
  RECORD_FLAG_NAMES,
  type RecordFlags,
  type RecordFlagsJson,
  type RegisterSpan,
  type RegisterSpanJson,
} from "./meterRecord.js";
import type { MeterRecordErrorCode } from "./meterRecordErrors.js";
import {
  checkAddress,
  EncodingProblems,
  extrasMessage,
  hashUtf8,
  type MeterExtrasMessage,
  meterRecordDomain,
  type TypedDataJson,
  typedDataJson,
} from "./meterRecordTypedData.js";
import type { VerifyMeterRecordsParameters } from "./meterRecordVerifier.js";
import { SignatureChecker } from "./signatureCheck.js";
import { sameBinding } from "./signMeterRecord.js";
import { type VerifyMeterRecordsReturnType, verifyMeterRecords } from "./verifyMeterRecords.js";

/** EIP-712 types of a period statement (primary type `PeriodStatement`), field order normative. */
export const PERIOD_STATEMENT_TYPES: Readonly<Record<string, readonly TypedDataField[]>> = {
  PeriodStatement: [
    { name: "version", type: "uint16" },
    { name: "machine", type: "bytes32" },
    { name: "channel", type: "bytes32" },
    { name: "periodStart", type: "uint64" },
    { name: "periodEnd", type: "uint64" },
    { name: "firstSeq", type: "uint64" },
    { name: "lastSeq", type: "uint64" },
    { name: "startHash", type: "bytes32" },
    { name: "headHash", type: "bytes32" },
    { name: "unit", type: "bytes8" },
    { name: "basis", type: "uint8" },
    { name: "total", type: "uint128" },
    { name: "registerStart", type: "uint128" },
    { name: "registerEnd", type: "uint128" },
    { name: "flags", type: "uint16" },
    { name: "plannedBusyTime", type: "uint64" },
    { name: "actualProductionTime", type: "uint64" },
    { name: "gapRecords", type: "uint32" },
    { name: "quarantined", type: "uint32" },
    { name: "extrasHash", type: "bytes32" },
  ],
};

/** EIP-712 type string of `PeriodStatement`. */
export const PERIOD_STATEMENT_TYPE_STRING =
  "PeriodStatement(uint16 version,bytes32 machine,bytes32 channel,uint64 periodStart,uint64 periodEnd,uint64 firstSeq,uint64 lastSeq,bytes32 startHash,bytes32 headHash,bytes8 unit,uint8 basis,uint128 total,uint128 registerStart,uint128 registerEnd,uint16 flags,uint64 plannedBusyTime,uint64 actualProductionTime,uint32 gapRecords,uint32 quarantined,bytes32 extrasHash)";

/** A period statement before signing: the summary of records `firstSeq..lastSeq`. */
export interface UnsignedPeriodStatement extends MeterRecordBinding {
  readonly version: typeof METER_RECORD_VERSION;
  readonly machineId: string;
  readonly channel: string;
  readonly periodStart: Date;
  readonly periodEnd: Date;
  readonly firstSeq: number;
  readonly lastSeq: number;
  /** `prevHash` of the first record (the previous statement's head). */
  readonly startHash: string;
  /** Digest of the last record: the chain head the statement commits to. */
  readonly headHash: string;
  /** Sum of the billed quantities. */
  readonly total: Quantity;
  /** First record's registerStart, last record's registerEnd (absent if either has none). */
  readonly register?: RegisterSpan;
  /** OR of the records' flags. */
  readonly flags: RecordFlags;
  /** Sums of the OEE elements (SLA availability = actual / planned). */
  readonly plannedBusyTimeMs: number;
  readonly actualProductionTimeMs: number;
  /** Records flagged `gap`. */
  readonly gapRecords: number;
  /** Sum of the records' quarantined counts. */
  readonly quarantined: number;
  /** Per-channel totals of the further quantities and the summed OEE element. */
  readonly extras?: MeterExtras;
}

/**
 * A signed period statement: settles a billing period with one signature check.
 *
 * @example
 * ```ts
 * const statement = await signPeriodStatement(buildPeriodStatement(records), { signer });
 * ```
 */
export interface PeriodStatement extends UnsignedPeriodStatement {
  readonly signer: string;
  readonly signature: string;
}

/** JSON form of a period statement (one line of an export file). */
export interface PeriodStatementJson {
  kind: "periodStatement";
  version: number;
  agreementId: string;
  chainId: number;
  verifyingContract: string;
  machineId: string;
  channel: string;
  periodStart: string;
  periodEnd: string;
  firstSeq: number;
  lastSeq: number;
  startHash: string;
  headHash: string;
  total: ReturnType<typeof quantityToJson>;
  register?: RegisterSpanJson;
  flags: RecordFlagsJson;
  plannedBusyTimeMs: number;
  actualProductionTimeMs: number;
  gapRecords: number;
  quarantined: number;
  extras?: MeterExtrasJson;
  signer: string;
  signature: string;
}

/** The signed message of a statement. */
export interface PeriodStatementMessage {
  version: number;
  machine: string;
  channel: string;
  periodStart: bigint;
  periodEnd: bigint;
  firstSeq: bigint;
  lastSeq: bigint;
  startHash: string;
  headHash: string;
  unit: string;
  basis: number;
  total: bigint;
  registerStart: bigint;
  registerEnd: bigint;
  flags: number;
  plannedBusyTime: bigint;
  actualProductionTime: bigint;
  gapRecords: number;
  quarantined: number;
  extrasHash: string;
}

let encoder: ReturnType<typeof getEncoder> | undefined;
const checker = new SignatureChecker();

function invalid(message: string, details: Record<string, unknown>): MaaskitError {
  return new MaaskitError("metering.record.invalidInput", message, { details });
}

/**
 * Summarises a contiguous run of records (consecutive seq, linked by `prevHash`, contiguous
 * periods, one agreement, machine, channel and unit) into an unsigned statement. It checks
 * the run's structure, not its signatures: verify the records first, or use
 * `verifyPeriodStatement` with them.
 *
 * @example const unsigned = buildPeriodStatement(recordsOfJanuary);
 */
export function buildPeriodStatement(records: readonly MeterRecord[]): UnsignedPeriodStatement {
  const first = records[0];
  const last = records[records.length - 1];
  if (first === undefined || last === undefined)
    throw invalid("A statement needs at least one record", {});
  let total = toDecimal(0);
  let bits = 0;
  let planned = 0;
  let actual = 0;
  let gapRecords = 0;
  let quarantined = 0;
  let oee: { planned: number; actual: number; produced: Quantity; good: Quantity } | undefined;
  const extra = new Map<string, ExtraQuantity>();
  records.forEach((r, i) => {
    const prev = records[i - 1];
    if (prev !== undefined) {
      if (r.seq !== prev.seq + 1)
        throw invalid("Records are not consecutive", { seq: r.seq, previous: prev.seq });
      if (r.prevHash !== meterRecordDigest(prev))
        throw invalid("Records are not chained", { seq: r.seq });
      if (r.periodStart.getTime() !== prev.periodEnd.getTime()) {
        throw invalid("Periods are not contiguous", { seq: r.seq });
      }
    }
    if (
      !sameBinding(r, first) ||
      r.machineId !== first.machineId ||
      r.channel !== first.channel ||
      r.quantity.unit !== first.quantity.unit ||
      r.quantity.basis !== first.quantity.basis
    ) {
      throw invalid("Records differ in agreement, machine, channel or unit", { seq: r.seq });
    }
    total = total.plus(r.quantity.value);
    bits |= flagBits(r.flags);
    if (r.flags.gap === true) gapRecords++;
    quarantined += r.quarantined;
    for (const q of r.extras?.quantities ?? []) {
      const seen = extra.get(q.channel);
      if (seen === undefined) {
        extra.set(q.channel, q);
        continue;
      }
      if (seen.quantity.unit !== q.quantity.unit || seen.quantity.basis !== q.quantity.basis) {
        throw invalid("An extra channel changes its unit", { seq: r.seq, channel: q.channel });
      }
      const register =
        seen.register !== undefined && q.register !== undefined
          ? { start: seen.register.start, end: q.register.end }
          : undefined;
      extra.set(q.channel, {
        channel: q.channel,
        quantity: { ...seen.quantity, value: seen.quantity.value.plus(q.quantity.value) },
        ...(register === undefined ? {} : { register }),
        flags: bitsToFlags(flagBits(seen.flags) | flagBits(q.flags)),
      });
    }
    const o = r.extras?.oee;
    if (o !== undefined) {
      planned += o.plannedBusyTimeMs;
      actual += o.actualProductionTimeMs;
      if (oee === undefined) {
        oee = { planned: 0, actual: 0, produced: o.produced, good: o.good };
      } else {
        if (oee.produced.unit !== o.produced.unit) {
          throw invalid("OEE quantities change their unit", { seq: r.seq });
        }
        oee.produced = { ...oee.produced, value: oee.produced.value.plus(o.produced.value) };
        oee.good = { ...oee.good, value: oee.good.value.plus(o.good.value) };
      }
    }
  });
  const quantities = [...extra.values()].sort((a, b) =>
    a.channel < b.channel ? -1 : a.channel > b.channel ? 1 : 0,
  );
  const extras: MeterExtras | undefined =
    quantities.length === 0 && oee === undefined
      ? undefined
      : oee === undefined
        ? { quantities }
        : {
            quantities,
            oee: {
              plannedBusyTimeMs: planned,
              actualProductionTimeMs: actual,
              produced: oee.produced,
              good: oee.good,
            },
          };
  const register =
    first.register !== undefined && last.register !== undefined
      ? { start: first.register.start, end: last.register.end }
      : undefined;
  const out: Record<string, unknown> = {
    version: METER_RECORD_VERSION,
    agreementId: first.agreementId,
    chainId: first.chainId,
    verifyingContract: first.verifyingContract,
    machineId: first.machineId,
    channel: first.channel,
    periodStart: first.periodStart,
    periodEnd: last.periodEnd,
    firstSeq: first.seq,
    lastSeq: last.seq,
    startHash: first.prevHash,
    headHash: meterRecordDigest(last),
    total: { ...first.quantity, value: total },
  };
  if (register !== undefined) out.register = register;
  out.flags = bitsToFlags(bits);
  out.plannedBusyTimeMs = planned;
  out.actualProductionTimeMs = actual;
  out.gapRecords = gapRecords;
  out.quarantined = quarantined;
  if (extras !== undefined) out.extras = extras;
  return out as unknown as UnsignedPeriodStatement;
}

function flagBits(flags: RecordFlags): number {
  let bits = 0;
  for (const name of RECORD_FLAG_NAMES)
    if (flags[name] === true) bits |= 1 << RECORD_FLAG_BITS[name];
  return bits;
}

function bitsToFlags(bits: number): RecordFlags {
  const out: Record<string, true> = {};
  for (const name of RECORD_FLAG_NAMES) if (bits & (1 << RECORD_FLAG_BITS[name])) out[name] = true;
  return out as RecordFlags;
}

/**
 * Canonical encoding of a statement: message, struct hash and digest (same domain as the
 * records). Throws `metering.record.malformed` / `notRepresentable` naming every problem.
 *
 * @example const { digest } = encodePeriodStatement(statement);
 */
export function encodePeriodStatement(st: UnsignedPeriodStatement): {
  message: PeriodStatementMessage;
  structHash: string;
  digest: string;
  extras?: MeterExtrasMessage;
} {
  const p = new EncodingProblems();
  if (st.version !== METER_RECORD_VERSION) p.add("version", "must be 1");
  p.text(st.agreementId, "agreementId");
  p.uint(st.chainId, 64, "chainId");
  checkAddress(p, st.verifyingContract, "verifyingContract");
  const machineId = p.text(st.machineId, "machineId");
  const channel = p.text(st.channel, "channel");
  const periodStart = p.time(st.periodStart, "periodStart");
  const periodEnd = p.time(st.periodEnd, "periodEnd");
  if (periodEnd <= periodStart && periodEnd > 0n) p.add("periodEnd", "must be after periodStart");
  const firstSeq = p.uint(st.firstSeq, 64, "firstSeq");
  const lastSeq = p.uint(st.lastSeq, 64, "lastSeq");
  if (lastSeq < firstSeq) p.add("lastSeq", "must not be below firstSeq");
  const startHash = p.hash32(st.startHash, "startHash");
  const headHash = p.hash32(st.headHash, "headHash");
  const { unit, basis } = p.unit(st.total, "total");
  const total = p.fixed(st.total?.value, "total.value");
  const register = p.register(st.register, "register");
  const flags = p.flags(st.flags, st.register, "flags");
  const planned = p.uint(st.plannedBusyTimeMs, 64, "plannedBusyTimeMs");
  const actual = p.uint(st.actualProductionTimeMs, 64, "actualProductionTimeMs");
  const gapRecords = p.uint(st.gapRecords, 32, "gapRecords");
  const quarantined = p.uint(st.quarantined, 32, "quarantined");
  const extras =
    st.extras === undefined ? undefined : extrasMessage(p, st.extras, "extras", channel);
  p.throwIfAny("Statement");
  const message: PeriodStatementMessage = {
    version: METER_RECORD_VERSION,
    machine: hashUtf8(machineId),
    channel: hashUtf8(channel),
    periodStart,
    periodEnd,
    firstSeq: BigInt(firstSeq),
    lastSeq: BigInt(lastSeq),
    startHash,
    headHash,
    unit,
    basis,
    total,
    registerStart: register.start,
    registerEnd: register.end,
    flags,
    plannedBusyTime: BigInt(planned),
    actualProductionTime: BigInt(actual),
    gapRecords,
    quarantined,
    extrasHash: extras === undefined ? GENESIS_HASH : hashExtrasMessage(extras),
  };
  encoder ??= getEncoder(PERIOD_STATEMENT_TYPES);
  const structHash = encoder.hash(message as unknown as Record<string, unknown>);
  const digest = keccak256(concat(["0x1901", domainSeparatorOf(st), structHash]));
  return extras === undefined
    ? { message, structHash, digest }
    : { message, structHash, digest, extras };
}

/**
 * The statement as `eth_signTypedData_v4` JSON.
 *
 * @example JSON.stringify(periodStatementTypedData(statement))
 */
export function periodStatementTypedData(st: UnsignedPeriodStatement): TypedDataJson {
  return typedDataJson(
    st,
    PERIOD_STATEMENT_TYPES,
    "PeriodStatement",
    encodePeriodStatement(st).message,
  );
}

/**
 * Signs a statement under its agreement's domain (a `Wallet` signs the digest directly;
 * other signers get `signTypedData`, checked before use).
 *
 * @example const statement = await signPeriodStatement(unsigned, { signer: wallet });
 */
export async function signPeriodStatement(
  unsigned: UnsignedPeriodStatement,
  { signer }: { readonly signer: Signer },
): Promise<PeriodStatement> {
  const { message, digest } = encodePeriodStatement(unsigned);
  const s = signer as Signer & {
    address?: string;
    signingKey?: { sign(d: string): { serialized: string } };
  };
  let signature: string;
  let address: string;
  if (typeof s.address === "string" && typeof s.signingKey?.sign === "function") {
    signature = s.signingKey.sign(digest).serialized;
    address = s.address;
  } else {
    address = await signer.getAddress();
    signature = Signature.from(
      await signer.signTypedData(
        meterRecordDomain(unsigned),
        PERIOD_STATEMENT_TYPES as Record<string, TypedDataField[]>,
        message as unknown as Record<string, unknown>,
      ),
    ).serialized;
    const ok = checker.check(digest, signature, address);
    if (ok !== true) {
      throw new MaaskitError(
        "metering.record.badSignature",
        "The signer returned a signature that does not verify",
        {
          details: { signer: address, failure: ok },
        },
      );
    }
  }
  return { ...unsigned, signer: getAddress(address), signature };
}

/** Options of {@link verifyPeriodStatement}. */
export interface VerifyPeriodStatementParameters
  extends Pick<VerifyMeterRecordsParameters, "signer" | "signers" | "agreement"> {
  /** The records the statement summarises: each is verified and every field recomputed. */
  readonly records?: readonly MeterRecord[];
}

/** What {@link verifyPeriodStatement} returns. */
export interface VerifyPeriodStatementReturnType {
  readonly valid: boolean;
  readonly reasons: readonly MeterRecordErrorCode[];
  readonly errors: readonly MaaskitError<MeterRecordErrorCode>[];
  readonly digest?: string;
  /** The record verification, when records were given. */
  readonly records?: VerifyMeterRecordsReturnType;
}

/**
 * Verifies a statement's signature, signer and agreement; with `records`, also verifies
 * the records (chained from `startHash` at `firstSeq`) and recomputes every field of the
 * statement from them (`metering.statement.mismatch` names the fields that differ).
 *
 * @example
 * ```ts
 * const { valid, reasons } = verifyPeriodStatement(statement, { signer, records });
 * ```
 */
export function verifyPeriodStatement(
  statement: PeriodStatement,
  params: VerifyPeriodStatementParameters = {},
): VerifyPeriodStatementReturnType {
  const reasons: MeterRecordErrorCode[] = [];
  const errors: MaaskitError<MeterRecordErrorCode>[] = [];
  const fail = (
    code: MeterRecordErrorCode,
    message: string,
    details: Record<string, unknown> = {},
  ) => {
    if (!reasons.includes(code)) reasons.push(code);
    errors.push(
      new MaaskitError(
        code,
        `statement ${statement?.firstSeq}..${statement?.lastSeq}: ${message}`,
        { details },
      ),
    );
  };
  let encoded: ReturnType<typeof encodePeriodStatement>;
  try {
    encoded = encodePeriodStatement(statement);
    if (typeof statement.signer !== "string" || getAddress(statement.signer) !== statement.signer) {
      throw new MaaskitError("metering.record.malformed", "signer must be an EIP-55 address");
    }
  } catch (err) {
    const e = err instanceof MaaskitError ? err : undefined;
    fail("metering.record.malformed", e?.shortMessage ?? String(err), e?.details ?? {});
    return { valid: false, reasons, errors };
  }
  if (params.agreement !== undefined && !sameBinding(params.agreement, statement)) {
    fail("metering.record.wrongAgreement", "bound to another agreement, chain or contract");
  }
  const sig = checker.check(encoded.digest, statement.signature, statement.signer);
  if (sig !== true)
    fail("metering.record.badSignature", `signature check failed (${sig})`, { failure: sig });
  const allowed = [
    ...(params.signer === undefined ? [] : [params.signer]),
    ...(params.signers ?? []),
  ].map((a) => a.toLowerCase());
  if (allowed.length > 0 && !allowed.includes(statement.signer.toLowerCase())) {
    fail("metering.record.wrongSigner", `signed by ${statement.signer}, not an allowed key`);
  }
  let recordsResult: VerifyMeterRecordsReturnType | undefined;
  if (params.records !== undefined) {
    recordsResult = verifyMeterRecords(params.records, {
      ...(params.signer === undefined ? {} : { signer: params.signer }),
      ...(params.signers === undefined ? {} : { signers: params.signers }),
      agreement: params.agreement ?? statement,
      expectedStart: { seq: statement.firstSeq, prevHash: statement.startHash },
    });
    if (!recordsResult.valid) {
      fail("metering.statement.mismatch", "the records it summarises do not verify", {
        invalidSeqs: recordsResult.results.filter((r) => !r.valid).map((r) => r.seq),
      });
    } else {
      try {
        const expected = encodePeriodStatement(buildPeriodStatement(params.records)).message;
        const fields = (Object.keys(expected) as (keyof PeriodStatementMessage)[]).filter(
          (k) => expected[k] !== encoded.message[k],
        );
        if (fields.length > 0) {
          fail(
            "metering.statement.mismatch",
            `fields differ from the records: ${fields.join(", ")}`,
            { fields },
          );
        }
      } catch (err) {
        fail(
          "metering.statement.mismatch",
          err instanceof MaaskitError ? err.shortMessage : String(err),
        );
      }
    }
  }
  return {
    valid: reasons.length === 0,
    reasons,
    errors,
    digest: encoded.digest,
    ...(recordsResult === undefined ? {} : { records: recordsResult }),
  };
}

/**
 * JSON form of a signed statement.
 *
 * @example JSON.stringify(periodStatementToJson(statement))
 */
export function periodStatementToJson(st: PeriodStatement): PeriodStatementJson {
  const out = {
    kind: "periodStatement",
    version: st.version,
    agreementId: st.agreementId,
    chainId: st.chainId,
    verifyingContract: st.verifyingContract,
    machineId: st.machineId,
    channel: st.channel,
    periodStart: st.periodStart.toISOString(),
    periodEnd: st.periodEnd.toISOString(),
    firstSeq: st.firstSeq,
    lastSeq: st.lastSeq,
    startHash: st.startHash,
    headHash: st.headHash,
    total: quantityToJson(st.total),
  } as PeriodStatementJson;
  if (st.register !== undefined)
    out.register = { start: st.register.start.toFixed(), end: st.register.end.toFixed() };
  out.flags = flagsToJson(st.flags);
  out.plannedBusyTimeMs = st.plannedBusyTimeMs;
  out.actualProductionTimeMs = st.actualProductionTimeMs;
  out.gapRecords = st.gapRecords;
  out.quarantined = st.quarantined;
  if (st.extras !== undefined) out.extras = extrasToJson(st.extras);
  out.signer = st.signer;
  out.signature = st.signature;
  return out;
}

/** The members of a statement's JSON form, in canonical order; any other member is malformed. */
export const PERIOD_STATEMENT_JSON_KEYS = [
  "kind",
  "version",
  "agreementId",
  "chainId",
  "verifyingContract",
  "machineId",
  "channel",
  "periodStart",
  "periodEnd",
  "firstSeq",
  "lastSeq",
  "startHash",
  "headHash",
  "total",
  "register",
  "flags",
  "plannedBusyTimeMs",
  "actualProductionTimeMs",
  "gapRecords",
  "quarantined",
  "extras",
  "signer",
  "signature",
] as const;

/**
 * Parses the JSON form of a statement (`metering.record.malformed` lists every problem).
 * Strict as `meterRecordFromJson`: unknown members and non-canonical decimals are malformed.
 *
 * @example const statement = periodStatementFromJson(JSON.parse(line));
 */
export function periodStatementFromJson(json: unknown): PeriodStatement {
  const p = new Problems();
  const o = p.object(json, "statement");
  if (o === undefined) throw p.error();
  p.unknownKeys(o, "statement", PERIOD_STATEMENT_JSON_KEYS);
  if (o.kind !== "periodStatement") p.add("kind", "must be periodStatement");
  const version = p.int(o.version, "version");
  if (version !== undefined && version !== METER_RECORD_VERSION)
    p.add("version", `unsupported version ${version}`);
  const register = o.register === undefined ? undefined : p.register(o.register, "register");
  let extras: MeterExtras | undefined;
  if (o.extras !== undefined) {
    try {
      extras = extrasFromJson(o.extras);
    } catch (err) {
      for (const x of ((err as MaaskitError).details?.problems as {
        field: string;
        problem: string;
      }[]) ?? []) {
        p.add(x.field, x.problem);
      }
    }
  }
  const st = {
    version: METER_RECORD_VERSION,
    agreementId: p.string(o.agreementId, "agreementId"),
    chainId: p.int(o.chainId, "chainId"),
    verifyingContract: p.string(o.verifyingContract, "verifyingContract"),
    machineId: p.string(o.machineId, "machineId"),
    channel: p.string(o.channel, "channel"),
    periodStart: p.date(o.periodStart, "periodStart"),
    periodEnd: p.date(o.periodEnd, "periodEnd"),
    firstSeq: p.int(o.firstSeq, "firstSeq"),
    lastSeq: p.int(o.lastSeq, "lastSeq"),
    startHash: p.string(o.startHash, "startHash"),
    headHash: p.string(o.headHash, "headHash"),
    total: p.quantity(o.total, "total"),
    ...(register === undefined ? {} : { register }),
    flags: p.flags(o.flags, "flags"),
    plannedBusyTimeMs: p.int(o.plannedBusyTimeMs, "plannedBusyTimeMs"),
    actualProductionTimeMs: p.int(o.actualProductionTimeMs, "actualProductionTimeMs"),
    gapRecords: p.int(o.gapRecords, "gapRecords"),
    quarantined: p.int(o.quarantined, "quarantined"),
    ...(extras === undefined ? {} : { extras }),
    signer: p.string(o.signer, "signer"),
    signature: p.string(o.signature, "signature"),
  };
  if (p.list.length > 0) throw p.error();
  return st as PeriodStatement;
}
