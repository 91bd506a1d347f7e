import type { Decimal } from "decimal.js";
import type { OperatorFunction } from "rxjs";
import { Dec } from "../quantity.js";
import type { GapEvent, MeterEvent, Reading, UsageEvent, UsageFlags } from "../reading.js";
import { rateUnits, type UnitCode, type VolumeBasis, volumeBases } from "../units.js";
import { decimalOf, decimalOfBig } from "./fixedPoint.js";
import { quantizeRatio } from "./quantizeRatio.js";
import {
  addInterval,
  emptySum,
  type RateFixed,
  type RateSum,
  rateFixed,
  setRate,
  startSum,
  sumSteps,
} from "./rateSum.js";
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

/**
 * Where the integration of one machine's rate stands: the state `integrateRate` resumes
 * from. `emitted` is always `quantize(numerator / (2000 · secondsPerTimeUnit), resolution)`.
 */
export interface IntegrateRateState {
  readonly machineId: string;
  /** Last good sample: rate and time. */
  readonly rate: Decimal;
  readonly at: Date;
  /** Exact running sum Σ (r1 + r2) · Δt_ms over every integrated interval (rate unit · ms). */
  readonly numerator: Decimal;
  /** Volume emitted so far, in the volume unit. */
  readonly emitted: Decimal;
}

/**
 * State to resume from after a restart (as reported by `onState`). `numerator` defaults to
 * 0 and `emitted` to its quantized value; without `machineId` it applies to every machine
 * that has no entry of its own.
 */
export interface IntegrateRateInitial {
  readonly machineId?: string;
  readonly rate: Decimal.Value;
  readonly at: Date;
  readonly numerator?: Decimal.Value;
  readonly emitted?: Decimal.Value;
}

/** Options of {@link integrateRate}. */
export interface IntegrateRateOptions {
  /** The flow-rate channel; readings of other channels pass through unchanged. */
  readonly channel: string;
  /** UNECE rate unit, a key of `rateUnits` (`G53` m³/min, `MQH` m³/h, `MQS`, `KWT`). */
  readonly unit: UnitCode;
  /** Reference basis of the volume, copied onto every usage quantity. */
  readonly basis?: VolumeBasis;
  /** Longest interval between two good samples that is integrated; longer ones are gaps. */
  readonly maxGapMs: number;
  /**
   * Resolution of the emitted volume, in the volume unit: the running total is rounded to
   * a multiple of it, half-even. Default `"1e-9"`.
   */
  readonly resolution?: Decimal.Value;
  /** State to resume from; see {@link IntegrateRateInitial}. */
  readonly initial?: IntegrateRateInitial | readonly IntegrateRateInitial[];
  /** Called after every accepted sample with the machine's state (to journal). If it throws, the stream errors. */
  readonly onState?: (state: IntegrateRateState) => void;
}

/** Error code thrown (synchronously, by the factory) for invalid options. */
export type IntegrateRateErrorCode = "metering.integrateRate.invalidOptions";

const BASES: readonly string[] = volumeBases;

