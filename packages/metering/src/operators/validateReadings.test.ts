import { Decimal } from "decimal.js";
import { TestScheduler } from "rxjs/testing";
import { describe, expect, it } from "vitest";
import { isMaaskitError } from "../errors.js";
import { dec } from "../quantity.js";
import type { GapEvent, MeterEvent, QuarantineEvent, Reading, ReadingValue } from "../reading.js";
import { type ValidateReadingsOptions, validateReadings } from "./validateReadings.js";

function reading(
  channel: string,
  value: ReadingValue | number,
  ms: number,
  extra: Partial<Reading> = {},
): Reading {
  return {
    kind: "reading",
    machineId: "m1",
    channel,
    value: value as ReadingValue,
    unit: channel === "flow" ? "G53" : channel === "total" ? "MTQ" : undefined,
    quality: "good",
    sourceTime: new Date(ms),
    ...extra,
  };
}

function quarantined(r: Reading, reason: string, message: string): QuarantineEvent {
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

const options: ValidateReadingsOptions = {
  units: { flow: "G53", total: "MTQ" },
  nonNegative: ["flow", "total"],
};

function testScheduler(): TestScheduler {
  return new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
}

/** Runs `input` (one value per frame, frames 0..n-1) through the operator and returns the output. */
function runAll(
  input: MeterEvent[],
  opts: ValidateReadingsOptions = options,
  nowOffset = 0,
): MeterEvent[] {
  const out: MeterEvent[] = [];
  const ts = testScheduler();
  ts.run(({ cold, flush }) => {
    const marbles = `${"-".repeat(nowOffset)}${input.map((_, i) => String.fromCharCode(97 + i)).join("")}|`;
    const values = Object.fromEntries(input.map((v, i) => [String.fromCharCode(97 + i), v]));
    cold(marbles, values)
      .pipe(validateReadings(opts, ts))
      .subscribe((e) => out.push(e));
    flush();
  });
  return out;
}

describe("validateReadings", () => {
  const a = reading("flow", dec("1.5"), 0);
  const b = reading("total", dec("100"), 1);
  const g: GapEvent = {
    kind: "gap",
    machineId: "m1",
    start: new Date(0),
    end: new Date(1),
    reason: "source.reconnected",
  };

  it("default: passes good readings and other events through unchanged", () => {
    const ts = testScheduler();
    ts.run(({ cold, expectObservable }) => {
      const src = cold("a-g-b-s|", { a, b, g, s: reading("state", "Loaded", 2) });
      expectObservable(src.pipe(validateReadings(options, ts))).toBe("a-g-b-s|", {
        a,
        b,
        g,
        s: reading("state", "Loaded", 2),
      });
    });
  });

  it("behavior: never", () => {
    const ts = testScheduler();
    ts.run(({ cold, expectObservable }) => {
      expectObservable(cold<MeterEvent>("-").pipe(validateReadings(options, ts))).toBe("-");
    });
  });

  it("behavior: empty", () => {
    const ts = testScheduler();
    ts.run(({ cold, expectObservable }) => {
      expectObservable(cold<MeterEvent>("|").pipe(validateReadings(options, ts))).toBe("|");
    });
  });

  it("behavior: one value", () => {
    const ts = testScheduler();
    ts.run(({ cold, expectObservable }) => {
      expectObservable(cold("--a--|", { a }).pipe(validateReadings(options, ts))).toBe("--a--|", {
        a,
      });
    });
  });

  it("error: passes the source error on", () => {
    const ts = testScheduler();
    ts.run(({ cold, expectObservable }) => {
      const err = new Error("boom");
      expectObservable(cold("a-#", { a }, err).pipe(validateReadings(options, ts))).toBe(
        "a-#",
        { a },
        err,
      );
    });
  });

  it("behavior: early unsubscribe stops the source", () => {
    const ts = testScheduler();
    ts.run(({ cold, expectObservable, expectSubscriptions }) => {
      const src = cold("a-b-a-b|", { a, b });
      expectObservable(src.pipe(validateReadings(options, ts)), "^--!").toBe("a-b", { a, b });
      expectSubscriptions(src.subscriptions).toBe("^--!");
    });
  });

  it("behavior: bad quality is quarantined as quality.bad", () => {
    const bad = reading("flow", dec(2), 0, { quality: "bad" });
    expect(runAll([bad])).toEqual([quarantined(bad, "quality.bad", "quality is bad")]);
  });

  it("args: uncertain passes by default and is quarantined with uncertain: quarantine", () => {
    const u = reading("flow", dec(2), 0, { quality: "uncertain" });
    expect(runAll([u])).toEqual([u]);
    expect(runAll([u], { ...options, uncertain: "quarantine" })).toEqual([
      quarantined(u, "quality.uncertain", "quality is uncertain"),
    ]);
  });

  it("behavior: NaN, Infinity and JS numbers are quarantined on any channel", () => {
    const nan = reading("flow", dec(0).div(0), 0);
    const inf = reading("total", new Decimal("Infinity"), 1);
    const jsNaN = reading("other", Number.NaN, 2);
    const jsNum = reading("other", 1.5, 3);
    expect(runAll([nan, inf, jsNaN, jsNum])).toEqual([
      quarantined(nan, "value.notFinite", "value NaN is not finite"),
      quarantined(inf, "value.notFinite", "value Infinity is not finite"),
      quarantined(jsNaN, "value.notFinite", "value NaN is not finite"),
      quarantined(jsNum, "value.notNumeric", "value 1.5 is not a Decimal"),
    ]);
  });

  it("behavior: a non-Decimal value on a numeric channel is value.notNumeric", () => {
    const s = reading("flow", "12", 0);
    const t = reading("pressure", true, 1);
    expect(runAll([s, t], { ...options, numeric: ["pressure"] })).toEqual([
      quarantined(s, "value.notNumeric", 'value "12" is not a Decimal'),
      quarantined(t, "value.notNumeric", "value true is not a Decimal"),
    ]);
  });

  it("behavior: a wrong or missing unit is unit.mismatch", () => {
    const wrong = reading("flow", dec(1), 0, { unit: "MQH" });
    const missing = reading("total", dec(1), 1, { unit: undefined });
    expect(runAll([wrong, missing])).toEqual([
      quarantined(wrong, "unit.mismatch", "unit MQH is not the expected G53"),
      quarantined(missing, "unit.mismatch", "unit (none) is not the expected MTQ"),
    ]);
  });

  it("behavior: negative values on non-negative channels are value.negative; zero passes", () => {
    const neg = reading("flow", dec("-0.001"), 0);
    const zero = reading("flow", dec("-0"), 1);
    const other = reading("temp", dec("-5"), 2);
    expect(runAll([neg, zero, other])).toEqual([
      quarantined(neg, "value.negative", "value -0.001 is negative"),
      zero,
      other,
    ]);
  });

  it("behavior: sourceTime more than maxFutureMs (default 5 min) ahead of now is time.future", () => {
    // Emitted at virtual time 10: now = 10 ms.
    const ok = reading("flow", dec(1), 10 + 300_000);
    const ahead = reading("total", dec(1), 10 + 300_001 + 1);
    expect(runAll([ok, ahead], options, 10)).toEqual([
      ok,
      quarantined(
        ahead,
        "time.future",
        `sourceTime ${new Date(300_012).toISOString()} is 300001 ms ahead of now (max 300000)`,
      ),
    ]);
  });

  it("args: maxPastMs quarantines old readings as time.past", () => {
    const old = reading("flow", dec(1), 0);
    const recent = reading("flow", dec(1), 1);
    // Emitted at frames 1000 and 1001: `old` is 1000 ms behind, `recent` exactly 1000.
    expect(runAll([old, recent], { ...options, maxPastMs: 999 }, 1000)).toEqual([
      quarantined(
        old,
        "time.past",
        `sourceTime ${new Date(0).toISOString()} is 1000 ms behind now (max 999)`,
      ),
      quarantined(
        recent,
        "time.past",
        `sourceTime ${new Date(1).toISOString()} is 1000 ms behind now (max 999)`,
      ),
    ]);
    expect(runAll([old, recent], { ...options, maxPastMs: 1000 }, 1000)).toEqual([old, recent]);
  });

  it("behavior: time going backwards on a channel is time.nonMonotonic; quarantined readings do not move the mark", () => {
    const r1 = reading("flow", dec(1), 5);
    const same = reading("flow", dec(2), 5);
    const back = reading("flow", dec(3), 4);
    const otherChannel = reading("total", dec(3), 1);
    const otherMachine = reading("flow", dec(3), 1, { machineId: "m2" });
    const futureBad = reading("flow", dec(1), 1_000_000, { quality: "bad" });
    const after = reading("flow", dec(1), 6);
    expect(runAll([r1, same, back, otherChannel, otherMachine, futureBad, after])).toEqual([
      r1,
      same,
      quarantined(
        back,
        "time.nonMonotonic",
        `sourceTime ${new Date(4).toISOString()} is before the previous ${new Date(5).toISOString()}`,
      ),
      otherChannel,
      otherMachine,
      quarantined(
        futureBad,
        "quality.bad",
        `quality is bad; sourceTime ${new Date(1_000_000).toISOString()} is 999995 ms ahead of now (max 300000)`,
      ),
      after,
    ]);
  });

  it("behavior: an invalid sourceTime is time.invalid", () => {
    const r = reading("flow", dec(1), Number.NaN);
    expect(runAll([r])).toEqual([quarantined(r, "time.invalid", "sourceTime is not a valid Date")]);
  });

  it("behavior: every problem is named in the message; the first is the reason", () => {
    const r = reading("flow", dec(-1), 0, { quality: "bad", unit: "MTQ" });
    const [q] = runAll([r]) as [QuarantineEvent];
    expect(q.reason).toBe("quality.bad");
    expect(q.message).toBe(
      "m1/flow: quality is bad; unit MTQ is not the expected G53; value -1 is negative",
    );
  });

  it("behavior: state is per subscription", () => {
    const ts = testScheduler();
    ts.run(({ cold, expectObservable }) => {
      const late = reading("flow", dec(1), 5);
      const early = reading("flow", dec(1), 4);
      const op$ = cold("ab|", { a: late, b: early }).pipe(validateReadings(options, ts));
      const q = quarantined(
        early,
        "time.nonMonotonic",
        `sourceTime ${new Date(4).toISOString()} is before the previous ${new Date(5).toISOString()}`,
      );
      expectObservable(op$).toBe("ab|", { a: late, b: q });
      expectObservable(op$).toBe("ab|", { a: late, b: q });
    });
  });

  it("error: invalid options report every problem at once", () => {
    let caught: unknown;
    try {
      validateReadings({
        units: { flow: "" },
        nonNegative: "flow" as never,
        uncertain: "maybe" as never,
        maxFutureMs: -1,
        maxPastMs: Number.NaN,
      });
    } catch (e) {
      caught = e;
    }
    expect(isMaaskitError(caught, "metering.validateReadings.invalidOptions")).toBe(true);
    expect((caught as { details: { problems: string[] } }).details.problems).toEqual([
      "nonNegative must be an array of channel names",
      'units.flow must be a unit code, got ""',
      'uncertain must be "pass" or "quarantine", got "maybe"',
      "maxFutureMs must be a finite number >= 0, got -1",
      "maxPastMs must be a finite number > 0, got NaN",
    ]);
  });
});
