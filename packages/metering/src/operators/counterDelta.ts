import type { Decimal } from "decimal.js";
import type { OperatorFunction } from "rxjs";
import { Dec } from "../quantity.js";
import type {
  GapEvent,
  MeterEvent,
  QuarantineEvent,
  Reading,
  RegisterReplacedEvent,
  UsageEvent,
  UsageFlags,
} from "../reading.js";
import { type UnitCode, type VolumeBasis, volumeBases } from "../units.js";
import {
  decimalOption,
  describe,
  isProblem,
  isValidDate,
  numericValue,
  type Problem,
  quarantineReading,
  statefulOperator,
  throwIfProblems,
} from "./readingChecks.js";

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
   * Largest increment that may be explained by a wrap (only with `rollover`). A drop from
   * `last` to `current` is a rollover when `rollover - last + current <= maxWrapIncrement`.
   * Default: `rollover / 2` (the half-range rule of wrapping counters).
   */
  readonly maxWrapIncrement?: Decimal.Value;
  /**
   * A drop not explained by a wrap is a reset (the counter restarted from 0) when the new
   * register value is at most this; set it to the most the counter can count between two
   * readings. A larger value after a drop is jitter, quarantined as `counter.nonMonotonic`.
   * Default 0: only a restart observed at exactly 0 is recognised as a reset.
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

/**
 * Turns readings of a totalizer register (e.g. accumulated m³) into `UsageEvent`s, exactly
 * (Decimal arithmetic, no rounding). Per machine, each good reading is compared with the
 * baseline — the last accepted register value — and emits usage from the baseline's time to
 * the reading's `sourceTime`, with the raw register values in `register`.
 *
 * Counter semantics, for `current < last` (a drop):
 * - **rollover** — `rollover` is configured and `rollover - last + current <= maxWrapIncrement`
 *   (default `rollover / 2`): usage `rollover - last + current`, flag `rollover`.
 * - **reset** — otherwise, if `current <= resetThreshold` (default 0): the counter restarted
 *   from 0. The usage between the last reading and the reset moment cannot be known and is
 *   never invented: a `GapEvent` (reason `"counter.reset"`, from the last reading to this one)
 *   is emitted, then usage `current` (counted from 0), flag `reset`, `register.start` 0.
 * - **jitter** — otherwise the reading is quarantined as `counter.nonMonotonic` and the
 *   baseline stays (a small wobble must not bill the whole register again).
 *
 * Other rules:
 * - The first reading of a machine only sets the baseline, unless `initial` gives one (then
 *   the first usage spans the restart and is flagged `bridged`).
 * - A `GapEvent` from the source for the channel (or the whole machine) flags the next usage
 *   `bridged`: its delta spans the gap and comes from the register difference.
 * - A `RegisterReplacedEvent` (new meter, or a restart signalled by the source, e.g. an OPC UA
 *   start-time change) counts the old register up to `oldFinal` (flag `reset`) — or, without
 *   `oldFinal`, emits a `"counter.reset"` gap — and continues from `newInitial`.
 * - Readings that are bad quality, non-numeric, non-finite, negative, in another unit, at or
 *   above `rollover` (`counter.outOfRange`) or earlier than the baseline (`time.nonMonotonic`)
 *   are quarantined and never move the baseline. Uncertain quality is used.
 * - Readings of the channel are consumed; every other event passes through unchanged.
 *
 * @param options see {@link CounterDeltaOptions}; invalid options throw
 *   `metering.counterDelta.invalidOptions` listing every problem.
 * @example
 * ```ts
 * readings$.pipe(counterDelta({ channel: "totalVolume", unit: "MTQ", rollover: "1000000" }));
 * ```
 */
