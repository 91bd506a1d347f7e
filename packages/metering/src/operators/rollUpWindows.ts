import { Observable, type OperatorFunction } from "rxjs";
import { MaaskitError } from "../errors.js";
import type { OeeResult } from "../timeElements.js";
import { zoneOf } from "../timeZone.js";
import type { MeterWindow } from "../window.js";
import { rollUpOee } from "./rollUpOee.js";
import { windowBoundaries } from "./windowBoundaries.js";

/** Options of {@link rollUpWindows}. */
export interface RollUpWindowsOptions {
  /** IANA time zone of the shifts and production days. Default `"UTC"`. */
  readonly timeZone?: string;
  /** Length of one shift in local hours, dividing 24. Default 8. */
  readonly shiftHours?: number;
  /** Minutes after local midnight the production day and its first shift start. Default 360 (06:00). */
  readonly dayStartMinutes?: number;
}

/** OEE of one shift or one production day, rolled up from its windows. */
export interface WindowRollUp {
  readonly kind: "shift" | "day";
  readonly machineId: string;
  /** `[start, end)` of the shift or production day (23 h or 25 h on a DST day). */
  readonly start: Date;
  readonly end: Date;
  /** Production day: the local date (`YYYY-MM-DD`) it starts on. */
  readonly productionDay: string;
  /** The shift's 0-based number in its production day (shifts only). */
  readonly shift?: number;
  /** How many windows were rolled up. */
  readonly windows: number;
  /** True when the windows cover `[start, end)` completely (not a partial first or last one). */
  readonly complete: boolean;
  /** ISO 22400 time elements summed over the windows, the KPIs computed once from the sums. */
  readonly result: OeeResult;
}

interface Bucket {
  readonly start: number;
  readonly end: number;
  readonly results: OeeResult[];
  readonly first: number;
  last: number;
}

/**
 * Rolls windows' OEE up per shift and per production day in a time zone (`rollUpOee`: time
 * elements summed, KPIs computed once — never an average of ratios). Shift and day boundaries
 * are local wall-clock times, DST-correct through the one zone arithmetic of `tumblingWindow`
 * and the billing periods: a production day lasts 23 h or 25 h on a DST day and the shift
 * spanning the change 1 h less or more. A shift is emitted when the first window after it
 * arrives, its day likewise (shift first); on completion the open ones are emitted,
 * `complete: false` when the windows stopped short. Windows without `oee` are skipped.
 * A window crossing a shift boundary errors the stream with `metering.rollUp.windowStraddles`
 * (none does when the window length divides the shift length and the windows are aligned
 * in the same zone). Invalid options throw `metering.rollUp.invalidOptions` listing every problem.
 *
 * @example
 * ```ts
 * windows$.pipe(rollUpWindows({ timeZone: "Europe/Berlin", shiftHours: 8, dayStartMinutes: 360 }))
 *   .subscribe((r) => console.log(r.kind, r.productionDay, r.shift, r.result.oee));
 * ```
 */
export function rollUpWindows(
  options: RollUpWindowsOptions = {},
): OperatorFunction<MeterWindow<OeeResult>, WindowRollUp> {
  const timeZone = options.timeZone ?? "UTC";
  const shiftHours = options.shiftHours ?? 8;
  const dayStart = options.dayStartMinutes ?? 360;
  const problems: string[] = [];
  if (!Number.isSafeInteger(shiftHours) || shiftHours <= 0 || 24 % shiftHours !== 0) {
    problems.push(`shiftHours must be a whole number of hours dividing 24, got ${shiftHours}`);
  }
  if (!Number.isSafeInteger(dayStart) || dayStart < 0 || dayStart >= 1440) {
    problems.push(`dayStartMinutes must be an integer from 0 to 1439, got ${dayStart}`);
  }
  let zone: ReturnType<typeof zoneOf> | undefined;
  try {
    zone = zoneOf(timeZone);
    zone.wall(0);
  } catch {
    problems.push(`timeZone ${JSON.stringify(timeZone)} is not an IANA time zone`);
  }
  const days = problems.length === 0 && windowBoundaries({ days: 1 }, timeZone, dayStart);
  const shiftBounds =
    problems.length === 0 && windowBoundaries({ hours: shiftHours }, timeZone, dayStart);
  if (!days || !shiftBounds || !zone || "problems" in days || "problems" in shiftBounds) {
    throw new MaaskitError("metering.rollUp.invalidOptions", problems.join("; "), {
      details: { problems },
    });
  }
  const z = zone;
  const dateOf = (t: number) => {
    const w = z.wall(t);
    return new Date(Date.UTC(w.year, w.month - 1, w.day)).toISOString().slice(0, 10);
  };

  return (source) =>
    new Observable<WindowRollUp>((subscriber) => {
      const open = new Map<string, { shift?: Bucket; day?: Bucket }>();

      const emit = (machineId: string, kind: "shift" | "day", b: Bucket): void => {
        const dayStartAt = kind === "day" ? b.start : days.floor(b.start);
        let shift = 0;
        if (kind === "shift") {
          for (let t = dayStartAt; t < b.start; t = shiftBounds.next(t)) shift++;
        }
        subscriber.next({
          kind,
          machineId,
          start: new Date(b.start),
          end: new Date(b.end),
          productionDay: dateOf(dayStartAt),
          ...(kind === "shift" ? { shift } : {}),
          windows: b.results.length,
          complete: b.first === b.start && b.last === b.end,
          result: rollUpOee(b.results),
        });
      };

      const add = (
        machineId: string,
        kind: "shift" | "day",
        current: Bucket | undefined,
        w: MeterWindow<OeeResult>,
        result: OeeResult,
      ): Bucket => {
        const ws = w.start.getTime();
        const we = w.end.getTime();
        const bounds = kind === "shift" ? shiftBounds : days;
        const start = bounds.floor(ws);
        const end = bounds.next(start);
        if (we > end) {
          throw new MaaskitError(
            "metering.rollUp.windowStraddles",
            `window ${w.start.toISOString()}–${w.end.toISOString()} crosses the ${kind} boundary ${new Date(end).toISOString()}`,
            {
              details: {
                machineId,
                kind,
                windowStart: w.start.toISOString(),
                boundary: new Date(end).toISOString(),
              },
            },
          );
        }
        let bucket = current;
        if (bucket !== undefined && bucket.start !== start) {
          emit(machineId, kind, bucket);
          bucket = undefined;
        }
        bucket ??= { start, end, results: [], first: ws, last: we };
        bucket.results.push(result);
        bucket.last = we;
        return bucket;
      };

      return source.subscribe({
        next(w) {
          if (w.oee === undefined) return;
          try {
            const state = open.get(w.machineId) ?? {};
            state.shift = add(w.machineId, "shift", state.shift, w, w.oee);
            state.day = add(w.machineId, "day", state.day, w, w.oee);
            open.set(w.machineId, state);
          } catch (err) {
            subscriber.error(err);
          }
        },
        error: (err) => subscriber.error(err),
        complete() {
          for (const [machineId, { shift, day }] of open) {
            if (shift !== undefined) emit(machineId, "shift", shift);
            if (day !== undefined) emit(machineId, "day", day);
          }
          subscriber.complete();
        },
      });
    });
}
