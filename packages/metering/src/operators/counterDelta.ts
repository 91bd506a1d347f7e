import { Decimal } from "decimal.js";
import type { OperatorFunction } from "rxjs";
import { Dec } from "../quantity.js";
import type { GapEvent, MeterEvent, Reading, RegisterReplacedEvent } from "../reading.js";
import {
  AMBIGUOUS,
  type CounterDeltaOptions,
  type MachineState,
  NO_FLAGS,
  parseOptions,
  REPLACED,
  REPLACED_GUESSED,
  RESET,
  ROLLOVER,
} from "./counterDeltaConfig.js";
import {
  ambiguity,
  budgetText,
  checkReading,
  checkReplacement,
  counterGap,
  fastReading,
  fits,
  quarantineItem,
  setBaseline,
  usage,
  wrapFits,
  wrapped,
} from "./counterDeltaRules.js";
import { fixedOf, fixedScale } from "./fixedPoint.js";
import { isProblem, isValidDate, quarantineReading, statefulOperator } from "./readingChecks.js";

export type {
  CounterCapacity,
  CounterDeltaErrorCode,
  CounterDeltaInitial,
  CounterDeltaOptions,
  CounterDeltaState,
} from "./counterDeltaConfig.js";

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
          baseFx: init === undefined ? -1 : fixedOf(init.register),
          baseK: fixedScale,
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
    if (fastReading(cfg, r, s, emit)) return;
    const checked = checkReading(cfg, r, s);
    if (isProblem(checked)) {
      emit(quarantineReading(r, checked));
      return;
    }
    const current = checked;
    const base = s.baseline;
    if (base === undefined) {
      s.restartAt = undefined;
      setBaseline(cfg, r.machineId, s, current, r.sourceTime);
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
        cfg.capacity === undefined
          ? current.lte(cfg.resetThreshold)
          : fits(cfg, current, start, end)
      ) {
        emitReset(id, s, start, end, last, current, "the reset counter changed", emit);
      } else {
        emitReplaced(id, s, start, end, last, end, current, current, emit);
      }
      setBaseline(cfg, id, s, current, end);
      return;
    }

    const cand = s.candidate;
    if (cand !== undefined) {
      s.candidate = undefined;
      if (current.gte(last) && fits(cfg, current.minus(last), start, end)) {
        // The quarantined reading was a glitch: the register continues the baseline.
        emit(usage(cfg, id, start, end, last, current, current.minus(last), s, NO_FLAGS));
        setBaseline(cfg, id, s, current, end);
        return;
      }
      if (current.gte(cand.register) && fits(cfg, current.minus(cand.register), cand.at, end)) {
        // Two readings agree on a new register: it was replaced.
        emitReplaced(id, s, start, end, last, cand.at, cand.register, current, emit);
        setBaseline(cfg, id, s, current, end);
        return;
      }
    }

    if (current.gte(last)) {
      const delta = current.minus(last);
      if (!fits(cfg, delta, start, end)) {
        suspect(
          r,
          s,
          current,
          "counter.implausible",
          `register rose from ${last.toFixed()} to ${current.toFixed()}: ${delta.toFixed()} is more than the capacity allows (${budgetText(cfg, start, end)})`,
          emit,
        );
        return;
      }
      if (
        cfg.fullWrapMs !== undefined &&
        end.getTime() - start.getTime() >= cfg.fullWrapMs &&
        fits(cfg, delta.plus(cfg.rollover!), start, end)
      ) {
        // The register may also have wrapped around once or more: only `delta` is certain.
        emit(
          ambiguity(
            cfg,
            r,
            last,
            current,
            delta,
            `the register may also have wrapped around (${budgetText(cfg, start, end)}); billed the ${delta.toFixed()} every explanation agrees on`,
          ),
        );
        emit(usage(cfg, id, start, end, last, current, delta, s, AMBIGUOUS));
      } else {
        emit(usage(cfg, id, start, end, last, current, delta, s, NO_FLAGS));
      }
      setBaseline(cfg, id, s, current, end);
      return;
    }

    const wrap = cfg.rollover === undefined ? undefined : cfg.rollover.minus(last).plus(current);
    if (wrap !== undefined && wrapFits(cfg, wrap, start, end)) {
      if (
        cfg.capacity !== undefined &&
        (s.bridged ||
          (end.getTime() - start.getTime() >= cfg.fullWrapMs! &&
            fits(cfg, wrap.plus(cfg.rollover!), start, end)))
      ) {
        // A reset (or more than one wrap) fits as well: bill what both agree on.
        const gap: GapEvent = {
          kind: "gap",
          machineId: id,
          channel: cfg.channel,
          start,
          end,
          reason: "counter.ambiguous",
          detail: `register dropped from ${last.toFixed()} to ${current.toFixed()}: a rollover (${wrap.toFixed()}) and a reset both fit the capacity (${budgetText(cfg, start, end)}); up to ${wrap.minus(current).toFixed()} more than billed may have been delivered`,
        };
        emit(gap);
        emit(
          ambiguity(
            cfg,
            r,
            last,
            current,
            current,
            `a rollover (${wrap.toFixed()}) and a reset both fit the capacity (${budgetText(cfg, start, end)}); billed the ${current.toFixed()} counted since 0, ${wrap.minus(current).toFixed()} disputed`,
          ),
        );
        emit(usage(cfg, id, start, end, last, current, current, s, AMBIGUOUS));
      } else {
        emit(usage(cfg, id, start, end, last, current, wrap, s, ROLLOVER));
      }
    } else if (
      cfg.capacity === undefined ? current.lte(cfg.resetThreshold) : fits(cfg, current, start, end)
    ) {
      emitReset(id, s, start, end, last, current, "counter restarted from 0", emit);
    } else {
      suspect(
        r,
        s,
        current,
        "counter.nonMonotonic",
        `register dropped from ${last.toFixed()} to ${current.toFixed()}: neither a rollover nor a reset (${cfg.capacity === undefined ? `resetThreshold ${cfg.resetThreshold.toFixed()}` : budgetText(cfg, start, end)})`,
        emit,
      );
      return;
    }
    setBaseline(cfg, id, s, current, end);
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
        cfg,
        machineId,
        start,
        end,
        "counter.reset",
        `register dropped from ${last.toFixed()} to ${current.toFixed()}: ${why}; usage between the last reading and the reset is unknown`,
      ),
    );
    // register.start is the raw register at `start`, so records stay continuous.
    emit(usage(cfg, machineId, start, end, last, current, current, s, RESET));
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
        cfg,
        machineId,
        start,
        firstAt,
        guessed ? "counter.ambiguous" : "counter.replaced",
        `register went from ${last.toFixed()} to ${first.toFixed()}${guessed ? " (no capacity to tell a rollover, a reset and a new register apart)" : ""}: counted on the new register from there; usage before its first reading is unknown`,
      ),
    );
    emit(
      usage(
        cfg,
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
      setBaseline(cfg, r.machineId, s, cand.register, cand.at);
    } else if (base === undefined || r.sourceTime.getTime() > base.at.getTime()) {
      s.restartAt = r.sourceTime;
    }
  }

  function onReplaced(e: RegisterReplacedEvent, s: MachineState, emit: (e: MeterEvent) => void) {
    const problem = checkReplacement(cfg, e, s);
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
      if (oldFinal?.gte(last) && fits(cfg, oldFinal.minus(last), base.at, e.at)) {
        emit(
          usage(cfg, e.machineId, base.at, e.at, last, oldFinal, oldFinal.minus(last), s, RESET),
        );
      } else if (oldFinal?.lt(last) && wrapFits(cfg, wrapped(cfg, last, oldFinal), base.at, e.at)) {
        emit(
          usage(cfg, e.machineId, base.at, e.at, last, oldFinal, wrapped(cfg, last, oldFinal), s, {
            reset: true,
            rollover: true,
          }),
        );
      } else {
        emit(
          counterGap(
            cfg,
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
    setBaseline(cfg, e.machineId, s, newInitial, e.at);
    emit(e);
  }
}
