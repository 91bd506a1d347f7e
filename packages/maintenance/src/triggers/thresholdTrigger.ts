import { dec, type Reading } from "@maaskit/metering";
import type { Decimal } from "decimal.js";
import { Observable, type OperatorFunction } from "rxjs";
import {
  type AdvisorySeverity,
  advisoryOf,
  assertTriggerOptions,
  type MaintenanceAdvisory,
} from "./advisory.js";

/** A limit with hysteresis and a minimum duration on one numeric channel. */
export interface ThresholdTriggerOptions {
  readonly machineId: string;
  readonly conditionId: string;
  readonly serviceType: string;
  readonly channel: string;
  /** Fire when the value is above (or `below`) this limit… */
  readonly above?: Decimal.Value;
  readonly below?: Decimal.Value;
  /** …and clear only once it is back beyond this level (hysteresis). */
  readonly clearAt: Decimal.Value;
  /** The value must stay beyond the limit this long (source time) before firing. */
  readonly minDurationMs?: number;
  /** Severity raised when firing (default `due`). */
  readonly severity?: Exclude<AdvisorySeverity, "cleared">;
}

/**
 * Threshold with hysteresis and minimum duration, e.g. air-filter differential pressure
 * above 0.35 bar for 10 min, cleared below 0.15 bar (ISO 13374 state detection). Emits one
 * advisory when the condition is confirmed and one `cleared` when it ends; bad-quality
 * and non-numeric readings never change the state.
 *
 * @example
 * readings$.pipe(thresholdTrigger({ machineId: "c1", conditionId: "air-filter", serviceType:
 *   "airFilterChange", channel: "filterDp", above: "0.35", clearAt: "0.15", minDurationMs: 600_000 }))
 */
export function thresholdTrigger(
  options: ThresholdTriggerOptions,
): OperatorFunction<Reading | { kind: string }, MaintenanceAdvisory> {
  const problems: string[] = [];
  const parse = (v: Decimal.Value | undefined, name: string) => {
    if (v === undefined) return undefined;
    try {
      return dec(v);
    } catch {
      problems.push(`${name} must be a decimal number`);
      return undefined;
    }
  };
  const above = parse(options.above, "above");
  const below = parse(options.below, "below");
  const clearAt = parse(options.clearAt, "clearAt");
  if ((above === undefined) === (below === undefined)) {
    problems.push("exactly one of above / below is required");
  }
  if (above && clearAt && clearAt.gt(above)) problems.push("clearAt must be <= above");
  if (below && clearAt && clearAt.lt(below)) problems.push("clearAt must be >= below");
  const minDurationMs = options.minDurationMs ?? 0;
  if (!Number.isInteger(minDurationMs) || minDurationMs < 0) {
    problems.push("minDurationMs must be a non-negative integer");
  }
  assertTriggerOptions("thresholdTrigger", problems, options.conditionId);
  const beyond = (v: Decimal) => (above ? v.gt(above) : v.lt(below!));
  const back = (v: Decimal) => (above ? v.lt(clearAt!) : v.gt(clearAt!));

  return (source) =>
    new Observable<MaintenanceAdvisory>((subscriber) => {
      let state: "normal" | "pending" | "active" = "normal";
      let since: Date | undefined;
      const trail: Reading[] = [];
      const emit = (severity: AdvisorySeverity, r: Reading, message: string) =>
        subscriber.next(
          advisoryOf(options, "stateDetection", {
            severity,
            since: since ?? r.sourceTime,
            at: r.sourceTime,
            errorCode: above ? "threshold.above" : "threshold.below",
            message,
            readings: [...trail],
          }),
        );
      return source.subscribe({
        next(event) {
          if (event.kind !== "reading") return;
          const r = event as Reading;
          if (r.machineId !== options.machineId || r.channel !== options.channel) return;
          if (r.quality === "bad" || typeof r.value !== "object") return;
          const v = r.value as Decimal;
          if (state === "active") {
            if (back(v)) {
              trail.splice(0, trail.length, r);
              emit("cleared", r, `${options.channel} back to ${v.toFixed()}`);
              state = "normal";
              since = undefined;
            }
            return;
          }
          if (!beyond(v)) {
            state = "normal";
            since = undefined;
            trail.length = 0;
            return;
          }
          if (state === "normal") {
            state = "pending";
            since = r.sourceTime;
          }
          trail.push(r);
          if (trail.length > 16) trail.shift();
          if (r.sourceTime.getTime() - since!.getTime() >= minDurationMs) {
            state = "active";
            emit(
              options.severity ?? "due",
              r,
              `${options.channel} = ${v.toFixed()} ${above ? "above" : "below"} ${(above ?? below)!.toFixed()} since ${since!.toISOString()}`,
            );
          }
        },
        error: (e) => subscriber.error(e),
        complete: () => subscriber.complete(),
      });
    });
}
