import { keccak256 } from "ethers/crypto";
import { concat } from "ethers/utils";
import { domainSeparatorOf, getEncoder, hashExtrasMessage } from "./encodeMeterRecord.js";
import { EncodingProblems } from "./encodingProblems.js";
import { GENESIS_HASH, METER_RECORD_VERSION } from "./meterRecord.js";
import {
  checkAddress,
  extrasMessage,
  hashUtf8,
  type MeterExtrasMessage,
  type TypedDataJson,
  typedDataJson,
} from "./meterRecordTypedData.js";
import {
  PERIOD_STATEMENT_TYPES,
  type PeriodStatementMessage,
  type UnsignedPeriodStatement,
} from "./periodStatement.js";

let encoder: ReturnType<typeof getEncoder> | undefined;

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
