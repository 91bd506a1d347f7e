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

/** A service interval: whichever limit is reached first makes the service due. */
export interface IntervalTriggerOptions {
  readonly machineId: string;
  readonly conditionId: string;
  readonly serviceType: string;
  /** Channels carrying cumulative hour meters (unit HUR). */
  readonly channels?: { readonly runHours?: string; readonly loadedHours?: string };
  readonly every: {
    readonly runHours?: Decimal.Value;
    readonly loadedHours?: Decimal.Value;
    /** Calendar months since the last service (e.g. 12). */
    readonly months?: number;
  };
  /** Fraction of the interval at which a pre-alert is raised (default 0.9). */
  readonly preAlertAt?: Decimal.Value;
  /** Meter values and time of the last service; defaults to the first reading seen. */
  readonly lastService?: {
    readonly at: Date;
    readonly runHours?: Decimal.Value;
    readonly loadedHours?: Decimal.Value;
  };
}

type Dimension = "runHours" | "loadedHours" | "calendar";

/**
 * Run-hour / loaded-hour / calendar service interval (e.g. oil every 4000 h or 12 months,
 * whichever comes first) as a pipeable operator from readings to advisories: one
 * `preAlert` when the most advanced dimension passes `preAlertAt` of its interval, one `due`
 * when it reaches the interval. A `servicePerformed` event for the condition restarts the
 * interval from the registers it carries (ISO 13374 health assessment).
 *
 * @example
 * readings$.pipe(intervalTrigger({ machineId: "c1", conditionId: "oil", serviceType: "oilChange",
 *   channels: { runHours: "runHours" }, every: { runHours: 4000, months: 12 } }))
 */
export function intervalTrigger(
  options: IntervalTriggerOptions,
): OperatorFunction<Reading | ServicePerformedEvent | { kind: string }, MaintenanceAdvisory> {
  const problems: string[] = [];
  const every = {
    runHours: optionalPositive(options.every.runHours, "every.runHours", problems),
    loadedHours: optionalPositive(options.every.loadedHours, "every.loadedHours", problems),
    months: options.every.months,
  };
  if (every.months !== undefined && !(Number.isInteger(every.months) && every.months > 0)) {
    problems.push("every.months must be a positive integer");
  }
  if (every.runHours && !options.channels?.runHours) {
    problems.push("channels.runHours is required with every.runHours");
  }
  if (every.loadedHours && !options.channels?.loadedHours) {
    problems.push("channels.loadedHours is required with every.loadedHours");
  }
  if (!every.runHours && !every.loadedHours && every.months === undefined) {
    problems.push("every needs at least one of runHours, loadedHours, months");
  }
  const preAlertAt = optionalPositive(options.preAlertAt ?? "0.9", "preAlertAt", problems);
  if (preAlertAt?.gt(1)) problems.push("preAlertAt must be a fraction <= 1");
  assertTriggerOptions("intervalTrigger", problems, options.conditionId);

  return (source) =>
    new Observable<MaintenanceAdvisory>((subscriber) => {
      let base:
        | { at: Date; runHours?: Decimal | undefined; loadedHours?: Decimal | undefined }
        | undefined = options.lastService && {
        at: options.lastService.at,
        runHours: optionalDec(options.lastService.runHours),
        loadedHours: optionalDec(options.lastService.loadedHours),
      };
      const current: { runHours?: Reading; loadedHours?: Reading } = {};
      let raised: "none" | "preAlert" | "due" = "none";
      let since: Date | undefined;

      const evaluate = (at: Date) => {
        if (!base) return;
        const progress: [Dimension, Decimal][] = [];
        for (const dim of ["runHours", "loadedHours"] as const) {
          const limit = every[dim];
          const r = current[dim];
          const from = base[dim];
          if (limit && r && from !== undefined) {
            progress.push([dim, (r.value as Decimal).minus(from).div(limit)]);
          }
        }
        if (every.months !== undefined) {
          const dueAt = addMonthsUtc(base.at, every.months);
          const span = dueAt.getTime() - base.at.getTime();
          progress.push(["calendar", dec(at.getTime() - base.at.getTime()).div(span)]);
        }
        if (progress.length === 0) return;
        const [dim, p] = progress.reduce((a, b) => (b[1].gt(a[1]) ? b : a));
        const level = p.gte(1) ? "due" : preAlertAt && p.gte(preAlertAt) ? "preAlert" : "none";
        if (level === "none" || level === raised || (raised === "due" && level === "preAlert")) {
          return;
        }
        since ??= at;
        raised = level;
        const readings = [current.runHours, current.loadedHours].filter(
          (r): r is Reading => r !== undefined,
        );
        subscriber.next(
          advisoryOf(options, "healthAssessment", {
            severity: level,
            since,
            at,
            errorCode: `interval.${dim}`,
            message: `${options.serviceType}: ${p.times(100).toDecimalPlaces(1).toFixed()} % of the ${dim} interval reached`,
            readings,
          }),
        );
      };

      return source.subscribe({
        next(event) {
          if (event.kind === "servicePerformed") {
            const e = event as ServicePerformedEvent;
            if (e.conditionId !== options.conditionId || e.machineId !== options.machineId) return;
            base = {
              at: e.at,
              runHours: hoursAt(e, options.channels?.runHours) ?? current.runHours?.value,
              loadedHours: hoursAt(e, options.channels?.loadedHours) ?? current.loadedHours?.value,
            } as typeof base;
            raised = "none";
            since = undefined;
            return;
          }
          if (event.kind !== "reading") return;
          const r = event as Reading;
          if (r.machineId !== options.machineId || r.quality === "bad") return;
          const dim =
            r.channel === options.channels?.runHours
              ? "runHours"
              : r.channel === options.channels?.loadedHours
                ? "loadedHours"
                : undefined;
          if (dim !== undefined && typeof r.value === "object") current[dim] = r;
          base ??= {
            at: r.sourceTime,
            runHours: current.runHours?.value as Decimal | undefined,
            loadedHours: current.loadedHours?.value as Decimal | undefined,
          };
          if (dim && base[dim] === undefined) base[dim] = r.value as Decimal;
          evaluate(r.sourceTime);
        },
        error: (e) => subscriber.error(e),
        complete: () => subscriber.complete(),
      });
    });
}

function hoursAt(e: ServicePerformedEvent, channel: string | undefined): Decimal | undefined {
  const v = channel ? e.registers?.[channel] : undefined;
  return v === undefined ? undefined : dec(v);
}

function optionalDec(v: Decimal.Value | undefined): Decimal | undefined {
  return v === undefined ? undefined : dec(v);
}

/** Adds calendar months in UTC, clamping to the month's last day (Jan 31 + 1 month = Feb 28/29). */
export function addMonthsUtc(d: Date, months: number): Date {
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth() + months;
  const lastDay = new Date(Date.UTC(y, m + 1, 0)).getUTCDate();
  return new Date(
    Date.UTC(
      y,
      m,
      Math.min(d.getUTCDate(), lastDay),
      d.getUTCHours(),
      d.getUTCMinutes(),
      d.getUTCSeconds(),
      d.getUTCMilliseconds(),
    ),
  );
}
