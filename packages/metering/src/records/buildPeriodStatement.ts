import { MaaskitError } from "../errors.js";
import { type Quantity, toDecimal } from "../quantity.js";
import { meterRecordDigest } from "./encodeMeterRecord.js";
import {
  type ExtraQuantity,
  METER_RECORD_VERSION,
  type MeterExtras,
  type MeterRecord,
  RECORD_FLAG_BITS,
  RECORD_FLAG_NAMES,
  type RecordFlags,
} from "./meterRecord.js";
import type { UnsignedPeriodStatement } from "./periodStatement.js";
import { sameBinding } from "./signMeterRecord.js";

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
