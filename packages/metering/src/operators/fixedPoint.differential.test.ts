// Differential property test of the fixed-point metering core (issue 20): random streams with
// rollovers, resets, replacements, glitches, gaps, quarantines, late events and DST zones go
// through the live operators and through a frozen copy of the Decimal operators as they were
// before the fixed-point core (test/reference/*.reference.ts, the oracle). Every emitted event
// and every onState callback must be identical: same kinds, same key order, same values, same
// Decimal constructor — serialized byte for byte.
import { Decimal } from "decimal.js";
import fc from "fast-check";
import { from, type OperatorFunction } from "rxjs";
import { describe, expect, it } from "vitest";
import { counterDelta as refCounterDelta } from "../../test/reference/counterDelta.reference.js";
import { integrateRate as refIntegrateRate } from "../../test/reference/integrateRate.reference.js";
import { machineState as refMachineState } from "../../test/reference/machineState.reference.js";
import { tumblingWindow as refTumblingWindow } from "../../test/reference/tumblingWindow.reference.js";
import { Dec } from "../quantity.js";
import type { MeterEvent, Quality, Reading } from "../reading.js";
import { counterDelta } from "./counterDelta.js";
import { integrateRate } from "./integrateRate.js";
import { machineState } from "./machineState.js";
import { compressorStates } from "./stateMappings.js";
import { tumblingWindow, type WindowSize } from "./tumblingWindow.js";

// ─── serialization: every key in order, Decimals with their constructor, Dates as ISO ─────

function serialize(x: unknown): string {
  if (x === null) return "null";
  if (x === undefined) return "undefined";
  if (Decimal.isDecimal(x)) {
    const d = x as Decimal;
    return `D(${d.constructor === Dec ? "Dec" : "other"}:${d.toString()}|${d.toFixed()})`;
  }
  if (x instanceof Date) return `T(${Number.isNaN(x.getTime()) ? "invalid" : x.toISOString()})`;
  if (Array.isArray(x)) return `[${x.map(serialize).join(",")}]`;
  if (typeof x === "object") {
    const parts: string[] = [];
    for (const k of Object.keys(x)) {
      parts.push(`${JSON.stringify(k)}:${serialize((x as Record<string, unknown>)[k])}`);
    }
    return `{${parts.join(",")}}`;
  }
  if (typeof x === "function") return "fn";
  return `${typeof x}:${String(x)}`;
}

// ─── the stream generator ──────────────────────────────────────────────────────────────────

/** DST changes in Europe/Berlin (2025-03-30 01:00Z, 2025-10-26 01:00Z) and New York. */
const STARTS = [
  Date.parse("2025-03-29T22:00:00.000Z"),
  Date.parse("2025-10-25T21:30:00.000Z"),
  Date.parse("2025-03-09T05:00:00.000Z"),
  Date.parse("2025-06-01T00:00:00.000Z"),
];

const WINDOWS: { size: WindowSize; timeZone: string; offsetMinutes?: number }[] = [
  { size: { minutes: 15 }, timeZone: "UTC" },
  { size: { minutes: 5 }, timeZone: "Europe/Berlin" },
  { size: { hours: 1 }, timeZone: "Europe/Berlin" },
  { size: { hours: 2 }, timeZone: "America/New_York", offsetMinutes: 60 },
  { size: { hours: 8 }, timeZone: "Europe/Berlin", offsetMinutes: 360 },
  { size: { days: 1 }, timeZone: "America/New_York" },
];

/** A decimal with `scale` places from an integer of units of 10^-scale. */
function scaled(units: number, scale: number): Decimal {
  return new Dec(units).div(10 ** scale);
}

interface Op {
  /** What happens at this step. */
  kind: number;
  /** Milliseconds since the previous step (may be 0; rarely large). */
  dt: number;
  amount: number;
  scale: number;
  machine: number;
  pick: number;
}

const op = fc.record({
  kind: fc.integer({ min: 0, max: 99 }),
  dt: fc.oneof(
    { weight: 12, arbitrary: fc.integer({ min: 0, max: 20_000 }) },
    { weight: 2, arbitrary: fc.integer({ min: 20_000, max: 200_000 }) },
    { weight: 1, arbitrary: fc.integer({ min: 200_000, max: 2 * 3_600_000 }) },
  ),
  amount: fc.integer({ min: 0, max: 5_000_000 }),
  scale: fc.integer({ min: 0, max: 4 }),
  machine: fc.integer({ min: 0, max: 2 }),
  pick: fc.nat(),
});

