// REFERENCE ORACLE — a frozen copy of src/operators/tumblingWindow.ts as it was before the fixed-point
// core (issue 20). Test-only: the differential test (src/operators/fixedPoint.differential.test.ts)
// checks that the live operators emit exactly what this copy emits. Never edit to match the live code.
import {
  asyncScheduler,
  Observable,
  type OperatorFunction,
  type SchedulerLike,
  type Subscription,
} from "rxjs";
import { isMaaskitError } from "../../src/errors.js";
import { addQuantities, type Quantity, quantity } from "../../src/quantity.js";
import type {
  GapEvent,
  MeterEvent,
  QuarantineEvent,
  Reading,
  UsageEvent,
  UsageFlags,
} from "../../src/reading.js";
import type { StateSpanEvent } from "../../src/timeElements.js";
import type { MeterWindow, WindowUsage } from "../../src/window.js";
import { describe, isValidDate, throwIfProblems } from "./readingChecks.reference.js";
import {
  type WindowBoundaries,
  type WindowSize,
  windowBoundaries,
} from "./windowBoundaries.reference.js";

export type { WindowSize } from "./windowBoundaries.reference.js";

/** Options of {@link tumblingWindow}. */
export interface TumblingWindowOptions {
  /**
   * Window size: `{ seconds }`, `{ minutes }` or `{ hours: 1 }` dividing one hour (fixed
   * length); `{ hours }` dividing 24, `{ days: 1 }` or `{ months }` dividing 12 (local
   * calendar: a DST day lasts 23 h or 25 h).
   */
  readonly size: WindowSize;
  /** IANA time zone the boundaries are aligned to. Default `"UTC"`. */
  readonly timeZone?: string;
  /**
   * Minutes after local midnight the boundaries are aligned to, e.g. 360 for shifts at
   * 06:00/14:00/22:00 (`{ hours: 8 }`) or a production day from 06:00 (`{ days: 1 }`). Default 0.
   */
  readonly offsetMinutes?: number;
  /** How far behind the newest event time an event may arrive and still count. Default 0. */
  readonly allowedLatenessMs?: number;
  /**
   * Close windows by processing time too: after this long without input, event time is taken
   * to advance with the scheduler's clock from the newest event time seen (so a silent machine
   * still gets its windows). Events that then arrive for a closed window are quarantined.
   */
  readonly idleTimeoutMs?: number;
}

/** What {@link tumblingWindow} emits: windows, window pieces of state spans, and passed-on events. */
export type WindowedEvent =
  | MeterWindow
  | Exclude<MeterEvent, Reading | UsageEvent | GapEvent | StateSpanEvent>
  | StateSpanEvent;

interface ChannelAcc {
  quantity: Quantity;
  flags: {
    bridged?: true;
    derivedFromRate?: true;
    rollover?: true;
    reset?: true;
    replaced?: true;
    ambiguous?: true;
  };
  first: UsageEvent;
  last: UsageEvent;
  allRegister: boolean;
}

interface WindowAcc {
  usage: Map<string, ChannelAcc>;
  quarantined: number;
}

interface MachineAcc {
  readonly machineId: string;
  /** End of the last emitted window: everything at or before it is late. */
  emittedUntil: number | undefined;
  /** Earliest window start needed, until the first window is emitted. */
  firstStart: number | undefined;
  /** Latest window start needed (how far a flush at completion goes). */
  lastStart: number;
  readonly windows: Map<number, WindowAcc>;
  /** Gaps still overlapping windows not yet emitted. */
  gaps: GapEvent[];
  /** Closed state spans (from `from`) still overlapping windows not yet emitted. */
  spans: { event: StateSpanEvent; from: number }[];
  /** Open state per channel; `covered` = how far emitted windows already counted it. */
  readonly open: Map<string, { event: StateSpanEvent; covered: number }>;
}

