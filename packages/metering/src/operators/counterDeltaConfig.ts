// counterDelta's public option types, its parsed configuration and the per-machine state.
import type { Decimal } from "decimal.js";
import { Dec } from "../quantity.js";
import type { UsageFlags } from "../reading.js";
import { type UnitCode, type VolumeBasis, volumeBases } from "../units.js";
import { fixedOf, fixedScale } from "./fixedPoint.js";
import { decimalOption, describe, isValidDate, throwIfProblems } from "./readingChecks.js";

/** Where a register stood at an instant: the state `counterDelta` resumes from. */
export interface CounterDeltaState {
  readonly machineId: string;
  /** Register value (on the current meter) at `at`. */
  readonly register: Decimal;
  readonly at: Date;
}

/**
 * The last register value journaled before a restart. The first reading after the restart
 * is counted from it, so nothing is counted twice and nothing is lost. Without `machineId`
 * it applies to every machine that has no entry of its own.
 */
export interface CounterDeltaInitial {
  readonly register: Decimal.Value;
  readonly at: Date;
  readonly machineId?: string;
}

/**
 * The most a register can count: `value` of the register's unit per `per` (the machine's
 * maximum delivery, e.g. 12.5 m³/min). It decides what a register change can be.
 */
export interface CounterCapacity {
  readonly value: Decimal.Value;
  readonly per: "s" | "min" | "h";
}

/** Options of {@link counterDelta}. */
export interface CounterDeltaOptions {
  /** The totalizer channel; readings of other channels pass through unchanged. */
  readonly channel: string;
  /** UNECE unit of the register and of the usage (e.g. `MTQ`). */
  readonly unit: UnitCode;
  /** Reference basis of the volume, copied onto every usage quantity. */
  readonly basis?: VolumeBasis;
  /** Modulus of the register: it wraps to 0 when it reaches this value. Values >= it are quarantined. */
  readonly rollover?: Decimal.Value;
  /**
   * The register's maximum rate. With it, every change is checked against what the machine
   * can deliver in the elapsed time: a drop is a rollover only when the wrapped increment
   * fits, a reset when the value counted since 0 fits; an increase that does not fit is
   * implausible and never billed as-is. Strongly recommended: without it, a drop is a
   * rollover only when `maxWrapIncrement` is given and a reset only up to `resetThreshold`.
   */
  readonly capacity?: CounterCapacity;
  /**
   * A reading channel (e.g. an OPC UA reset counter) whose value changing means the
   * register was reset or replaced: the next change of the register is a restart, whatever
   * it looks like. Readings of it pass through. It must be delivered no later than the
   * first register reading after the restart.
   */
  readonly resetCounterChannel?: string;
  /**
   * Largest increment that may be explained by a wrap (only with `rollover`). Without
   * `capacity` this is the explicit permission to guess rollovers: a drop from `last` to
   * `current` is then a rollover when `rollover - last + current <= maxWrapIncrement`, and
   * without it no drop is billed as a rollover. With `capacity` it is an extra bound.
   */
  readonly maxWrapIncrement?: Decimal.Value;
  /**
   * Without `capacity`: a drop not explained by a wrap is a reset (the counter restarted
   * from 0) when the new register value is at most this; set it to the most the counter
   * can count between two readings. Default 0: only a restart observed at exactly 0 is
   * recognised as a reset. Ignored with `capacity` (the capacity decides).
   */
  readonly resetThreshold?: Decimal.Value;
  /** Register value(s) journaled before a restart; see {@link CounterDeltaInitial}. */
  readonly initial?: CounterDeltaInitial | readonly CounterDeltaInitial[];
  /**
   * Called after every change of a machine's baseline (the state to journal, and to pass
   * back as `initial` after a restart). If it throws, the stream errors.
   */
  readonly onState?: (state: CounterDeltaState) => void;
}

/** Error code thrown (synchronously, by the factory) for invalid options. */
export type CounterDeltaErrorCode = "metering.counterDelta.invalidOptions";

