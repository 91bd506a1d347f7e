// REFERENCE ORACLE — a frozen copy of src/operators/windowBoundaries.ts as it was before the fixed-point
// core (issue 20). Test-only: the differential test (src/operators/fixedPoint.differential.test.ts)
// checks that the live operators emit exactly what this copy emits. Never edit to match the live code.
// Internal: wall-clock window boundaries in an IANA time zone, DST-correct, with nothing but
// Intl.DateTimeFormat (no time-zone dependency).

/** The size of a tumbling window. */
export type WindowSize =
  | { readonly seconds: number }
  | { readonly minutes: number }
  | { readonly hours: number }
  | { readonly days: 1 }
  | { readonly months: number };

/** Window arithmetic for one size and zone: all instants are epoch milliseconds. */
export interface WindowBoundaries {
  /** Start of the window `[start, end)` that contains `t`. */
  floor(t: number): number;
  /** End of the window that starts at `start` (the next boundary after it). */
  next(start: number): number;
}

const HOUR = 3_600_000;

/**
 * Builds the boundary arithmetic, or returns the problems with the options.
 *
 * - Sizes that divide one hour (seconds, minutes, `{ hours: 1 }`) are fixed lengths aligned to
 *   the zone's standard-time clock: every window is exactly that long, also across a DST
 *   change. Where the DST shift is a multiple of the size (whole hours: nearly everywhere)
 *   this is the local clock; in a zone like Australia/Lord_Howe (30-min shift) hourly windows
 *   stay on standard time rather than overlap or leave a hole at the change.
 * - Whole hours dividing 24, one day and months dividing 12 follow the local calendar: their
 *   boundaries are local times (00:00, 08:00, the 1st of the month), so a local day lasts 23 h
 *   or 25 h on DST days. A local boundary that does not exist (spring forward) falls on the
 *   instant the gap ends; one that occurs twice (fall back) on its first occurrence.
 * - `offsetMinutes` moves every boundary that far past local midnight (shifts at 06:00/14:00/22:00
 *   with `{ hours: 8 }` and 360; a production day from 06:00 with `{ days: 1 }` and 360).
 */
export function windowBoundaries(
  size: WindowSize,
  timeZone: string,
  offsetMinutes = 0,
): WindowBoundaries | { problems: string[] } {
  const problems: string[] = [];
  if (!Number.isSafeInteger(offsetMinutes) || offsetMinutes < 0 || offsetMinutes >= 1440) {
    problems.push(`offsetMinutes must be an integer from 0 to 1439, got ${String(offsetMinutes)}`);
  }
  const shift = Number.isSafeInteger(offsetMinutes) ? offsetMinutes * 60_000 : 0;
  let offsetOf: (t: number) => number = () => 0;
  try {
    offsetOf = zoneOffset(timeZone);
  } catch {
    problems.push(`timeZone ${JSON.stringify(timeZone)} is not an IANA time zone`);
  }
  const s = (size ?? {}) as Record<string, unknown>;
  const keys = Object.keys(s).filter((k) => s[k] !== undefined);
  if (keys.length !== 1) {
    problems.push(
      "size must have exactly one of seconds, minutes, hours, days, months (e.g. { minutes: 15 })",
    );
    return { problems };
  }
  const unit = keys[0] as string;
  const n = s[unit];
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n <= 0) {
    problems.push(`size.${unit} must be a positive integer`);
    return { problems };
  }
  const fixedMs =
    unit === "seconds"
      ? n * 1000
      : unit === "minutes"
        ? n * 60_000
        : unit === "hours"
          ? n * HOUR
          : 0;
  if (unit === "seconds" || unit === "minutes" || (unit === "hours" && n === 1)) {
    if (HOUR % fixedMs !== 0) problems.push(`size.${unit} = ${n} must divide one hour`);
    if (problems.length > 0) return { problems };
    // One constant alignment (the standard offset: the smaller of January's and July's, in a
    // fixed year so the same input always gives the same windows), so floor() and next() agree.
    const standard = Math.min(offsetOf(Date.UTC(2024, 0, 1)), offsetOf(Date.UTC(2024, 6, 1)));
    return fixedBoundaries(fixedMs, standard - shift);
  }
  if (unit === "hours") {
    if (24 % n !== 0) problems.push(`size.hours = ${n} must divide 24`);
    if (problems.length > 0) return { problems };
    return localBoundaries(
      offsetOf,
      shift,
      (p) => ({ ...p, h: p.h - (p.h % n), mi: 0, s: 0 }),
      (p) => ({
        ...p,
        h: p.h + n,
      }),
    );
  }
  if (unit === "days") {
    if (n !== 1) problems.push("size.days must be 1 (longer spans: use months)");
    if (problems.length > 0) return { problems };
    return localBoundaries(
      offsetOf,
      shift,
      (p) => ({ ...p, h: 0, mi: 0, s: 0 }),
      (p) => ({
        ...p,
        d: p.d + 1,
      }),
    );
  }
  if (unit === "months") {
    if (12 % n !== 0) problems.push(`size.months = ${n} must divide 12`);
    if (problems.length > 0) return { problems };
    return localBoundaries(
      offsetOf,
      shift,
      (p) => ({ ...p, mo: p.mo - (p.mo % n), d: 1, h: 0, mi: 0, s: 0 }),
      (p) => ({ ...p, mo: p.mo + n }),
    );
  }
  problems.push(`size.${unit} is not a window unit (seconds, minutes, hours, days, months)`);
  return { problems };
}

