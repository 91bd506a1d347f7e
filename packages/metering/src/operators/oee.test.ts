import { from, lastValueFrom, toArray } from "rxjs";
import { TestScheduler } from "rxjs/testing";
import { describe, expect, it } from "vitest";
import { isMaaskitError, MaaskitError } from "../errors.js";
import { dec, quantity } from "../quantity.js";
import type { MeterEvent, QuarantineEvent, Reading, UsageEvent } from "../reading.js";
import type {
  IsoTimeState,
  OeeRatio,
  OeeResult,
  PlannedInterval,
  StateSpanEvent,
} from "../timeElements.js";
import type { MeterWindow } from "../window.js";
import { machineState } from "./machineState.js";
import { type OeeOptions, type OeeOutput, oee } from "./oee.js";
import { rollUpOee } from "./rollUpOee.js";
import type { StateMapping } from "./stateMappings.js";
import { packmlStates } from "./stateMappings.js";
import { tumblingWindow, type WindowedEvent, type WindowSize } from "./tumblingWindow.js";

const T0 = Date.parse("2024-01-15T06:00:00Z");
const at = (min: number): Date => new Date(T0 + min * 60_000);
const MIN = 60_000n;

function state(value: string, min: number): Reading {
  return {
    kind: "reading",
    machineId: "m1",
    channel: "state",
    value,
    quality: "good",
    sourceTime: at(min),
  };
}

function count(channel: string, from: number, to: number, n: number, unit = "C62"): UsageEvent {
  return {
    kind: "usage",
    machineId: "m1",
    channel,
    quantity: quantity(n, unit),
    start: at(from),
    end: at(to),
    flags: {},
  };
}

/** machineState → tumblingWindow → oee over `events`; returns the windows. */
async function pipeline(
  events: MeterEvent[],
  size: WindowSize,
  options: OeeOptions,
  mapping: StateMapping = packmlStates,
): Promise<MeterWindow<OeeResult>[]> {
  const out = await lastValueFrom(
    from(events).pipe(
      machineState({ mapping }),
      tumblingWindow({ size, offsetMinutes: 360 }), // shifts at 06:00, 14:00, 22:00
      oee(options),
      toArray(),
    ),
  );
  // Worked examples feed events in time order: nothing may be set aside.
  expect(out.filter((e) => e.kind === "quarantine")).toEqual([]);
  return out.filter((e): e is MeterWindow<OeeResult> => e.kind === "window");
}

function value(r: OeeRatio | undefined): string {
  if (r === undefined) throw new Error("no ratio");
  if (!r.defined) return `undefined:${r.reason}`;
  return r.value.toFixed();
}

/** a/b at maxima's 64 digits: the fraction worked out by hand, divided the way the code does. */
const frac = (a: number, b: number): string => dec(a).div(b).toFixed();

function oeeOf(w: MeterWindow<OeeResult> | undefined): OeeResult {
  if (w?.oee === undefined) throw new Error("window without oee");
  return w.oee;
}