const STATES = ["Loaded", "Unloaded", "Stopped", "Starting", "Bogus"];
const AIR_ROLLOVER = 100_000; // m³

/** Renders operations into a MeterEvent stream for up to three machines. */
function render(start: number, ops: Op[]): MeterEvent[] {
  const events: MeterEvent[] = [];
  let t = start;
  const air = [0, 0, 0]; // thousandths of m³, below AIR_ROLLOVER × 1000
  const energy = [0, 0, 0]; // hundredths of kWh
  const resets = [0, 0, 0];
  for (const o of ops) {
    t += o.dt;
    const m = o.machine;
    const machineId = `m${m}`;
    const at = new Date(t);
    const reading = (
      channel: string,
      value: Reading["value"],
      extra: Partial<Reading> = {},
      quality: Quality = "good",
    ): Reading => ({
      kind: "reading",
      machineId,
      channel,
      value,
      quality,
      sourceTime: at,
      ...extra,
    });
    const k = o.kind;
    if (k < 30) {
      // air: a plausible increase (≤ 12 m³/min), sometimes across the rollover
      const max = Math.max(1, Math.floor(o.dt / 5)); // thousandths of m³ at 0.2 m³/s
      air[m] = (air[m]! + (o.amount % (max + 1))) % (AIR_ROLLOVER * 1000);
      events.push(reading("air", scaled(air[m]!, 3), o.pick % 7 === 0 ? { unit: "MTQ" } : {}));
    } else if (k < 33) {
      air[m] = o.amount % 2000; // reset to near 0
      events.push(reading("air", scaled(air[m]!, 3)));
    } else if (k < 35) {
      air[m] = (o.amount * 17) % (AIR_ROLLOVER * 1000); // replaced / glitch
      events.push(reading("air", scaled(air[m]!, 3)));
    } else if (k < 36) {
      // a one-off glitch that does not move the register
      events.push(reading("air", scaled((o.amount * 31) % (AIR_ROLLOVER * 1000), 3)));
    } else if (k < 37) {
      events.push(reading("air", scaled(AIR_ROLLOVER * 1000 + o.amount, 3))); // out of range
    } else if (k < 38) {
      const bad = [
        "x",
        true,
        new Dec(Number.NaN),
        new Dec(-1),
        new Decimal("12.5"),
        new Dec("-0"),
        new Dec("1e-30"),
      ];
      events.push(reading(o.pick % 2 === 0 ? "air" : "flow", bad[o.pick % bad.length]!));
    } else if (k < 39) {
      events.push(reading("air", scaled(air[m]!, 3), {}, o.pick % 2 === 0 ? "bad" : "uncertain"));
    } else if (k < 40) {
      events.push(reading("air", scaled(air[m]!, 3), { unit: "KWH" }));
    } else if (k < 41) {
      // time goes backwards
      events.push({
        ...reading("air", scaled(air[m]!, 3)),
        sourceTime: new Date(t - 1 - o.amount),
      });
    } else if (k < 52) {
      // energy: increases of varying scale, occasionally a wrap at 1 000 000 kWh
      energy[m] = (energy[m]! + (o.amount % 5000) * 10 ** (o.scale % 3)) % 100_000_000;
      events.push(reading("energy", scaled(energy[m]!, 2)));
    } else if (k < 53) {
      energy[m] = o.amount % 50; // reset near 0
      events.push(reading("energy", scaled(energy[m]!, 2)));
    } else if (k < 54) {
      resets[m]! += 1;
      events.push(reading("resets", new Dec(resets[m]!)));
    } else if (k < 55) {
      const newInitial = scaled(o.amount % 10_000, 2);
      events.push({
        kind: "registerReplaced",
        machineId,
        channel: o.pick % 3 === 0 ? "air" : "energy",
        at,
        ...(o.pick % 2 === 0 ? { oldFinal: scaled(energy[m]! + (o.amount % 300), 2) } : {}),
        newInitial,
      });
      if (o.pick % 3 !== 0) energy[m] = o.amount % 10_000;
    } else if (k < 72) {
      // flow in m³/min with 0–4 places; rarely beyond 2^53 or near the 64-digit precision
      const huge = ["123456789012345678.123456789", "4.5e55", "1e-30", "7e62"];
      events.push(
        reading(
          "flow",
          o.pick % 29 === 0
            ? new Dec(huge[o.amount % huge.length]!)
            : scaled(o.amount % (12 * 10 ** o.scale + 1), o.scale),
          {
            ...(o.pick % 5 === 0 ? { unit: "G53" } : {}),
          },
        ),
      );
    } else if (k < 80) {
      events.push(reading("state", STATES[o.pick % STATES.length]!));
    } else if (k < 83) {
      const channel = [undefined, "air", "energy", "flow"][o.pick % 4];
      events.push({
        kind: "gap",
        machineId,
        ...(channel === undefined ? {} : { channel }),
        start: new Date(t - (o.amount % 600_000)),
        end: at,
        reason: "source.reconnected",
      });
    } else if (k < 85) {
      // an event from an earlier window (late)
      events.push({
        ...reading("flow", scaled(o.amount % 1200, 2)),
        sourceTime: new Date(t - (o.amount % 3_600_000)),
      });
    } else if (k < 95) {
      events.push(reading("energy", scaled(energy[m]!, 2))); // unchanged register
    } else {
      // usage from elsewhere: negative, beyond 2^53, many places, another unit or basis
      const values = [
        scaled(o.amount, o.scale),
        new Dec(-o.amount).div(1000),
        new Dec("9007199254740991").plus(o.amount),
        new Dec(o.amount).div("1e21"),
        new Dec("-0"),
      ];
      const value = values[o.pick % values.length]!;
      events.push({
        kind: "usage",
        machineId,
        channel: "manual",
        quantity:
          o.pick % 11 === 0
            ? { value, unit: "KWH" }
            : o.pick % 13 === 0
              ? { value, unit: "MTQ", basis: "ISO1217-FAD" }
              : { value, unit: "MTQ" },
        start: new Date(t - (o.amount % 60_000)),
        end: at,
        flags: o.pick % 3 === 0 ? { bridged: true } : {},
      });
    }
  }
  return events;
}

