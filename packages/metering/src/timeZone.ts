// The one zone arithmetic of maaskit: UTC offsets of an IANA time zone and local wall-clock
// times ↔ instants, DST-correct, with nothing but Intl.DateTimeFormat. Window boundaries
// (operators/windowBoundaries.ts) and billing periods (@maaskit/settlement billingPeriodAt)
// both use it, so a window and a billing period that name the same local time agree.

const offsetCache = new Map<string, (t: number) => number>();

/**
 * Offset of local time from UTC in ms at instant `t` (epoch ms), via Intl; throws a
 * RangeError for an unknown zone. Whole seconds: the offset of `t` is that of its second.
 */
export function zoneOffset(timeZone: string): (t: number) => number {
  const cached = offsetCache.get(timeZone);
  if (cached !== undefined) return cached;
  const fmt = new Intl.DateTimeFormat("en-US", {
    timeZone,
    hourCycle: "h23",
    year: "numeric",
    month: "numeric",
    day: "numeric",
    hour: "numeric",
    minute: "numeric",
    second: "numeric",
    era: "short",
  });
  const fn = (t: number): number => {
    const whole = t - mod(t, 1000);
    const f: Record<string, string> = {};
    for (const part of fmt.formatToParts(new Date(whole))) f[part.type] = part.value;
    let year = Number(f.year);
    if (f.era === "BC" || f.era === "B") year = 1 - year;
    const local = Date.UTC(
      year,
      Number(f.month) - 1,
      Number(f.day),
      Number(f.hour),
      Number(f.minute),
      Number(f.second),
    );
    return local - whole;
  };
  offsetCache.set(timeZone, fn);
  return fn;
}

/**
 * The instant a local wall-clock time names (`localMs`: the wall time read as if it were
 * UTC): the earlier one when it occurs twice (fall back), the end of the gap when it does
 * not occur (spring forward), as Temporal's "compatible" disambiguation. The offsets a day
 * either side bracket at most one transition (true of every IANA zone).
 */
export function localToInstant(localMs: number, offsetOf: (t: number) => number): number {
  const before = offsetOf(localMs - 86_400_000);
  const after = offsetOf(localMs + 86_400_000);
  const a = localMs - before;
  const b = localMs - after;
  const aOk = a + offsetOf(a) === localMs;
  const bOk = b + offsetOf(b) === localMs;
  if (aOk && bOk) return Math.min(a, b);
  if (aOk) return a;
  if (bOk) return b;
  // In a gap: use the offset before the change, which lands after the gap.
  return localMs - before;
}

/** A local calendar date and time of day. */
export interface ZoneWall {
  readonly year: number;
  /** 1–12 */
  readonly month: number;
  readonly day: number;
  readonly msOfDay: number;
}

/** Calendar arithmetic in one time zone. */
export interface Zone {
  /** Local wall-clock date and time of an instant. */
  wall(t: number): ZoneWall;
  /** The instant of a local date and time (month and day may overflow, like Date.UTC). */
  instantOf(year: number, month: number, day: number, msOfDay: number): number;
}

/** Calendar arithmetic in `timeZone` (an IANA name; a RangeError when unknown). */
export function zoneOf(timeZone: string): Zone {
  const offsetOf = zoneOffset(timeZone);
  return {
    wall(t) {
      const w = new Date(t + offsetOf(t));
      const midnight = Date.UTC(w.getUTCFullYear(), w.getUTCMonth(), w.getUTCDate());
      return {
        year: w.getUTCFullYear(),
        month: w.getUTCMonth() + 1,
        day: w.getUTCDate(),
        msOfDay: w.getTime() - midnight,
      };
    },
    instantOf: (year, month, day, msOfDay) =>
      localToInstant(Date.UTC(year, month - 1, day) + msOfDay, offsetOf),
  };
}

function mod(a: number, m: number): number {
  return ((a % m) + m) % m;
}
