// Internal helpers shared by the metering operators (not exported from the package).
import { Decimal } from "decimal.js";
import { Observable, type OperatorFunction } from "rxjs";
import { MaaskitError } from "../errors.js";
import { Dec, toDecimal } from "../quantity.js";
import type { QuarantineEvent, QuarantineReason, Reading } from "../reading.js";

/** A reason a reading cannot be used, with a human-readable message. */
export interface Problem {
  readonly reason: QuarantineReason;
  readonly message: string;
}

/**
 * Checks that a reading's value is a finite Decimal. Returns the value on maaskit's
 * Decimal constructor, or the problem. A JS number is never accepted as a quantity.
 */
export function numericValue(value: unknown): Decimal | Problem {
  // The common case first: a finite Decimal of maaskit's own constructor, as is.
  if (value instanceof Dec && value.constructor === Dec && value.d !== null) return value;
  if (Decimal.isDecimal(value)) {
    const d = value as Decimal;
    if (!d.isFinite()) {
      return { reason: "value.notFinite", message: `value ${d.toString()} is not finite` };
    }
    return d.constructor === Dec ? d : new Dec(d);
  }
  if (typeof value === "number" && !Number.isFinite(value)) {
    return { reason: "value.notFinite", message: `value ${String(value)} is not finite` };
  }
  return {
    reason: "value.notNumeric",
    message: `value ${describe(value)} is not a Decimal`,
  };
}

/** True when `x` is a Problem rather than a Decimal. */
export function isProblem(x: Decimal | Problem): x is Problem {
  return !Decimal.isDecimal(x);
}

/** Builds the quarantine event for a reading. */
export function quarantineReading(reading: Reading, problem: Problem): QuarantineEvent {
  return {
    kind: "quarantine",
    machineId: reading.machineId,
    channel: reading.channel,
    reason: problem.reason,
    message: `${reading.machineId}/${reading.channel}: ${problem.message}`,
    item: reading,
    at: reading.sourceTime,
  };
}

/** True for a Date that holds a real instant. */
export function isValidDate(d: unknown): d is Date {
  return d instanceof Date && !Number.isNaN(d.getTime());
}

/**
 * Parses an optional Decimal option, pushing a problem message instead of throwing so
 * option validation can report every problem at once.
 */
export function decimalOption(
  value: unknown,
  field: string,
  problems: string[],
  check?: (d: Decimal) => string | undefined,
): Decimal | undefined {
  if (value === undefined) return undefined;
  let d: Decimal;
  try {
    // Same rules as quantities: Decimal, decimal string or safe integer; never a float.
    d = toDecimal(value, field);
  } catch {
    problems.push(
      `${field} must be a finite Decimal, decimal string or safe integer, got ${describe(value)}`,
    );
    return undefined;
  }
  const msg = check?.(d);
  if (msg !== undefined) {
    problems.push(`${field} ${msg}`);
    return undefined;
  }
  return d;
}

/** Throws one MaaskitError listing every option problem, if there are any. */
export function throwIfProblems(code: string, what: string, problems: readonly string[]): void {
  if (problems.length === 0) return;
  throw new MaaskitError(code, `Invalid ${what} options: ${problems.join("; ")}`, {
    details: { problems: [...problems] },
  });
}

/** Short, safe description of an arbitrary value for messages. */
export function describe(value: unknown): string {
  if (Decimal.isDecimal(value)) return (value as Decimal).toString();
  if (value instanceof Date)
    return Number.isNaN(value.getTime()) ? "Invalid Date" : value.toISOString();
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "object" && value !== null) return Object.prototype.toString.call(value);
  return String(value);
}

/**
 * A pipeable operator around a per-subscription handler: `setup` runs once per subscription
 * and returns the handler that turns each input into zero or more outputs. A handler that
 * throws (a bug, or a user callback) errors the stream instead of being swallowed.
 */
export function statefulOperator<I, O>(
  setup: () => (event: I, emit: (out: O) => void) => void,
): OperatorFunction<I, O> {
  return (source: Observable<I>) =>
    new Observable<O>((subscriber) => {
      const handle = setup();
      const emit = (out: O): void => subscriber.next(out);
      return source.subscribe({
        next(event) {
          try {
            handle(event, emit);
          } catch (err) {
            subscriber.error(err);
          }
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => subscriber.complete(),
      });
    });
}
