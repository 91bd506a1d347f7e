import { from } from "rxjs";
import { describe, expect, it } from "vitest";
import type { ServicePerformedEvent } from "./advisory.js";
import { addMonthsUtc, intervalTrigger } from "./intervalTrigger.js";
import { reading } from "./testReadings.js";

const base = {
  machineId: "c1",
  conditionId: "oil",
  serviceType: "oilChange",
  channels: { runHours: "runHours" },
  every: { runHours: "4000", months: 12 },
  preAlertAt: "0.9",
};
const H = 3600;

function run(events: unknown[], o = base) {
  const out: string[] = [];
  from(events as never[])
    .pipe(intervalTrigger(o))
    .subscribe((a) => out.push(`${a.severity}:${a.errorCode}@${a.at.toISOString().slice(0, 10)}`));
  return out;
}

describe("intervalTrigger", () => {
  it("default: pre-alert at 90 % and due at 100 % of run hours, once each", () => {
    // Starts at 1000 h; 4000 h interval: pre-alert at 4600 h, due at 5000 h.
    expect(
      run([
        reading("runHours", "1000", 0),
        reading("runHours", "4599", 10 * H),
        reading("runHours", "4600", 20 * H),
        reading("runHours", "4700", 30 * H),
        reading("runHours", "5000", 40 * H),
        reading("runHours", "5100", 50 * H),
      ]),
    ).toEqual(["preAlert:interval.runHours@2026-01-01", "due:interval.runHours@2026-01-02"]);
  });

  it("behavior: the calendar limit wins when it comes first", () => {
    const day = 24 * H;
    // 100 run hours over a year: 12 months after 2026-01-01 is 2027-01-01 (365 days).
    // 90 % of 365 days = 328.5 days.
    expect(
      run([
        reading("runHours", "0", 0),
        reading("runHours", "50", 328 * day),
        reading("runHours", "51", 329 * day),
        reading("runHours", "100", 365 * day),
      ]),
    ).toEqual(["preAlert:interval.calendar@2026-11-26", "due:interval.calendar@2027-01-01"]);
  });

  it("behavior: servicePerformed restarts the interval from its registers", () => {
    const serviced: ServicePerformedEvent = {
      kind: "servicePerformed",
      machineId: "c1",
      conditionId: "oil",
      at: new Date(Date.UTC(2026, 0, 3)),
      registers: { runHours: "5000" },
    };
    expect(
      run([
        reading("runHours", "0", 0),
        reading("runHours", "4000", 10 * H),
        serviced,
        reading("runHours", "8599", 55 * H), // 3599 h = 89.975 % since service at 5000 h
        reading("runHours", "8600", 60 * H), // 90 %
        reading("runHours", "9000", 70 * H),
      ]),
    ).toEqual([
      "due:interval.runHours@2026-01-01",
      "preAlert:interval.runHours@2026-01-03",
      "due:interval.runHours@2026-01-03",
    ]);
  });

  it("behavior: a jump past the whole interval raises due without a pre-alert", () => {
    expect(run([reading("runHours", "0", 0), reading("runHours", "4001", H)])).toEqual([
      "due:interval.runHours@2026-01-01",
    ]);
  });

  it("error: invalid options report every problem", () => {
    expect(() =>
      intervalTrigger({ ...base, channels: {}, every: { runHours: "-1", months: 1.5 } }),
    ).toThrowError(
      expect.objectContaining({
        code: "maintenance.trigger.invalidOptions",
        details: expect.objectContaining({
          problems: [
            "every.runHours must be > 0",
            "every.months must be a positive integer",
            "channels.runHours is required with every.runHours",
          ],
        }),
      }),
    );
  });

  it("behavior: adds calendar months clamped to the month end", () => {
    expect(addMonthsUtc(new Date("2026-01-31T10:00:00Z"), 1).toISOString()).toBe(
      "2026-02-28T10:00:00.000Z",
    );
    expect(addMonthsUtc(new Date("2026-03-15T00:00:00Z"), 12).toISOString()).toBe(
      "2027-03-15T00:00:00.000Z",
    );
  });
});
