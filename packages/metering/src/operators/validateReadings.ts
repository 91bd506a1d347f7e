import { Decimal } from "decimal.js";
import {
  asyncScheduler,
  defer,
  map,
  type Observable,
  type OperatorFunction,
  type SchedulerLike,
} from "rxjs";
import type { MeterEvent, Reading } from "../reading.js";
import type { UnitCode } from "../units.js";
import {
  describe,
  isProblem,
  isValidDate,
  numericValue,
  type Problem,
  quarantineReading,
  throwIfProblems,
} from "./readingChecks.js";

/** Options of {@link validateReadings}. */
export interface ValidateReadingsOptions {
  /** Channels whose value must be a finite Decimal (channels in `units`/`nonNegative` are numeric too). */
  readonly numeric?: readonly string[];
  /** Expected UNECE unit per channel; a reading with another (or no) unit is `unit.mismatch`. */
  readonly units?: Readonly<Record<string, UnitCode>>;
  /** Channels that can never be negative (rates, totalizers): a negative value is `value.negative`. */
  readonly nonNegative?: readonly string[];
  /** What to do with `uncertain` quality: pass it on (default) or quarantine it as `quality.uncertain`. */
  readonly uncertain?: "pass" | "quarantine";
  /** How far `sourceTime` may lie ahead of `scheduler.now()` before it is `time.future`. Default 300 000 (5 min). */
  readonly maxFutureMs?: number;
  /** How far `sourceTime` may lie behind `scheduler.now()` before it is `time.past`. Default: unlimited. */
  readonly maxPastMs?: number;
}

/** Error code thrown (synchronously, by the factory) for invalid options. */
export type ValidateReadingsErrorCode = "metering.validateReadings.invalidOptions";

const DEFAULT_MAX_FUTURE_MS = 5 * 60 * 1000;

/**
 * Checks every `Reading` and replaces each unusable one by a `QuarantineEvent` naming the
 * reading and the reason; everything else (gaps, usage, other events) passes through
 * unchanged. Nothing is dropped and nothing is thrown for bad data.
 *
 * Checks, in this order (the first failing one is the event's `reason`, the message lists all):
 * - `quality.bad` — quality `bad`; `quality.uncertain` only with `uncertain: "quarantine"`.
 * - `value.notFinite` / `value.notNumeric` — a numeric channel's value is NaN/±Infinity or not a
 *   Decimal. A non-finite Decimal or JS number is quarantined on any channel, and a finite JS
 *   number too (`value.notNumeric`: sources deliver Decimals, never binary floats).
 * - `unit.mismatch` — the reading's unit differs from `units[channel]`.
 * - `value.negative` — a negative value on a `nonNegative` channel.
 * - `time.invalid` — `sourceTime` is not a valid Date.
 * - `time.future` — `sourceTime` more than `maxFutureMs` ahead of `scheduler.now()`.
 * - `time.past` — `sourceTime` more than `maxPastMs` behind `scheduler.now()`.
 * - `time.nonMonotonic` — `sourceTime` earlier than the last accepted reading of the same
 *   machine and channel (equal times pass). Quarantined readings never move that mark.
 *
 * @param options what to check; invalid options throw `metering.validateReadings.invalidOptions`
 *   listing every problem.
 * @param scheduler clock for the future/past checks (default `asyncScheduler`).
 * @example
 * ```ts
 * readings$.pipe(
 *   validateReadings({ units: { flow: "G53", total: "MTQ" }, nonNegative: ["flow", "total"] }),
 * );
 * ```
 */
export function validateReadings(
  options: ValidateReadingsOptions = {},
  scheduler: SchedulerLike = asyncScheduler,
): OperatorFunction<MeterEvent, MeterEvent> {
  const cfg = parseOptions(options);
  return (source: Observable<MeterEvent>) =>
    defer(() => {
      // Last accepted sourceTime (ms) per machine + channel, per subscription.
      const lastTime = new Map<string, number>();
      return source.pipe(
        map((event): MeterEvent => {
          if (event.kind !== "reading") return event;
          const problems = check(event, cfg, scheduler.now(), lastTime);
          if (problems.length === 0) {
            lastTime.set(key(event), event.sourceTime.getTime());
            return event;
          }
          const first = problems[0]!;
          return quarantineReading(event, {
            reason: first.reason,
            message: problems.map((p) => p.message).join("; "),
          });
        }),
      );
    });
}

interface Config {
  numeric: Set<string>;
  units: Map<string, UnitCode>;
  nonNegative: Set<string>;
  quarantineUncertain: boolean;
  maxFutureMs: number;
  maxPastMs: number | undefined;
}

