import fc from "fast-check";
import { from } from "rxjs";
import { describe, expect, it } from "vitest";
import { dec } from "../quantity.js";
import type { MeterEvent, Reading, UsageEvent } from "../reading.js";
import { rateUnits } from "../units.js";
import { type IntegrateRateState, integrateRate } from "./integrateRate.js";

const T0 = Date.parse("2025-03-01T00:00:00.000Z");
const MAX_GAP_MS = 120_000;

// Resolutions as [digits, exponent]: resolution = digits · 10^-exponent.
const resolutions: readonly [bigint, number][] = [
  [1n, 9],
  [1n, 3],
  [1n, 0],
  [25n, 2],
];

const split = fc.integer({ min: 0, max: 4 }).map((x) => x === 0);
const anySample = fc.record({
  rate: fc.integer({ min: 0, max: 100_000 }), // thousandths of the rate unit
  dtMs: fc.oneof(fc.integer({ min: 0, max: 5_000 }), fc.integer({ min: 0, max: 200_000 })),
  split,
});
// Whole rates over quarter minutes: totals often land exactly on a rounding tie.
const roundSample = fc.record({
  rate: fc.integer({ min: 0, max: 4 }).map((x) => x * 1000),
  dtMs: fc.integer({ min: 0, max: 9 }).map((x) => x * 15_000),
  split,
});

const scenario = fc.record({
  unit: fc.constantFrom("G53", "MQH", "MQS"),
  resolution: fc.constantFrom(...resolutions),
  samples: fc.oneof(
    fc.array(anySample, { minLength: 1, maxLength: 80 }),
    fc.array(roundSample, { minLength: 1, maxLength: 20 }),
  ),
});

type Scenario = typeof scenario extends fc.Arbitrary<infer T> ? T : never;

function readings(s: Scenario): Reading[][] {
  const pieces: Reading[][] = [[]];
  let t = T0;
  for (const x of s.samples) {
    t += x.dtMs;
    pieces[pieces.length - 1]!.push({
      kind: "reading",
      machineId: "c1",
      channel: "flow",
      value: dec(x.rate).div(1000),
      unit: s.unit,
      quality: "good",
      sourceTime: new Date(t),
    });
    if (x.split) pieces.push([]);
  }
  return pieces;
}

/** Runs every piece through its own operator instance, chained by the journaled state. */
function meter(s: Scenario, pieces: Reading[][]): MeterEvent[] {
  const [digits, exponent] = s.resolution;
  const out: MeterEvent[] = [];
  let journal: IntegrateRateState | undefined;
  for (const piece of pieces) {
    from(piece)
      .pipe(
        integrateRate({
          channel: "flow",
          unit: s.unit,
          maxGapMs: MAX_GAP_MS,
          resolution: `${digits}e-${exponent}`,
          ...(journal === undefined ? {} : { initial: journal }),
          onState: (state) => {
            journal = state;
          },
        }),
      )
      .subscribe((e) => out.push(e));
  }
  return out;
}

/**
 * The oracle, computed independently in integers: the exact trapezoid over every interval no
 * longer than MAX_GAP_MS, as a fraction, rounded half-even to the resolution once.
 */
function expectedTotal(s: Scenario): { total: string; gaps: number } {
  const [digits, exponent] = s.resolution;
  let twiceAreaThousandthMs = 0n; // Σ (r1 + r2) · Δt, rates in thousandths, Δt in ms
  let gaps = 0;
  s.samples.forEach((x, i) => {
    if (i === 0) return;
    if (x.dtMs > MAX_GAP_MS) {
      gaps++;
      return;
    }
    twiceAreaThousandthMs += BigInt(s.samples[i - 1]!.rate + x.rate) * BigInt(x.dtMs);
  });
  const secondsPerTimeUnit = BigInt(rateUnits[s.unit]!.secondsPerTimeUnit);
  // volume / resolution = twiceArea / (1000 · 2 · 1000 · spt) / (digits · 10^-exponent)
  const num = twiceAreaThousandthMs * 10n ** BigInt(exponent);
  const den = 2_000_000n * secondsPerTimeUnit * digits;
  let q = num / den;
  const rem2 = (num % den) * 2n;
  if (rem2 > den || (rem2 === den && q % 2n === 1n)) q += 1n;
  return { total: dec(q).times(`${digits}e-${exponent}`).toFixed(), gaps };
}

describe("integrateRate (properties)", () => {
  it("behavior: any split gives the same total, equal to the quantized exact trapezoid", () => {
    let splits = 0;
    let gapsSeen = 0;
    fc.assert(
      fc.property(scenario, (s) => {
        const pieces = readings(s);
        const split = meter(s, pieces);
        const whole = meter(s, [pieces.flat()]);
        const usage = (events: MeterEvent[]) =>
          events.filter((e): e is UsageEvent => e.kind === "usage");
        const total = (events: MeterEvent[]) =>
          usage(events)
            .reduce((sum, u) => sum.plus(u.quantity.value), dec(0))
            .toFixed();
        const oracle = expectedTotal(s);

        expect(total(split)).toBe(oracle.total);
        expect(total(whole)).toBe(oracle.total);
        // Split or not, the same events: the split is invisible downstream.
        expect(split).toEqual(whole);
        expect(split.filter((e) => e.kind === "gap")).toHaveLength(oracle.gaps);
        expect(split.filter((e) => e.kind === "quarantine")).toEqual([]);
        for (const u of usage(split)) expect(u.quantity.value.isNegative()).toBe(false);

        splits += pieces.length - 1;
        gapsSeen += oracle.gaps;
      }),
      { numRuns: 300 },
    );
    expect(splits).toBeGreaterThan(0);
    expect(gapsSeen).toBeGreaterThan(0);
  });
});