const BASES: readonly string[] = volumeBases;
export const NO_FLAGS: UsageFlags = Object.freeze({});
export const ROLLOVER: UsageFlags = Object.freeze({ rollover: true });
export const RESET: UsageFlags = Object.freeze({ reset: true });
export const AMBIGUOUS: UsageFlags = Object.freeze({ ambiguous: true });
export const REPLACED: UsageFlags = Object.freeze({ replaced: true });
export const REPLACED_GUESSED: UsageFlags = Object.freeze({ replaced: true, ambiguous: true });
const PER_MS: Readonly<Record<CounterCapacity["per"], number>> = {
  s: 1000,
  min: 60_000,
  h: 3_600_000,
};

export interface MachineState {
  baseline: { register: Decimal; at: Date } | undefined;
  /** The baseline register as a fixed-point mantissa (-1: not representable) and its scale. */
  baseFx: number;
  baseK: number;
  /** The next usage spans a gap (source reconnect, restart). */
  bridged: boolean;
  /** A quarantined reading that a following one may confirm as a new register. */
  candidate: { register: Decimal; at: Date } | undefined;
  /** Last value of the reset counter channel. */
  resetCounter: string | undefined;
  /** When the reset counter changed after the baseline: the next reading is a restart. */
  restartAt: Date | undefined;
}

export interface Config {
  channel: string;
  unit: UnitCode;
  basis: VolumeBasis | undefined;
  rollover: Decimal | undefined;
  /** Only when given explicitly (no default). */
  maxWrapIncrement: Decimal | undefined;
  capacity: { value: Decimal; perMs: number; per: CounterCapacity["per"] } | undefined;
  resetCounterChannel: string | undefined;
  /**
   * With capacity and rollover: a lower bound of the time (ms) in which the register can
   * count a full modulus. Below it no change can hide a further wrap (a cheap pre-check).
   */
  fullWrapMs: number | undefined;
  resetThreshold: Decimal;
  initial: Map<string | undefined, { register: Decimal; at: Date }>;
  onState: ((state: CounterDeltaState) => void) | undefined;
  /**
   * Rollover and capacity value as fixed-point mantissas and scales (`rollover` -1 without
   * one). `on` is false when either is given but not representable: the Decimal path only.
   */
  fixed: { on: boolean; rollover: number; rolloverK: number; capacity: number; capacityK: number };
}