/**
 * Integrates a flow-rate channel (e.g. m³/min) into volume `UsageEvent`s with the
 * trapezoidal rule between consecutive good samples, per machine; each usage covers
 * `[previous sample, this sample]` and is flagged `derivedFromRate`.
 *
 * Exactness: `x / 60` or `x / 3600` is not a terminating decimal, so nothing is divided per
 * interval. Per machine the operator keeps the exact sum `S = Σ (r1 + r2) · Δt_ms` and
 * emits `quantize(S / (2000 · secondsPerTimeUnit)) − emittedSoFar`, where `quantize` rounds
 * exactly (rational arithmetic, no intermediate rounding) to a multiple of `resolution`
 * (default 1e-9 of the volume unit), half-even. So the emitted total always equals the
 * exact integral quantized once, and any split of the stream (state carried through
 * `onState`/`initial`) gives the same total.
 *
 * Gaps: an interval longer than `maxGapMs` is not integrated — no volume is invented; a
 * `GapEvent` (reason `"rate.maxGapExceeded"`) is emitted and integration restarts at the new
 * sample. A source `GapEvent` for the channel (or machine) within `maxGapMs` is interpolated
 * and the usage flagged `bridged`.
 *
 * Readings that are bad quality, non-numeric, non-finite, negative, in another unit, or
 * earlier than the previous sample (`time.nonMonotonic`) are quarantined and skipped.
 * Uncertain quality is used. A sample at the same time as the previous one replaces its
 * rate (no interval, no usage). Readings of the channel are consumed; every other event
 * passes through unchanged.
 *
 * @param options see {@link IntegrateRateOptions}; invalid options throw
 *   `metering.integrateRate.invalidOptions` listing every problem.
 * @example
 * ```ts
 * readings$.pipe(integrateRate({ channel: "flow", unit: "G53", maxGapMs: 60_000, basis: "ISO1217-FAD" }));
 * ```
 */
export function integrateRate(
  options: IntegrateRateOptions,
): OperatorFunction<MeterEvent, MeterEvent> {
  const cfg = parseOptions(options);
  return statefulOperator<MeterEvent, MeterEvent>(() => {
    const machines = new Map<string, MachineState>();
    const stateOf = (machineId: string): MachineState => {
      let s = machines.get(machineId);
      if (s === undefined) {
        const init = cfg.initial.get(machineId) ?? cfg.initial.get(undefined);
        s = { ...emptySum(), last: undefined, bridged: false };
        if (init !== undefined) {
          // The state's own copy: it is updated in place on every sample.
          s.last = { rate: init.last.rate, at: init.last.at };
          setRate(s, init.last.rate);
          if (!startSum(s, cfg.fixed, init.numerator)) {
            s.dec = { numerator: init.numerator, emitted: init.emitted };
          }
        }
        machines.set(machineId, s);
      }
      return s;
    };

    return (event, emit) => {
      if (event.kind === "reading" && event.channel === cfg.channel) {
        onReading(event, stateOf(event.machineId), emit);
        return;
      }
      if (event.kind === "gap" && (event.channel === undefined || event.channel === cfg.channel)) {
        stateOf(event.machineId).bridged = true;
      }
      emit(event);
    };
  });

  function onReading(r: Reading, s: MachineState, emit: (e: MeterEvent) => void): void {
    const checked = check(r, s);
    if (isProblem(checked)) {
      emit(quarantineReading(r, checked));
      return;
    }
    const rate = checked;
    const last = s.last;
    if (last !== undefined) {
      const dt = r.sourceTime.getTime() - last.at.getTime();
      if (dt > cfg.maxGapMs) {
        const gap: GapEvent = {
          kind: "gap",
          machineId: r.machineId,
          channel: cfg.channel,
          start: last.at,
          end: r.sourceTime,
          reason: "rate.maxGapExceeded",
          detail: `${dt} ms between samples exceeds maxGapMs ${cfg.maxGapMs}; no volume integrated`,
        };
        s.bridged = false;
        emit(gap);
      } else if (dt > 0) {
        const increment = integrate(s, last.rate, rate, dt);
        const usage: UsageEvent = {
          kind: "usage",
          machineId: r.machineId,
          channel: cfg.channel,
          quantity:
            cfg.basis === undefined
              ? { value: increment, unit: cfg.volumeUnit }
              : { value: increment, unit: cfg.volumeUnit, basis: cfg.basis },
          start: last.at,
          end: r.sourceTime,
          flags: s.bridged ? BRIDGED_RATE : FROM_RATE,
        };
        s.bridged = false;
        emit(usage);
      }
    }
    if (last === undefined || s.rateOf !== rate) setRate(s, rate);
    if (last === undefined) s.last = { rate, at: r.sourceTime };
    else {
      last.rate = rate;
      last.at = r.sourceTime;
    }
    if (cfg.onState !== undefined) {
      cfg.onState({
        machineId: r.machineId,
        rate,
        at: r.sourceTime,
        numerator: s.dec?.numerator ?? numeratorOf(s),
        emitted: s.dec?.emitted ?? emittedOf(s),
      });
    }
  }

  /**
   * Adds `(r1 + r2) · dt` to the machine's exact sum and returns the quantized increment. On
   * scaled bigints (exact, as the 64-digit Decimals were while they had fewer than 60 digits);
   * a sum that reaches 10^60 continues in Decimal arithmetic, exactly as before.
   */
  function integrate(s: MachineState, r1: Decimal, r2: Decimal, dt: number): Decimal {
    if (s.dec === undefined) {
      const increment = addInterval(s, cfg.fixed, r2, dt);
      if (increment !== undefined) return increment;
      s.dec = { numerator: numeratorOf(s), emitted: emittedOf(s) };
    }
    s.dec.numerator = s.dec.numerator.plus(r1.plus(r2).times(dt));
    const total = quantizeRatio(s.dec.numerator, cfg.denominator, cfg.resolution);
    const increment = total.minus(s.dec.emitted);
    s.dec.emitted = total;
    return increment;
  }

  function numeratorOf(s: MachineState): Decimal {
    return s.numF >= 0 ? decimalOf(s.numF, s.numK) : decimalOfBig(s.num, s.numK);
  }

  function emittedOf(s: MachineState): Decimal {
    return decimalOfBig(sumSteps(s) * cfg.fixed.resolution, cfg.fixed.resolutionK);
  }

  function check(r: Reading, s: MachineState): Decimal | Problem {
    if (r.quality === "bad") return { reason: "quality.bad", message: "quality is bad" };
    const v = numericValue(r.value);
    if (isProblem(v)) return v;
    if (v.isNeg() && !v.isZero()) {
      return { reason: "value.negative", message: `rate ${v.toFixed()} is negative` };
    }
    if (r.unit !== undefined && r.unit !== cfg.unit) {
      return { reason: "unit.mismatch", message: `unit ${r.unit} is not the expected ${cfg.unit}` };
    }
    if (!isValidDate(r.sourceTime)) {
      return { reason: "time.invalid", message: "sourceTime is not a valid Date" };
    }
    if (s.last !== undefined && r.sourceTime.getTime() < s.last.at.getTime()) {
      return {
        reason: "time.nonMonotonic",
        message: `sourceTime ${r.sourceTime.toISOString()} is before the previous sample at ${s.last.at.toISOString()}`,
      };
    }
    return v;
  }
}

