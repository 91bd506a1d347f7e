import {
  type LineVerdict,
  lineKinds,
  type MeterRecord,
  type MeterRecordBinding,
  meterRecordFromJson,
  verifyExport,
} from "@maaskit/metering";
import type { Agreement } from "./agreement.js";
import { isSignerAllowed } from "./isSignerAllowed.js";

/** What {@link verifyAgreementRecords} found. */
export interface AgreementRecordsVerification {
  /** True when there was at least one record and every line verified. */
  readonly valid: boolean;
  /** One verdict per non-blank line, in line order: line, seq and every reason code. */
  readonly verdicts: readonly LineVerdict[];
  /** The records of the lines that verified, in line order. */
  readonly records: readonly MeterRecord[];
}

const recordLinesOnly = new Map([["meterRecord", lineKinds.get("meterRecord")!]]);

/**
 * Verifies signed meter records (JSON Lines, record lines only) the way a ledger accepts
 * them: signature, hash chain and binding to the agreement on its ledger, and each signer
 * one of the agreement's keys *inside its validity range* at the record's `periodEnd` — a
 * rotated-out key signing on is `settlement.record.unknownSigner`, as on the ledger. With
 * `signers` the given keys are accepted instead, without validity ranges. Revocations the
 * ledger recorded are ledger state and not known here: the ledger's own check stays final.
 *
 * @param binding the agreement's record domain on its ledger (`getAgreement().recordDomain`).
 * @example
 * ```ts
 * const { recordDomain } = await ledger.getAgreement(agreement.agreementId);
 * const v = verifyAgreementRecords(jsonl, { agreement, binding: { agreementId: agreement.agreementId, ...recordDomain } });
 * if (!v.valid) console.log(v.verdicts.filter((x) => !x.valid));
 * ```
 */
export function verifyAgreementRecords(
  jsonl: string,
  options: {
    readonly agreement: Pick<Agreement, "signers">;
    readonly binding: MeterRecordBinding;
    readonly signers?: readonly string[];
  },
): AgreementRecordsVerification {
  const { agreement, signers } = options;
  const verdicts = verifyExport(jsonl, {
    signers: signers ?? agreement.signers.map((s) => s.address),
    agreement: options.binding,
    kinds: recordLinesOnly,
  });
  const lines = jsonl.split(/\r?\n/);
  const records: MeterRecord[] = [];
  const out = verdicts.map((v): LineVerdict => {
    if (!v.valid) return v;
    const record = meterRecordFromJson(JSON.parse(lines[v.line - 1]!));
    if (signers === undefined && !isSignerAllowed(agreement, record.signer, record.periodEnd)) {
      const code = "settlement.record.unknownSigner";
      return {
        ...v,
        valid: false,
        reasons: [code],
        messages: [
          `${code}: seq ${record.seq}: ${record.signer} may not sign at ${record.periodEnd.toISOString()}`,
        ],
      };
    }
    records.push(record);
    return v;
  });
  return { valid: out.length > 0 && out.every((v) => v.valid), verdicts: out, records };
}
