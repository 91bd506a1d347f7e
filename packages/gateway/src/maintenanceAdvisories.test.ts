import type { MaintenanceAdvisory } from "@maaskit/maintenance";
import { dec, type Reading } from "@maaskit/metering";
import { Subject } from "rxjs";
import { describe, expect, test } from "vitest";
import type { MachineProfile } from "./machineProfile.js";
import { maintenanceAdvisories } from "./maintenanceAdvisories.js";

const T0 = Date.parse("2025-01-01T00:00:00.000Z");
const MIN = 60_000;

const profile: MachineProfile = {
  name: "pump",
  billed: "vol",
  channels: {
    vol: { kind: "register", nodeId: "ns=1;s=V", unit: "MTQ" },
    dp: { kind: "value", nodeId: "ns=1;s=DP", unit: "BAR" },
    hours: { kind: "value", nodeId: "ns=1;s=H", unit: "HUR" },
  },
  maintenance: {
    filter: { channel: "dp", above: "0.5", clearAt: "0.3", minDurationMs: 10 * MIN },
    service: { channel: "hours", runHours: "100", months: 12 },
  },
};

const reading = (channel: string, atMin: number, value: string, unit: string): Reading =>
  ({
    kind: "reading",
    machineId: "p1",
    channel,
    sourceTime: new Date(T0 + atMin * MIN),
    value: dec(value),
    unit,
    quality: "good",
  }) as Reading;

/** Readings arrive one by one on a live source, as from OPC UA. */
function run(p: MachineProfile, readings: Reading[]): MaintenanceAdvisory[] {
  const source = new Subject<Reading>();
  const out: MaintenanceAdvisory[] = [];
  maintenanceAdvisories(p, "p1", source).subscribe((a) => out.push(a));
  for (const r of readings) source.next(r);
  source.complete();
  return out;
}

describe("maintenanceAdvisories", () => {
  test("default: the profile's channels feed its triggers — a filter over its limit long enough, run hours reaching the interval", async () => {
    const out = run(profile, [
      reading("hours", 0, "0", "HUR"),
      reading("dp", 0, "0.6", "BAR"),
      reading("dp", 5, "0.6", "BAR"),
      reading("dp", 11, "0.6", "BAR"),
      reading("hours", 12, "95", "HUR"),
      reading("hours", 13, "100", "HUR"),
      reading("dp", 20, "0.2", "BAR"),
    ]);
    const seen = out.map((a) => `${a.conditionId}:${a.severity}`);
    expect(seen).toEqual(["filter:due", "service:preAlert", "service:due", "filter:cleared"]);
    expect(out[0]!.readings.every((r) => r.channel === "dp")).toBe(true);
  });

  test("behavior: no magic channel names — readings on channels called runHours or filterDp feed nothing the profile does not name", async () => {
    const out = run(profile, [
      reading("runHours", 0, "0", "HUR"),
      reading("runHours", 60, "5000", "HUR"),
      reading("filterDp", 0, "9", "BAR"),
      reading("filterDp", 60, "9", "BAR"),
    ]);
    expect(out).toEqual([]);
  });

  test("default: a profile without maintenance emits nothing", async () => {
    const { maintenance: _, ...bare } = profile;
    expect(run(bare, [reading("dp", 0, "9", "BAR"), reading("dp", 60, "9", "BAR")])).toEqual([]);
  });
});
