import type { Decimal } from "decimal.js";
import fc from "fast-check";
import { from } from "rxjs";
import { describe, expect, it } from "vitest";
import { dec } from "../quantity.js";
import type { MeterEvent, Reading, UsageEvent } from "../reading.js";
import { type CounterDeltaState, counterDelta } from "./counterDelta.js";

// Registers are generated in integer thousandths of a m³ and rendered as exact Decimals.
const MODULUS = 10_000_000; // rollover at 10 000 m³
const MAX_INC = 100_000; // at most 100 m³ per step
const MAX_SKIPPED = 4; // at most 4 readings lost in one source gap
// The most a counter can count between two observed readings: a reset is recognised as such.
const RESET_THRESHOLD = MAX_INC * (MAX_SKIPPED + 1);
const T0 = Date.parse("2025-03-01T00:00:00.000Z");

const m3 = (thousandths: number): Decimal => dec(thousandths).div(1000);

interface Step {
  inc: number;
  skip: boolean;
  reset: boolean;
  pre: number;
  split: boolean;
}

const step = fc.record({
  inc: fc.integer({ min: 0, max: MAX_INC }),
  skip: fc.integer({ min: 0, max: 3 }).map((x) => x === 0),
  reset: fc.integer({ min: 0, max: 7 }).map((x) => x === 0),
  pre: fc.nat(),
  split: fc.integer({ min: 0, max: 5 }).map((x) => x === 0),
});

interface Scenario {
  /** Event pieces, each processed by a fresh operator instance (a gateway restart between). */
  pieces: MeterEvent[][];
  /** Sum of every increment up to the last observed reading. */
  truth: number;
  /** Increments that happened between the last reading before a reset and the reset itself. */
  unobservable: number;
  resets: number;
  wraps: number;
  gaps: number;
}

/**
 * Renders a ground-truth sequence of increments as register readings with rollovers at
 * MODULUS, resets to 0 (the part counted before the reset on the old register is known),
 * source gaps (GapEvent + readings not delivered) and splits.
 */
function render(start: number, steps: Step[]): Scenario {
  const pieces: MeterEvent[][] = [[]];
  const push = (e: MeterEvent): void => {
    pieces[pieces.length - 1]!.push(e);
  };
  const reading = (register: number, k: number): Reading => ({
    kind: "reading",
    machineId: "c1",
    channel: "total",
    value: m3(register),
    unit: "MTQ",
    quality: "good",
    sourceTime: new Date(T0 + k * 1000),
  });

  let register = start;
  let lastObserved = start;
  let lastObservedStep = 0;
  let pending = 0; // counted since the last observed reading, still observable
  let truth = 0;
  let unobservable = 0;
  let skipped = 0;
  let resetSinceObserved = false;
  let resets = 0;
  let wraps = 0;
  let gaps = 0;
  push(reading(register, 0));

  steps.forEach((s, i) => {
    const k = i + 1;
    // A reset is only recognisable when the drop cannot be a wrap (last < MODULUS/2) and the
    // register after it is smaller than before (last > RESET_THRESHOLD); otherwise no meter
    // could tell, so the generator does not produce it.
    const canReset =
      !resetSinceObserved && lastObserved > RESET_THRESHOLD && lastObserved < MODULUS / 2;
    if (s.reset && canReset) {
      const pre = s.pre % (s.inc + 1);
      unobservable += pending + pre;
      pending = s.inc - pre;
      register = s.inc - pre;
      resetSinceObserved = true;
      resets++;
    } else {
      pending += s.inc;
      if (register + s.inc >= MODULUS) wraps++;
      register = (register + s.inc) % MODULUS;
    }
    truth += s.inc;
    const last = k === steps.length;
    if (s.skip && !last && skipped < MAX_SKIPPED) {
      skipped++;
      return;
    }
    if (skipped > 0) {
      push({
        kind: "gap",
        machineId: "c1",
        start: new Date(T0 + lastObservedStep * 1000),
        end: new Date(T0 + k * 1000),
        reason: "source.reconnected",
      });
      gaps++;
    }
    push(reading(register, k));
    pending = 0;
    skipped = 0;
    lastObserved = register;
    lastObservedStep = k;
    resetSinceObserved = false;
    if (s.split && !last) pieces.push([]);
  });
  return { pieces, truth, unobservable, resets, wraps, gaps };
}

