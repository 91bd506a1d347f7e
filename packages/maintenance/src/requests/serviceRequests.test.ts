import { from } from "rxjs";
import { describe, expect, it } from "vitest";
import type { MaintenanceAdvisory, ServicePerformedEvent } from "../triggers/advisory.js";
import { serviceRequests } from "./serviceRequests.js";

const adv = (severity: MaintenanceAdvisory["severity"], day: number): MaintenanceAdvisory => ({
  kind: "advisory",
  machineId: "c1",
  conditionId: "air-filter",
  serviceType: "airFilterChange",
  stage: "stateDetection",
  severity,
  since: new Date(Date.UTC(2026, 0, day)),
  at: new Date(Date.UTC(2026, 0, day)),
  errorCode: "threshold.above",
  message: "filterDp high",
  readings: [],
});
const done: ServicePerformedEvent = {
  kind: "servicePerformed",
  machineId: "c1",
  conditionId: "air-filter",
  at: new Date(Date.UTC(2026, 0, 5)),
};

describe("serviceRequests", () => {
  it("default: one request per open condition; a second trigger raises none", () => {
    const ids: string[] = [];
    from([adv("preAlert", 1), adv("due", 2), adv("cleared", 3), adv("due", 4)])
      .pipe(serviceRequests())
      .subscribe((r) => ids.push(`${r.id}:${r.priority}`));
    expect(ids).toEqual(["c1/air-filter/1:medium"]);
  });

  it("behavior: after servicePerformed the next trigger opens a new request", () => {
    const ids: string[] = [];
    from([adv("due", 2), done, adv("alarm", 6)])
      .pipe(serviceRequests())
      .subscribe((r) => ids.push(`${r.id}:${r.priority}:${r.faultStart.getUTCDate()}`));
    expect(ids).toEqual(["c1/air-filter/1:medium:2", "c1/air-filter/2:high:6"]);
  });

  it("behavior: conditions restored as open stay deduplicated across a restart", () => {
    const ids: string[] = [];
    from([adv("due", 2), done, adv("due", 6)])
      .pipe(serviceRequests({ open: [{ machineId: "c1", conditionId: "air-filter", count: 3 }] }))
      .subscribe((r) => ids.push(r.id));
    expect(ids).toEqual(["c1/air-filter/4"]);
  });
});
