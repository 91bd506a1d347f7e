import type { MaaskitError } from "../errors.js";
import { quantityToJson } from "../quantity.js";
import {
  BINDING_JSON_KEYS,
  extrasFromJson,
  extrasToJson,
  flagsToJson,
  type MeterExtras,
} from "./meterRecord.js";
import type { PeriodStatement, PeriodStatementJson } from "./periodStatement.js";
import { Problems } from "./recordProblems.js";

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
  ...BINDING_JSON_KEYS,
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
  const binding = p.binding(o);
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
    ...binding,
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