/** Runs the pieces through separate operator instances chained by the journaled state. */
function meter(pieces: MeterEvent[][]): MeterEvent[] {
  const out: MeterEvent[] = [];
  let journal: CounterDeltaState | undefined;
  for (const piece of pieces) {
    from(piece)
      .pipe(
        counterDelta({
          channel: "total",
          unit: "MTQ",
          rollover: m3(MODULUS),
          // Without capacity a rollover is only guessed with explicit permission.
          maxWrapIncrement: m3(MODULUS / 2),
          resetThreshold: m3(RESET_THRESHOLD),
          ...(journal === undefined ? {} : { initial: journal }),
          onState: (s) => {
            journal = s;
          },
        }),
      )
      .subscribe((e) => out.push(e));
  }
  return out;
}

describe("counterDelta (properties)", () => {
  it("behavior: total usage equals the ground truth minus exactly the unobservable part before resets", () => {
    const seen = { resets: 0, wraps: 0, gaps: 0, splits: 0 };
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: MODULUS - 1 }),
        fc.array(step, { minLength: 1, maxLength: 60 }),
        (start, steps) => {
          const scenario = render(start, steps);
          const out = meter(scenario.pieces);
          const usage = out.filter((e): e is UsageEvent => e.kind === "usage");
          const total = usage.reduce((sum, u) => sum.plus(u.quantity.value), dec(0));

          expect(total.eq(m3(scenario.truth - scenario.unobservable))).toBe(true);
          expect(out.filter((e) => e.kind === "quarantine")).toEqual([]);
          expect(out.filter((e) => e.kind === "gap" && e.reason === "counter.reset")).toHaveLength(
            scenario.resets,
          );
          expect(usage.filter((u) => u.flags.reset)).toHaveLength(scenario.resets);
          // Every usage right after a source gap spans it, bridged from the register.
          out.forEach((e, i) => {
            if (e.kind === "gap" && e.reason === "source.reconnected") {
              const next = out.slice(i + 1).find((x) => x.kind === "usage") as UsageEvent;
              expect(next.flags.bridged).toBe(true);
            }
          });
          // Usage intervals tile time: each starts where the previous one ended.
          usage.slice(1).forEach((u, i) => {
            expect(u.start.getTime()).toBe(usage[i]!.end.getTime());
          });

          seen.resets += scenario.resets;
          seen.wraps += scenario.wraps;
          seen.gaps += scenario.gaps;
          seen.splits += scenario.pieces.length - 1;
        },
      ),
      { numRuns: 400 },
    );
    // The generator really exercised every path.
    expect(seen.resets).toBeGreaterThan(0);
    expect(seen.wraps).toBeGreaterThan(0);
    expect(seen.gaps).toBeGreaterThan(0);
    expect(seen.splits).toBeGreaterThan(0);
  });

  it("behavior: any split of the same stream gives the same usage events as one run", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: MODULUS - 1 }),
        fc.array(step, { minLength: 1, maxLength: 40 }),
        (start, steps) => {
          const split = render(start, steps);
          const whole = render(
            start,
            steps.map((s) => ({ ...s, split: false })),
          );
          const values = (events: MeterEvent[]): string[] =>
            events
              .filter((e): e is UsageEvent => e.kind === "usage")
              .map((u) => `${u.start.getTime()}-${u.end.getTime()}:${u.quantity.value.toFixed()}`);
          expect(values(meter(split.pieces))).toEqual(values(meter(whole.pieces)));
        },
      ),
      { numRuns: 200 },
    );
  });
});
