import {
  asyncScheduler,
  Observable,
  type OperatorFunction,
  type SchedulerLike,
  type Subscription,
} from "rxjs";
import { isMaaskitError } from "../errors.js";
import { addQuantities, quantity } from "../quantity.js";
import type { GapEvent, MeterEvent, QuarantineEvent, UsageEvent } from "../reading.js";
import type { StateSpanEvent } from "../timeElements.js";
import { decimalOf, fixedOf, fixedScale, rescale } from "./fixedPoint.js";
import { isValidDate } from "./readingChecks.js";
import {
  cmp,
  type MachineAcc,
  mergeFlags,
  parseOptions,
  type TumblingWindowOptions,
  validInterval,
  type WindowAcc,
  type WindowedEvent,
  windowGaps,
  windowPieces,
  windowUsage,
} from "./tumblingWindowParts.js";

export type {
  TumblingWindowErrorCode,
  TumblingWindowOptions,
  WindowedEvent,
} from "./tumblingWindowParts.js";
export type { WindowSize } from "./windowBoundaries.js";

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
      /**
       * No machine has a window to close ending before this (a lower bound kept by
       * closeWindows, reset when a machine's first window moves): most events close nothing,
       * and then cost no walk over the machines.
       */
      let nextDue = Number.NEGATIVE_INFINITY;

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
          nextDue = Number.NEGATIVE_INFINITY;
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
        const value = u.quantity.value;
        const fx = typeof value === "object" && value !== null ? fixedOf(value) : -1;
        const fxScale = fixedScale;
        if (acc === undefined) {
          w.usage.set(u.channel, {
            sum: fx,
            scale: fxScale,
            quantity: quantity(value, u.quantity.unit, u.quantity.basis),
            flags: mergeFlags({}, u.flags),
            first: u,
            last: u,
            allRegister: u.register !== undefined,
          });
        } else {
          try {
            if (acc.sum >= 0) {
              const q = acc.quantity;
              const k = fxScale > acc.scale ? fxScale : acc.scale;
              const a = rescale(acc.sum, acc.scale, k);
              const b = fx < 0 ? -1 : rescale(fx, fxScale, k);
              const sameUnit = q.unit === u.quantity.unit && q.basis === u.quantity.basis;
              if (sameUnit && a >= 0 && b >= 0 && a + b <= Number.MAX_SAFE_INTEGER) {
                acc.sum = a + b;
                acc.scale = k;
              } else {
                // Not representable (or a unit mismatch, quarantined below): exact Decimals from here.
                acc.quantity = quantity(decimalOf(acc.sum, acc.scale), q.unit, q.basis);
                acc.sum = -1;
              }
            }
            if (acc.sum < 0) acc.quantity = addQuantities(acc.quantity, u.quantity);
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
        for (const p of windowPieces(m, start, end)) subscriber.next(p);
        const gaps = windowGaps(m, start, end);
        const { usage, acc } = windowUsage(m, start, end);
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
        if (!flush && threshold <= nextDue) return;
        const due: { m: MachineAcc; start: number; end: number }[] = [];
        let next = Number.POSITIVE_INFINITY;
        for (const m of machines.values()) {
          let start = m.emittedUntil ?? m.firstStart;
          if (start === undefined) continue;
          for (;;) {
            const end = endOf(start);
            if (!(end < threshold || (flush && start <= m.lastStart))) {
              if (end < next) next = end;
              break;
            }
            due.push({ m, start, end });
            start = end;
          }
        }
        // Across machines in time order, so the output does not depend on which machine came first.
        due.sort((a, b) => a.end - b.end || cmp(a.m.machineId, b.m.machineId));
        nextDue = next;
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