// ─── the two pipelines ─────────────────────────────────────────────────────────────────────

interface Factories {
  counterDelta: typeof counterDelta;
  integrateRate: typeof integrateRate;
  machineState: typeof machineState;
  tumblingWindow: typeof tumblingWindow;
}

const LIVE: Factories = { counterDelta, integrateRate, machineState, tumblingWindow };
const REFERENCE = {
  counterDelta: refCounterDelta,
  integrateRate: refIntegrateRate,
  machineState: refMachineState,
  tumblingWindow: refTumblingWindow,
} as unknown as Factories;

interface Setup {
  window: number;
  lateness: number;
  capacity: boolean;
  initial: boolean;
}

function run(f: Factories, events: MeterEvent[], setup: Setup): string[] {
  const out: string[] = [];
  const log = (what: string) => (s: unknown) => out.push(`${what} ${serialize(s)}`);
  const w = WINDOWS[setup.window % WINDOWS.length]!;
  const ops: OperatorFunction<MeterEvent, MeterEvent>[] = [
    f.counterDelta({
      channel: "air",
      unit: "MTQ",
      basis: "ISO1217-FAD",
      rollover: AIR_ROLLOVER,
      ...(setup.capacity ? { capacity: { value: "12", per: "min" } } : { maxWrapIncrement: "500" }),
      ...(setup.initial
        ? { initial: { register: "99990.5", at: new Date(STARTS[0]! - 60_000) } }
        : {}),
      onState: log("air.state"),
    }),
    f.counterDelta({
      channel: "energy",
      unit: "KWH",
      rollover: "1000000",
      maxWrapIncrement: "2000",
      resetThreshold: "0.5",
      resetCounterChannel: "resets",
      ...(setup.capacity ? {} : { capacity: { value: "7200.5", per: "h" } }),
      onState: log("energy.state"),
    }),
    f.integrateRate({
      channel: "flow",
      unit: "G53",
      basis: "ISO1217-FAD",
      maxGapMs: 60_000,
      ...(setup.initial
        ? { initial: { machineId: "m1", rate: "3.25", at: new Date(STARTS[0]! - 1000) } }
        : {}),
      onState: log("flow.state"),
    }),
    f.machineState({ channel: "state", mapping: compressorStates }) as OperatorFunction<
      MeterEvent,
      MeterEvent
    >,
    f.tumblingWindow({
      ...w,
      allowedLatenessMs: setup.lateness,
    }) as OperatorFunction<MeterEvent, MeterEvent>,
  ];
  let stream = from(events);
  for (const o of ops) stream = stream.pipe(o);
  stream.subscribe({
    next: (e) => out.push(`event ${serialize(e)}`),
    error: (err: unknown) => out.push(`error ${String(err)}`),
    complete: () => out.push("complete"),
  });
  return out;
}

