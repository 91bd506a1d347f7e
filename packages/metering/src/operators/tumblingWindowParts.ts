import { type Quantity, quantity } from "../quantity.js";
import type { GapEvent, MeterEvent, Reading, UsageEvent, UsageFlags } from "../reading.js";
import type { StateSpanEvent } from "../timeElements.js";
import type { MeterWindow, WindowUsage } from "../window.js";
import { decimalOf } from "./fixedPoint.js";
import { describe, isValidDate, throwIfProblems } from "./readingChecks.js";
import { type WindowBoundaries, type WindowSize, windowBoundaries } from "./windowBoundaries.js";

// The parts of tumblingWindow that need no subscription: its accumulators, what a window
// holds when it closes, and option parsing (split from tumblingWindow.ts).

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

/** Error code of {@link tumblingWindow}'s option validation. */
export type TumblingWindowErrorCode = "metering.tumblingWindow.invalidOptions";

export interface ChannelAcc {
  /**
   * The exact sum as a fixed-point mantissa at `scale` while every summed value fits one
   * (issue 20: no Decimal arithmetic per usage), else -1 and the sum is `quantity.value`.
   * In fixed-point mode `quantity` is the first usage's (its unit and basis).
   */
  sum: number;
  scale: number;
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

export interface WindowAcc {
  usage: Map<string, ChannelAcc>;
  quarantined: number;
}

export interface MachineAcc {
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

/** The pieces of a machine's state spans inside `[start, end)`, in order; drops spans that end in it. */
export function windowPieces(m: MachineAcc, start: number, end: number): StateSpanEvent[] {
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
  return pieces;
}

/** The gaps overlapping `[start, end)`, in order; drops those that end in it. */
export function windowGaps(m: MachineAcc, start: number, end: number): GapEvent[] {
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
  return gaps;
}

/** The usage of the window at `start` (fixed-point sums turned into Decimals here), and its accumulator. */
export function windowUsage(
  m: MachineAcc,
  start: number,
  end: number,
): { usage: WindowUsage[]; acc: WindowAcc | undefined } {
  const acc = m.windows.get(start);
  for (const k of m.windows.keys()) if (k < end) m.windows.delete(k);
  const usage: WindowUsage[] = [];
  if (acc !== undefined) {
    for (const channel of [...acc.usage.keys()].sort(cmp)) {
      const c = acc.usage.get(channel)!;
      if (c.sum >= 0) {
        c.quantity = quantity(decimalOf(c.sum, c.scale), c.quantity.unit, c.quantity.basis);
      }
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
  return { usage, acc };
}

export function validInterval(start: Date, end: Date): boolean {
  return isValidDate(start) && isValidDate(end) && end.getTime() >= start.getTime();
}

export function piece(
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

export function mergeFlags(a: ChannelAcc["flags"], b: UsageFlags): ChannelAcc["flags"] {
  // Most usage adds no flag the window has not got: keep the accumulator's own object
  // (never an input's; it was built here in the fixed key order below).
  if (
    (a.bridged || !b.bridged) &&
    (a.derivedFromRate || !b.derivedFromRate) &&
    (a.rollover || !b.rollover) &&
    (a.reset || !b.reset) &&
    (a.replaced || !b.replaced) &&
    (a.ambiguous || !b.ambiguous)
  ) {
    return a;
  }
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

export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function parseOptions(options: TumblingWindowOptions): {
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
