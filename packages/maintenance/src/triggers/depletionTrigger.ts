import { dec, type Reading } from "@maaskit/metering";
import type { Decimal } from "decimal.js";
import { Observable, type OperatorFunction } from "rxjs";
import {
  advisoryOf,
  assertTriggerOptions,
  type MaintenanceAdvisory,
  optionalPositive,
  type ServicePerformedEvent,
} from "./advisory.js";

export interface DepletionTriggerOptions {
  readonly machineId: string;
  readonly conditionId: string;
  readonly serviceType: string;
  /** Cumulative consumption register (e.g. delivered m³ for a filter, or litres of oil used). */
  readonly channel: string;
  /** Consumption a fresh consumable lasts for, in the channel's unit. */
  readonly capacity: Decimal.Value;
  /** Fraction of capacity at which to pre-alert (default 0.8). */
  readonly preAlertAt?: Decimal.Value;
  /** Register value when the consumable was last replaced (default: the first reading). */
  readonly replacedAt?: Decimal.Value;
}

/**
 * Consumable depletion (e.g. an air filter rated for 2 million m³ of air): from a
 * cumulative consumption register to a `preAlert` and a `due` advisory; a
 * `servicePerformed` event restarts from the register at service (ISO 13374 health
 * assessment).
 *
 * @example
 * readings$.pipe(depletionTrigger({ machineId: "c1", conditionId: "separator", serviceType:
 *   "separatorChange", channel: "volume", capacity: "2000000" }))
 */
export function depletionTrigger(
  options: DepletionTriggerOptions,
): OperatorFunction<Reading | ServicePerformedEvent | { kind: string }, MaintenanceAdvisory> {
  const problems: string[] = [];
  const num = (v: Decimal.Value, name: string) => optionalPositive(v, name, problems) ?? dec(1);
  const capacity = num(options.capacity, "capacity");
  const preAlertAt = num(options.preAlertAt ?? "0.8", "preAlertAt");
  if (preAlertAt.gt(1)) problems.push("preAlertAt must be a fraction <= 1");
  assertTriggerOptions("depletionTrigger", problems, options.conditionId);
  return (source) =>
    new Observable<MaintenanceAdvisory>((subscriber) => {
      let start: Decimal | undefined =
        options.replacedAt === undefined ? undefined : dec(options.replacedAt);
      let last: Reading | undefined;
      let raised: "none" | "preAlert" | "due" = "none";
      let since: Date | undefined;
      return source.subscribe({
        next(event) {
          if (event.kind === "servicePerformed") {
            const e = event as ServicePerformedEvent;
            if (e.conditionId !== options.conditionId || e.machineId !== options.machineId) return;
            const reg = e.registers?.[options.channel];
            start = reg !== undefined ? dec(reg) : (last?.value as Decimal | undefined);
            raised = "none";
            since = undefined;
            return;
          }
          if (event.kind !== "reading") return;
          const r = event as Reading;
          if (r.machineId !== options.machineId || r.channel !== options.channel) return;
          if (r.quality === "bad" || typeof r.value !== "object") return;
          last = r;
          const value = r.value as Decimal;
          start ??= value;
          const used = value.minus(start).div(capacity);
          const level = used.gte(1) ? "due" : used.gte(preAlertAt) ? "preAlert" : "none";
          if (level === "none" || level === raised || (raised === "due" && level === "preAlert")) {
            return;
          }
          raised = level;
          since ??= r.sourceTime;
          subscriber.next(
            advisoryOf(options, "healthAssessment", {
              severity: level,
              since,
              at: r.sourceTime,
              errorCode: "consumable.depleted",
              message: `${options.serviceType}: ${used.times(100).toDecimalPlaces(1).toFixed()} % of capacity used`,
              readings: [r],
            }),
          );
        },
        error: (e) => subscriber.error(e),
        complete: () => subscriber.complete(),
      });
    });
}
