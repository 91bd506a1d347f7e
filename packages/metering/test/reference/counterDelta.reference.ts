// REFERENCE ORACLE — a frozen copy of src/operators/counterDelta.ts as it was before the fixed-point
// core (issue 20). Test-only: the differential test (src/operators/fixedPoint.differential.test.ts)
// checks that the live operators emit exactly what this copy emits. Never edit to match the live code.
import { Decimal } from "decimal.js";
import type { OperatorFunction } from "rxjs";
import { Dec } from "../../src/quantity.js";
import type {
  GapEvent,
  MeterEvent,
  QuarantineEvent,
  Reading,
  RegisterReplacedEvent,
  UsageEvent,
  UsageFlags,
} from "../../src/reading.js";
import { type UnitCode, type VolumeBasis, volumeBases } from "../../src/units.js";
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
} from "./readingChecks.reference.js";

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

const BASES: readonly string[] = volumeBases;

/**
 * Turns readings of a totalizer register (e.g. accumulated m³) into `UsageEvent`s, exactly
 * (Decimal arithmetic, no rounding). Per machine, each good reading is compared with the
 * baseline — the last accepted register value — and emits usage from the baseline's time to
 * the reading's `sourceTime`, with the raw register values in `register`.
 *
 * With `capacity` (the most the register can count per time), `B = capacity × elapsed`:
 * - **increase** `current - last <= B`: usage. A larger increase is **implausible**: the
 *   reading is quarantined (`counter.implausible`) and the baseline stays (a glitch of
 *   999,999 never bills the register).
 * - **rollover** — a drop with `rollover - last + current <= B`: usage of the wrap, flag
 *   `rollover`. When a reset fits as well and the interval is bridged (a source gap or a
 *   restart), or a second wrap would fit too, the change is **ambiguous**: only `current`
 *   (what every explanation agrees the register counted since 0) is billed, flag
 *   `ambiguous`, and the disputed rest is quarantined (`counter.ambiguous`) with a
 *   `counter.ambiguous` gap.
 * - **reset** — any other drop with `current <= B`: the register restarted from 0. The usage
 *   before the reset is unknown and never invented: a `GapEvent` (`counter.reset`) is
 *   emitted, then usage `current`, flag `reset`.
 * - any other drop is quarantined (`counter.nonMonotonic`), the baseline stays.
 *
 * A quarantined reading is remembered: when the next reading does not continue the
 * baseline but continues it (an increase that fits), the register was **replaced** (a new
 * meter or a restart at another value, up or down): the usage between the last reading
 * and the first of the new register is unknown (`counter.replaced` gap), usage is counted
 * from the new register, flag `replaced`. A reading that continues the baseline again
 * makes the quarantined one a glitch. A change of `resetCounterChannel` decides a restart
 * outright: from 0 when the value fits the capacity (`reset`), else `replaced`.
 *
 * Without `capacity` the operator has to guess (docs/meter-record.md §2.4): increases are
 * billed as they come; a drop is a rollover only within an explicit `maxWrapIncrement`, a
 * reset only when `current <= resetThreshold` (default 0); a confirmed unexplained drop is
 * `replaced` and `ambiguous`.
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
 * readings$.pipe(
 *   counterDelta({
 *     channel: "totalVolume",
 *     unit: "MTQ",
 *     rollover: "1000000",
 *     capacity: { value: "12.5", per: "min" },
 *   }),
 * );
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
        s = {
          baseline: init === undefined ? undefined : { register: init.register, at: init.at },
          // The first usage after a restart spans time nobody observed.
          bridged: init !== undefined,
          candidate: undefined,
          resetCounter: undefined,
          restartAt: undefined,
        };
        machines.set(machineId, s);
      }
      return s;
    };

    return (event, emit) => {
      switch (event.kind) {
        case "reading":
          if (event.channel === cfg.channel) onReading(event, stateOf(event.machineId), emit);
          else {
            if (event.channel === cfg.resetCounterChannel) {
              onResetCounter(event, stateOf(event.machineId), emit);
            }
            emit(event);
          }
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
      s.restartAt = undefined;
      setBaseline(r.machineId, s, current, r.sourceTime);
      return;
    }
    const last = base.register;
    const id = r.machineId;
    const start = base.at;
    const end = r.sourceTime;

    if (s.restartAt !== undefined && end.getTime() >= s.restartAt.getTime()) {
      // The reset counter changed since the baseline: this reading is on a restarted register.
      s.restartAt = undefined;
      s.candidate = undefined;
      if (
        cfg.capacity === undefined ? current.lte(cfg.resetThreshold) : fits(current, start, end)
      ) {
        emitReset(id, s, start, end, last, current, "the reset counter changed", emit);
      } else {
        emitReplaced(id, s, start, end, last, end, current, current, emit);
      }
      setBaseline(id, s, current, end);
      return;
    }

    const cand = s.candidate;
    if (cand !== undefined) {
      s.candidate = undefined;
      if (current.gte(last) && fits(current.minus(last), start, end)) {
        // The quarantined reading was a glitch: the register continues the baseline.
        emit(usage(id, start, end, last, current, current.minus(last), s, NO_FLAGS));
        setBaseline(id, s, current, end);
        return;
      }
      if (current.gte(cand.register) && fits(current.minus(cand.register), cand.at, end)) {
        // Two readings agree on a new register: it was replaced.
        emitReplaced(id, s, start, end, last, cand.at, cand.register, current, emit);
        setBaseline(id, s, current, end);
        return;
      }
    }

    if (current.gte(last)) {
      const delta = current.minus(last);
      if (!fits(delta, start, end)) {
        suspect(
          r,
          s,
          current,
          "counter.implausible",
          `register rose from ${last.toFixed()} to ${current.toFixed()}: ${delta.toFixed()} is more than the capacity allows (${budgetText(start, end)})`,
          emit,
        );
        return;
      }
      if (
        cfg.fullWrapMs !== undefined &&
        end.getTime() - start.getTime() >= cfg.fullWrapMs &&
        fits(delta.plus(cfg.rollover!), start, end)
      ) {
        // The register may also have wrapped around once or more: only `delta` is certain.
        emit(
          ambiguity(
            r,
            last,
            current,
            delta,
            `the register may also have wrapped around (${budgetText(start, end)}); billed the ${delta.toFixed()} every explanation agrees on`,
          ),
        );
        emit(usage(id, start, end, last, current, delta, s, AMBIGUOUS));
      } else {
        emit(usage(id, start, end, last, current, delta, s, NO_FLAGS));
      }
      setBaseline(id, s, current, end);
      return;
    }

    const wrap = cfg.rollover === undefined ? undefined : cfg.rollover.minus(last).plus(current);
    if (wrap !== undefined && wrapFits(wrap, start, end)) {
      if (
        cfg.capacity !== undefined &&
        (s.bridged ||
          (end.getTime() - start.getTime() >= cfg.fullWrapMs! &&
            fits(wrap.plus(cfg.rollover!), start, end)))
      ) {
        // A reset (or more than one wrap) fits as well: bill what both agree on.
        const gap: GapEvent = {
          kind: "gap",
          machineId: id,
          channel: cfg.channel,
          start,
          end,
          reason: "counter.ambiguous",
          detail: `register dropped from ${last.toFixed()} to ${current.toFixed()}: a rollover (${wrap.toFixed()}) and a reset both fit the capacity (${budgetText(start, end)}); up to ${wrap.minus(current).toFixed()} more than billed may have been delivered`,
        };
        emit(gap);
        emit(
          ambiguity(
            r,
            last,
            current,
            current,
            `a rollover (${wrap.toFixed()}) and a reset both fit the capacity (${budgetText(start, end)}); billed the ${current.toFixed()} counted since 0, ${wrap.minus(current).toFixed()} disputed`,
          ),
        );
        emit(usage(id, start, end, last, current, current, s, AMBIGUOUS));
      } else {
        emit(usage(id, start, end, last, current, wrap, s, ROLLOVER));
      }
    } else if (
      cfg.capacity === undefined ? current.lte(cfg.resetThreshold) : fits(current, start, end)
    ) {
      emitReset(id, s, start, end, last, current, "counter restarted from 0", emit);
    } else {
      suspect(
        r,
        s,
        current,
        "counter.nonMonotonic",
        `register dropped from ${last.toFixed()} to ${current.toFixed()}: neither a rollover nor a reset (${cfg.capacity === undefined ? `resetThreshold ${cfg.resetThreshold.toFixed()}` : budgetText(start, end)})`,
        emit,
      );
      return;
    }
    setBaseline(id, s, current, end);
  }

  /** Quarantines a reading that does not fit the baseline and remembers it as a candidate. */
  function suspect(
    r: Reading,
    s: MachineState,
    current: Decimal,
    reason: string,
    message: string,
    emit: (e: MeterEvent) => void,
  ): void {
    emit(quarantineReading(r, { reason, message }));
    s.candidate = { register: current, at: r.sourceTime };
  }

  function emitReset(
    machineId: string,
    s: MachineState,
    start: Date,
    end: Date,
    last: Decimal,
    current: Decimal,
    why: string,
    emit: (e: MeterEvent) => void,
  ): void {
    emit(
      counterGap(
        machineId,
        start,
        end,
        "counter.reset",
        `register dropped from ${last.toFixed()} to ${current.toFixed()}: ${why}; usage between the last reading and the reset is unknown`,
      ),
    );
    // register.start is the raw register at `start`, so records stay continuous.
    emit(usage(machineId, start, end, last, current, current, s, RESET));
  }

  /**
   * The register was replaced by one first read as `first` at `firstAt`: the usage from
   * `start` to `firstAt` is unknown; from there it is counted on the new register.
   */
  function emitReplaced(
    machineId: string,
    s: MachineState,
    start: Date,
    end: Date,
    last: Decimal,
    firstAt: Date,
    first: Decimal,
    current: Decimal,
    emit: (e: MeterEvent) => void,
  ): void {
    const guessed = cfg.capacity === undefined;
    emit(
      counterGap(
        machineId,
        start,
        firstAt,
        guessed ? "counter.ambiguous" : "counter.replaced",
        `register went from ${last.toFixed()} to ${first.toFixed()}${guessed ? " (no capacity to tell a rollover, a reset and a new register apart)" : ""}: counted on the new register from there; usage before its first reading is unknown`,
      ),
    );
    emit(
      usage(
        machineId,
        start,
        end,
        last,
        current,
        current.minus(first),
        s,
        guessed ? REPLACED_GUESSED : REPLACED,
      ),
    );
  }

  function onResetCounter(r: Reading, s: MachineState, emit: (e: MeterEvent) => void): void {
    if (r.quality === "bad") return;
    const key = Decimal.isDecimal(r.value) ? (r.value as Decimal).toFixed() : String(r.value);
    const previous = s.resetCounter;
    s.resetCounter = key;
    if (previous === undefined || previous === key || !isValidDate(r.sourceTime)) return;
    const base = s.baseline;
    const cand = s.candidate;
    if (base !== undefined && cand !== undefined) {
      // The quarantined reading is the restarted register's first.
      s.candidate = undefined;
      emitReplaced(
        r.machineId,
        s,
        base.at,
        cand.at,
        base.register,
        cand.at,
        cand.register,
        cand.register,
        emit,
      );
      setBaseline(r.machineId, s, cand.register, cand.at);
    } else if (base === undefined || r.sourceTime.getTime() > base.at.getTime()) {
      s.restartAt = r.sourceTime;
    }
  }

  function onReplaced(e: RegisterReplacedEvent, s: MachineState, emit: (e: MeterEvent) => void) {
    const problem = checkReplacement(e, s);
    if (problem !== undefined) {
      emit(quarantineItem(e, problem));
      return;
    }
    const newInitial = new Dec(e.newInitial);
    const base = s.baseline;
    s.candidate = undefined;
    s.restartAt = undefined;
    if (base !== undefined) {
      const last = base.register;
      const oldFinal = e.oldFinal === undefined ? undefined : new Dec(e.oldFinal);
      if (oldFinal?.gte(last) && fits(oldFinal.minus(last), base.at, e.at)) {
        emit(usage(e.machineId, base.at, e.at, last, oldFinal, oldFinal.minus(last), s, RESET));
      } else if (oldFinal?.lt(last) && wrapFits(wrapped(last, oldFinal), base.at, e.at)) {
        emit(
          usage(e.machineId, base.at, e.at, last, oldFinal, wrapped(last, oldFinal), s, {
            reset: true,
            rollover: true,
          }),
        );
      } else {
        emit(
          counterGap(
            e.machineId,
            base.at,
            e.at,
            "counter.reset",
            oldFinal === undefined
              ? "register replaced without a final reading of the old register"
              : oldFinal.gte(last)
                ? `register replaced; its final value ${oldFinal.toFixed()} is more above the last reading ${last.toFixed()} than the capacity allows`
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
    if (s.candidate !== undefined && r.sourceTime.getTime() < s.candidate.at.getTime()) {
      return {
        reason: "time.nonMonotonic",
        message: `sourceTime ${r.sourceTime.toISOString()} is before the quarantined reading at ${s.candidate.at.toISOString()}`,
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

  /** Whether a wrap of `wrap` is a rollover the options allow over `[start, end]`. */
  function wrapFits(wrap: Decimal, start: Date, end: Date): boolean {
    if (cfg.capacity === undefined) {
      return cfg.maxWrapIncrement !== undefined && wrap.lte(cfg.maxWrapIncrement);
    }
    return (
      fits(wrap, start, end) &&
      (cfg.maxWrapIncrement === undefined || wrap.lte(cfg.maxWrapIncrement))
    );
  }

  /** Whether the register can count `amount` in `[start, end]` (always, without capacity). */
  function fits(amount: Decimal, start: Date, end: Date): boolean {
    const c = cfg.capacity;
    if (c === undefined) return true;
    // amount <= value × elapsed / per, exactly (no division).
    return amount.times(c.perMs).lte(c.value.times(end.getTime() - start.getTime()));
  }

  function budgetText(start: Date, end: Date): string {
    const c = cfg.capacity!;
    const ms = end.getTime() - start.getTime();
    return `at most ${c.value.times(ms).div(c.perMs).toFixed()} in ${new Dec(ms).div(1000).toFixed()} s at ${c.value.toFixed()} ${cfg.unit}/${c.per}`;
  }

  /** The quarantine of the disputed part of an ambiguous register change. */
  function ambiguity(
    r: Reading,
    last: Decimal,
    current: Decimal,
    billed: Decimal,
    why: string,
  ): QuarantineEvent {
    return {
      kind: "quarantine",
      machineId: r.machineId,
      channel: cfg.channel,
      reason: "counter.ambiguous",
      message: `${r.machineId}/${cfg.channel}: register went from ${last.toFixed()} to ${current.toFixed()}: ${why}`,
      item: {
        kind: "counterAmbiguity",
        reading: r,
        register: { start: last, end: current },
        billed,
      },
      at: r.sourceTime,
    };
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

  function counterGap(
    machineId: string,
    start: Date,
    end: Date,
    reason: GapEvent["reason"],
    detail: string,
  ): GapEvent {
    return { kind: "gap", machineId, channel: cfg.channel, start, end, reason, detail };
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

const NO_FLAGS: UsageFlags = Object.freeze({});
const ROLLOVER: UsageFlags = Object.freeze({ rollover: true });
const RESET: UsageFlags = Object.freeze({ reset: true });
const AMBIGUOUS: UsageFlags = Object.freeze({ ambiguous: true });
const REPLACED: UsageFlags = Object.freeze({ replaced: true });
const REPLACED_GUESSED: UsageFlags = Object.freeze({ replaced: true, ambiguous: true });
const PER_MS: Readonly<Record<CounterCapacity["per"], number>> = {
  s: 1000,
  min: 60_000,
  h: 3_600_000,
};

interface MachineState {
  baseline: { register: Decimal; at: Date } | undefined;
  /** The next usage spans a gap (source reconnect, restart). */
  bridged: boolean;
  /** A quarantined reading that a following one may confirm as a new register. */
  candidate: { register: Decimal; at: Date } | undefined;
  /** Last value of the reset counter channel. */
  resetCounter: string | undefined;
  /** When the reset counter changed after the baseline: the next reading is a restart. */
  restartAt: Date | undefined;
}

interface Config {
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
  };
}
