import { fc, test } from "@fast-check/vitest";
import { isMaaskitError } from "@maaskit/metering";
import { describe, expect, it } from "vitest";
import type { BillingPeriod } from "./agreement.js";
import { billingPeriodAt } from "./billingPeriodAt.js";

const iso = (r: { start: Date; end: Date }) => [r.start.toISOString(), r.end.toISOString()];
const agreement = (billingPeriod: BillingPeriod, start = "2020-01-01T00:00:00Z", end?: string) => ({
  billingPeriod,
  start: new Date(start),
  ...(end === undefined ? {} : { end: new Date(end) }),
});
const at = (a: ReturnType<typeof agreement>, instant: string) =>
  iso(billingPeriodAt(a, new Date(instant)));

describe("billingPeriodAt", () => {
  const berlinMonths = agreement({ kind: "calendarMonth", timeZone: "Europe/Berlin" });

  it("default: a calendar month in UTC", () => {
    expect(
      at(agreement({ kind: "calendarMonth", timeZone: "UTC" }), "2025-02-14T10:00:00Z"),
    ).toEqual(["2025-02-01T00:00:00.000Z", "2025-03-01T00:00:00.000Z"]);
  });

  it("behavior: the month of the spring DST change is one hour short", () => {
    // 1 Mar 00:00 CET (+1) = 28 Feb 23:00Z; 1 Apr 00:00 CEST (+2) = 31 Mar 22:00Z
    const period = billingPeriodAt(berlinMonths, new Date("2025-03-15T12:00:00Z"));
    expect(iso(period)).toEqual(["2025-02-28T23:00:00.000Z", "2025-03-31T22:00:00.000Z"]);
    expect(period.end.getTime() - period.start.getTime()).toBe((31 * 24 - 1) * 3_600_000);
  });

  it("behavior: the month of the autumn DST change is one hour long", () => {
    // 1 Oct 00:00 CEST = 30 Sep 22:00Z; 1 Nov 00:00 CET = 31 Oct 23:00Z
    const period = billingPeriodAt(berlinMonths, new Date("2025-10-26T01:30:00Z"));
    expect(iso(period)).toEqual(["2025-09-30T22:00:00.000Z", "2025-10-31T23:00:00.000Z"]);
    expect(period.end.getTime() - period.start.getTime()).toBe((31 * 24 + 1) * 3_600_000);
  });

  it("behavior: start is inclusive, end exclusive; December rolls into the next year", () => {
    // 1 Dec 00:00 CET = 30 Nov 23:00Z
    expect(at(berlinMonths, "2025-11-30T23:00:00Z")).toEqual([
      "2025-11-30T23:00:00.000Z",
      "2025-12-31T23:00:00.000Z",
    ]);
    expect(at(berlinMonths, "2025-11-30T22:59:59.999Z")).toEqual([
      "2025-10-31T23:00:00.000Z",
      "2025-11-30T23:00:00.000Z",
    ]);
  });

  it("behavior: a local midnight skipped by DST starts the period at the jump", () => {
    // America/Santiago jumped from 7 Sep 2024 24:00 (−04) to 8 Sep 01:00 (−03) at 04:00Z.
    const daily = agreement({
      kind: "days",
      days: 1,
      timeZone: "America/Santiago",
      anchor: new Date("2024-09-01T04:00:00Z"), // 1 Sep 00:00 −04
    });
    expect(at(daily, "2024-09-08T12:00:00Z")).toEqual([
      "2024-09-08T04:00:00.000Z",
      "2024-09-09T03:00:00.000Z",
    ]);
    expect(at(daily, "2024-09-08T03:59:59Z")).toEqual([
      "2024-09-07T04:00:00.000Z",
      "2024-09-08T04:00:00.000Z",
    ]);
  });

  it("args: weekly periods from a Monday in Berlin keep local midnight across DST", () => {
    // anchor Mon 24 Mar 2025 00:00 CET = 23 Mar 23:00Z; next Monday 00:00 CEST = 30 Mar 22:00Z
    const weekly = agreement({
      kind: "days",
      days: 7,
      timeZone: "Europe/Berlin",
      anchor: new Date("2025-03-23T23:00:00Z"),
    });
    expect(at(weekly, "2025-03-27T12:00:00Z")).toEqual([
      "2025-03-23T23:00:00.000Z",
      "2025-03-30T22:00:00.000Z",
    ]);
    expect(at(weekly, "2025-03-31T12:00:00Z")).toEqual([
      "2025-03-30T22:00:00.000Z",
      "2025-04-06T22:00:00.000Z",
    ]);
    // before the anchor, periods run backwards from it
    expect(at(weekly, "2025-03-20T12:00:00Z")).toEqual([
      "2025-03-16T23:00:00.000Z",
      "2025-03-23T23:00:00.000Z",
    ]);
  });

  it("args: N days anchored at the agreement's start and its time of day", () => {
    // 30-day periods from 15 Jan 2025 06:00 UTC
    const a = agreement({ kind: "days", days: 30, timeZone: "UTC" }, "2025-01-15T06:00:00Z");
    expect(at(a, "2025-02-14T05:59:59Z")).toEqual([
      "2025-01-15T06:00:00.000Z",
      "2025-02-14T06:00:00.000Z",
    ]);
    expect(at(a, "2025-02-14T06:00:00Z")).toEqual([
      "2025-02-14T06:00:00.000Z",
      "2025-03-16T06:00:00.000Z",
    ]);
  });

  it("behavior: clipped to the agreement's term", () => {
    // term 15 Jan 2025 – 10 Mar 2025 (UTC months)
    const a = agreement(
      { kind: "calendarMonth", timeZone: "UTC" },
      "2025-01-15T00:00:00Z",
      "2025-03-10T00:00:00Z",
    );
    expect(at(a, "2025-01-20T00:00:00Z")).toEqual([
      "2025-01-15T00:00:00.000Z",
      "2025-02-01T00:00:00.000Z",
    ]);
    expect(at(a, "2025-03-01T00:00:00Z")).toEqual([
      "2025-03-01T00:00:00.000Z",
      "2025-03-10T00:00:00.000Z",
    ]);
  });

  it("error: an instant outside the term", () => {
    const a = agreement(
      { kind: "calendarMonth", timeZone: "UTC" },
      "2025-01-15T00:00:00Z",
      "2025-03-10T00:00:00Z",
    );
    for (const t of ["2025-01-14T23:59:59Z", "2025-03-10T00:00:00Z"]) {
      let caught: unknown;
      try {
        billingPeriodAt(a, new Date(t));
      } catch (e) {
        caught = e;
      }
      expect(isMaaskitError(caught, "settlement.agreement.outsideTerm")).toBe(true);
    }
  });

  const zonesArb = fc.constantFrom(
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "America/Santiago",
    "Australia/Lord_Howe", // 30-minute DST shift
    "Asia/Kathmandu", // +05:45
    "Pacific/Chatham",
  );
  const periodArb = fc.oneof(
    zonesArb.map((timeZone): BillingPeriod => ({ kind: "calendarMonth", timeZone })),
    fc
      .record({
        timeZone: zonesArb,
        days: fc.integer({ min: 1, max: 45 }),
        anchor: fc.integer({ min: 0, max: 86_400_000 * 400 }),
      })
      .map(
        ({ timeZone, days, anchor }): BillingPeriod => ({
          kind: "days",
          days,
          timeZone,
          anchor: new Date(Date.parse("2023-01-01T00:00:00Z") + anchor),
        }),
      ),
  );

  test.prop([periodArb, fc.integer({ min: 0, max: 86_400_000 * 1500 })])(
    "behavior: periods contain the instant and tile time without gaps or overlaps",
    (billingPeriod, offset) => {
      const a = agreement(billingPeriod, "2020-01-01T00:00:00Z");
      const t = new Date(Date.parse("2022-06-01T00:00:00Z") + offset);
      const p = billingPeriodAt(a, t);
      expect(p.start.getTime()).toBeLessThanOrEqual(t.getTime());
      expect(t.getTime()).toBeLessThan(p.end.getTime());
      // The period's start maps to the same period; its end starts the next one.
      expect(iso(billingPeriodAt(a, p.start))).toEqual(iso(p));
      expect(billingPeriodAt(a, p.end).start.getTime()).toBe(p.end.getTime());
      expect(billingPeriodAt(a, new Date(p.start.getTime() - 1)).end.getTime()).toBe(
        p.start.getTime(),
      );
    },
  );
});
