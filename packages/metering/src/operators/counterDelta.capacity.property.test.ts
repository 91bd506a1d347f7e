// Properties of counterDelta with a capacity, against a ground-truth model of what the machine
// delivered: random sequences of deliveries, rollovers, resets, meter replacements (up and
// down), source gaps and gateway restarts (a fresh operator resumed through `initial`).
import type { Decimal } from "decimal.js";
import fc from "fast-check";
import { from } from "rxjs";
import { describe, expect, it } from "vitest";
import { dec } from "../quantity.js";
import type { MeterEvent, QuarantineEvent, Reading, UsageEvent } from "../reading.js";
import { type CounterDeltaState, counterDelta } from "./counterDelta.js";

// Registers in integer thousandths of a m³. One reading a minute; the machine delivers at
// most CAP per minute, so B = CAP × minutes elapsed.
const MODULUS = 10_000_000; // the register wraps at 10 000 m³
const CAP = 100_000; // 100 m³/min
const MAX_SKIPPED = 4; // at most 4 readings lost in one source gap
const B_MAX = CAP * (MAX_SKIPPED + 1) * 2; // the most B can be between two observed readings, twice
const STEP_MS = 60_000;
const T0 = Date.parse("2025-03-01T00:00:00.000Z");

const m3 = (thousandths: number): Decimal => dec(thousandths).div(1000);

interface Step {
  inc: number;
  skip: boolean;
  event: "none" | "reset" | "replace";
  pre: number;
  target: number;
  split: boolean;
}

const step: fc.Arbitrary<Step> = fc.record({
  inc: fc.oneof(fc.integer({ min: 0, max: CAP }), fc.constant(CAP)),
  skip: fc.integer({ min: 0, max: 3 }).map((x) => x === 0),
  event: fc
    .integer({ min: 0, max: 11 })
    .map((x) => (x === 0 ? "reset" : x === 1 ? "replace" : "none")),
  pre: fc.nat(),
  target: fc.integer({ min: 0, max: MODULUS - 1 }),
  split: fc.integer({ min: 0, max: 5 }).map((x) => x === 0),
});

interface Scenario {
  pieces: MeterEvent[][];
  /** Everything the machine delivered up to the last reading. */
  truth: number;
  /** Delivered where no register reading can show it (before a reset, around a replacement). */
  unobservable: number;
  /** Disputed by an ambiguous change (a wrap across a gap that a reset also explains). */
  disputed: number;
  counts: { resets: number; replacements: number; wraps: number; ambiguous: number; gaps: number };
}

/** The ground truth: a register driven by deliveries and events, observed once a minute. */
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
    sourceTime: new Date(T0 + k * STEP_MS),
  });

  let register = start;
  let lastObserved = start;
  let lastObservedStep = 0;
  let pending = 0; // delivered since the last observed reading
  let truth = 0;
  let unobservable = 0;
  let disputed = 0;
  let skipped = 0;
  let bridged = false; // a source gap or a restart since the last observed reading
  let wrapped = false;
  let eventSinceObserved = false;
  let replacement: "none" | "unseen" | "seen" = "none";
  const counts = { resets: 0, replacements: 0, wraps: 0, ambiguous: 0, gaps: 0 };
  push(reading(register, 0));

  steps.forEach((s, i) => {
    const k = i + 1;
    const quiet = !eventSinceObserved && replacement === "none";
    // Only events a register can show: the drop of a reset is visible (lastObserved > B) and
    // no wrap explains it (lastObserved < MODULUS - B); a replacement lands far from both.
    const inRange = lastObserved > B_MAX && lastObserved < MODULUS - B_MAX;
    const target = s.target;
    const far =
      Math.abs(target - lastObserved) > 3 * B_MAX &&
      target > 3 * B_MAX &&
      target < MODULUS - 3 * B_MAX;
    if (s.event === "reset" && quiet && inRange) {
      const pre = s.pre % (s.inc + 1);
      unobservable += pending + pre;
      pending = s.inc - pre;
      register = s.inc - pre;
      eventSinceObserved = true;
      counts.resets++;
    } else if (s.event === "replace" && quiet && far) {
      const pre = s.pre % (s.inc + 1);
      unobservable += pending + pre;
      pending = s.inc - pre;
      register = target + (s.inc - pre);
      eventSinceObserved = true;
      replacement = "unseen";
      counts.replacements++;
    } else {
      pending += s.inc;
      if (register + s.inc >= MODULUS) {
        wrapped = true;
        counts.wraps++;
      }
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
        start: new Date(T0 + lastObservedStep * STEP_MS),
        end: new Date(T0 + k * STEP_MS),
        reason: "source.reconnected",
      });
      bridged = true;
      counts.gaps++;
    }
    push(reading(register, k));
    if (replacement === "unseen") {
      // The new register's first reading: what it counted from its unknown start is unknown.
      unobservable += pending;
      replacement = "seen";
    } else if (replacement === "seen") {
      replacement = "none"; // confirmed: counted from here on the new register
    } else if (wrapped && bridged) {
      // A wrap across a gap or restart: a reset fits too, only `register` is billed.
      disputed += MODULUS - lastObserved;
      counts.ambiguous++;
    }
    pending = 0;
    skipped = 0;
    lastObserved = register;
    lastObservedStep = k;
    bridged = false;
    wrapped = false;
    eventSinceObserved = false;
    if (s.split && !last && replacement === "none") {
      pieces.push([]);
      bridged = true; // the first usage after a restart spans it
    }
  });
  return { pieces, truth, unobservable, disputed, counts };
}

