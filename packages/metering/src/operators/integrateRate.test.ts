import { from } from "rxjs";
import { TestScheduler } from "rxjs/testing";
import { describe, expect, it } from "vitest";
import { isMaaskitError } from "../errors.js";
import { dec } from "../quantity.js";
import type {
  GapEvent,
  MeterEvent,
  QuarantineEvent,
  Reading,
  UsageEvent,
  UsageFlags,
} from "../reading.js";
import {
  type IntegrateRateOptions,
  type IntegrateRateState,
  integrateRate,
} from "./integrateRate.js";

const T0 = Date.parse("2025-03-01T08:00:00.000Z");
/** Source time `s` seconds after T0. */
const at = (s: number): Date => new Date(T0 + s * 1000);

function R(value: string, s: number, extra: Partial<Reading> = {}): Reading {
  return {
    kind: "reading",
    machineId: "c1",
    channel: "flow",
    value: dec(value),
    unit: "G53",
    quality: "good",
    sourceTime: at(s),
    ...extra,
  };
}

function U(
  s0: number,
  s1: number,
  value: string,
  flags: UsageFlags = {},
  extra: Partial<UsageEvent> = {},
): UsageEvent {
  return {
    kind: "usage",
    machineId: "c1",
    channel: "flow",
    quantity: { value: dec(value), unit: "MTQ", basis: "ISO1217-FAD" },
    start: at(s0),
    end: at(s1),
    flags: { derivedFromRate: true, ...flags },
    ...extra,
  };
}

function Q(r: Reading, reason: string, message: string): QuarantineEvent {
  return {
    kind: "quarantine",
    machineId: r.machineId,
    channel: r.channel,
    reason,
    message: `${r.machineId}/${r.channel}: ${message}`,
    item: r,
    at: r.sourceTime,
  };
}

const base: IntegrateRateOptions = {
  channel: "flow",
  unit: "G53",
  basis: "ISO1217-FAD",
  maxGapMs: 120_000,
};

function marble(
  options: IntegrateRateOptions,
  input: string,
  inValues: Record<string, MeterEvent>,
  expected: string,
  outValues: Record<string, MeterEvent> = {},
  error?: unknown,
): void {
  new TestScheduler((a, e) => expect(a).toEqual(e)).run(({ cold, expectObservable }) => {
    expectObservable(cold(input, inValues, error).pipe(integrateRate(options))).toBe(
      expected,
      outValues,
      error,
    );
  });
}

function run(options: IntegrateRateOptions, events: MeterEvent[]): MeterEvent[] {
  const out: MeterEvent[] = [];
  from(events)
    .pipe(integrateRate(options))
    .subscribe((e) => out.push(e));
  return out;
}

