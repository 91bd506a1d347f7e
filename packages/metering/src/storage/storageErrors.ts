import { MaaskitError } from "../errors.js";

/** Every code the storage layer raises. */
export type StorageErrorCode =
  | "metering.storage.invalidConfig"
  | "metering.storage.locked"
  | "metering.storage.corrupt"
  | "metering.storage.unavailable"
  | "metering.storage.closed";

/** A storage error: a `MaaskitError` whose code is one of {@link StorageErrorCode}. */
export type StorageError = MaaskitError<StorageErrorCode>;

/** @internal */
export function storageError(
  code: StorageErrorCode,
  message: string,
  details: Record<string, unknown> = {},
  cause?: unknown,
): StorageError {
  return new MaaskitError(code, message, cause === undefined ? { details } : { details, cause });
}
