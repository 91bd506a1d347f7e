import type { Decimal } from "decimal.js";
import { Observable, type OperatorFunction } from "rxjs";
import { MaaskitError } from "../errors.js";
import { dec, type Quantity, quantity, toDecimal } from "../quantity.js";
import type { IsoTimeState, OeeResult, PlannedInterval, StateSpanEvent } from "../timeElements.js";
import type { UnitCode } from "../units.js";
import type { MeterWindow } from "../window.js";
import { oeeKpis } from "./oeeKpis.js";
import { describe, isValidDate, throwIfProblems } from "./readingChecks.js";
import type { WindowedEvent } from "./tumblingWindow.js";

/** Planned down time: a fixed list, or a function asked once per window. */
export type OeeCalendar =
  | readonly PlannedInterval[]
  | ((start: Date, end: Date, machineId: string) => readonly PlannedInterval[]);

/** Options of {@link oee}. */
export interface OeeOptions {
  /**
   * Ideal cycle time per produced unit (ISO 22400 PRI, planned run time per item) in
   * milliseconds, exact (`"1500"`, `"0.25"`, a Decimal or a safe integer), or per machine.
   */
  readonly idealCycleTimeMs:
    | Decimal.Value
    | bigint
    | ((machineId: string) => Decimal.Value | bigint);
  /** Planned down time and breaks; it lies outside the planned busy time (PBT). Default none. */
  readonly calendar?: OeeCalendar;
  /**
   * Unplanned stops (ADOT or ADET spans) shorter than this are micro-stops. Default 0 (none).
   */
  readonly microStopThresholdMs?: number;
  /**
   * Count channels whose window usage gives the produced and good quantities: `produced`
   * (default `"produced"`), and `good` (default `"good"`) or `scrap` (good = produced − scrap),
   * in `unit` (default `"C62"`, pieces; e.g. `"MTQ"` to rate a compressor per m³).
   */
  readonly counts?: {
    readonly produced?: string;
    readonly good?: string;
    readonly scrap?: string;
    readonly unit?: UnitCode;
  };
  /** Only state spans of this channel count (when a machine reports several). Default all. */
  readonly stateChannel?: string;
}

/** What {@link oee} emits: windows with `oee` attached, and every other event passed on. */
export type OeeOutput = MeterWindow<OeeResult> | Exclude<WindowedEvent, MeterWindow>;

/** Error codes of {@link oee}. */
export type OeeErrorCode =
  | "metering.oee.invalidOptions"
  | "metering.oee.calendarFailed"
  | "metering.oee.idealCycleTimeFailed";

/**
 * Computes ISO 22400-2 OEE per window. Put it after `tumblingWindow()`: it collects the state
 * pieces the window emits before each `MeterWindow` (consuming them) and attaches
 * `window.oee` with the KPIs and the raw time elements (integer ms) a record can sign.
 *
 * - POT is the window's length; PDOT the calendar's planned intervals inside it (merged); PBT =
 *   POT − PDOT. State time inside planned down time is not counted in any category.
 * - APT, AUST, ADET, ADOT are the state pieces' time inside PBT. Time without a known state
 *   stays in PBT as `unobserved` (availability is not claimed for time nobody saw).
 * - Micro-stops: an ADOT/ADET span shorter than `microStopThresholdMs` (measured over the whole
 *   span, not the piece; an open span by its duration so far) counts as APT and in `microStop`.
 *   Following common practice (Nakajima's "minor stops" loss), short stops lower
 *   effectiveness — the APT they sit in produced less — not availability.
 * - Availability = APT / PBT; effectiveness = PRI × PQ / APT (`implausible` above 100 %);
 *   quality rate = GQ / PQ; OEE = A × E × Q, computed as PRI × GQ / PBT, which is the same when
 *   all three are defined and stays defined (0) when the machine never produced.
 * - Zero denominators give `{ defined: false, reason }` (`pbt.zero`, `apt.zero`,
 *   `produced.zero`), never NaN or a silent 1. A count channel in another unit than
 *   `counts.unit` gives `produced.unit` / `good.unit`.
 * - Counts are the count channels' usage in the window (attributed by its end, see
 *   `tumblingWindow`); a channel without usage in the window counts 0.
 *
 * @param options ideal cycle time, calendar, micro-stop threshold and count channels. Invalid
 *   options throw `metering.oee.invalidOptions` listing every problem. A calendar or
 *   cycle-time function that throws or returns garbage errors the stream with
 *   `metering.oee.calendarFailed` / `metering.oee.idealCycleTimeFailed`.
 * @example
 * ```ts
 * events$.pipe(
 *   machineState({ mapping: packmlStates }),
 *   counterDelta({ channels: ["produced", "good"] }),
 *   tumblingWindow({ size: { hours: 8 }, timeZone: "Europe/Berlin" }),
 *   oee({ idealCycleTimeMs: 1200, microStopThresholdMs: 120_000, calendar: breaks }),
 * );
 * ```
 */