describe("integrateRate", () => {
  it("default: trapezoids between consecutive samples, in the volume unit", () => {
    // m³/min: (1 + 2) / 2 · 1 min = 1.5 m³; (2 + 2) / 2 · 0.5 min = 1 m³; (2 + 0) / 2 · 0.25 min = 0.25 m³
    marble(
      base,
      "a-b-c-d|",
      { a: R("1", 0), b: R("2", 60), c: R("2", 90), d: R("0", 105) },
      "--u-v-w|",
      { u: U(0, 60, "1.5"), v: U(60, 90, "1"), w: U(90, 105, "0.25") },
    );
  });

  it("behavior: never", () => {
    marble(base, "-", {}, "-");
  });

  it("behavior: empty", () => {
    marble(base, "|", {}, "|");
  });

  it("behavior: one value only starts the integration", () => {
    marble(base, "--a--|", { a: R("5", 0) }, "-----|");
  });

  it("error: passes the source error on", () => {
    const err = new Error("source failed");
    marble(base, "a-b-#", { a: R("1", 0), b: R("1", 60) }, "--u-#", { u: U(0, 60, "1") }, err);
  });

  it("behavior: early unsubscribe stops the source", () => {
    new TestScheduler((a, e) => expect(a).toEqual(e)).run(
      ({ cold, expectObservable, expectSubscriptions }) => {
        const src = cold("a-b-c-d|", {
          a: R("1", 0),
          b: R("1", 60),
          c: R("1", 120),
          d: R("1", 180),
        });
        expectObservable(src.pipe(integrateRate(base)), "^---!").toBe("--u-", {
          u: U(0, 60, "1"),
        });
        expectSubscriptions(src.subscriptions).toBe("^---!");
      },
    );
  });

  it("behavior: m³/h over seconds — increments of the quantized running total, no drift", () => {
    // 1 m³/h for 1 s is 1/3600 m³ = 0.000277777…: the running total is rounded, not each step.
    const samples = Array.from({ length: 3601 }, (_, s) => R("1", s, { unit: "MQH" }));
    const out = run({ ...base, unit: "MQH" }, samples) as UsageEvent[];
    expect(out.slice(0, 3).map((u) => u.quantity.value.toFixed())).toEqual([
      "0.000277778",
      "0.000277778",
      "0.000277777",
    ]);
    expect(out).toHaveLength(3600);
    expect(out.reduce((sum, u) => sum.plus(u.quantity.value), dec(0)).toFixed()).toBe("1");
  });

  it("args: resolution — the total is rounded half-even at the declared resolution", () => {
    // 1 m³/min for 30 s = 0.5 m³ → 0 (even); 60 s more = 1.5 m³ total → 2 (even): increments 0, 2.
    marble(
      { ...base, resolution: "1" },
      "a-b-c|",
      { a: R("1", 0), b: R("1", 30), c: R("1", 90) },
      "--u-v|",
      { u: U(0, 30, "0"), v: U(30, 90, "2") },
    );
  });

  it("args: maxGapMs — a longer interval is a gap, not invented volume; integration restarts", () => {
    const gap: GapEvent = {
      kind: "gap",
      machineId: "c1",
      channel: "flow",
      start: at(0),
      end: at(121),
      reason: "rate.maxGapExceeded",
      detail: "121000 ms between samples exceeds maxGapMs 120000; no volume integrated",
    };
    marble(base, "a-b-c|", { a: R("1", 0), b: R("1", 121), c: R("3", 181) }, "--g-u|", {
      g: gap,
      u: U(121, 181, "2"),
    });
  });

  it("behavior: a source gap within maxGapMs is interpolated and flagged bridged", () => {
    const sourceGap: GapEvent = {
      kind: "gap",
      machineId: "c1",
      start: at(10),
      end: at(50),
      reason: "source.reconnected",
    };
    const other: GapEvent = { ...sourceGap, channel: "total" };
    marble(
      base,
      "a-o-g-b-c|",
      { a: R("1", 0), o: other, g: sourceGap, b: R("1", 60), c: R("1", 120) },
      "--o-g-u-v|",
      { o: other, g: sourceGap, u: U(0, 60, "1", { bridged: true }), v: U(60, 120, "1") },
    );
  });

  it("behavior: unusable readings are quarantined and skipped", () => {
    const bad = R("100", 30, { quality: "bad" });
    const nan = R("0", 31, { value: dec(0).div(0) });
    const neg = R("-1", 32);
    const unit = R("1", 33, { unit: "MQH" });
    const back = R("1", -1);
    marble(
      base,
      "a-b-c-d-e-f-g|",
      { a: R("1", 0), b: bad, c: nan, d: neg, e: unit, f: back, g: R("1", 60) },
      "--b-c-d-e-f-g|",
      {
        b: Q(bad, "quality.bad", "quality is bad"),
        c: Q(nan, "value.notFinite", "value NaN is not finite"),
        d: Q(neg, "value.negative", "rate -1 is negative"),
        e: Q(unit, "unit.mismatch", "unit MQH is not the expected G53"),
        f: Q(
          back,
          "time.nonMonotonic",
          `sourceTime ${at(-1).toISOString()} is before the previous sample at ${at(0).toISOString()}`,
        ),
        g: U(0, 60, "1"),
      },
    );
  });

  it("behavior: a sample at the same time replaces the rate; uncertain quality is used", () => {
    // (5 + 1) / 2 · 1 min = 3 m³, not (1 + 1) / 2.
    marble(
      base,
      "a-b-c|",
      { a: R("1", 0), b: R("5", 0, { quality: "uncertain" }), c: R("1", 60) },
      "----u|",
      { u: U(0, 60, "3") },
    );
  });

  it("behavior: other channels and machines pass through or integrate independently", () => {
    const total = R("7", 5, { channel: "total", unit: "MTQ" });
    marble(
      base,
      "a-x-t-b-y|",
      {
        a: R("1", 0),
        x: R("2", 0, { machineId: "c2" }),
        t: total,
        b: R("1", 60),
        y: R("4", 30, { machineId: "c2" }),
      },
      "----t-u-v|",
      { t: total, u: U(0, 60, "1"), v: U(0, 30, "1.5", {}, { machineId: "c2" }) },
    );
  });

  it("args: unit — kW integrates to kWh; without basis the quantity has none", () => {
    const out = run({ channel: "power", unit: "KWT", maxGapMs: 3_600_000 }, [
      R("10", 0, { channel: "power", unit: "KWT" }),
      R("20", 1800, { channel: "power", unit: "KWT" }),
    ]);
    expect(out).toEqual([
      {
        kind: "usage",
        machineId: "c1",
        channel: "power",
        quantity: { value: dec("7.5"), unit: "KWH" },
        start: at(0),
        end: at(1800),
        flags: { derivedFromRate: true },
      },
    ]);
  });

  it("args: onState + initial — a restart resumes exactly where the journal left off", () => {
    const states: IntegrateRateState[] = [];
    const samples = [
      R("1", 0, { unit: "MQH" }),
      R("1", 1, { unit: "MQH" }),
      R("2", 2, { unit: "MQH" }),
    ];
    const opts: IntegrateRateOptions = { ...base, unit: "MQH" };
    const first = run({ ...opts, onState: (s) => states.push(s) }, samples.slice(0, 2));
    expect(states.at(-1)).toEqual({
      machineId: "c1",
      rate: dec(1),
      at: at(1),
      numerator: dec(2000),
      emitted: dec("0.000277778"),
    });
    const second = run({ ...opts, initial: states.at(-1)! }, samples.slice(2));
    const whole = run(opts, samples);
    const values = (events: MeterEvent[]) =>
      events.map((e) => (e as UsageEvent).quantity.value.toFixed());
    // 1/3600 m³, then (1 + 2) / 2 · 1 s = 1.5/3600 m³: total 2.5/3600 = 0.000694444… → 0.000694444
    expect([...values(first), ...values(second)]).toEqual(values(whole));
    expect(values(whole)).toEqual(["0.000277778", "0.000416666"]);
  });

  it("error: an onState callback that throws errors the stream", () => {
    const err = new Error("journal full");
    marble(
      {
        ...base,
        onState: () => {
          throw err;
        },
      },
      "a-b|",
      { a: R("1", 0), b: R("1", 60) },
      "#",
      {},
      err,
    );
  });

  it("error: invalid options report every problem at once", () => {
    let caught: unknown;
    try {
      integrateRate({
        channel: "",
        unit: "MTQ",
        basis: "normal" as never,
        maxGapMs: 0,
        resolution: "-1",
        initial: { rate: "-1", at: new Date(Number.NaN), numerator: "2000", emitted: "5" },
        onState: "x" as never,
      });
    } catch (e) {
      caught = e;
    }
    expect(isMaaskitError(caught, "metering.integrateRate.invalidOptions")).toBe(true);
    expect((caught as { details: { problems: string[] } }).details.problems).toEqual([
      'channel must be a non-empty string, got ""',
      'unit must be a rate unit (MQH, G53, MQS, KWT), got "MTQ"',
      'basis must be one of ISO1217-FAD, DIN1343-normal, ISO2533-standard, actual, got "normal"',
      "maxGapMs must be a finite number > 0, got 0",
      "resolution must be > 0",
      "initial.rate must be >= 0",
      "initial.at must be a valid Date",
      "onState must be a function",
    ]);
  });

  it("error: an initial state whose emitted total does not match its numerator is rejected", () => {
    expect(() =>
      integrateRate({
        ...base,
        initial: { rate: "1", at: at(0), numerator: "120000", emitted: "2" },
      }),
    ).toThrowError(/initial.emitted must be 1 \(the quantized numerator\), got 2/);
  });
});
