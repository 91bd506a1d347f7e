import { fc, test } from "@fast-check/vitest";
import { from, lastValueFrom, toArray } from "rxjs";
import { describe, expect, it } from "vitest";
import { isMaaskitError, type MaaskitError } from "../errors.js";
import { dec, quantity } from "../quantity.js";
import type { OeeResult } from "../timeElements.js";
import type { MeterWindow } from "../window.js";
import { rollUpWindows, type WindowRollUp } from "./rollUpWindows.js";

const HOUR = 3_600_000;

/** A window whose only OEE content is its length as planned busy time (summed by roll-ups). */
function win(startMs: number, lengthMs: number, machineId = "m1"): MeterWindow<OeeResult> {
  const z = 0n;
  const oee = {
    timeElements: {
      pot: BigInt(lengthMs),
      pdot: z,
      pbt: BigInt(lengthMs),
      apt: BigInt(lengthMs),
      aust: z,
      adet: z,
      adot: z,
      microStop: z,
      unobserved: z,
    },
    producedQuantity: quantity(1, "MTQ"),
    goodQuantity: quantity(1, "MTQ"),
    idealProductionTimeMs: dec(0),
    microStopCount: 0,
  } as unknown as OeeResult;
  return {
    kind: "window",
    machineId,
    start: new Date(startMs),
    end: new Date(startMs + lengthMs),
    usage: [],
    gaps: [],
    quarantined: 0,
    oee,
  };
}

/** Hourly windows covering [from, to). */
function hourly(from: string, to: string): MeterWindow<OeeResult>[] {
  const out: MeterWindow<OeeResult>[] = [];
  for (let t = Date.parse(from); t < Date.parse(to); t += HOUR) out.push(win(t, HOUR));
  return out;
}

async function rollUp(
  windows: MeterWindow<OeeResult>[],
  options: Parameters<typeof rollUpWindows>[0],
): Promise<WindowRollUp[]> {
  return lastValueFrom(from(windows).pipe(rollUpWindows(options), toArray()));
}

const iso = (d: Date) => d.toISOString();
const hours = (r: WindowRollUp) => (r.end.getTime() - r.start.getTime()) / HOUR;