function fixedBoundaries(size: number, alignment: number): WindowBoundaries {
  return {
    floor: (t) => t - mod(t + alignment, size),
    next: (start) => start + size,
  };
}

/** Local calendar fields; `mo` is 0-based, fields may overflow (Date.UTC normalises them). */
interface LocalParts {
  y: number;
  mo: number;
  d: number;
  h: number;
  mi: number;
  s: number;
}

function localBoundaries(
  offsetOf: (t: number) => number,
  shift: number,
  align: (p: LocalParts) => LocalParts,
  step: (p: LocalParts) => LocalParts,
): WindowBoundaries {
  const toLocal = (t: number): LocalParts => {
    // Local wall time moved back by the offset, so boundaries align to midnight + offset.
    const d = new Date(t + offsetOf(t) - shift);
    return {
      y: d.getUTCFullYear(),
      mo: d.getUTCMonth(),
      d: d.getUTCDate(),
      h: d.getUTCHours(),
      mi: d.getUTCMinutes(),
      s: d.getUTCSeconds(),
    };
  };
  const toInstant = (p: LocalParts): number =>
    localToInstant(Date.UTC(p.y, p.mo, p.d, p.h, p.mi, p.s) + shift, offsetOf);
  return {
    floor: (t) => {
      const start = toInstant(align(toLocal(t)));
      // A boundary moved to the end of a DST gap can lie after t; then t is in the window before.
      return start <= t ? start : toInstant(align(toLocal(start - 1)));
    },
    next: (start) => {
      // Re-align first: a boundary in a DST gap reads as a later local time than it names.
      let p = align(toLocal(start));
      let end = toInstant(step(p));
      while (end <= start) {
        p = step(p);
        end = toInstant(step(p));
      }
      return end;
    },
  };
}

/**
 * The instant a local wall-clock time names: the earlier one when it occurs twice, the end of
 * the gap when it does not occur (as Temporal's "compatible" disambiguation).
 */
function localToInstant(localMs: number, offsetOf: (t: number) => number): number {
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

function mod(a: number, m: number): number {
  return ((a % m) + m) % m;
}

const offsetCache = new Map<string, (t: number) => number>();

/** Offset of local time from UTC in ms at instant `t`, via Intl (throws for unknown zones). */
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
