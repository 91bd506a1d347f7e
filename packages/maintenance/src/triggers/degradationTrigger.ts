import { dec, MaaskitError, type MeterWindow } from "@maaskit/metering";
import type { Decimal } from "decimal.js";
import { Observable, type OperatorFunction } from "rxjs";
import { advisoryOf, assertTriggerOptions, type MaintenanceAdvisory } from "./advisory.js";

export interface DegradationTriggerOptions<W> {
  readonly machineId: string;
  readonly conditionId: string;
  readonly serviceType: string;
  /** The health indicator of a window (e.g. OEE availability, or m³ per kWh); undefined skips it. */
  readonly metric: (window: W) => Decimal | undefined;
  /** How many consecutive windows the trend is fitted over. */
  readonly windows: number;
  /** Fire when the least-squares slope per window is at or below this (negative) value. */
  readonly slopeAtMost: Decimal.Value;
  /** Name used in messages, e.g. "availability". */
  readonly metricName?: string;
}

/**
 * Degradation: fits a least-squares line through the health indicator of the last N
 * windows and raises an `alarm` when it falls at least as steeply as `slopeAtMost` per
 * window; `cleared` once the trend recovers (ISO 13374 health assessment). Exact Decimal
 * arithmetic: the slope is Σ(x−x̄)(y−ȳ) / Σ(x−x̄)².
 *
 * @example
 * windows$.pipe(degradationTrigger({ machineId: "c1", conditionId: "availability-trend",
 *   serviceType: "inspection", windows: 8, slopeAtMost: "-0.005",
 *   metric: (w) => w.oee?.availability }))
 */
export function degradationTrigger<W extends MeterWindow<unknown>>(
  options: DegradationTriggerOptions<W>,
): OperatorFunction<W, MaintenanceAdvisory> {
  const problems: string[] = [];
  if (!Number.isInteger(options.windows) || options.windows < 3) {
    problems.push("windows must be an integer >= 3");
  }
  let threshold = dec(0);
  try {
    threshold = dec(options.slopeAtMost);
    if (threshold.gte(0)) problems.push("slopeAtMost must be negative");
  } catch {
    problems.push("slopeAtMost must be a decimal number");
  }
  assertTriggerOptions("degradationTrigger", problems, options.conditionId);
  const name = options.metricName ?? "metric";
  return (source) =>
    new Observable<MaintenanceAdvisory>((subscriber) => {
      const ys: Decimal[] = [];
      let active = false;
      let since: Date | undefined;
      return source.subscribe({
        next(w) {
          let y: Decimal | undefined;
          try {
            y = options.metric(w);
          } catch (cause) {
            subscriber.error(
              new MaaskitError("maintenance.trigger.callbackFailed", "metric callback threw", {
                details: { conditionId: options.conditionId },
                cause,
              }),
            );
            return;
          }
          if (y === undefined || w.machineId !== options.machineId) return;
          ys.push(y);
          if (ys.length > options.windows) ys.shift();
          if (ys.length < options.windows) return;
          const s = slope(ys);
          const falling = s.lte(threshold);
          if (falling === active) return;
          active = falling;
          if (falling) since = w.start;
          subscriber.next(
            advisoryOf(options, "healthAssessment", {
              severity: falling ? "alarm" : "cleared",
              since: since ?? w.start,
              at: w.end,
              errorCode: "degradation.trend",
              message: `${name} trend ${s.toSignificantDigits(4).toFixed()} per window over ${options.windows} windows`,
              readings: [],
            }),
          );
        },
        error: (e) => subscriber.error(e),
        complete: () => subscriber.complete(),
      });
    });
}

/** Least-squares slope of ys against x = 0, 1, 2, … */
export function slope(ys: readonly Decimal[]): Decimal {
  const n = ys.length;
  const xMean = dec(n - 1).div(2);
  const yMean = ys.reduce((a, b) => a.plus(b), dec(0)).div(n);
  let num = dec(0);
  let den = dec(0);
  ys.forEach((y, i) => {
    const dx = dec(i).minus(xMean);
    num = num.plus(dx.times(y.minus(yMean)));
    den = den.plus(dx.times(dx));
  });
  return num.div(den);
}
