import { TestScheduler } from "rxjs/testing";
import { describe, expect, it } from "vitest";
import { isMaaskitError } from "../errors.js";
import { dec } from "../quantity.js";
import type {
  GapEvent,
  MeterEvent,
  QuarantineEvent,
  Reading,
  RegisterReplacedEvent,
  UsageEvent,
  UsageFlags,
} from "../reading.js";
import { type CounterDeltaOptions, type CounterDeltaState, counterDelta } from "./counterDelta.js";

const T0 = Date.parse("2025-03-01T08:00:00.000Z");
/** Source time `s` seconds after T0. */
const at = (s: number): Date => new Date(T0 + s * 1000);

function R(value: string, s: number, extra: Partial<Reading> = {}): Reading {
  return {
    kind: "reading",
    machineId: "c1",
    channel: "total",
    value: dec(value),
    unit: "MTQ",
    quality: "good",
    sourceTime: at(s),
    ...extra,
  };
}

function U(
  s0: number,
  s1: number,
  reg: [string, string],
  value: string,
  flags: UsageFlags = {},
  machineId = "c1",
): UsageEvent {
  return {
    kind: "usage",
    machineId,
    channel: "total",
    quantity: { value: dec(value), unit: "MTQ" },
    start: at(s0),
    end: at(s1),
    register: { start: dec(reg[0]), end: dec(reg[1]) },
    flags,
  };
}

function resetGap(s0: number, s1: number, detail: string): GapEvent {
  return {
    kind: "gap",
    machineId: "c1",
    channel: "total",
    start: at(s0),
    end: at(s1),
    reason: "counter.reset",
    detail,
  };
}

function Q(
  item: Reading | RegisterReplacedEvent,
  reason: string,
  message: string,
): QuarantineEvent {
  const when = item.kind === "reading" ? item.sourceTime : item.at;
  return {
    kind: "quarantine",
    machineId: item.machineId,
    channel: item.channel,
    reason,
    message: `${item.machineId}/${item.channel}: ${message}`,
    item,
    at: when,
  };
}

const base: CounterDeltaOptions = { channel: "total", unit: "MTQ" };

function ts(): TestScheduler {
  return new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
}

/** Marble test: input and expected marbles with their values. */
function marble(
  options: CounterDeltaOptions,
  input: string,
  inValues: Record<string, MeterEvent>,
  expected: string,
  outValues: Record<string, MeterEvent> = {},
  error?: unknown,
): void {
  ts().run(({ cold, expectObservable }) => {
    expectObservable(cold(input, inValues, error).pipe(counterDelta(options))).toBe(
      expected,
      outValues,
      error,
    );
  });
}

