import { getAddress } from "ethers/address";
import { MaaskitError } from "../errors.js";
import { buildPeriodStatement } from "./buildPeriodStatement.js";
import { checkFindings } from "./checkFindings.js";
import { encodePeriodStatement } from "./encodePeriodStatement.js";
import type { MeterRecord } from "./meterRecord.js";
import type { MeterRecordErrorCode } from "./meterRecordErrors.js";
import type { VerifyMeterRecordsParameters } from "./meterRecordVerifier.js";
import type { PeriodStatement, PeriodStatementMessage } from "./periodStatement.js";
import { SignatureChecker } from "./signatureCheck.js";
import { sameBinding } from "./signMeterRecord.js";
import { type VerifyMeterRecordsReturnType, verifyMeterRecords } from "./verifyMeterRecords.js";

const checker = new SignatureChecker();

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
  const { reasons, errors, fail } = checkFindings(
    `statement ${statement?.firstSeq}..${statement?.lastSeq}`,
  );
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
