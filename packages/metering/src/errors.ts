/**
 * The brand every `MaaskitError` carries, registered globally (`Symbol.for`) so that two copies
 * of this module — the CJS and ESM builds, two bundled entry points, two installed versions —
 * recognise each other's errors.
 */
const brand: unique symbol = Symbol.for("maaskit.error") as never;

/**
 * The one error base class of maaskit. Every error thrown or emitted by a maaskit package
 * is a `MaaskitError` (or a subclass) with a dotted, machine-readable `code`
 * (`metering.reading.invalid`, `settlement.ledger.unavailable`), structured `details`
 * and an optional `cause`.
 *
 * @example
 * ```ts
 * try { quantity("abc", "MTQ") } catch (e) {
 *   if (isMaaskitError(e, "metering.quantity.invalid")) …
 * }
 * ```
 *
 * Identity survives duplicated copies of the package: `instanceof MaaskitError` and
 * `isMaaskitError` check a `Symbol.for("maaskit.error")` brand, not the prototype chain, so an
 * error thrown by one copy (say the CJS build loaded by a dependency) is recognised by another.
 * `instanceof` a *subclass* (`LedgerError`) stays an ordinary prototype check.
 */
export class MaaskitError<
  TCode extends string = string,
  TDetails extends Record<string, unknown> = Record<string, unknown>,
> extends Error {
  override name = "MaaskitError";
  /** The cross-copy brand (see the class comment); always `true`. */
  declare readonly [brand]: true;

  /**
   * `e instanceof MaaskitError` is true for any branded error, whichever copy created it;
   * for subclasses the ordinary prototype check applies.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    // `this` is the class on the right of `instanceof`: MaaskitError itself or a subclass
    // biome-ignore lint/complexity/noThisInStatic: must differ between the base and subclasses
    if (this === MaaskitError) return hasBrand(value);
    // biome-ignore lint/complexity/noThisInStatic: the subclass being tested
    return Function.prototype[Symbol.hasInstance].call(this, value);
  }

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

Object.defineProperty(MaaskitError.prototype, brand, { value: true });

function hasBrand(value: unknown): value is MaaskitError {
  return (
    typeof value === "object" &&
    value !== null &&
    (value as { [brand]?: unknown })[brand] === true &&
    typeof (value as { code?: unknown }).code === "string"
  );
}

/**
 * True when `err` is a MaaskitError (from any copy of maaskit: see the `MaaskitError` brand),
 * optionally with the given code (or code prefix ending in ".").
 */
export function isMaaskitError(err: unknown, code?: string): err is MaaskitError {
  if (!hasBrand(err)) return false;
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
