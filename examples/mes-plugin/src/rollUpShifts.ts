import { MaaskitError, type MeterWindow, type OeeResult, rollUpOee } from "@maaskit/metering";
import { Observable, type OperatorFunction } from "rxjs";

/** Shifts of a plant: fixed-length shifts from a daily offset, in UTC. */
export interface ShiftPlan {
  /** Length of one shift in hours; must divide 24. Default 8. */
  readonly hours?: number;
  /** Minutes after midnight UTC the first shift (and the production day) starts. Default 360 (06:00). */
  readonly offsetMinutes?: number;
}

/** OEE of one shift or one production day, rolled up from its windows. */
export interface OeeRollUp {
  readonly kind: "shift" | "day";
  readonly machineId: string;
  /** `[start, end)` of the shift or production day. */
  readonly start: Date;
  readonly end: Date;
  /** Production day (`YYYY-MM-DD` of its start) and the shift's 0-based number in it. */
  readonly productionDay: string;
  readonly shift?: number;
  /** How many windows were rolled up. */
  readonly windows: number;
  /** True when the windows cover `[start, end)` completely (not a partial first or last shift). */
  readonly complete: boolean;
  /** ISO 22400 time elements summed over the windows, and the KPIs computed once from the sums. */
  readonly result: OeeResult;
}

/** Resolved shift plan in milliseconds. @internal */
export interface ShiftPlanMs {
  readonly shiftMs: number;
  readonly offsetMs: number;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/**
 * Checks a shift plan, returning it in milliseconds or the problems with it.
 *
 * @example resolveShiftPlan({ hours: 8, offsetMinutes: 360 }) // { shiftMs: 28800000, offsetMs: 21600000 }
 */
export function resolveShiftPlan(plan: ShiftPlan = {}): ShiftPlanMs | { problems: string[] } {
  const problems: string[] = [];
  const hours = plan.hours ?? 8;
  const offsetMinutes = plan.offsetMinutes ?? 360;
  if (!Number.isSafeInteger(hours) || hours <= 0 || 24 % hours !== 0) {
    problems.push(`shifts.hours must be a whole number of hours dividing 24, got ${hours}`);
  }
  if (!Number.isSafeInteger(offsetMinutes) || offsetMinutes < 0 || offsetMinutes >= 1440) {
    problems.push(`shifts.offsetMinutes must be an integer from 0 to 1439, got ${offsetMinutes}`);
  }
  if (problems.length > 0) return { problems };
  return { shiftMs: hours * HOUR, offsetMs: offsetMinutes * 60_000 };
}

interface Bucket {
  readonly start: number;
  readonly end: number;
  readonly results: OeeResult[];
  first: number;
  last: number;
}

/**
 * Rolls the windows' OEE up per shift and per production day (`rollUpOee`: time elements
 * summed, KPIs computed once from the sums — never an average of the windows' ratios). A
 * shift is emitted when the first window after it arrives, its day likewise (shift first);
 * on completion the open shift and day are emitted with `complete: false` if the windows
 * stopped short of their end. Windows must not straddle a shift boundary (they do not when
 * their length divides the shift length and the offset); one that does errors the stream
 * with `mes.oee.windowStraddlesShift`.
 *
 * @param plan shift length and offset, already checked by {@link resolveShiftPlan}.
 * @example
 * ```ts
 * windows$.pipe(rollUpShifts({ shiftMs: 8 * 3_600_000, offsetMs: 6 * 3_600_000 }))
 *   .subscribe((r) => console.log(r.kind, r.start.toISOString(), r.result.availability));
 * ```
 */
export function rollUpShifts(
  plan: ShiftPlanMs,
): OperatorFunction<MeterWindow<OeeResult>, OeeRollUp> {
  const floor = (t: number, size: number) =>
    Math.floor((t - plan.offsetMs) / size) * size + plan.offsetMs;
  return (source) =>
    new Observable<OeeRollUp>((subscriber) => {
      const open = new Map<string, { shift?: Bucket; day?: Bucket }>();

      const emit = (machineId: string, kind: "shift" | "day", b: Bucket): void => {
        const dayStart = kind === "day" ? b.start : floor(b.start, DAY);
        subscriber.next({
          kind,
          machineId,
          start: new Date(b.start),
          end: new Date(b.end),
          productionDay: new Date(dayStart).toISOString().slice(0, 10),
          ...(kind === "shift" ? { shift: Math.round((b.start - dayStart) / plan.shiftMs) } : {}),
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
        const start = floor(ws, kind === "shift" ? plan.shiftMs : DAY);
        const end = start + (kind === "shift" ? plan.shiftMs : DAY);
        if (we > end) {
          throw new MaaskitError(
            "mes.oee.windowStraddlesShift",
            `window ${w.start.toISOString()}–${w.end.toISOString()} crosses the ${kind} boundary ${new Date(end).toISOString()}`,
            { details: { machineId, windowStart: w.start.toISOString(), boundary: end } },
          );
        }
        let bucket = current;
        if (bucket !== undefined && bucket.start !== start) {
          emit(machineId, kind, bucket);
          bucket = undefined;
        }
        if (bucket === undefined) bucket = { start, end, results: [], first: ws, last: we };
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
