import type { MaaskitError } from "./errors.js";
import {
  type ExportLine,
  invalidLine,
  type LineVerdict,
  RECORD_KIND,
  type VerifyContext,
} from "./exportReport.js";
import { RecordRun } from "./recordRun.js";
import type { PeriodStatement } from "./records/periodStatement.js";
import { periodStatementFromJson } from "./records/periodStatementJson.js";
import { verifyPeriodStatement } from "./records/verifyPeriodStatement.js";

/**
 * Verifies period statement lines against the records of the same file: a statement
 * whose records are not all in the file is invalid (`metering.statement.recordsMissing`) —
 * its signature alone proves only that its signer said so.
 */
export function verifyStatementLines(
  lines: readonly ExportLine[],
  ctx: VerifyContext,
): LineVerdict[] {
  const run = (ctx as VerifyContext & { run?: RecordRun }).run;
  let fallback: RecordRun | undefined;
  const records = (): RecordRun => {
    if (run !== undefined) return run;
    if (fallback === undefined) {
      fallback = new RecordRun({
        signers: ctx.signers,
        ...(ctx.agreement === undefined ? {} : { agreement: ctx.agreement }),
        retain: true,
        allowMultiple: true,
      });
      for (const l of ctx.all) {
        if ((l.json.kind ?? RECORD_KIND) === RECORD_KIND) fallback.check(l.line, l.json);
      }
    }
    return fallback;
  };
  return lines.map((l) => {
    let statement: PeriodStatement;
    try {
      statement = periodStatementFromJson(l.json);
    } catch (err) {
      const e = err as MaaskitError;
      return invalidLine(l.line, "periodStatement", e.code, e.shortMessage);
    }
    const label = `statement ${statement.firstSeq}..${statement.lastSeq}`;
    const { records: covered, missing } = records().covered(statement);
    const result = verifyPeriodStatement(statement, {
      signers: ctx.signers,
      ...(ctx.agreement === undefined ? {} : { agreement: ctx.agreement }),
      ...(missing === 0 ? { records: covered } : {}),
    });
    const reasons: string[] = [...result.reasons];
    const messages = result.errors.map((e) => `${e.code}: ${e.shortMessage}`);
    const first = records().otherAgreementThan(statement);
    if (first !== undefined) {
      const code = "metering.cli.multipleAgreements";
      reasons.push(code);
      messages.push(
        `${code}: statement of agreement ${statement.agreementId}, the file's first record is of ${first.agreementId}: pass --agreement, or --allow-multiple`,
      );
    }
    if (missing > 0) {
      const code = "metering.statement.recordsMissing";
      reasons.push(code);
      messages.push(
        `${code}: ${missing} of the ${statement.lastSeq - statement.firstSeq + 1} records it covers are not in the file; a statement is checked against its records (or use it as --statement beside them)`,
      );
    }
    return {
      line: l.line,
      kind: "periodStatement",
      label,
      valid: reasons.length === 0,
      reasons,
      messages,
      signer: statement.signer,
      agreementId: statement.agreementId,
    };
  });
}