export function counterDelta(
  options: CounterDeltaOptions,
): OperatorFunction<MeterEvent, MeterEvent> {
  const cfg = parseOptions(options);
  return statefulOperator<MeterEvent, MeterEvent>(() => {
    const machines = new Map<string, MachineState>();

    const stateOf = (machineId: string): MachineState => {
      let s = machines.get(machineId);
      if (s === undefined) {
        const init = cfg.initial.get(machineId) ?? cfg.initial.get(undefined);
        s =
          init === undefined
            ? { baseline: undefined, bridged: false }
            : // The first usage after a restart spans time nobody observed.
              { baseline: { register: init.register, at: init.at }, bridged: true };
        machines.set(machineId, s);
      }
      return s;
    };

    return (event, emit) => {
      switch (event.kind) {
        case "reading":
          if (event.channel === cfg.channel) onReading(event, stateOf(event.machineId), emit);
          else emit(event);
          return;
        case "gap":
          if (event.channel === undefined || event.channel === cfg.channel) {
            stateOf(event.machineId).bridged = true;
          }
          emit(event);
          return;
        case "registerReplaced":
          if (event.channel === cfg.channel) onReplaced(event, stateOf(event.machineId), emit);
          else emit(event);
          return;
        default:
          emit(event);
      }
    };
  });

  function onReading(r: Reading, s: MachineState, emit: (e: MeterEvent) => void): void {
    const checked = checkReading(r, s);
    if (isProblem(checked)) {
      emit(quarantineReading(r, checked));
      return;
    }
    const current = checked;
    const base = s.baseline;
    if (base === undefined) {
      setBaseline(r.machineId, s, current, r.sourceTime);
      return;
    }
    const last = base.register;
    const wrap =
      current.lt(last) && cfg.rollover !== undefined ? wrapped(last, current) : undefined;
    if (current.gte(last)) {
      emit(
        usage(r.machineId, base.at, r.sourceTime, last, current, current.minus(last), s, NO_FLAGS),
      );
    } else if (wrap?.lte(cfg.maxWrapIncrement!)) {
      emit(usage(r.machineId, base.at, r.sourceTime, last, current, wrap, s, ROLLOVER));
    } else if (current.lte(cfg.resetThreshold)) {
      emit(
        resetGap(
          r.machineId,
          base.at,
          r.sourceTime,
          `register dropped from ${last.toFixed()} to ${current.toFixed()}: counter restarted from 0; usage between the last reading and the reset is unknown`,
        ),
      );
      emit(usage(r.machineId, base.at, r.sourceTime, ZERO, current, current, s, { reset: true }));
    } else {
      emit(
        quarantineReading(r, {
          reason: "counter.nonMonotonic",
          message: `register dropped from ${last.toFixed()} to ${current.toFixed()}: neither a rollover nor a reset (resetThreshold ${cfg.resetThreshold.toFixed()})`,
        }),
      );
      return;
    }
    setBaseline(r.machineId, s, current, r.sourceTime);
  }

  function onReplaced(e: RegisterReplacedEvent, s: MachineState, emit: (e: MeterEvent) => void) {
    const problem = checkReplacement(e, s);
    if (problem !== undefined) {
      emit(quarantineItem(e, problem));
      return;
    }
    const newInitial = new Dec(e.newInitial);
    const base = s.baseline;
    if (base !== undefined) {
      const last = base.register;
      const oldFinal = e.oldFinal === undefined ? undefined : new Dec(e.oldFinal);
      if (oldFinal?.gte(last)) {
        emit(
          usage(e.machineId, base.at, e.at, last, oldFinal, oldFinal.minus(last), s, {
            reset: true,
          }),
        );
      } else if (
        oldFinal !== undefined &&
        cfg.rollover !== undefined &&
        wrapped(last, oldFinal).lte(cfg.maxWrapIncrement!)
      ) {
        emit(
          usage(e.machineId, base.at, e.at, last, oldFinal, wrapped(last, oldFinal), s, {
            reset: true,
            rollover: true,
          }),
        );
      } else {
        emit(
          resetGap(
            e.machineId,
            base.at,
            e.at,
            oldFinal === undefined
              ? "register replaced without a final reading of the old register"
              : `register replaced; its final value ${oldFinal.toFixed()} is below the last reading ${last.toFixed()}`,
          ),
        );
      }
    }
    // The new register starts fresh: nothing between here and its first reading is a gap.
    s.bridged = false;
    setBaseline(e.machineId, s, newInitial, e.at);
    emit(e);
  }

  function checkReading(r: Reading, s: MachineState): Decimal | Problem {
    if (r.quality === "bad") return { reason: "quality.bad", message: "quality is bad" };
    const v = numericValue(r.value);
    if (isProblem(v)) return v;
    // isNeg() is a sign check (cheaper than a comparison); -0 is not negative.
    if (v.isNeg() && !v.isZero()) {
      return { reason: "value.negative", message: `register ${v.toFixed()} is negative` };
    }
    if (r.unit !== undefined && r.unit !== cfg.unit) {
      return { reason: "unit.mismatch", message: `unit ${r.unit} is not the expected ${cfg.unit}` };
    }
    if (cfg.rollover !== undefined && v.gte(cfg.rollover)) {
      return {
        reason: "counter.outOfRange",
        message: `register ${v.toFixed()} is not below the rollover ${cfg.rollover.toFixed()}`,
      };
    }
    if (!isValidDate(r.sourceTime)) {
      return { reason: "time.invalid", message: "sourceTime is not a valid Date" };
    }
    if (s.baseline !== undefined && r.sourceTime.getTime() < s.baseline.at.getTime()) {
      return {
        reason: "time.nonMonotonic",
        message: `sourceTime ${r.sourceTime.toISOString()} is before the register baseline at ${s.baseline.at.toISOString()}`,
      };
    }
    return v;
  }

  function checkReplacement(e: RegisterReplacedEvent, s: MachineState): Problem | undefined {
    const problems: string[] = [];
    const newInitial = decimalOption(e.newInitial, "newInitial", problems, (d) =>
      d.lt(0) || (cfg.rollover !== undefined && d.gte(cfg.rollover))
        ? "is out of range"
        : undefined,
    );
    if (newInitial === undefined && e.newInitial === undefined)
      problems.push("newInitial is missing");
    decimalOption(e.oldFinal, "oldFinal", problems, (d) =>
      d.lt(0) || (cfg.rollover !== undefined && d.gte(cfg.rollover))
        ? "is out of range"
        : undefined,
    );
    if (!isValidDate(e.at)) problems.push("at is not a valid Date");
    else if (s.baseline !== undefined && e.at.getTime() < s.baseline.at.getTime()) {
      return {
        reason: "time.nonMonotonic",
        message: `replacement at ${e.at.toISOString()} is before the register baseline at ${s.baseline.at.toISOString()}`,
      };
    }
    return problems.length === 0
      ? undefined
      : { reason: "counter.invalidReplacement", message: problems.join("; ") };
  }

  function wrapped(last: Decimal, current: Decimal): Decimal {
    return cfg.rollover!.minus(last).plus(current);
  }

  function usage(
    machineId: string,
    start: Date,
    end: Date,
    registerStart: Decimal,
    registerEnd: Decimal,
    value: Decimal,
    s: MachineState,
    flags: UsageFlags,
  ): UsageEvent {
    const allFlags: UsageFlags = s.bridged ? { ...flags, bridged: true } : flags;
    s.bridged = false;
    return {
      kind: "usage",
      machineId,
      channel: cfg.channel,
      quantity:
        cfg.basis === undefined
          ? { value, unit: cfg.unit }
          : { value, unit: cfg.unit, basis: cfg.basis },
      start,
      end,
      register: { start: registerStart, end: registerEnd },
      flags: allFlags,
    };
  }

  function resetGap(machineId: string, start: Date, end: Date, detail: string): GapEvent {
    return {
      kind: "gap",
      machineId,
      channel: cfg.channel,
      start,
      end,
      reason: "counter.reset",
      detail,
    };
  }

  function quarantineItem(e: RegisterReplacedEvent, problem: Problem): QuarantineEvent {
    return {
      kind: "quarantine",
      machineId: e.machineId,
      channel: e.channel,
      reason: problem.reason,
      message: `${e.machineId}/${e.channel}: ${problem.message}`,
      item: e,
      ...(isValidDate(e.at) ? { at: e.at } : {}),
    };
  }

  function setBaseline(machineId: string, s: MachineState, register: Decimal, at: Date): void {
    s.baseline = { register, at };
    cfg.onState?.({ machineId, register, at });
  }
}

const ZERO = new Dec(0);
const NO_FLAGS: UsageFlags = Object.freeze({});
const ROLLOVER: UsageFlags = Object.freeze({ rollover: true });

interface MachineState {
  baseline: { register: Decimal; at: Date } | undefined;
  /** The next usage spans a gap (source reconnect, restart). */
  bridged: boolean;
}

interface Config {
  channel: string;
  unit: UnitCode;
  basis: VolumeBasis | undefined;
  rollover: Decimal | undefined;
  maxWrapIncrement: Decimal | undefined;
  resetThreshold: Decimal;
  initial: Map<string | undefined, { register: Decimal; at: Date }>;
  onState: ((state: CounterDeltaState) => void) | undefined;
}

function parseOptions(options: CounterDeltaOptions): Config {
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
  let maxWrapIncrement = decimalOption(
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
  if (rollover !== undefined && options.maxWrapIncrement === undefined) {
    maxWrapIncrement = rollover.div(2);
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
    resetThreshold,
    initial,
    onState: options.onState,
  };
}