const setupArb = fc.record({
  window: fc.nat(),
  lateness: fc.constantFrom(0, 0, 1000, 120_000),
  capacity: fc.boolean(),
  initial: fc.boolean(),
});

describe("fixed-point core vs the frozen Decimal operators (differential)", () => {
  it("emits byte-identical events and states for random streams", () => {
    fc.assert(
      fc.property(
        fc.nat(STARTS.length - 1),
        fc.array(op, { minLength: 1, maxLength: 250 }),
        setupArb,
        (startIndex, ops, setup) => {
          const events = render(STARTS[startIndex]!, ops);
          const expected = run(REFERENCE, events, setup);
          const actual = run(LIVE, events, setup);
          expect(actual.length).toBe(expected.length);
          for (let i = 0; i < expected.length; i++) expect(actual[i]).toBe(expected[i]);
        },
      ),
      { numRuns: 120 },
    );
  }, 300_000);

  it("rates whose exact sum passes 10^60 (Decimal arithmetic from there) stay identical", () => {
    const events: MeterEvent[] = ["1", "4.5e55", "3", "7e62", "2", "0.25", "-0", "1e-30", "5"].map(
      (v, i): Reading => ({
        kind: "reading",
        machineId: "m0",
        channel: "flow",
        value: new Dec(v),
        quality: "good",
        sourceTime: new Date(STARTS[0]! + 7_000 * i),
      }),
    );
    const setup: Setup = { window: 0, lateness: 0, capacity: true, initial: true };
    const expected = run(REFERENCE, events, setup);
    expect(expected.filter((l) => l.includes('"derivedFromRate"')).length).toBeGreaterThan(0);
    expect(run(LIVE, events, setup)).toEqual(expected);
  });

  it("sums that leave safe integers (numbers → bigints) mid-stream stay identical", () => {
    // 2^53 / 25 (steps per m³·ms at scale 3 for G53 and 1e-9) and 2^53 itself, approached
    // from just below, so the running sum crosses them a few samples in.
    const starts = ["360287970100", "360287970189.5", "9007199254740.000", "9007199254.740991"];
    fc.assert(
      fc.property(
        fc.constantFrom(...starts),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 12_000 }), fc.integer({ min: 0, max: 4 })), {
          minLength: 1,
          maxLength: 40,
        }),
        (numerator, samples) => {
          const events: MeterEvent[] = samples.map(
            ([units, scale], i): Reading => ({
              kind: "reading",
              machineId: "m0",
              channel: "flow",
              value: scaled(units, scale),
              quality: "good",
              sourceTime: new Date(STARTS[0]! + 1_000 * (i + 1)),
            }),
          );
          const runRate = (f: Factories): string[] => {
            const out: string[] = [];
            from(events)
              .pipe(
                f.integrateRate({
                  channel: "flow",
                  unit: "G53",
                  maxGapMs: 60_000,
                  initial: { rate: "11.5", at: new Date(STARTS[0]!), numerator },
                  onState: (s) => out.push(`state ${serialize(s)}`),
                }),
              )
              .subscribe((e) => out.push(`event ${serialize(e)}`));
            return out;
          };
          expect(runRate(LIVE)).toEqual(runRate(REFERENCE));
        },
      ),
      { numRuns: 60 },
    );
  });

  it("the generated streams exercise every path (not a vacuous comparison)", () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(
        fc.nat(STARTS.length - 1),
        fc.array(op, { minLength: 50, maxLength: 250 }),
        setupArb,
        (startIndex, ops, setup) => {
          for (const line of run(LIVE, render(STARTS[startIndex]!, ops), setup)) {
            for (const m of line.matchAll(
              /"(rollover|reset|replaced|ambiguous|bridged|derivedFromRate)":boolean:true|"reason":string:([a-zA-Z.]+)|"kind":string:(window|state)/g,
            )) {
              seen.add(m[1] ?? m[2] ?? m[3]!);
            }
          }
        },
      ),
      { numRuns: 40, seed: 20 },
    );
    for (const path of [
      "rollover",
      "reset",
      "replaced",
      "ambiguous",
      "bridged",
      "derivedFromRate",
      "window",
      "state",
      "counter.implausible",
      "counter.nonMonotonic",
      "counter.outOfRange",
      "counter.reset",
      "counter.replaced",
      "quality.bad",
      "unit.mismatch",
      "value.notNumeric",
      "value.notFinite",
      "value.negative",
      "time.nonMonotonic",
      "time.late",
      "rate.maxGapExceeded",
    ]) {
      expect(seen, path).toContain(path);
    }
  }, 300_000);
});