describe("oee", () => {
  it("default: a shift with setup, a breakdown and a planned break (worked example)", async () => {
    // Shift 06:00–14:00 (POT 480 min), break 10:00–10:30 in the calendar (PDOT 30 min),
    // so PBT = 480 − 30 = 450 min.
    // States: 06:00 Starting (AUST) · 06:20 Execute (APT) · 09:00 Held (ADOT) · 09:40 Execute.
    //   AUST = 20 min; ADOT = 40 min; APT = (09:00 − 06:20) + (14:00 − 09:40 − 30 min break)
    //   = 160 + 230 = 390 min; 20 + 40 + 390 = 450 = PBT, nothing unobserved.
    // Counts: PQ = 360, GQ = 342; ideal cycle time PRI = 60 s.
    //   A = APT / PBT = 390 / 450 = 13/15
    //   E = PRI × PQ / APT = 360 min / 390 min = 12/13
    //   Q = GQ / PQ = 342 / 360 = 0.95
    //   OEE = 13/15 × 12/13 × 0.95 = 0.8 × 0.95 = 0.76
    const lunch: PlannedInterval = { start: at(240), end: at(270), reason: "break" };
    const [w, ...rest] = await pipeline(
      [
        state("Starting", 0),
        state("Execute", 20),
        state("Held", 180),
        state("Execute", 220),
        count("produced", 0, 480, 360),
        count("good", 0, 480, 342),
      ],
      { hours: 8 },
      { idealCycleTimeMs: 60_000, calendar: [lunch] },
    );
    expect(rest).toEqual([]);
    const r = oeeOf(w);
    expect(r.timeElements).toEqual({
      pot: 480n * MIN,
      pdot: 30n * MIN,
      pbt: 450n * MIN,
      apt: 390n * MIN,
      aust: 20n * MIN,
      adet: 0n,
      adot: 40n * MIN,
      microStop: 0n,
      unobserved: 0n,
    });
    expect(value(r.availability)).toBe(frac(13, 15));
    expect(value(r.effectiveness)).toBe(frac(12, 13));
    expect(value(r.quality)).toBe("0.95");
    expect(value(r.oee)).toBe("0.76");
    expect(r.producedQuantity).toEqual(quantity(360, "C62"));
    expect(r.goodQuantity).toEqual(quantity(342, "C62"));
    expect(r.idealProductionTimeMs.toFixed()).toBe("21600000");
  });

  it("args: microStopThresholdMs — short stops lower effectiveness, not availability (worked example)", async () => {
    // One hour, 06:00–07:00, PBT = 60 min. Threshold 2 min.
    // 06:00 Run · 06:20 Jam (1 min: micro-stop) · 06:21 Run · 06:40 Starved (5 min: a real
    // delay, ADET) · 06:45 Run.
    //   APT = 20 + 19 + 15 = 54 min running + 1 min micro-stop = 55 min; ADET = 5 min.
    //   A = 55 / 60 = 11/12 (54/60 if the jam counted as down time)
    //   PRI = 30 s, PQ = 100 → PRI × PQ = 50 min; E = 50 / 55 = 10/11
    //   Q = 98 / 100 = 0.98; OEE = 11/12 × 10/11 × 0.98 = 30 s × 98 / 60 min = 49/60
    const mapping: StateMapping = { Run: "APT", Jam: "ADOT", Starved: "ADET" };
    const [w] = await pipeline(
      [
        state("Run", 0),
        state("Jam", 20),
        state("Run", 21),
        state("Starved", 40),
        state("Run", 45),
        count("produced", 0, 60, 100),
        count("good", 0, 60, 98),
      ],
      { hours: 1 },
      { idealCycleTimeMs: 30_000, microStopThresholdMs: 120_000 },
      mapping,
    );
    const r = oeeOf(w);
    expect(r.timeElements).toMatchObject({
      pbt: 60n * MIN,
      apt: 55n * MIN,
      microStop: 1n * MIN,
      adet: 5n * MIN,
      adot: 0n,
      unobserved: 0n,
    });
    expect(r.microStopCount).toBe(1);
    expect(value(r.availability)).toBe(frac(11, 12));
    expect(value(r.effectiveness)).toBe(frac(10, 11));
    expect(value(r.quality)).toBe("0.98");
    expect(value(r.oee)).toBe(frac(49, 60));
  });

  it("behavior: a shift boundary cuts a stop; the whole stop decides whether it is a micro-stop", async () => {
    // Shifts 06:00–14:00 and 14:00–22:00. Run from 06:00, Jam 13:50–14:10 (20 min), then Run.
    // Threshold 5 min: at 14:00 the jam has lasted 10 min already → a stop in both shifts.
    //   Shift 1: APT 470, ADOT 10 → A = 470/480; PQ = GQ = 470, PRI 60 s → E = Q = 1.
    //   Shift 2: ADOT 10 (14:00–14:10), APT 470 → the same figures.
    // Threshold 30 min: the 20-min jam is a micro-stop → APT 480 in both, A = 1, E = 470/480;
    //   counted once, in the shift it began in.
    // In event-time order: the 14:10 reading would close shift 1 before counts ending at 14:00.
    const events = [
      state("Run", 0),
      state("Jam", 470),
      count("produced", 0, 480, 470),
      count("good", 0, 480, 470),
      state("Run", 490),
      count("produced", 480, 960, 470),
      count("good", 480, 960, 470),
    ];
    const mapping: StateMapping = { Run: "APT", Jam: "ADOT" };
    const stops = await pipeline(
      events,
      { hours: 8 },
      { idealCycleTimeMs: 60_000, microStopThresholdMs: 5 * 60_000 },
      mapping,
    );
    expect(stops.map((w) => [w.start, w.end])).toEqual([
      [at(0), at(480)],
      [at(480), at(960)],
    ]);
    for (const w of stops) {
      const r = oeeOf(w);
      expect(r.timeElements).toMatchObject({ apt: 470n * MIN, adot: 10n * MIN, microStop: 0n });
      expect(value(r.availability)).toBe(frac(470, 480));
      expect(value(r.effectiveness)).toBe("1");
      expect(value(r.oee)).toBe(frac(470, 480));
    }
    const micro = await pipeline(
      events,
      { hours: 8 },
      { idealCycleTimeMs: 60_000, microStopThresholdMs: 30 * 60_000 },
      mapping,
    );
    expect(micro.map((w) => oeeOf(w).microStopCount)).toEqual([1, 0]);
    for (const w of micro) {
      const r = oeeOf(w);
      expect(r.timeElements).toMatchObject({ apt: 480n * MIN, adot: 0n, microStop: 10n * MIN });
      expect(value(r.availability)).toBe("1");
      expect(value(r.effectiveness)).toBe(frac(470, 480));
    }
  });

  it("behavior: a zero-production window has A = 0, E and Q undefined with reasons, OEE = 0", async () => {
    // Held for the whole hour: APT = 0, PQ = 0. A = 0 / 60 min = 0; E = PRI×0/0 and Q = 0/0 are
    // undefined; OEE = PRI × GQ / PBT = 0 — the hour was lost, which "undefined" would hide.
    const [w] = await pipeline([state("Held", 0)], { hours: 1 }, { idealCycleTimeMs: 1000 });
    const r = oeeOf(w);
    expect(value(r.availability)).toBe("0");
    expect(r.effectiveness).toEqual({ defined: false, reason: "apt.zero" });
    expect(r.quality).toEqual({ defined: false, reason: "produced.zero" });
    expect(value(r.oee)).toBe("0");
  });

  it("behavior: a window entirely in planned down time has PBT 0 and every ratio undefined or explicit", async () => {
    const calendar = (start: Date, end: Date): PlannedInterval[] => [
      { start, end, reason: "no shift" },
    ];
    const [w] = await pipeline(
      [state("Held", 0)],
      { hours: 1 },
      { idealCycleTimeMs: 1000, calendar },
    );
    const r = oeeOf(w);
    expect(r.timeElements).toMatchObject({ pot: 60n * MIN, pdot: 60n * MIN, pbt: 0n, adot: 0n });
    expect(r.availability).toEqual({ defined: false, reason: "pbt.zero" });
    expect(r.oee).toEqual({ defined: false, reason: "pbt.zero" });
  });

  it("behavior: time without a known state stays in PBT as unobserved", async () => {
    // First state reading at 06:15: 15 min of the hour nobody saw. A = 45/60, not 45/45.
    const [w] = await pipeline(
      [state("Execute", 15), count("produced", 15, 60, 45), count("good", 15, 60, 45)],
      { hours: 1 },
      { idealCycleTimeMs: 60_000 },
    );
    const r = oeeOf(w);
    expect(r.timeElements).toMatchObject({ apt: 45n * MIN, unobserved: 15n * MIN });
    expect(value(r.availability)).toBe("0.75");
  });

  it("behavior: POT follows the wall clock — 23 h on the spring-forward day in Europe/Berlin", async () => {
    // Local day 2024-03-31 = 2024-03-30T23:00Z .. 2024-03-31T22:00Z: POT = PBT = 23 h.
    // Execute all day, 23 × 60 pieces at PRI 60 s: A = E = Q = 1 (a 24-h POT would give 23/24).
    const midnight = Date.parse("2024-03-30T23:00:00Z");
    const hours23 = 23 * 3_600_000;
    const out = await lastValueFrom(
      from<MeterEvent[]>([
        { ...state("Execute", 0), sourceTime: new Date(midnight) },
        {
          ...count("produced", 0, 0, 1380),
          start: new Date(midnight),
          end: new Date(midnight + hours23),
        },
        {
          ...count("good", 0, 0, 1380),
          start: new Date(midnight),
          end: new Date(midnight + hours23),
        },
      ]).pipe(
        machineState({ mapping: packmlStates }),
        tumblingWindow({ size: { days: 1 }, timeZone: "Europe/Berlin" }),
        oee({ idealCycleTimeMs: 60_000 }),
        toArray(),
      ),
    );
    const [w] = out.filter((e): e is MeterWindow<OeeResult> => e.kind === "window");
    const r = oeeOf(w);
    expect(r.timeElements).toMatchObject({
      pot: BigInt(hours23),
      pbt: BigInt(hours23),
      apt: BigInt(hours23),
    });
    expect(value(r.availability)).toBe("1");
    expect(value(r.oee)).toBe("1");
  });

  it("behavior: effectiveness above 100 % is flagged implausible", () => {
    // APT 10 min, PQ 12 at PRI 60 s → E = 12 min / 10 min = 1.2.
    const r = runOne([piece("APT", 0, 10)], window(0, 10, 12, 12), { idealCycleTimeMs: 60_000 });
    expect(r.effectiveness).toEqual({ defined: true, value: dec("1.2"), implausible: true });
    expect(r.oee).toEqual({ defined: true, value: dec("1.2"), implausible: true });
    expect(r.availability).toEqual({ defined: true, value: dec(1) });
  });

  it("args: counts from a scrap channel, a stateChannel filter and another count unit", () => {
    // good = produced − scrap = 50 − 5; only "main" state pieces count.
    const r = runOne(
      [piece("APT", 0, 60, "main"), piece("ADOT", 0, 60, "aux")],
      {
        ...window(0, 60, 0, 0),
        usage: [
          { channel: "out", quantity: quantity(50, "MTQ"), flags: {} },
          { channel: "reject", quantity: quantity(5, "MTQ"), flags: {} },
        ],
      },
      {
        idealCycleTimeMs: 60_000,
        counts: { produced: "out", scrap: "reject", unit: "MTQ" },
        stateChannel: "main",
      },
    );
    expect(r.timeElements).toMatchObject({ apt: 60n * MIN, adot: 0n });
    expect(r.goodQuantity).toEqual(quantity(45, "MTQ"));
    expect(value(r.quality)).toBe("0.9");
    expect(value(r.effectiveness)).toBe(frac(50, 60));
  });

  it("behavior: a count channel in the wrong unit makes its ratios undefined, never a guess", () => {
    const w: MeterWindow = {
      ...window(0, 60, 0, 0),
      usage: [{ channel: "produced", quantity: quantity(50, "KWH"), flags: {} }],
    };
    const r = runOne([piece("APT", 0, 60)], w, { idealCycleTimeMs: 1000 });
    expect(r.effectiveness).toEqual({ defined: false, reason: "produced.unit" });
    expect(r.quality).toEqual({ defined: false, reason: "produced.unit" });
    expect(r.oee).toEqual({ defined: false, reason: "produced.unit" });
    expect(value(r.availability)).toBe("1");
  });

  it("behavior: never, empty, passing other events on, and consuming window pieces", () => {
    const ts = testScheduler();
    ts.run(({ cold, expectObservable }) => {
      expectObservable(cold<WindowedEvent>("-").pipe(oee({ idealCycleTimeMs: 1 }))).toBe("-");
      expectObservable(cold<WindowedEvent>("|").pipe(oee({ idealCycleTimeMs: 1 }))).toBe("|");
      const q: QuarantineEvent = {
        kind: "quarantine",
        machineId: "m1",
        reason: "time.late",
        message: "late",
        item: null,
      };
      const out = cold<WindowedEvent>("pqw|", {
        p: piece("APT", 0, 60),
        q,
        w: window(0, 60, 60, 60),
      }).pipe(oee({ idealCycleTimeMs: 60_000 }));
      expectObservable(out).toBe("-qw|", {
        q,
        w: expect.objectContaining({
          kind: "window",
          oee: expect.objectContaining({ oee: { defined: true, value: dec(1) } }),
        }),
      });
    });
  });

  it("behavior: early unsubscribe unsubscribes the source", () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const src = cold<WindowedEvent>("w-w|", { w: window(0, 60, 0, 0) });
      expectObservable(src.pipe(oee({ idealCycleTimeMs: 1 })), "^-!").toBe("w", {
        w: expect.objectContaining({ kind: "window" }),
      });
      expectSubscriptions(src.subscriptions).toBe("^-!");
    });
  });

  it("error: a source error passes through", () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const err = new MaaskitError("metering.source.failed", "boom");
      expectObservable(
        cold<WindowedEvent>("#", undefined, err).pipe(oee({ idealCycleTimeMs: 1 })),
      ).toBe("#", undefined, err);
    });
  });

  it("error: a calendar function that throws or returns garbage errors the stream with calendarFailed", () => {
    const errors: unknown[] = [];
    for (const calendar of [
      () => {
        throw new Error("calendar service down");
      },
      () => [{ start: at(10), end: at(5) }],
      () => "weekends" as unknown as PlannedInterval[],
    ]) {
      testScheduler().run(({ cold }) => {
        cold<WindowedEvent>("w|", { w: window(0, 60, 0, 0) })
          .pipe(oee({ idealCycleTimeMs: 1, calendar }))
          .subscribe({
            error: (e) => {
              errors.push(e);
            },
          });
      });
    }
    expect(errors.map((e) => isMaaskitError(e, "metering.oee.calendarFailed"))).toEqual([
      true,
      true,
      true,
    ]);
    expect((errors[0] as MaaskitError).cause).toEqual(new Error("calendar service down"));
  });

  it("error: an ideal cycle time function that throws errors the stream with idealCycleTimeFailed", () => {
    let error: unknown;
    testScheduler().run(({ cold }) => {
      cold<WindowedEvent>("w|", { w: window(0, 60, 0, 0) })
        .pipe(
          oee({
            idealCycleTimeMs: () => {
              throw new Error("no master data");
            },
          }),
        )
        .subscribe({
          error: (e) => {
            error = e;
          },
        });
    });
    expect(isMaaskitError(error, "metering.oee.idealCycleTimeFailed")).toBe(true);
  });

  it("error: invalid options are reported all at once", () => {
    let caught: unknown;
    try {
      oee({
        idealCycleTimeMs: "0",
        calendar: [{ start: at(5), end: at(1) }],
        microStopThresholdMs: -5,
        counts: { good: "g", scrap: "s" },
      });
    } catch (e) {
      caught = e;
    }
    expect(isMaaskitError(caught, "metering.oee.invalidOptions")).toBe(true);
    expect((caught as MaaskitError).details.problems).toEqual([
      "idealCycleTimeMs must be positive, got 0",
      `calendar[0] ends (${at(1).toISOString()}) before it starts (${at(5).toISOString()})`,
      "microStopThresholdMs must be a non-negative integer, got -5",
      "counts: give good or scrap, not both",
    ]);
  });
});

