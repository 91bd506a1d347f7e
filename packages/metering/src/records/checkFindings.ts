import { MaaskitError } from "../errors.js";
import type { MeterRecordErrorCode } from "./meterRecordErrors.js";

/** The reasons and errors one check collects, and the `fail` that adds to them. @internal */
export interface CheckFindings {
  readonly reasons: MeterRecordErrorCode[];
  readonly errors: MaaskitError<MeterRecordErrorCode>[];
  fail(code: MeterRecordErrorCode, message: string, details?: Record<string, unknown>): void;
}

/**
 * Starts collecting one check's findings: each reason once, every error with its message
 * prefixed by `subject` (e.g. `seq 7` or `statement 1..96`) and `base` merged into its details.
 * @internal
 */
export function checkFindings(subject: string, base: Record<string, unknown> = {}): CheckFindings {
  const reasons: MeterRecordErrorCode[] = [];
  const errors: MaaskitError<MeterRecordErrorCode>[] = [];
  return {
    reasons,
    errors,
    fail(code, message, details = {}) {
      if (!reasons.includes(code)) reasons.push(code);
      errors.push(
        new MaaskitError(code, `${subject}: ${message}`, { details: { ...base, ...details } }),
      );
    },
  };
}
