// counterDelta with a capacity and a reset counter: every figure below is computed by hand.
// The machine delivers at most 12.5 m³/min, so B = 12.5 m³ per minute elapsed.
import { from } from "rxjs";
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
import { type CounterDeltaOptions, counterDelta } from "./counterDelta.js";

const T0 = Date.parse("2025-03-01T08:00:00.000Z");
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

/** A reading of the reset counter channel. */
function C(value: string, s: number): Reading {
  return {
    kind: "reading",
    machineId: "c1",
    channel: "resets",
    value: dec(value),
    quality: "good",
    sourceTime: at(s),
  };
}

function U(
  s0: number,
  s1: number,
  reg: [string, string],
  value: string,
  flags: UsageFlags = {},
): UsageEvent {
  return {
    kind: "usage",
    machineId: "c1",
    channel: "total",
    quantity: { value: dec(value), unit: "MTQ" },
    start: at(s0),
    end: at(s1),
    register: { start: dec(reg[0]), end: dec(reg[1]) },
    flags,
  };
}

function G(s0: number, s1: number, reason: string, detail: string): GapEvent {
  return {
    kind: "gap",
    machineId: "c1",
    channel: "total",
    start: at(s0),
    end: at(s1),
    reason,
    detail,
  };
}

function Q(item: Reading, reason: string, message: string): QuarantineEvent {
  return {
    kind: "quarantine",
    machineId: "c1",
    channel: "total",
    reason,
    message: `c1/total: ${message}`,
    item,
    at: item.sourceTime,
  };
}

const sourceGap = (s0: number, s1: number): GapEvent => ({
  kind: "gap",
  machineId: "c1",
  start: at(s0),
  end: at(s1),
  reason: "source.reconnected",
});

const cap: CounterDeltaOptions = {
  channel: "total",
  unit: "MTQ",
  rollover: "1000",
  capacity: { value: "12.5", per: "min" },
};

function run(options: CounterDeltaOptions, events: MeterEvent[]): MeterEvent[] {
  const out: MeterEvent[] = [];
  from(events)
    .pipe(counterDelta(options))
    .subscribe((e) => out.push(e));
  return out;
}

const billed = (out: MeterEvent[]): string =>
  out
    .filter((e): e is UsageEvent => e.kind === "usage")
    .reduce((sum, u) => sum.plus(u.quantity.value), dec(0))
    .toFixed();

/** 525 m³, then the register is reset and counts 12.5 m³ each minute for 9 more minutes. */
const resetAt525: Reading[] = [
  R("525", 0),
  ...Array.from({ length: 10 }, (_, n) => R(dec("12.5").times(n).toFixed(), 60 + 60 * n)),
];

