// The machine profile's maintenance triggers over the gateway's readings: which channel feeds
// which trigger is the profile's (no trigger depends on a channel name).
import { intervalTrigger, type MaintenanceAdvisory, thresholdTrigger } from "@maaskit/maintenance";
import type { Reading } from "@maaskit/metering";
import { merge, type Observable } from "rxjs";
import type { MachineProfile } from "./machineProfile.js";

/**
 * Advisories (ISO 13374: pre-alert, due, cleared) of the profile's `maintenance` triggers:
 * `filter` — a threshold with hysteresis and minimum duration on its channel (condition
 * `filter`, service `filterChange`); `service` — run hours or calendar months, whichever
 * first (condition `service`, service `service`), counted from the first reading this source
 * delivers. No triggers in the profile: nothing is emitted.
 */
export function maintenanceAdvisories(
  profile: MachineProfile,
  machineId: string,
  readings$: Observable<Reading>,
): Observable<MaintenanceAdvisory> {
  const m = profile.maintenance ?? {};
  const triggers: Observable<MaintenanceAdvisory>[] = [];
  if (m.filter) {
    triggers.push(
      readings$.pipe(
        thresholdTrigger({
          machineId,
          conditionId: "filter",
          serviceType: "filterChange",
          channel: m.filter.channel,
          above: m.filter.above,
          clearAt: m.filter.clearAt,
          minDurationMs: m.filter.minDurationMs,
        }),
      ),
    );
  }
  if (m.service) {
    triggers.push(
      readings$.pipe(
        intervalTrigger({
          machineId,
          conditionId: "service",
          serviceType: "service",
          channels: { runHours: m.service.channel },
          every: { runHours: m.service.runHours, months: m.service.months },
        }),
      ),
    );
  }
  return merge(...triggers);
}
