import { dec, type LogEntry } from "@maaskit/metering";
import type { Decimal } from "decimal.js";
import { addMonthsUtc } from "../triggers/intervalTrigger.js";
import type { ServicePerformedPayload } from "./maintenanceHistory.js";

/** A service the warranty requires at an interval (whichever limit comes first). */
export interface RequiredInterval {
  readonly serviceType: string;
  readonly every: { readonly runHours?: Decimal.Value; readonly months?: number };
  /** Extra run hours allowed beyond the interval before it counts as late (default 0). */
  readonly toleranceRunHours?: Decimal.Value;
}

export interface WarrantyFinding {
  readonly serviceType: string;
  /** Each interval in turn: when it started, its limit, and when (if) it was serviced. */
  readonly intervals: readonly {
    readonly from: { readonly at: string; readonly runHours: string };
    readonly dueBy: { readonly at?: string; readonly runHours?: string };
    readonly servicedAt?: { readonly at: string; readonly runHours: string; readonly seq: number };
    readonly status: "inTime" | "late" | "open" | "overdue";
  }[];
}

export interface WarrantyReport {
  /** True when no interval was serviced late and none is overdue now. */
  readonly compliant: boolean;
  readonly findings: readonly WarrantyFinding[];
}

/**
 * Checks a verified maintenance history against the warranty's required intervals: every
 * `service.performed` of each type must come before the previous one (or commissioning)
 * plus the interval in run hours or calendar months. `now` (time and run hours) tells
 * whether the open interval is already overdue.
 *
 * @example checkWarranty(history.entries(), [{ serviceType: "oilChange", every: { runHours: 4000, months: 12 } }],
 *   { commissioned: { at, runHours: "0" }, now: { at, runHours: "3900" } })
 */
export function checkWarranty(
  entries: readonly LogEntry[],
  required: readonly RequiredInterval[],
  context: {
    commissioned: { at: Date; runHours: Decimal.Value };
    now: { at: Date; runHours: Decimal.Value };
  },
): WarrantyReport {
  const findings = required.map((req): WarrantyFinding => {
    const services = entries
      .filter((e) => e.type === "service.performed")
      .filter((e) => (e.payload as ServicePerformedPayload).serviceType === req.serviceType);
    const intervals: WarrantyFinding["intervals"][number][] = [];
    let from = { at: context.commissioned.at, runHours: dec(context.commissioned.runHours) };
    const tolerance = dec(req.toleranceRunHours ?? 0);
    const limitOf = (f: typeof from) => ({
      at: req.every.months === undefined ? undefined : addMonthsUtc(f.at, req.every.months),
      runHours:
        req.every.runHours === undefined ? undefined : f.runHours.plus(dec(req.every.runHours)),
    });
    const late = (limit: ReturnType<typeof limitOf>, at: Date, runHours: Decimal) =>
      (limit.at !== undefined && at.getTime() > limit.at.getTime()) ||
      (limit.runHours !== undefined && runHours.gt(limit.runHours.plus(tolerance)));
    const show = (limit: ReturnType<typeof limitOf>) => ({
      ...(limit.at ? { at: limit.at.toISOString() } : {}),
      ...(limit.runHours ? { runHours: limit.runHours.toFixed() } : {}),
    });
    for (const s of services) {
      const p = s.payload as ServicePerformedPayload;
      const at = new Date(s.at);
      const runHours = dec(p.runHours ?? "0");
      const limit = limitOf(from);
      intervals.push({
        from: { at: from.at.toISOString(), runHours: from.runHours.toFixed() },
        dueBy: show(limit),
        servicedAt: { at: s.at, runHours: runHours.toFixed(), seq: s.seq },
        status: late(limit, at, runHours) ? "late" : "inTime",
      });
      from = { at, runHours };
    }
    const limit = limitOf(from);
    intervals.push({
      from: { at: from.at.toISOString(), runHours: from.runHours.toFixed() },
      dueBy: show(limit),
      status: late(limit, context.now.at, dec(context.now.runHours)) ? "overdue" : "open",
    });
    return { serviceType: req.serviceType, intervals };
  });
  return {
    compliant: findings.every((f) =>
      f.intervals.every((i) => i.status === "inTime" || i.status === "open"),
    ),
    findings,
  };
}
