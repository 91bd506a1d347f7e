import { fc, test } from "@fast-check/vitest";
import { filter, from, lastValueFrom, toArray } from "rxjs";
import { TestScheduler } from "rxjs/testing";
import { describe, expect, it } from "vitest";
import { isMaaskitError, MaaskitError } from "../errors.js";
import { dec, quantity } from "../quantity.js";
import type {
  GapEvent,
  MeterEvent,
  QuarantineEvent,
  Reading,
  UsageEvent,
  UsageFlags,
} from "../reading.js";
import type { StateSpanEvent } from "../timeElements.js";
import type { MeterWindow, WindowUsage } from "../window.js";
import {
  type TumblingWindowOptions,
  tumblingWindow,
  type WindowedEvent,
} from "./tumblingWindow.js";

const T0 = Date.parse("2024-01-15T06:00:00Z");
const at = (min: number): Date => new Date(T0 + min * 60_000);

function usage(
  channel: string,
  from: number,
  to: number,
  value: string,
  register?: [string, string],
  flags: UsageFlags = {},
  machineId = "c1",
): UsageEvent {
  return {
    kind: "usage",
    machineId,
    channel,
    quantity: quantity(value, "MTQ"),
    start: at(from),
    end: at(to),
    ...(register ? { register: { start: dec(register[0]), end: dec(register[1]) } } : {}),
    flags,
  };
}

function win(
  from: number,
  to: number,
  use: WindowUsage[] = [],
  extra: Partial<MeterWindow> = {},
): MeterWindow {
  return {
    kind: "window",
    machineId: "c1",
    start: at(from),
    end: at(to),
    usage: use,
    gaps: [],
    quarantined: 0,
    ...extra,
  };
}

function used(
  channel: string,
  value: string,
  register?: [string, string],
  flags: UsageFlags = {},
): WindowUsage {
  return {
    channel,
    quantity: quantity(value, "MTQ"),
    ...(register ? { register: { start: dec(register[0]), end: dec(register[1]) } } : {}),
    flags,
  };
}

function late(item: unknown, atDate: Date): QuarantineEvent {
  return expect.objectContaining({
    kind: "quarantine",
    reason: "time.late",
    item,
    at: atDate,
  }) as unknown as QuarantineEvent;
}

/** Runs events through tumblingWindow synchronously and returns only the windows. */
function windowsOf(events: MeterEvent[], options: TumblingWindowOptions): Promise<MeterWindow[]> {
  return lastValueFrom(
    from(events).pipe(
      tumblingWindow(options),
      filter((e): e is MeterWindow => e.kind === "window"),
      toArray(),
    ),
  );
}

function testScheduler(): TestScheduler {
  return new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
}

const q15 = { size: { minutes: 15 } } as const;