export function oee(options: OeeOptions): OperatorFunction<WindowedEvent, OeeOutput> {
  const cfg = parseOptions(options);
  return (source) =>
    new Observable<OeeOutput>((subscriber) => {
      const pieces = new Map<string, StateSpanEvent[]>();
      return source.subscribe({
        next(event) {
          try {
            if (event.kind === "state" && event.span !== undefined) {
              if (cfg.stateChannel !== undefined && event.channel !== cfg.stateChannel) return;
              const list = pieces.get(event.machineId);
              if (list === undefined) pieces.set(event.machineId, [event]);
              else list.push(event);
              return;
            }
            if (event.kind !== "window") {
              subscriber.next(event);
              return;
            }
            const mine = pieces.get(event.machineId) ?? [];
            pieces.delete(event.machineId);
            subscriber.next({ ...event, oee: windowOee(event, mine, cfg) });
          } catch (err) {
            subscriber.error(err);
          }
        },
        error: (err) => subscriber.error(err),
        complete: () => subscriber.complete(),
      });
    });
}

interface Config {
  idealCycleTime: (machineId: string) => Decimal;
  calendar: (start: number, end: number, machineId: string) => [number, number][];
  microStopMs: number;
  produced: string;
  good: string | undefined;
  scrap: string | undefined;
  unit: UnitCode;
  stateChannel: string | undefined;
}

const STOPS: ReadonlySet<IsoTimeState> = new Set<IsoTimeState>(["ADOT", "ADET"]);

function windowOee(w: MeterWindow, pieces: readonly StateSpanEvent[], cfg: Config): OeeResult {
  const ws = w.start.getTime();
  const we = w.end.getTime();
  const planned = cfg.calendar(ws, we, w.machineId);
  const pdot = planned.reduce((sum, [s, e]) => sum + (e - s), 0);
  const pbt = we - ws - pdot;

  const time: Record<IsoTimeState, number> = { APT: 0, AUST: 0, ADET: 0, ADOT: 0 };
  let microStop = 0;
  let microStopCount = 0;
  // First come wins where pieces overlap (several state channels): PBT is never over-filled.
  let cursor = ws;
  const sorted = [...pieces].sort(
    (a, b) => a.start.getTime() - b.start.getTime() || cmp(a.channel ?? "", b.channel ?? ""),
  );
  for (const p of sorted) {
    const s = Math.max(p.start.getTime(), cursor);
    const e = Math.min(p.end.getTime(), we);
    if (e <= s) continue;
    cursor = e;
    const len = e - s - overlap(planned, s, e);
    if (len <= 0) continue;
    const spanStart = (p.span?.start ?? p.start).getTime();
    const spanEnd = (p.span?.end ?? p.end).getTime();
    if (STOPS.has(p.state) && spanEnd - spanStart < cfg.microStopMs) {
      microStop += len;
      if (spanStart >= ws && spanStart < we) microStopCount += 1;
    } else time[p.state] += len;
  }
  const apt = time.APT + microStop;
  const unobserved = pbt - apt - time.AUST - time.ADET - time.ADOT;

  const produced = countOf(w, cfg.produced, cfg.unit);
  let good: Quantity;
  if (cfg.good !== undefined) good = countOf(w, cfg.good, cfg.unit, produced.basis);
  else {
    const scrap = countOf(w, cfg.scrap as string, cfg.unit, produced.basis);
    good =
      scrap.unit === produced.unit && scrap.basis === produced.basis
        ? { ...produced, value: produced.value.minus(scrap.value) }
        : scrap;
  }

  return oeeKpis({
    timeElements: {
      pot: BigInt(we - ws),
      pdot: BigInt(pdot),
      pbt: BigInt(pbt),
      apt: BigInt(apt),
      aust: BigInt(time.AUST),
      adet: BigInt(time.ADET),
      adot: BigInt(time.ADOT),
      microStop: BigInt(microStop),
      unobserved: BigInt(unobserved),
    },
    producedQuantity: produced,
    goodQuantity: good,
    idealProductionTimeMs: cfg.idealCycleTime(w.machineId).mul(produced.value),
    microStopCount,
    countUnit: cfg.unit,
  });
}

function countOf(
  w: MeterWindow,
  channel: string,
  unit: UnitCode,
  basis?: Quantity["basis"],
): Quantity {
  const u = w.usage.find((x) => x.channel === channel);
  return u?.quantity ?? quantity(0, unit, basis);
}

/** Milliseconds of `[s, e)` inside the (sorted, disjoint) planned intervals. */
function overlap(planned: readonly [number, number][], s: number, e: number): number {
  let sum = 0;
  for (const [ps, pe] of planned) {
    const a = Math.max(s, ps);
    const b = Math.min(e, pe);
    if (b > a) sum += b - a;
  }
  return sum;
}

