import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { type WindowBoundaries, type WindowSize, windowBoundaries } from "./windowBoundaries.js";

const zones = [
  "UTC",
  "Europe/Berlin",
  "America/New_York",
  "America/Santiago", // DST change at local midnight
  "Asia/Kolkata", // +05:30
  "Asia/Kathmandu", // +05:45
  "Australia/Lord_Howe", // 30-minute DST shift
  "Pacific/Chatham", // +12:45 / +13:45
];
const sizes: WindowSize[] = [
  { seconds: 30 },
  { minutes: 15 },
  { hours: 1 },
  { hours: 2 },
  { hours: 8 },
  { days: 1 },
  { months: 1 },
  { months: 3 },
];

function build(size: WindowSize, zone: string, offsetMinutes = 0): WindowBoundaries {
  const b = windowBoundaries(size, zone, offsetMinutes);
  if ("problems" in b) throw new Error(b.problems.join("; "));
  return b;
}

describe("windowBoundaries", () => {
  it("default: Europe/Berlin days last 23 h and 25 h on the DST days of 2024", () => {
    const b = build({ days: 1 }, "Europe/Berlin");
    const spring = b.floor(Date.parse("2024-03-31T12:00:00Z"));
    const fall = b.floor(Date.parse("2024-10-27T12:00:00Z"));
    expect(new Date(spring).toISOString()).toBe("2024-03-30T23:00:00.000Z");
    expect((b.next(spring) - spring) / 3_600_000).toBe(23);
    expect(new Date(fall).toISOString()).toBe("2024-10-26T22:00:00.000Z");
    expect((b.next(fall) - fall) / 3_600_000).toBe(25);
  });

  test.prop(
    [
      fc.integer({
        min: Date.parse("2020-01-01T00:00:00Z"),
        max: Date.parse("2030-12-31T00:00:00Z"),
      }),
      fc.constantFrom(...sizes),
      fc.constantFrom(...zones),
      fc.constantFrom(0, 360, 90),
    ],
    { numRuns: 400 },
  )(
    "behavior: every instant lies in exactly one window, and windows tile time",
    (t, size, zone, offset) => {
      const b = build(size, zone, offset);
      const start = b.floor(t);
      const end = b.next(start);
      expect(start).toBeLessThanOrEqual(t);
      expect(end).toBeGreaterThan(t);
      // Boundaries are fixed points: the sequence next() walks and floor() agree.
      expect(b.floor(start)).toBe(start);
      expect(b.floor(end)).toBe(end);
      expect(b.floor(end - 1)).toBe(start);
    },
  );

  test.prop(
    [
      fc.constantFrom(...zones),
      fc.constantFrom<WindowSize>({ hours: 1 }, { hours: 8 }, { days: 1 }),
      fc.integer({ min: 2020, max: 2029 }),
    ],
    { numRuns: 12 },
  )(
    "behavior: walking a year of windows covers it without holes or overlaps",
    (zone, size, year) => {
      const b = build(size, zone);
      const from = Date.UTC(year, 0, 1);
      let s = b.floor(from);
      while (s < Date.UTC(year + 1, 0, 1)) {
        const e = b.next(s);
        expect(e).toBeGreaterThan(s);
        expect(b.floor(s + Math.floor((e - s) / 2))).toBe(s);
        s = e;
      }
    },
    // ~9,000 Intl-based boundaries per run: slow on a loaded machine, never a timing assertion
    60_000,
  );
});