describe("rollUpWindows", { timeout: 30_000 }, () => {
  // Europe/Berlin 2025: clocks go 02:00 CET → 03:00 CEST on 30 March (01:00Z) and
  // 03:00 CEST → 02:00 CET on 26 October (01:00Z). Shifts 06:00/14:00/22:00 local.
  it("behavior: spring forward — the production day of 29 March has 23 h, its night shift 7 h", async () => {
    const out = await rollUp(hourly("2025-03-29T05:00:00Z", "2025-03-30T04:00:00Z"), {
      timeZone: "Europe/Berlin",
    });
    const shifts = out.filter((r) => r.kind === "shift");
    const days = out.filter((r) => r.kind === "day");
    // 06:00 CET = 05:00Z, 14:00 CET = 13:00Z, 22:00 CET = 21:00Z, 06:00 CEST = 04:00Z.
    expect(shifts.map((s) => [iso(s.start), iso(s.end), s.shift, hours(s)])).toEqual([
      ["2025-03-29T05:00:00.000Z", "2025-03-29T13:00:00.000Z", 0, 8],
      ["2025-03-29T13:00:00.000Z", "2025-03-29T21:00:00.000Z", 1, 8],
      ["2025-03-29T21:00:00.000Z", "2025-03-30T04:00:00.000Z", 2, 7],
    ]);
    expect(days).toHaveLength(1);
    expect(days[0]).toMatchObject({ productionDay: "2025-03-29", windows: 23, complete: true });
    expect(hours(days[0]!)).toBe(23);
    expect(days[0]!.result.timeElements.pbt).toBe(23n * BigInt(HOUR));
    expect(shifts[2]!.result.timeElements.pbt).toBe(7n * BigInt(HOUR));
    expect(shifts.every((s) => s.productionDay === "2025-03-29" && s.complete)).toBe(true);
  });

  it("behavior: fall back — the production day of 25 October has 25 h, its night shift 9 h", async () => {
    const out = await rollUp(hourly("2025-10-25T04:00:00Z", "2025-10-26T05:00:00Z"), {
      timeZone: "Europe/Berlin",
    });
    const shifts = out.filter((r) => r.kind === "shift");
    const days = out.filter((r) => r.kind === "day");
    // 06:00 CEST = 04:00Z, 14:00 CEST = 12:00Z, 22:00 CEST = 20:00Z, 06:00 CET = 05:00Z.
    expect(shifts.map((s) => [iso(s.start), iso(s.end), s.shift, hours(s)])).toEqual([
      ["2025-10-25T04:00:00.000Z", "2025-10-25T12:00:00.000Z", 0, 8],
      ["2025-10-25T12:00:00.000Z", "2025-10-25T20:00:00.000Z", 1, 8],
      ["2025-10-25T20:00:00.000Z", "2025-10-26T05:00:00.000Z", 2, 9],
    ]);
    expect(days[0]).toMatchObject({ productionDay: "2025-10-25", windows: 25, complete: true });
    expect(days[0]!.result.timeElements.pbt).toBe(25n * BigInt(HOUR));
  });

  it("behavior: America/New_York, days from midnight with 12 h shifts — 8 March 2026 has 23 h", async () => {
    // 2026-03-08 02:00 EST → 03:00 EDT (07:00Z). Midnight EST = 05:00Z, noon EDT = 16:00Z.
    const out = await rollUp(hourly("2026-03-08T05:00:00Z", "2026-03-09T04:00:00Z"), {
      timeZone: "America/New_York",
      shiftHours: 12,
      dayStartMinutes: 0,
    });
    expect(
      out.map((r) => [r.kind, r.productionDay, r.shift, iso(r.start), hours(r), r.complete]),
    ).toEqual([
      ["shift", "2026-03-08", 0, "2026-03-08T05:00:00.000Z", 11, true],
      ["shift", "2026-03-08", 1, "2026-03-08T16:00:00.000Z", 12, true],
      ["day", "2026-03-08", undefined, "2026-03-08T05:00:00.000Z", 23, true],
    ]);
  });

  it("default: UTC, three 8 h shifts from 06:00; a partial first and last shift are not complete", async () => {
    const out = await rollUp(hourly("2025-01-01T10:00:00Z", "2025-01-01T16:00:00Z"), {});
    expect(out.map((r) => [r.kind, r.shift, iso(r.start), r.windows, r.complete])).toEqual([
      ["shift", 0, "2025-01-01T06:00:00.000Z", 4, false],
      ["shift", 1, "2025-01-01T14:00:00.000Z", 2, false],
      ["day", undefined, "2025-01-01T06:00:00.000Z", 6, false],
    ]);
  });

  it("behavior: machines are rolled up separately; windows without OEE are skipped", async () => {
    const a = hourly("2025-01-01T06:00:00Z", "2025-01-01T08:00:00Z");
    const b = [win(Date.parse("2025-01-01T06:00:00Z"), HOUR, "m2")];
    const { oee: _drop, ...noOee } = win(Date.parse("2025-01-01T07:00:00Z"), HOUR, "m2");
    const out = await rollUp([a[0]!, b[0]!, a[1]!, noOee as MeterWindow<OeeResult>], {});
    expect(out.filter((r) => r.kind === "shift").map((r) => [r.machineId, r.windows])).toEqual([
      ["m1", 2],
      ["m2", 1],
    ]);
  });

  it("error: a window crossing a shift boundary errors the stream with metering.rollUp.windowStraddles", async () => {
    let caught: unknown;
    try {
      await rollUp([win(Date.parse("2025-01-01T13:30:00Z"), HOUR)], {});
    } catch (err) {
      caught = err;
    }
    expect(isMaaskitError(caught, "metering.rollUp.windowStraddles")).toBe(true);
    expect((caught as MaaskitError).details).toMatchObject({
      machineId: "m1",
      boundary: "2025-01-01T14:00:00.000Z",
    });
  });

  it("error: invalid options are metering.rollUp.invalidOptions listing every problem", () => {
    let caught: unknown;
    try {
      rollUpWindows({ timeZone: "Mars/Olympus", shiftHours: 5, dayStartMinutes: -1 });
    } catch (err) {
      caught = err;
    }
    expect(isMaaskitError(caught, "metering.rollUp.invalidOptions")).toBe(true);
    expect((caught as MaaskitError).details.problems).toEqual([
      "shiftHours must be a whole number of hours dividing 24, got 5",
      "dayStartMinutes must be an integer from 0 to 1439, got -1",
      'timeZone "Mars/Olympus" is not an IANA time zone',
    ]);
  });

  const zones = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata"];
  // Around the DST changes of 2025 (northern and southern) and some ordinary days.
  const anchors = [
    "2025-03-09T00:00:00Z",
    "2025-03-30T00:00:00Z",
    "2025-04-06T00:00:00Z",
    "2025-10-05T00:00:00Z",
    "2025-10-26T00:00:00Z",
    "2025-11-02T00:00:00Z",
    "2025-06-15T00:00:00Z",
  ].map((a) => Date.parse(a) / HOUR);
  test.prop(
    [
      fc.constantFrom(...anchors),
      fc.integer({ min: -36, max: 12 }),
      fc.integer({ min: 1, max: 60 }),
      fc.constantFrom(...zones),
      fc.constantFrom(4, 6, 8, 12, 24),
      fc.constantFrom(0, 360, 1380),
    ],
    { numRuns: 50 },
  )(
    "behavior: shifts and days tile the windows — every window in exactly one shift and one day, shifts contiguous within a day",
    async (anchorHour, from, count, timeZone, shiftHours, dayStartMinutes) => {
      // 30-minute windows from a whole UTC hour: every boundary of these zones is on one.
      const windows: MeterWindow<OeeResult>[] = [];
      for (let i = 0; i < count * 2; i++) {
        windows.push(win((anchorHour + from) * HOUR + i * 1_800_000, 1_800_000));
      }
      const out = await rollUp(windows, { timeZone, shiftHours, dayStartMinutes });
      const shifts = out.filter((r) => r.kind === "shift");
      const days = out.filter((r) => r.kind === "day");
      const total = BigInt(count) * BigInt(HOUR);
      const sum = (rs: WindowRollUp[]) => rs.reduce((a, r) => a + r.result.timeElements.pbt, 0n);
      expect(sum(shifts)).toBe(total);
      expect(sum(days)).toBe(total);
      expect(shifts.reduce((a, r) => a + r.windows, 0)).toBe(windows.length);
      for (const d of days) {
        const inDay = shifts.filter((s) => s.productionDay === d.productionDay);
        expect(inDay.reduce((a, s) => a + s.windows, 0)).toBe(d.windows);
        expect(inDay[0]!.start.getTime()).toBeGreaterThanOrEqual(d.start.getTime());
        expect(inDay.at(-1)!.end.getTime()).toBeLessThanOrEqual(d.end.getTime());
        for (let i = 1; i < inDay.length; i++) {
          expect(inDay[i]!.start.getTime()).toBe(inDay[i - 1]!.end.getTime());
          expect(inDay[i]!.shift).toBe(inDay[i - 1]!.shift! + 1);
        }
        // A local day is 23–25 h long (DST), a shift at most one hour off its nominal length.
        expect(Math.abs(hours(d) - 24)).toBeLessThanOrEqual(1);
      }
      for (const s of shifts) expect(Math.abs(hours(s) - shiftHours)).toBeLessThanOrEqual(1);
    },
  );
});
