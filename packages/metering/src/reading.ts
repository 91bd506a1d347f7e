import type { Decimal } from "decimal.js";
import type { Quantity } from "./quantity.js";
import type { StateSpanEvent } from "./timeElements.js";
import type { UnitCode } from "./units.js";

/** OPC UA status severity, carried as data (never as an exception). */
export type Quality = "good" | "uncertain" | "bad";

/** A value a machine channel can report: a number (exact), a flag, or a state name. */
export type ReadingValue = Decimal | boolean | string;

/**
 * One sample of one machine channel, as it came from the source.
 * `sourceTime` is when the machine measured it (the clock windows use);
 * `serverTime` is when the OPC UA server saw it, if known.
 */
export interface Reading<V extends ReadingValue = ReadingValue> {
  readonly kind: "reading";
  readonly machineId: string;
  readonly channel: string;
  readonly value: V;
  readonly unit?: UnitCode;
  readonly quality: Quality;
  /** Raw status code from the source (e.g. OPC UA StatusCode value), if any. */
  readonly statusCode?: number;
  readonly sourceTime: Date;
  readonly serverTime?: Date;
}

/**
 * A stretch of time in which a source could not observe a channel (connection lost,
 * subscription recreated, server restarted). Gaps are never filled with invented values:
 * counters bridge them from the register difference, rates report them.
 */
export interface GapEvent {
  readonly kind: "gap";
  readonly machineId: string;
  /** Channel the gap applies to; absent means every channel of the machine. */
  readonly channel?: string;
  readonly start: Date;
  readonly end: Date;
  readonly reason: GapReason;
  /** What bridged the gap, when something did. */
  readonly bridgedBy?: "register";
  readonly detail?: string;
}

export type GapReason =
  | "source.reconnected"
  | "source.subscriptionRecreated"
  | "source.serverRestarted"
  | "source.overflow"
  | "rate.maxGapExceeded"
  | "counter.reset"
  | "counter.replaced"
  | "counter.ambiguous"
  | (string & {});

/** Why a reading (or record, or event) was set aside instead of used. */
export type QuarantineReason =
  | "value.notFinite"
  | "value.notNumeric"
  | "value.negative"
  | "unit.mismatch"
  | "quality.bad"
  | "quality.uncertain"
  | "time.future"
  | "time.past"
  | "time.nonMonotonic"
  | "time.late"
  | "counter.nonMonotonic"
  | "counter.implausible"
  | "counter.ambiguous"
  | (string & {});

/** An input set aside with the reason, so nothing disappears silently. */
export interface QuarantineEvent {
  readonly kind: "quarantine";
  readonly machineId: string;
  readonly channel?: string;
  readonly reason: QuarantineReason;
  readonly message: string;
  /** The item that was set aside (usually a Reading). */
  readonly item: unknown;
  /** Event time of the item, if it had one. */
  readonly at?: Date;
}

/** Flags that travel with usage into windows and meter records. */
export interface UsageFlags {
  /** A gap was bridged from the register difference (value not sampled continuously). */
  readonly bridged?: boolean;
  /** The volume was integrated from a rate, not read from a totalizer. */
  readonly derivedFromRate?: boolean;
  /** The register rolled over at its configured maximum. */
  readonly rollover?: boolean;
  /** The register was reset or replaced; the increment before the reset was counted. */
  readonly reset?: boolean;
  /**
   * The register was replaced by one that started at an unknown value (a new meter, a
   * restart not at 0): usage is counted from the new register; the usage between the old
   * register's last reading and the new register's first is not billed (a gap says so).
   */
  readonly replaced?: boolean;
  /**
   * A register change that could not be classified (e.g. a rollover and a reset both fit
   * the capacity): only the part every explanation agrees on is billed; the disputed part
   * was quarantined (`counter.ambiguous`), never billed.
   */
  readonly ambiguous?: boolean;
}

/**
 * Consumption on one channel between two instants: the output of `counterDelta` and
 * `integrateRate`, the input of windows.
 */
export interface UsageEvent {
  readonly kind: "usage";
  readonly machineId: string;
  readonly channel: string;
  readonly quantity: Quantity;
  readonly start: Date;
  readonly end: Date;
  /** Cumulative register values at `start` and `end`, when the usage came from a register. */
  readonly register?: { readonly start: Decimal; readonly end: Decimal };
  readonly flags: UsageFlags;
}

/**
 * A totalizer register was replaced (new meter) or restarted with a known new value, at `at`.
 * `counterDelta` counts the old register up to `oldFinal` (when known) and continues from
 * `newInitial`; without `oldFinal` the usage between the last reading and `at` is unknown
 * and reported as a `GapEvent` ("counter.reset").
 */
export interface RegisterReplacedEvent {
  readonly kind: "registerReplaced";
  readonly machineId: string;
  readonly channel: string;
  readonly at: Date;
  /** Final value of the old register, if it was read before the replacement. */
  readonly oldFinal?: Decimal;
  /** Value of the new register at `at`. */
  readonly newInitial: Decimal;
}

/** Everything that flows through a metering pipeline. Operators pass on kinds they don't handle. */
export type MeterEvent =
  | Reading
  | GapEvent
  | QuarantineEvent
  | UsageEvent
  | RegisterReplacedEvent
  | StateSpanEvent;