describe("tumblingWindow", () => {
  it("default: sums usage per channel exactly and closes a window when the watermark passes it", () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const out = cold<MeterEvent>("a-b-c-|", {
        a: usage("air", 0, 5, "0.1", ["100.0", "100.1"]),
        b: usage("air", 5, 14, "0.2", ["100.1", "100.3"], { bridged: true }),
        c: usage("air", 14, 20, "0.3", ["100.3", "100.6"]),
      }).pipe(tumblingWindow(q15));
      expectObservable(out).toBe("----v-(w|)", {
        v: win(0, 15, [used("air", "0.3", ["100.0", "100.3"], { bridged: true })]),
        w: win(15, 30, [used("air", "0.3", ["100.3", "100.6"])]),
      });
    });
  });

  it("behavior: never stays silent", () => {
    testScheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold<MeterEvent>("-").pipe(tumblingWindow(q15))).toBe("-");
    });
  });

  it("behavior: empty completes without windows", () => {
    testScheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold<MeterEvent>("|").pipe(tumblingWindow(q15))).toBe("|");
    });
  });

  it("behavior: one usage is flushed at completion", () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const out = cold<MeterEvent>("a|", { a: usage("air", 1, 2, "5") }).pipe(tumblingWindow(q15));
      expectObservable(out).toBe("-(w|)", { w: win(0, 15, [used("air", "5")]) });
    });
  });

  it("behavior: usage ending on a boundary belongs to the window it ends, so registers chain", () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const out = cold<MeterEvent>("a-b-|", {
        a: usage("air", 0, 15, "1", ["10", "11"]),
        b: usage("air", 15, 30, "2", ["11", "13"]),
      }).pipe(tumblingWindow(q15));
      expectObservable(out).toBe("--v-(w|)", {
        v: win(0, 15, [used("air", "1", ["10", "11"])]),
        w: win(15, 30, [used("air", "2", ["11", "13"])]),
      });
    });
  });

  it("behavior: windows stay contiguous: empty windows fill spans without events", () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const out = cold<MeterEvent>("a-b-------|", {
        a: usage("air", 0, 5, "1"),
        b: usage("air", 60, 65, "2"),
      }).pipe(tumblingWindow(q15));
      expectObservable(out).toBe("--(vxyz)--(w|)", {
        v: win(0, 15, [used("air", "1")]),
        x: win(15, 30),
        y: win(30, 45),
        z: win(45, 60),
        w: win(60, 75, [used("air", "2")]),
      });
    });
  });

  it("behavior: channels are sorted; register only when every usage had one; flags merged", () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const out = cold<MeterEvent>("abc|", {
        a: usage("power", 0, 5, "2", ["7", "9"], { derivedFromRate: true }),
        b: usage("air", 0, 5, "1", ["1", "2"], { rollover: true }),
        c: usage("power", 5, 10, "3", undefined, { reset: true }),
      }).pipe(tumblingWindow(q15));
      expectObservable(out).toBe("---(w|)", {
        w: win(0, 15, [
          used("air", "1", ["1", "2"], { rollover: true }),
          used("power", "5", undefined, { derivedFromRate: true, reset: true }),
        ]),
      });
    });
  });

  it("args: allowedLatenessMs keeps windows open for out-of-order usage; later ones are quarantined", () => {
    const lateOne = usage("air", 10, 14, "4");
    testScheduler().run(({ cold, expectObservable }) => {
      const out = cold<MeterEvent>("a-b-c-d-e|", {
        a: usage("air", 0, 5, "1"),
        b: usage("air", 15, 19, "2"), // watermark 06:19 − 5 min = 06:14: window 1 stays open
        c: usage("air", 5, 10, "3"), // out of order, still in time
        d: usage("air", 19, 21, "5"), // watermark 06:16 > 06:15: window 1 closes
        e: lateOne, // its window is gone
      }).pipe(tumblingWindow({ ...q15, allowedLatenessMs: 5 * 60_000 }));
      expectObservable(out).toBe("------v-q(w|)", {
        v: win(0, 15, [used("air", "4")]),
        q: late(lateOne, lateOne.end),
        w: win(15, 30, [used("air", "7")]),
      });
    });
  });

  it("behavior: quarantine events pass on, count into the window of their `at`, and never move the watermark", () => {
    const future: QuarantineEvent = {
      kind: "quarantine",
      machineId: "c1",
      channel: "air",
      reason: "time.future",
      message: "c1/air: far ahead",
      item: null,
      at: at(600),
    };
    const bad: QuarantineEvent = { ...future, reason: "quality.bad", at: at(3) };
    const noTime: QuarantineEvent = { ...future, reason: "value.notFinite", at: undefined };
    testScheduler().run(({ cold, expectObservable }) => {
      const out = cold<MeterEvent>("abcd|", {
        a: usage("air", 0, 5, "1"),
        b: bad,
        c: future,
        d: noTime,
      }).pipe(tumblingWindow(q15));
      expectObservable(out).toBe("-bcd(v|)", {
        b: bad,
        c: future,
        d: noTime,
        v: win(0, 15, [used("air", "1")], { quarantined: 1 }),
      });
    });
  });

  it("behavior: gaps go to every window they overlap; usage of another unit is quarantined and counted", () => {
    const gap: GapEvent = {
      kind: "gap",
      machineId: "c1",
      start: at(10),
      end: at(20),
      reason: "source.reconnected",
      bridgedBy: "register",
    };
    const kwh: UsageEvent = { ...usage("air", 20, 22, "1"), quantity: quantity("1", "KWH") };
    testScheduler().run(({ cold, expectObservable }) => {
      const out = cold<MeterEvent>("ab-c|", { a: usage("air", 0, 20, "9"), b: gap, c: kwh }).pipe(
        tumblingWindow(q15),
      );
      // The gap (06:10–06:20) opens the 06:00 window and its end moves the watermark past it.
      expectObservable(out).toBe("-v-q(w|)", {
        q: expect.objectContaining({ kind: "quarantine", reason: "unit.mismatch", item: kwh }),
        v: win(0, 15, [], { gaps: [gap] }),
        w: win(15, 30, [used("air", "9")], { gaps: [gap], quarantined: 1 }),
      });
    });
  });

  it("behavior: state spans are cut at boundaries; the open state is carried into the next window", () => {
    const open = (min: number, state: StateSpanEvent["state"], source: string): StateSpanEvent => ({
      kind: "state",
      machineId: "c1",
      channel: "state",
      state,
      source,
      start: at(min),
      end: at(min),
      open: true,
    });
    const closed = (from: number, to: number): StateSpanEvent => ({
      ...open(from, "APT", "Loaded"),
      end: at(to),
      open: undefined,
    });
    const piece = (
      from: number,
      to: number,
      state: StateSpanEvent["state"],
      source: string,
      span: StateSpanEvent["span"],
      isOpen = false,
    ): StateSpanEvent => ({
      kind: "state",
      machineId: "c1",
      channel: "state",
      state,
      source,
      start: at(from),
      end: at(to),
      ...(isOpen ? { open: true } : {}),
      span,
    });
    const { open: _o, ...closedApt } = closed(10, 40);
    testScheduler().run(({ cold, expectObservable }) => {
      const out = cold<MeterEvent>("a-----b-----c-----d-----|", {
        a: open(10, "APT", "Loaded"), // Loaded since 06:10, still open
        b: usage("air", 10, 20, "1"), // watermark 06:20: the 06:00 window closes, cutting Loaded
        c: closedApt, // Loaded ended at 06:40: the 06:15 window closes (watermark 06:40)
        d: open(40, "ADET", "Unloaded"), // Unloaded from 06:40, open at completion
      }).pipe(tumblingWindow(q15));
      const loaded = { start: at(10), end: at(40) };
      expectObservable(out).toBe("------(pv)--(qw)--------(rsx|)", {
        p: piece(10, 15, "APT", "Loaded", { start: at(10) }, true),
        v: win(0, 15),
        q: piece(15, 30, "APT", "Loaded", loaded),
        w: win(15, 30, [used("air", "1")]),
        r: piece(30, 40, "APT", "Loaded", loaded),
        s: piece(40, 45, "ADET", "Unloaded", { start: at(40) }, true),
        x: win(30, 45),
      });
    });
  });

  it("behavior: a state change that arrives after its window closed is quarantined as time.late", () => {
    const base = {
      kind: "state",
      machineId: "c1",
      channel: "state",
    } as const;
    const loadedOpen: StateSpanEvent = {
      ...base,
      state: "APT",
      source: "Loaded",
      start: at(0),
      end: at(0),
      open: true,
    };
    const loadedClosed: StateSpanEvent = {
      ...base,
      state: "APT",
      source: "Loaded",
      start: at(0),
      end: at(10),
    };
    const stoppedOpen: StateSpanEvent = {
      ...base,
      state: "ADOT",
      source: "Stopped",
      start: at(10),
      end: at(10),
      open: true,
    };
    // A span from another producer (no open marker) reaching back into the closed window.
    const unloaded: StateSpanEvent = {
      ...base,
      channel: "aux",
      state: "ADET",
      source: "Unloaded",
      start: at(5),
      end: at(20),
    };
    testScheduler().run(({ cold, expectObservable }) => {
      const out = cold<MeterEvent>("a-----b-----c-----d-----e-----|", {
        a: loadedOpen,
        b: usage("air", 0, 20, "1"), // watermark 06:20 closes 06:00–06:15, cutting Loaded at 06:15
        c: loadedClosed, // Loaded really ended at 06:10: already counted to 06:15, nothing to add
        d: stoppedOpen, // Stopped since 06:10: its first 5 minutes are late
        e: unloaded, // 06:05–06:15 late, 06:15–06:20 still counts
      }).pipe(tumblingWindow(q15));
      expectObservable(out).toBe("------(pv)--------q-----r-----(yxw|)", {
        p: { ...loadedOpen, end: at(15), span: { start: at(0) } },
        v: win(0, 15),
        q: late(stoppedOpen, at(10)),
        r: late({ ...unloaded, end: at(15) }, at(15)),
        x: { ...stoppedOpen, start: at(15), end: at(30), span: { start: at(10) } },
        y: { ...unloaded, start: at(15), end: at(20), span: { start: at(5), end: at(20) } },
        w: win(15, 30, [used("air", "1")]),
      });
    });
  });

  it("args: size in a time zone — a local day lasts 23 h on spring-forward and 25 h on fall-back (Europe/Berlin)", async () => {
    const day = (iso: string): UsageEvent => ({
      ...usage("air", 0, 0, "1"),
      start: new Date(Date.parse(iso) - 60_000),
      end: new Date(iso),
    });
    const run = (events: UsageEvent[]) =>
      windowsOf(events, { size: { days: 1 }, timeZone: "Europe/Berlin" });
    const spring = await run([
      day("2024-03-30T12:00:00Z"),
      day("2024-03-31T12:00:00Z"),
      day("2024-04-01T12:00:00Z"),
    ]);
    expect(spring.map((w) => [w.start.toISOString(), (+w.end - +w.start) / 3_600_000])).toEqual([
      ["2024-03-29T23:00:00.000Z", 24],
      ["2024-03-30T23:00:00.000Z", 23],
      ["2024-03-31T22:00:00.000Z", 24],
    ]);
    const fall = await run([day("2024-10-27T12:00:00Z"), day("2024-10-28T12:00:00Z")]);
    expect(fall.map((w) => [w.start.toISOString(), (+w.end - +w.start) / 3_600_000])).toEqual([
      ["2024-10-26T22:00:00.000Z", 25],
      ["2024-10-27T23:00:00.000Z", 24],
    ]);
  });

  it("args: offsetMinutes — 8-hour shifts from 06:00 local; the night shift over fall-back lasts 9 h", async () => {
    const at2 = (iso: string): UsageEvent => ({
      ...usage("air", 0, 0, "1"),
      start: new Date(Date.parse(iso) - 60_000),
      end: new Date(iso),
    });
    const windows = await windowsOf([at2("2024-10-26T20:00:00Z"), at2("2024-10-27T06:00:00Z")], {
      size: { hours: 8 },
      timeZone: "Europe/Berlin",
      offsetMinutes: 360,
    });
    // Late shift 14:00–22:00 CEST, night shift 22:00 CEST – 06:00 CET (9 h), early shift 06:00–14:00 CET.
    expect(windows.map((w) => [w.start.toISOString(), (+w.end - +w.start) / 3_600_000])).toEqual([
      ["2024-10-26T12:00:00.000Z", 8],
      ["2024-10-26T20:00:00.000Z", 9],
      ["2024-10-27T05:00:00.000Z", 8],
    ]);
  });

  it("args: hourly windows across fall-back give 25 one-hour windows for the local day", async () => {
    const events: UsageEvent[] = [];
    // One usage every 10 minutes over the whole local day of 2024-10-27 in Berlin (25 h).
    const start = Date.parse("2024-10-26T22:00:00Z");
    for (let t = start; t < start + 25 * 3_600_000; t += 600_000) {
      events.push({ ...usage("air", 0, 0, "0.5"), start: new Date(t), end: new Date(t + 600_000) });
    }
    const windows = await windowsOf(events, { size: { hours: 1 }, timeZone: "Europe/Berlin" });
    expect(windows).toHaveLength(25);
    for (const w of windows) {
      expect(+w.end - +w.start).toBe(3_600_000);
      expect(w.usage[0]?.quantity.value.toFixed()).toBe("3");
    }
  });

  it("args: idleTimeoutMs closes windows by processing time when input stops (virtual time)", () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const minute = { size: { minutes: 1 }, idleTimeoutMs: 10_000 } as const;
      const u: UsageEvent = {
        ...usage("air", 0, 0, "1"),
        start: new Date(0),
        end: new Date(30_000),
      };
      const out = cold<MeterEvent>("a", { a: u }).pipe(tumblingWindow(minute));
      // Idle at 10 s: event time ~00:40, window 00:00–01:00 open. At 30 s processing time event
      // time reaches 01:00 → it closes; then an empty window every further minute.
      expectObservable(out, "^ 99999ms !").toBe("30000ms v 59999ms w", {
        v: {
          kind: "window",
          machineId: "c1",
          start: new Date(0),
          end: new Date(60_000),
          usage: [used("air", "1")],
          gaps: [],
          quarantined: 0,
        },
        w: {
          kind: "window",
          machineId: "c1",
          start: new Date(60_000),
          end: new Date(120_000),
          usage: [],
          gaps: [],
          quarantined: 0,
        },
      });
    });
  });

  it("args: idleTimeoutMs counts from the last input, not the first", () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const u = (endMs: number): UsageEvent => ({
        ...usage("air", 0, 0, "1"),
        start: new Date(endMs - 1000),
        end: new Date(endMs),
      });
      const out = cold<MeterEvent>("a 7999ms b", { a: u(30_000), b: u(35_000) }).pipe(
        tumblingWindow({ size: { minutes: 1 }, idleTimeoutMs: 10_000 }),
      );
      // Last input at 8 s (event time 00:35) → idle from 18 s; event time reaches 01:00 at 33 s.
      expectObservable(out, "^ 39999ms !").toBe("33000ms v", {
        v: expect.objectContaining({
          start: new Date(0),
          end: new Date(60_000),
          usage: [used("air", "2")],
        }),
      });
    });
  });

  it("behavior: readings only advance the watermark; other events pass through", () => {
    const reading: Reading = {
      kind: "reading",
      machineId: "c1",
      channel: "total",
      value: dec(5),
      quality: "good",
      sourceTime: at(16),
    };
    const replaced: MeterEvent = {
      kind: "registerReplaced",
      machineId: "c1",
      channel: "total",
      at: at(16),
      newInitial: dec(0),
    };
    testScheduler().run(({ cold, expectObservable }) => {
      const out = cold<MeterEvent>("abc|", {
        a: usage("air", 0, 5, "1"),
        b: reading,
        c: replaced,
      }).pipe(tumblingWindow(q15));
      expectObservable(out).toBe("-vc|", { v: win(0, 15, [used("air", "1")]), c: replaced });
    });
  });

  it("behavior: early unsubscribe emits nothing more and unsubscribes the source", () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const src = cold<MeterEvent>("a-b-c|", {
        a: usage("air", 0, 5, "1"),
        b: usage("air", 16, 17, "1"),
        c: usage("air", 31, 32, "1"),
      });
      expectObservable(src.pipe(tumblingWindow(q15)), "^--!").toBe("--v", {
        v: win(0, 15, [used("air", "1")]),
      });
      expectSubscriptions(src.subscriptions).toBe("^--!");
    });
  });

  it("error: a source error passes through and open windows are not emitted", () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const err = new MaaskitError("metering.source.failed", "boom");
      const out = cold<MeterEvent>("a#", { a: usage("air", 0, 5, "1") }, err).pipe(
        tumblingWindow(q15),
      );
      expectObservable(out).toBe("-#", undefined, err);
    });
  });

  it("error: invalid options are reported all at once", () => {
    let caught: unknown;
    try {
      tumblingWindow({
        size: { minutes: 7 },
        timeZone: "Mars/Olympus",
        allowedLatenessMs: -1,
        idleTimeoutMs: 0,
      });
    } catch (e) {
      caught = e;
    }
    expect(isMaaskitError(caught, "metering.tumblingWindow.invalidOptions")).toBe(true);
    expect((caught as MaaskitError).details.problems).toEqual([
      'timeZone "Mars/Olympus" is not an IANA time zone',
      "size.minutes = 7 must divide one hour",
      "allowedLatenessMs must be a non-negative integer, got -1",
      "idleTimeoutMs must be a positive integer, got 0",
    ]);
    for (const size of [{ hours: 5 }, { days: 2 }, { months: 5 }, { weeks: 1 }, {}]) {
      expect(() => tumblingWindow({ size: size as never })).toThrowError(
        expect.objectContaining({ code: "metering.tumblingWindow.invalidOptions" }),
      );
    }
  });

  test.prop(
    [
      fc.array(
        fc.record({
          channel: fc.constantFrom("air", "power"),
          gapMs: fc.integer({ min: 1, max: 3 * 3_600_000 }),
          cents: fc.bigInt({ min: 0n, max: 10n ** 12n }),
        }),
        { minLength: 1, maxLength: 60 },
      ),
      fc.constantFrom<object>(
        { minutes: 15 },
        { hours: 1 },
        { hours: 8 },
        { days: 1 },
        { months: 1 },
      ),
      fc.constantFrom("UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"),
      fc.integer({
        min: Date.parse("2024-03-28T00:00:00Z"),
        max: Date.parse("2024-11-01T00:00:00Z"),
      }),
      fc.option(fc.integer({ min: 0, max: 2 ** 31 - 1 }), { nil: undefined }),
    ],
    { numRuns: 60 },
  )(
    "behavior: splitting usage across windows loses nothing — window sums equal the total, in any arrival order within the lateness",
    async (steps, size, timeZone, origin, shuffleSeed) => {
      let t = origin;
      const events: UsageEvent[] = steps.map((s) => {
        const start = t;
        t += s.gapMs;
        return {
          kind: "usage",
          machineId: "m",
          channel: s.channel,
          quantity: quantity(dec(s.cents.toString()).div(100), "MTQ"),
          start: new Date(start),
          end: new Date(t),
          flags: {},
        };
      });
      // Optionally deliver them shuffled, with a lateness that covers the whole stream.
      const arrival = [...events];
      let seed = shuffleSeed ?? 0;
      if (shuffleSeed !== undefined) {
        for (let i = arrival.length - 1; i > 0; i--) {
          seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
          const j = seed % (i + 1);
          [arrival[i], arrival[j]] = [arrival[j] as UsageEvent, arrival[i] as UsageEvent];
        }
      }
      const allowedLatenessMs = shuffleSeed === undefined ? 0 : t - origin;
      const out = (await lastValueFrom(
        from(arrival as MeterEvent[]).pipe(
          tumblingWindow({ size: size as never, timeZone, allowedLatenessMs }),
          toArray(),
        ),
      )) as WindowedEvent[];
      const windows = out.filter((e): e is MeterWindow => e.kind === "window");
      expect(windows.length).toBe(out.length);
      for (const channel of ["air", "power"]) {
        const total = events
          .filter((e) => e.channel === channel)
          .reduce((a, e) => a.plus(e.quantity.value), dec(0));
        const summed = windows
          .flatMap((w) => w.usage.filter((u) => u.channel === channel))
          .reduce((a, u) => a.plus(u.quantity.value), dec(0));
        expect(summed.eq(total)).toBe(true);
      }
      // Contiguous, and every usage lies in the window that holds its end.
      for (let i = 1; i < windows.length; i++) {
        expect(windows[i]?.start.getTime()).toBe(windows[i - 1]?.end.getTime());
      }
      for (const e of events) {
        const w = windows.find((x) => x.start < e.end && e.end <= x.end);
        expect(w?.usage.some((u) => u.channel === e.channel)).toBe(true);
      }
    },
  );
});
