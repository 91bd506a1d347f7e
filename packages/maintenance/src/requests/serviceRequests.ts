import { Observable, type OperatorFunction } from "rxjs";
import type {
  AdvisorySeverity,
  MaintenanceAdvisory,
  ServicePerformedEvent,
} from "../triggers/advisory.js";
import type { ServicePriority, ServiceRequest } from "./serviceRequest.js";

export interface ServiceRequestsOptions {
  /** Which severities open a request (default: due and alarm; pre-alerts only inform). */
  readonly openOn?: readonly AdvisorySeverity[];
  /** Priority per severity (default due → medium, alarm → high). */
  readonly priority?: Partial<Record<AdvisorySeverity, ServicePriority>>;
  /** Conditions already open (e.g. restored from the maintenance history after a restart). */
  readonly open?: readonly {
    readonly machineId: string;
    readonly conditionId: string;
    readonly count: number;
  }[];
}

/**
 * From advisories to service requests, at most one open request per condition: a second
 * trigger for a condition whose request is still open raises nothing. A request closes when
 * a `servicePerformed` event for its condition arrives (a `cleared` advisory alone does not
 * close it: the work must be done and confirmed).
 *
 * @example
 * merge(advisories$, servicePerformed$).pipe(serviceRequests())
 */
export function serviceRequests(
  options: ServiceRequestsOptions = {},
): OperatorFunction<MaintenanceAdvisory | ServicePerformedEvent, ServiceRequest> {
  const openOn = new Set(options.openOn ?? ["due", "alarm"]);
  const priority: Partial<Record<AdvisorySeverity, ServicePriority>> = {
    preAlert: "low",
    due: "medium",
    alarm: "high",
    ...options.priority,
  };
  return (source) =>
    new Observable<ServiceRequest>((subscriber) => {
      const open = new Set<string>();
      const counts = new Map<string, number>();
      for (const o of options.open ?? []) {
        open.add(`${o.machineId}/${o.conditionId}`);
        counts.set(`${o.machineId}/${o.conditionId}`, o.count);
      }
      return source.subscribe({
        next(e) {
          const key = `${e.machineId}/${e.conditionId}`;
          if (e.kind === "servicePerformed") {
            open.delete(key);
            return;
          }
          if (!openOn.has(e.severity) || open.has(key)) return;
          const n = (counts.get(key) ?? 0) + 1;
          counts.set(key, n);
          open.add(key);
          subscriber.next({
            kind: "serviceRequest",
            id: `${key}/${n}`,
            assetId: e.machineId,
            conditionId: e.conditionId,
            serviceType: e.serviceType,
            priority: priority[e.severity] ?? "medium",
            faultStart: e.since,
            createdAt: e.at,
            errorCode: e.errorCode,
            description: e.message,
            stage: "advisoryGeneration",
            triggeringReadings: e.readings,
          });
        },
        error: (err) => subscriber.error(err),
        complete: () => subscriber.complete(),
      });
    });
}
