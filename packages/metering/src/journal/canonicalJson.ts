import { writeCanonicalJson } from "../canonicalJson.js";

/** A JSON value as the journal stores it. */
export type JsonValue =
  | string
  | number
  | boolean
  | null
  | readonly JsonValue[]
  | { readonly [key: string]: JsonValue | undefined };

/**
 * The journal's canonical JSON: RFC 8785 (the shared `writeCanonicalJson`) over plain JSON
 * only — a class instance (Date, Decimal) is refused rather than converted, and unpaired
 * surrogates are escaped as `JSON.stringify` does, so stored entries keep their bytes. The
 * journal compares these bytes to decide whether a re-appended record is identical.
 * Errors are `metering.journal.invalidConfig` naming the path.
 * @internal
 */
export function canonicalJson(value: unknown): string {
  return writeCanonicalJson(value, {
    toJSON: false,
    loneSurrogates: "escape",
    errorCode: "metering.journal.invalidConfig",
    what: "Journal entries",
  });
}