/**
 * Groups a machine's usage, gaps, quarantines and state spans into contiguous wall-clock
 * windows `[start, end)` (`MeterWindow`s, one stream of windows per machine).
 *
 * - **Usage is attributed to the window containing its `end`**, with a boundary instant
 *   belonging to the window it ends (`start < end ≤ window end`): the register value at a
 *   boundary is the last reading at or before it, so a window's `register.end` is the register
 *   at its end and the next window's `register.start` continues from it — a reader can check
 *   every record's delta against the registers. Per channel, quantities are summed exactly;
 *   `register` spans the first usage's start to the last usage's end, and is present only when
 *   every summed usage had one; flags are merged. Usage of another unit than the channel's
 *   first is quarantined (`unit.mismatch`) and counted.
 * - **Gaps** go to every window they overlap. **Quarantine events** are passed on at once and
 *   counted into the window of their `at` (same boundary rule); they never move the watermark
 *   nor add windows (their time may be the very thing that was wrong).
 * - **State spans** (from `machineState()`) are cut at window boundaries: before each window,
 *   the pieces inside it are emitted as `StateSpanEvent`s with `span` set; an open state is cut
 *   at the window's end (`open: true`) and continues in the next window.
 * - **Watermark** = newest event time seen (readings, usage, gaps, spans) − `allowedLatenessMs`,
 *   over all machines of the stream. A window closes when the watermark passes its end. An
 *   event for a window already emitted is quarantined as `time.late` (never dropped silently);
 *   a span or gap reaching into open windows is clipped and only its late part quarantined.
 * - **Contiguity**: meter records must be contiguous, so from a machine's first window on,
 *   every window is emitted, empty ones (`usage: []`) included. On completion all windows up
 *   to each machine's last event are flushed; on error, open windows are not emitted.
 *
 * Readings are consumed (they only advance the watermark); other events pass through.
 *
 * @param options size, zone, lateness and idle timeout. Invalid options throw
 *   `metering.tumblingWindow.invalidOptions` listing every problem.
 * @param scheduler clock for `idleTimeoutMs` (default `asyncScheduler`).
 * @example
 * ```ts
 * usage$.pipe(
 *   tumblingWindow({ size: { minutes: 15 }, timeZone: "Europe/Berlin", allowedLatenessMs: 60_000 }),
 *   filter((e): e is MeterWindow => e.kind === "window"),
 * );
 * ```
 */