describe("counterDelta with capacity", () => {
  it("behavior: modulus 1000, a reset from 525 to 0 is a reset, not a wrap of 475", () => {
    const out = run(cap, resetAt525);
    expect(out.slice(0, 3)).toEqual([
      G(
        0,
        60,
        "counter.reset",
        "register dropped from 525 to 0: counter restarted from 0; usage between the last reading and the reset is unknown",
      ),
      U(0, 60, ["525", "0"], "0", { reset: true }),
      U(60, 120, ["0", "12.5"], "12.5"),
    ]);
    // 10 minutes in which the machine delivers at most 125 m³: 112.5 m³ counted since the reset.
    expect(billed(out)).toBe("112.5");
    // The defect this replaces: the half-range rule billed the 475 m³ never delivered.
    expect(billed(run({ ...cap, capacity: undefined, maxWrapIncrement: "500" }, resetAt525))).toBe(
      "587.5",
    );
    // Strict without capacity: a drop to 0 (<= resetThreshold) is a reset, never a wrap.
    expect(billed(run({ ...cap, capacity: undefined }, resetAt525))).toBe("112.5");
  });

  it("behavior: a reset whose first reading is not 0 is recognised (7.5 fits 1 minute)", () => {
    expect(run(cap, [R("525", 0), R("7.5", 60), R("20", 120)])).toEqual([
      G(
        0,
        60,
        "counter.reset",
        "register dropped from 525 to 7.5: counter restarted from 0; usage between the last reading and the reset is unknown",
      ),
      U(0, 60, ["525", "7.5"], "7.5", { reset: true }),
      U(60, 120, ["7.5", "20"], "12.5"),
    ]);
  });

  it("behavior: without capacity the same reset is not guessed: quarantined, then counted on the new register", () => {
    const drop = R("7.5", 60);
    expect(run({ ...cap, capacity: undefined }, [R("525", 0), drop, R("20", 120)])).toEqual([
      Q(
        drop,
        "counter.nonMonotonic",
        "register dropped from 525 to 7.5: neither a rollover nor a reset (resetThreshold 0)",
      ),
      G(
        0,
        60,
        "counter.ambiguous",
        "register went from 525 to 7.5 (no capacity to tell a rollover, a reset and a new register apart): counted on the new register from there; usage before its first reading is unknown",
      ),
      U(0, 120, ["525", "20"], "12.5", { replaced: true, ambiguous: true }),
    ]);
  });

  it("behavior: a reset during an outage (a GapEvent precedes the reading) is a reset", () => {
    // 10 minutes offline: B = 125. A wrap would be 1000 - 525 + 30 = 505 > 125; 30 <= 125.
    const gap = sourceGap(0, 600);
    expect(run(cap, [R("525", 0), gap, R("30", 600), R("42.5", 660)])).toEqual([
      gap,
      G(
        0,
        600,
        "counter.reset",
        "register dropped from 525 to 30: counter restarted from 0; usage between the last reading and the reset is unknown",
      ),
      U(0, 600, ["525", "30"], "30", { reset: true, bridged: true }),
      U(600, 660, ["30", "42.5"], "12.5"),
    ]);
  });

  it("behavior: an outage long enough for a wrap and a reset is ambiguous: only the agreed part is billed", () => {
    // 60 minutes offline: B = 750. Wrap 505 fits, and so does a reset (30): bill 30, 475 disputed.
    const gap = sourceGap(0, 3600);
    const r = R("30", 3600);
    const out = run(cap, [R("525", 0), gap, r]);
    expect(out).toEqual([
      gap,
      G(
        0,
        3600,
        "counter.ambiguous",
        "register dropped from 525 to 30: a rollover (505) and a reset both fit the capacity (at most 750 in 3600 s at 12.5 MTQ/min); up to 475 more than billed may have been delivered",
      ),
      {
        kind: "quarantine",
        machineId: "c1",
        channel: "total",
        reason: "counter.ambiguous",
        message:
          "c1/total: register went from 525 to 30: a rollover (505) and a reset both fit the capacity (at most 750 in 3600 s at 12.5 MTQ/min); billed the 30 counted since 0, 475 disputed",
        item: {
          kind: "counterAmbiguity",
          reading: r,
          register: { start: dec("525"), end: dec("30") },
          billed: dec("30"),
        },
        at: at(3600),
      },
      U(0, 3600, ["525", "30"], "30", { ambiguous: true, bridged: true }),
    ]);
  });

  it("behavior: an increase that allows a further full wrap is ambiguous (rollover 100)", () => {
    // 10 minutes offline, B = 125 >= 10 + 100: the register may have wrapped once more.
    const gap = sourceGap(0, 600);
    const out = run({ ...cap, rollover: "100" }, [R("10", 0), gap, R("20", 600)]);
    expect(out.map((e) => e.kind)).toEqual(["gap", "quarantine", "usage"]);
    expect((out[1] as QuarantineEvent).reason).toBe("counter.ambiguous");
    expect(out[2]).toEqual(U(0, 600, ["10", "20"], "10", { ambiguous: true, bridged: true }));
  });

  it("behavior: a meter replaced by one starting higher is counted from the new register", () => {
    const jump = R("5010", 120);
    expect(
      run({ ...cap, rollover: undefined }, [
        R("100", 0),
        R("112.5", 60),
        jump,
        R("5022.5", 180),
        R("5035", 240),
      ]),
    ).toEqual([
      U(0, 60, ["100", "112.5"], "12.5"),
      Q(
        jump,
        "counter.implausible",
        "register rose from 112.5 to 5010: 4897.5 is more than the capacity allows (at most 12.5 in 60 s at 12.5 MTQ/min)",
      ),
      G(
        60,
        120,
        "counter.replaced",
        "register went from 112.5 to 5010: counted on the new register from there; usage before its first reading is unknown",
      ),
      U(60, 180, ["112.5", "5022.5"], "12.5", { replaced: true }),
      U(180, 240, ["5022.5", "5035"], "12.5"),
    ]);
  });

  it("behavior: a meter replaced by one starting lower (200) is counted from the new register", () => {
    const drop = R("205", 120);
    expect(run(cap, [R("525", 0), R("537.5", 60), drop, R("217.5", 180)])).toEqual([
      U(0, 60, ["525", "537.5"], "12.5"),
      Q(
        drop,
        "counter.nonMonotonic",
        "register dropped from 537.5 to 205: neither a rollover nor a reset (at most 12.5 in 60 s at 12.5 MTQ/min)",
      ),
      G(
        60,
        120,
        "counter.replaced",
        "register went from 537.5 to 205: counted on the new register from there; usage before its first reading is unknown",
      ),
      U(60, 180, ["537.5", "217.5"], "12.5", { replaced: true }),
    ]);
  });

  it("behavior: two resets in a day are both counted from 0; nothing after them is lost", () => {
    const out = run(cap, [R("525", 0), R("5", 60), R("17.5", 120), R("2.5", 180), R("15", 240)]);
    expect(out.filter((e): e is UsageEvent => e.kind === "usage")).toEqual([
      U(0, 60, ["525", "5"], "5", { reset: true }),
      U(60, 120, ["5", "17.5"], "12.5"),
      U(120, 180, ["17.5", "2.5"], "2.5", { reset: true }),
      U(180, 240, ["2.5", "15"], "12.5"),
    ]);
    expect(out.filter((e) => e.kind === "gap")).toHaveLength(2);
    expect(billed(out)).toBe("32.5");
  });

  it("behavior: a genuine rollover is billed exactly", () => {
    // 990 → wrap at 1000 → 2.5: 12.5 in one minute, exactly the capacity.
    expect(run(cap, [R("990", 0), R("2.5", 60), R("15", 120)])).toEqual([
      U(0, 60, ["990", "2.5"], "12.5", { rollover: true }),
      U(60, 120, ["2.5", "15"], "12.5"),
    ]);
  });

  it("behavior: a glitch spike (999,999) is quarantined, never billed; the register continues", () => {
    const spike = R("999999", 60);
    expect(
      run({ ...cap, rollover: "1000000" }, [R("100", 0), spike, R("125", 120), R("137.5", 180)]),
    ).toEqual([
      Q(
        spike,
        "counter.implausible",
        "register rose from 100 to 999999: 999899 is more than the capacity allows (at most 12.5 in 60 s at 12.5 MTQ/min)",
      ),
      U(0, 120, ["100", "125"], "25"),
      U(120, 180, ["125", "137.5"], "12.5"),
    ]);
  });

  it("args: resetCounterChannel — a change decides a restart, even where a wrap would fit", () => {
    // 995 → 7.5 in one minute is a 12.5 wrap, but the reset counter says the register restarted.
    const c0 = C("3", 0);
    const c1 = C("4", 30);
    expect(
      run({ ...cap, resetCounterChannel: "resets" }, [
        c0,
        R("995", 0),
        c1,
        R("7.5", 60),
        R("20", 120),
      ]),
    ).toEqual([
      c0,
      c1,
      G(
        0,
        60,
        "counter.reset",
        "register dropped from 995 to 7.5: the reset counter changed; usage between the last reading and the reset is unknown",
      ),
      U(0, 60, ["995", "7.5"], "7.5", { reset: true }),
      U(60, 120, ["7.5", "20"], "12.5"),
    ]);
  });

  it("args: resetCounterChannel — a change with a value the capacity cannot explain is a replacement", () => {
    const c1 = C("4", 60);
    expect(
      run({ ...cap, resetCounterChannel: "resets" }, [
        C("3", 0),
        R("100", 0),
        c1,
        R("105", 60),
        R("117.5", 120),
      ]).filter((e) => e.kind !== "reading"),
    ).toEqual([
      G(
        0,
        60,
        "counter.replaced",
        "register went from 100 to 105: counted on the new register from there; usage before its first reading is unknown",
      ),
      U(0, 60, ["100", "105"], "0", { replaced: true }),
      U(60, 120, ["105", "117.5"], "12.5"),
    ]);
  });

  it("args: resetCounterChannel — a change arriving after the quarantined first reading confirms it", () => {
    const drop = R("205", 120);
    const c1 = C("4", 120);
    expect(
      run({ ...cap, resetCounterChannel: "resets" }, [
        C("3", 0),
        R("537.5", 60),
        drop,
        c1,
        R("217.5", 180),
      ]).filter((e) => e.kind !== "reading" || e === c1),
    ).toEqual([
      Q(
        drop,
        "counter.nonMonotonic",
        "register dropped from 537.5 to 205: neither a rollover nor a reset (at most 12.5 in 60 s at 12.5 MTQ/min)",
      ),
      G(
        60,
        120,
        "counter.replaced",
        "register went from 537.5 to 205: counted on the new register from there; usage before its first reading is unknown",
      ),
      U(60, 120, ["537.5", "205"], "0", { replaced: true }),
      c1,
      U(120, 180, ["205", "217.5"], "12.5"),
    ]);
  });

  it("error: invalid capacity and reset counter options are reported", () => {
    let caught: unknown;
    try {
      counterDelta({
        channel: "total",
        unit: "MTQ",
        capacity: { value: "0", per: "day" as never },
        resetCounterChannel: "total",
      });
    } catch (e) {
      caught = e;
    }
    expect(isMaaskitError(caught, "metering.counterDelta.invalidOptions")).toBe(true);
    expect((caught as { details: { problems: string[] } }).details.problems).toEqual([
      "capacity.value must be > 0",
      'capacity.per must be one of s, min, h, got "day"',
      'resetCounterChannel must be a non-empty string other than channel, got "total"',
    ]);
  });
});