const ZERO = new Dec(0);
/** Usage flags of integrated volume (shared, frozen: events never own their flags). */
const FROM_RATE: UsageFlags = Object.freeze({ derivedFromRate: true });
const BRIDGED_RATE: UsageFlags = Object.freeze({ derivedFromRate: true, bridged: true });

/** A machine's running sum (see rateSum.ts), last sample, and Decimal sums past 10^60. */
interface MachineState extends RateSum {
  last: { rate: Decimal; at: Date } | undefined;
  /** Set once the sum reaches 10^60: Decimal arithmetic from there. */
  dec?: { numerator: Decimal; emitted: Decimal };
  bridged: boolean;
}

interface Config {
  channel: string;
  unit: UnitCode;
  volumeUnit: UnitCode;
  basis: VolumeBasis | undefined;
  maxGapMs: number;
  resolution: Decimal;
  denominator: Decimal;
  initial: Map<string | undefined, InitialState>;
  onState: ((state: IntegrateRateState) => void) | undefined;
  /** The quantisation on integers (rateSum.ts). */
  fixed: RateFixed;
}

interface InitialState {
  last: { rate: Decimal; at: Date };
  numerator: Decimal;
  emitted: Decimal;
}

function parseOptions(options: IntegrateRateOptions): Config {
  const problems: string[] = [];
  if (typeof options !== "object" || options === null) {
    throwIfProblems("metering.integrateRate.invalidOptions", "integrateRate", [
      "options must be an object",
    ]);
  }
  if (typeof options.channel !== "string" || options.channel.length === 0) {
    problems.push(`channel must be a non-empty string, got ${describe(options.channel)}`);
  }
  const rateUnit = Object.hasOwn(rateUnits, options.unit) ? rateUnits[options.unit] : undefined;
  if (rateUnit === undefined) {
    problems.push(
      `unit must be a rate unit (${Object.keys(rateUnits).join(", ")}), got ${describe(options.unit)}`,
    );
  }
  if (options.basis !== undefined && !BASES.includes(options.basis)) {
    problems.push(`basis must be one of ${BASES.join(", ")}, got ${describe(options.basis)}`);
  }
  const maxGapMs = options.maxGapMs;
  if (typeof maxGapMs !== "number" || !Number.isFinite(maxGapMs) || maxGapMs <= 0) {
    problems.push(`maxGapMs must be a finite number > 0, got ${describe(maxGapMs)}`);
  }
  const resolution =
    decimalOption(options.resolution, "resolution", problems, (d) =>
      d.gt(0) ? undefined : "must be > 0",
    ) ?? (options.resolution === undefined ? new Dec("1e-9") : undefined);
  const denominator = new Dec(2000).times(rateUnit?.secondsPerTimeUnit ?? 1);
  const initial = new Map<string | undefined, InitialState>();
  if (options.initial !== undefined) {
    const list: readonly IntegrateRateInitial[] = Array.isArray(options.initial)
      ? options.initial
      : [options.initial as IntegrateRateInitial];
    list.forEach((init, i) => {
      const field = Array.isArray(options.initial) ? `initial[${i}]` : "initial";
      if (typeof init !== "object" || init === null) {
        problems.push(`${field} must be { rate, at, numerator?, emitted? }`);
        return;
      }
      const nonNegative = (d: Decimal) => (d.lt(0) ? "must be >= 0" : undefined);
      const rate = decimalOption(init.rate, `${field}.rate`, problems, nonNegative);
      if (init.rate === undefined) problems.push(`${field}.rate is missing`);
      const numerator =
        decimalOption(init.numerator, `${field}.numerator`, problems, nonNegative) ??
        (init.numerator === undefined ? ZERO : undefined);
      let emitted = decimalOption(init.emitted, `${field}.emitted`, problems);
      if (numerator !== undefined && resolution !== undefined) {
        const expected = quantizeRatio(numerator, denominator, resolution);
        if (emitted !== undefined && !emitted.eq(expected)) {
          problems.push(
            `${field}.emitted must be ${expected.toFixed()} (the quantized numerator), got ${emitted.toFixed()}`,
          );
        }
        emitted = expected;
      }
      if (!isValidDate(init.at)) problems.push(`${field}.at must be a valid Date`);
      if (init.machineId !== undefined && typeof init.machineId !== "string") {
        problems.push(`${field}.machineId must be a string`);
      }
      if (initial.has(init.machineId)) {
        problems.push(`${field} repeats machine ${init.machineId ?? "(any)"}`);
      }
      if (
        rate !== undefined &&
        numerator !== undefined &&
        emitted !== undefined &&
        isValidDate(init.at)
      ) {
        initial.set(init.machineId, { last: { rate, at: init.at }, numerator, emitted });
      }
    });
  }
  if (options.onState !== undefined && typeof options.onState !== "function") {
    problems.push("onState must be a function");
  }
  throwIfProblems("metering.integrateRate.invalidOptions", "integrateRate", problems);
  return {
    channel: options.channel,
    unit: options.unit,
    volumeUnit: rateUnit!.volumeUnit,
    basis: options.basis,
    maxGapMs,
    resolution: resolution!,
    denominator,
    initial,
    onState: options.onState,
    fixed: rateFixed(resolution!, rateUnit!.secondsPerTimeUnit),
  };
}