/** Runs the pieces through separate operators chained by the journaled state. */
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
          capacity: { value: m3(CAP), per: "min" },
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

describe("counterDelta with capacity (properties)", () => {
  it("behavior: billed = delivered exactly, except what no reading shows and what is reported as disputed; nothing beyond capacity", () => {
    const seen = { resets: 0, replacements: 0, wraps: 0, ambiguous: 0, gaps: 0, splits: 0 };
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: MODULUS - 1 }),
        fc.array(step, { minLength: 1, maxLength: 80 }),
        (start, steps) => {
          const scenario = render(start, steps);
          const out = meter(scenario.pieces);
          const usage = out.filter((e): e is UsageEvent => e.kind === "usage");
          const total = usage.reduce((sum, u) => sum.plus(u.quantity.value), dec(0));
          expect(total.toFixed()).toBe(
            m3(scenario.truth - scenario.unobservable - scenario.disputed).toFixed(),
          );

          // Nothing billed beyond capacity × elapsed.
          for (const u of usage) {
            const ms = u.end.getTime() - u.start.getTime();
            expect(u.quantity.value.times(STEP_MS).lte(m3(CAP).times(ms))).toBe(true);
          }

          // Nothing silently dropped: the quarantined readings are the replaced registers'
          // first readings; the disputed amounts are reported by the ambiguity quarantines.
          const quarantined = out.filter((e): e is QuarantineEvent => e.kind === "quarantine");
          const ambiguities = quarantined.filter((q) => q.reason === "counter.ambiguous");
          const suspects = quarantined.filter((q) => q.reason !== "counter.ambiguous");
          expect(ambiguities).toHaveLength(scenario.counts.ambiguous);
          const reported = ambiguities.reduce((sum, q) => {
            const item = q.item as { register: { start: Decimal } };
            return sum.plus(m3(MODULUS).minus(item.register.start));
          }, dec(0));
          expect(reported.toFixed()).toBe(m3(scenario.disputed).toFixed());
          expect(
            suspects
              .map((q) => q.reason)
              .every((r) => /^counter\.(implausible|nonMonotonic)$/.test(r)),
          ).toBe(true);
          expect(suspects.length).toBeLessThanOrEqual(scenario.counts.replacements);
          expect(usage.filter((u) => u.flags.reset)).toHaveLength(scenario.counts.resets);
          expect(usage.filter((u) => u.flags.ambiguous)).toHaveLength(scenario.counts.ambiguous);

          // Usage intervals tile time.
          usage.slice(1).forEach((u, i) => {
            expect(u.start.getTime()).toBe(usage[i]!.end.getTime());
          });

          seen.resets += scenario.counts.resets;
          seen.replacements += scenario.counts.replacements;
          seen.wraps += scenario.counts.wraps;
          seen.ambiguous += scenario.counts.ambiguous;
          seen.gaps += scenario.counts.gaps;
          seen.splits += scenario.pieces.length - 1;
        },
      ),
      { numRuns: 300 },
    );
    // The generator really exercised every path.
    for (const [path, n] of Object.entries(seen)) expect([path, n > 0]).toEqual([path, true]);
  });

  it("behavior: a glitch reading is never billed beyond capacity; an implausible one not at all", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: CAP }), { minLength: 2, maxLength: 30 }),
        fc.nat(),
        fc.oneof(fc.integer({ min: 0, max: MODULUS - 1 }), fc.integer({ min: 0, max: CAP })),
        (incs, where, spike) => {
          // A register that does not wrap here, with one glitch reading (any value) half a
          // minute after the reading at `glitchAt`: B = CAP / 2 for it.
          let register = 5 * B_MAX;
          const events: MeterEvent[] = [];
          const R = (v: number, minutes: number): Reading => ({
            kind: "reading",
            machineId: "c1",
            channel: "total",
            value: m3(v),
            unit: "MTQ",
            quality: "good",
            sourceTime: new Date(T0 + minutes * STEP_MS),
          });
          events.push(R(register, 0));
          const glitchAt = where % (incs.length - 1);
          let before = register;
          let delivered = 0;
          incs.forEach((inc, i) => {
            if (i === glitchAt) {
              before = register;
              events.push(R(spike, i + 0.5));
            }
            register += inc;
            delivered += inc;
            events.push(R(register, i + 1));
          });
          const total = meter([events])
            .filter((e): e is UsageEvent => e.kind === "usage")
            .reduce((sum, u) => sum.plus(u.quantity.value), dec(0));
          // A glitch the capacity cannot tell from a delivery (a rise of at most B, or a drop to
          // at most B read as a reset) bills at most B; any other is quarantined, never billed.
          expect(total.lte(m3(delivered + CAP / 2))).toBe(true);
          const implausible = spike > before + CAP / 2 || (spike > CAP / 2 && spike < before);
          if (implausible) expect(total.toFixed()).toBe(m3(delivered).toFixed());
        },
      ),
      { numRuns: 300 },
    );
  });
});