function key(r: Reading): string {
  return `${r.machineId}\u0000${r.channel}`;
}

function check(r: Reading, cfg: Config, now: number, lastTime: Map<string, number>): Problem[] {
  const problems: Problem[] = [];
  if (r.quality === "bad") problems.push({ reason: "quality.bad", message: "quality is bad" });
  else if (r.quality === "uncertain" && cfg.quarantineUncertain) {
    problems.push({ reason: "quality.uncertain", message: "quality is uncertain" });
  } else if (r.quality !== "good" && r.quality !== "uncertain") {
    problems.push({ reason: "quality.bad", message: `unknown quality ${describe(r.quality)}` });
  }

  let value: Decimal | undefined;
  if (cfg.numeric.has(r.channel) || typeof r.value === "number" || Decimal.isDecimal(r.value)) {
    const v = numericValue(r.value);
    if (isProblem(v)) problems.push(v);
    else value = v;
  }

  const expectedUnit = cfg.units.get(r.channel);
  if (expectedUnit !== undefined && r.unit !== expectedUnit) {
    problems.push({
      reason: "unit.mismatch",
      message: `unit ${r.unit === undefined ? "(none)" : r.unit} is not the expected ${expectedUnit}`,
    });
  }

  if (value !== undefined && cfg.nonNegative.has(r.channel) && value.lt(0)) {
    problems.push({ reason: "value.negative", message: `value ${value.toFixed()} is negative` });
  }

  if (!isValidDate(r.sourceTime)) {
    problems.push({ reason: "time.invalid", message: "sourceTime is not a valid Date" });
    return problems;
  }
  const t = r.sourceTime.getTime();
  if (t - now > cfg.maxFutureMs) {
    problems.push({
      reason: "time.future",
      message: `sourceTime ${r.sourceTime.toISOString()} is ${t - now} ms ahead of now (max ${cfg.maxFutureMs})`,
    });
  }
  if (cfg.maxPastMs !== undefined && now - t > cfg.maxPastMs) {
    problems.push({
      reason: "time.past",
      message: `sourceTime ${r.sourceTime.toISOString()} is ${now - t} ms behind now (max ${cfg.maxPastMs})`,
    });
  }
  const last = lastTime.get(key(r));
  if (last !== undefined && t < last) {
    problems.push({
      reason: "time.nonMonotonic",
      message: `sourceTime ${r.sourceTime.toISOString()} is before the previous ${new Date(last).toISOString()}`,
    });
  }
  return problems;
}

function parseOptions(options: ValidateReadingsOptions): Config {
  const problems: string[] = [];
  const stringList = (field: string, v: unknown): string[] => {
    if (v === undefined) return [];
    if (!Array.isArray(v) || v.some((c) => typeof c !== "string")) {
      problems.push(`${field} must be an array of channel names`);
      return [];
    }
    return v as string[];
  };
  const numeric = stringList("numeric", options.numeric);
  const nonNegative = stringList("nonNegative", options.nonNegative);
  const units = new Map<string, UnitCode>();
  if (options.units !== undefined) {
    if (typeof options.units !== "object" || options.units === null) {
      problems.push("units must map channel names to unit codes");
    } else {
      for (const [channel, unit] of Object.entries(options.units)) {
        if (typeof unit !== "string" || unit.length === 0) {
          problems.push(`units.${channel} must be a unit code, got ${describe(unit)}`);
        } else units.set(channel, unit);
      }
    }
  }
  const uncertain = options.uncertain ?? "pass";
  if (uncertain !== "pass" && uncertain !== "quarantine") {
    problems.push(`uncertain must be "pass" or "quarantine", got ${describe(uncertain)}`);
  }
  const maxFutureMs = options.maxFutureMs ?? DEFAULT_MAX_FUTURE_MS;
  if (typeof maxFutureMs !== "number" || !Number.isFinite(maxFutureMs) || maxFutureMs < 0) {
    problems.push(`maxFutureMs must be a finite number >= 0, got ${describe(maxFutureMs)}`);
  }
  const maxPastMs = options.maxPastMs;
  if (
    maxPastMs !== undefined &&
    (typeof maxPastMs !== "number" || !Number.isFinite(maxPastMs) || maxPastMs <= 0)
  ) {
    problems.push(`maxPastMs must be a finite number > 0, got ${describe(maxPastMs)}`);
  }
  throwIfProblems("metering.validateReadings.invalidOptions", "validateReadings", problems);
  return {
    numeric: new Set([...numeric, ...nonNegative, ...units.keys()]),
    units,
    nonNegative: new Set(nonNegative),
    quarantineUncertain: uncertain === "quarantine",
    maxFutureMs,
    maxPastMs,
  };
}
