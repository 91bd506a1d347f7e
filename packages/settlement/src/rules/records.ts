import {
  createMeterRecordVerifier,
  encodeMeterRecord,
  type MeterRecord,
  type MeterRecordErrorCode,
  meterRecordFromJson,
  type PreVerifiedRecord,
  type PreVerifiedRecords,
} from "@maaskit/metering";
import { billingPeriodAt } from "../billingPeriodAt.js";
import type { SubmitRecordsResult, SubmittedRecord } from "../ledger.js";
import { type LedgerErrorCode, ledgerError } from "../ledgerErrors.js";
import type { LedgerEvent } from "../ledgerEvents.js";
import { activeAgreement, signerAllowed } from "./agreements.js";
import { featureUses } from "./entitlements.js";
import type { Outcome, RulesState } from "./state.js";
export function submitRecords(
  core: RulesState,
  agreementId: string,
  raw: readonly unknown[],
  stamp: string,
  trusted: boolean,
  /** Digests and signature verdicts made before the lock (worker threads), by record JSON text. */
  preVerified?: PreVerifiedRecords,
): Outcome {
  const e = activeAgreement(core, agreementId);
  const v = e.view;
  if (raw.length === 0) {
    throw ledgerError("settlement.record.invalid", "An empty batch of records", { agreementId });
  }
  let period = e.period;
  // Expectations move through the batch as if each record were applied; nothing is
  // written to `e` until every record passed.
  let nextSeq = e.nextSeq;
  let headHash = e.headHash;
  let periodEnd = e.periodEnd;
  const verifier = trusted
    ? undefined
    : createMeterRecordVerifier({
        agreement: { agreementId, ...core.domain },
        // The machine's capacity bounds every record's quantity (docs/meter-record.md §2.4).
        ...(e.agreement.capacity === undefined
          ? {}
          : {
              capacity: {
                value: e.agreement.capacity.value,
                per: e.agreement.capacity.per,
                unit: v.tariff.metered.unit,
              },
            }),
        expectedStart: {
          seq: e.nextSeq,
          prevHash: e.headHash,
          ...(e.periodEnd === null ? {} : { periodEnd: e.periodEnd }),
        },
      });
  const uses = featureUses(core, e);
  const results: SubmittedRecord[] = [];
  const accepted: { record: MeterRecord; digest: string }[] = [];
  for (const item of raw) {
    let record: MeterRecord;
    // A pre-verified record is decoded from the very text its verdict was made for.
    const pre = preVerifiedOf(preVerified, item);
    try {
      record = meterRecordFromJson(pre === undefined ? item : JSON.parse(pre.text));
    } catch (err) {
      throw ledgerError("settlement.record.invalid", "The record is malformed", {
        agreementId,
        problems: (err as { details?: { problems?: unknown } }).details?.problems ?? String(err),
      });
    }
    const seq = record.seq;
    const fail = (code: LedgerErrorCode, message: string, details: Record<string, unknown> = {}) =>
      ledgerError(code, `seq ${seq}: ${message}`, { agreementId, seq, ...details });
    if (
      record.agreementId !== agreementId ||
      record.chainId !== core.domain.chainId ||
      record.verifyingContract.toLowerCase() !== core.domain.verifyingContract.toLowerCase()
    ) {
      throw fail("settlement.record.wrongAgreement", "the record is bound to another agreement", {
        recordAgreementId: record.agreementId,
        chainId: record.chainId,
        verifyingContract: record.verifyingContract,
      });
    }
    if (record.machineId !== v.machineId) {
      throw fail("settlement.record.wrongAgreement", "the record is of another machine", {
        machineId: record.machineId,
        expected: v.machineId,
      });
    }
    // The verifier encodes the record once (its digest); outside the verifier (replay of
    // the ledger's own log, or a seq already taken) encode it here.
    const check =
      verifier !== undefined && seq === nextSeq ? verifier.check(record, pre?.found) : undefined;
    let digest: string;
    try {
      digest = check?.digest ?? pre?.found.digest ?? encodeMeterRecord(record).digest;
    } catch (err) {
      throw fail("settlement.record.invalid", "the record cannot be encoded", {
        cause: (err as Error).message,
      });
    }
    if (seq < nextSeq) {
      const prior = e.records.get(seq) ?? accepted.find((a) => a.record.seq === seq);
      if (prior !== undefined) {
        if (prior.digest === digest && prior.record.signature === record.signature) {
          results.push({ seq, status: "duplicate", recordHash: digest });
          continue;
        }
        throw fail("settlement.record.conflict", "a different record with this seq was accepted", {
          acceptedHash: prior.digest,
          recordHash: digest,
        });
      }
      // Settled by a statement: the ledger keeps only the range's head hash.
      results.push({ seq, status: "duplicate", recordHash: digest });
      continue;
    }
    if (seq > nextSeq) {
      throw fail("settlement.record.seqGap", `expected seq ${nextSeq}`, { expectedSeq: nextSeq });
    }
    if (
      record.quantity.unit !== v.tariff.metered.unit ||
      record.quantity.basis !== v.tariff.metered.basis
    ) {
      throw fail("settlement.record.invalid", "the billed quantity is not in the tariff's unit", {
        unit: record.quantity.unit,
        basis: record.quantity.basis ?? null,
      });
    }
    if (check !== undefined) {
      const has = (c: MeterRecordErrorCode) => check.reasons.includes(c);
      if (has("metering.record.malformed")) {
        throw fail("settlement.record.invalid", "the record is malformed", {
          reasons: check.reasons,
        });
      }
      if (has("metering.record.badSignature")) {
        throw fail("settlement.record.badSignature", "the signature does not match the record", {
          signer: record.signer,
        });
      }
      if (has("metering.record.exceedsCapacity")) {
        throw fail("settlement.record.invalid", "the quantity exceeds the agreement's capacity", {
          reasons: check.reasons,
          quantity: record.quantity.value.toFixed(),
        });
      }
    }
    if (!signerAllowed(e, record.signer, record.periodEnd, seq)) {
      throw fail(
        "settlement.record.unknownSigner",
        "the signer is not allowed (time or revocation)",
        {
          signer: record.signer,
          at: record.periodEnd.toISOString(),
        },
      );
    }
    if (record.prevHash !== headHash) {
      throw fail("settlement.record.brokenChain", "prevHash is not the head of the chain", {
        expected: headHash,
        actual: record.prevHash,
      });
    }
    if (periodEnd !== null) {
      const start = record.periodStart.getTime();
      if (start < periodEnd.getTime()) {
        throw fail("settlement.record.periodOverlap", "the period overlaps the previous one", {
          previousEnd: periodEnd.toISOString(),
        });
      }
      if (start > periodEnd.getTime()) {
        throw fail(
          "settlement.record.periodGap",
          "the period leaves a gap after the previous one",
          {
            previousEnd: periodEnd.toISOString(),
          },
        );
      }
    }
    if (
      record.periodStart.getTime() < v.start.getTime() ||
      (v.end !== null && record.periodEnd.getTime() > v.end.getTime())
    ) {
      throw fail("settlement.record.outsideTerm", "the period lies outside the agreement's term", {
        start: v.start.toISOString(),
        end: v.end?.toISOString() ?? null,
      });
    }
    const rs = record.periodStart.getTime();
    if (period === null || rs < period.start || rs >= period.end) {
      const p = billingPeriodAt(e.agreement, record.periodStart);
      period = { start: p.start.getTime(), end: p.end.getTime() };
    }
    if (record.periodEnd.getTime() > period.end) {
      throw fail(
        "settlement.record.straddlesPeriod",
        "the record straddles the end of its billing period",
        { periodEnd: new Date(period.end).toISOString() },
      );
    }
    uses.check(record, fail);
    accepted.push({ record, digest });
    results.push({ seq, status: "accepted", recordHash: digest });
    nextSeq = seq + 1;
    headHash = digest;
    periodEnd = record.periodEnd;
  }
  uses.commit();
  const events: LedgerEvent[] = [];
  for (const a of accepted) {
    e.records.set(a.record.seq, a);
    events.push({
      type: "RecordAccepted",
      at: stamp,
      agreementId,
      seq: a.record.seq,
      recordHash: a.digest,
      periodStart: a.record.periodStart.toISOString(),
      periodEnd: a.record.periodEnd.toISOString(),
    });
  }
  e.nextSeq = nextSeq;
  e.headHash = headHash;
  e.periodEnd = periodEnd;
  e.period = period;
  const result: SubmitRecordsResult = {
    agreementId,
    results,
    accepted: accepted.length,
    duplicates: results.length - accepted.length,
  };
  return { result, events, changed: accepted.length > 0 };
}

/** The pre-verified verdict of `item`'s exact JSON text, with that text. */
function preVerifiedOf(
  preVerified: PreVerifiedRecords | undefined,
  item: unknown,
): { text: string; found: PreVerifiedRecord } | undefined {
  if (preVerified === undefined || preVerified.size === 0) return undefined;
  let text: string | undefined;
  try {
    text = JSON.stringify(item);
  } catch {
    return undefined;
  }
  const found = text === undefined ? undefined : preVerified.get(text);
  return found === undefined ? undefined : { text: text!, found };
}
