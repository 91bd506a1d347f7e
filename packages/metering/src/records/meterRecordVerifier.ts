import type { Decimal } from "decimal.js";
import { MaaskitError } from "../errors.js";
import { type Quantity, toDecimal } from "../quantity.js";
import type { UnitCode } from "../units.js";
import { checkFindings } from "./checkFindings.js";
import { encodeMeterRecord } from "./encodeMeterRecord.js";
import {
  GENESIS_HASH,
  type MeterRecord,
  type MeterRecordBinding,
  type RecordFlags,
  type RegisterSpan,
} from "./meterRecord.js";
import type { MeterRecordChainState } from "./meterRecordChain.js";
import type { MeterRecordErrorCode } from "./meterRecordErrors.js";
import { isChecksummedAddress } from "./meterRecordTypedData.js";
import { isPreVerifiedRecord, type PreVerifiedRecord } from "./preVerifyMeterRecord.js";
import { SeqRanges } from "./seqRanges.js";
import { SignatureChecker } from "./signatureCheck.js";
import { sameBinding } from "./signMeterRecord.js";

/** Options of {@link createMeterRecordVerifier} and `verifyMeterRecords`. */
export interface VerifyMeterRecordsParameters {
  /** The one key allowed to sign (address). */
  readonly signer?: string;
  /** Keys allowed to sign (addresses); combined with `signer`. Without both, any valid signature is accepted. */
  readonly signers?: readonly string[];
  /** The agreement the records must be bound to; default: the first record's binding. */
  readonly agreement?: MeterRecordBinding;
  /**
   * Where the chain must continue from (next seq, head digest, period end, register end).
   * Without it, a first record with `seq = 0` must carry the genesis `prevHash`, and a run
   * that starts later is accepted as an anchor.
   */
  readonly expectedStart?: MeterRecordChainState;
  /**
   * The most the machine can deliver of the billed quantity (e.g. from the agreement): a
   * record whose quantity exceeds `value × (periodEnd − periodStart) / per` is rejected
   * (`metering.record.exceedsCapacity`), whatever its flags say. With `unit`, a record in
   * another unit is rejected too (the bound cannot be checked).
   */
  readonly capacity?: MeterRecordCapacity;
}

/** A capacity bound on the billed quantity: `value` of `unit` per `per`. */
export interface MeterRecordCapacity {
  readonly value: Decimal.Value;
  readonly per: "s" | "min" | "h";
  readonly unit?: UnitCode;
}

const CAPACITY_PER_MS = { s: 1000, min: 60_000, h: 3_600_000 } as const;

/** The verdict on one record. */
export interface MeterRecordCheck {
  /** Position in the input. */
  readonly index: number;
  /** The record's seq, when it had a readable one. */
  readonly seq: number | undefined;
  readonly valid: boolean;
  /** Every reason the record is rejected, in check order (empty when valid). */
  readonly reasons: readonly MeterRecordErrorCode[];
  /** One error per reason, naming the seq. */
  readonly errors: readonly MaaskitError<MeterRecordErrorCode>[];
  /** The record's EIP-712 digest, when it could be encoded. */
  readonly digest?: string;
}

/** An incremental verifier: feed records in chain order, one at a time. */
export interface MeterRecordVerifier {
  /**
   * Checks the next record against the signature rules and the chain so far. `pre`: what
   * `preVerifyMeterRecord` found for this very record (decoded from the same JSON text):
   * its digest and signature verdict are then taken from it instead of recomputed.
   */
  check(record: MeterRecord, pre?: PreVerifiedRecord): MeterRecordCheck;
  /** The chain state after the last checked record (what the next must continue). */
  readonly state: MeterRecordChainState | undefined;
}

interface State {
  nextSeq: number;
  head: string;
  periodEnd?: Date;
  registerEnd?: Decimal;
}

/**
 * Creates an incremental record verifier — the rules a ledger applies when records arrive
 * one by one (the embedded ledger, a customer's audit). After each record, expectations
 * move to that record, so a deletion or insertion is reported once where it happened.
 *
 * @example
 * ```ts
 * const verifier = createMeterRecordVerifier({ signer: "0x…", agreement });
 * for (const r of records) if (!verifier.check(r).valid) …
 * ```
 */
