import { fc, test } from "@fast-check/vitest";
import {
  type WindowBoundaries,
  type WindowSize,
  windowBoundaries,
} from "@maaskit/metering/internal";
import { describe, expect } from "vitest";
import type { BillingPeriod } from "./agreement.js";
import { billingPeriodAt } from "./billingPeriodAt.js";

// One zone arithmetic (metering's timeZone.ts): the tumbling windows a machine's usage is cut
// into and the billing periods it is priced in must fall on the same instants, or a window
// would straddle a period. Zones with DST at 02:00/03:00, at midnight (Santiago, Havana:
// local midnight does not exist on the spring day), a 30-minute shift (Lord Howe), the
// southern hemisphere, a 45-minute offset (Chatham) and none (Kolkata).
const ZONES = [
  "Europe/Berlin",
  "America/New_York",
  "America/Santiago",
  "America/Havana",
  "Australia/Lord_Howe",
  "Pacific/Chatham",
  "Asia/Kolkata",
  "UTC",
];

const TERM_START = new Date("2019-01-01T00:00:00Z");

function windows(size: WindowSize, zone: string, offsetMinutes = 0): WindowBoundaries {
  const w = windowBoundaries(size, zone, offsetMinutes);
  if ("problems" in w) throw new Error(w.problems.join("; "));
  return w;
}

function period(billingPeriod: BillingPeriod, t: number): [number, number] {
  const p = billingPeriodAt({ billingPeriod, start: TERM_START }, new Date(t));
  return [p.start.getTime(), p.end.getTime()];
}

/** Instants over ten years, half of them in the DST seasons' turning months. */
const instant = fc.oneof(
  fc.integer({ min: Date.UTC(2020, 0, 1), max: Date.UTC(2030, 0, 1) }),
  fc
    .record({
      year: fc.integer({ min: 2020, max: 2029 }),
      month: fc.constantFrom(2, 3, 8, 9, 10, 3),
      day: fc.integer({ min: 0, max: 31 }),
      minute: fc.integer({ min: 0, max: 24 * 60 - 1 }),
      ms: fc.integer({ min: 0, max: 59_999 }),
    })
    .map(({ year, month, day, minute, ms }) => Date.UTC(year, month, day, 0, minute) + ms),
);

describe("window boundaries and billing periods agree (one zone arithmetic)", () => {
  test.prop([fc.constantFrom(...ZONES), instant], { numRuns: 400 })(
    "property: a monthly window is the calendar-month billing period",
    (zone, t) => {
      const w = windows({ months: 1 }, zone);
      const [start, end] = period({ kind: "calendarMonth", timeZone: zone }, t);
      expect(w.floor(t)).toBe(start);
      expect(w.next(w.floor(t))).toBe(end);
    },
    60_000,
  );

  test.prop([fc.constantFrom(...ZONES), instant, fc.constantFrom(0, 360, 1320)], { numRuns: 400 })(
    "property: a daily window (from local midnight + offset) is the one-day billing period anchored there",
    (zone, t, offsetMinutes) => {
      const w = windows({ days: 1 }, zone, offsetMinutes);
      // The anchor: the window boundary of the term's first day, a local time of day.
      const anchor = new Date(
        windows({ days: 1 }, zone, offsetMinutes).floor(TERM_START.getTime() + 86_400_000),
      );
      const [start, end] = period({ kind: "days", days: 1, timeZone: zone, anchor }, t);
      expect(w.floor(t)).toBe(start);
      expect(w.next(w.floor(t))).toBe(end);
    },
    60_000,
  );

  test.prop([fc.constantFrom(...ZONES), instant], { numRuns: 300 })(
    "property: a calendar-month period starts and ends on 8-hour window boundaries",
    (zone, t) => {
      const hourly = windows({ hours: 8 }, zone);
      const [start, end] = period({ kind: "calendarMonth", timeZone: zone }, t);
      expect(hourly.floor(start)).toBe(start);
      expect(hourly.floor(end)).toBe(end);
    },
    60_000,
  );
});