/** Clips intervals to `[ws, we)` and merges overlapping ones, sorted. */
function clipAndMerge(
  intervals: readonly [number, number][],
  ws: number,
  we: number,
): [number, number][] {
  const clipped = intervals
    .map(([s, e]): [number, number] => [Math.max(s, ws), Math.min(e, we)])
    .filter(([s, e]) => e > s)
    .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const out: [number, number][] = [];
  for (const [s, e] of clipped) {
    const last = out[out.length - 1];
    if (last !== undefined && s <= last[1]) last[1] = Math.max(last[1], e);
    else out.push([s, e]);
  }
  return out;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Checks calendar intervals, returning them as ms pairs, or the problems. */
function checkIntervals(value: unknown, problems: string[], where: string): [number, number][] {
  if (!Array.isArray(value)) {
    problems.push(
      `${where} must be an array of { start: Date, end: Date }, got ${describe(value)}`,
    );
    return [];
  }
  const out: [number, number][] = [];
  value.forEach((iv: unknown, i) => {
    const { start, end } = (iv ?? {}) as { start?: unknown; end?: unknown };
    if (!isValidDate(start) || !isValidDate(end)) {
      problems.push(`${where}[${i}] needs valid Dates start and end`);
    } else if (end.getTime() < start.getTime()) {
      problems.push(
        `${where}[${i}] ends (${end.toISOString()}) before it starts (${start.toISOString()})`,
      );
    } else out.push([start.getTime(), end.getTime()]);
  });
  return out;
}

function positiveDecimal(value: unknown, field: string, problems: string[]): Decimal | undefined {
  let d: Decimal;
  try {
    d = toDecimal(value, field);
  } catch {
    problems.push(
      `${field} must be a Decimal, decimal string or safe integer, got ${describe(value)}`,
    );
    return undefined;
  }
  if (!d.gt(0)) {
    problems.push(`${field} must be positive, got ${d.toString()}`);
    return undefined;
  }
  return d;
}

function parseOptions(options: OeeOptions): Config {
  const problems: string[] = [];
  const o = options ?? ({} as OeeOptions);

  let idealCycleTime: Config["idealCycleTime"] = () => dec(1);
  const ict = o.idealCycleTimeMs;
  if (typeof ict === "function") {
    idealCycleTime = (machineId) => {
      let raw: unknown;
      try {
        raw = ict(machineId);
      } catch (cause) {
        throw new MaaskitError(
          "metering.oee.idealCycleTimeFailed",
          "The ideal cycle time function threw",
          { details: { machineId }, cause },
        );
      }
      const p: string[] = [];
      const d = positiveDecimal(raw, "idealCycleTimeMs", p);
      if (d === undefined) {
        throw new MaaskitError("metering.oee.idealCycleTimeFailed", p.join("; "), {
          details: { machineId },
        });
      }
      return d;
    };
  } else {
    const d = positiveDecimal(ict, "idealCycleTimeMs", problems);
    if (d !== undefined) idealCycleTime = () => d;
  }

  let calendar: Config["calendar"] = () => [];
  const cal = o.calendar;
  if (typeof cal === "function") {
    calendar = (ws, we, machineId) => {
      const start = new Date(ws);
      const end = new Date(we);
      let raw: unknown;
      try {
        raw = cal(start, end, machineId);
      } catch (cause) {
        throw new MaaskitError("metering.oee.calendarFailed", "The calendar function threw", {
          details: { machineId, start: start.toISOString(), end: end.toISOString() },
          cause,
        });
      }
      const p: string[] = [];
      const intervals = checkIntervals(raw, p, "calendar result");
      if (p.length > 0) {
        throw new MaaskitError(
          "metering.oee.calendarFailed",
          `The calendar returned invalid intervals: ${p.join("; ")}`,
          {
            details: { machineId, start: start.toISOString(), end: end.toISOString(), problems: p },
          },
        );
      }
      return clipAndMerge(intervals, ws, we);
    };
  } else if (cal !== undefined) {
    const intervals = checkIntervals(cal, problems, "calendar");
    calendar = (ws, we) => clipAndMerge(intervals, ws, we);
  }

  const micro = o.microStopThresholdMs ?? 0;
  if (typeof micro !== "number" || !Number.isSafeInteger(micro) || micro < 0) {
    problems.push(`microStopThresholdMs must be a non-negative integer, got ${describe(micro)}`);
  }
  const counts = o.counts ?? {};
  const produced = counts.produced ?? "produced";
  if (counts.good !== undefined && counts.scrap !== undefined) {
    problems.push("counts: give good or scrap, not both");
  }
  const good = counts.scrap !== undefined ? counts.good : (counts.good ?? "good");
  for (const [k, v] of [
    ["produced", produced],
    ["good", counts.good],
    ["scrap", counts.scrap],
  ] as const) {
    if (v !== undefined && (typeof v !== "string" || v.length === 0)) {
      problems.push(`counts.${k} must be a non-empty channel name`);
    }
  }
  if (
    o.stateChannel !== undefined &&
    (typeof o.stateChannel !== "string" || o.stateChannel === "")
  ) {
    problems.push("stateChannel must be a non-empty channel name");
  }
  throwIfProblems("metering.oee.invalidOptions", "oee", problems);
  return {
    idealCycleTime,
    calendar,
    microStopMs: micro,
    produced,
    good,
    scrap: counts.scrap,
    unit: counts.unit ?? "C62",
    stateChannel: o.stateChannel,
  };
}