describe("counterDelta", () => {
  it("default: emits the register difference between consecutive readings, exactly", () => {
    marble(
      base,
      "a-b-c-d|",
      { a: R("100", 0), b: R("100.5", 60), c: R("103.25", 120), d: R("103.25", 180) },
      "--u-v-w|",
      {
        u: U(0, 60, ["100", "100.5"], "0.5"),
        v: U(60, 120, ["100.5", "103.25"], "2.75"),
        w: U(120, 180, ["103.25", "103.25"], "0"),
      },
    );
  });

  it("behavior: never", () => {
    marble(base, "-", {}, "-");
  });

  it("behavior: empty", () => {
    marble(base, "|", {}, "|");
  });

  it("behavior: one value only sets the baseline", () => {
    marble(base, "--a--|", { a: R("100", 0) }, "-----|");
  });

  it("error: passes the source error on", () => {
    const err = new Error("source failed");
    marble(
      base,
      "a-b-#",
      { a: R("1", 0), b: R("2", 1) },
      "--u-#",
      { u: U(0, 1, ["1", "2"], "1") },
      err,
    );
  });

  it("behavior: early unsubscribe stops the source", () => {
    ts().run(({ cold, expectObservable, expectSubscriptions }) => {
      const src = cold("a-b-c-d|", { a: R("1", 0), b: R("2", 1), c: R("3", 2), d: R("4", 3) });
      expectObservable(src.pipe(counterDelta(base)), "^---!").toBe("--u-", {
        u: U(0, 1, ["1", "2"], "1"),
      });
      expectSubscriptions(src.subscriptions).toBe("^---!");
    });
  });

  it("behavior: exact beyond binary floats and 20 digits", () => {
    marble(
      base,
      "a-b-c|",
      {
        a: R("0.1", 0),
        b: R("0.3", 1),
        c: R("123456789012345678901234.000000001", 2),
      },
      "--u-v|",
      {
        u: U(0, 1, ["0.1", "0.3"], "0.2"),
        v: U(
          1,
          2,
          ["0.3", "123456789012345678901234.000000001"],
          "123456789012345678901233.700000001",
        ),
      },
    );
  });

  it("behavior: other channels, other kinds and other machines pass through; machines are independent", () => {
    const flow = R("3", 5, { channel: "flow", unit: "G53" });
    const m2a = R("500", 0, { machineId: "c2" });
    const m2b = R("501", 10, { machineId: "c2" });
    marble(
      base,
      "a-f-x-b-y|",
      { a: R("10", 0), f: flow, x: m2a, b: R("12", 10), y: m2b },
      "--f---u-v|",
      { f: flow, u: U(0, 10, ["10", "12"], "2"), v: U(0, 10, ["500", "501"], "1", {}, "c2") },
    );
  });

  it("args: rollover + maxWrapIncrement — a drop near the top is a wrap: usage = rollover - last + current", () => {
    // 998.5 → wrap at 1000 → 1.25: 1.5 + 1.25 = 2.75. Without capacity, only an explicit
    // maxWrapIncrement permits this guess.
    marble(
      { ...base, rollover: "1000", maxWrapIncrement: "500" },
      "a-b-c|",
      { a: R("998.5", 0), b: R("1.25", 60), c: R("2", 120) },
      "--u-v|",
      {
        u: U(0, 60, ["998.5", "1.25"], "2.75", { rollover: true }),
        v: U(60, 120, ["1.25", "2"], "0.75"),
      },
    );
  });

  it("behavior: strict default — without capacity or maxWrapIncrement a drop above resetThreshold is never billed as a wrap", () => {
    const drop = R("1.25", 60);
    marble(
      { ...base, rollover: "1000" },
      "a-b-c-----|",
      { a: R("998.5", 0), b: drop, c: R("2", 120) },
      "--q-(gu)--|",
      {
        q: Q(
          drop,
          "counter.nonMonotonic",
          "register dropped from 998.5 to 1.25: neither a rollover nor a reset (resetThreshold 0)",
        ),
        g: {
          kind: "gap",
          machineId: "c1",
          channel: "total",
          start: at(0),
          end: at(60),
          reason: "counter.ambiguous",
          detail:
            "register went from 998.5 to 1.25 (no capacity to tell a rollover, a reset and a new register apart): counted on the new register from there; usage before its first reading is unknown",
        },
        u: U(0, 120, ["998.5", "2"], "0.75", { replaced: true, ambiguous: true }),
      },
    );
  });

  it("args: rollover — a wrap larger than maxWrapIncrement is not a rollover", () => {
    // 400 → 0.5 would be a 600.5 wrap (> 1000/2): a reset (0.5 <= resetThreshold 1).
    marble(
      { ...base, rollover: 1000, resetThreshold: "1" },
      "a-b----|",
      { a: R("400", 0), b: R("0.5", 60) },
      "--(gu)-|",
      {
        g: resetGap(
          0,
          60,
          "register dropped from 400 to 0.5: counter restarted from 0; usage between the last reading and the reset is unknown",
        ),
        u: U(0, 60, ["400", "0.5"], "0.5", { reset: true }),
      },
    );
    // With maxWrapIncrement 700, the same drop is a wrap of 600.5.
    marble(
      { ...base, rollover: 1000, maxWrapIncrement: 700, resetThreshold: "1" },
      "a-b|",
      { a: R("400", 0), b: R("0.5", 60) },
      "--u|",
      { u: U(0, 60, ["400", "0.5"], "600.5", { rollover: true }) },
    );
  });

  it("behavior: a drop to 0 is a reset: gap for the unknown part, counting restarts from 0", () => {
    marble(base, "a-b----c|", { a: R("50", 0), b: R("0", 60), c: R("4", 120) }, "--(gu)-c|", {
      g: resetGap(
        0,
        60,
        "register dropped from 50 to 0: counter restarted from 0; usage between the last reading and the reset is unknown",
      ),
      u: U(0, 60, ["50", "0"], "0", { reset: true }),
      c: U(60, 120, ["0", "4"], "4"),
    });
  });

  it("args: resetThreshold — a small drop above it is jitter: quarantined, baseline kept", () => {
    const jitter = R("99.99", 60);
    marble(
      { ...base, resetThreshold: "5" },
      "a-b-c|",
      { a: R("100", 0), b: jitter, c: R("100.5", 120) },
      "--q-u|",
      {
        q: Q(
          jitter,
          "counter.nonMonotonic",
          "register dropped from 100 to 99.99: neither a rollover nor a reset (resetThreshold 5)",
        ),
        u: U(0, 120, ["100", "100.5"], "0.5"),
      },
    );
  });

  it("behavior: unusable readings are quarantined and never move the baseline", () => {
    const bad = R("1000", 10, { quality: "bad" });
    const nan = R("0", 20, { value: dec(0).div(0) });
    const neg = R("-1", 30);
    const unit = R("200", 40, { unit: "LTR" });
    const str = R("0", 50, { value: "200" });
    const high = R("1000", 60);
    const back = R("150", -1);
    marble(
      { ...base, rollover: 1000 },
      "a-b-c-d-e-f-g-h-i|",
      {
        a: R("100", 0),
        b: bad,
        c: nan,
        d: neg,
        e: unit,
        f: str,
        g: high,
        h: back,
        i: R("101", 70),
      },
      "--b-c-d-e-f-g-h-i|",
      {
        b: Q(bad, "quality.bad", "quality is bad"),
        c: Q(nan, "value.notFinite", "value NaN is not finite"),
        d: Q(neg, "value.negative", "register -1 is negative"),
        e: Q(unit, "unit.mismatch", "unit LTR is not the expected MTQ"),
        f: Q(str, "value.notNumeric", 'value "200" is not a Decimal'),
        g: Q(high, "counter.outOfRange", "register 1000 is not below the rollover 1000"),
        h: Q(
          back,
          "time.nonMonotonic",
          `sourceTime ${at(-1).toISOString()} is before the register baseline at ${at(0).toISOString()}`,
        ),
        i: U(0, 70, ["100", "101"], "1"),
      },
    );
  });

  it("behavior: uncertain quality is used", () => {
    marble(base, "a-b|", { a: R("1", 0), b: R("2", 1, { quality: "uncertain" }) }, "--u|", {
      u: U(0, 1, ["1", "2"], "1"),
    });
  });

  it("behavior: a source gap for the channel or machine marks the next usage bridged", () => {
    const machineGap: GapEvent = {
      kind: "gap",
      machineId: "c1",
      start: at(10),
      end: at(50),
      reason: "source.reconnected",
    };
    const channelGap: GapEvent = {
      ...machineGap,
      channel: "total",
      reason: "source.subscriptionRecreated",
    };
    const otherChannel: GapEvent = { ...machineGap, channel: "flow" };
    const otherMachine: GapEvent = { ...machineGap, machineId: "c2" };
    marble(
      base,
      "a-g-b-c-h-d-o-p-e|",
      {
        a: R("10", 0),
        g: machineGap,
        b: R("17", 60),
        c: R("18", 70),
        h: channelGap,
        d: R("19", 80),
        o: otherChannel,
        p: otherMachine,
        e: R("20", 90),
      },
      "--g-b-c-h-d-o-p-e|",
      {
        g: machineGap,
        b: U(0, 60, ["10", "17"], "7", { bridged: true }),
        c: U(60, 70, ["17", "18"], "1"),
        h: channelGap,
        d: U(70, 80, ["18", "19"], "1", { bridged: true }),
        o: otherChannel,
        p: otherMachine,
        e: U(80, 90, ["19", "20"], "1"),
      },
    );
  });

  it("args: initial — the first reading after a restart bridges from the journaled register", () => {
    marble(
      { ...base, initial: { register: "100", at: at(0) } },
      "a-b|",
      { a: R("103", 300), b: R("104", 360) },
      "u-v|",
      {
        u: U(0, 300, ["100", "103"], "3", { bridged: true }),
        v: U(300, 360, ["103", "104"], "1"),
      },
    );
  });

  it("args: initial — per machine, with a default for the others", () => {
    marble(
      {
        ...base,
        initial: [
          { register: "5", at: at(0), machineId: "c2" },
          { register: "100", at: at(0) },
        ],
      },
      "a-b|",
      { a: R("8", 10, { machineId: "c2" }), b: R("101", 10) },
      "u-v|",
      {
        u: U(0, 10, ["5", "8"], "3", { bridged: true }, "c2"),
        v: U(0, 10, ["100", "101"], "1", { bridged: true }),
      },
    );
  });

  it("behavior: meter replacement counts the old meter to oldFinal and continues from newInitial", () => {
    const replaced: RegisterReplacedEvent = {
      kind: "registerReplaced",
      machineId: "c1",
      channel: "total",
      at: at(100),
      oldFinal: dec("104"),
      newInitial: dec("5"),
    };
    marble(
      base,
      "a-b-r----c|",
      { a: R("90", 0), b: R("100", 60), r: replaced, c: R("7", 160) },
      "--b-(ur)-c|",
      {
        b: U(0, 60, ["90", "100"], "10"),
        u: U(60, 100, ["100", "104"], "4", { reset: true }),
        r: replaced,
        c: U(100, 160, ["5", "7"], "2"),
      },
    );
  });

  it("behavior: replacement without oldFinal reports a counter.reset gap", () => {
    const replaced: RegisterReplacedEvent = {
      kind: "registerReplaced",
      machineId: "c1",
      channel: "total",
      at: at(100),
      newInitial: dec("0"),
    };
    marble(base, "b-r-----c|", { b: R("100", 60), r: replaced, c: R("7", 160) }, "--(gr)--c|", {
      g: resetGap(60, 100, "register replaced without a final reading of the old register"),
      r: replaced,
      c: U(100, 160, ["0", "7"], "7"),
    });
  });

  it("behavior: replacement before any reading sets the baseline; an invalid one is quarantined", () => {
    const replaced: RegisterReplacedEvent = {
      kind: "registerReplaced",
      machineId: "c1",
      channel: "total",
      at: at(0),
      newInitial: dec("5"),
    };
    const invalid: RegisterReplacedEvent = {
      kind: "registerReplaced",
      machineId: "c1",
      channel: "total",
      at: new Date(Number.NaN),
      oldFinal: dec("-1"),
      newInitial: dec("2000"),
    };
    const invalidQ: QuarantineEvent = {
      kind: "quarantine",
      machineId: "c1",
      channel: "total",
      reason: "counter.invalidReplacement",
      message:
        "c1/total: newInitial is out of range; oldFinal is out of range; at is not a valid Date",
      item: invalid,
    };
    marble(
      { ...base, rollover: 1000 },
      "r-x-a|",
      { r: replaced, x: invalid, a: R("6", 10) },
      "r-x-u|",
      { r: replaced, x: invalidQ, u: U(0, 10, ["5", "6"], "1") },
    );
  });

  it("args: onState — reports every baseline change, resumable as initial", () => {
    const states: CounterDeltaState[] = [];
    marble(
      { ...base, onState: (s) => states.push(s) },
      "a-b-c|",
      { a: R("1", 0), b: R("0.5", 1, { quality: "bad" }), c: R("2", 2) },
      "--q-u|",
      {
        q: Q(R("0.5", 1, { quality: "bad" }), "quality.bad", "quality is bad"),
        u: U(0, 2, ["1", "2"], "1"),
      },
    );
    expect(states).toEqual([
      { machineId: "c1", register: dec("1"), at: at(0) },
      { machineId: "c1", register: dec("2"), at: at(2) },
    ]);
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
      { a: R("1", 0), b: R("2", 1) },
      "#",
      {},
      err,
    );
  });

  it("error: invalid options report every problem at once", () => {
    let caught: unknown;
    try {
      counterDelta({
        channel: "",
        unit: undefined as never,
        basis: "FAD" as never,
        rollover: "-5",
        maxWrapIncrement: 0.5,
        resetThreshold: "x",
        initial: [
          { register: "1", at: new Date(Number.NaN) },
          { register: -1, at: at(0) },
        ],
        onState: 3 as never,
      });
    } catch (e) {
      caught = e;
    }
    expect(isMaaskitError(caught, "metering.counterDelta.invalidOptions")).toBe(true);
    expect((caught as { details: { problems: string[] } }).details.problems).toEqual([
      'channel must be a non-empty string, got ""',
      "unit must be a UNECE unit code, got undefined",
      'basis must be one of ISO1217-FAD, DIN1343-normal, ISO2533-standard, actual, got "FAD"',
      "rollover must be > 0",
      "maxWrapIncrement must be a finite Decimal, decimal string or safe integer, got 0.5",
      'resetThreshold must be a finite Decimal, decimal string or safe integer, got "x"',
      "initial[0].at must be a valid Date",
      "initial[1].register must be >= 0",
      "onState must be a function",
    ]);
  });

  it("error: maxWrapIncrement needs a rollover above it", () => {
    expect(() => counterDelta({ ...base, maxWrapIncrement: 5 })).toThrowError(
      /maxWrapIncrement needs rollover/,
    );
    expect(() => counterDelta({ ...base, rollover: 5, maxWrapIncrement: 5 })).toThrowError(
      /maxWrapIncrement must be below rollover/,
    );
  });
});