describe("rollUpOee", () => {
  it("default: sums time elements and counts — never averages ratios", async () => {
    // Shift A (8 h): running all the time, 480 pieces at 60 s → A = E = Q = 1.
    // Hour B (1 h): held all the time → A = 0.
    // The average of the availabilities would be (1 + 0) / 2 = 0.5; ISO 22400 sums:
    // A = (480 + 0) / (480 + 60) = 8/9; E = 480 min / 480 min = 1; Q = 1; OEE = 8/9.
    const [a] = await pipeline(
      [state("Execute", 0), count("produced", 0, 480, 480), count("good", 0, 480, 480)],
      { hours: 8 },
      { idealCycleTimeMs: 60_000 },
    );
    const b = runOne([piece("ADOT", 0, 60)], window(0, 60, 0, 0), { idealCycleTimeMs: 60_000 });
    const r = rollUpOee([oeeOf(a), b]);
    expect(r.timeElements).toMatchObject({ pot: 540n * MIN, pbt: 540n * MIN, apt: 480n * MIN });
    expect(value(r.availability)).toBe(frac(8, 9));
    expect(value(r.effectiveness)).toBe("1");
    expect(value(r.quality)).toBe("1");
    expect(value(r.oee)).toBe(frac(8, 9));
    expect(r.producedQuantity).toEqual(quantity(480, "C62"));
  });

  it("behavior: an empty roll-up is explicitly undefined", () => {
    const r = rollUpOee([]);
    expect(r.availability).toEqual({ defined: false, reason: "pbt.zero" });
    expect(r.oee).toEqual({ defined: false, reason: "pbt.zero" });
  });

  it("error: counts in different units throw unitMismatch", () => {
    const a = runOne([piece("APT", 0, 60)], window(0, 60, 1, 1), { idealCycleTimeMs: 1 });
    const b = { ...a, producedQuantity: quantity(1, "MTQ") };
    expect(() => rollUpOee([a, b])).toThrowError(
      expect.objectContaining({ code: "metering.quantity.unitMismatch" }),
    );
  });
});

function testScheduler(): TestScheduler {
  return new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
}

/** A window piece as tumblingWindow emits it (span = the piece itself). */
function piece(state: IsoTimeState, from: number, to: number, channel = "state"): StateSpanEvent {
  return {
    kind: "state",
    machineId: "m1",
    channel,
    state,
    start: at(from),
    end: at(to),
    span: { start: at(from), end: at(to) },
  };
}

function window(from: number, to: number, produced: number, good: number): MeterWindow {
  return {
    kind: "window",
    machineId: "m1",
    start: at(from),
    end: at(to),
    usage: [
      { channel: "good", quantity: quantity(good, "C62"), flags: {} },
      { channel: "produced", quantity: quantity(produced, "C62"), flags: {} },
    ],
    gaps: [],
    quarantined: 0,
  };
}

/** Runs pieces + one window through oee() synchronously and returns the window's result. */
function runOne(pieces: StateSpanEvent[], w: MeterWindow, options: OeeOptions): OeeResult {
  const out: OeeOutput[] = [];
  from<WindowedEvent[]>([...pieces, w])
    .pipe(oee(options))
    .subscribe((e) => out.push(e));
  const win = out.find((e): e is MeterWindow<OeeResult> => e.kind === "window");
  return oeeOf(win);
}