export function createMeterRecordVerifier(
  params: VerifyMeterRecordsParameters = {},
): MeterRecordVerifier {
  const allowed = new Set<string>(
    [...(params.signer === undefined ? [] : [params.signer]), ...(params.signers ?? [])].map((a) =>
      a.toLowerCase(),
    ),
  );
  const checker = new SignatureChecker();
  const capacity = readCapacity(params.capacity);
  let binding: MeterRecordBinding | undefined = params.agreement;
  // Ranges, not a set: a gapless chain of any length is one range (bounded memory).
  const seen = new SeqRanges();
  let state: State | undefined =
    params.expectedStart === undefined
      ? undefined
      : {
          nextSeq: params.expectedStart.seq,
          head: params.expectedStart.prevHash,
          ...(params.expectedStart.periodEnd === undefined
            ? {}
            : { periodEnd: params.expectedStart.periodEnd }),
          ...(params.expectedStart.registerEnd === undefined
            ? {}
            : { registerEnd: params.expectedStart.registerEnd }),
        };
  let index = 0;

  function check(record: MeterRecord, pre?: PreVerifiedRecord): MeterRecordCheck {
    const at = index++;
    const seq = typeof record?.seq === "number" ? record.seq : undefined;
    const { reasons, errors, fail } = checkFindings(`seq ${seq ?? "?"}`, { seq });

    const known = isPreVerifiedRecord(pre) ? pre : undefined;
    let digest: string;
    try {
      // Pre-verified: encoded and its signer's checksum checked already.
      if (known !== undefined) digest = known.digest;
      else digest = encodeMeterRecord(record).digest;
      if (known === undefined && !isChecksummedAddress(record.signer)) {
        throw new MaaskitError("metering.record.malformed", "signer must be an EIP-55 address");
      }
    } catch (err) {
      const e = err instanceof MaaskitError ? err : undefined;
      fail("metering.record.malformed", e?.shortMessage ?? String(err), e?.details ?? {});
      return { index: at, seq, valid: false, reasons, errors };
    }

    // Binding: the expected agreement, or the first record's.
    if (binding === undefined) binding = record;
    else if (!sameBinding(binding, record)) {
      fail("metering.record.wrongAgreement", "bound to another agreement, chain or contract", {
        expected: {
          agreementId: binding.agreementId,
          chainId: binding.chainId,
          verifyingContract: binding.verifyingContract,
        },
        actual: {
          agreementId: record.agreementId,
          chainId: record.chainId,
          verifyingContract: record.verifyingContract,
        },
      });
    }

    const sig =
      known === undefined
        ? checker.check(digest, record.signature, record.signer)
        : (known.failure ?? true);
    if (sig !== true) {
      const why =
        sig === "highS"
          ? "signature is malleable (high s)"
          : sig === "malformed"
            ? "signature is malformed"
            : "signature does not match the record and its signer";
      fail("metering.record.badSignature", why, { failure: sig, signer: record.signer });
    }
    if (allowed.size > 0 && !allowed.has(record.signer.toLowerCase())) {
      fail("metering.record.wrongSigner", `signed by ${record.signer}, not an allowed key`, {
        signer: record.signer,
      });
    }

    // Chain position.
    const s = record.seq;
    if (state === undefined) {
      if (s === 0 && record.prevHash !== GENESIS_HASH) {
        fail("metering.record.brokenChain", "the first record must carry the genesis prevHash");
      }
    } else {
      if (s > state.nextSeq) {
        fail("metering.record.seqGap", `expected seq ${state.nextSeq}`, {
          expected: state.nextSeq,
        });
      } else if (s < state.nextSeq) {
        if (seen.has(s)) fail("metering.record.seqDuplicate", "seq was already seen");
        else
          fail("metering.record.seqOutOfOrder", `expected seq ${state.nextSeq}`, {
            expected: state.nextSeq,
          });
      }
      if (record.prevHash !== state.head) {
        fail("metering.record.brokenChain", "prevHash is not the digest of the previous record", {
          expected: state.head,
          actual: record.prevHash,
        });
      }
      if (state.periodEnd !== undefined) {
        const prev = state.periodEnd.getTime();
        const start = record.periodStart.getTime();
        if (start < prev) {
          fail("metering.record.periodOverlap", "period overlaps the previous record", {
            previousEnd: state.periodEnd.toISOString(),
          });
        } else if (start > prev) {
          fail("metering.record.periodGap", "period does not start where the previous ended", {
            previousEnd: state.periodEnd.toISOString(),
          });
        }
      }
      if (
        state.registerEnd !== undefined &&
        record.register !== undefined &&
        !record.register.start.eq(state.registerEnd)
      ) {
        fail(
          "metering.record.registerDiscontinuity",
          "registerStart differs from the previous registerEnd",
          {
            previousEnd: state.registerEnd.toFixed(),
            start: record.register.start.toFixed(),
          },
        );
      }
    }

    if (capacity !== undefined) {
      const q = record.quantity;
      const ms = record.periodEnd.getTime() - record.periodStart.getTime();
      if (capacity.unit !== undefined && q.unit !== capacity.unit) {
        fail(
          "metering.record.exceedsCapacity",
          `quantity is in ${q.unit}, the capacity in ${capacity.unit}: the bound cannot be checked`,
          { unit: q.unit, capacityUnit: capacity.unit },
        );
      } else if (q.value.times(capacity.perMs).gt(capacity.value.times(ms))) {
        const most = capacity.value.times(ms).div(capacity.perMs);
        fail(
          "metering.record.exceedsCapacity",
          `quantity ${q.value.toFixed()} exceeds the capacity: at most ${most.toFixed()} in ${ms / 1000} s`,
          { quantity: q.value.toFixed(), most: most.toFixed() },
        );
      }
    }

    const mismatch = registerMismatch(record.quantity, record.register, record.flags);
    if (mismatch !== undefined) fail("metering.record.registerMismatch", mismatch);
    for (const q of record.extras?.quantities ?? []) {
      const m = registerMismatch(q.quantity, q.register, q.flags);
      if (m !== undefined)
        fail("metering.record.registerMismatch", `extra channel ${q.channel}: ${m}`);
    }

    seen.add(s);
    state = {
      nextSeq: s + 1,
      head: digest,
      periodEnd: record.periodEnd,
      ...(record.register === undefined ? {} : { registerEnd: record.register.end }),
    };
    return { index: at, seq, valid: reasons.length === 0, reasons, errors, digest };
  }

  return {
    check,
    get state() {
      return state === undefined
        ? undefined
        : {
            seq: state.nextSeq,
            prevHash: state.head,
            ...(state.periodEnd === undefined ? {} : { periodEnd: state.periodEnd }),
            ...(state.registerEnd === undefined ? {} : { registerEnd: state.registerEnd }),
          };
    },
  };
}

