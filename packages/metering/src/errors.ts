/**
 * The one error base class of maaskit. Every error thrown or emitted by a maaskit package
 * is a `MaaskitError` (or a subclass) with a dotted, machine-readable `code`
 * (`metering.reading.invalid`, `settlement.ledger.unavailable`), structured `details`
 * and an optional `cause`.
 *
 * @example
 * ```ts
 * try { parseQuantity("abc", "MTQ") } catch (e) {
 *   if (e instanceof MaaskitError && e.code === "metering.quantity.invalid") …
 * }
 * ```
 */
export class MaaskitError<
  TCode extends string = string,
  TDetails extends Record<string, unknown> = Record<string, unknown>,
> extends Error {
  override name = "MaaskitError";
  /** Dotted machine-readable code: `<package>.<domain>.<what>`. */
  readonly code: TCode;
  /** The message without details, for logs and UIs. */
  readonly shortMessage: string;
  /** Structured facts about what was wrong (JSON-serialisable where possible). */
  readonly details: TDetails;

  constructor(
    code: TCode,
    shortMessage: string,
    options: { details?: TDetails; cause?: unknown } = {},
  ) {
    const details = options.details ?? ({} as TDetails);
    super(
      `${shortMessage}${Object.keys(details).length > 0 ? `\n\nDetails: ${safeJson(details)}` : ""}\nCode: ${code}`,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.code = code;
    this.shortMessage = shortMessage;
    this.details = details;
  }

  /** Walks the `cause` chain; returns the deepest cause, or the first matching `fn`. */
  walk(fn?: (err: unknown) => boolean): unknown {
    let err: unknown = this;
    while (err) {
      if (fn?.(err)) return err;
      const next = (err as { cause?: unknown }).cause;
      if (next === undefined || next === null) return fn ? null : err;
      err = next;
    }
    return fn ? null : err;
  }

  toJSON(): { name: string; code: TCode; message: string; details: TDetails } {
    return { name: this.name, code: this.code, message: this.shortMessage, details: this.details };
  }
}

/** True when `err` is a MaaskitError, optionally with the given code (or code prefix ending in "."). */
export function isMaaskitError(err: unknown, code?: string): err is MaaskitError {
  if (!(err instanceof MaaskitError)) return false;
  if (code === undefined) return true;
  return code.endsWith(".") ? err.code.startsWith(code) : err.code === code;
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? v.toString() : v));
  } catch {
    return String(value);
  }
}