export function tumblingWindow(
  options: TumblingWindowOptions,
  scheduler: SchedulerLike = asyncScheduler,
): OperatorFunction<MeterEvent, WindowedEvent> {
  const cfg = parseOptions(options);
  return (source) =>
    new Observable<WindowedEvent>((subscriber) => {
      const machines = new Map<string, MachineAcc>();
      const ends = new Map<number, number>();
      let maxEventTime = Number.NEGATIVE_INFINITY;
      let watermark = Number.NEGATIVE_INFINITY;
      let lastArrival = 0;
      let timer: Subscription | undefined;

      const endOf = (start: number): number => {
        let end = ends.get(start);
        if (end === undefined) {
          if (ends.size > 4096) ends.clear();
          end = cfg.boundaries.next(start);
          ends.set(start, end);
        }
        return end;
      };
      // Most events fall into the window of the one before: skip the Intl-based arithmetic.
      let hitStart = Number.NaN;
      let hitEnd = Number.NaN;
      const floor = (t: number): number => {
        if (t >= hitStart && t < hitEnd) return hitStart;
        hitStart = cfg.boundaries.floor(t);
        hitEnd = endOf(hitStart);
        return hitStart;
      };
      /** Window start for a point in time: boundaries belong to the window they end. */
      const pointStart = (t: number): number => floor(t - 1);
      const intervalStart = (t: number): number => floor(t);

      const machine = (machineId: string): MachineAcc => {
        let m = machines.get(machineId);
        if (m === undefined) {
          m = {
            machineId,
            emittedUntil: undefined,
            firstStart: undefined,
            lastStart: Number.NEGATIVE_INFINITY,
            windows: new Map(),
            gaps: [],
            spans: [],
            open: new Map(),
          };
          machines.set(machineId, m);
        }
        return m;
      };
      const need = (m: MachineAcc, start: number): void => {
        if (m.emittedUntil === undefined && (m.firstStart === undefined || start < m.firstStart)) {
          m.firstStart = start;
        }
        if (start > m.lastStart) m.lastStart = start;
      };
      const windowAcc = (m: MachineAcc, start: number, extendsRange = true): WindowAcc => {
        if (extendsRange) need(m, start);
        let w = m.windows.get(start);
        if (w === undefined) {
          w = { usage: new Map(), quarantined: 0 };
          m.windows.set(start, w);
        }
        return w;
      };
      const isLate = (m: MachineAcc, t: number): boolean =>
        m.emittedUntil !== undefined && t <= m.emittedUntil;

      const quarantine = (
        machineId: string,
        channel: string | undefined,
        reason: string,
        message: string,
        item: unknown,
        at: Date | undefined,
      ): QuarantineEvent => {
        const q: QuarantineEvent = {
          kind: "quarantine",
          machineId,
          ...(channel === undefined ? {} : { channel }),
          reason,
          message: `${machineId}${channel === undefined ? "" : `/${channel}`}: ${message}`,
          item,
          ...(at === undefined ? {} : { at }),
        };
        return q;
      };
      const lateQuarantine = (
        m: MachineAcc,
        channel: string | undefined,
        item: unknown,
        at: Date,
        what: string,
      ): void => {
        subscriber.next(
          quarantine(
            m.machineId,
            channel,
            "time.late",
            `${what} arrived after the windows up to ${new Date(m.emittedUntil as number).toISOString()} were closed`,
            item,
            at,
          ),
        );
      };

      const observe = (t: number): void => {
        if (t > maxEventTime) maxEventTime = t;
        const wm = maxEventTime - cfg.lateness;
        if (wm > watermark) watermark = wm;
      };

      const onUsage = (u: UsageEvent): void => {
        const m = machine(u.machineId);
        const end = u.end.getTime();
        if (isLate(m, end)) {
          lateQuarantine(m, u.channel, u, u.end, `usage ending ${u.end.toISOString()}`);
          return;
        }
        const w = windowAcc(m, pointStart(end));
        const acc = w.usage.get(u.channel);
        if (acc === undefined) {
          w.usage.set(u.channel, {
            quantity: quantity(u.quantity.value, u.quantity.unit, u.quantity.basis),
            flags: mergeFlags({}, u.flags),
            first: u,
            last: u,
            allRegister: u.register !== undefined,
          });
        } else {
          try {
            acc.quantity = addQuantities(acc.quantity, u.quantity);
          } catch (err) {
            if (!isMaaskitError(err, "metering.quantity.unitMismatch")) throw err;
            w.quarantined += 1;
            subscriber.next(
              quarantine(
                u.machineId,
                u.channel,
                "unit.mismatch",
                `usage in ${u.quantity.unit}${u.quantity.basis ? ` (${u.quantity.basis})` : ""} cannot be added to ${acc.quantity.unit}${acc.quantity.basis ? ` (${acc.quantity.basis})` : ""}`,
                u,
                u.end,
              ),
            );
            return;
          }
          acc.flags = mergeFlags(acc.flags, u.flags);
          if (u.start.getTime() < acc.first.start.getTime()) acc.first = u;
          if (end >= acc.last.end.getTime()) acc.last = u;
          acc.allRegister &&= u.register !== undefined;
        }
        observe(end);
      };

      const onGap = (g: GapEvent): void => {
        const m = machine(g.machineId);
        const start = g.start.getTime();
        const end = g.end.getTime();
        const lateUpTo = m.emittedUntil;
        if (end === start ? isLate(m, start) : lateUpTo !== undefined && end <= lateUpTo) {
          lateQuarantine(m, g.channel, g, g.end, `gap ending ${g.end.toISOString()}`);
          return;
        }
        if (end === start) need(m, pointStart(start));
        else {
          need(m, intervalStart(lateUpTo === undefined ? start : Math.max(start, lateUpTo)));
          need(m, pointStart(end));
        }
        m.gaps.push(g);
        observe(end);
      };

      const onQuarantine = (q: QuarantineEvent): void => {
        subscriber.next(q);
        if (!isValidDate(q.at)) return;
        const m = machine(q.machineId);
        const at = q.at.getTime();
        if (isLate(m, at)) return; // already set aside; its window is gone
        // A quarantined item's time may be bogus (far future or past): it is counted if its
        // window gets emitted, but never stretches the machine's range of windows.
        windowAcc(m, pointStart(at), false).quarantined += 1;
      };

      const onSpan = (s: StateSpanEvent): void => {
        const m = machine(s.machineId);
        const channel = s.channel ?? "";
        const start = s.start.getTime();
        const end = s.end.getTime();
        if (s.open === true && s.span === undefined) {
          let covered = start;
          if (m.emittedUntil !== undefined && start < m.emittedUntil) {
            lateQuarantine(
              m,
              s.channel,
              s,
              s.start,
              `state ${s.source ?? s.state} from ${s.start.toISOString()} (the closed windows counted the state before it)`,
            );
            covered = m.emittedUntil;
          }
          m.open.set(channel, { event: s, covered });
          need(m, intervalStart(covered));
          observe(start);
          return;
        }
        let from = start;
        const open = m.open.get(channel);
        if (open !== undefined && open.event.start.getTime() === start) {
          // This closed span supersedes the open state: windows already counted it up to `covered`.
          from = Math.max(start, open.covered);
          m.open.delete(channel);
        }
        if (m.emittedUntil !== undefined && from < m.emittedUntil) {
          const lateEnd = Math.min(end, m.emittedUntil);
          if (lateEnd > from) {
            lateQuarantine(
              m,
              s.channel,
              { ...s, start: new Date(from), end: new Date(lateEnd) },
              new Date(lateEnd),
              `state ${s.source ?? s.state} over ${new Date(from).toISOString()}..${new Date(lateEnd).toISOString()}`,
            );
          }
          from = m.emittedUntil;
        }
        if (from < end) {
          m.spans.push({ event: s, from });
          need(m, intervalStart(from));
          need(m, pointStart(end));
        }
        observe(end);
      };

      const emitWindow = (m: MachineAcc, start: number, end: number): void => {
        const pieces: StateSpanEvent[] = [];
        const keep: MachineAcc["spans"] = [];
        for (const p of m.spans) {
          const s = p.event;
          const from = Math.max(p.from, start);
          const to = Math.min(s.end.getTime(), end);
          if (to > from) pieces.push(piece(s, from, to, { start: s.start, end: s.end }, false));
          if (s.end.getTime() > end) keep.push(p);
        }
        m.spans = keep;
        for (const channel of [...m.open.keys()].sort()) {
          const o = m.open.get(channel)!;
          const from = Math.max(o.covered, start);
          if (from < end) {
            pieces.push(piece(o.event, from, end, { start: o.event.start }, true));
            o.covered = end;
          }
        }
        pieces.sort(
          (a, b) => a.start.getTime() - b.start.getTime() || cmp(a.channel ?? "", b.channel ?? ""),
        );
        for (const p of pieces) subscriber.next(p);

        const gaps: GapEvent[] = [];
        const keepGaps: GapEvent[] = [];
        for (const g of m.gaps) {
          const gs = g.start.getTime();
          const ge = g.end.getTime();
          const overlaps = ge === gs ? gs > start && gs <= end : gs < end && ge > start;
          if (overlaps) gaps.push(g);
          if (ge > end) keepGaps.push(g);
        }
        m.gaps = keepGaps;
        gaps.sort(
          (a, b) =>
            a.start.getTime() - b.start.getTime() ||
            a.end.getTime() - b.end.getTime() ||
            cmp(a.channel ?? "", b.channel ?? ""),
        );

        const acc = m.windows.get(start);
        for (const k of m.windows.keys()) if (k < end) m.windows.delete(k);
        const usage: WindowUsage[] = [];
        if (acc !== undefined) {
          for (const channel of [...acc.usage.keys()].sort(cmp)) {
            const c = acc.usage.get(channel)!;
            const u: WindowUsage =
              c.allRegister && c.first.register !== undefined && c.last.register !== undefined
                ? {
                    channel,
                    quantity: c.quantity,
                    register: { start: c.first.register.start, end: c.last.register.end },
                    flags: c.flags,
                  }
                : { channel, quantity: c.quantity, flags: c.flags };
            usage.push(u);
          }
        }
        m.emittedUntil = end;
        subscriber.next({
          kind: "window",
          machineId: m.machineId,
          start: new Date(start),
          end: new Date(end),
          usage,
          gaps,
          quarantined: acc?.quarantined ?? 0,
        });
      };

      /** Emits every window whose end lies before `threshold` (or, flushing, up to the last needed). */
      const closeWindows = (threshold: number, flush: boolean): void => {
        const due: { m: MachineAcc; start: number; end: number }[] = [];
        for (const m of machines.values()) {
          let start = m.emittedUntil ?? m.firstStart;
          if (start === undefined) continue;
          for (;;) {
            const end = endOf(start);
            if (!(end < threshold || (flush && start <= m.lastStart))) break;
            due.push({ m, start, end });
            start = end;
          }
        }
        // Across machines in time order, so the output does not depend on which machine came first.
        due.sort((a, b) => a.end - b.end || cmp(a.m.machineId, b.m.machineId));
        for (const d of due) emitWindow(d.m, d.start, d.end);
      };

      /** End of the next window any machine would close, for the idle timer. */
      const nextEnd = (): number | undefined => {
        let next: number | undefined;
        for (const m of machines.values()) {
          const start = m.emittedUntil ?? m.firstStart;
          if (start === undefined) continue;
          const end = endOf(start);
          if (next === undefined || end < next) next = end;
        }
        return next;
      };

      // One pending timer at a time (not one per event): when it fires early because input
      // came in meanwhile, it waits out the rest of the idle time.
      const armIdle = (delay: number): void => {
        timer?.unsubscribe();
        timer = scheduler.schedule(() => {
          timer = undefined;
          try {
            const idle = scheduler.now() - lastArrival;
            const timeout = cfg.idleTimeoutMs as number;
            if (idle < timeout) {
              armIdle(timeout - idle);
              return;
            }
            // Event time is assumed to have advanced with processing time since the last input.
            const virtualNow = maxEventTime + idle;
            const threshold = virtualNow - cfg.lateness + 1;
            if (threshold > watermark) watermark = threshold;
            closeWindows(watermark, false);
            const next = nextEnd();
            if (next !== undefined) armIdle(Math.max(1, next + cfg.lateness - virtualNow));
          } catch (err) {
            subscriber.error(err);
          }
        }, delay);
      };

      const sourceSub = source.subscribe({
        next(event) {
          try {
            switch (event.kind) {
              case "reading":
                if (isValidDate(event.sourceTime)) observe(event.sourceTime.getTime());
                break;
              case "usage":
                if (isValidDate(event.start) && isValidDate(event.end)) onUsage(event);
                else invalidTime(event.machineId, event.channel, event);
                break;
              case "gap":
                if (validInterval(event.start, event.end)) onGap(event);
                else invalidTime(event.machineId, event.channel, event);
                break;
              case "quarantine":
                onQuarantine(event);
                break;
              case "state":
                if (validInterval(event.start, event.end)) onSpan(event);
                else invalidTime(event.machineId, event.channel, event);
                break;
              default:
                subscriber.next(event);
            }
            closeWindows(watermark, false);
            if (cfg.idleTimeoutMs !== undefined && maxEventTime > Number.NEGATIVE_INFINITY) {
              lastArrival = scheduler.now();
              if (timer === undefined) armIdle(cfg.idleTimeoutMs);
            }
          } catch (err) {
            subscriber.error(err);
          }
        },
        error: (err) => subscriber.error(err),
        complete: () => {
          timer?.unsubscribe();
          try {
            closeWindows(watermark, true);
          } catch (err) {
            subscriber.error(err);
            return;
          }
          subscriber.complete();
        },
      });

      function invalidTime(machineId: string, channel: string | undefined, item: unknown): void {
        subscriber.next(
          quarantine(
            machineId,
            channel,
            "time.invalid",
            "start/end are not valid Dates in order",
            item,
            undefined,
          ),
        );
      }

      return () => {
        timer?.unsubscribe();
        sourceSub.unsubscribe();
      };
    });
}