export function parseOptions(options: CounterDeltaOptions): Config {
  const problems: string[] = [];
  if (typeof options !== "object" || options === null) {
    throwIfProblems("metering.counterDelta.invalidOptions", "counterDelta", [
      "options must be an object",
    ]);
  }
  if (typeof options.channel !== "string" || options.channel.length === 0) {
    problems.push(`channel must be a non-empty string, got ${describe(options.channel)}`);
  }
  if (typeof options.unit !== "string" || options.unit.length === 0) {
    problems.push(`unit must be a UNECE unit code, got ${describe(options.unit)}`);
  }
  if (options.basis !== undefined && !BASES.includes(options.basis)) {
    problems.push(`basis must be one of ${BASES.join(", ")}, got ${describe(options.basis)}`);
  }
  const rollover = decimalOption(options.rollover, "rollover", problems, (d) =>
    d.gt(0) ? undefined : "must be > 0",
  );
  const maxWrapIncrement = decimalOption(
    options.maxWrapIncrement,
    "maxWrapIncrement",
    problems,
    (d) => (d.gt(0) ? undefined : "must be > 0"),
  );
  if (options.maxWrapIncrement !== undefined && options.rollover === undefined) {
    problems.push("maxWrapIncrement needs rollover");
  } else if (rollover !== undefined && maxWrapIncrement?.gte(rollover)) {
    problems.push("maxWrapIncrement must be below rollover");
  }
  let capacity: Config["capacity"];
  if (options.capacity !== undefined) {
    const c = options.capacity;
    if (typeof c !== "object" || c === null) {
      problems.push("capacity must be { value, per }");
    } else {
      const value = decimalOption(c.value, "capacity.value", problems, (d) =>
        d.gt(0) ? undefined : "must be > 0",
      );
      if (c.value === undefined) problems.push("capacity.value is missing");
      const perMs = (PER_MS as Record<string, number | undefined>)[c.per as string];
      if (perMs === undefined || !Object.hasOwn(PER_MS, c.per)) {
        problems.push(`capacity.per must be one of s, min, h, got ${describe(c.per)}`);
      } else if (value !== undefined) {
        capacity = { value, perMs, per: c.per };
      }
    }
  }
  if (
    options.resetCounterChannel !== undefined &&
    (typeof options.resetCounterChannel !== "string" ||
      options.resetCounterChannel.length === 0 ||
      options.resetCounterChannel === options.channel)
  ) {
    problems.push(
      `resetCounterChannel must be a non-empty string other than channel, got ${describe(options.resetCounterChannel)}`,
    );
  }
  const resetThreshold =
    decimalOption(options.resetThreshold, "resetThreshold", problems, (d) =>
      d.lt(0) ? "must be >= 0" : undefined,
    ) ?? new Dec(0);
  const initial = new Map<string | undefined, { register: Decimal; at: Date }>();
  if (options.initial !== undefined) {
    const list: readonly CounterDeltaInitial[] = Array.isArray(options.initial)
      ? options.initial
      : [options.initial as CounterDeltaInitial];
    list.forEach((init, i) => {
      const field = Array.isArray(options.initial) ? `initial[${i}]` : "initial";
      if (typeof init !== "object" || init === null) {
        problems.push(`${field} must be { register, at }`);
        return;
      }
      const register = decimalOption(init.register, `${field}.register`, problems, (d) =>
        d.lt(0)
          ? "must be >= 0"
          : rollover !== undefined && d.gte(rollover)
            ? "must be below rollover"
            : undefined,
      );
      if (init.register === undefined) problems.push(`${field}.register is missing`);
      if (!isValidDate(init.at)) problems.push(`${field}.at must be a valid Date`);
      if (init.machineId !== undefined && typeof init.machineId !== "string") {
        problems.push(`${field}.machineId must be a string`);
      }
      if (initial.has(init.machineId)) {
        problems.push(`${field} repeats machine ${init.machineId ?? "(any)"}`);
      }
      if (register !== undefined && isValidDate(init.at)) {
        initial.set(init.machineId, { register, at: init.at });
      }
    });
  }
  if (options.onState !== undefined && typeof options.onState !== "function") {
    problems.push("onState must be a function");
  }
  throwIfProblems("metering.counterDelta.invalidOptions", "counterDelta", problems);
  return {
    channel: options.channel,
    unit: options.unit,
    basis: options.basis,
    rollover,
    maxWrapIncrement,
    capacity,
    resetCounterChannel: options.resetCounterChannel,
    fullWrapMs:
      capacity === undefined || rollover === undefined
        ? undefined
        : // value × ms >= rollover × perMs needs ms >= rollover × perMs / value (floored: a lower bound).
          Math.floor(rollover.times(capacity.perMs).div(capacity.value).toNumber()),
    resetThreshold,
    initial,
    onState: options.onState,
    fixed: fixedConfig(rollover, capacity?.value),
  };
}

function fixedConfig(
  rollover: Decimal | undefined,
  capacity: Decimal | undefined,
): Config["fixed"] {
  const r = rollover === undefined ? -1 : fixedOf(rollover);
  const rolloverK = fixedScale;
  const c = capacity === undefined ? 0 : fixedOf(capacity);
  const capacityK = capacity === undefined ? 0 : fixedScale;
  // A rollover or capacity the fixed-point path cannot hold exactly: the Decimal path only.
  const on = !(rollover !== undefined && r < 0) && c >= 0 && capacityK <= 15;
  return { on, rollover: r, rolloverK, capacity: c, capacityK };
}