/** Why a register span contradicts its quantity (docs/meter-record.md §2.3), if it does. */
function registerMismatch(
  q: Quantity,
  register: RegisterSpan | undefined,
  flags: RecordFlags,
): string | undefined {
  if (register === undefined) return undefined;
  // A new register started at an unknown value, or an ambiguous change billed only in
  // part: the registers do not determine the quantity (the capacity still bounds it).
  if (flags.replaced === true || flags.ambiguous === true) return undefined;
  if (flags.rollover === true || flags.reset === true) {
    return q.value.gte(register.end)
      ? undefined
      : `quantity ${q.value.toFixed()} is less than the register since the rollover/reset (${register.end.toFixed()})`;
  }
  const delta = register.end.minus(register.start);
  return delta.eq(q.value)
    ? undefined
    : `register delta ${delta.toFixed()} differs from the quantity ${q.value.toFixed()}`;
}

function readCapacity(
  c: MeterRecordCapacity | undefined,
): { value: Decimal; perMs: number; unit: UnitCode | undefined } | undefined {
  if (c === undefined) return undefined;
  const perMs = (CAPACITY_PER_MS as Record<string, number | undefined>)[c.per];
  let value: Decimal | undefined;
  try {
    value = toDecimal(c.value, "capacity.value");
  } catch {
    value = undefined;
  }
  if (
    perMs === undefined ||
    !Object.hasOwn(CAPACITY_PER_MS, c.per) ||
    value === undefined ||
    !value.gt(0)
  ) {
    throw new MaaskitError(
      "metering.record.invalidInput",
      "capacity must be { value > 0, per: s | min | h, unit? }",
      { details: { capacity: c } },
    );
  }
  return { value, perMs, unit: c.unit };
}