function validInterval(start: Date, end: Date): boolean {
  return isValidDate(start) && isValidDate(end) && end.getTime() >= start.getTime();
}

function piece(
  s: StateSpanEvent,
  from: number,
  to: number,
  span: { start: Date; end?: Date },
  open: boolean,
): StateSpanEvent {
  return {
    kind: "state",
    machineId: s.machineId,
    ...(s.channel === undefined ? {} : { channel: s.channel }),
    state: s.state,
    ...(s.source === undefined ? {} : { source: s.source }),
    start: new Date(from),
    end: new Date(to),
    ...(open ? { open: true } : {}),
    span,
  };
}

function mergeFlags(a: ChannelAcc["flags"], b: UsageFlags): ChannelAcc["flags"] {
  // A fixed key order keeps identical inputs byte-identical downstream.
  const out: ChannelAcc["flags"] = {};
  if (a.bridged || b.bridged) out.bridged = true;
  if (a.derivedFromRate || b.derivedFromRate) out.derivedFromRate = true;
  if (a.rollover || b.rollover) out.rollover = true;
  if (a.reset || b.reset) out.reset = true;
  if (a.replaced || b.replaced) out.replaced = true;
  if (a.ambiguous || b.ambiguous) out.ambiguous = true;
  return out;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function parseOptions(options: TumblingWindowOptions): {
  boundaries: WindowBoundaries;
  lateness: number;
  idleTimeoutMs: number | undefined;
} {
  const problems: string[] = [];
  const b = windowBoundaries(
    options?.size,
    options?.timeZone ?? "UTC",
    options?.offsetMinutes ?? 0,
  );
  if ("problems" in b) problems.push(...b.problems);
  const lateness = options?.allowedLatenessMs ?? 0;
  if (typeof lateness !== "number" || !Number.isSafeInteger(lateness) || lateness < 0) {
    problems.push(`allowedLatenessMs must be a non-negative integer, got ${describe(lateness)}`);
  }
  const idle = options?.idleTimeoutMs;
  if (
    idle !== undefined &&
    (typeof idle !== "number" || !Number.isSafeInteger(idle) || idle <= 0)
  ) {
    problems.push(`idleTimeoutMs must be a positive integer, got ${describe(idle)}`);
  }
  throwIfProblems("metering.tumblingWindow.invalidOptions", "tumblingWindow", problems);
  return { boundaries: b as WindowBoundaries, lateness, idleTimeoutMs: idle };
}
