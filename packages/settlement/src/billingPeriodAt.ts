import { MaaskitError } from "@maaskit/metering";
import { zoneOf } from "@maaskit/metering/internal";
import type { Agreement } from "./agreement.js";

/** A billing period `[start, end)`. */
export interface BillingPeriodRange {
  readonly start: Date;
  readonly end: Date;
}

export type BillingPeriodErrorCode = "settlement.agreement.outsideTerm";

const DAY_MS = 86_400_000;

/**
 * The billing period of `agreement` that contains `instant`, DST-correct:
 * - `calendarMonth`: from local midnight on the 1st to local midnight on the next 1st in the
 *   agreement's time zone (March in Berlin is 31 days minus one hour).
 * - `days`: `days` local calendar days from the anchor (default: the agreement's start),
 *   each period starting at the anchor's local time of day.
 * A local start time that does not exist (skipped by a DST jump) starts at the jump.
 * The period is clipped to the agreement's `[start, end)`: the first and last periods may be
 * short (the base fee and minimum commitment are not pro-rated). An instant outside the
 * agreement's term throws `settlement.agreement.outsideTerm`.
 *
 * @example
 * billingPeriodAt(agreement, new Date("2025-03-15T12:00:00Z"))
 * // Europe/Berlin months: { start: 2025-02-28T23:00:00Z, end: 2025-03-31T22:00:00Z }
 */
export function billingPeriodAt(
  agreement: Pick<Agreement, "billingPeriod" | "start" | "end">,
  instant: Date,
): BillingPeriodRange {
  const t = instant.getTime();
  const termEnd = agreement.end?.getTime() ?? Number.POSITIVE_INFINITY;
  if (!(t >= agreement.start.getTime() && t < termEnd)) {
    throw new MaaskitError<BillingPeriodErrorCode>(
      "settlement.agreement.outsideTerm",
      "The instant lies outside the agreement's term",
      {
        details: {
          instant: instant.toISOString(),
          start: agreement.start.toISOString(),
          end: agreement.end?.toISOString() ?? null,
        },
      },
    );
  }
  const bp = agreement.billingPeriod;
  const zone = zoneOf(bp.timeZone);
  let start: number;
  let end: number;
  if (bp.kind === "calendarMonth") {
    const w = zone.wall(t);
    start = zone.instantOf(w.year, w.month, 1, 0);
    end = zone.instantOf(w.year, w.month + 1, 1, 0);
  } else {
    const a = zone.wall((bp.anchor ?? agreement.start).getTime());
    const w = zone.wall(t);
    const at = (k: number) => zone.instantOf(a.year, a.month, a.day + k * bp.days, a.msOfDay);
    // Local calendar days between the anchor's date and the instant's date; then correct by
    // one period either way for the time of day.
    const dayDiff =
      (Date.UTC(w.year, w.month - 1, w.day) - Date.UTC(a.year, a.month - 1, a.day)) / DAY_MS;
    let k = Math.floor(dayDiff / bp.days);
    while (at(k) > t) k--;
    while (at(k + 1) <= t) k++;
    start = at(k);
    end = at(k + 1);
  }
  return {
    start: new Date(Math.max(start, agreement.start.getTime())),
    end: new Date(Math.min(end, termEnd)),
  };
}

/**
 * The billing calendar in the form a contract evaluates cheaply (docs/evm.md "Billing
 * calendar"): boundary `B(n)` for n = 0, 1, …, with `B(0) <= start < B(1)`.
 * - `months`: `B(n)` = local midnight on the 1st of month `anchor + n` (`anchor` = year·12 +
 *   month − 1 of the start's local month) = UTC midnight of that day minus `offsetsMinutes[month − 1]`
 *   (the zone's UTC offset at that instant). Exact when the zone's offset at local midnight on
 *   the 1st depends only on the month over the whole term: checked here instant by instant.
 * - `fixed`: `B(n) = anchor + n·length` (ms): `days` periods in a zone whose offset never
 *   changes (UTC, fixed offsets), checked the same way.
 */
export type ChainCalendar =
  | { readonly kind: "months"; readonly anchor: number; readonly offsetsMinutes: readonly number[] }
  | { readonly kind: "fixed"; readonly anchor: number; readonly length: number };

/** Years an open-ended agreement's chain calendar is checked over. */
const OPEN_ENDED_YEARS = 50;

/**
 * The chain form of an agreement's billing calendar, checked against `billingPeriodAt` for
 * every boundary of the term (50 years when open-ended). Throws `settlement.agreement.invalid`
 * when the calendar has no such form (e.g. `days` periods in a zone with DST).
 *
 * @example chainCalendar(agreement) // { kind: "months", anchor: 24300, offsetsMinutes: [60, 60, 60, 120, …] }
 */
export function chainCalendar(
  agreement: Pick<Agreement, "billingPeriod" | "start" | "end">,
): ChainCalendar {
  const start = agreement.start.getTime();
  const until = agreement.end?.getTime() ?? start + OPEN_ENDED_YEARS * 366 * DAY_MS;
  const bp = agreement.billingPeriod;
  const zone = zoneOf(bp.timeZone);
  const refuse = (reason: string): never => {
    throw new MaaskitError<"settlement.agreement.invalid">(
      "settlement.agreement.invalid",
      `The billing calendar cannot be fixed on chain: ${reason}`,
      { details: { problems: [{ path: "billingPeriod", message: reason }] } },
    );
  };
  if (bp.kind === "calendarMonth") {
    const w = zone.wall(start);
    const anchor = w.year * 12 + (w.month - 1);
    const offsets: (number | undefined)[] = new Array(12).fill(undefined);
    for (let n = 0; ; n++) {
      const m = anchor + n;
      const year = Math.floor(m / 12);
      const month = (m % 12) + 1;
      const b = zone.instantOf(year, month, 1, 0);
      const offsetMs = Date.UTC(year, month - 1, 1) - b;
      if (offsetMs % 60_000 !== 0) refuse(`${bp.timeZone} has an offset of seconds`);
      const minutes = offsetMs / 60_000;
      const known = offsets[month - 1];
      if (known !== undefined && known !== minutes) {
        refuse(`${bp.timeZone}'s offset on the 1st of month ${month} changes over the term`);
      }
      offsets[month - 1] = minutes;
      if (n > 0 && b >= until) break;
    }
    return {
      kind: "months",
      anchor,
      offsetsMinutes: offsets.map((o) => o ?? 0),
    };
  }
  const first = billingPeriodAt(agreement, agreement.start);
  const length = bp.days * DAY_MS;
  const anchor = first.end.getTime() - length;
  for (let t = first.end.getTime(); t < until; t += length) {
    const p = billingPeriodAt({ ...agreement, end: undefined }, new Date(t));
    if (p.start.getTime() !== t || p.end.getTime() !== t + length) {
      refuse(`${bp.days}-day periods in ${bp.timeZone} do not all last ${bp.days} × 24 h`);
    }
    if (t - first.end.getTime() > 400 * length) break; // one full year of periods and more
  }
  return { kind: "fixed", anchor, length };
}
