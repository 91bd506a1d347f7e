import { MaaskitError } from "../errors.js";

/** Every code the journal and its delivery loop raise. */
export type JournalErrorCode =
  | "metering.journal.invalidConfig"
  | "metering.journal.corrupt"
  | "metering.journal.locked"
  | "metering.journal.outOfOrder"
  | "metering.journal.chainBroken"
  | "metering.journal.conflict"
  | "metering.journal.invalidAck"
  | "metering.journal.writeFailed"
  | "metering.journal.closed";

/** A journal error: a `MaaskitError` whose code is one of {@link JournalErrorCode}. */
export type JournalError = MaaskitError<JournalErrorCode>;

/** @internal */
export function journalError(
  code: JournalErrorCode,
  message: string,
  details: Record<string, unknown> = {},
  cause?: unknown,
): JournalError {
  return new MaaskitError(code, message, cause === undefined ? { details } : { details, cause });
}
